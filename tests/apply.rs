//! The executor against a fake tenant: phase order, bounded concurrency,
//! idempotent re-runs, failures that stop later phases, and state saved
//! after every confirmed step.

use crate::support::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pim::apply::{self, ApplyReport, Progress, Quiet, StateSink, StepResult};
use pim::graph::{GrantFilter, GraphError, GraphWrite, RequestOutcome};
use pim::model::{AssignmentKind, Expiration, RuleId, RuleValue};
use pim::plan::{Action, Change, RequestAction, ScheduleRequest};
use pim::snapshot::{Grant, MemberType};
use pim::state::StateFile;

#[derive(Default)]
struct Fake {
    log: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Principal id → error code to answer with.
    fail: HashMap<String, String>,
}

impl Fake {
    async fn enter(&self, what: String) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.log.lock().unwrap().push(what);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl GraphWrite for Fake {
    async fn create_request(&self, r: &ScheduleRequest) -> Result<RequestOutcome, GraphError> {
        self.enter(format!("{} {}", r.action.as_str(), r.principal_id))
            .await;
        if let Some(code) = self.fail.get(r.principal_id.as_str()) {
            return Err(GraphError::from_status(
                "POST /roleManagement/directory/roleEligibilityScheduleRequests",
                400,
                code.clone(),
                "refused".into(),
                Some("req-x".into()),
            ));
        }
        let status = if r.action == RequestAction::AdminRemove {
            "Revoked"
        } else {
            "Provisioned"
        };
        let id = format!("new-{}", r.principal_id);
        Ok(RequestOutcome {
            surface: r.surface,
            kind: r.kind,
            request_id: id.clone(),
            status: status.into(),
            action: r.action.as_str().into(),
            principal_id: r.principal_id.clone(),
            role_id: r.role_id.clone(),
            scope_id: r.scope_id.clone(),
            target_schedule_id: Some(id),
            justification: r.justification.clone(),
            created: None,
            approval_id: None,
            schedule: r.schedule.clone(),
            ticket: None,
            created_by: None,
            completed: None,
            reconciled: false,
        })
    }

    async fn update_rule(
        &self,
        policy_id: &str,
        rule: RuleId,
        _value: &RuleValue,
    ) -> Result<(), GraphError> {
        self.enter(format!("patch {policy_id} {rule}")).await;
        Ok(())
    }

    /// Whatever is asked for exists already, as a direct grant.
    async fn grants(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<Grant>, GraphError> {
        let principal_id = filter.principal_id.clone().unwrap_or_default();
        Ok(vec![Grant {
            surface: pim::model::SurfaceKind::DirectoryRole,
            kind,
            schedule_id: format!("existing-{principal_id}"),
            principal_id,
            role_id: filter.role_id.clone().unwrap_or_default(),
            scope_id: filter.scope_id.clone().unwrap_or_default(),
            start: None,
            expiration: Expiration::Permanent,
            member_type: MemberType::Direct,
            active_type: None,
            created_using: None,
            created: None,
            status: "Provisioned".into(),
            condition: None,
        }])
    }
}

#[derive(Default)]
struct Sink {
    saved: Mutex<Vec<StateFile>>,
    /// How long a save takes.
    slow: Option<Duration>,
}

impl StateSink for Sink {
    fn save(&self, state: &StateFile) -> Result<(), String> {
        if let Some(d) = self.slow {
            std::thread::sleep(d);
        }
        self.saved.lock().unwrap().push(state.clone());
        Ok(())
    }
}

async fn run(fake: Fake, parallelism: usize) -> (ApplyReport, StateFile, Arc<Fake>, Arc<Sink>) {
    run_with(fake, Sink::default(), Arc::new(Quiet), parallelism).await
}

async fn run_with(
    fake: Fake,
    sink: Sink,
    progress: Arc<dyn Progress>,
    parallelism: usize,
) -> (ApplyReport, StateFile, Arc<Fake>, Arc<Sink>) {
    let (plan, state) = common::scenario_with_state();
    let fake = Arc::new(fake);
    let sink = Arc::new(sink);
    let (report, state) = apply::apply(
        &plan,
        fake.clone(),
        state,
        sink.clone(),
        progress,
        parallelism,
    )
    .await;
    (report, state, fake, sink)
}

/// Checks, as each step ends, that the last save already holds its change.
struct SavedFirst {
    sink: Arc<Sink>,
    wrong: Mutex<Vec<String>>,
}

impl Progress for SavedFirst {
    fn finished(&self, change: &Change, result: &StepResult) {
        if !matches!(result, StepResult::Done { .. }) {
            return;
        }
        let saved = self.sink.saved.lock().unwrap();
        let held = saved
            .last()
            .is_some_and(|s| s.get(&change.address).is_some());
        if held == (change.action == Action::Remove) {
            self.wrong.lock().unwrap().push(change.address.to_string());
        }
    }
}

#[tokio::test]
async fn runs_phases_in_order_and_records_every_step() {
    let (report, state, fake, sink) = run(Fake::default(), 3).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(report.done.len(), 9);
    let log = fake.log.lock().unwrap().clone();
    let first_grant = log.iter().position(|l| l.starts_with("admin")).unwrap();
    let last_patch = log.iter().rposition(|l| l.starts_with("patch")).unwrap();
    let first_remove = log
        .iter()
        .position(|l| l.starts_with("adminRemove"))
        .unwrap();
    let last_other = log
        .iter()
        .rposition(|l| l.starts_with("admin") && !l.starts_with("adminRemove"))
        .unwrap();
    assert!(last_patch < first_grant, "rules before grants: {log:?}");
    assert!(last_other < first_remove, "removals last: {log:?}");
    assert!(fake.max_in_flight.load(Ordering::SeqCst) <= 3);
    assert!(
        fake.max_in_flight.load(Ordering::SeqCst) > 1,
        "a phase runs concurrently"
    );

    // Saves as steps end (steps that end together may share one), each
    // with a higher serial.
    let saved = sink.saved.lock().unwrap();
    assert!((1..=9).contains(&saved.len()), "{}", saved.len());
    assert!(saved.windows(2).all(|w| w[1].serial == w[0].serial + 1));
    assert_eq!(saved.last().unwrap(), &state);
    let addresses: Vec<String> = state
        .resources
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert!(addresses.contains(&"eligibility.carol_helpdesk".to_string()));
    assert!(
        addresses.contains(&"eligibility.erin_ga".to_string()),
        "adoption recorded"
    );
    assert!(
        !addresses.contains(&"eligibility.ivan_old".to_string()),
        "removal forgotten"
    );
    let carol = state
        .resources
        .iter()
        .find(|r| r.address.to_string() == "eligibility.carol_helpdesk")
        .unwrap();
    assert_eq!(carol.schedule_id.as_deref(), Some("new-u-carol"));
    assert_eq!(carol.attributes["duration"], "P90D");
    let erin = state
        .resources
        .iter()
        .find(|r| r.address.to_string() == "eligibility.erin_ga")
        .unwrap();
    assert_eq!(erin.principal_id, "u-erin");
    assert!(
        erin.schedule_id.as_deref().unwrap().starts_with("sched-"),
        "the adopted schedule keeps its id"
    );
}

#[tokio::test]
async fn existing_and_missing_targets_are_success() {
    let mut fake = Fake::default();
    fake.fail
        .insert("u-carol".into(), "RoleAssignmentExists".into());
    fake.fail
        .insert("u-ivan".into(), "RoleAssignmentDoesNotExist".into());
    let (report, state, _, _) = run(fake, 2).await;
    assert!(report.succeeded(), "{report:?}");
    let carol = state
        .resources
        .iter()
        .find(|r| r.address.to_string() == "eligibility.carol_helpdesk")
        .unwrap();
    assert_eq!(carol.schedule_id.as_deref(), Some("existing-u-carol"));
}

#[tokio::test]
async fn a_failure_stops_later_phases() {
    let mut fake = Fake::default();
    fake.fail.insert(
        "u-dave".into(),
        "RoleAssignmentRequestPolicyValidationFailed".into(),
    );
    let (report, state, fake, _) = run(fake, 4).await;
    assert!(!report.succeeded());
    assert_eq!(report.failed.len(), 1);
    let (address, action, error) = &report.failed[0];
    assert_eq!(
        (address.to_string().as_str(), *action),
        ("eligibility.dave_helpdesk", Action::Create)
    );
    assert!(
        error.contains("RoleAssignmentRequestPolicyValidationFailed: refused (request-id req-x)"),
        "{error}"
    );
    let not_started: Vec<Action> = report.not_started.iter().map(|(_, a)| *a).collect();
    assert_eq!(not_started, [Action::Remove, Action::Remove]);
    assert!(
        !fake
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("adminRemove"))
    );
    // The rest of the phase finished and is in state.
    assert!(
        state
            .resources
            .iter()
            .any(|r| r.address.to_string() == "eligibility.carol_helpdesk")
    );
    assert!(
        !state
            .resources
            .iter()
            .any(|r| r.address.to_string() == "eligibility.dave_helpdesk"
                && r.schedule_id.as_deref() != Some("sched-gone"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_is_done_only_once_a_save_holds_it_and_slow_saves_are_shared() {
    let sink = Arc::new(Sink {
        saved: Mutex::default(),
        slow: Some(Duration::from_millis(30)),
    });
    let progress = Arc::new(SavedFirst {
        sink: sink.clone(),
        wrong: Mutex::default(),
    });
    let (plan, state) = common::scenario_with_state();
    let (report, state) = apply::apply(
        &plan,
        Arc::new(Fake::default()),
        state,
        sink.clone(),
        progress.clone(),
        4,
    )
    .await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(
        progress.wrong.lock().unwrap().clone(),
        Vec::<String>::new(),
        "reported done before a save held the change"
    );
    let saved = sink.saved.lock().unwrap();
    assert!(
        saved.len() < report.done.len(),
        "steps that end during a save share the next one: {} saves for {} steps",
        saved.len(),
        report.done.len()
    );
    assert_eq!(saved.last(), Some(&state));
}
