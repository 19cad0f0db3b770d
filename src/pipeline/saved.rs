//! Applying a saved plan: the plan made again and compared with it.

use super::{Planned, add_baseline};
use crate::config::{Desired, Diagnostics};
use crate::plan::{self, Basis, Plan, PlanOptions};

/// Why a saved plan is not applied.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("the saved plan is stale: {}; make a new one with pim plan", .0.join(", "))]
    Stale(Vec<&'static str>),
    #[error(
        "the saved plan is not what this configuration, state and tenant plan: {0}. It may have been edited; make a new one with pim plan and review it"
    )]
    Mismatch(String),
    #[error("the saved plan is too old: {0}; make a new one with pim plan")]
    Expired(String),
    /// The planner refuses the configuration as of the saved plan's time,
    /// quoted from the sources.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// What applying a saved plan runs: the plan made again, from the
/// configuration, state and tenant of now, as of the moment the saved plan
/// was made (so time-bound ends come out the same), with today's safety
/// rails. The saved plan must be exactly that plan: a file that travelled
/// between jobs is checked against the source, never trusted. A plan whose
/// rails refuse it comes back as `Ok` with its refusals, for the caller to
/// show and refuse.
pub fn replan_saved(
    desired: &Desired,
    planned: &Planned,
    saved: &Plan,
    opts: &PlanOptions,
) -> Result<Plan, SavedPlanError> {
    let why = saved.basis.stale_reasons(&planned.plan.basis);
    if !why.is_empty() {
        return Err(SavedPlanError::Stale(why));
    }
    let mut then = opts.clone();
    then.now = saved.created_at;
    if let Some(r) = saved.basis.renew_within {
        then.renew_within = r;
    }
    let basis = Basis {
        renew_within: Some(then.renew_within),
        ..planned.plan.basis.clone()
    };
    let state = planned.state.as_ref();
    let mut fresh = match plan::plan(
        desired,
        &planned.current,
        &planned.resolved,
        state,
        basis,
        &then,
    ) {
        Ok(p) => p,
        Err(plan::PlanError::Invalid(mut d)) => {
            d.quote_from(&desired.sources);
            return Err(SavedPlanError::Invalid(d));
        }
    };
    add_baseline(
        desired,
        &planned.current,
        &planned.resolved,
        &mut fresh,
        &then,
    );
    if !fresh.refusals.is_empty() {
        return Ok(fresh);
    }
    if let Some(diff) = fresh.first_difference(saved) {
        return Err(SavedPlanError::Mismatch(diff));
    }
    // Ends were worked out when the plan was made: none may have come to pass.
    let soon = opts.now + chrono::Duration::minutes(5);
    for c in &fresh.changes {
        if let plan::Step::Grant { requests, .. } = &c.step {
            for r in requests {
                if let Some(crate::model::Expiration::At(end)) =
                    r.schedule.as_ref().map(|s| &s.expiration)
                    && *end <= soon
                {
                    return Err(SavedPlanError::Expired(format!(
                        "it would set {} to end at {end}, which has passed or is less than five minutes away",
                        c.address
                    )));
                }
            }
        }
    }
    Ok(fresh)
}
