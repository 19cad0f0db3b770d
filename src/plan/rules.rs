//! Policy rules: the settings a `policy` block names, laid over the rules
//! the tenant has, and the setting-by-setting difference between the two.

use serde::{Deserialize, Serialize};

use crate::model::{
    ApprovalSetting, ApprovalStage, Approver, EnablementFactor, IsoDuration, NotificationLevel,
    PolicyRules, RuleId, RuleSet, RuleValue,
};

/// One setting of one rule that changes: `activation.max_duration: PT8H → PT4H`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingChange {
    pub rule: RuleId,
    pub setting: String,
    pub before: String,
    pub after: String,
}

/// Why the desired rules cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("the tenant's policy has no rule {0}")]
    MissingRule(RuleId),
    #[error("{0} cannot approve activations: approvers are users or groups")]
    BadApprover(String),
}

/// `current` with every setting that `rules` names replaced. Approvers come
/// already resolved to users and groups, in the order declared.
pub fn desired_rules(
    current: &RuleSet,
    rules: &PolicyRules,
    approvers: &[Approver],
) -> Result<RuleSet, RulesError> {
    let mut out = current.clone();
    let a = &rules.activation;
    if let Some(max) = a.max_duration {
        set_expiration(
            &mut out,
            RuleId::ExpirationEndUserAssignment,
            None,
            Some(max),
        )?;
    }
    set_factors(
        &mut out,
        RuleId::EnablementEndUserAssignment,
        &[
            (EnablementFactor::MultiFactorAuthentication, a.require_mfa),
            (EnablementFactor::Justification, a.require_justification),
            (EnablementFactor::Ticketing, a.require_ticket),
        ],
    )?;
    if let Some(ctx) = &a.authentication_context {
        let rule = out
            .rules
            .get_mut(&RuleId::AuthenticationContextEndUserAssignment);
        match rule {
            Some(RuleValue::AuthenticationContext { enabled, claim }) => {
                *enabled = !ctx.is_empty();
                *claim = if ctx.is_empty() {
                    claim
                        .clone()
                        .filter(|c| !c.is_empty())
                        .map(|_| String::new())
                } else {
                    Some(ctx.clone())
                };
            }
            _ => {
                return Err(RulesError::MissingRule(
                    RuleId::AuthenticationContextEndUserAssignment,
                ));
            }
        }
    }
    if let Some(approval) = &a.approval {
        let Some(RuleValue::Approval(setting)) =
            out.rules.get_mut(&RuleId::ApprovalEndUserAssignment)
        else {
            return Err(RulesError::MissingRule(RuleId::ApprovalEndUserAssignment));
        };
        setting.required = approval.required;
        if let Some(ext) = approval.require_for_extension {
            setting.required_for_extension = ext;
        }
        if approval.required && setting.mode == "NoApproval" {
            setting.mode = "SingleStage".into();
        }
        if setting.stages.is_empty() {
            setting.stages.push(default_stage());
        }
        setting.stages[0].primary_approvers = approvers.to_vec();
    }
    let e = &rules.eligibility;
    set_expiration(
        &mut out,
        RuleId::ExpirationAdminEligibility,
        e.allow_permanent.map(|p| !p),
        e.max_duration,
    )?;
    let s = &rules.active_assignment;
    set_expiration(
        &mut out,
        RuleId::ExpirationAdminAssignment,
        s.allow_permanent.map(|p| !p),
        s.max_duration,
    )?;
    set_factors(
        &mut out,
        RuleId::EnablementAdminAssignment,
        &[
            (EnablementFactor::MultiFactorAuthentication, s.require_mfa),
            (EnablementFactor::Justification, s.require_justification),
        ],
    )?;
    for n in &rules.notifications {
        let id = n.event.rule_id();
        let Some(RuleValue::Notification {
            level,
            default_recipients,
            recipients,
        }) = out.rules.get_mut(&id)
        else {
            return Err(RulesError::MissingRule(id));
        };
        if let Some(r) = &n.recipients {
            *recipients = r.clone();
        }
        if let Some(d) = n.default_recipients {
            *default_recipients = d;
        }
        if let Some(l) = n.level {
            *level = l;
        }
    }
    Ok(out)
}

fn default_stage() -> ApprovalStage {
    ApprovalStage {
        timeout_days: 1,
        approver_justification_required: true,
        escalation_enabled: false,
        escalation_minutes: 0,
        primary_approvers: Vec::new(),
        escalation_approvers: Vec::new(),
    }
}

fn set_expiration(
    rules: &mut RuleSet,
    id: RuleId,
    required: Option<bool>,
    max: Option<IsoDuration>,
) -> Result<(), RulesError> {
    if required.is_none() && max.is_none() {
        return Ok(());
    }
    match rules.rules.get_mut(&id) {
        Some(RuleValue::Expiration {
            required: r,
            max: m,
        }) => {
            if let Some(v) = required {
                *r = v;
            }
            if let Some(v) = max {
                *m = Some(v);
            }
            Ok(())
        }
        _ => Err(RulesError::MissingRule(id)),
    }
}

fn set_factors(
    rules: &mut RuleSet,
    id: RuleId,
    wanted: &[(EnablementFactor, Option<bool>)],
) -> Result<(), RulesError> {
    if wanted.iter().all(|(_, w)| w.is_none()) {
        return Ok(());
    }
    match rules.rules.get_mut(&id) {
        Some(RuleValue::Enablement { factors }) => {
            for (factor, want) in wanted {
                match want {
                    Some(true) if !factors.contains(factor) => factors.push(*factor),
                    Some(false) => factors.retain(|f| f != factor),
                    _ => {}
                }
            }
            factors.sort();
            Ok(())
        }
        _ => Err(RulesError::MissingRule(id)),
    }
}

/// Where a rule's settings appear in configuration, for messages.
fn prefix(id: RuleId) -> &'static str {
    match id {
        RuleId::ExpirationEndUserAssignment
        | RuleId::EnablementEndUserAssignment
        | RuleId::AuthenticationContextEndUserAssignment => "activation",
        RuleId::ApprovalEndUserAssignment => "activation.approval",
        RuleId::ExpirationAdminEligibility | RuleId::EnablementAdminEligibility => "eligibility",
        RuleId::ExpirationAdminAssignment | RuleId::EnablementAdminAssignment => {
            "active_assignment"
        }
        _ => "notification",
    }
}

fn show_duration(d: Option<IsoDuration>) -> String {
    d.map_or_else(|| "none".to_string(), |d| d.to_string())
}

fn show_list<T: AsRef<str>>(items: &[T]) -> String {
    if items.is_empty() {
        "[]".into()
    } else {
        format!(
            "[{}]",
            items
                .iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn level(l: NotificationLevel) -> &'static str {
    match l {
        NotificationLevel::All => "all",
        NotificationLevel::Critical => "critical",
        NotificationLevel::None => "none",
    }
}

fn approver_names(approvers: &[Approver], name: &dyn Fn(&Approver) -> String) -> String {
    show_list(&approvers.iter().map(name).collect::<Vec<_>>())
}

/// The rules whose settings a `policy` block names.
pub fn named_rules(rules: &PolicyRules) -> Vec<RuleId> {
    let a = &rules.activation;
    let e = &rules.eligibility;
    let s = &rules.active_assignment;
    let mut out: Vec<RuleId> = [
        (
            RuleId::ExpirationEndUserAssignment,
            a.max_duration.is_some(),
        ),
        (
            RuleId::EnablementEndUserAssignment,
            a.require_mfa.is_some()
                || a.require_justification.is_some()
                || a.require_ticket.is_some(),
        ),
        (
            RuleId::AuthenticationContextEndUserAssignment,
            a.authentication_context.is_some(),
        ),
        (RuleId::ApprovalEndUserAssignment, a.approval.is_some()),
        (
            RuleId::ExpirationAdminEligibility,
            e.allow_permanent.is_some() || e.max_duration.is_some(),
        ),
        (
            RuleId::ExpirationAdminAssignment,
            s.allow_permanent.is_some() || s.max_duration.is_some(),
        ),
        (
            RuleId::EnablementAdminAssignment,
            s.require_mfa.is_some() || s.require_justification.is_some(),
        ),
    ]
    .into_iter()
    .filter_map(|(id, named)| named.then_some(id))
    .collect();
    out.extend(rules.notifications.iter().map(|n| n.event.rule_id()));
    out
}

/// Every setting of the rules `ids`, as it is in `rules` (`before` and
/// `after` alike): what state records of a policy pim manages.
pub fn rule_settings(
    rules: &RuleSet,
    ids: &[RuleId],
    name: &dyn Fn(&Approver) -> String,
) -> Vec<SettingChange> {
    let only = RuleSet {
        rules: rules
            .rules
            .iter()
            .filter(|(id, _)| ids.contains(id))
            .map(|(id, v)| (*id, v.clone()))
            .collect(),
    };
    settings(&only, &only, name, true)
}

/// Every setting that differs between two rule sets, in rule order.
/// `name` turns an approver into what people read (a UPN or group name).
pub fn diff_rules(
    before: &RuleSet,
    after: &RuleSet,
    name: &dyn Fn(&Approver) -> String,
) -> Vec<SettingChange> {
    settings(before, after, name, false)
}

fn settings(
    before: &RuleSet,
    after: &RuleSet,
    name: &dyn Fn(&Approver) -> String,
    keep_equal: bool,
) -> Vec<SettingChange> {
    let mut out = Vec::new();
    for id in RuleId::ALL {
        let (Some(b), Some(a)) = (before.get(id), after.get(id)) else {
            continue;
        };
        if a == b && !keep_equal {
            continue;
        }
        let mut push = |setting: &str, before: String, after: String| {
            if keep_equal || before != after {
                out.push(SettingChange {
                    rule: id,
                    setting: format!("{}.{setting}", prefix(id)),
                    before,
                    after,
                });
            }
        };
        match (b, a) {
            (
                RuleValue::Expiration {
                    required: rb,
                    max: mb,
                },
                RuleValue::Expiration {
                    required: ra,
                    max: ma,
                },
            ) => {
                // A duration is its length: the tenant's `P1D` and a declared
                // `PT24H` are one setting, shown as the tenant has it.
                let ma = if ma == mb { mb } else { ma };
                if id == RuleId::ExpirationEndUserAssignment {
                    push("max_duration", show_duration(*mb), show_duration(*ma));
                } else {
                    push("allow_permanent", (!rb).to_string(), (!ra).to_string());
                    push("max_duration", show_duration(*mb), show_duration(*ma));
                }
            }
            (RuleValue::Enablement { factors: fb }, RuleValue::Enablement { factors: fa }) => {
                for (f, setting) in [
                    (EnablementFactor::MultiFactorAuthentication, "require_mfa"),
                    (EnablementFactor::Justification, "require_justification"),
                    (EnablementFactor::Ticketing, "require_ticket"),
                ] {
                    push(
                        setting,
                        fb.contains(&f).to_string(),
                        fa.contains(&f).to_string(),
                    );
                }
            }
            (
                RuleValue::AuthenticationContext {
                    enabled: eb,
                    claim: cb,
                },
                RuleValue::AuthenticationContext {
                    enabled: ea,
                    claim: ca,
                },
            ) => {
                let show = |e: bool, c: &Option<String>| {
                    if e {
                        c.clone().unwrap_or_default()
                    } else {
                        "off".into()
                    }
                };
                push("authentication_context", show(*eb, cb), show(*ea, ca));
            }
            (RuleValue::Approval(sb), RuleValue::Approval(sa)) => {
                diff_approval(sb, sa, name, &mut push)
            }
            (
                RuleValue::Notification {
                    level: lb,
                    default_recipients: db,
                    recipients: rb,
                },
                RuleValue::Notification {
                    level: la,
                    default_recipients: da,
                    recipients: ra,
                },
            ) => {
                let event = crate::model::NotificationEvent::ALL
                    .into_iter()
                    .find(|e| e.rule_id() == id)
                    .map_or("?", |e| e.as_str());
                push(&format!("{event}.recipients"), show_list(rb), show_list(ra));
                push(
                    &format!("{event}.default_recipients"),
                    db.to_string(),
                    da.to_string(),
                );
                push(
                    &format!("{event}.level"),
                    level(*lb).into(),
                    level(*la).into(),
                );
            }
            _ => push("type", format!("{b:?}"), format!("{a:?}")),
        }
    }
    out
}

fn diff_approval(
    b: &ApprovalSetting,
    a: &ApprovalSetting,
    name: &dyn Fn(&Approver) -> String,
    push: &mut dyn FnMut(&str, String, String),
) {
    push("required", b.required.to_string(), a.required.to_string());
    push(
        "require_for_extension",
        b.required_for_extension.to_string(),
        a.required_for_extension.to_string(),
    );
    push("mode", b.mode.clone(), a.mode.clone());
    let approvers = |s: &ApprovalSetting| {
        s.stages
            .first()
            .map(|st| approver_names(&st.primary_approvers, name))
    };
    push(
        "approvers",
        approvers(b).unwrap_or_else(|| "[]".into()),
        approvers(a).unwrap_or_else(|| "[]".into()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ActivationRules, Approval, EligibilityRules, NotificationEvent, NotificationRules,
        PrincipalRef,
    };

    fn defaults() -> RuleSet {
        crate::graph::default_rule_set()
    }

    #[test]
    fn overrides_only_what_is_named_and_diffs_setting_by_setting() {
        let current = defaults();
        let rules = PolicyRules {
            activation: ActivationRules {
                max_duration: Some(IsoDuration::hours(4)),
                require_mfa: Some(true),
                require_ticket: Some(true),
                approval: Some(Approval {
                    required: true,
                    approvers: vec![PrincipalRef::Group("PIM Approvers".into())],
                    require_for_extension: None,
                }),
                ..ActivationRules::default()
            },
            eligibility: EligibilityRules {
                allow_permanent: Some(false),
                max_duration: None,
            },
            notifications: vec![NotificationRules {
                event: NotificationEvent::EligibilityAssigned,
                recipients: Some(vec!["pim-alerts@contoso.com".into()]),
                default_recipients: None,
                level: None,
            }],
            ..PolicyRules::default()
        };
        let approvers = vec![Approver::Group {
            id: "g1".into(),
            description: None,
        }];
        let after = desired_rules(&current, &rules, &approvers).unwrap();
        let name = |a: &Approver| format!("group:{}", a.id());
        let changes: Vec<String> = diff_rules(&current, &after, &name)
            .iter()
            .map(|c| format!("{} {}: {} -> {}", c.rule, c.setting, c.before, c.after))
            .collect();
        assert_eq!(
            changes,
            [
                "Expiration_EndUser_Assignment activation.max_duration: PT8H -> PT4H",
                "Enablement_EndUser_Assignment activation.require_ticket: false -> true",
                "Approval_EndUser_Assignment activation.approval.required: false -> true",
                "Approval_EndUser_Assignment activation.approval.approvers: [] -> [group:g1]",
                "Expiration_Admin_Eligibility eligibility.allow_permanent: true -> false",
                "Notification_Admin_Admin_Eligibility notification.eligibility_assigned.recipients: [] -> [pim-alerts@contoso.com]",
            ]
        );
        // Applying the same settings again changes nothing.
        assert_eq!(desired_rules(&after, &rules, &approvers).unwrap(), after);
    }

    #[test]
    fn a_duration_of_the_same_length_is_no_change_whatever_its_spelling() {
        let current = defaults();
        let name = |a: &Approver| a.id().to_string();
        let rules = PolicyRules {
            activation: ActivationRules {
                max_duration: Some("PT480M".parse().unwrap()),
                ..ActivationRules::default()
            },
            eligibility: EligibilityRules {
                // The tenant's P365D, in hours, with a setting that does change.
                allow_permanent: Some(false),
                max_duration: Some("PT8760H".parse().unwrap()),
            },
            ..PolicyRules::default()
        };
        let after = desired_rules(&current, &rules, &[]).unwrap();
        let changes: Vec<String> = diff_rules(&current, &after, &name)
            .iter()
            .map(|c| format!("{}: {} -> {}", c.setting, c.before, c.after))
            .collect();
        assert_eq!(changes, ["eligibility.allow_permanent: true -> false"]);
    }
}
