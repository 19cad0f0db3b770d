//! Removals, by case: managed grants no longer declared, and undeclared
//! holders of exclusive roles. Both wait out Graph's five-minute rule; the
//! guards (`guard`) see every removal after them.

use chrono::Duration;

use super::ctx::{Ctx, Key, MIN_GRANT_MINUTES, Map, Set, grant_key, key};
use super::{Action, Change, Reason, RequestAction, Resolved, ScheduleRequest, Step, Subject};
use crate::config::Desired;
use crate::model::{Address, BlockKind};
use crate::snapshot::Grant;
use crate::state::StateFile;

/// The tenant's manageable grants, indexed the two ways removals look
/// them up.
pub(super) struct Index<'a> {
    pub(super) by_key: Map<Key<'a>, &'a Grant>,
    pub(super) by_schedule: Map<&'a str, &'a Grant>,
}

/// Managed grants whose address is no longer declared. One declared again
/// under another address (a renamed block) is that address's to adopt.
pub(super) fn not_declared<'a>(
    ctx: &mut Ctx<'a>,
    desired: &Desired,
    state: Option<&StateFile>,
    index: &Index<'a>,
    declared_keys: &Set<Key<'_>>,
    removed: &mut Set<&'a str>,
) -> Vec<Change> {
    let declared: Set<&Address> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .map(|d| &d.address)
        .collect();
    let mut out = Vec::new();
    for r in state.map(|s| s.resources.as_slice()).unwrap_or_default() {
        let Some(kind) = r.kind else { continue };
        if declared.contains(&r.address) {
            continue;
        }
        let found = r
            .schedule_id
            .as_deref()
            .and_then(|id| index.by_schedule.get(id))
            .or_else(|| {
                index.by_key.get(&key(
                    r.surface,
                    kind,
                    &r.principal_id,
                    &r.role_id,
                    &r.scope_id,
                ))
            })
            .copied();
        let Some(g) = found else { continue };
        if declared_keys.contains(&grant_key(g)) || too_young(ctx, &r.address, g) {
            continue;
        }
        removed.insert(&g.schedule_id);
        out.push(removal(ctx, r.address.clone(), g, Reason::NotDeclared));
    }
    out
}

/// Holders of exclusive roles that nothing declares or manages.
pub(super) fn exclusive_sweep<'a>(
    ctx: &mut Ctx<'a>,
    desired: &Desired,
    resolved: &Resolved,
    matched: &Set<&str>,
    removed: &mut Set<&'a str>,
) -> Vec<Change> {
    let current = ctx.current;
    let mut out = Vec::new();
    for role in desired.roles.iter().filter(|r| r.item.exclusive) {
        let Some(key) = resolved.block_key(role.item.surface, &role.item.role, &role.item.scope)
        else {
            continue;
        };
        let mut holders: Vec<&Grant> = current
            .grants
            .iter()
            .filter(|g| g.is_manageable() && g.surface == role.item.surface && g.key() == key)
            .filter(|g| {
                !matched.contains(g.schedule_id.as_str())
                    && !removed.contains(g.schedule_id.as_str())
            })
            .collect();
        holders.sort_by(|a, b| a.schedule_id.cmp(&b.schedule_id));
        for g in holders {
            let who = format!("{} {}", g.kind, ctx.principal_name(&g.principal_id));
            // A group's block is keyed by access already: the holder goes beside it.
            let address = match &role.address.key {
                None => Address::new(BlockKind::Role, role.address.name.clone()).with_key(who),
                Some(access) => Address::new(BlockKind::Role, role.address.name.clone())
                    .with_key(format!("{access} {who}")),
            };
            removed.insert(&g.schedule_id);
            if too_young(ctx, &address, g) {
                continue;
            }
            let mut change = removal(ctx, address, g, Reason::Exclusive);
            change.origin = Some(role.origin.block.clone());
            out.push(change);
        }
    }
    out
}

/// Graph refuses to end a grant in its first five minutes
/// (`ActiveDurationTooShort`): such a removal waits for a later run.
pub(super) fn too_young(ctx: &mut Ctx<'_>, address: &Address, g: &Grant) -> bool {
    let Some(start) = g.start.or(g.created) else {
        return false;
    };
    if ctx.opts.now - start >= Duration::minutes(MIN_GRANT_MINUTES) {
        return false;
    }
    ctx.warnings.push(format!(
        "{address} began less than {MIN_GRANT_MINUTES} minutes ago, and Graph refuses to end a grant that young (ActiveDurationTooShort): it is kept for now, and a run after {} will remove it",
        Ctx::show_time(start + Duration::minutes(MIN_GRANT_MINUTES))
    ));
    true
}

pub(super) fn removal(ctx: &Ctx<'_>, address: Address, g: &Grant, reason: Reason) -> Change {
    Change {
        address,
        action: Action::Remove,
        reason,
        role: ctx.target_name(g.surface, &g.role_id, &g.scope_id),
        before: Some(ctx.current_attrs(g)),
        after: None,
        origin: None,
        step: Step::Grant {
            subject: Subject {
                surface: g.surface,
                kind: g.kind,
                principal_id: g.principal_id.clone(),
                role_id: g.role_id.clone(),
                scope_id: g.scope_id.clone(),
            },
            schedule_id: Some(g.schedule_id.clone()),
            declared: None,
            requests: vec![ScheduleRequest {
                surface: g.surface,
                kind: g.kind,
                action: RequestAction::AdminRemove,
                principal_id: g.principal_id.clone(),
                role_id: g.role_id.clone(),
                scope_id: g.scope_id.clone(),
                schedule: None,
                justification: Some(format!("Removed by pim: {}", reason.describe())),
                ticket: None,
                condition: None,
            }],
        },
    }
}
