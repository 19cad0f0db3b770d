//! The HTTP Graph client against a broken or hostile server: links and
//! redirects that lead elsewhere, paging that never ends, answers too large
//! to hold, `$batch` answers without the answers, HTML instead of JSON.

mod hostile_common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hostile_common::*;
use pim::graph::{ErrorKind, Graph};

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
