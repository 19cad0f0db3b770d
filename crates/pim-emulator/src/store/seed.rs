//! Seeding: building the store (and its rendered indexes) from a tenant
//! file, directory roles' and groups' parts alike, and turning the state
//! back into one for persistence.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::groups::{ACCESS, group_policy_suffix};
use super::policies::{PolicyRec, PolicyScope, RoleRec, default_rules, merge, normalize_rule};
use super::schedules::{Exp, ScheduleRec};
use super::{Kind, Rendered, RequestRec, Store, Surface, pascal, ts};
use crate::tenant::{
    GroupPolicySeed, GroupScheduleSeed, PolicySeed, ScheduleSeed, Tenant, resolve_time,
};
use pim_model::{RuleId, builtin_roles};

pub(super) const POLICY_NAMESPACE: Uuid =
    Uuid::from_u128(0x5f0c_3a4e_9b1d_4c6a_8e2f_7d1b_0a9c_3e51);

/// A role's policy as Microsoft makes it, with an id derived from tenant and role.
pub(super) fn default_policy(tenant_id: &str, role_id: &str) -> PolicyRec {
    let guid = Uuid::new_v5(
        &POLICY_NAMESPACE,
        format!("{tenant_id}/{role_id}").as_bytes(),
    );
    PolicyRec {
        suffix: format!("{tenant_id}_{guid}"),
        scope: PolicyScope::Directory,
        role_id: role_id.to_string(),
        rules: default_rules(Surface::DirectoryRole),
        last_modified: None,
        last_modified_by: None,
    }
}

impl Store {
    pub fn from_tenant(t: &Tenant, now: DateTime<Utc>) -> Result<Store, String> {
        let mut roles: Vec<RoleRec> = builtin_roles()
            .iter()
            .map(|r| RoleRec {
                id: r.id.clone(),
                display_name: r.display_name.clone(),
                description: String::new(),
                builtin: true,
                enabled: true,
                actions: Vec::new(),
            })
            .collect();
        for c in &t.custom_roles {
            if roles.iter().any(|r| r.id.eq_ignore_ascii_case(&c.id)) {
                return Err(format!("custom role id {} is already used", c.id));
            }
            roles.push(RoleRec {
                id: c.id.to_ascii_lowercase(),
                display_name: c.display_name.clone(),
                description: c.description.clone().unwrap_or_default(),
                builtin: false,
                enabled: c.is_enabled,
                actions: c.allowed_resource_actions.clone(),
            });
        }
        let mut store = Store {
            tenant_id: t.tenant_id.clone(),
            domains: t.domains.clone(),
            users: t.users.clone(),
            groups: t.groups.clone(),
            service_principals: t.service_principals.clone(),
            administrative_units: t.administrative_units.clone(),
            applications: t.applications.clone(),
            roles,
            policies: Vec::new(),
            schedules: Default::default(),
            requests: Vec::new(),
            onboarded: Default::default(),
            reviews: Default::default(),
            created: Default::default(),
            rendered: Rendered::default(),
            arm: Default::default(),
        };
        store.rendered = Rendered {
            users: store.users.iter().map(Store::user_json).collect(),
            groups: store.groups.iter().map(Store::group_json).collect(),
            service_principals: store
                .service_principals
                .iter()
                .map(Store::sp_json)
                .collect(),
            administrative_units: store
                .administrative_units
                .iter()
                .map(Store::au_json)
                .collect(),
            roles: store.roles.iter().map(RoleRec::to_json).collect(),
            user_keys: store
                .users
                .iter()
                .enumerate()
                .flat_map(|(i, u)| {
                    [
                        (u.id.to_ascii_lowercase(), i),
                        (u.user_principal_name.to_ascii_lowercase(), i),
                    ]
                })
                .collect(),
            ..Rendered::default()
        };
        store.rendered.index();
        store.policies = store
            .roles
            .iter()
            .map(|r| default_policy(&t.tenant_id, &r.id))
            .collect();
        for p in &t.policies {
            store.apply_policy_seed(p)?;
        }
        store.seed_groups(t)?;
        // A set, not a scan per schedule: seeds run to tens of thousands.
        let mut ids = std::collections::HashSet::new();
        for (kind, list) in [
            (Kind::Eligibility, &t.eligibility_schedules),
            (Kind::Assignment, &t.assignment_schedules),
        ] {
            for s in list {
                let rec = store.schedule_from_seed(kind, s, now)?;
                if !ids.insert((kind, rec.id.clone())) {
                    return Err(format!("schedule id {} is used twice", rec.id));
                }
                store.schedules.push(rec);
            }
        }
        for (kind, list) in [
            (Kind::Eligibility, &t.group_eligibility_schedules),
            (Kind::Assignment, &t.group_assignment_schedules),
        ] {
            for s in list {
                let rec = store.group_schedule_from_seed(kind, s, now)?;
                if !ids.insert((kind, rec.id.clone())) {
                    return Err(format!("schedule id {} is used twice", rec.id));
                }
                store.schedules.push(rec);
            }
        }
        for (surface, kind, list) in [
            (
                Surface::DirectoryRole,
                Kind::Eligibility,
                &t.eligibility_requests,
            ),
            (
                Surface::DirectoryRole,
                Kind::Assignment,
                &t.assignment_requests,
            ),
            (
                Surface::Group,
                Kind::Eligibility,
                &t.group_eligibility_requests,
            ),
            (
                Surface::Group,
                Kind::Assignment,
                &t.group_assignment_requests,
            ),
        ] {
            for r in list {
                store
                    .requests
                    .push(RequestRec::new(surface, kind, r.clone()));
            }
        }
        store.arm = super::arm::ArmStore::from_seed(t.azure.as_ref(), &store, now)?;
        Ok(store)
    }

    /// A group by id, or by display name when that names exactly one.
    fn seeded_group_id(&self, text: &str) -> Result<String, String> {
        if let Some(g) = self.group_by_id(text) {
            return Ok(g.id.to_ascii_lowercase());
        }
        let named: Vec<&crate::tenant::Group> = self
            .groups
            .iter()
            .filter(|g| g.display_name.eq_ignore_ascii_case(text))
            .collect();
        match named.as_slice() {
            [g] => Ok(g.id.to_ascii_lowercase()),
            [] => Err(format!("unknown group {text:?}")),
            _ => Err(format!(
                "{} groups are named {text:?}: give its id",
                named.len()
            )),
        }
    }

    /// PIM for Groups: which groups are onboarded, every group's two
    /// policies, and the tenant file's changes to them.
    fn seed_groups(&mut self, t: &Tenant) -> Result<(), String> {
        let mut onboarded: Vec<String> = t
            .groups
            .iter()
            .filter(|g| g.pim_onboarded)
            .map(|g| g.id.clone())
            .collect();
        for name in t
            .group_policies
            .iter()
            .map(|p| &p.group)
            .chain(t.group_eligibility_schedules.iter().map(|s| &s.group))
            .chain(t.group_assignment_schedules.iter().map(|s| &s.group))
        {
            onboarded.push(self.seeded_group_id(name)?);
        }
        for r in t
            .group_eligibility_requests
            .iter()
            .chain(&t.group_assignment_requests)
        {
            if let Some(g) = r.get("groupId").and_then(Value::as_str) {
                onboarded.push(g.to_string());
            }
        }
        self.onboarded = onboarded.iter().map(|g| g.to_ascii_lowercase()).collect();
        let ids: Vec<String> = self.groups.iter().map(|g| g.id.clone()).collect();
        for id in ids {
            self.add_group_policies(&id);
        }
        for p in &t.group_policies {
            self.apply_group_policy_seed(p)?;
        }
        Ok(())
    }

    fn apply_group_policy_seed(&mut self, p: &GroupPolicySeed) -> Result<(), String> {
        let group_id = self.seeded_group_id(&p.group)?;
        let access = parse_access(&p.access)?;
        let what = format!("{} policy of group {:?}", access, p.group);
        let Some(policy) = self
            .policies
            .iter_mut()
            .find(|x| x.scope == PolicyScope::Group(group_id.clone()) && x.role_id == access)
        else {
            return Err(format!("no {what}"));
        };
        if let Some(id) = &p.id {
            let suffix = id
                .strip_prefix("Group_")
                .filter(|s| {
                    s.len() > group_id.len() && s[..group_id.len()].eq_ignore_ascii_case(&group_id)
                })
                .ok_or_else(|| {
                    format!("{what}: policy id {id:?} must start with Group_{group_id}_")
                })?;
            policy.suffix = suffix.to_string();
        }
        apply_rules(policy, &p.rules, &what)?;
        policy.last_modified = p.last_modified_date_time.clone();
        policy.last_modified_by = p.last_modified_by.clone();
        Ok(())
    }

    fn apply_policy_seed(&mut self, p: &PolicySeed) -> Result<(), String> {
        let role_id = self
            .role_by_id_or_name(&p.role)
            .map(|r| r.id.clone())
            .ok_or_else(|| format!("policy for unknown role {:?}", p.role))?;
        let Some(policy) = self
            .policies
            .iter_mut()
            .find(|x| x.scope == PolicyScope::Directory && x.role_id == role_id)
        else {
            return Err(format!("no policy for role {role_id}"));
        };
        if let Some(id) = &p.id {
            let suffix = id
                .strip_prefix("DirectoryRole_")
                .or_else(|| id.strip_prefix("Directory_"))
                .ok_or_else(|| format!("policy id {id:?} must start with DirectoryRole_"))?;
            policy.suffix = suffix.to_string();
        }
        apply_rules(policy, &p.rules, &format!("policy of {:?}", p.role))?;
        policy.last_modified = p.last_modified_date_time.clone();
        policy.last_modified_by = p.last_modified_by.clone();
        Ok(())
    }

    fn schedule_from_seed(
        &self,
        kind: Kind,
        s: &ScheduleSeed,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRec, String> {
        let (principal_id, _) = self
            .resolve_principal(&s.principal)
            .ok_or_else(|| format!("schedule: unknown principal {:?}", s.principal))?;
        let role_id = self
            .role_by_id_or_name(&s.role)
            .map(|r| r.id.clone())
            .ok_or_else(|| format!("schedule: unknown role {:?}", s.role))?;
        let scope = self
            .resolve_scope(&s.scope)
            .ok_or_else(|| format!("schedule: unknown scope {:?}", s.scope))?;
        let times = Times {
            start: s.start.as_deref(),
            end: s.end.as_deref(),
            duration: s.duration.as_deref(),
            created_using: s.created_using.as_deref(),
            created: s.created_date_time.as_deref(),
            modified: s.modified_date_time.as_deref(),
            activated_using: s.activated_using.as_deref(),
        };
        let id = s.id.clone().unwrap_or_else(|| {
            Uuid::new_v5(
                &POLICY_NAMESPACE,
                format!("{kind:?}/{principal_id}/{role_id}/{scope}").as_bytes(),
            )
            .to_string()
        });
        let grant = Grant {
            id,
            surface: Surface::DirectoryRole,
            kind,
            principal_id,
            role_id,
            scope,
        };
        let types = (s.assignment_type.as_deref(), s.member_type.as_deref());
        seeded_schedule(grant, &times, types, now)
    }

    fn group_schedule_from_seed(
        &self,
        kind: Kind,
        s: &GroupScheduleSeed,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRec, String> {
        let (principal_id, _) = self
            .resolve_principal(&s.principal)
            .ok_or_else(|| format!("group schedule: unknown principal {:?}", s.principal))?;
        let group_id = self
            .seeded_group_id(&s.group)
            .map_err(|e| format!("group schedule: {e}"))?;
        let access = parse_access(&s.access).map_err(|e| format!("group schedule: {e}"))?;
        let times = Times {
            start: s.start.as_deref(),
            end: s.end.as_deref(),
            duration: s.duration.as_deref(),
            created_using: s.created_using.as_deref(),
            created: s.created_date_time.as_deref(),
            modified: s.modified_date_time.as_deref(),
            activated_using: s.activated_using.as_deref(),
        };
        let id = s.id.clone().unwrap_or_else(|| {
            let guid = Uuid::new_v5(
                &POLICY_NAMESPACE,
                format!("group/{kind:?}/{principal_id}/{access}/{group_id}").as_bytes(),
            );
            Surface::Group.schedule_id(&access, &group_id, &guid.to_string())
        });
        let grant = Grant {
            id,
            surface: Surface::Group,
            kind,
            principal_id,
            role_id: access,
            scope: group_id,
        };
        let types = (s.assignment_type.as_deref(), s.member_type.as_deref());
        seeded_schedule(grant, &times, types, now)
    }

    /// The state as a tenant file: directory as seeded, policies that differ
    /// from the defaults, schedules and requests with absolute times.
    pub fn to_tenant(&self, schema: Option<String>) -> Tenant {
        let directory_defaults = default_rules(Surface::DirectoryRole);
        let group_defaults = default_rules(Surface::Group);
        let changed = |p: &PolicyRec| -> Vec<Value> {
            let defaults = match p.surface() {
                Surface::DirectoryRole => &directory_defaults,
                Surface::Group => &group_defaults,
            };
            p.rules
                .iter()
                .filter(|r| !defaults.contains(r))
                .cloned()
                .collect()
        };
        let mut policies = Vec::new();
        let mut group_policies = Vec::new();
        for p in &self.policies {
            let rules = changed(p);
            match &p.scope {
                PolicyScope::Directory => {
                    let derived = Uuid::new_v5(
                        &POLICY_NAMESPACE,
                        format!("{}/{}", self.tenant_id, p.role_id).as_bytes(),
                    );
                    let custom_id = p.suffix != format!("{}_{}", self.tenant_id, derived);
                    if !rules.is_empty() || p.last_modified.is_some() || custom_id {
                        policies.push(PolicySeed {
                            role: p.role_id.clone(),
                            id: custom_id.then(|| p.id("DirectoryRole")),
                            rules,
                            last_modified_date_time: p.last_modified.clone(),
                            last_modified_by: p.last_modified_by.clone(),
                        });
                    }
                }
                PolicyScope::Group(g) => {
                    let derived =
                        group_policy_suffix(&self.tenant_id, g, &p.role_id, self.is_onboarded(g));
                    let custom_id = p.suffix != derived;
                    if !rules.is_empty() || p.last_modified.is_some() || custom_id {
                        group_policies.push(GroupPolicySeed {
                            group: g.clone(),
                            access: p.role_id.clone(),
                            id: custom_id.then(|| p.id("Group")),
                            rules,
                            last_modified_date_time: p.last_modified.clone(),
                            last_modified_by: p.last_modified_by.clone(),
                        });
                    }
                }
            }
        }
        let times = |s: &ScheduleRec| -> (Option<String>, Option<String>, Option<String>) {
            (
                Some(ts(s.start)),
                match &s.exp {
                    Exp::At(t) => Some(ts(*t)),
                    _ => None,
                },
                match &s.exp {
                    Exp::After(d) => Some(d.to_string()),
                    _ => None,
                },
            )
        };
        let sched = |kind: Kind| -> Vec<ScheduleSeed> {
            self.schedules
                .iter()
                .filter(|s| s.surface == Surface::DirectoryRole && s.kind == kind)
                .map(|s| {
                    let (start, end, duration) = times(s);
                    ScheduleSeed {
                        id: Some(s.id.clone()),
                        principal: s.principal_id.clone(),
                        role: s.role_id.clone(),
                        scope: s.scope.clone(),
                        start,
                        end,
                        duration,
                        created_using: s.created_using.clone(),
                        created_date_time: s.created.map(ts),
                        modified_date_time: s.modified.clone(),
                        assignment_type: (kind == Kind::Assignment)
                            .then(|| s.assignment_type.clone()),
                        member_type: Some(s.member_type.clone()),
                        activated_using: s.activated_using.clone(),
                    }
                })
                .collect()
        };
        let group_sched = |kind: Kind| -> Vec<GroupScheduleSeed> {
            self.schedules
                .iter()
                .filter(|s| s.surface == Surface::Group && s.kind == kind)
                .map(|s| {
                    let (start, end, duration) = times(s);
                    GroupScheduleSeed {
                        id: Some(s.id.clone()),
                        principal: s.principal_id.clone(),
                        group: s.scope.clone(),
                        access: s.role_id.clone(),
                        start,
                        end,
                        duration,
                        created_using: s.created_using.clone(),
                        created_date_time: s.created.map(ts),
                        modified_date_time: s.modified.clone(),
                        assignment_type: (kind == Kind::Assignment)
                            .then(|| Surface::Group.enum_value(&s.assignment_type).into_owned()),
                        member_type: Some(Surface::Group.enum_value(&s.member_type).into_owned()),
                        activated_using: s.activated_using.clone(),
                    }
                })
                .collect()
        };
        let reqs = |surface: Surface, kind: Kind| -> Vec<Value> {
            self.requests
                .iter()
                .filter(|r| r.surface == surface && r.kind == kind)
                .map(|r| r.body.clone())
                .collect()
        };
        let groups = self
            .groups
            .iter()
            .map(|g| crate::tenant::Group {
                pim_onboarded: self.is_onboarded(&g.id),
                ..g.clone()
            })
            .collect();
        Tenant {
            schema,
            tenant_id: self.tenant_id.clone(),
            domains: self.domains.clone(),
            users: self.users.clone(),
            groups,
            service_principals: self.service_principals.clone(),
            administrative_units: self.administrative_units.clone(),
            applications: self.applications.clone(),
            custom_roles: self
                .roles
                .iter()
                .filter(|r| !r.builtin)
                .map(|r| crate::tenant::CustomRole {
                    id: r.id.clone(),
                    display_name: r.display_name.clone(),
                    description: (!r.description.is_empty()).then(|| r.description.clone()),
                    is_enabled: r.enabled,
                    allowed_resource_actions: r.actions.clone(),
                })
                .collect(),
            policies,
            eligibility_schedules: sched(Kind::Eligibility),
            assignment_schedules: sched(Kind::Assignment),
            eligibility_requests: reqs(Surface::DirectoryRole, Kind::Eligibility),
            assignment_requests: reqs(Surface::DirectoryRole, Kind::Assignment),
            group_policies,
            group_eligibility_schedules: group_sched(Kind::Eligibility),
            group_assignment_schedules: group_sched(Kind::Assignment),
            group_eligibility_requests: reqs(Surface::Group, Kind::Eligibility),
            group_assignment_requests: reqs(Surface::Group, Kind::Assignment),
            faults: None,
            azure: self.arm.to_seed(),
        }
    }
}

/// `member` or `owner`, in any case.
pub(crate) fn parse_access(text: &str) -> Result<String, String> {
    ACCESS
        .iter()
        .find(|a| a.eq_ignore_ascii_case(text.trim()))
        .map(|a| a.to_string())
        .ok_or_else(|| format!("access {text:?} is not member or owner"))
}

/// Merge a seed's rule changes into a policy, refusing what Graph would
/// not store.
fn apply_rules(policy: &mut PolicyRec, rules: &[Value], what: &str) -> Result<(), String> {
    let surface = policy.surface();
    for patch in rules {
        let rid = patch
            .get("id")
            .and_then(Value::as_str)
            .and_then(RuleId::parse)
            .ok_or_else(|| format!("{what}: a rule without a known \"id\": {patch}"))?;
        let Some(rule) = policy
            .rules
            .iter_mut()
            .find(|r| r.get("id").and_then(Value::as_str) == Some(rid.as_str()))
        else {
            continue;
        };
        merge(rule, patch);
        // A seed must not hold what Graph would refuse to store (`P1Y`).
        if let Some(d) = rule.get("maximumDuration").and_then(Value::as_str)
            && let Err(e) = d.parse::<pim_model::IsoDuration>()
        {
            return Err(format!("{what}: maximumDuration: {e}"));
        }
        normalize_rule(surface, rid, rule);
    }
    Ok(())
}

/// What a seeded schedule grants, resolved.
struct Grant {
    id: String,
    surface: Surface,
    kind: Kind,
    principal_id: String,
    role_id: String,
    scope: String,
}

/// A seeded schedule's times, as written.
struct Times<'a> {
    start: Option<&'a str>,
    end: Option<&'a str>,
    duration: Option<&'a str>,
    created_using: Option<&'a str>,
    created: Option<&'a str>,
    modified: Option<&'a str>,
    activated_using: Option<&'a str>,
}

fn seeded_schedule(
    grant: Grant,
    t: &Times<'_>,
    (assignment_type, member_type): (Option<&str>, Option<&str>),
    now: DateTime<Utc>,
) -> Result<ScheduleRec, String> {
    let start = match t.start {
        Some(s) => resolve_time(s, now)?,
        None => now,
    };
    let exp = match (t.end, t.duration) {
        (Some(_), Some(_)) => return Err("schedule: give end or duration, not both".into()),
        (Some(e), None) => Exp::At(resolve_time(e, now)?),
        (None, Some(d)) => Exp::After(d.parse().map_err(|e| format!("schedule duration: {e}"))?),
        (None, None) => Exp::Never,
    };
    let created = match t.created {
        Some(c) => Some(resolve_time(c, now)?),
        None => t.created_using.map(|_| start),
    };
    Ok(ScheduleRec {
        id: grant.id,
        surface: grant.surface,
        kind: grant.kind,
        principal_id: grant.principal_id,
        role_id: grant.role_id,
        scope: grant.scope,
        created_using: t.created_using.map(str::to_string),
        created,
        modified: t.modified.map(str::to_string),
        assignment_type: pascal(assignment_type.unwrap_or("Assigned")),
        member_type: pascal(member_type.unwrap_or("Direct")),
        activated_using: t.activated_using.map(str::to_string),
        start,
        exp,
        visible_after: None,
    })
}
