//! The plan's safety rails, applied to every removal whatever planned it:
//! protected principals and the caller are never removed, tier-0 and
//! exclusive roles are never emptied, and a removal wave beyond the limit
//! is refused. They see only the changes, so a new removal path is covered.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{Action, Change, Refusal, Resolved, Step};
use crate::config::{Declared, Desired, RoleSettings};
use crate::model::{AssignmentKind, ObjectId, SurfaceKind, find_builtin_role};
use crate::snapshot::{ActiveType, Current, PolicyKey};

/// Role definition ids of the tier-0 roles.
pub fn tier0_ids(desired: &Desired, resolved: &Resolved) -> BTreeSet<ObjectId> {
    let mut ids: BTreeSet<ObjectId> = match &desired.tenant.tier0_roles {
        Some(roles) => roles.iter().filter_map(|r| resolved.role(r)).collect(),
        None => crate::surface::get(SurfaceKind::DirectoryRole)
            .default_tier0()
            .iter()
            .filter_map(|n| find_builtin_role(n))
            .map(|r| ObjectId::new(r.id.as_str()))
            .collect(),
    };
    // `tier0_roles` names directory roles; Azure's (Owner and the roles
    // that grant access) are always tier 0 at their scopes. Their GUIDs are
    // not directory role ids, so one set holds both.
    ids.extend(
        crate::surface::get(SurfaceKind::AzureRole)
            .default_tier0()
            .iter()
            .filter_map(|n| crate::model::find_azure_role(n))
            .map(|r| ObjectId::new(r.id.as_str())),
    );
    ids
}

/// The grant a removal ends.
fn removed_grant(c: &Change) -> Option<(&super::Subject, Option<&str>)> {
    match (&c.step, c.action) {
        (
            Step::Grant {
                subject,
                schedule_id,
                ..
            },
            Action::Remove,
        ) => Some((subject, schedule_id.as_deref())),
        _ => None,
    }
}

/// How a change names its principal, for messages.
fn principal_of(c: &Change) -> String {
    c.before
        .iter()
        .flatten()
        .find(|a| a.name == "principal")
        .map_or_else(|| "the principal".to_string(), |a| a.value.clone())
}

/// Takes out of `changes` every removal of a principal that must never
/// lose a grant: one protected in its role's block or in the tenant block,
/// or the identity pim runs as. Each is kept with a warning saying why;
/// returns the schedule ids kept.
pub(super) fn keep_protected(
    desired: &Desired,
    resolved: &Resolved,
    current: &Current,
    changes: &mut Vec<Change>,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let ids = |list: &[crate::model::PrincipalRef]| -> HashSet<ObjectId> {
        list.iter().filter_map(|p| resolved.principal(p)).collect()
    };
    let by_role: Vec<(PolicyKey, &Declared<RoleSettings>, HashSet<ObjectId>)> = desired
        .roles
        .iter()
        .filter_map(|r| {
            let key = resolved.block_key(r.item.surface, &r.item.role, &r.item.scope)?;
            Some((key, r, ids(&r.item.protected)))
        })
        .collect();
    let everywhere = ids(&desired.tenant.protected);
    let caller = current.caller_id.as_ref();
    let mut kept = Vec::new();
    let mut removals = 0;
    changes.retain(|c| {
        let Some((subject, schedule_id)) = removed_grant(c) else {
            return true;
        };
        let (principal, role) = (&subject.principal_id, &subject.key());
        let who = principal_of(c);
        let why = if caller == Some(principal) {
            Some(format!("{who} is the identity pim runs as"))
        } else if let Some((_, block, _)) = by_role
            .iter()
            .find(|(r, _, p)| r == role && p.contains(principal))
        {
            Some(format!(
                "{who} is protected in role \"{}\" ({})",
                c.role,
                block.origin.attribute("protected")
            ))
        } else if everywhere.contains(principal) {
            let at = desired
                .tenant
                .protected_at
                .as_ref()
                .map_or_else(String::new, |l| format!(" ({l})"));
            Some(format!(
                "{who} is protected in every role by the tenant block{at}"
            ))
        } else {
            None
        };
        match why {
            Some(why) => {
                warnings.push(format!("{}: kept, not removed: {why}", c.address));
                kept.extend(schedule_id.map(str::to_string));
                false
            }
            None => {
                removals += 1;
                true
            }
        }
    });
    if removals > 0 && caller.is_none() {
        warnings.push(
            "the identity pim runs as is not known, so the plan cannot make sure it keeps its own grants"
                .to_string(),
        );
    }
    kept
}

/// Warns about each removal of a permanent active assignment of a tier-0
/// role: often a break-glass account, and hard to get back once gone.
pub(super) fn warn_tier0_removals(
    desired: &Desired,
    resolved: &Resolved,
    changes: &[Change],
    warnings: &mut Vec<String>,
) {
    let tier0 = tier0_ids(desired, resolved);
    for c in changes {
        let Some((subject, _)) = removed_grant(c) else {
            continue;
        };
        let permanent = c
            .before
            .iter()
            .flatten()
            .any(|a| a.name == "end" && a.value == "permanent");
        if subject.kind == AssignmentKind::Active && permanent && tier0.contains(&subject.role_id) {
            warnings.push(format!(
                "{}: removes the permanent active assignment of {} to tier-0 role \"{}\"; if it is an emergency access account, make sure another one remains",
                c.address,
                principal_of(c),
                c.role
            ));
        }
    }
}

/// The removals the plan must not make as it stands: more than
/// `max_removals`, or the last holders of a tier-0 or exclusive role.
/// `removed` tells whether a schedule id is removed by the plan.
pub(super) fn refusals(
    desired: &Desired,
    resolved: &Resolved,
    current: &Current,
    changes: &[Change],
    removed: &dyn Fn(&str) -> bool,
    max_removals: usize,
    role_name: &dyn Fn(&PolicyKey) -> String,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    let removals: Vec<(&Change, &super::Subject)> = changes
        .iter()
        .filter_map(|c| removed_grant(c).map(|(s, _)| (c, s)))
        .collect();
    if removals.len() > max_removals {
        let n = removals.len();
        out.push(Refusal {
            message: format!("the plan removes {n} grants, more than the {max_removals} allowed"),
            origin: None,
            hint: Some(format!(
                "review the removals above, then allow them with --max-removals {n}"
            )),
        });
    }

    // Each guarded role once: (tier 0, its role block).
    let mut guarded: BTreeMap<PolicyKey, (bool, Option<&Declared<RoleSettings>>)> =
        tier0_ids(desired, resolved)
            .into_iter()
            .map(|id| (PolicyKey::directory(id), (true, None)))
            .collect();
    for r in &desired.roles {
        let Some(id) = resolved.block_key(r.item.surface, &r.item.role, &r.item.scope) else {
            continue;
        };
        let tier0 = guarded.get(&id).is_some_and(|g| g.0);
        if tier0 || r.item.exclusive {
            guarded.insert(id, (tier0, Some(r)));
        }
    }
    // Who holds what, worked out once and only when a guarded role loses a
    // grant or is exclusive: most plans remove nothing from tier-0 roles.
    let mut holders: Option<HashMap<PolicyKey, usize>> = None;
    let mut created: Option<HashSet<PolicyKey>> = None;
    let mut declared: Option<HashSet<PolicyKey>> = None;
    for (role_id, (tier0, block)) in guarded {
        let settings = block.map(|b| &b.item);
        if settings.is_some_and(|s| s.allow_empty) {
            continue;
        }
        let exclusive = settings.is_some_and(|s| s.exclusive);
        let taken: Vec<&Change> = removals
            .iter()
            .filter(|(_, s)| s.key() == role_id)
            .map(|(c, _)| *c)
            .collect();
        if taken.is_empty() && !exclusive {
            continue;
        }
        let kept = holders
            .get_or_insert_with(|| {
                let mut n: HashMap<PolicyKey, usize> = HashMap::new();
                // Activations end with their eligibility: they are no holders.
                for g in current.grants.iter().filter(|g| {
                    g.active_type != Some(ActiveType::Activated) && !removed(&g.schedule_id)
                }) {
                    *n.entry(g.key()).or_default() += 1;
                }
                n
            })
            .get(&role_id)
            .copied()
            .unwrap_or(0);
        let gains = created
            .get_or_insert_with(|| {
                changes
                    .iter()
                    .filter(|c| c.action == Action::Create)
                    .filter_map(|c| match &c.step {
                        Step::Grant { subject, .. } => Some(subject.key()),
                        Step::Rules(_) => None,
                    })
                    .collect()
            })
            .contains(&role_id);
        if kept > 0 || gains {
            continue;
        }
        if taken.is_empty()
            && declared
                .get_or_insert_with(|| {
                    desired
                        .eligibilities
                        .iter()
                        .chain(&desired.assignments)
                        .filter_map(|d| {
                            resolved.block_key(d.item.surface, &d.item.role, &d.item.scope)
                        })
                        .collect()
                })
                .contains(&role_id)
        {
            continue;
        }
        let name = role_name(&role_id);
        let kind = if tier0 { "tier-0" } else { "exclusive" };
        let mut message = format!(
            "the plan would leave {kind} role \"{name}\" with no eligible or active holder"
        );
        if !taken.is_empty() {
            let mut who: Vec<String> = taken
                .iter()
                .map(|c| format!("{} ({})", principal_of(c), c.address))
                .collect();
            if who.len() > 10 {
                let more = who.len() - 10;
                who.truncate(10);
                who.push(format!("and {more} more"));
            }
            message.push_str(&format!(": it removes {}", who.join(", ")));
        }
        out.push(Refusal {
            message,
            origin: block.map(|b| b.origin.block.clone()),
            hint: Some(format!(
                "declare at least one eligibility or assignment for it, or list its holders as protected; \
                 if the role may be empty, set allow_empty = true in role \"{name}\""
            )),
        });
    }
    out
}
