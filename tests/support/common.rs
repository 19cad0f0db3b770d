//! Builders shared by the planner's tests: a small tenant with the
//! principals, roles and policies the plan fixtures name.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pim::model::{
    AssignmentKind, Expiration, PrincipalKind, PrincipalRef, RuleSet, Scope, find_builtin_role,
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

/// Microsoft's default rules of a directory role, as the tenant starts.
pub fn default_rules() -> RuleSet {
    pim::graph::default_rule_set()
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
                // pim signed in as an app that holds nothing here.
                caller_id: Some("sp-pim".into()),
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
                id.clone().into(),
                RoleDefinition {
                    id: id.clone().into(),
                    display_name: role.into(),
                    is_builtin: true,
                },
            );
            t.current.policies.insert(
                pim::snapshot::PolicyKey::directory(id.clone()),
                Policy {
                    surface: pim::model::SurfaceKind::DirectoryRole,
                    policy_id: format!("DirectoryRole_contoso_{}", &id[..8]),
                    role_id: id.into(),
                    scope_id: "/".into(),
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
            id.clone().into(),
            Principal {
                id: id.clone().into(),
                kind: PrincipalKind::User,
                display_name: name.into(),
                user_principal_name: Some(upn.clone()),
                app_id: None,
                is_assignable_to_role: None,
            },
        );
        self.resolved
            .principals
            .insert(PrincipalRef::User(upn).normalized(), id.clone().into());
        id
    }

    pub fn group(&mut self, name: &str) -> String {
        let id = format!("g-{}", name.to_lowercase().replace(' ', "-"));
        self.current.principals.insert(
            id.clone().into(),
            Principal {
                id: id.clone().into(),
                kind: PrincipalKind::Group,
                display_name: name.into(),
                user_principal_name: None,
                app_id: None,
                is_assignable_to_role: None,
            },
        );
        self.resolved
            .principals
            .insert(PrincipalRef::Group(name.into()), id.clone().into());
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
            surface: pim::model::SurfaceKind::DirectoryRole,
            kind,
            schedule_id: id.clone(),
            principal_id: principal.into(),
            role_id: role_id(role).into(),
            scope_id: "/".into(),
            start: Some(start),
            expiration,
            member_type: MemberType::Direct,
            active_type: (kind == AssignmentKind::Active).then_some(ActiveType::Assigned),
            created_using: Some(id.clone()),
            created: Some(start),
            status: "Provisioned".into(),
            condition: None,
        });
        id
    }

    /// [`Tenant::grant`], recorded in `state` at `address` with the
    /// duration last applied, as if pim had applied it.
    #[allow(clippy::too_many_arguments)]
    pub fn grant_managed(
        &mut self,
        state: &mut pim::state::StateFile,
        address: &str,
        kind: AssignmentKind,
        user: &str,
        role: &str,
        start_days_ago: i64,
        days: Option<i64>,
        duration: &str,
    ) -> String {
        let id = self.grant(kind, user, role, start_days_ago, days);
        state.resources.push(managed(
            address,
            kind,
            &id,
            &format!("u-{user}"),
            role,
            serde_json::json!({ "duration": duration }),
        ));
        id
    }

    /// A group PIM governs, with its member and owner policies at
    /// Microsoft's defaults, named in the configuration as `group:<name>`.
    pub fn pim_group(&mut self, name: &str) -> String {
        let id = self.group(name);
        self.resolved
            .scopes
            .insert(Scope::Group(name.into()), id.clone());
        for access in ["member", "owner"] {
            self.current.policies.insert(
                pim::snapshot::PolicyKey::of_grant(
                    pim::model::SurfaceKind::Group,
                    &access.into(),
                    &id,
                ),
                Policy {
                    surface: pim::model::SurfaceKind::Group,
                    policy_id: format!("Group_{id}_{access}"),
                    role_id: access.into(),
                    scope_id: id.clone(),
                    rules: pim::graph::convert::default_group_rule_set(),
                },
            );
        }
        id
    }

    /// A direct grant of `access` to group `group_id`, as [`Tenant::grant`].
    pub fn group_grant(
        &mut self,
        kind: AssignmentKind,
        user: &str,
        group_id: &str,
        access: &str,
        start_days_ago: i64,
        days: Option<i64>,
    ) -> String {
        let principal = self.user(user);
        let start = now() - Duration::days(start_days_ago);
        let expiration = days.map_or(Expiration::Permanent, |d| {
            Expiration::At(start + Duration::days(d))
        });
        let id = format!("{group_id}_{access}_{kind}-{user}");
        self.current.grants.push(Grant {
            surface: pim::model::SurfaceKind::Group,
            kind,
            schedule_id: id.clone(),
            principal_id: principal.into(),
            role_id: access.into(),
            scope_id: group_id.into(),
            start: Some(start),
            expiration,
            member_type: MemberType::Direct,
            active_type: (kind == AssignmentKind::Active).then_some(ActiveType::Assigned),
            created_using: Some(id.clone()),
            created: Some(start),
            status: "Provisioned".into(),
            condition: None,
        });
        id
    }

    pub fn policy_mut(&mut self, role: &str) -> &mut RuleSet {
        &mut self
            .current
            .policies
            .get_mut(&pim::snapshot::PolicyKey::directory(role_id(role)))
            .unwrap()
            .rules
    }

    /// Plans `desired` against this tenant, without state, at `now()`.
    pub fn plan(
        &self,
        desired: &pim::config::Desired,
    ) -> Result<pim::plan::Plan, pim::plan::PlanError> {
        pim::plan::plan(
            desired,
            &self.current,
            &self.resolved,
            None,
            basis(),
            &pim::plan::PlanOptions::at(now()),
        )
    }
}

pub fn map<K: Ord, V>(items: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    items.into_iter().collect()
}

pub fn basis() -> pim::plan::Basis {
    pim::plan::Basis {
        config_hash: "sha256:config".into(),
        state_lineage: Some("lineage-1".into()),
        state_serial: Some(7),
        snapshot_fingerprint: "sha256:snapshot".into(),
        renew_within: Some(pim::model::IsoDuration::days(14)),
    }
}

pub fn load_dir(dir: &str) -> pim::config::Desired {
    pim::config::load(
        std::path::Path::new(dir),
        &pim::config::LoadOptions::at(now()),
    )
    .unwrap_or_else(|e| panic!("{}", e.diagnostics()))
}

pub fn load_str(text: &str) -> pim::config::Desired {
    let files = vec![(std::path::PathBuf::from("case.pim.hcl"), text.to_string())];
    pim::config::load_sources(
        std::path::Path::new("."),
        files,
        &pim::config::LoadOptions::at(now()),
    )
    .unwrap_or_else(|e| panic!("{}", e.diagnostics()))
}

pub fn managed(
    address: &str,
    kind: AssignmentKind,
    schedule: &str,
    principal: &str,
    role: &str,
    attrs: serde_json::Value,
) -> pim::state::Resource {
    pim::state::Resource {
        surface: pim::model::SurfaceKind::DirectoryRole,
        address: pim::model::Address::parse(address).unwrap(),
        kind: Some(kind),
        schedule_id: Some(schedule.into()),
        request_id: Some(schedule.into()),
        principal_id: principal.into(),
        role_id: role_id(role).into(),
        scope_id: "/".into(),
        attributes: attrs,
    }
}

/// A plan with every action and reason, over the fixture
/// `tests/fixtures/plan/scenario`; also returns the state it was made with.
pub fn scenario_with_state() -> (pim::plan::Plan, pim::state::StateFile) {
    let (plan, state, _) = scenario_full();
    (plan, state)
}

/// The scenario's plan, the state it was made with, and the tenant.
pub fn scenario_full() -> (pim::plan::Plan, pim::state::StateFile, Current) {
    use AssignmentKind::{Active, Eligible};
    use serde_json::json;
    let mut t = Tenant::new();
    let judy = t.grant(Eligible, "judy", "Security Reader", 10, Some(90));
    let heidi = t.grant(Eligible, "heidi", "Security Reader", 85, Some(90));
    let grace = t.grant(Eligible, "grace", "Security Reader", 10, Some(90));
    t.current.grants.last_mut().unwrap().scope_id = "/administrativeUnits/au-paris".into();
    let ivan = t.grant(Eligible, "ivan", "Helpdesk Administrator", 30, Some(90));
    let bg = t.grant(Active, "breakglass1", "Global Administrator", 400, None);
    t.grant(Eligible, "erin", "Global Administrator", 10, Some(180));
    t.grant(Eligible, "frank", "Global Administrator", 10, Some(182));
    t.grant(Eligible, "mallory", "Global Administrator", 100, Some(300));
    t.grant(Eligible, "kim", "Global Reader", 20, None);
    // Activations and group-inherited grants are never planned.
    t.grant(Active, "erin", "Global Administrator", 0, Some(1));
    t.current.grants.last_mut().unwrap().active_type = Some(ActiveType::Activated);
    t.grant(Eligible, "lee", "Global Administrator", 5, Some(30));
    t.current.grants.last_mut().unwrap().member_type = MemberType::Group;
    for u in ["carol", "dave"] {
        t.user(u);
    }
    let mut state = pim::state::StateFile::new("lineage-1".into());
    state.serial = 7;
    let p90 = json!({"duration": "P90D"});
    state.resources = vec![
        managed(
            "eligibility.judy_reader",
            Eligible,
            &judy,
            "u-judy",
            "Security Reader",
            p90.clone(),
        ),
        managed(
            "eligibility.heidi_reader",
            Eligible,
            &heidi,
            "u-heidi",
            "Security Reader",
            p90.clone(),
        ),
        managed(
            "eligibility.grace_reader",
            Eligible,
            &grace,
            "u-grace",
            "Security Reader",
            p90.clone(),
        ),
        managed(
            "eligibility.ivan_old",
            Eligible,
            &ivan,
            "u-ivan",
            "Helpdesk Administrator",
            p90.clone(),
        ),
        managed(
            "eligibility.dave_helpdesk",
            Eligible,
            "sched-gone",
            "u-dave",
            "Helpdesk Administrator",
            p90,
        ),
        managed(
            "assignment.breakglass_ga",
            Active,
            &bg,
            "u-breakglass1",
            "Global Administrator",
            json!({"duration": "permanent"}),
        ),
    ];
    state.resources[2].scope_id = "/administrativeUnits/au-paris".into();
    let desired = load_dir("tests/fixtures/plan/scenario");
    let plan = pim::plan::plan(
        &desired,
        &t.current,
        &t.resolved,
        Some(&state),
        basis(),
        &pim::plan::PlanOptions::at(now()),
    )
    .unwrap();
    (plan, state, t.current)
}

pub fn scenario() -> pim::plan::Plan {
    scenario_with_state().0
}
