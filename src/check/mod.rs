//! Baseline checks: well-known PIM hardening rules, run by `pim check` and
//! inside `pim plan`. They read the configuration, the policies as they
//! will be after the plan, and the holders the plan leaves in place; they
//! warn (or, strict, fail) and never change anything.

mod approvers;

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::config::{Desired, Location};
use crate::model::{
    AssignmentKind, Caseless, EnablementFactor, IsoDuration, ObjectId, PrincipalRef, RoleRef,
    RuleId, RuleSet, RuleValue, SurfaceKind, find_builtin_role,
};
pub use crate::plan::tier0_ids;
use crate::plan::{Resolved, Unmanaged};
use crate::snapshot::PolicyKey;
pub use crate::surface::DEFAULT_TIER0;

/// The longest activation the baseline accepts for tier-0 roles.
const TIER0_MAX_ACTIVATION: IsoDuration = IsoDuration::hours(4);

/// More Global Administrators than this is a finding (Microsoft recommends
/// fewer than five).
const MAX_GLOBAL_ADMINS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Rule {
    /// PIM001
    PermanentTier0Assignment,
    /// PIM002
    Tier0ActivationWithoutMfa,
    /// PIM003
    Tier0ActivationWithoutApproval,
    /// PIM004
    LongTier0Activation,
    /// PIM005
    EligibilityWithoutExpiry,
    /// PIM006
    Tier0WithoutNotificationRecipients,
    /// PIM007
    TooManyGlobalAdministrators,
    /// PIM008
    Tier0SelfApproval,
}

impl Rule {
    pub fn code(self) -> &'static str {
        match self {
            Rule::PermanentTier0Assignment => "PIM001",
            Rule::Tier0ActivationWithoutMfa => "PIM002",
            Rule::Tier0ActivationWithoutApproval => "PIM003",
            Rule::LongTier0Activation => "PIM004",
            Rule::EligibilityWithoutExpiry => "PIM005",
            Rule::Tier0WithoutNotificationRecipients => "PIM006",
            Rule::TooManyGlobalAdministrators => "PIM007",
            Rule::Tier0SelfApproval => "PIM008",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub code: &'static str,
    pub role: String,
    pub message: String,
    #[serde(serialize_with = "crate::config::serialize_json_location")]
    pub location: Option<Location>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Findings name principals and roles of the tenant: shown escaped.
        use crate::render::escape::text;
        if let Some(l) = &self.location {
            write!(f, "{}: ", text(&l.to_string()))?;
        }
        write!(f, "{} {}", self.code, text(&self.message))
    }
}

/// Runs every baseline rule. `effective` holds the policies as they will be
/// after the plan (by lower-case role id); `unmanaged` the tenant's holders
/// the plan leaves alone.
pub fn baseline(
    desired: &Desired,
    resolved: &Resolved,
    effective: &HashMap<PolicyKey, RuleSet>,
    unmanaged: &[Unmanaged],
    role_names: &dyn Fn(&str) -> String,
) -> Vec<Finding> {
    let tier0 = tier0_ids(desired, resolved);
    let mut out = Vec::new();
    let role_id = |r: &RoleRef| resolved.role(r).map(ObjectId::into_string);

    for a in &desired.assignments {
        let Some(id) = role_id(&a.item.role) else {
            continue;
        };
        if !tier0.contains(&id) || !a.item.schedule.expiration.is_permanent() {
            continue;
        }
        let protected = desired.roles.iter().any(|r| {
            role_id(&r.item.role).as_deref() == Some(id.as_str())
                && r.item
                    .protected
                    .iter()
                    .any(|p| p.normalized() == a.item.principal.normalized())
        });
        if !protected {
            out.push(Finding {
                rule: Rule::PermanentTier0Assignment,
                code: Rule::PermanentTier0Assignment.code(),
                role: a.item.role.to_string(),
                message: format!(
                    "{} is permanently assigned tier-0 role \"{}\"; make it eligible, or list it as protected if it is a break-glass account",
                    a.item.principal, a.item.role
                ),
                location: Some(a.origin.attribute("permanent").clone()),
            });
        }
    }
    for u in unmanaged
        .iter()
        .filter(|u| u.kind == AssignmentKind::Active && u.end.is_none())
    {
        let Some(r) = find_builtin_role(&u.role) else {
            continue;
        };
        if tier0.contains(r.id.as_str()) {
            out.push(Finding {
                rule: Rule::PermanentTier0Assignment,
                code: Rule::PermanentTier0Assignment.code(),
                role: u.role.clone(),
                message: format!(
                    "{} holds tier-0 role \"{}\" permanently, outside of configuration",
                    u.principal, u.role
                ),
                location: None,
            });
        }
    }

    for d in &desired.eligibilities {
        if d.item.schedule.expiration.is_permanent() {
            out.push(Finding {
                rule: Rule::EligibilityWithoutExpiry,
                code: Rule::EligibilityWithoutExpiry.code(),
                role: d.item.role.to_string(),
                message: format!(
                    "{} is eligible for \"{}\" without an end date",
                    d.item.principal, d.item.role
                ),
                location: Some(d.origin.attribute("permanent").clone()),
            });
        }
    }

    // Policies of tier-0 roles that the configuration uses or declares.
    let mut seen = BTreeSet::new();
    let declared = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .map(|d| (d.item.surface, &d.item.role, &d.item.scope, &d.origin.block))
        .chain(
            desired
                .policies
                .iter()
                .map(|p| (p.item.surface, &p.item.role, &p.item.scope, &p.origin.block)),
        )
        .chain(
            desired
                .roles
                .iter()
                .map(|r| (r.item.surface, &r.item.role, &r.item.scope, &r.origin.block)),
        );
    // (policy, what it governs as findings name it, the role findings file it under, where)
    let mut policy_sites: Vec<(PolicyKey, String, String, Location)> = Vec::new();
    for (surface, role, scope, at) in declared {
        let Some(id) = role_id(role) else { continue };
        if !tier0.contains(&id) {
            continue;
        }
        // A directory role has one policy; an Azure role one per scope.
        let (key, place) = match surface {
            SurfaceKind::AzureRole => {
                let Some(scope_id) = resolved.scope(scope) else {
                    continue;
                };
                let place = format!(" at {scope_id}");
                (
                    PolicyKey::of_grant(surface, &id.as_str().into(), &scope_id),
                    place,
                )
            }
            _ => (PolicyKey::directory(id.clone()), String::new()),
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        // Point at the policy block when there is one: that is where to fix it.
        let at = desired
            .policies
            .iter()
            .find(|p| {
                resolved
                    .block_key(p.item.surface, &p.item.role, &p.item.scope)
                    .as_ref()
                    == Some(&key)
            })
            .map_or(at, |p| &p.origin.block);
        let name = role_names(&id);
        policy_sites.push((
            key,
            format!("tier-0 role \"{name}\"{place}"),
            name,
            at.clone(),
        ));
    }
    // A group that holds a tier-0 role: activating its membership grants
    // the role, so its member policy is held to the role's baseline.
    for d in desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .filter(|d| d.item.surface == SurfaceKind::DirectoryRole)
    {
        let (PrincipalRef::Group(group), Some(id)) = (&d.item.principal, role_id(&d.item.role))
        else {
            continue;
        };
        let Some(group_id) = resolved.principal(&d.item.principal) else {
            continue;
        };
        let key = PolicyKey::of_grant(SurfaceKind::Group, &"member".into(), group_id.as_str());
        if !tier0.contains(&id) || policy_sites.iter().any(|(k, ..)| *k == key) {
            continue;
        }
        let at = desired
            .policies
            .iter()
            .find(|p| {
                p.item.surface == SurfaceKind::Group
                    && resolved
                        .block_key(p.item.surface, &p.item.role, &p.item.scope)
                        .as_ref()
                        == Some(&key)
            })
            .map_or(&d.origin.block, |p| &p.origin.block);
        let role = role_names(&id);
        policy_sites.push((
            key,
            format!("membership of group:{group}, which holds tier-0 role \"{role}\","),
            format!("member of group:{group}"),
            at.clone(),
        ));
    }
    for (key, what, name, at) in policy_sites {
        let Some(rules) = effective.get(&key) else {
            continue;
        };
        let finding = |rule: Rule, message: String| Finding {
            rule,
            code: rule.code(),
            role: name.clone(),
            message,
            location: Some(at.clone()),
        };
        let auth_context = matches!(
            rules.get(RuleId::AuthenticationContextEndUserAssignment),
            Some(RuleValue::AuthenticationContext { enabled: true, .. })
        );
        if !rules
            .factors(RuleId::EnablementEndUserAssignment)
            .contains(&EnablementFactor::MultiFactorAuthentication)
            && !auth_context
        {
            out.push(finding(
                Rule::Tier0ActivationWithoutMfa,
                format!("activating {what} does not require MFA"),
            ));
        }
        if !rules.approval().is_some_and(|a| a.required) {
            out.push(finding(
                Rule::Tier0ActivationWithoutApproval,
                format!("activating {what} does not require approval"),
            ));
        }
        if let Some((_, Some(max))) = rules.expiration(RuleId::ExpirationEndUserAssignment)
            && max.as_seconds() > TIER0_MAX_ACTIVATION.as_seconds()
        {
            out.push(finding(
                Rule::LongTier0Activation,
                format!("activations of {what} may last {max}, longer than {TIER0_MAX_ACTIVATION}"),
            ));
        }
        let alerts = [
            RuleId::NotificationAdminEndUserAssignment,
            RuleId::NotificationAdminAdminEligibility,
            RuleId::NotificationAdminAdminAssignment,
        ];
        let has_recipients = alerts.iter().any(|r| {
            matches!(rules.get(*r), Some(RuleValue::Notification { recipients, .. }) if !recipients.is_empty())
        });
        if !has_recipients {
            out.push(finding(
                Rule::Tier0WithoutNotificationRecipients,
                format!("no one besides the default recipients is alerted when {what} is assigned or activated"),
            ));
        }
    }

    let ga = find_builtin_role("Global Administrator").map(|r| r.id.clone());
    let mut holders: BTreeSet<String> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .filter(|d| role_id(&d.item.role) == ga)
        .map(|d| d.item.principal.normalized().to_string())
        .collect();
    holders.extend(
        unmanaged
            .iter()
            .filter(|u| u.role == "Global Administrator")
            .map(|u| Caseless::ascii(&u.principal).into_string()),
    );
    if holders.len() > MAX_GLOBAL_ADMINS {
        out.push(Finding {
            rule: Rule::TooManyGlobalAdministrators,
            code: Rule::TooManyGlobalAdministrators.code(),
            role: "Global Administrator".into(),
            message: format!(
                "{} principals hold Global Administrator (eligible or active); keep it to {MAX_GLOBAL_ADMINS} or fewer",
                holders.len()
            ),
            location: None,
        });
    }
    out.extend(approvers::self_approval(
        desired, resolved, effective, unmanaged, role_names,
    ));
    out.sort_by(|a, b| (a.rule, &a.role, &a.message).cmp(&(b.rule, &b.role, &b.message)));
    out
}

/// What a rule reads besides the configuration, which says whether
/// `pim check --offline` can run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reads {
    /// The configuration alone: offline, the rule runs in full.
    Configuration,
    /// The configuration and the tenant's holders: offline, the rule sees
    /// only the grants the configuration declares.
    Holders,
    /// The tenant's policies, which a `policy` block only overrides in
    /// part: offline, the rule is skipped.
    Policies,
}

impl Rule {
    /// Every rule, in code order. A new rule goes here and in
    /// [`Rule::reads`], so the offline run names it whether it ran or not.
    pub const ALL: [Rule; 8] = [
        Rule::PermanentTier0Assignment,
        Rule::Tier0ActivationWithoutMfa,
        Rule::Tier0ActivationWithoutApproval,
        Rule::LongTier0Activation,
        Rule::EligibilityWithoutExpiry,
        Rule::Tier0WithoutNotificationRecipients,
        Rule::TooManyGlobalAdministrators,
        Rule::Tier0SelfApproval,
    ];

    pub fn reads(self) -> Reads {
        match self {
            Rule::EligibilityWithoutExpiry => Reads::Configuration,
            // Declared permanent assignments and declared Global
            // Administrators are findings without the tenant; holders
            // outside the configuration are not seen.
            Rule::PermanentTier0Assignment | Rule::TooManyGlobalAdministrators => Reads::Holders,
            // A policy's settings are the tenant's except where a `policy`
            // block names one: no answer without reading them.
            Rule::Tier0ActivationWithoutMfa
            | Rule::Tier0ActivationWithoutApproval
            | Rule::LongTier0Activation
            | Rule::Tier0WithoutNotificationRecipients
            // Approvers are the policy's, whoever is eligible.
            | Rule::Tier0SelfApproval => Reads::Policies,
        }
    }
}

/// The baseline as far as the configuration alone tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfflineBaseline {
    pub findings: Vec<Finding>,
    /// Rules not run: they read the tenant's policies.
    pub skipped: Vec<Rule>,
    /// Rules run on the declared grants only, without the tenant's holders.
    pub partial: Vec<Rule>,
}

/// Runs the baseline without the tenant: roles resolve as built-in roles
/// (a custom role named in `tier0_roles` is not seen as tier 0), there are
/// no holders outside the configuration, and no policy is known, so the
/// rules that read policies are skipped rather than guessed from defaults
/// the tenant may not have.
pub fn offline(desired: &Desired) -> OfflineBaseline {
    let rules_reading = |r: Reads| -> Vec<Rule> {
        Rule::ALL
            .into_iter()
            .filter(|rule| rule.reads() == r)
            .collect()
    };
    let skipped = rules_reading(Reads::Policies);
    let mut findings = baseline(
        desired,
        &Resolved::default(),
        &HashMap::new(),
        &[],
        &|id: &str| id.to_string(),
    );
    findings.retain(|f| !skipped.contains(&f.rule));
    OfflineBaseline {
        findings,
        skipped,
        partial: rules_reading(Reads::Holders),
    }
}
