//! PIM008: a tier-0 role whose activation approvers include a principal
//! eligible for it. Graph does not let anyone approve their own request, so
//! such an approver leaves fewer people to approve that activation (none,
//! when they are the only one), and approvers who hold the role approve
//! one another.

use std::collections::HashMap;

use crate::config::{Desired, Location};
use crate::model::{Approver, AssignmentKind, Caseless, ObjectId, RuleSet};
use crate::plan::{Resolved, Unmanaged};
use crate::snapshot::PolicyKey;

use super::{Finding, Rule, tier0_ids};

/// Approvers of tier-0 roles' activations (as the policies will be after
/// the plan) who are eligible for the role: declared eligibilities matched
/// by object id, the tenant's other eligibilities by the name configuration
/// gives the approver.
pub(super) fn self_approval(
    desired: &Desired,
    resolved: &Resolved,
    effective: &HashMap<PolicyKey, RuleSet>,
    unmanaged: &[Unmanaged],
    role_names: &dyn Fn(&str) -> String,
) -> Vec<Finding> {
    // Approvers are ids in the policy; configuration names them.
    let mut named: HashMap<&ObjectId, String> = HashMap::new();
    for (r, id) in &resolved.principals {
        named.entry(id).or_insert_with(|| r.to_string());
    }
    let mut out = Vec::new();
    for role_id in tier0_ids(desired, resolved) {
        let Some(approval) = effective
            .get(&PolicyKey::directory(role_id.clone()))
            .and_then(RuleSet::approval)
            .filter(|a| a.required)
        else {
            continue;
        };
        let approvers: Vec<&Approver> = approval
            .stages
            .iter()
            .flat_map(|s| s.primary_approvers.iter().chain(&s.escalation_approvers))
            .collect();
        if approvers.is_empty() {
            continue;
        }
        let role = role_names(role_id.as_str());
        let approver_name = |a: &Approver| {
            let name = named
                .get(a.id())
                .cloned()
                .unwrap_or_else(|| a.id().to_string());
            match a {
                Approver::Group { .. } if !name.starts_with("group:") => format!("group {name}"),
                _ => name,
            }
        };
        let policy_at = desired
            .policies
            .iter()
            .find(|p| resolved.role(&p.item.role).as_ref() == Some(&role_id))
            .map(|p| p.origin.attribute("activation.approval.approvers").clone());
        let finding = |principal: &str, approver: &str, location: Option<Location>| Finding {
            rule: Rule::Tier0SelfApproval,
            code: Rule::Tier0SelfApproval.code(),
            role: role.clone(),
            message: format!(
                "{principal} is eligible for tier-0 role \"{role}\" and is one of its approvers ({approver}); no one may approve their own activation, so name approvers who are not eligible"
            ),
            location,
        };
        for d in &desired.eligibilities {
            if resolved.role(&d.item.role).as_ref() != Some(&role_id) {
                continue;
            }
            let Some(pid) = resolved.principal(&d.item.principal) else {
                continue;
            };
            for a in approvers.iter().filter(|a| *a.id() == pid) {
                let at = policy_at
                    .clone()
                    .unwrap_or_else(|| d.origin.attribute("principal").clone());
                out.push(finding(
                    &d.item.principal.to_string(),
                    &approver_name(a),
                    Some(at),
                ));
            }
        }
        for u in unmanaged
            .iter()
            .filter(|u| u.kind == AssignmentKind::Eligible && u.role == role)
        {
            for a in &approvers {
                let name = approver_name(a);
                if Caseless::same(&name, &u.principal) {
                    out.push(finding(&u.principal, &name, policy_at.clone()));
                }
            }
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApprovalSetting, ApprovalStage, RuleId, RuleValue, find_builtin_role};

    fn desired(src: &str) -> Desired {
        let dir = std::path::Path::new("/nowhere");
        crate::config::load_sources(
            dir,
            vec![(dir.join("main.pim.hcl"), src.to_string())],
            &crate::config::LoadOptions::at(chrono::Utc::now()),
        )
        .map_err(|e| e.diagnostics().to_string())
        .unwrap()
    }

    fn approving(ids: &[&str]) -> RuleSet {
        let mut rules = RuleSet::default();
        rules.rules.insert(
            RuleId::ApprovalEndUserAssignment,
            RuleValue::Approval(ApprovalSetting {
                required: true,
                required_for_extension: false,
                requestor_justification_required: true,
                mode: "SingleStage".into(),
                stages: vec![ApprovalStage {
                    timeout_days: 1,
                    approver_justification_required: true,
                    escalation_enabled: false,
                    escalation_minutes: 0,
                    primary_approvers: ids
                        .iter()
                        .map(|id| Approver::User {
                            id: ObjectId::new(*id),
                            description: None,
                        })
                        .collect(),
                    escalation_approvers: vec![],
                }],
            }),
        );
        rules
    }

    const CAROL: &str = "5e1f0000-0000-4000-8000-000000000003";
    const DAVE: &str = "5e1f0000-0000-4000-8000-000000000004";

    #[test]
    fn an_approver_eligible_for_the_tier0_role_is_named_with_the_role() {
        let d = desired(
            r#"
eligibility "carol_pra" {
  principal = "user:carol@contoso.com"
  role      = "Privileged Role Administrator"
  duration  = "P90D"
}
"#,
        );
        let pra = find_builtin_role("Privileged Role Administrator").unwrap();
        let pra_id = ObjectId::new(pra.id.as_str());
        let mut resolved = Resolved::default();
        resolved.principals.insert(
            "user:carol@contoso.com".parse().unwrap(),
            ObjectId::new(CAROL),
        );
        let names = |_: &str| "Privileged Role Administrator".to_string();
        let unmanaged = [Unmanaged {
            kind: AssignmentKind::Eligible,
            principal: "user:carol@contoso.com".into(),
            role: "Privileged Role Administrator".into(),
            scope: "/".into(),
            end: None,
            schedule_id: "s-1".into(),
        }];

        let effective = HashMap::from([(
            PolicyKey::directory(pra_id.clone()),
            approving(&[CAROL, DAVE]),
        )]);
        let found = self_approval(&d, &resolved, &effective, &[], &names);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, "PIM008");
        assert_eq!(
            found[0].message,
            "user:carol@contoso.com is eligible for tier-0 role \"Privileged Role Administrator\" and is one of its approvers (user:carol@contoso.com); no one may approve their own activation, so name approvers who are not eligible"
        );
        assert!(found[0].location.is_some());

        // The tenant's own eligibility of a declared approver counts too.
        let d = desired("");
        let found = self_approval(&d, &resolved, &effective, &unmanaged, &names);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].location.is_none());

        // Approvers who are not eligible are not a finding.
        let effective = HashMap::from([(PolicyKey::directory(pra_id), approving(&[DAVE]))]);
        assert!(self_approval(&d, &resolved, &effective, &unmanaged, &names).is_empty());
    }
}
