//! Injected faults (latency, throttling, server errors, resets,
//! replication delay of schedules and of new principals and roles) and the
//! request counts of `/_emulator/stats`.

use std::time::{Duration, Instant};

use super::{
    ALICE, ASSIGN, BOB, ELIGIBLE, GA, GLOBAL_READER, NOW, for_duration, harness, request, tenant,
};
use crate::emulator_common::{Harness, assert_graph_error};
use chrono::TimeDelta;
use pim_emulator::{CustomRole, Faults, User};
use serde_json::json;

#[tokio::test]
async fn latency_is_added() {
    let h = Harness::with_faults(
        tenant(),
        Faults {
            latency_ms: 150,
            jitter_ms: 20,
            ..Faults::default()
        },
    )
    .await;
    let t = Instant::now();
    assert_eq!(h.get("/v1.0/users?$top=1").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn faults_can_come_from_the_seed() {
    let mut seed = tenant();
    seed.faults = Some(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let h = Harness::with_seed(seed, NOW).await;
    let r = h.get("/v1.0/users").await;
    assert!(r.status == 503 || r.status == 504);
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after() {
    let h = Harness::with_faults(
        tenant(),
        Faults {
            throttle_per_second: Some(3),
            ..Faults::default()
        },
    )
    .await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let r = h.get("/v1.0/users?$top=1").await;
        statuses.push(r.status);
        last = Some(r);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    let r = last.unwrap();
    assert_eq!(
        assert_graph_error(&r, 429, "TooManyRequests"),
        "Please retry again later."
    );
    assert_eq!(r.body["error"]["innerError"]["status"], "429");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry));
    // Another client has its own quota.
    let other = h
        .emu
        .mint_token("a0000000-0000-4000-8000-000000000009", false);
    assert_eq!(
        h.call_as(Some(&other), "GET", "/v1.0/users?$top=1", None)
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(h.get("/v1.0/users?$top=1").await.status, 200);
    let stats = h.call_as(None, "GET", "/_emulator/stats", None).await;
    assert_eq!(stats.body["byStatus"]["429"], 2);
}

#[tokio::test]
async fn random_server_errors_are_503_or_504_and_reproducible() {
    let run = || async {
        let h = Harness::with_faults(
            tenant(),
            Faults {
                error_rate: 0.5,
                rng_seed: 7,
                ..Faults::default()
            },
        )
        .await;
        let mut s = Vec::new();
        for _ in 0..20 {
            s.push(h.get("/v1.0/users?$top=1").await.status);
        }
        s
    };
    let a = run().await;
    assert_eq!(a, run().await, "same seed, same faults");
    assert!(a.contains(&200) && a.iter().any(|s| *s == 503 || *s == 504));
    assert!(a.iter().all(|s| [200, 503, 504].contains(s)));
}

#[tokio::test]
async fn connection_resets_before_and_after_a_write() {
    let before = Harness::with_faults(
        tenant(),
        Faults {
            reset_rate: 1.0,
            reset_after_write_share: 0.0,
            ..Faults::default()
        },
    )
    .await;
    let body = request(
        "adminAssign",
        ALICE,
        GLOBAL_READER,
        Some(for_duration("P10D")),
    );
    assert!(
        before
            .try_call_as(Some(&before.token), "POST", ASSIGN, Some(&body))
            .await
            .is_err()
    );
    assert!(
        before
            .emu
            .snapshot()
            .assignment_schedules
            .iter()
            .all(|s| s.principal != ALICE),
        "nothing written"
    );
    assert!(
        before
            .try_call_as(Some(&before.token), "GET", "/v1.0/users", None)
            .await
            .is_err()
    );

    let after = Harness::with_faults(
        tenant(),
        Faults {
            reset_rate: 1.0,
            reset_after_write_share: 1.0,
            ..Faults::default()
        },
    )
    .await;
    assert!(
        after
            .try_call_as(Some(&after.token), "POST", ASSIGN, Some(&body))
            .await
            .is_err()
    );
    assert!(
        after
            .emu
            .snapshot()
            .assignment_schedules
            .iter()
            .any(|s| s.principal == ALICE),
        "the write took effect"
    );
    assert_eq!(after.emu.stats()["byStatus"]["reset-after-write"], 1);
}

#[tokio::test]
async fn replication_delay_hides_new_schedules_for_a_while() {
    let h = Harness::with_faults(
        tenant(),
        Faults {
            replication_delay_ms: 300,
            ..Faults::default()
        },
    )
    .await;
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", BOB, GA, Some(for_duration("P10D"))),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let url = format!(
        "/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=principalId eq '{BOB}'"
    );
    assert_eq!(h.get(&url).await.body["value"], json!([]));
    assert_eq!(
        h.get(&format!("{ELIGIBLE}/{id}")).await.status,
        200,
        "requests are readable at once"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.get(&url).await.body["value"][0]["id"], id.as_str());
}

const NEW_USER: &str = "a0000000-0000-4000-8000-0000000000ff";
const NEW_ROLE: &str = "d0000000-0000-4000-8000-0000000000ff";

fn new_user() -> User {
    User {
        id: NEW_USER.into(),
        display_name: "New Hire".into(),
        user_principal_name: "new.hire@contoso.com".into(),
        ..User::default()
    }
}

#[tokio::test]
async fn new_principals_and_roles_are_unknown_to_pim_for_a_while() {
    let h = Harness::with_faults(
        tenant(),
        Faults {
            new_object_delay_ms: 30_000,
            ..Faults::default()
        },
    )
    .await;
    h.emu.add_user(new_user()).unwrap();
    assert_eq!(
        h.get(&format!("/v1.0/users/{NEW_USER}")).await.status,
        200,
        "the directory knows it at once"
    );
    let assign = request("adminAssign", NEW_USER, GA, Some(for_duration("P10D")));
    let r = h.post(ELIGIBLE, &assign).await;
    assert_eq!(
        assert_graph_error(&r, 404, "SubjectNotFound"),
        "The subject is not found."
    );
    h.emu.clock().advance(TimeDelta::seconds(29));
    assert_graph_error(&h.post(ELIGIBLE, &assign).await, 404, "SubjectNotFound");
    h.emu.clock().advance(TimeDelta::seconds(1));
    assert_eq!(h.post(ELIGIBLE, &assign).await.status, 201);

    h.emu
        .add_role(CustomRole {
            id: NEW_ROLE.into(),
            display_name: "Ticket Triage".into(),
            ..CustomRole::default()
        })
        .unwrap();
    let role = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleDefinitions/{NEW_ROLE}"
        ))
        .await;
    assert_eq!(role.status, 200, "{}", role.body);
    let assign = request("adminAssign", BOB, NEW_ROLE, Some(for_duration("P10D")));
    let r = h.post(ASSIGN, &assign).await;
    assert_eq!(
        assert_graph_error(&r, 404, "RoleNotFound"),
        "The role is not found."
    );
    h.emu.clock().advance(TimeDelta::seconds(30));
    let r = h.post(ASSIGN, &assign).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Both stay known from then on, and so does anything seeded.
    assert_eq!(
        h.post(
            ELIGIBLE,
            &request("adminAssign", ALICE, NEW_ROLE, Some(for_duration("P10D")))
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn new_objects_are_known_at_once_without_the_fault() {
    let h = harness().await;
    h.emu.add_user(new_user()).unwrap();
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", NEW_USER, GA, Some(for_duration("P10D"))),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let e = h.emu.add_user(new_user()).unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
}

#[tokio::test]
async fn stats_count_every_request() {
    let h = harness().await;
    h.get("/v1.0/users?$top=1").await;
    h.get(&format!("/v1.0/users/{ALICE}")).await;
    h.call_as(None, "GET", "/v1.0/users", None).await;
    let s = h.call_as(None, "GET", "/_emulator/stats", None).await.body;
    assert_eq!(s["total"], 3);
    assert_eq!(s["byRoute"]["GET /v1.0/users"], 2);
    assert_eq!(s["byRoute"]["GET /v1.0/users/{id}"], 1);
    assert_eq!(s["byStatus"]["200"], 2);
    assert_eq!(s["byStatus"]["401"], 1);
}

#[tokio::test]
async fn stats_report_cpu() {
    let h = harness().await;
    h.get("/v1.0/users?$filter=userPrincipalName in ('alice@fabrikam.com')")
        .await;
    let s = h.call_as(None, "GET", "/_emulator/stats", None).await.body;
    let cpu = s["cpuSeconds"].as_f64().expect("cpuSeconds");
    let handlers = s["handlerCpuSeconds"].as_f64().expect("handlerCpuSeconds");
    assert!(cpu > 0.0 && handlers > 0.0 && handlers <= cpu, "{s}");
    assert_eq!(h.emu.stats()["total"], 1);
}
