//! Seeding: building the store (and its rendered indexes) from a tenant
//! file, and turning the state back into one for persistence.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::policies::{PolicyRec, RoleRec, default_rules, merge, normalize_rule};
use super::schedules::{Exp, ScheduleRec};
use super::{Kind, Rendered, Store, ts};
use crate::tenant::{PolicySeed, ScheduleSeed, Tenant, resolve_time};
use pim_model::{RuleId, builtin_roles};

const POLICY_NAMESPACE: Uuid = Uuid::from_u128(0x5f0c_3a4e_9b1d_4c6a_8e2f_7d1b_0a9c_3e51);

/// A role's policy as Microsoft makes it, with an id derived from tenant and role.
pub(super) fn default_policy(tenant_id: &str, role_id: &str) -> PolicyRec {
    let guid = Uuid::new_v5(
        &POLICY_NAMESPACE,
        format!("{tenant_id}/{role_id}").as_bytes(),
    );
    PolicyRec {
        suffix: format!("{tenant_id}_{guid}"),
        role_id: role_id.to_string(),
        rules: default_rules(),
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
            created: Default::default(),
            rendered: Rendered::default(),
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
        for r in &t.eligibility_requests {
            store.requests.push((Kind::Eligibility, r.clone()));
        }
        for r in &t.assignment_requests {
            store.requests.push((Kind::Assignment, r.clone()));
        }
        Ok(store)
    }

    fn apply_policy_seed(&mut self, p: &PolicySeed) -> Result<(), String> {
        let role_id = self
            .role_by_id_or_name(&p.role)
            .map(|r| r.id.clone())
            .ok_or_else(|| format!("policy for unknown role {:?}", p.role))?;
        let Some(policy) = self.policies.iter_mut().find(|x| x.role_id == role_id) else {
            return Err(format!("no policy for role {role_id}"));
        };
        if let Some(id) = &p.id {
            let suffix = id
                .strip_prefix("DirectoryRole_")
                .or_else(|| id.strip_prefix("Directory_"))
                .ok_or_else(|| format!("policy id {id:?} must start with DirectoryRole_"))?;
            policy.suffix = suffix.to_string();
        }
        for patch in &p.rules {
            let rid = patch
                .get("id")
                .and_then(Value::as_str)
                .and_then(RuleId::parse)
                .ok_or_else(|| {
                    format!(
                        "policy of {:?}: a rule without a known \"id\": {patch}",
                        p.role
                    )
                })?;
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
                return Err(format!("policy of {:?}: maximumDuration: {e}", p.role));
            }
            normalize_rule(rid, rule);
        }
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
        let start = match &s.start {
            Some(t) => resolve_time(t, now)?,
            None => now,
        };
        let exp = match (&s.end, &s.duration) {
            (Some(_), Some(_)) => return Err("schedule: give end or duration, not both".into()),
            (Some(e), None) => Exp::At(resolve_time(e, now)?),
            (None, Some(d)) => {
                Exp::After(d.parse().map_err(|e| format!("schedule duration: {e}"))?)
            }
            (None, None) => Exp::Never,
        };
        let created = match &s.created_date_time {
            Some(t) => Some(resolve_time(t, now)?),
            None => s.created_using.as_ref().map(|_| start),
        };
        Ok(ScheduleRec {
            id: s.id.clone().unwrap_or_else(|| {
                Uuid::new_v5(
                    &POLICY_NAMESPACE,
                    format!("{kind:?}/{principal_id}/{role_id}/{scope}").as_bytes(),
                )
                .to_string()
            }),
            kind,
            principal_id,
            role_id,
            scope,
            created_using: s.created_using.clone(),
            created,
            modified: s.modified_date_time.clone(),
            assignment_type: s
                .assignment_type
                .clone()
                .unwrap_or_else(|| "Assigned".into()),
            member_type: s.member_type.clone().unwrap_or_else(|| "Direct".into()),
            activated_using: s.activated_using.clone(),
            start,
            exp,
            visible_after: None,
        })
    }

    /// The state as a tenant file: directory as seeded, policies that differ
    /// from the defaults, schedules and requests with absolute times.
    pub fn to_tenant(&self, schema: Option<String>) -> Tenant {
        let defaults = default_rules();
        let policies = self
            .policies
            .iter()
            .filter_map(|p| {
                let changed: Vec<Value> = p
                    .rules
                    .iter()
                    .filter(|r| !defaults.contains(r))
                    .cloned()
                    .collect();
                let derived = Uuid::new_v5(
                    &POLICY_NAMESPACE,
                    format!("{}/{}", self.tenant_id, p.role_id).as_bytes(),
                );
                let custom_id = p.suffix != format!("{}_{}", self.tenant_id, derived);
                (!changed.is_empty() || p.last_modified.is_some() || custom_id).then(|| {
                    PolicySeed {
                        role: p.role_id.clone(),
                        id: custom_id.then(|| p.id("DirectoryRole")),
                        rules: changed,
                        last_modified_date_time: p.last_modified.clone(),
                        last_modified_by: p.last_modified_by.clone(),
                    }
                })
            })
            .collect();
        let sched = |kind: Kind| -> Vec<ScheduleSeed> {
            self.schedules
                .iter()
                .filter(|s| s.kind == kind)
                .map(|s| ScheduleSeed {
                    id: Some(s.id.clone()),
                    principal: s.principal_id.clone(),
                    role: s.role_id.clone(),
                    scope: s.scope.clone(),
                    start: Some(ts(s.start)),
                    end: match &s.exp {
                        Exp::At(t) => Some(ts(*t)),
                        _ => None,
                    },
                    duration: match &s.exp {
                        Exp::After(d) => Some(d.to_string()),
                        _ => None,
                    },
                    created_using: s.created_using.clone(),
                    created_date_time: s.created.map(ts),
                    modified_date_time: s.modified.clone(),
                    assignment_type: (kind == Kind::Assignment).then(|| s.assignment_type.clone()),
                    member_type: Some(s.member_type.clone()),
                    activated_using: s.activated_using.clone(),
                })
                .collect()
        };
        let reqs = |kind: Kind| -> Vec<Value> {
            self.requests
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, v)| v.clone())
                .collect()
        };
        Tenant {
            schema,
            tenant_id: self.tenant_id.clone(),
            domains: self.domains.clone(),
            users: self.users.clone(),
            groups: self.groups.clone(),
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
            eligibility_requests: reqs(Kind::Eligibility),
            assignment_requests: reqs(Kind::Assignment),
            faults: None,
        }
    }
}
