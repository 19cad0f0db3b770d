//! The plan, stage by stage: policies first (every grant is checked against
//! their result), then each declared grant's decision, removals by case,
//! the guards over every removal, and the unmanaged listing.

use foldhash::fast::FixedState;

use super::ctx::{Ctx, Key, Map, Set, grant_key, key};
use super::grant::{Found, ResolvedGrant, decide, resolve_grant};
use super::removal::{Index, exclusive_sweep, not_declared};
use super::unmanaged;
use super::{
    Action, Basis, Change, PLAN_FORMAT_VERSION, Plan, PlanError, PlanOptions, Resolved, Summary,
};
use crate::config::{Declared, Desired};
use crate::model::{Address, Assignment};
use crate::snapshot::{Current, Grant};
use crate::state::{Resource, StateFile};

/// Builds the plan.
pub fn plan(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    state: Option<&StateFile>,
    basis: Basis,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    // Naming the grants nothing manages (most of a large tenant's) needs
    // only the tenant and the state: a thread of its own does it while the
    // decisions are made, and the grants those match or remove are taken
    // out after. At 50,000 schedules that is most of a 60 ms stage off the
    // plan's wall time when a second core is free (bench_plan, bench_run).
    std::thread::scope(|scope| {
        let name = || unmanaged::candidates(&Ctx::new(current, opts), state);
        let beside = std::thread::Builder::new()
            .name("pim-unmanaged".into())
            .spawn_scoped(scope, name);
        let candidates = move || match beside {
            Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            // No thread to be had: named here, after the decisions.
            Err(_) => name(),
        };
        plan_beside(desired, current, resolved, state, basis, opts, candidates)
    })
}

/// The plan, with the unmanaged grants named by `candidates` (see [`plan`]).
fn plan_beside(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    state: Option<&StateFile>,
    basis: Basis,
    opts: &PlanOptions,
    candidates: impl FnOnce() -> Vec<super::Unmanaged>,
) -> Result<Plan, PlanError> {
    let mut ctx = Ctx::new(current, opts);
    let n = current.grants.len();
    let mut index = Index {
        by_key: Map::with_capacity_and_hasher(n, FixedState::default()),
        by_schedule: Map::with_capacity_and_hasher(n, FixedState::default()),
    };
    for g in current.grants.iter().filter(|g| g.is_manageable()) {
        index.by_key.insert(grant_key(g), g);
        index.by_schedule.insert(&g.schedule_id, g);
    }
    let managed: Map<&Address, &Resource> = state
        .map(|s| s.resources.iter().map(|r| (&r.address, r)).collect())
        .unwrap_or_default();

    let (effective, mut changes) = super::policy::policy_changes(&mut ctx, desired, resolved);
    let grants: Vec<(&Declared<Assignment>, ResolvedGrant)> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .filter_map(|d| resolve_grant(&mut ctx, d, resolved).map(|r| (d, r)))
        .collect();
    let declared_keys = declared_once(&mut ctx, &grants);

    let mut matched: Set<&str> = Set::default();
    // By role id as written: a cache of display names.
    let mut role_names: Map<&str, String> = Map::default();
    let mut no_op = 0;
    for (d, ids) in &grants {
        let k = key(
            d.item.surface,
            d.item.kind,
            &ids.principal_id,
            &ids.role_id,
            &ids.scope_id,
        );
        let have: Option<&Grant> = index.by_key.get(&k).copied();
        if let Some(g) = have {
            matched.insert(&g.schedule_id);
        }
        let found = Found {
            have,
            managed: managed.get(&d.address).copied(),
        };
        let rules = effective.get(&crate::snapshot::PolicyKey::of_grant(
            d.item.surface,
            &ids.role_id,
            &ids.scope_id,
        ));
        // A directory role reads the same at every scope: named once.
        let role = |ctx: &Ctx<'_>| match d.item.surface {
            crate::model::SurfaceKind::DirectoryRole => role_names
                .entry(&ids.role_id)
                .or_insert_with(|| ctx.role_name(d.item.surface, &ids.role_id))
                .clone(),
            s => ctx.target_name(s, &ids.role_id, &ids.scope_id),
        };
        match decide(&mut ctx, d, ids, found, rules, role) {
            Some(c) => changes.push(c),
            None => no_op += usize::from(have.is_some()),
        }
    }

    let mut removed: Set<&str> = Set::default();
    let gone = not_declared(
        &mut ctx,
        desired,
        state,
        &index,
        &declared_keys,
        &mut removed,
    );
    changes.extend(gone);
    let swept = exclusive_sweep(&mut ctx, desired, resolved, &matched, &mut removed);
    changes.extend(swept);

    // Whatever planned a removal, the guards see it.
    let kept =
        super::guard::keep_protected(desired, resolved, current, &mut changes, &mut ctx.warnings);
    for id in kept {
        removed.remove(id.as_str());
    }
    super::guard::warn_tier0_removals(desired, resolved, &changes, &mut ctx.warnings);
    let refusals = super::guard::refusals(
        desired,
        resolved,
        current,
        &changes,
        &|id| removed.contains(id),
        opts.max_removals,
        &|key| crate::surface::get(key.surface).policy_name(current, &key.role_id, &key.scope_id),
    );
    let unmanaged = unmanaged::unmanaged(candidates(), &matched, &removed);

    if ctx.diags.has_errors() {
        let mut d = ctx.diags;
        d.sort();
        return Err(PlanError::Invalid(d));
    }
    let summary = Summary::of(&changes, no_op);
    changes.sort_by_cached_key(|c| (c.action.phase(), c.address.to_string()));
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        created_at: opts.now,
        basis,
        changes,
        unmanaged,
        summary,
        warnings: ctx.warnings,
        refusals,
    })
}

/// The keys of the declared grants. Two spellings of one grant (a UPN and
/// an object id, a role name and its template id) would share one schedule
/// and fight over it: the second is an error naming the first.
fn declared_once<'g>(
    ctx: &mut Ctx<'_>,
    grants: &'g [(&Declared<Assignment>, ResolvedGrant)],
) -> Set<Key<'g>> {
    let mut first_of: Map<Key<'g>, &Declared<Assignment>> = Map::default();
    for (d, r) in grants {
        let k = key(
            d.item.surface,
            d.item.kind,
            &r.principal_id,
            &r.role_id,
            &r.scope_id,
        );
        match first_of.get(&k) {
            Some(first) => ctx.error(
                Some(&d.origin.block),
                format!(
                    "{} declares the same grant as {} (declared at {}): the same principal, role and scope",
                    d.address, first.address, first.origin.block
                ),
                Some("declare each grant once; names are compared after resolving them".into()),
            ),
            None => {
                first_of.insert(k, d);
            }
        }
    }
    first_of.into_keys().collect()
}

impl Summary {
    /// Counts the plan's changes by action, with `no_op` declared grants in step.
    pub fn of(changes: &[Change], no_op: usize) -> Summary {
        let mut s = Summary {
            no_op,
            ..Summary::default()
        };
        for c in changes {
            match c.action {
                Action::Create => s.create += 1,
                Action::Adopt => {
                    s.adopt += 1;
                    match (&c.step, c.reason) {
                        (super::Step::Grant { requests, .. }, _) if requests.is_empty() => {}
                        (_, super::Reason::Expiring) => s.adopt_renew += 1,
                        _ => s.adopt_update += 1,
                    }
                }
                Action::Update => s.update += 1,
                Action::Renew => s.renew += 1,
                Action::Remove => s.remove += 1,
                Action::UpdateRules => s.update_rules += 1,
                Action::NoOp => s.no_op += 1,
            }
        }
        s
    }
}
