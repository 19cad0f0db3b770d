//! The tenant's state while the emulator runs: directory objects, role
//! definitions, policies, schedules and requests, with their Graph JSON
//! renderings. Converts to and from the seed format for persistence.

use std::sync::LazyLock;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::tenant::{
    AdministrativeUnit, Application, Group, PolicySeed, ScheduleSeed, ServicePrincipal, Tenant,
    User, resolve_time,
};
use pim_model::{IsoDuration, RuleId, builtin_roles, default_rules_json};

/// Graph's timestamp rendering (`2026-12-01T10:00:00Z`, or milliseconds
/// when there are any: `2022-04-11T11:50:06.343Z`). Never more digits: the
/// SDKs' parsers (.NET's among them) accept at most seven.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_millis() == 0 {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

pub(crate) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Eligible (roleEligibility*) or active (roleAssignment*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Eligibility,
    Assignment,
}

impl Kind {
    pub fn requests_set(self) -> &'static str {
        match self {
            Kind::Eligibility => "roleEligibilityScheduleRequests",
            Kind::Assignment => "roleAssignmentScheduleRequests",
        }
    }
    pub fn schedules_set(self) -> &'static str {
        match self {
            Kind::Eligibility => "roleEligibilitySchedules",
            Kind::Assignment => "roleAssignmentSchedules",
        }
    }
    pub fn instances_set(self) -> &'static str {
        match self {
            Kind::Eligibility => "roleEligibilityScheduleInstances",
            Kind::Assignment => "roleAssignmentScheduleInstances",
        }
    }
    pub fn schedule_type(self) -> &'static str {
        match self {
            Kind::Eligibility => "unifiedRoleEligibilitySchedule",
            Kind::Assignment => "unifiedRoleAssignmentSchedule",
        }
    }
    pub fn request_type(self) -> &'static str {
        match self {
            Kind::Eligibility => "unifiedRoleEligibilityScheduleRequest",
            Kind::Assignment => "unifiedRoleAssignmentScheduleRequest",
        }
    }
    pub fn instance_type(self) -> &'static str {
        match self {
            Kind::Eligibility => "unifiedRoleEligibilityScheduleInstance",
            Kind::Assignment => "unifiedRoleAssignmentScheduleInstance",
        }
    }
}

/// How a schedule ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Exp {
    Never,
    At(DateTime<Utc>),
    After(IsoDuration),
}

impl Exp {
    pub fn to_json(&self) -> Value {
        match self {
            Exp::Never => json!({ "type": "noExpiration", "endDateTime": null, "duration": null }),
            Exp::At(t) => {
                json!({ "type": "afterDateTime", "endDateTime": ts(*t), "duration": null })
            }
            Exp::After(d) => {
                json!({ "type": "afterDuration", "endDateTime": null, "duration": d.to_string() })
            }
        }
    }

    pub fn end(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Exp::Never => None,
            Exp::At(t) => Some(*t),
            // An overflowing duration is as good as permanent.
            Exp::After(d) => d.add_to(start),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ScheduleRec {
    pub id: String,
    pub kind: Kind,
    pub principal_id: String,
    pub role_id: String,
    pub scope: String,
    pub created_using: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub modified: Option<String>,
    pub assignment_type: String,
    pub member_type: String,
    /// Activations: the eligibility schedule they were made from.
    pub activated_using: Option<String>,
    pub start: DateTime<Utc>,
    pub exp: Exp,
    /// Replication delay: hidden from reads until then.
    pub visible_after: Option<Instant>,
}

impl ScheduleRec {
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.exp.end(self.start)
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.end().is_some_and(|e| e <= now)
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && !self.is_expired(now)
    }

    pub fn is_visible(&self) -> bool {
        self.visible_after.is_none_or(|t| Instant::now() >= t)
    }

    pub fn same_tuple(&self, kind: Kind, principal: &str, role: &str, scope: &str) -> bool {
        self.kind == kind
            && self.principal_id.eq_ignore_ascii_case(principal)
            && self.role_id.eq_ignore_ascii_case(role)
            && self.scope.eq_ignore_ascii_case(scope)
    }

    pub fn schedule_info(&self) -> Value {
        json!({ "startDateTime": ts(self.start), "recurrence": null, "expiration": self.exp.to_json() })
    }

    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        let mut v = json!({
            "id": self.id,
            "principalId": self.principal_id,
            "roleDefinitionId": self.role_id,
            "directoryScopeId": self.scope,
            "appScopeId": null,
            "createdUsing": self.created_using,
            "createdDateTime": self.created.map(ts),
            "modifiedDateTime": self.modified,
            "status": if self.start > now { "Granted" } else { "Provisioned" },
        });
        let obj = v.as_object_mut().map(|o| {
            if self.kind == Kind::Assignment {
                o.insert("assignmentType".into(), json!(self.assignment_type));
            }
            o.insert("memberType".into(), json!(self.member_type));
            o.insert("scheduleInfo".into(), self.schedule_info());
        });
        debug_assert!(obj.is_some());
        v
    }

    /// Opaque instance id, stable for the schedule (Graph's are not GUIDs either).
    pub fn instance_id(&self) -> String {
        let compact: String = self.id.chars().filter(|c| *c != '-').collect();
        match self.kind {
            Kind::Eligibility => format!("{compact}-1-e"),
            Kind::Assignment => format!("{compact}-1"),
        }
    }

    pub fn instance_json(&self) -> Value {
        let id = self.instance_id();
        let start = if self.created_using.is_none() && self.end().is_none() {
            None
        } else {
            Some(ts(self.start))
        };
        let mut v = json!({
            "id": id,
            "principalId": self.principal_id,
            "roleDefinitionId": self.role_id,
            "directoryScopeId": self.scope,
            "appScopeId": null,
            "startDateTime": start,
            "endDateTime": self.end().map(ts),
        });
        if let Some(o) = v.as_object_mut() {
            match self.kind {
                Kind::Assignment => {
                    o.insert("assignmentType".into(), json!(self.assignment_type));
                    o.insert("memberType".into(), json!(self.member_type));
                    o.insert("roleAssignmentOriginId".into(), json!(id));
                    o.insert("roleAssignmentScheduleId".into(), json!(self.id));
                }
                Kind::Eligibility => {
                    o.insert("memberType".into(), json!(self.member_type));
                    o.insert("roleEligibilityScheduleId".into(), json!(self.id));
                }
            }
        }
        v
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RoleRec {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub builtin: bool,
    pub enabled: bool,
    pub actions: Vec<String>,
}

impl RoleRec {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "description": self.description,
            "displayName": self.display_name,
            "isBuiltIn": self.builtin,
            "isEnabled": self.enabled,
            "resourceScopes": ["/"],
            "templateId": self.id,
            "version": if self.builtin { Value::from("1") } else { Value::Null },
            "rolePermissions": [{ "allowedResourceActions": self.actions, "condition": null }],
            "inheritsPermissionsFrom": [],
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PolicyRec {
    /// `<tenantId>_<policyGuid>`; the id is `<scopeType>_` + this.
    pub suffix: String,
    pub role_id: String,
    pub rules: Vec<Value>,
    pub last_modified: Option<String>,
    pub last_modified_by: Option<String>,
}

impl PolicyRec {
    pub fn id(&self, scope_type: &str) -> String {
        format!("{scope_type}_{}", self.suffix)
    }

    pub fn to_json(&self, scope_type: &str) -> Value {
        json!({
            "id": self.id(scope_type),
            "displayName": scope_type,
            "description": scope_type,
            "isOrganizationDefault": false,
            "scopeId": "/",
            "scopeType": scope_type,
            "lastModifiedDateTime": self.last_modified,
            "lastModifiedBy": { "displayName": self.last_modified_by, "id": null },
        })
    }

    pub fn rule(&self, id: RuleId) -> Option<&Value> {
        self.rules
            .iter()
            .find(|r| r.get("id").and_then(Value::as_str) == Some(id.as_str()))
    }

    /// `(isExpirationRequired, maximumDuration)` of an expiration rule.
    pub fn expiration(&self, id: RuleId) -> (bool, Option<IsoDuration>) {
        let rule = self.rule(id);
        let required = rule
            .and_then(|r| r.get("isExpirationRequired"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let max = rule
            .and_then(|r| r.get("maximumDuration"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok());
        (required, max)
    }

    pub fn enabled_rules(&self, id: RuleId) -> Vec<String> {
        self.rule(id)
            .and_then(|r| r.get("enabledRules"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What kind of directory object a principal id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrincipalType {
    User,
    Group { assignable: bool },
    ServicePrincipal,
}

static DEFAULT_RULES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let doc: Value = serde_json::from_str(default_rules_json()).unwrap_or(Value::Null);
    doc.get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
});

pub(crate) fn default_rule(id: RuleId) -> Option<Value> {
    DEFAULT_RULES
        .iter()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id.as_str()))
        .cloned()
}

fn default_rules() -> Vec<Value> {
    RuleId::ALL
        .iter()
        .filter_map(|id| default_rule(*id))
        .collect()
}

/// Put a rule in the form Graph returns: `operations` lowercase, no
/// `@odata.type` on nested complex values, target fixed by the rule id.
pub(crate) fn normalize_rule(id: RuleId, rule: &mut Value) {
    let Some(obj) = rule.as_object_mut() else {
        return;
    };
    obj.insert("@odata.type".into(), json!(id.odata_type()));
    obj.insert("id".into(), json!(id.as_str()));
    let (caller, level) = id.target();
    let target = obj.entry("target").or_insert_with(|| json!({}));
    if let Some(t) = target.as_object_mut() {
        t.remove("@odata.type");
        let ops: Vec<Value> = t
            .get("operations")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| json!(s.to_ascii_lowercase()))
                    .collect()
            })
            .unwrap_or_else(|| vec![json!("all")]);
        t.insert("caller".into(), json!(caller));
        t.insert("operations".into(), Value::Array(ops));
        t.insert("level".into(), json!(level));
        t.entry("inheritableSettings").or_insert_with(|| json!([]));
        t.entry("enforcedSettings").or_insert_with(|| json!([]));
    }
    if let Some(setting) = obj.get_mut("setting").and_then(Value::as_object_mut) {
        setting.remove("@odata.type");
        if let Some(stages) = setting
            .get_mut("approvalStages")
            .and_then(Value::as_array_mut)
        {
            for s in stages.iter_mut().filter_map(Value::as_object_mut) {
                s.remove("@odata.type");
            }
        }
    }
}

/// Shallow merge of `patch` over `base` (Graph PATCH semantics for a rule).
pub(crate) fn merge(base: &mut Value, patch: &Value) {
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            if k != "@odata.context" {
                b.insert(k.clone(), v.clone());
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub tenant_id: String,
    pub domains: Vec<String>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub service_principals: Vec<ServicePrincipal>,
    pub administrative_units: Vec<AdministrativeUnit>,
    pub applications: Vec<Application>,
    pub roles: Vec<RoleRec>,
    pub policies: Vec<PolicyRec>,
    pub schedules: Vec<ScheduleRec>,
    pub requests: Vec<(Kind, Value)>,
    /// Graph renderings of the read-only collections, made once: listing
    /// them is the hot path and rendering per request dominated its cost.
    pub rendered: Rendered,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Rendered {
    pub users: Vec<Value>,
    pub groups: Vec<Value>,
    pub service_principals: Vec<Value>,
    pub administrative_units: Vec<Value>,
    pub roles: Vec<Value>,
    /// Users by lower-case id and user principal name, to position in
    /// `users`: `GET /users/{id | upn}` is how clients resolve names, once
    /// per declared principal.
    pub user_keys: std::collections::HashMap<String, usize>,
}

const POLICY_NAMESPACE: Uuid = Uuid::from_u128(0x5f0c_3a4e_9b1d_4c6a_8e2f_7d1b_0a9c_3e51);

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
            schedules: Vec::new(),
            requests: Vec::new(),
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
        };
        store.policies = store
            .roles
            .iter()
            .map(|r| {
                let guid = Uuid::new_v5(
                    &POLICY_NAMESPACE,
                    format!("{}/{}", t.tenant_id, r.id).as_bytes(),
                );
                PolicyRec {
                    suffix: format!("{}_{}", t.tenant_id, guid),
                    role_id: r.id.clone(),
                    rules: default_rules(),
                    last_modified: None,
                    last_modified_by: None,
                }
            })
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
                .map(|r| super::tenant::CustomRole {
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

    pub fn role_by_id_or_name(&self, text: &str) -> Option<&RoleRec> {
        self.roles
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(text))
            .or_else(|| {
                self.roles
                    .iter()
                    .find(|r| r.display_name.eq_ignore_ascii_case(text))
            })
    }

    pub fn role(&self, id: &str) -> Option<&RoleRec> {
        self.roles.iter().find(|r| r.id.eq_ignore_ascii_case(id))
    }

    pub fn policy_for_role(&self, role_id: &str) -> Option<&PolicyRec> {
        self.policies
            .iter()
            .find(|p| p.role_id.eq_ignore_ascii_case(role_id))
    }

    /// The policy with this id, accepting both the `Directory_` and `DirectoryRole_` forms.
    pub fn policy_index(&self, id: &str) -> Option<usize> {
        let suffix = id
            .strip_prefix("DirectoryRole_")
            .or_else(|| id.strip_prefix("Directory_"))?;
        self.policies
            .iter()
            .position(|p| p.suffix.eq_ignore_ascii_case(suffix))
    }

    /// An object id or `user:`/`group:`/`sp:` reference → object id and type.
    pub fn resolve_principal(&self, text: &str) -> Option<(String, PrincipalType)> {
        if let Some(upn) = text.strip_prefix("user:") {
            return self.user(upn).map(|u| (u.id.clone(), PrincipalType::User));
        }
        if let Some(name) = text.strip_prefix("group:") {
            return self
                .groups
                .iter()
                .find(|g| g.display_name.eq_ignore_ascii_case(name))
                .map(|g| {
                    (
                        g.id.clone(),
                        PrincipalType::Group {
                            assignable: g.is_assignable_to_role,
                        },
                    )
                });
        }
        if let Some(name) = text.strip_prefix("sp:") {
            return self
                .service_principals
                .iter()
                .find(|s| {
                    s.display_name.eq_ignore_ascii_case(name) || s.app_id.eq_ignore_ascii_case(name)
                })
                .map(|s| (s.id.clone(), PrincipalType::ServicePrincipal));
        }
        self.principal_type(text)
            .map(|t| (text.to_ascii_lowercase(), t))
    }

    /// A user by id or user principal name, in any case.
    pub fn user(&self, key: &str) -> Option<&User> {
        self.rendered
            .user_keys
            .get(&key.to_ascii_lowercase())
            .and_then(|&i| self.users.get(i))
    }

    pub fn principal_type(&self, id: &str) -> Option<PrincipalType> {
        if self.user(id).is_some_and(|u| u.id.eq_ignore_ascii_case(id)) {
            return Some(PrincipalType::User);
        }
        if let Some(g) = self.groups.iter().find(|g| g.id.eq_ignore_ascii_case(id)) {
            return Some(PrincipalType::Group {
                assignable: g.is_assignable_to_role,
            });
        }
        self.service_principals
            .iter()
            .any(|s| s.id.eq_ignore_ascii_case(id))
            .then_some(PrincipalType::ServicePrincipal)
    }

    /// `/`, `/administrativeUnits/<id or name>` or `/<object id>` → canonical scope id.
    pub fn resolve_scope(&self, text: &str) -> Option<String> {
        if text == "/" {
            return Some("/".into());
        }
        if let Some(rest) = text.strip_prefix("/administrativeUnits/") {
            return self
                .administrative_units
                .iter()
                .find(|a| a.id.eq_ignore_ascii_case(rest))
                .or_else(|| {
                    self.administrative_units
                        .iter()
                        .find(|a| a.display_name.eq_ignore_ascii_case(rest))
                })
                .map(|a| format!("/administrativeUnits/{}", a.id));
        }
        let id = text.strip_prefix('/')?;
        (self.principal_type(id).is_some() || uuid::Uuid::parse_str(id).is_ok())
            .then(|| text.to_string())
    }

    pub fn user_json(u: &User) -> Value {
        json!({
            "id": u.id,
            "businessPhones": [],
            "displayName": u.display_name,
            "givenName": null,
            "jobTitle": u.job_title,
            "mail": u.mail,
            "mobilePhone": null,
            "officeLocation": null,
            "preferredLanguage": null,
            "surname": null,
            "userPrincipalName": u.user_principal_name,
            "accountEnabled": u.account_enabled,
        })
    }

    pub fn group_json(g: &Group) -> Value {
        json!({
            "id": g.id,
            "displayName": g.display_name,
            "description": g.description,
            "isAssignableToRole": g.is_assignable_to_role,
            "mail": g.mail,
            "mailEnabled": false,
            "securityEnabled": true,
            "groupTypes": [],
        })
    }

    pub fn sp_json(s: &ServicePrincipal) -> Value {
        json!({
            "id": s.id,
            "accountEnabled": true,
            "appId": s.app_id,
            "displayName": s.display_name,
            "servicePrincipalType": "Application",
        })
    }

    pub fn au_json(a: &AdministrativeUnit) -> Value {
        json!({ "id": a.id, "displayName": a.display_name, "description": a.description, "visibility": null })
    }

    /// A directory object with its `@odata.type`, as `$expand=principal` and getByIds show it.
    pub fn directory_object(&self, id: &str) -> Option<Value> {
        let with_type = |mut v: Value, t: &str| {
            if let Some(o) = v.as_object_mut() {
                let mut m = Map::new();
                m.insert("@odata.type".into(), json!(t));
                m.extend(std::mem::take(o));
                *o = m;
            }
            v
        };
        if let Some(u) = self.users.iter().find(|u| u.id.eq_ignore_ascii_case(id)) {
            return Some(with_type(Store::user_json(u), "#microsoft.graph.user"));
        }
        if let Some(g) = self.groups.iter().find(|g| g.id.eq_ignore_ascii_case(id)) {
            return Some(with_type(Store::group_json(g), "#microsoft.graph.group"));
        }
        if let Some(s) = self
            .service_principals
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
        {
            return Some(with_type(
                Store::sp_json(s),
                "#microsoft.graph.servicePrincipal",
            ));
        }
        self.administrative_units
            .iter()
            .find(|a| a.id.eq_ignore_ascii_case(id))
            .map(|a| with_type(Store::au_json(a), "#microsoft.graph.administrativeUnit"))
    }

    /// Schedules visible to reads now (not expired, replicated).
    pub fn visible_schedules(
        &self,
        kind: Kind,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = &ScheduleRec> {
        self.schedules
            .iter()
            .filter(move |s| s.kind == kind && s.is_visible() && !s.is_expired(now))
    }

    /// Expired schedules stay renewable for 30 days, as in Entra.
    pub fn renewable(&self, s: &ScheduleRec, now: DateTime<Utc>) -> bool {
        s.end().is_none_or(|e| e + TimeDelta::days(30) > now)
    }
}

#[cfg(test)]
mod timestamp_tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_at_most_millisecond_precision() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        assert_eq!(ts(t), "2026-12-01T10:00:00Z");
        assert_eq!(
            ts(t + TimeDelta::nanoseconds(356_737_148)),
            "2026-12-01T10:00:00.356Z"
        );
        assert_eq!(ts(t + TimeDelta::nanoseconds(999)), "2026-12-01T10:00:00Z");
    }
}
