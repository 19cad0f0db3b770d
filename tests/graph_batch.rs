//! Writes made at the same time travel in `$batch`es of up to 20, and each
//! keeps its own outcome: a throttled one is retried alone after its
//! `Retry-After`, a refused one fails only its own step with Graph's code,
//! and a batch whose answer is lost is reconciled by reading, never resent.

use crate::support::graph_common;

use std::sync::Arc;
use std::time::Duration;

use graph_common::*;
use pim::apply::{Quiet, StateSink};
use pim::config::{LoadOptions, StateSettings};
use pim::emulator::{Emulator, Faults, Tenant, User};
use pim::graph::{
    ErrorKind, GrantFilter, Graph, GraphWrite, HttpGraph, RequestAction, ScheduleRequest,
};
use pim::model::{AssignmentKind, Expiration, IsoDuration, RuleId, RuleValue, Schedule};
use pim::state::StateFile;

/// Password Administrator: no grant of the generated tenants holds it.
const ROLE: &str = "966707d0-3269-4727-9be2-8c3a10f19b9d";
const BATCH_ROUTE: &str = "POST /v1.0/$batch";
const ELIGIBILITY_ROUTE: &str =
    "POST /v1.0/roleManagement/directory/roleEligibilityScheduleRequests";

fn create(principal: &str, role: &str) -> ScheduleRequest {
    ScheduleRequest {
        surface: pim::model::SurfaceKind::DirectoryRole,
        kind: AssignmentKind::Eligible,
        action: RequestAction::AdminAssign,
        principal_id: principal.into(),
        role_id: role.into(),
        scope_id: "/".into(),
        schedule: Some(Schedule {
            start: None,
            expiration: Expiration::After(IsoDuration::days(30)),
        }),
        justification: Some("pim batch test".into()),
        ticket: None,
        condition: None,
    }
}

fn served(emu: &Emulator, route: &str) -> u64 {
    emu.stats()["byRoute"][route].as_u64().unwrap_or(0)
}

/// Eligibility schedules of [`ROLE`], by principal.
async fn holders(graph: &HttpGraph) -> Vec<String> {
    let mut found: Vec<String> = graph
        .grants(
            AssignmentKind::Eligible,
            &GrantFilter {
                role_id: Some(ROLE.into()),
                ..GrantFilter::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.principal_id.to_string())
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn concurrent_writes_go_twenty_to_a_batch() {
    let emu = emulator(generated_tenant(600), Faults::default()).await;
    let graph = client_with_token(&emu);
    let requests: Vec<ScheduleRequest> = (0..45).map(|i| create(&user_id(i), ROLE)).collect();
    let outcomes =
        futures::future::join_all(requests.iter().map(|r| graph.create_request(r))).await;
    for (i, o) in outcomes.iter().enumerate() {
        let o = o.as_ref().unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(o.status, "Provisioned");
        assert_eq!(
            o.principal_id.as_str(),
            user_id(i),
            "answers go to their askers"
        );
        assert!(!o.reconciled);
    }
    // 20 + 20 at once, the last 5 after the gather window.
    assert_eq!(served(&emu, BATCH_ROUTE), 3, "{}", emu.stats());
    assert_eq!(served(&emu, ELIGIBILITY_ROUTE), 0);
    assert_eq!(graph.stats().requests(), 3);
    let mut want: Vec<String> = (0..45).map(user_id).collect();
    want.sort();
    assert_eq!(holders(&graph).await, want);
    emu.stop().await;
}

#[tokio::test]
async fn a_lone_write_is_sent_as_itself() {
    let emu = emulator(generated_tenant(120), Faults::default()).await;
    let graph = client_with_token(&emu);
    let o = graph
        .create_request(&create(&user_id(1), ROLE))
        .await
        .unwrap();
    assert_eq!(o.status, "Provisioned");
    assert_eq!(served(&emu, ELIGIBILITY_ROUTE), 1);
    assert_eq!(served(&emu, BATCH_ROUTE), 0);
    emu.stop().await;
}

/// One batch of five: a grant made, one that exists already, a removal of
/// nothing, another grant, and one Graph throttles (five calls a second:
/// the batch and its first four requests). Each reads its own answer; only
/// the throttled one is sent again, alone, after its `Retry-After`.
#[tokio::test]
async fn mixed_outcomes_in_one_batch_and_a_throttled_write_retried_alone() {
    let emu = emulator(
        generated_tenant(120),
        Faults {
            throttle_per_second: Some(5),
            ..Faults::default()
        },
    )
    .await;
    let graph = client_with_token(&emu);
    // The generated tenant makes user 0 eligible for Global Administrator.
    let exists = create(&user_id(0), ROLES[0]);
    let mut remove_nothing = create(&user_id(2), ROLE);
    remove_nothing.action = RequestAction::AdminRemove;
    remove_nothing.schedule = None;
    let requests = [
        create(&user_id(1), ROLE),
        exists,
        remove_nothing,
        create(&user_id(3), ROLE),
        create(&user_id(4), ROLE),
    ];
    let started = std::time::Instant::now();
    let out = futures::future::join_all(requests.iter().map(|r| graph.create_request(r))).await;

    assert_eq!(out[0].as_ref().unwrap().status, "Provisioned");
    let e = out[1].as_ref().unwrap_err();
    assert_eq!(e.kind, ErrorKind::RoleAssignmentExists, "{e}");
    assert!(e.request_id.is_some(), "Graph's request id is kept: {e}");
    let e = out[2].as_ref().unwrap_err();
    assert_eq!(e.code, "RoleAssignmentDoesNotExist", "{e}");
    assert_eq!(e.status, Some(400));
    assert_eq!(out[3].as_ref().unwrap().status, "Provisioned");
    let last = out[4].as_ref().unwrap();
    assert_eq!(last.status, "Provisioned");
    assert_eq!(last.principal_id.as_str(), user_id(4));

    let stats = graph.stats();
    assert_eq!(stats.throttled(), 1, "one write was throttled");
    assert_eq!(stats.retries(), 1, "and it alone was sent again");
    assert_eq!(served(&emu, BATCH_ROUTE), 1, "{}", emu.stats());
    assert_eq!(served(&emu, ELIGIBILITY_ROUTE), 1, "the retry went alone");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the retry waited for Retry-After: {:?}",
        started.elapsed()
    );
    assert_eq!(
        graph.parallelism_cuts(),
        1,
        "throttling lowered the parallelism"
    );
    assert_eq!(holders(&graph).await, [user_id(1), user_id(3), user_id(4)]);
    emu.stop().await;
}

/// Every connection is dropped, writes after they took effect: the batch's
/// answer is lost, and so is every read that would tell what became of it.
/// No write is sent again; each is reported unknown, and each was made once.
#[tokio::test]
async fn a_batch_lost_after_sending_is_never_resent() {
    let emu = emulator(
        generated_tenant(120),
        Faults {
            reset_rate: 1.0,
            reset_after_write_share: 1.0,
            rng_seed: 5,
            ..Faults::default()
        },
    )
    .await;
    let graph = client_with_token(&emu);
    let requests: Vec<ScheduleRequest> = (0..6).map(|i| create(&user_id(i), ROLE)).collect();
    let out = futures::future::join_all(requests.iter().map(|r| graph.create_request(r))).await;
    for r in &out {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind, ErrorKind::OutcomeUnknown, "{e}");
        assert!(e.to_string().contains("in a $batch"), "{e}");
    }
    assert_eq!(served(&emu, BATCH_ROUTE), 1, "{}", emu.stats());
    assert_eq!(served(&emu, ELIGIBILITY_ROUTE), 0);
    let tenant = emu.snapshot();
    let made = tenant
        .eligibility_schedules
        .iter()
        .filter(|s| s.role.eq_ignore_ascii_case(ROLE))
        .count();
    assert_eq!(made, 6, "each write took effect once: {made}");
    emu.stop().await;
}

/// Writes are dropped after taking effect half the time, reads mostly
/// answer: whatever a lost batch did is read back, and nothing is made twice.
#[tokio::test]
async fn a_lost_batch_is_reconciled_by_reading() {
    let emu = emulator(
        generated_tenant(600),
        Faults {
            reset_rate: 0.5,
            reset_after_write_share: 1.0,
            rng_seed: 11,
            ..Faults::default()
        },
    )
    .await;
    let graph = client_with_token(&emu);
    let requests: Vec<ScheduleRequest> = (0..40).map(|i| create(&user_id(i), ROLE)).collect();
    let out = futures::future::join_all(requests.iter().map(|r| graph.create_request(r))).await;
    let mut reconciled = 0;
    for (i, r) in out.iter().enumerate() {
        let o = r.as_ref().unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(o.principal_id.as_str(), user_id(i));
        reconciled += usize::from(o.reconciled);
    }
    assert!(reconciled > 0, "some answers were lost and read back");
    assert_eq!(graph.stats().reconciled(), reconciled as u64);
    assert!(served(&emu, BATCH_ROUTE) >= 2, "{}", emu.stats());
    let mut want: Vec<String> = (0..40).map(user_id).collect();
    want.sort();
    assert_eq!(holders(&graph).await, want, "one grant each, none twice");
    let requests = graph
        .list_requests(
            AssignmentKind::Eligible,
            &GrantFilter {
                role_id: Some(ROLE.into()),
                ..GrantFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(requests.len(), 40, "no request was sent twice");
    emu.stop().await;
}

struct Discard;

impl StateSink for Discard {
    fn save(&self, _: &StateFile) -> Result<(), String> {
        Ok(())
    }
}

/// Six creates planned over two roles; before apply runs, one role's policy
/// comes to cap eligibility at 90 days, which the planned 180 days break.
/// All six go in one `$batch`: the three of that role fail, each its own
/// step with Graph's code and request id, and the other three are done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_fails_only_its_step() {
    const ROLES: [&str; 2] = ["Helpdesk Administrator", "User Administrator"];
    let mut seed = Tenant::empty();
    let mut hcl = String::new();
    for i in 0..6 {
        let upn = format!("batch{i}@contoso.com");
        seed.users.push(User {
            id: user_id(i),
            display_name: format!("Batch {i}"),
            user_principal_name: upn.clone(),
            ..User::default()
        });
        hcl.push_str(&format!(
            "eligibility \"b{i}\" {{\n  principal = \"user:{upn}\"\n  role = \"{}\"\n  duration = \"P180D\"\n}}\n",
            ROLES[i % 2]
        ));
    }
    let dir = std::env::temp_dir().join(format!("pim-graph-batch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut desired = pim::config::load_sources(
        &dir,
        vec![(dir.join("batch.pim.hcl"), hcl)],
        &LoadOptions::at(chrono::Utc::now()),
    )
    .unwrap_or_else(|e| panic!("{}", e.diagnostics()));
    desired.state = StateSettings::Local {
        path: dir.join("pim.state.json"),
    };
    let emu = emulator(seed, Faults::default()).await;
    let graph = Arc::new(client_with_token(&emu));
    let backend = pim::cli::run::backend(&desired, pim::graph::AuthMethod::Auto).unwrap();
    let planned = pim::pipeline::make_plan(
        graph.as_ref(),
        &desired,
        &backend,
        &pim::plan::PlanOptions::at(chrono::Utc::now()),
    )
    .await
    .unwrap_or_else(|e| panic!("{:#}", anyhow::Error::from(e)));
    assert_eq!(planned.plan.summary.create, 6);

    let user_admin = pim::model::find_builtin_role(ROLES[1]).unwrap();
    let policies = graph
        .policies(Some(&[user_admin.id.to_ascii_lowercase().into()]))
        .await
        .unwrap();
    graph
        .update_rule(
            &policies[0].policy_id,
            RuleId::ExpirationAdminEligibility,
            &RuleValue::Expiration {
                required: true,
                max: Some(IsoDuration::days(90)),
            },
        )
        .await
        .unwrap();
    let batches_before = served(&emu, BATCH_ROUTE);

    let (report, state) = pim::apply::apply(
        &planned.plan,
        graph.clone(),
        StateFile::new(uuid::Uuid::new_v4().to_string()),
        Arc::new(Discard),
        Arc::new(Quiet),
        graph.parallelism(),
    )
    .await;
    assert_eq!(
        served(&emu, BATCH_ROUTE) - batches_before,
        1,
        "{}",
        emu.stats()
    );
    assert_eq!(served(&emu, ELIGIBILITY_ROUTE), 0);
    let mut failed: Vec<String> = report.failed.iter().map(|f| f.0.to_string()).collect();
    failed.sort();
    assert_eq!(
        failed,
        ["eligibility.b1", "eligibility.b3", "eligibility.b5"]
    );
    for (_, _, error) in &report.failed {
        assert!(
            error.starts_with("RoleAssignmentRequestPolicyValidationFailed: ")
                && error.contains("ExpirationRule")
                && error.contains("(request-id "),
            "{error}"
        );
    }
    let mut done: Vec<String> = report.done.iter().map(|d| d.0.to_string()).collect();
    done.sort();
    assert_eq!(done, ["eligibility.b0", "eligibility.b2", "eligibility.b4"]);
    let recorded: Vec<String> = state
        .resources
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert_eq!(recorded, done);
    emu.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
