//! The state's upkeep: entries with nothing left to manage, declared
//! policies the tenant already has but the state does not record, and
//! grants Graph gave a new schedule id.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::ctx::{Ctx, Key, Set, grant_key, key, resource_key};
use super::policy::{approver_name, policy_target};
use super::rules::{named_rules, rule_settings};
use super::{PlanOptions, Resolved};
use crate::config::{Declared, Desired};
use crate::model::{
    Address, Approver, Assignment, AssignmentKind, BlockKind, Expiration, ObjectId, SurfaceKind,
};
use crate::snapshot::{Current, Grant};
use crate::state::{Acknowledged, Resource, StateFile};

/// What the state needs that no change of the plan gives it; apply sees to
/// it first. Both come of runs that stopped between Graph's answer and the
/// state write, and of changes made outside pim.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Upkeep {
    /// Entries with nothing left to manage: grants no longer declared and
    /// gone from the tenant, or declared under another address now (a
    /// renamed block, which adopts the grant), and policies no longer
    /// declared (their rules stay as the tenant has them).
    pub forget: Vec<Address>,
    /// Declared policies the tenant already has as declared but the state
    /// does not record: recorded with the settings their blocks name, so
    /// that drift in them is reported.
    pub record: Vec<Resource>,
    /// Managed grants whose recorded schedule the tenant no longer lists
    /// but whose principal, role and scope a schedule of another id holds:
    /// Graph may give a changed schedule a new id. Recorded under it.
    pub reissued: Vec<Reissued>,
    /// What drift takes as known from now on, when that changes: the
    /// holders the tenant has as pim applies.
    pub acknowledged: Option<Vec<Acknowledged>>,
}

/// A managed grant's schedule id as the tenant now has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reissued {
    pub address: Address,
    pub was: Option<String>,
    pub schedule_id: String,
}

impl Upkeep {
    pub fn is_empty(&self) -> bool {
        self.forget.is_empty()
            && self.record.is_empty()
            && self.reissued.is_empty()
            && self.acknowledged.is_none()
    }

    /// `state` with the upkeep done (the serial is the caller's).
    pub fn apply_to(&self, state: &mut StateFile) {
        state
            .resources
            .retain(|r| !self.forget.contains(&r.address));
        state.resources.extend(self.record.iter().cloned());
        if let Some(a) = &self.acknowledged {
            state.acknowledged = a.clone();
        }
        for r in &self.reissued {
            if let Some(e) = state.resources.iter_mut().find(|e| e.address == r.address) {
                e.schedule_id = Some(r.schedule_id.clone());
            }
        }
        state.resources.sort_by_key(|r| r.address.to_string());
    }
}

pub fn upkeep(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    state: &StateFile,
    opts: &PlanOptions,
) -> Upkeep {
    let forget = orphans(desired, current, resolved, state, opts.now);
    Upkeep {
        reissued: reissued(current, state, &forget),
        forget,
        record: unrecorded_policies(desired, current, resolved, state, opts),
        acknowledged: None,
    }
}

fn reissued(current: &Current, state: &StateFile, forget: &[Address]) -> Vec<Reissued> {
    let manageable: Vec<&Grant> = current
        .grants
        .iter()
        .filter(|g| g.is_manageable())
        .collect();
    let ids: HashSet<&str> = manageable.iter().map(|g| g.schedule_id.as_str()).collect();
    let by_key: HashMap<Key, &Grant> = manageable.iter().map(|g| (grant_key(g), *g)).collect();
    state
        .resources
        .iter()
        .filter(|r| !forget.contains(&r.address))
        .filter(|r| !r.schedule_id.as_deref().is_some_and(|id| ids.contains(id)))
        .filter_map(|r| {
            let g = by_key.get(&resource_key(r)?)?;
            Some(Reissued {
                address: r.address.clone(),
                was: r.schedule_id.clone(),
                schedule_id: g.schedule_id.clone(),
            })
        })
        .collect()
}

fn unrecorded_policies(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    state: &StateFile,
    opts: &PlanOptions,
) -> Vec<Resource> {
    let mut ctx = Ctx::new(current, opts);
    let mut out = Vec::new();
    for p in desired
        .policies
        .iter()
        .filter(|p| state.get(&p.address).is_none())
    {
        // Problems are the plan's to report.
        let Some(t) = policy_target(&mut ctx, p, resolved) else {
            continue;
        };
        if t.after != t.current.rules {
            continue; // the plan updates it, and apply records it then
        }
        let name = |a: &Approver| approver_name(&ctx, resolved, a);
        let settings = rule_settings(&t.after, &named_rules(&p.item.rules), &name);
        out.push(Resource::policy(
            p.address.clone(),
            &t.key,
            &t.current.policy_id,
            settings.into_iter().map(|s| (s.setting, s.after)),
        ));
    }
    out
}

fn orphans(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    state: &StateFile,
    now: DateTime<Utc>,
) -> Vec<Address> {
    let passed = |d: &&Declared<Assignment>| matches!(d.item.schedule.expiration, Expiration::At(t) if t <= now);
    let ids_of: Vec<(SurfaceKind, AssignmentKind, ObjectId, ObjectId, String)> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .filter(|d| !passed(d))
        .filter_map(|d| {
            let a = &d.item;
            Some((
                a.surface,
                a.kind,
                resolved.principal(&a.principal)?,
                resolved.role(&a.role)?,
                resolved.scope(&a.scope)?,
            ))
        })
        .collect();
    let declared_keys: Set<Key> = ids_of
        .iter()
        .map(|(surface, kind, p, r, s)| key(*surface, *kind, p, r, s))
        .collect();
    let declared: HashSet<&Address> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .filter(|d| !passed(d))
        .map(|d| &d.address)
        .chain(desired.policies.iter().map(|p| &p.address))
        .collect();
    let present: HashSet<Key> = current
        .grants
        .iter()
        .filter(|g| g.is_manageable())
        .map(grant_key)
        .collect();
    let ids: HashSet<&str> = current
        .grants
        .iter()
        .filter(|g| g.is_manageable())
        .map(|g| g.schedule_id.as_str())
        .collect();
    state
        .resources
        .iter()
        .filter(|r| !declared.contains(&r.address))
        .filter(|r| match r.kind {
            None => r.address.kind == BlockKind::Policy,
            Some(kind) => {
                let k = key(r.surface, kind, &r.principal_id, &r.role_id, &r.scope_id);
                declared_keys.contains(&k)
                    || (!r.schedule_id.as_deref().is_some_and(|id| ids.contains(id))
                        && !present.contains(&k))
            }
        })
        .map(|r| r.address.clone())
        .collect()
}
