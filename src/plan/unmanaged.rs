//! The tenant's grants that nothing declares, manages or removes: listed
//! in the plan, never touched.

use super::Unmanaged;
use super::ctx::{Ctx, Key, Map, Set, grant_key, resource_key};
use crate::state::StateFile;

/// The unmanaged grants, in the plan's order: the [`candidates`] that no
/// declared grant matched and no removal takes.
pub(super) fn unmanaged(
    candidates: Vec<Unmanaged>,
    matched: &Set<&str>,
    removed: &Set<&str>,
) -> Vec<Unmanaged> {
    candidates
        .into_iter()
        .filter(|u| {
            let id = u.schedule_id.as_str();
            !matched.contains(id) && !removed.contains(id)
        })
        .collect()
}

/// Every manageable grant of the tenant that the state does not manage,
/// named and in the plan's order: the unmanaged grants and those the plan
/// matches or removes, which [`unmanaged`] takes out.
pub(super) fn candidates(ctx: &Ctx<'_>, state: Option<&StateFile>) -> Vec<Unmanaged> {
    let resources = state.map(|s| s.resources.as_slice()).unwrap_or_default();
    let managed_ids: Set<&str> = resources
        .iter()
        .filter_map(|r| r.schedule_id.as_deref())
        .collect();
    // A managed grant Graph gave a new id is still managed.
    let managed_keys: Set<Key<'_>> = resources.iter().filter_map(resource_key).collect();
    // Display names by role and scope id: a few dozen for the whole tenant.
    let mut role_names: Map<&str, String> = Map::default();
    let mut scope_names: Map<&str, String> = Map::default();
    let entries = ctx
        .current
        .grants
        .iter()
        .filter(|g| g.is_manageable())
        .filter(|g| {
            !managed_ids.contains(g.schedule_id.as_str()) && !managed_keys.contains(&grant_key(g))
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
/// compared by rank, and the keys are sorted side by side in one array (with
/// each entry's position), not the entries themselves, nor through indices
/// that send every comparison to two entries far apart in memory.
pub(super) fn sort_unmanaged(entries: Vec<Unmanaged>) -> Vec<Unmanaged> {
    let mut roles: Vec<&str> = entries.iter().map(|u| u.role.as_str()).collect();
    roles.sort_unstable();
    roles.dedup();
    let mut keys: Vec<_> = entries
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let rank = roles.binary_search(&u.role.as_str()).unwrap_or(0);
            (
                rank,
                u.principal.as_str(),
                u.kind,
                u.scope.as_str(),
                u.schedule_id.as_str(),
                i,
            )
        })
        .collect();
    keys.sort_unstable();
    let order: Vec<usize> = keys.into_iter().map(|k| k.5).collect();
    let mut slots: Vec<Option<Unmanaged>> = entries.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AssignmentKind;

    #[test]
    fn unmanaged_grants_sort_as_their_full_keys_do() {
        let roles = ["Helpdesk Administrator", "Global Administrator", "Reader"];
        let scopes = ["/", "/administrativeUnits/Paris"];
        let kinds = [AssignmentKind::Eligible, AssignmentKind::Active];
        // A scrambled order, with principals shared across roles and kinds.
        let entries: Vec<Unmanaged> = (0..240usize)
            .map(|n| {
                let k = n * 97 % 240;
                Unmanaged {
                    kind: kinds[k % 2],
                    principal: format!("user:u{}@contoso.com", k % 7),
                    role: roles[k % 3].to_string(),
                    scope: scopes[k / 3 % 2].to_string(),
                    end: None,
                    schedule_id: format!("s{k:03}"),
                }
            })
            .collect();
        let mut expected = entries.clone();
        expected.sort_by(|x, y| {
            (&x.role, &x.principal, x.kind, &x.scope, &x.schedule_id).cmp(&(
                &y.role,
                &y.principal,
                y.kind,
                &y.scope,
                &y.schedule_id,
            ))
        });
        let ids = |v: &[Unmanaged]| v.iter().map(|u| u.schedule_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&sort_unmanaged(entries)), ids(&expected));
        assert_eq!(expected[0].role, "Global Administrator");
    }
}
