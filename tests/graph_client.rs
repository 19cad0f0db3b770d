//! The HTTP Graph client against the in-process emulator: azure_identity
//! client-secret sign-in over TLS, who the caller is, paging, `$batch`,
//! every fault mode, the write calls, and one-line errors.

use crate::support::graph_common;

use std::sync::Arc;
use std::time::Duration;

use graph_common::*;
use pim::emulator::{Faults, Tenant, TokenFormat};
use pim::graph::{
    EntryKind, ErrorKind, GrantFilter, Graph, GraphWrite, HttpGraph, Lookup, RequestAction,
    ScheduleRequest, StaticToken, default_rule_set,
};
use pim::model::{AssignmentKind, Expiration, IsoDuration, RuleId, RuleValue, Schedule};

fn request(kind: AssignmentKind, principal: &str, role: &str) -> ScheduleRequest {
    ScheduleRequest {
        surface: pim::model::SurfaceKind::DirectoryRole,
        kind,
        action: RequestAction::AdminAssign,
        principal_id: principal.into(),
        role_id: role.into(),
        scope_id: "/".into(),
        schedule: Some(Schedule {
            start: None,
            expiration: Expiration::After(IsoDuration::days(30)),
        }),
        justification: Some("pim test".into()),
        ticket: None,
        condition: None,
    }
}

#[tokio::test]
async fn client_secret_sign_in_over_tls_and_paging() {
    let emu = emulator(generated_tenant(2500), Faults::default()).await;
    let graph = client(&emu);
    let eligible = graph
        .grants(AssignmentKind::Eligible, &GrantFilter::default())
        .await
        .unwrap();
    let active = graph
        .grants(AssignmentKind::Active, &GrantFilter::default())
        .await
        .unwrap();
    assert_eq!(eligible.len() + active.len(), 2500);
    // 999 per page: ceil(n/999) pages per collection.
    assert_eq!(
        graph.stats().requests(),
        (eligible.len().div_ceil(999) + active.len().div_ceil(999)) as u64
    );
    let one = graph
        .grants(
            AssignmentKind::Eligible,
            &GrantFilter {
                surface: pim::model::SurfaceKind::DirectoryRole,
                principal_id: Some(user_id(3).into()),
                role_id: Some(ROLES[0].into()),
                scope_id: Some("/".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert!(active.iter().all(|g| g.active_type.is_some()));
    emu.stop().await;
}

#[tokio::test]
async fn wrong_secret_is_one_clear_line() {
    let emu = emulator(Tenant::empty(), Faults::default()).await;
    let graph = HttpGraph::new(settings(&emu, "wrong")).unwrap();
    let e = graph.role_definitions().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth, "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("authentication failed: client-secret credential"),
        "{text}"
    );
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(!text.contains('\n'), "{text}");
    assert!(!text.contains("wrong"), "the secret must not show: {text}");
    emu.stop().await;
}

#[tokio::test]
async fn the_caller_comes_from_the_token_or_else_from_graph_once() {
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let emu = emulator_with(contoso(), format).await;
        // What an opaque token costs: one question to Graph, or two when
        // the client cannot tell an application from a user.
        let asks = |n: u64| if format == TokenFormat::Jwt { 0 } else { n };

        let app = HttpGraph::new(settings_for(&emu, LEGACY_SYNC_APP, SECRET)).unwrap();
        assert_eq!(app.caller_id().await.unwrap(), LEGACY_SYNC, "{format:?}");
        assert_eq!(app.caller_id().await.unwrap(), LEGACY_SYNC, "{format:?}");
        assert_eq!(app.stats().requests(), asks(1), "{format:?}");

        let settings = settings_for(&emu, LEGACY_SYNC_APP, SECRET);
        let alice = HttpGraph::for_emulator_user(settings, "alice@contoso.com", false).unwrap();
        assert_eq!(
            alice.caller_id().await.unwrap(),
            CONTOSO_ALICE,
            "{format:?}"
        );
        assert_eq!(
            alice.caller_id().await.unwrap(),
            CONTOSO_ALICE,
            "{format:?}"
        );
        assert_eq!(alice.stats().requests(), asks(1), "{format:?}");

        // Tokens from elsewhere: /me, and the service principal after Graph's 400.
        let minted = |id: &str| {
            HttpGraph::with_token_source(
                settings_for(&emu, LEGACY_SYNC_APP, SECRET),
                Arc::new(StaticToken(emu.mint_token(id, false))),
            )
            .unwrap()
        };
        let app = minted(LEGACY_SYNC);
        assert_eq!(app.caller_id().await.unwrap(), LEGACY_SYNC, "{format:?}");
        assert_eq!(app.caller_id().await.unwrap(), LEGACY_SYNC, "{format:?}");
        assert_eq!(app.stats().requests(), asks(2), "{format:?}");
        let user = minted(CONTOSO_ALICE);
        assert_eq!(user.caller_id().await.unwrap(), CONTOSO_ALICE, "{format:?}");
        assert_eq!(user.stats().requests(), asks(1), "{format:?}");
        emu.stop().await;
    }
}

#[tokio::test]
async fn a_caller_graph_cannot_name_is_an_error_not_a_guess() {
    let emu = emulator_with(contoso(), TokenFormat::Opaque).await;
    let orphan = HttpGraph::new(settings_for(&emu, NO_SP_APP, SECRET)).unwrap();
    let e = orphan.caller_id().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "GET /servicePrincipals(appId='{NO_SP_APP}') (finding the identity pim runs as) failed: 404"
        )),
        "{text}"
    );
    // A user the directory does not hold: the client application's
    // service principal is not who signed in, so it is not asked for.
    let stranger = HttpGraph::with_token_source(
        settings_for(&emu, LEGACY_SYNC_APP, SECRET),
        Arc::new(StaticToken(
            emu.mint_token("00000000-0000-0000-0000-0000000000aa", false),
        )),
    )
    .unwrap();
    let e = stranger.caller_id().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert!(e.to_string().starts_with("GET /me (finding"), "{e}");
    assert_eq!(stranger.stats().requests(), 1);
    emu.stop().await;
}

#[tokio::test]
async fn connection_refused_and_timeout_are_one_line() {
    let emu = emulator(
        Tenant::empty(),
        Faults {
            latency_ms: 1500,
            ..Faults::default()
        },
    )
    .await;
    let mut s = settings(&emu, SECRET);
    s.request_timeout = Duration::from_millis(200);
    s.retry.max_attempts = 2;
    let token = emu.mint_token("00000000-0000-0000-0000-0000000000aa", false);
    let graph = HttpGraph::with_token_source(
        s.clone(),
        std::sync::Arc::new(pim::graph::StaticToken(token.clone())),
    )
    .unwrap();
    let e = graph.role_definitions().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(!e.to_string().contains('\n'));

    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    s.graph_url = format!("https://127.0.0.1:{port}/v1.0");
    let graph =
        HttpGraph::with_token_source(s, std::sync::Arc::new(pim::graph::StaticToken(token)))
            .unwrap();
    let e = graph.role_definitions().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect, "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with(
            "cannot connect to Graph for GET /roleManagement/directory/roleDefinitions"
        ),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
    emu.stop().await;
}

#[tokio::test]
async fn server_errors_throttling_and_resets_are_retried() {
    let faults = Faults {
        error_rate: 0.3,
        reset_rate: 0.1,
        throttle_per_second: Some(15),
        rng_seed: 7,
        ..Faults::default()
    };
    let emu = emulator(generated_tenant(3000), faults).await;
    let graph = client_with_token(&emu);
    let eligible = graph
        .grants(AssignmentKind::Eligible, &GrantFilter::default())
        .await
        .unwrap();
    let active = graph
        .grants(AssignmentKind::Active, &GrantFilter::default())
        .await
        .unwrap();
    assert_eq!(eligible.len() + active.len(), 3000);
    let lookups: Vec<Lookup> = (0..60)
        .map(|i| Lookup::UserByUpn(format!("user{i}@contoso.com")))
        .collect();
    let found = graph.lookup(&lookups).await.unwrap();
    for (i, r) in found.iter().enumerate() {
        assert_eq!(r.as_ref().unwrap()[0].id, user_id(i));
    }
    assert!(
        graph.stats().retries() > 0,
        "faults should have forced retries"
    );
    let stats = emu.stats();
    let by_status = &stats["byStatus"];
    assert!(
        by_status.get("503").is_some() || by_status.get("504").is_some(),
        "{stats}"
    );
    emu.stop().await;
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let emu = emulator(
        generated_tenant(100),
        Faults {
            throttle_per_second: Some(2),
            ..Faults::default()
        },
    )
    .await;
    let graph = client_with_token(&emu);
    let started = std::time::Instant::now();
    // Role definitions are read once a client; units on every call.
    for _ in 0..5 {
        graph.administrative_units().await.unwrap();
    }
    // Five calls at two per second: at least one full Retry-After wait.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(emu.stats()["byStatus"].get("429").is_some());
    emu.stop().await;
}

#[tokio::test]
async fn batch_packs_lookups_twenty_to_a_request() {
    let emu = emulator(generated_tenant(600), Faults::default()).await;
    let graph = client_with_token(&emu);
    // Prefix searches go one to a request, twenty requests to a $batch.
    let mut lookups: Vec<Lookup> = (0..45)
        .map(|i| Lookup::StartingWith(EntryKind::User, format!("user{i}@")))
        .collect();
    lookups.push(Lookup::UserByUpn("nobody@contoso.com".into()));
    let found = graph.lookup(&lookups).await.unwrap();
    assert_eq!(found.len(), 46);
    assert_eq!(found[7].as_ref().unwrap()[0].id.as_str(), user_id(7));
    assert!(found[45].as_ref().unwrap().is_empty(), "none found");
    assert_eq!(graph.stats().requests(), 3, "46 requests = 3 $batch calls");
    assert_eq!(emu.stats()["byRoute"]["POST /v1.0/$batch"], 3);
    emu.stop().await;
}

#[tokio::test]
async fn writes_requests_and_rules() {
    let emu = emulator(generated_tenant(120), Faults::default()).await;
    let graph = client_with_token(&emu);
    let role = "966707d0-3269-4727-9be2-8c3a10f19b9d"; // Password Administrator
    let out = graph
        .create_request(&request(AssignmentKind::Eligible, &user_id(1), role))
        .await
        .unwrap();
    assert_eq!(out.status, "Provisioned");
    assert_eq!(
        out.target_schedule_id.as_deref(),
        Some(out.request_id.as_str())
    );
    assert!(!out.reconciled);
    let again = graph
        .get_request(
            pim::model::SurfaceKind::DirectoryRole,
            AssignmentKind::Eligible,
            &out.request_id,
        )
        .await
        .unwrap();
    assert_eq!(again.request_id, out.request_id);
    let e = graph
        .create_request(&request(AssignmentKind::Eligible, &user_id(1), role))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::RoleAssignmentExists, "{e}");
    assert!(e.request_id.is_some());

    // Permanent active assignment against a policy that requires expiration.
    let policies = graph.policies(Some(&[role.into()])).await.unwrap();
    let policy = &policies[0];
    assert_eq!(policy.rules, default_rule_set());
    graph
        .update_rule(
            &policy.policy_id,
            RuleId::ExpirationAdminAssignment,
            &RuleValue::Expiration {
                required: true,
                max: Some(IsoDuration::days(90)),
            },
        )
        .await
        .unwrap();
    let mut req = request(AssignmentKind::Active, &user_id(2), role);
    req.schedule = Some(Schedule::permanent());
    let e = graph.create_request(&req).await.unwrap_err();
    assert_eq!(e.failed_rules(), ["ExpirationRule"], "{e}");
    let reread = graph.policies(Some(&[role.into()])).await.unwrap();
    assert_eq!(
        reread[0]
            .rules
            .expiration(RuleId::ExpirationAdminAssignment),
        Some((true, Some(IsoDuration::days(90))))
    );

    let mut remove = request(AssignmentKind::Eligible, &user_id(1), role);
    remove.action = RequestAction::AdminRemove;
    remove.schedule = None;
    // The 5-minute rule may refuse a removal right after the grant; both answers are typed.
    match graph.create_request(&remove).await {
        Ok(o) => assert_eq!(o.status, "Revoked"),
        Err(e) => assert_eq!(e.code, "ActiveDurationTooShort", "{e}"),
    }
    let listed = graph
        .list_requests(
            AssignmentKind::Eligible,
            &GrantFilter {
                principal_id: Some(user_id(1).into()),
                ..GrantFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(!listed.is_empty());
    emu.stop().await;
}

#[tokio::test]
async fn reset_after_write_is_reconciled_without_duplicates() {
    // Every connection is dropped; writes are dropped after taking effect.
    let faults = Faults {
        reset_rate: 1.0,
        reset_after_write_share: 1.0,
        rng_seed: 3,
        ..Faults::default()
    };
    let emu = emulator(generated_tenant(120), faults).await;
    let graph = client_with_token(&emu);
    let role = "966707d0-3269-4727-9be2-8c3a10f19b9d";
    // Reads are reset too, so reconciliation cannot read: the outcome is unknown, never resent.
    let e = graph
        .create_request(&request(AssignmentKind::Eligible, &user_id(4), role))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::OutcomeUnknown, "{e}");
    assert_eq!(
        emu.stats()["byRoute"]["POST /v1.0/roleManagement/directory/roleEligibilityScheduleRequests"],
        1
    );
    emu.stop().await;

    // Writes always dropped after taking effect, reads mostly fine.
    let faults = Faults {
        reset_rate: 0.5,
        reset_after_write_share: 1.0,
        rng_seed: 11,
        ..Faults::default()
    };
    let emu = emulator(generated_tenant(120), faults).await;
    let graph = client_with_token(&emu);
    let mut created = Vec::new();
    for i in 0..6 {
        let out = graph
            .create_request(&request(AssignmentKind::Eligible, &user_id(i), role))
            .await
            .unwrap();
        created.push(out);
    }
    assert!(
        graph.stats().reconciled() > 0,
        "some writes should have been reconciled"
    );
    let schedules = graph
        .grants(
            AssignmentKind::Eligible,
            &GrantFilter {
                role_id: Some(role.into()),
                ..GrantFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        schedules.len(),
        6,
        "one schedule per request, no duplicates"
    );
    let requests = graph
        .list_requests(
            AssignmentKind::Eligible,
            &GrantFilter {
                role_id: Some(role.into()),
                ..GrantFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        requests.len(),
        6,
        "no request was sent twice after taking effect"
    );
    emu.stop().await;
}

/// An emulator whose policy-assignment collection refuses `$top` and pages
/// by `@odata.nextLink`, as Graph may (UNVERIFIED which).
async fn strict_policy_emulator(page: usize) -> pim::emulator::Emulator {
    pim::emulator::Emulator::start(pim::emulator::EmulatorConfig {
        seed: Some(generated_tenant(12)),
        policy_assignments_top: pim::emulator::TopOption::Reject,
        policy_page_size: Some(page),
        ..pim::emulator::EmulatorConfig::default()
    })
    .await
    .expect("emulator starts")
}

#[tokio::test]
async fn all_policies_are_read_by_next_link_without_top() {
    let emu = strict_policy_emulator(25).await;
    let graph = client_with_token(&emu);
    let policies = graph.policies(None).await.expect("no $top sent");
    assert!(policies.len() > 100, "{}", policies.len());
    assert!(policies.iter().all(|p| p.rules.rules.len() == 17));
    let roles: std::collections::BTreeSet<_> = policies.iter().map(|p| &p.role_id).collect();
    assert_eq!(roles.len(), policies.len(), "each role's policy once");
    assert_eq!(
        graph.stats().requests(),
        policies.len().div_ceil(25) as u64,
        "one call per server page"
    );
}

#[tokio::test]
async fn every_patched_rule_reads_back_with_the_target_its_id_names() {
    let emu = strict_policy_emulator(1000).await;
    let graph = client_with_token(&emu);
    let role = ROLES[2];
    let policy = graph
        .policies(Some(&[role.into()]))
        .await
        .unwrap()
        .remove(0);
    for (id, value) in &policy.rules.rules {
        graph
            .update_rule(&policy.policy_id, *id, value)
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    // Read the rules as Graph holds them: the emulator stores the target
    // sent, so a wrong one would show here.
    // reqwest is built without a default crypto provider: choose ring, as pim does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(emu.ca_pem().unwrap().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let token = emu.mint_token("00000000-0000-0000-0000-0000000000aa", true);
    let body: serde_json::Value = http
        .get(format!(
            "{}/policies/roleManagementPolicies/{}/rules",
            emu.graph_url(),
            policy.policy_id
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rules = body["value"].as_array().unwrap();
    assert_eq!(rules.len(), 17);
    for r in rules {
        let id = RuleId::parse(r["id"].as_str().unwrap()).unwrap();
        let (caller, level) = id.target();
        assert_eq!(r["target"]["caller"], caller, "{id}");
        assert_eq!(r["target"]["level"], level, "{id}");
        assert_eq!(
            r["target"]["operations"],
            serde_json::json!(["all"]),
            "{id}"
        );
    }
    let reread = graph.policies(Some(&[role.into()])).await.unwrap();
    assert_eq!(
        reread[0].rules, policy.rules,
        "every rule reads back as sent"
    );
}

/// Settings with pim's own retry policy (not the tests' fast one).
fn settings_for_retry(emu: &pim::emulator::Emulator) -> pim::graph::GraphSettings {
    let mut s = settings(emu, SECRET);
    s.retry = pim::graph::RetryPolicy::default();
    s
}

/// The emulator's clock as the client's timer: every retry wait moves the
/// emulator's time instead of spending real time.
struct EmulatorTime(pim::emulator::EmulatorClock);

impl pim::model::Clock for EmulatorTime {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.now()
    }
}

impl pim::graph::Timer for EmulatorTime {
    fn sleep(&self, d: Duration) -> futures::future::BoxFuture<'static, ()> {
        self.0.advance(chrono::TimeDelta::from_std(d).unwrap());
        Box::pin(async {})
    }
}

#[tokio::test]
async fn a_new_principal_is_waited_for_within_the_retry_deadline() {
    use pim::emulator::User;
    use pim::model::Clock as _;
    let emu = emulator(
        generated_tenant(6),
        Faults {
            // Longer than ten default backoff steps, within the default deadline.
            new_object_delay_ms: 100_000,
            ..Faults::default()
        },
    )
    .await;
    let token = emu.mint_token("00000000-0000-0000-0000-0000000000aa", true);
    let graph =
        HttpGraph::with_token_source(settings_for_retry(&emu), Arc::new(StaticToken(token)))
            .unwrap()
            .with_clock(Arc::new(EmulatorTime(emu.clock().clone())));
    let role = "966707d0-3269-4727-9be2-8c3a10f19b9d"; // Password Administrator
    let new_user = |i: usize| User {
        id: format!("0000000e-0000-4000-8000-{i:012x}"),
        display_name: format!("New Hire {i}"),
        user_principal_name: format!("new.hire{i}@contoso.com"),
        ..User::default()
    };

    let started = emu.clock().now();
    emu.add_user(new_user(1)).unwrap();
    let out = graph
        .create_request(&request(AssignmentKind::Eligible, &new_user(1).id, role))
        .await
        .unwrap();
    assert_eq!(out.status, "Provisioned");
    let waited = emu.clock().now() - started;
    assert!(waited >= chrono::TimeDelta::seconds(100), "{waited}");
    let retries = graph.stats().retries();
    assert!(
        retries > 10,
        "more than the attempts of other retries: {retries}"
    );

    // A delay that outlasts the deadline is reported, not taken for success.
    let mut short = settings_for_retry(&emu);
    short.retry.max_total = Duration::from_secs(60);
    let token = emu.mint_token("00000000-0000-0000-0000-0000000000aa", true);
    let graph = HttpGraph::with_token_source(short, Arc::new(StaticToken(token)))
        .unwrap()
        .with_clock(Arc::new(EmulatorTime(emu.clock().clone())));
    let started = emu.clock().now();
    emu.add_user(new_user(2)).unwrap();
    let e = graph
        .create_request(&request(AssignmentKind::Eligible, &new_user(2).id, role))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert_eq!(e.code, "SubjectNotFound", "{e}");
    assert!(e.is_replication_delay());
    let text = e.to_string();
    assert!(
        text.contains("still unknown to PIM after")
            && text.contains("PIM_RETRY_DEADLINE sets how long pim waits, now 60 s"),
        "{text}"
    );
    assert!(emu.clock().now() - started <= chrono::TimeDelta::seconds(60));
    emu.stop().await;
}
