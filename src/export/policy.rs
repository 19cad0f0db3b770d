//! A role's `policy` block as an export writes it: the settings that differ
//! from a base (Microsoft's defaults, or nothing for every setting), each
//! only where the configuration language has a meaningful value for it.

use std::fmt::Write as _;

use super::{list, principal_ref, quote};
use crate::model::{
    ApprovalSetting, EnablementFactor, NotificationEvent, NotificationLevel, RuleId, RuleSet,
    RuleValue,
};
use crate::snapshot::Current;

/// A `policy` block labelled `label`, with the attribute that completes
/// the label (`access` of a group's owner policy, `scope` of an Azure
/// role's) when there is one, and the settings of `rules` that differ from `base` (every
/// setting when `base` is empty); `None` when none does.
pub(super) fn policy_block(
    current: &Current,
    label: &str,
    attribute: Option<(&str, &str)>,
    rules: &RuleSet,
    base: &RuleSet,
) -> Option<String> {
    let differs = |id: RuleId| rules.get(id).is_some() && rules.get(id) != base.get(id);
    let mut activation = Vec::new();
    let mut eligibility = Vec::new();
    let mut active = Vec::new();
    let mut notifications = Vec::new();
    if differs(RuleId::ExpirationEndUserAssignment)
        && let Some((_, Some(max))) = rules.expiration(RuleId::ExpirationEndUserAssignment)
    {
        activation.push(format!("max_duration = {}", quote(&max.to_string())));
    }
    if differs(RuleId::EnablementEndUserAssignment) {
        let f = rules.factors(RuleId::EnablementEndUserAssignment);
        activation.push(format!(
            "require_mfa = {}",
            f.contains(&EnablementFactor::MultiFactorAuthentication)
        ));
        activation.push(format!(
            "require_justification = {}",
            f.contains(&EnablementFactor::Justification)
        ));
        activation.push(format!(
            "require_ticket = {}",
            f.contains(&EnablementFactor::Ticketing)
        ));
    }
    // Only a context that is required says something: one that is off is
    // what a block without the attribute leaves in place, and `""` (the
    // language's "off") would read as a value nobody chose.
    if differs(RuleId::AuthenticationContextEndUserAssignment)
        && let Some(RuleValue::AuthenticationContext {
            enabled: true,
            claim: Some(claim),
        }) = rules.get(RuleId::AuthenticationContextEndUserAssignment)
        && !claim.trim().is_empty()
    {
        activation.push(format!("authentication_context = {}", quote(claim)));
    }
    let mut approval = None;
    if differs(RuleId::ApprovalEndUserAssignment)
        && let Some(a) = rules.approval()
    {
        approval = Some(approval_block(current, a));
    }
    for (id, lines) in [
        (RuleId::ExpirationAdminEligibility, &mut eligibility),
        (RuleId::ExpirationAdminAssignment, &mut active),
    ] {
        if differs(id)
            && let Some((required, max)) = rules.expiration(id)
        {
            lines.push(format!("allow_permanent = {}", !required));
            if let Some(m) = max {
                lines.push(format!("max_duration = {}", quote(&m.to_string())));
            }
        }
    }
    if differs(RuleId::EnablementAdminAssignment) {
        let f = rules.factors(RuleId::EnablementAdminAssignment);
        active.push(format!(
            "require_mfa = {}",
            f.contains(&EnablementFactor::MultiFactorAuthentication)
        ));
        active.push(format!(
            "require_justification = {}",
            f.contains(&EnablementFactor::Justification)
        ));
    }
    for e in NotificationEvent::ALL {
        if differs(e.rule_id())
            && let Some(RuleValue::Notification {
                level,
                default_recipients,
                recipients,
            }) = rules.get(e.rule_id())
        {
            let level = match level {
                NotificationLevel::All => "all",
                NotificationLevel::Critical => "critical",
                NotificationLevel::None => "none",
            };
            // `recipients = []` is how the language says "no one else";
            // leaving it out would leave whatever the tenant has.
            notifications.push(format!(
                "notification {} {{\nrecipients = {}\ndefault_recipients = {default_recipients}\nlevel = {}\n}}\n",
                quote(e.as_str()),
                list(recipients),
                quote(level)
            ));
        }
    }
    if activation.is_empty()
        && approval.is_none()
        && eligibility.is_empty()
        && active.is_empty()
        && notifications.is_empty()
    {
        return None;
    }
    let mut out = format!("policy {} {{\n", quote(label));
    if let Some((name, value)) = attribute {
        let _ = writeln!(out, "{name} = {}", quote(value));
    }
    if !activation.is_empty() || approval.is_some() {
        out.push_str("activation {\n");
        for l in activation {
            out.push_str(&l);
            out.push('\n');
        }
        if let Some(a) = approval {
            out.push_str(&a);
        }
        out.push_str("}\n");
    }
    for (name, lines) in [("eligibility", eligibility), ("active_assignment", active)] {
        if !lines.is_empty() {
            let _ = writeln!(out, "{name} {{\n{}\n}}", lines.join("\n"));
        }
    }
    for n in notifications {
        out.push_str(&n);
    }
    out.push_str("}\n");
    Some(out)
}

/// The `approval` block. Approvers are written when there are some: with
/// `required = false` and none, the block says all there is to say (an
/// empty list would be refused were approval turned on).
fn approval_block(current: &Current, a: &ApprovalSetting) -> String {
    let approvers: Vec<String> = a
        .stages
        .first()
        .map(|s| {
            s.primary_approvers
                .iter()
                .map(|ap| principal_ref(current, ap.id()))
                .collect()
        })
        .unwrap_or_default();
    let mut out = format!("approval {{\nrequired = {}\n", a.required);
    if !approvers.is_empty() || a.required {
        let _ = writeln!(out, "approvers = {}", list(&approvers));
    }
    let _ = writeln!(
        out,
        "require_for_extension = {}\n}}",
        a.required_for_extension
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApprovalStage, Approver, ObjectId};

    fn rules(f: impl FnOnce(&mut RuleSet)) -> RuleSet {
        let mut r = crate::graph::default_rule_set();
        f(&mut r);
        r
    }

    fn loads(block: &str) {
        let desired = crate::config::load_sources(
            std::path::Path::new("."),
            vec![(std::path::PathBuf::from("p.pim.hcl"), block.to_string())],
            &crate::config::LoadOptions::at(chrono::Utc::now()),
        );
        if let Err(e) = desired {
            panic!("{}\n{block}", e.diagnostics());
        }
    }

    #[test]
    fn every_setting_is_written_without_empty_values() {
        let block = policy_block(
            &Current::default(),
            "Global Reader",
            None,
            &rules(|_| {}),
            &RuleSet::default(),
        )
        .expect("every setting differs from nothing");
        assert!(!block.contains("\"\""), "no empty string: {block}");
        assert!(
            !block.contains("authentication_context"),
            "a context that is off is not written: {block}"
        );
        assert!(
            block.contains("approval {\nrequired = false\nrequire_for_extension = false\n}"),
            "not required, no approvers: nothing more to say: {block}"
        );
        assert_eq!(block.matches("notification \"").count(), 9, "{block}");
        loads(&block);
    }

    #[test]
    fn a_required_context_and_the_approvers_are_written() {
        let r = rules(|r| {
            r.rules.insert(
                RuleId::AuthenticationContextEndUserAssignment,
                RuleValue::AuthenticationContext {
                    enabled: true,
                    claim: Some("c1".into()),
                },
            );
            if let Some(RuleValue::Approval(a)) =
                r.rules.get_mut(&RuleId::ApprovalEndUserAssignment)
            {
                a.required = true;
                a.stages = vec![ApprovalStage {
                    timeout_days: 1,
                    approver_justification_required: true,
                    escalation_enabled: false,
                    escalation_minutes: 0,
                    primary_approvers: vec![Approver::Group {
                        id: ObjectId::new("9040ba24-470b-561b-b3c2-ecbbeb78ef3c"),
                        description: None,
                    }],
                    escalation_approvers: Vec::new(),
                }];
            }
        });
        let block = policy_block(
            &Current::default(),
            "Global Reader",
            None,
            &r,
            &crate::graph::default_rule_set(),
        )
        .expect("differs from the defaults");
        assert!(block.contains("authentication_context = \"c1\""), "{block}");
        assert!(
            block.contains("approvers = [\"9040ba24-470b-561b-b3c2-ecbbeb78ef3c\"]"),
            "{block}"
        );
        loads(&block);
    }
}
