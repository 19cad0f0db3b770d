//! Declared policies against the tenant's: the rules each role will have,
//! the rule updates that get it there, and how approvers read.

use std::collections::{HashMap, HashSet};

use super::ctx::{Ctx, attr};
use super::rules::{desired_rules, diff_rules};
use super::{Action, Change, PlanOptions, Reason, Resolved, RulePatch, Step};
use crate::config::{Declared, Desired};
use crate::model::{Approver, ObjectId, PrincipalKind, RuleId, RuleSet};
use crate::snapshot::{Current, PolicyKey};

/// Each role's policy as it will be once the configuration's rule updates
/// are applied, by role definition id.
pub fn effective_policies(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    opts: &PlanOptions,
) -> HashMap<PolicyKey, RuleSet> {
    // Problems are the plan's to report; here they only leave the tenant's rules in place.
    policy_changes(&mut Ctx::new(current, opts), desired, resolved).0
}

/// The rule updates the configuration asks for, and each role's policy
/// once they are made (by role definition id).
pub(super) fn policy_changes(
    ctx: &mut Ctx<'_>,
    desired: &Desired,
    resolved: &Resolved,
) -> (HashMap<PolicyKey, RuleSet>, Vec<Change>) {
    let mut effective: HashMap<PolicyKey, RuleSet> = ctx
        .current
        .policies
        .iter()
        .map(|(key, p)| (key.clone(), p.rules.clone()))
        .collect();
    let changes = desired
        .policies
        .iter()
        .filter_map(|p| policy_change(ctx, p, resolved, &mut effective))
        .collect();
    (effective, changes)
}

/// A declared policy worked out against the tenant: the rules it will have.
pub(super) struct PolicyTarget<'c> {
    pub(super) role_id: ObjectId,
    pub(super) key: PolicyKey,
    pub(super) current: &'c crate::snapshot::Policy,
    pub(super) after: RuleSet,
}

/// How an approver reads in a plan: as the tenant names it, else as the
/// configuration refers to it, else by id. Looked up per approver, since a
/// policy has a handful of approvers and a tenant tens of thousands of
/// principals.
pub(super) fn approver_name(ctx: &Ctx<'_>, resolved: &Resolved, a: &Approver) -> String {
    let id = a.id();
    let principals = &ctx.current.principals;
    if let Some((k, _)) = principals.get_key_value(id) {
        return ctx.principal_name(k);
    }
    resolved
        .principals
        .iter()
        .find(|(_, v)| *v == id)
        .map_or_else(|| id.to_string(), |(r, _)| r.to_string())
}

pub(super) fn policy_target<'c>(
    ctx: &mut Ctx<'c>,
    p: &Declared<crate::config::PolicySettings>,
    resolved: &Resolved,
) -> Option<PolicyTarget<'c>> {
    let at = Some(&p.origin.block);
    let Some(role_id) = resolved.role(&p.item.role) else {
        if !resolved.names_reported {
            ctx.error(
                at,
                format!("role \"{}\" was not found in the tenant", p.item.role),
                None,
            );
        }
        return None;
    };
    let Some(scope_id) = resolved.scope(&p.item.scope) else {
        if !resolved.names_reported {
            ctx.error(
                at,
                format!("{} was not found in the tenant", p.item.scope),
                None,
            );
        }
        return None;
    };
    let key = PolicyKey::of_grant(p.item.surface, &role_id, &scope_id);
    let all = ctx.current;
    let Some(current) = all.policies.get(&key) else {
        let what = match p.item.surface {
            crate::model::SurfaceKind::DirectoryRole => format!("role \"{}\"", p.item.role),
            _ => format!("{} access of {}", p.item.role, p.item.scope),
        };
        ctx.error(at, format!("the tenant has no PIM policy for {what}"), None);
        return None;
    };
    let mut approvers = Vec::new();
    if let Some(approval) = &p.item.rules.activation.approval {
        for a in &approval.approvers {
            let approvers_at = Some(p.origin.attribute("activation.approval.approvers"));
            let Some(id) = resolved.principal(a) else {
                if !resolved.names_reported {
                    ctx.error(
                        approvers_at,
                        format!("approver {a} was not found in the tenant"),
                        None,
                    );
                }
                continue;
            };
            let kind = a
                .kind()
                .or_else(|| ctx.current.principals.get(&id).map(|p| p.kind));
            match kind {
                Some(PrincipalKind::User) => approvers.push(Approver::User {
                    id: id.clone(),
                    description: Some(a.name().to_string()),
                }),
                Some(PrincipalKind::Group) => approvers.push(Approver::Group {
                    id: id.clone(),
                    description: Some(a.name().to_string()),
                }),
                _ => ctx.error(
                    approvers_at,
                    format!("{a} cannot approve activations: approvers are users or groups"),
                    Some("name users (user:UPN) or groups (group:Name) as approvers".into()),
                ),
            }
        }
    }
    let after = match desired_rules(&current.rules, &p.item.rules, &approvers) {
        Ok(r) => r,
        Err(e) => {
            ctx.error(at, format!("policy of \"{}\": {e}", p.item.role), None);
            return None;
        }
    };
    Some(PolicyTarget {
        role_id,
        key,
        current,
        after,
    })
}

pub(super) fn policy_change(
    ctx: &mut Ctx<'_>,
    p: &Declared<crate::config::PolicySettings>,
    resolved: &Resolved,
    effective: &mut HashMap<PolicyKey, RuleSet>,
) -> Option<Change> {
    let t = policy_target(ctx, p, resolved)?;
    effective.insert(t.key.clone(), t.after.clone());
    let name = |a: &Approver| approver_name(ctx, resolved, a);
    let (role_id, current, after) = (t.role_id.clone(), t.current, t.after.clone());
    let settings = diff_rules(&current.rules, &after, &name);
    if settings.is_empty() {
        return None;
    }
    let changed: HashSet<RuleId> = settings.iter().map(|s| s.rule).collect();
    let rules = RuleSet {
        rules: after
            .rules
            .into_iter()
            .filter(|(id, _)| changed.contains(id))
            .collect(),
    };
    let before = settings
        .iter()
        .map(|s| attr(&s.setting, s.before.clone()))
        .collect();
    let after_attrs = settings
        .iter()
        .map(|s| attr(&s.setting, s.after.clone()))
        .collect();
    Some(Change {
        address: p.address.clone(),
        action: Action::UpdateRules,
        reason: Reason::Declared,
        role: crate::surface::get(current.surface).policy_name(
            ctx.current,
            &role_id,
            &current.scope_id,
        ),
        before: Some(before),
        after: Some(after_attrs),
        origin: Some(p.origin.block.clone()),
        step: Step::Rules(RulePatch {
            surface: current.surface,
            policy_id: current.policy_id.clone(),
            role_id,
            scope_id: current.scope_id.clone(),
            rules,
            settings,
        }),
    })
}
