//! The HTTP Graph client against a broken or hostile server: links and
//! redirects that lead elsewhere, paging that never ends, answers too large
//! to hold, `$batch` answers without the answers, HTML instead of JSON.

use crate::support::hostile_common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hostile_common::*;
use pim::graph::{
    ErrorKind, GrantFilter, Graph, GraphSettings, GraphWrite, Lookup, ReadLimits, RetryPolicy,
};
use pim::model::AssignmentKind;

#[tokio::test]
async fn a_next_link_to_another_origin_or_root_gets_no_token() {
    let other = elsewhere().await;
    let other_port = other.port();
    let links = Arc::new(Mutex::new(String::new()));
    let link = links.clone();
    let graph = Server::start(None, move |_| {
        Reply::Json(200, units(2, Some(link.lock().unwrap().clone())))
    })
    .await;
    let port = graph.port();
    let g = client(settings(&graph));
    for (to, named) in [
        // Another port of the same host.
        (
            format!(
                "http://127.0.0.1:{other_port}/v1.0/directory/administrativeUnits?$skiptoken=1"
            ),
            format!("http://127.0.0.1:{other_port}"),
        ),
        // The same port under another name.
        (
            format!("http://localhost:{port}/v1.0/directory/administrativeUnits?$skiptoken=1"),
            format!("http://localhost:{port}"),
        ),
        // The same origin, another API root.
        (
            format!("http://127.0.0.1:{port}/beta/directory/administrativeUnits?$skiptoken=1"),
            format!("http://127.0.0.1:{port}/beta/directory/administrativeUnits"),
        ),
    ] {
        *links.lock().unwrap() = to.clone();
        let before = graph.seen().len();
        let e = g.administrative_units().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::UntrustedUrl, "{e}");
        let text = check_line(&e);
        assert!(text.contains(&format!("leads to {named},")), "{text}");
        assert!(
            text.starts_with(
                "refused to follow Graph's answer to GET /directory/administrativeUnits:"
            ),
            "{text}"
        );
        assert_eq!(graph.seen().len(), before + 1, "{to}: not followed");
    }
    assert!(other.seen().is_empty(), "{:?}", other.seen());
    // Every request that did go out went to Graph, with the token.
    assert!(
        graph
            .seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")))
    );
}

#[tokio::test]
async fn an_https_graph_never_sends_the_token_over_plain_http() {
    let plain = elsewhere().await;
    let to = format!(
        "http://localhost:{}/v1.0/directory/administrativeUnits?$skiptoken=1",
        plain.port()
    );
    let (acceptor, ca) = tls();
    let graph = Server::start(Some(acceptor), move |_| {
        Reply::Json(200, units(1, Some(to.clone())))
    })
    .await;
    let mut s = settings(&graph);
    s.ca_pem = Some(ca);
    let g = client(s);
    let e = g.administrative_units().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UntrustedUrl, "{e}");
    let text = check_line(&e);
    assert!(
        text.contains(&format!("leads to http://localhost:{},", plain.port())),
        "{text}"
    );
    assert!(text.contains(&graph.base()), "names the Graph root: {text}");
    assert_eq!(graph.seen().len(), 1);
    assert!(plain.seen().is_empty(), "{:?}", plain.seen());
}

#[tokio::test]
async fn redirects_away_from_the_root_are_refused_and_within_it_followed() {
    let other = elsewhere().await;
    let away = format!("http://127.0.0.1:{}/v1.0/$batch", other.port());
    let graph = Server::start(None, move |seen| {
        let to = if seen.target.starts_with("/v1.0/$batch") {
            away.clone()
        } else if seen
            .target
            .starts_with("/v1.0/directory/administrativeUnits?$select")
        {
            // Within the root: followed, with the token.
            "/v1.0/directory/administrativeUnits?moved=1".to_string()
        } else if seen
            .target
            .starts_with("/v1.0/directory/administrativeUnits?moved")
        {
            return Reply::Json(200, units(3, None));
        } else {
            "/beta/roleManagement/directory/roleDefinitions".to_string()
        };
        Reply::Raw {
            status: if seen.method == "POST" { 307 } else { 302 },
            headers: vec![("Location", to)],
            body: Vec::new(),
        }
    })
    .await;
    let g = client(settings(&graph));

    // A $batch sent elsewhere (307 would carry the body along): refused at once.
    let started = Instant::now();
    let e = g
        .lookup(&[Lookup::UserByUpn("alice@contoso.com".into())])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::UntrustedUrl, "{e}");
    let text = check_line(&e);
    assert!(
        text.contains(&format!(
            "redirects (307) to http://127.0.0.1:{},",
            other.port()
        )),
        "{text}"
    );
    assert_eq!(g.stats().requests(), 1, "no retry of a refused redirect");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(other.seen().is_empty(), "{:?}", other.seen());

    // The same origin, another root.
    let e = g.role_definitions().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UntrustedUrl, "{e}");
    let text = check_line(&e);
    assert!(
        text.contains("/beta/roleManagement/directory/roleDefinitions, outside the Graph root"),
        "{text}"
    );

    // Within the root a redirect still works.
    assert_eq!(g.administrative_units().await.unwrap().len(), 3);
    let moved = graph
        .seen()
        .into_iter()
        .find(|s| s.target.contains("moved=1"))
        .expect("the redirect was followed");
    assert_eq!(
        moved.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn a_next_link_seen_before_ends_the_read() {
    // First page → 1 → 2 → 1 again.
    let graph_port = Arc::new(Mutex::new(0u16));
    let p = graph_port.clone();
    let graph = Server::start(None, move |seen| {
        let port = *p.lock().unwrap();
        let link = |n: u32| {
            format!("http://127.0.0.1:{port}/v1.0/directory/administrativeUnits?$skiptoken={n}")
        };
        let next = if seen.target.ends_with("$skiptoken=1") {
            link(2)
        } else {
            link(1)
        };
        Reply::Json(200, units(0, Some(next)))
    })
    .await;
    *graph_port.lock().unwrap() = graph.port();
    let g = client(settings(&graph));
    let e = g.administrative_units().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Paging, "{e}");
    let text = check_line(&e);
    assert!(text.contains("already read"), "{text}");
    assert_eq!(g.stats().requests(), 3);
}

#[tokio::test]
async fn pages_hold_no_more_than_top_and_reads_have_an_end() {
    let graph_port = Arc::new(Mutex::new(0u16));
    let p = graph_port.clone();
    let counter = Arc::new(AtomicU64::new(0));
    let graph = Server::start(None, move |seen| {
        if seen
            .target
            .starts_with("/v1.0/roleManagement/directory/roleEligibilitySchedules")
        {
            // $top=999 asked for, 1000 given.
            let value: Vec<_> = (0..1000)
                .map(|i| {
                    serde_json::json!({"id": format!("s{i}"), "principalId": "p",
                        "roleDefinitionId": "r", "directoryScopeId": "/"})
                })
                .collect();
            return Reply::Json(200, serde_json::json!({ "value": value }).to_string());
        }
        // A fresh link every time, for ever.
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let port = *p.lock().unwrap();
        Reply::Json(
            200,
            units(
                1,
                Some(format!(
                    "http://127.0.0.1:{port}/v1.0/directory/administrativeUnits?$skiptoken={n}"
                )),
            ),
        )
    })
    .await;
    *graph_port.lock().unwrap() = graph.port();
    let mut s = settings(&graph);
    s.limits = ReadLimits {
        max_pages: 25,
        ..ReadLimits::default()
    };
    let g = client(s);

    let e = g
        .grants(AssignmentKind::Eligible, &GrantFilter::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Paging, "{e}");
    let text = check_line(&e);
    assert!(
        text.contains("a page held 1000 items, more than the $top=999"),
        "{text}"
    );

    let before = g.stats().requests();
    let e = g.administrative_units().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Paging, "{e}");
    let text = check_line(&e);
    assert!(text.contains("at most 25 pages"), "{text}");
    assert_eq!(g.stats().requests() - before, 25);
}

#[tokio::test]
async fn an_answer_past_the_size_limit_is_not_read_to_its_end() {
    let graph = Server::start(None, |seen| {
        if seen
            .target
            .starts_with("/v1.0/directory/administrativeUnits")
        {
            Reply::Endless {
                status: 200,
                announce: false,
            }
        } else if seen
            .target
            .starts_with("/v1.0/roleManagement/directory/roleDefinitions")
        {
            Reply::Endless {
                status: 200,
                announce: true,
            }
        } else {
            // An error that never ends, control characters and all.
            Reply::Raw {
                status: 400,
                headers: vec![("Content-Type", "text/plain".into())],
                body: "\x1b[2J\r\nbroken ".repeat(2_000_000).into_bytes(),
            }
        }
    })
    .await;
    let g = client(settings(&graph));

    let started = Instant::now();
    let e = g.administrative_units().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooLarge, "{e}");
    let text = check_line(&e);
    assert!(text.contains("runs past 32 MiB"), "{text}");
    assert_eq!(g.stats().requests(), 1, "not retried");
    // The client hung up near the limit: what the server got out is the
    // limit plus what the sockets buffer.
    let written = graph.written.load(Ordering::Relaxed);
    assert!(written < 64 << 20, "{written} bytes written");
    assert!(started.elapsed() < Duration::from_secs(30));

    // An announced 200 MB is refused before reading.
    let e = g.role_definitions().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooLarge, "{e}");
    let text = check_line(&e);
    assert!(text.contains("announces 200000000 bytes"), "{text}");

    // A huge error is quoted, briefly and escaped.
    let e = g.me().await.unwrap_err();
    assert_eq!(e.status, Some(400), "{e}");
    let text = check_line(&e);
    assert!(text.contains("\\u{1b}[2J\\r\\nbroken"), "{text}");
    assert!(text.contains("text/plain"), "{text}");
}

#[tokio::test]
async fn a_batch_answer_without_the_answers_says_so_at_once() {
    let graph = Server::start(None, |seen| {
        if seen.target.starts_with("/v1.0/$batch") {
            Reply::Json(200, r#"{"responses":[]}"#.into())
        } else {
            Reply::Json(404, "{}".into())
        }
    })
    .await;
    let g = client(GraphSettings {
        retry: RetryPolicy::default(),
        ..settings(&graph)
    });
    let started = Instant::now();
    let e = g
        .lookup(&[
            Lookup::UserByUpn("alice@contoso.com".into()),
            Lookup::GroupsByName("Admins".into()),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Decode, "{e}");
    let text = check_line(&e);
    assert!(
        text.contains(
            "the $batch answer held no response for request 0 (GET /users) (nor for 1 more)"
        ),
        "{text}"
    );
    assert!(!text.contains("throttled"), "{text}");
    assert_eq!(g.stats().requests(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn html_instead_of_json_is_named_for_what_it_is() {
    let graph = Server::start(None, |_| Reply::Raw {
        status: 200,
        headers: vec![("Content-Type", "text/html; charset=utf-8".into())],
        body: format!(
            "<!DOCTYPE html><html><body>Sign in to the proxy{}</body></html>",
            " ".repeat(5000)
        )
        .into_bytes(),
    })
    .await;
    let g = client(settings(&graph));
    let e = g.role_definitions().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Decode, "{e}");
    let text = check_line(&e);
    assert!(
        text.starts_with(
            "unexpected answer from Graph to GET /roleManagement/directory/roleDefinitions: \
             the answer is not JSON (200, text/html; charset=utf-8, 5061 bytes): \
             <!DOCTYPE html><html><body>Sign in to the proxy"
        ),
        "{text}"
    );
    assert!(text.ends_with('…'), "{text}");
    assert!(!text.contains("$select"), "no query: {text}");
    assert!(!text.contains("line 1 column 1"), "{text}");
}

/// Time that passes only when the client waits, and the waits it asked for.
#[derive(Clone, Default)]
struct Waits {
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl pim::model::Clock for Waits {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let spent: Duration = self.slept.lock().unwrap().iter().sum();
        chrono::DateTime::UNIX_EPOCH + spent
    }
}

impl pim::graph::Timer for Waits {
    fn sleep(&self, d: Duration) -> futures::future::BoxFuture<'static, ()> {
        self.slept.lock().unwrap().push(d);
        Box::pin(async {})
    }
}

#[tokio::test]
async fn a_retry_after_is_waited_in_full_within_the_deadline() {
    let calls = Arc::new(AtomicU64::new(0));
    let n = calls.clone();
    let graph = Server::start(None, move |_| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::Raw {
                status: 429,
                headers: vec![
                    ("Content-Type", "application/json".into()),
                    ("Retry-After", "45".into()),
                ],
                body: br#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#.to_vec(),
            }
        } else {
            Reply::Json(200, units(1, None))
        }
    })
    .await;
    let waits = Waits::default();
    // Far beyond one backoff step (50 ms here): the server's word counts.
    let g = client(settings(&graph)).with_clock(Arc::new(waits.clone()));
    assert_eq!(g.administrative_units().await.unwrap().len(), 1);
    assert_eq!(*waits.slept.lock().unwrap(), [Duration::from_secs(45)]);
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_ends_the_call_saying_so() {
    let graph = Server::start(None, |_| Reply::Raw {
        status: 429,
        headers: vec![
            ("Content-Type", "application/json".into()),
            ("Retry-After", "600".into()),
        ],
        body: br#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#.to_vec(),
    })
    .await;
    let waits = Waits::default();
    let g = client(settings(&graph)).with_clock(Arc::new(waits.clone()));
    let e = g.administrative_units().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Throttled, "{e}");
    let line = check_line(&e);
    assert!(line.contains("asked to wait 600 s"), "{line}");
    assert!(line.contains("PIM_RETRY_DEADLINE"), "{line}");
    assert!(waits.slept.lock().unwrap().is_empty());
    assert_eq!(graph.seen().len(), 1);
}
