//! Builders shared by the planner's tests: a small tenant with the
//! principals, roles and policies the plan fixtures name.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pim::model::{
    ApprovalSetting, ApprovalStage, AssignmentKind, EnablementFactor, Expiration,
    NotificationEvent, NotificationLevel, PrincipalKind, PrincipalRef, RuleId, RuleSet, RuleValue,
    Scope, find_builtin_role,
};
use pim::plan::Resolved;
use pim::snapshot::{
    ActiveType, AdministrativeUnit, Current, Grant, MemberType, Policy, Principal, RoleDefinition,
};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
}

pub fn role_id(name: &str) -> String {
    find_builtin_role(name).unwrap().id.clone()
}

/// Microsoft's default rules of a directory role.
pub fn default_rules() -> RuleSet {
    let mut r = RuleSet::default();
    let exp = |required, max: &str| RuleValue::Expiration {
        required,
        max: Some(max.parse().unwrap()),
    };
    r.rules
        .insert(RuleId::ExpirationEndUserAssignment, exp(true, "PT8H"));
    r.rules
        .insert(RuleId::ExpirationAdminEligibility, exp(false, "P365D"));
    r.rules
        .insert(RuleId::ExpirationAdminAssignment, exp(false, "P180D"));
    r.rules.insert(
        RuleId::EnablementEndUserAssignment,
        RuleValue::Enablement {
            factors: vec![
                EnablementFactor::MultiFactorAuthentication,
                EnablementFactor::Justification,
            ],
        },
    );
    r.rules.insert(
        RuleId::EnablementAdminAssignment,
        RuleValue::Enablement {
            factors: vec![EnablementFactor::Justification],
        },
    );
    r.rules.insert(
        RuleId::EnablementAdminEligibility,
        RuleValue::Enablement { factors: vec![] },
    );
    r.rules.insert(
        RuleId::ApprovalEndUserAssignment,
        RuleValue::Approval(ApprovalSetting {
            required: false,
            required_for_extension: false,
            requestor_justification_required: true,
            mode: "SingleStage".into(),
            stages: vec![ApprovalStage {
                timeout_days: 1,
                approver_justification_required: true,
                escalation_enabled: false,
                escalation_minutes: 0,
                primary_approvers: vec![],
                escalation_approvers: vec![],
            }],
        }),
    );
    r.rules.insert(
        RuleId::AuthenticationContextEndUserAssignment,
        RuleValue::AuthenticationContext {
            enabled: false,
            claim: None,
        },
    );
    for e in NotificationEvent::ALL {
        r.rules.insert(
            e.rule_id(),
            RuleValue::Notification {
                level: NotificationLevel::All,
                default_recipients: true,
                recipients: vec![],
            },
        );
    }
    r
}

pub struct Tenant {
    pub current: Current,
    pub resolved: Resolved,
}

impl Tenant {
    pub fn new() -> Self {
        let mut t = Tenant {
            current: Current {
                tenant_id: "contoso".into(),
                ..Current::default()
            },
            resolved: Resolved::default(),
        };
        for role in [
            "Global Administrator",
            "Helpdesk Administrator",
            "Security Reader",
            "Global Reader",
        ] {
            let id = role_id(role);
            t.current.roles.insert(
                id.clone(),
                RoleDefinition {
                    id: id.clone(),
                    display_name: role.into(),
                    is_builtin: true,
                },
            );
            t.current.policies.insert(
                id.clone(),
                Policy {
                    policy_id: format!("DirectoryRole_contoso_{}", &id[..8]),
                    role_id: id,
                    rules: default_rules(),
                },
            );
        }
        t.current.administrative_units.insert(
            "au-paris".into(),
            AdministrativeUnit {
                id: "au-paris".into(),
                display_name: "Paris Office".into(),
            },
        );
        t.resolved.scopes.insert(
            Scope::AdministrativeUnit("Paris Office".into()),
            "/administrativeUnits/au-paris".into(),
        );
        t.group("PIM Approvers");
        t
    }

    pub fn user(&mut self, name: &str) -> String {
        let id = format!("u-{name}");
        let upn = format!("{name}@contoso.com");
        self.current.principals.insert(
            id.clone(),
            Principal {
                id: id.clone(),
                kind: PrincipalKind::User,
                display_name: name.into(),
                user_principal_name: Some(upn.clone()),
                app_id: None,
            },
        );
        self.resolved
            .principals
            .insert(PrincipalRef::User(upn).normalized(), id.clone());
        id
    }

    pub fn group(&mut self, name: &str) -> String {
        let id = format!("g-{}", name.to_lowercase().replace(' ', "-"));
        self.current.principals.insert(
            id.clone(),
            Principal {
                id: id.clone(),
                kind: PrincipalKind::Group,
                display_name: name.into(),
                user_principal_name: None,
                app_id: None,
            },
        );
        self.resolved
            .principals
            .insert(PrincipalRef::Group(name.into()), id.clone());
        id
    }

    /// Adds a direct grant to the tenant; `days` = None for permanent.
    pub fn grant(
        &mut self,
        kind: AssignmentKind,
        user: &str,
        role: &str,
        start_days_ago: i64,
        days: Option<i64>,
    ) -> String {
        let principal = self.user(user);
        let start = now() - Duration::days(start_days_ago);
        let expiration = days.map_or(Expiration::Permanent, |d| {
            Expiration::At(start + Duration::days(d))
        });
        let id = format!(
            "sched-{}-{user}-{}",
            kind,
            role.to_lowercase().replace(' ', "-")
        );
        self.current.grants.push(Grant {
            kind,
            schedule_id: id.clone(),
            principal_id: principal,
            role_id: role_id(role),
            scope_id: "/".into(),
            start: Some(start),
            expiration,
            member_type: MemberType::Direct,
            active_type: (kind == AssignmentKind::Active).then_some(ActiveType::Assigned),
            created_using: Some(id.clone()),
            created: Some(start),
            status: "Provisioned".into(),
        });
        id
    }

    pub fn policy_mut(&mut self, role: &str) -> &mut RuleSet {
        &mut self.current.policies.get_mut(&role_id(role)).unwrap().rules
    }
}

pub fn map<K: Ord, V>(items: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    items.into_iter().collect()
}
