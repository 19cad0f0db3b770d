//! The tenant's grants that nothing declares, manages or removes: listed
//! in the plan, never touched.

use super::Unmanaged;
use super::ctx::{Ctx, Key, Map, Set, grant_key, resource_key};
use crate::state::StateFile;

/// The unmanaged grants, in the plan's order. `role_names` caches display
/// names by role id across the plan.
pub(super) fn unmanaged<'a>(
    ctx: &Ctx<'a>,
    state: Option<&StateFile>,
    matched: &Set<&str>,
    removed: &Set<&str>,
    role_names: &mut Map<&'a str, String>,
) -> Vec<Unmanaged> {
    let resources = state.map(|s| s.resources.as_slice()).unwrap_or_default();
    let managed_ids: Set<&str> = resources
        .iter()
        .filter_map(|r| r.schedule_id.as_deref())
        .collect();
    // A managed grant Graph gave a new id is still managed.
    let managed_keys: Set<Key<'_>> = resources.iter().filter_map(resource_key).collect();
    let mut scope_names: Map<&str, String> = Map::default();
    let entries = ctx
        .current
        .grants
        .iter()
        .filter(|g| g.is_manageable())
        .filter(|g| {
            let id = g.schedule_id.as_str();
            !matched.contains(id)
                && !removed.contains(id)
                && !managed_ids.contains(id)
                && !managed_keys.contains(&grant_key(g))
        })
        .map(|g| Unmanaged {
            kind: g.kind,
            principal: ctx.principal_name(&g.principal_id),
            role: role_names
                .entry(&g.role_id)
                .or_insert_with(|| ctx.role_name(g.surface, &g.role_id))
                .clone(),
            scope: scope_names
                .entry(&g.scope_id)
                .or_insert_with(|| ctx.scope_name(g.surface, &g.scope_id))
                .clone(),
            end: g.end(),
            schedule_id: g.schedule_id.clone(),
        })
        .collect();
    sort_unmanaged(entries)
}

/// Orders unmanaged grants by role, principal, kind, scope and schedule.
/// Tenants have tens of thousands of them over a few dozen roles: roles are
/// compared by rank and indices are sorted, not the entries themselves.
pub(super) fn sort_unmanaged(entries: Vec<Unmanaged>) -> Vec<Unmanaged> {
    let mut roles: Vec<&str> = entries.iter().map(|u| u.role.as_str()).collect();
    roles.sort_unstable();
    roles.dedup();
    let rank: Vec<usize> = entries
        .iter()
        .map(|u| roles.binary_search(&u.role.as_str()).unwrap_or(0))
        .collect();
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_unstable_by_key(|&i| rank[i]);
    for run in order.chunk_by_mut(|&a, &b| rank[a] == rank[b]) {
        run.sort_unstable_by(|&a, &b| {
            let (x, y) = (&entries[a], &entries[b]);
            (&x.principal, x.kind, &x.scope, &x.schedule_id).cmp(&(
                &y.principal,
                y.kind,
                &y.scope,
                &y.schedule_id,
            ))
        });
    }
    let mut slots: Vec<Option<Unmanaged>> = entries.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}
