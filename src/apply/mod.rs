//! Executing a plan: phase by phase (rule updates, grants, removals), the
//! steps of a phase concurrently up to a bound, each outcome read from
//! Graph's answer, and every step Graph confirmed saved in state before it
//! counts as done (steps that end during a save share the next one). A
//! failure stops later phases; what is in flight finishes.

mod graph;

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};

use crate::graph::GraphWrite;
use crate::model::Address;
use crate::plan::{Action, Change, Plan, RequestAction, Step};
use crate::state::{Resource, StateFile};
use crate::surface::Writers;

pub use graph::DEFAULT_JUSTIFICATION;

/// Where state goes as steps end. Called on a thread that may block
/// (tokio's blocking pool), one save at a time, each with a higher serial.
pub trait StateSink: Send + Sync + 'static {
    fn save(&self, state: &StateFile) -> Result<(), String>;
}

/// Reports progress as steps start and end.
pub trait Progress: Send + Sync {
    fn started(&self, _change: &Change) {}
    fn finished(&self, _change: &Change, _result: &StepResult) {}
}

/// A progress reporter that says nothing.
pub struct Quiet;
impl Progress for Quiet {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepResult {
    Done { detail: String },
    Failed { error: String },
}

/// What happened, change by change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    pub done: Vec<(Address, Action, String)>,
    pub failed: Vec<(Address, Action, String)>,
    pub not_started: Vec<(Address, Action)>,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && self.not_started.is_empty()
    }
}

/// Runs `plan` against `target`, starting from `state`; returns the report
/// and the final state (also saved through `sink`, each step's change before
/// the step is reported).
pub async fn apply<G: GraphWrite + 'static>(
    plan: &Plan,
    target: Arc<G>,
    state: StateFile,
    sink: Arc<dyn StateSink>,
    progress: Arc<dyn Progress>,
    parallelism: usize,
) -> (ApplyReport, StateFile) {
    let journal = Arc::new(Journal::new(state, sink));
    let mut report = ApplyReport::default();
    // `parallelism` bounds the calls in flight, which the client enforces;
    // steps are let go in numbers the client can gather into those calls,
    // twice over so that the next calls fill while the last are out.
    let per_call = target.writes_per_call().max(1);
    let steps = if per_call > 1 {
        parallelism
            .max(1)
            .saturating_mul(per_call)
            .saturating_mul(2)
    } else {
        parallelism.max(1)
    };
    let permits = Arc::new(Semaphore::new(steps));
    let mut failed = false;
    for phase in 0..=2u8 {
        let changes: Vec<&Change> = plan
            .changes
            .iter()
            .filter(|c| c.action.phase() == phase)
            .collect();
        if failed {
            report
                .not_started
                .extend(changes.iter().map(|c| (c.address.clone(), c.action)));
            continue;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (i, change) in changes.iter().enumerate() {
            let change = (*change).clone();
            let (target, journal, progress, permits) = (
                target.clone(),
                journal.clone(),
                progress.clone(),
                permits.clone(),
            );
            tasks.spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return (
                        i,
                        StepResult::Failed {
                            error: "apply was stopped".into(),
                        },
                    );
                };
                progress.started(&change);
                let result = run_step(&change, target.as_ref(), &journal).await;
                progress.finished(&change, &result);
                (i, result)
            });
        }
        let mut results: Vec<Option<StepResult>> = vec![None; changes.len()];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, r)) => results[i] = Some(r),
                Err(e) => {
                    // A panicking step is a bug; report it rather than lose the others.
                    failed = true;
                    report.failed.push((
                        Address::new(crate::model::BlockKind::Role, "?"),
                        Action::NoOp,
                        e.to_string(),
                    ));
                }
            }
        }
        for (change, result) in changes.iter().zip(results) {
            match result {
                Some(StepResult::Done { detail }) => {
                    report
                        .done
                        .push((change.address.clone(), change.action, detail))
                }
                Some(StepResult::Failed { error }) => {
                    failed = true;
                    report
                        .failed
                        .push((change.address.clone(), change.action, error));
                }
                None => report
                    .not_started
                    .push((change.address.clone(), change.action)),
            }
        }
    }
    let state = match Arc::try_unwrap(journal) {
        Ok(j) => j.into_state(),
        // Every step has been joined, so no one else holds it; if someone
        // did, a copy is as good.
        Err(shared) => shared.lock().0.clone(),
    };
    (report, state)
}

/// Statuses of a request that went through (or will, without more input).
fn accepted(status: &str) -> bool {
    matches!(
        status,
        "Provisioned"
            | "Granted"
            | "PendingProvisioning"
            | "PendingScheduleCreation"
            | "ScheduleCreated"
            | "Revoked"
    )
}

async fn run_step(change: &Change, target: &dyn GraphWrite, journal: &Journal) -> StepResult {
    let to = Writers {
        graph: target,
        arm: target.arm(),
    };
    match &change.step {
        Step::Rules(patch) => {
            // The id the policy has now: a group's changes when PIM first
            // governs it, and later patches go to the new one.
            let mut policy_id = patch.policy_id.clone();
            for (id, value) in &patch.rules.rules {
                let surface = crate::surface::get(patch.surface);
                match surface
                    .update_rule(to, &patch.key(), &policy_id, *id, value)
                    .await
                {
                    Ok(patched) => policy_id = patched,
                    Err(e) => {
                        return StepResult::Failed {
                            error: format!("{id}: {}", graph::describe(&e)),
                        };
                    }
                }
            }
            let resource = Resource::policy(
                change.address.clone(),
                &patch.key(),
                &policy_id,
                patch
                    .settings
                    .iter()
                    .map(|s| (s.setting.clone(), s.after.clone())),
            );
            match journal.commit(|s| upsert(s, resource)).await {
                Ok(()) => StepResult::Done {
                    detail: format!("{} rule(s) updated", patch.rules.rules.len()),
                },
                Err(e) => StepResult::Failed {
                    error: format!("rules updated, but saving state failed: {e}"),
                },
            }
        }
        Step::Grant {
            subject,
            schedule_id,
            declared,
            requests,
        } => {
            let mut schedule = schedule_id.clone();
            // The end Graph answered with, for drift to tell a later change by.
            let mut end: Option<Option<chrono::DateTime<chrono::Utc>>> = None;
            let mut request_id = None;
            let mut details = Vec::new();
            for req in requests {
                match graph::send(to, req).await {
                    Ok(out) if accepted(&out.status) => {
                        details.push(format!("{} {}", req.action.as_str(), out.status));
                        request_id = Some(out.request_id.clone());
                        if req.action != RequestAction::AdminRemove {
                            schedule = out.target_schedule_id.or(schedule);
                            end = out.schedule.as_ref().and_then(end_of).or(end);
                        }
                    }
                    Ok(out) => {
                        return StepResult::Failed {
                            error: format!(
                                "{} ended as {} (request {})",
                                req.action.as_str(),
                                out.status,
                                out.request_id
                            ),
                        };
                    }
                    // Re-runs converge: what exists already, or is gone already, is success.
                    Err(e)
                        if graph::code(&e) == "RoleAssignmentExists"
                            && req.action == RequestAction::AdminAssign =>
                    {
                        match graph::find_schedule(to, req).await {
                            Ok(Some(id)) => {
                                details.push("already exists".into());
                                schedule = Some(id);
                            }
                            Ok(None) => {
                                return StepResult::Failed {
                                    error: graph::describe(&e),
                                };
                            }
                            Err(e2) => {
                                return StepResult::Failed {
                                    error: format!(
                                        "{}; then {}",
                                        graph::describe(&e),
                                        graph::describe(&e2)
                                    ),
                                };
                            }
                        }
                    }
                    Err(e)
                        if graph::code(&e) == "RoleAssignmentDoesNotExist"
                            && req.action == RequestAction::AdminRemove =>
                    {
                        details.push("already removed".into());
                    }
                    Err(e) => {
                        return StepResult::Failed {
                            error: graph::describe(&e),
                        };
                    }
                }
            }
            if details.is_empty() {
                details.push("recorded in state".into());
            }
            let address = change.address.clone();
            let saved = if change.action == Action::Remove {
                journal
                    .commit(|s| s.resources.retain(|r| r.address != address))
                    .await
            } else {
                let justification = requests
                    .first()
                    .and_then(|r| r.justification.clone())
                    .or_else(|| {
                        change
                            .after
                            .as_ref()
                            .and_then(|a| a.iter().find(|x| x.name == "justification"))
                            .map(|x| x.value.clone())
                    });
                // Nothing sent (an adoption): the grant keeps the end it had.
                let end = end.or_else(|| match change.action {
                    Action::Adopt => recorded_end(change.before.as_deref()),
                    _ => None,
                });
                let mut attributes =
                    json!({ "duration": declared, "justification": justification });
                if let Some(end) = end {
                    attributes["end"] = json!(end);
                }
                let resource = Resource {
                    surface: subject.surface,
                    address: change.address.clone(),
                    kind: Some(subject.kind),
                    schedule_id: schedule,
                    request_id,
                    principal_id: subject.principal_id.clone(),
                    role_id: subject.role_id.clone(),
                    scope_id: subject.scope_id.clone(),
                    attributes,
                };
                journal.commit(|s| upsert(s, resource)).await
            };
            match saved {
                Ok(()) => StepResult::Done {
                    detail: details.join(", "),
                },
                Err(e) => StepResult::Failed {
                    error: format!("{}, but saving state failed: {e}", details.join(", ")),
                },
            }
        }
    }
}

/// Where a schedule Graph answered with ends: `Some(None)` when permanent,
/// `None` when it cannot be told.
fn end_of(s: &crate::model::Schedule) -> Option<Option<chrono::DateTime<chrono::Utc>>> {
    use crate::model::Expiration;
    match &s.expiration {
        Expiration::Permanent => Some(None),
        Expiration::At(t) => Some(Some(*t)),
        Expiration::After(d) => s.start.and_then(|start| d.add_to(start)).map(Some),
    }
}

/// The end a plan read off the tenant's grant (`end` of its attributes).
fn recorded_end(
    attrs: Option<&[crate::plan::Attr]>,
) -> Option<Option<chrono::DateTime<chrono::Utc>>> {
    let end = attrs?.iter().find(|a| a.name == "end")?;
    if end.value == "permanent" {
        return Some(None);
    }
    chrono::DateTime::parse_from_rfc3339(&end.value)
        .ok()
        .map(|t| Some(t.with_timezone(&chrono::Utc)))
}

fn upsert(state: &mut StateFile, resource: Resource) {
    if let Some(r) = state
        .resources
        .iter_mut()
        .find(|r| r.address == resource.address)
    {
        *r = resource;
        return;
    }
    // State is kept in address order: find the place instead of sorting it
    // all again, which every step of a large apply would.
    let key = resource.address.to_string();
    let at = state
        .resources
        .partition_point(|r| r.address.to_string() < key);
    state.resources.insert(at, resource);
}

/// The state as steps change it, and its saves. A step's change is in a
/// save that has ended before the step counts as done; changes made while a
/// save runs go into the next save together (a group commit), so saving
/// never holds up more steps than one save's time, however large the state.
struct Journal {
    /// The state, and how many changes it has had.
    state: std::sync::Mutex<(StateFile, u64)>,
    /// Held while saving: the changes the last save held, and its outcome.
    saved: Mutex<(u64, Result<(), String>)>,
    sink: Arc<dyn StateSink>,
}

impl Journal {
    fn new(state: StateFile, sink: Arc<dyn StateSink>) -> Self {
        Journal {
            state: std::sync::Mutex::new((state, 0)),
            saved: Mutex::new((0, Ok(()))),
            sink,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (StateFile, u64)> {
        // A step that panicked must not take the state with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state, and returns once a save holding the change has
    /// ended, with that save's outcome.
    async fn commit(&self, f: impl FnOnce(&mut StateFile)) -> Result<(), String> {
        let mine = {
            let mut s = self.lock();
            f(&mut s.0);
            s.1 += 1;
            s.1
        };
        let mut saved = self.saved.lock().await;
        if saved.0 >= mine {
            return saved.1.clone();
        }
        let (snapshot, changes) = {
            let mut s = self.lock();
            s.0.serial += 1;
            (s.0.clone(), s.1)
        };
        let sink = self.sink.clone();
        // Writing (and fsync) blocks: not on the threads that drive requests.
        let result = tokio::task::spawn_blocking(move || sink.save(&snapshot))
            .await
            .unwrap_or_else(|e| Err(format!("saving state stopped: {e}")))
            .inspect_err(|e| tracing::error!("saving state failed: {e}"));
        *saved = (changes, result.clone());
        result
    }

    fn into_state(self) -> StateFile {
        self.state.into_inner().unwrap_or_else(|e| e.into_inner()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, BlockKind};

    fn resource(name: &str, schedule: &str) -> Resource {
        Resource {
            surface: crate::model::SurfaceKind::DirectoryRole,
            address: Address::new(BlockKind::Eligibility, name),
            kind: Some(crate::model::AssignmentKind::Eligible),
            schedule_id: Some(schedule.into()),
            request_id: None,
            principal_id: crate::model::ObjectId::default(),
            role_id: crate::model::ObjectId::default(),
            scope_id: "/".into(),
            attributes: serde_json::Value::Null,
        }
    }

    #[test]
    fn upsert_keeps_state_in_address_order_and_replaces_in_place() {
        let mut state = StateFile::new("l".into());
        for (name, id) in [("m", "1"), ("b", "2"), ("z", "3"), ("a", "4"), ("m", "5")] {
            upsert(&mut state, resource(name, id));
        }
        let got: Vec<(String, Option<String>)> = state
            .resources
            .iter()
            .map(|r| (r.address.to_string(), r.schedule_id.clone()))
            .collect();
        let want: Vec<(String, Option<String>)> = [("a", "4"), ("b", "2"), ("m", "5"), ("z", "3")]
            .iter()
            .map(|(n, id)| (format!("eligibility.{n}"), Some(id.to_string())))
            .collect();
        assert_eq!(got, want);
        // Addresses sort as printed: "assignment" before "eligibility".
        let mut assigned = resource("zz", "6");
        assigned.address = Address::new(BlockKind::Assignment, "zz");
        upsert(&mut state, assigned);
        assert_eq!(state.resources[0].address.to_string(), "assignment.zz");
    }
}
