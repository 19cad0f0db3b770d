//! Azure resource roles (ARM) while the emulator runs: the scope tree
//! (tenant root > management groups > subscriptions > resource groups >
//! resources), Azure role definitions, and PIM's schedule requests,
//! schedules and per-scope policies, seeded from the tenant's `azure`
//! section and written back to it.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Kind, Store, parse_ts, ts};
use crate::tenant::{AzurePolicySeed, AzureRoleSeed, AzureScheduleSeed, AzureSeed, resolve_time};
use pim_model::IsoDuration;

/// Names the emulator makes up (policies, schedules, instances) are v5
/// UUIDs in this namespace: the same inputs give the same names on every run.
const ARM_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_3a55_90c4_4b7e_8e2a_41a7_7a52_6d01);

pub(crate) fn derived_name(parts: &str) -> String {
    Uuid::new_v5(&ARM_NAMESPACE, parts.to_ascii_lowercase().as_bytes()).to_string()
}

/// Where a scope sits in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScopeKind {
    /// `/`: above everything (tenant-level calls with no scope).
    Tenant,
    ManagementGroup,
    Subscription,
    ResourceGroup,
    Resource,
}

impl ScopeKind {
    /// `expandedProperties.scope.type` and `eligibleChildResources` `type`.
    pub fn wire(self) -> &'static str {
        match self {
            ScopeKind::Tenant => "tenant",
            ScopeKind::ManagementGroup => "managementgroup",
            ScopeKind::Subscription => "subscription",
            ScopeKind::ResourceGroup => "resourcegroup",
            ScopeKind::Resource => "resource",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ScopeRec {
    /// Canonical id as seeded: `/subscriptions/{id}`, `/` for the tenant.
    pub id: String,
    pub kind: ScopeKind,
    pub display_name: String,
    /// Index of the parent in `ArmStore::scopes`; `None` for `/` only.
    pub parent: Option<usize>,
    /// Subscription id of subscription, resource group and resource scopes.
    pub subscription: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AzureRole {
    /// Lower-case GUID.
    pub id: String,
    pub name: String,
    pub description: String,
    pub builtin: bool,
    /// Canonical scope ids; `/` for built-in roles.
    pub assignable_scopes: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ArmSchedule {
    pub kind: Kind,
    pub name: String,
    /// Name of the instance while the schedule is in force.
    pub instance: String,
    /// Canonical scope id.
    pub scope: String,
    /// Lower-case role GUID.
    pub role: String,
    /// Lower-case object id.
    pub principal: String,
    pub principal_type: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// Name of the request that made (or last changed) it.
    pub request: Option<String>,
    /// `Assigned` or `Activated` (active grants only).
    pub assignment_type: Option<String>,
    /// Activations: the eligibility schedule's name.
    pub linked: Option<String>,
    pub condition: Option<String>,
    pub condition_version: Option<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl ArmSchedule {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && self.end.is_none_or(|e| e > now)
    }

    /// Listed as a schedule: in force or still to come.
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        self.end.is_none_or(|e| e > now)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ArmRequest {
    pub kind: Kind,
    pub name: String,
    pub scope: String,
    /// What the client sent (normalised), to tell a repeated PUT from a
    /// different one under the same name.
    pub input: Value,
    /// `properties` as answered, without `expandedProperties`.
    pub props: Value,
    /// Approval-gated activations, once decided: the decision as the
    /// approval stage shows it (`reviewedBy`, `reviewedDateTime`,
    /// `reviewResult`, `justification`).
    pub review: Option<Value>,
}

impl ArmRequest {
    pub fn str(&self, key: &str) -> &str {
        self.props.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ArmPolicy {
    pub name: String,
    pub scope: String,
    pub role: String,
    pub rules: Vec<Value>,
    pub last_modified: Option<DateTime<Utc>>,
    pub last_modified_by: Option<String>,
    /// Whether its policy assignment exists.
    pub assigned: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ArmStore {
    pub scopes: Vec<ScopeRec>,
    /// Folded scope id → index.
    scope_index: HashMap<String, usize>,
    pub roles: Vec<AzureRole>,
    role_index: HashMap<String, usize>,
    pub schedules: Vec<ArmSchedule>,
    pub requests: Vec<ArmRequest>,
    pub policies: Vec<ArmPolicy>,
}

static BUILTIN_AZURE_ROLES: LazyLock<Vec<AzureRole>> = LazyLock::new(|| {
    pim_model::azure_builtin_roles()
        .iter()
        .map(|r| AzureRole {
            id: r.id.to_ascii_lowercase(),
            name: r.display_name.clone(),
            description: String::new(),
            builtin: true,
            assignable_scopes: vec!["/".into()],
        })
        .collect()
});

/// The 17 rules a policy starts with. UNVERIFIED: no source publishes
/// ARM's defaults; the file is a best guess (see its `evidence`).
static DEFAULT_RULES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let doc: Value =
        serde_json::from_str(pim_model::default_azure_rules_json()).unwrap_or(Value::Null);
    doc.get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
});

pub(crate) fn default_rules() -> &'static [Value] {
    &DEFAULT_RULES
}

/// Fold a scope path for lookups: case, trailing slash, and the
/// `/providers/Microsoft.Subscription` alias the spec examples use.
pub(crate) fn fold_scope(path: &str) -> String {
    let mut s = path.trim().trim_end_matches('/').to_ascii_lowercase();
    if let Some(rest) = s.strip_prefix("/providers/microsoft.subscription") {
        s = rest.to_string();
    }
    if !s.starts_with('/') {
        s.insert(0, '/');
    }
    s
}

/// The GUID at the end of a role definition id (or the text itself).
pub(crate) fn role_guid(text: &str) -> String {
    text.trim()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn mg_id(name: &str) -> String {
    format!("/providers/Microsoft.Management/managementGroups/{name}")
}

impl ArmStore {
    /// The tree and grants of `seed`; principals are resolved against `dir`.
    pub fn from_seed(
        seed: Option<&AzureSeed>,
        dir: &Store,
        now: DateTime<Utc>,
    ) -> Result<ArmStore, String> {
        let mut arm = ArmStore::default();
        arm.push_scope("/", ScopeKind::Tenant, "Tenant".into(), None, None);
        let Some(seed) = seed else {
            arm.add_roles(&[])?;
            return Ok(arm);
        };
        // The tenant root group is named after the tenant, as in Azure.
        let root = arm.push_scope(
            &mg_id(&dir.tenant_id),
            ScopeKind::ManagementGroup,
            "Tenant Root Group".into(),
            Some(0),
            None,
        );
        // Parents may be listed after their children: add all, then link.
        let mut pending: Vec<(usize, Option<String>)> = Vec::new();
        for mg in &seed.management_groups {
            if arm.find_scope(&mg_id(&mg.id)).is_some() {
                return Err(format!("management group {} is listed twice", mg.id));
            }
            let i = arm.push_scope(
                &mg_id(&mg.id),
                ScopeKind::ManagementGroup,
                mg.display_name.clone().unwrap_or_else(|| mg.id.clone()),
                Some(root),
                None,
            );
            pending.push((i, mg.parent.clone()));
        }
        for (i, parent) in pending {
            if let Some(p) = parent {
                let pi = arm
                    .find_scope(&mg_id(&p))
                    .ok_or_else(|| format!("management group {p} (a parent) is not listed"))?;
                arm.scopes[i].parent = Some(pi);
            }
        }
        // A cycle would make every ancestor walk endless.
        for i in 0..arm.scopes.len() {
            if arm.ancestors(i).len() > arm.scopes.len() {
                return Err(format!(
                    "management group {} is its own ancestor",
                    arm.scopes[i].id
                ));
            }
        }
        for s in &seed.subscriptions {
            let parent = match &s.management_group {
                Some(mg) => arm.find_scope(&mg_id(mg)).ok_or_else(|| {
                    format!("subscription {}: unknown management group {mg}", s.id)
                })?,
                None => root,
            };
            let id = format!("/subscriptions/{}", s.id);
            if arm.find_scope(&id).is_some() {
                return Err(format!("subscription {} is listed twice", s.id));
            }
            arm.push_scope(
                &id,
                ScopeKind::Subscription,
                s.display_name.clone(),
                Some(parent),
                Some(s.id.clone()),
            );
        }
        for rg in &seed.resource_groups {
            let sub = format!("/subscriptions/{}", rg.subscription);
            let parent = arm.find_scope(&sub).ok_or_else(|| {
                format!(
                    "resource group {}: unknown subscription {}",
                    rg.name, rg.subscription
                )
            })?;
            let sub_id = arm.scopes[parent].subscription.clone();
            let id = format!("{}/resourceGroups/{}", arm.scopes[parent].id, rg.name);
            arm.push_scope(
                &id,
                ScopeKind::ResourceGroup,
                rg.name.clone(),
                Some(parent),
                sub_id,
            );
        }
        for r in &seed.resources {
            let folded = fold_scope(&r.id);
            let (rg, _) = folded
                .split_once("/providers/")
                .filter(|(rg, rest)| {
                    rg.starts_with("/subscriptions/")
                        && rg.contains("/resourcegroups/")
                        && rest.contains('/')
                })
                .ok_or_else(|| format!("resource {}: not a resource id", r.id))?;
            let parent = arm
                .find_scope(rg)
                .ok_or_else(|| format!("resource {}: unknown resource group", r.id))?;
            let id = r.id.trim_end_matches('/');
            let name = id.rsplit('/').next().unwrap_or(id).to_string();
            let sub_id = arm.scopes[parent].subscription.clone();
            arm.push_scope(id, ScopeKind::Resource, name, Some(parent), sub_id);
        }
        arm.add_roles(&seed.role_definitions)?;
        for p in &seed.policies {
            arm.apply_policy_seed(p)?;
        }
        let mut names = std::collections::HashSet::new();
        for (kind, list) in [
            (Kind::Eligibility, &seed.eligibility_schedules),
            (Kind::Assignment, &seed.assignment_schedules),
        ] {
            for s in list {
                let rec = arm.schedule_from_seed(kind, s, dir, now)?;
                if !names.insert(rec.name.to_ascii_lowercase()) {
                    return Err(format!("Azure schedule name {} is used twice", rec.name));
                }
                arm.schedules.push(rec);
            }
        }
        for (kind, list) in [
            (Kind::Eligibility, &seed.eligibility_requests),
            (Kind::Assignment, &seed.assignment_requests),
        ] {
            for r in list {
                arm.requests.push(request_from_seed(&arm, kind, r)?);
            }
        }
        Ok(arm)
    }

    fn push_scope(
        &mut self,
        id: &str,
        kind: ScopeKind,
        display_name: String,
        parent: Option<usize>,
        subscription: Option<String>,
    ) -> usize {
        let i = self.scopes.len();
        self.scopes.push(ScopeRec {
            id: id.to_string(),
            kind,
            display_name,
            parent,
            subscription,
        });
        self.scope_index.insert(fold_scope(id), i);
        i
    }

    fn add_roles(&mut self, custom: &[AzureRoleSeed]) -> Result<(), String> {
        self.roles = BUILTIN_AZURE_ROLES.clone();
        for c in custom {
            let id = role_guid(&c.id);
            if Uuid::parse_str(&id).is_err() {
                return Err(format!("Azure role {}: the id is not a GUID", c.id));
            }
            if self.roles.iter().any(|r| r.id == id) {
                return Err(format!("Azure role id {} is already used", c.id));
            }
            let mut scopes = Vec::new();
            for s in &c.assignable_scopes {
                let i = self.find_scope(s).ok_or_else(|| {
                    format!("Azure role {}: unknown assignable scope {s}", c.role_name)
                })?;
                scopes.push(self.scopes[i].id.clone());
            }
            if scopes.is_empty() {
                return Err(format!(
                    "Azure role {}: assignableScopes is empty",
                    c.role_name
                ));
            }
            self.roles.push(AzureRole {
                id,
                name: c.role_name.clone(),
                description: c.description.clone().unwrap_or_default(),
                builtin: false,
                assignable_scopes: scopes,
            });
        }
        self.role_index = self
            .roles
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        Ok(())
    }

    pub fn find_scope(&self, path: &str) -> Option<usize> {
        self.scope_index.get(&fold_scope(path)).copied()
    }

    /// `i` and its ancestors, nearest first.
    pub fn ancestors(&self, i: usize) -> Vec<usize> {
        let mut out = vec![i];
        let mut cur = self.scopes.get(i).and_then(|s| s.parent);
        while let Some(p) = cur {
            // A cycle in a seed is refused at load; this guards the check itself.
            if out.len() > self.scopes.len() {
                break;
            }
            out.push(p);
            cur = self.scopes[p].parent;
        }
        out
    }

    /// Whether scope `a` is `b` or above it.
    pub fn is_at_or_above(&self, a: usize, b: usize) -> bool {
        self.ancestors(b).contains(&a)
    }

    pub fn scope_of(&self, id: &str) -> Option<&ScopeRec> {
        self.find_scope(id).map(|i| &self.scopes[i])
    }

    pub fn role(&self, text: &str) -> Option<&AzureRole> {
        self.role_index
            .get(&role_guid(text))
            .map(|&i| &self.roles[i])
    }

    /// A role by GUID, full id or role name (any case).
    fn resolve_role(&self, text: &str) -> Option<&AzureRole> {
        self.role(text).or_else(|| {
            self.roles
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(text.trim()))
        })
    }

    /// Whether `role` can be granted at scope `i`: built-in everywhere,
    /// custom at or below one of its assignable scopes.
    pub fn role_usable_at(&self, role: &AzureRole, i: usize) -> bool {
        let up = self.ancestors(i);
        role.assignable_scopes
            .iter()
            .any(|s| s == "/" || self.find_scope(s).is_some_and(|a| up.contains(&a)))
    }

    /// Index of the policy of `role` at scope `scope` (canonical id),
    /// made with the default rules the first time it is asked for, as
    /// ARM holds one for every role at every scope.
    pub fn policy_index(&mut self, scope: &str, role: &str) -> usize {
        let fs = fold_scope(scope);
        let role = role.to_ascii_lowercase();
        if let Some(i) = self
            .policies
            .iter()
            .position(|p| p.role == role && fold_scope(&p.scope) == fs)
        {
            return i;
        }
        self.policies.push(ArmPolicy {
            name: derived_name(&format!("policy/{fs}/{role}")),
            scope: scope.to_string(),
            role,
            rules: default_rules().to_vec(),
            last_modified: None,
            last_modified_by: None,
            assigned: true,
        });
        self.policies.len() - 1
    }

    fn apply_policy_seed(&mut self, p: &AzurePolicySeed) -> Result<(), String> {
        let i = self
            .find_scope(&p.scope)
            .ok_or_else(|| format!("Azure policy: unknown scope {}", p.scope))?;
        let scope = self.scopes[i].id.clone();
        let role = self
            .resolve_role(&p.role)
            .ok_or_else(|| format!("Azure policy: unknown role {}", p.role))?
            .id
            .clone();
        let pi = self.policy_index(&scope, &role);
        let policy = &mut self.policies[pi];
        if let Some(id) = &p.id {
            policy.name = id.to_ascii_lowercase();
        }
        for r in &p.rules {
            let id = r
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("Azure policy {}: a rule has no id", p.role))?;
            let rule = policy
                .rules
                .iter_mut()
                .find(|x| x.get("id").and_then(Value::as_str) == Some(id))
                .ok_or_else(|| format!("Azure policy {}: unknown rule {id}", p.role))?;
            merge(rule, r);
        }
        policy.last_modified = match &p.last_modified_date_time {
            Some(t) => Some(parse_ts(t).ok_or_else(|| format!("Azure policy: bad time {t}"))?),
            None => None,
        };
        policy.last_modified_by = p.last_modified_by.clone();
        policy.assigned = !p.unassigned;
        Ok(())
    }

    fn schedule_from_seed(
        &self,
        kind: Kind,
        s: &AzureScheduleSeed,
        dir: &Store,
        now: DateTime<Utc>,
    ) -> Result<ArmSchedule, String> {
        let what = format!("Azure schedule of {} ({})", s.principal, s.role);
        let (principal, ptype) = dir
            .resolve_principal(&s.principal)
            .ok_or_else(|| format!("{what}: unknown principal"))?;
        let si = self
            .find_scope(&s.scope)
            .ok_or_else(|| format!("{what}: unknown scope {}", s.scope))?;
        let role = self
            .resolve_role(&s.role)
            .ok_or_else(|| format!("{what}: unknown role"))?;
        if !self.role_usable_at(role, si) {
            return Err(format!("{what}: the role is not assignable at {}", s.scope));
        }
        let time = |t: &Option<String>| t.as_deref().map(|x| resolve_time(x, now)).transpose();
        let start = time(&s.start)?.unwrap_or(now);
        let end = match (time(&s.end)?, &s.duration) {
            (Some(e), _) => Some(e),
            (None, Some(d)) => {
                let d: IsoDuration = d.parse().map_err(|e| format!("{what}: {e}"))?;
                Some(
                    d.add_to(start)
                        .ok_or_else(|| format!("{what}: out of range"))?,
                )
            }
            (None, None) => None,
        };
        let name = match &s.id {
            Some(id) => id.to_ascii_lowercase(),
            None => derived_name(&format!(
                "schedule/{kind:?}/{}/{}/{principal}",
                s.scope, role.id
            )),
        };
        let created = time(&s.created_on)?.unwrap_or(start);
        Ok(ArmSchedule {
            kind,
            instance: s
                .instance_id
                .clone()
                .unwrap_or_else(|| instance_name(&name, start)),
            name,
            scope: self.scopes[si].id.clone(),
            role: role.id.clone(),
            principal,
            principal_type: principal_type_wire(ptype).into(),
            start,
            end,
            request: s.created_using.clone(),
            assignment_type: match kind {
                Kind::Assignment => Some(s.assignment_type.clone().unwrap_or("Assigned".into())),
                Kind::Eligibility => None,
            },
            linked: s.linked_eligibility.clone(),
            condition: s.condition.clone(),
            condition_version: s.condition_version.clone(),
            created,
            updated: time(&s.updated_on)?.unwrap_or(created),
        })
    }

    /// The `azure` section that gives this state back.
    pub fn to_seed(&self) -> Option<AzureSeed> {
        // Only `/` and the root group: no `azure` section was given.
        if self.scopes.len() <= 1 {
            return None;
        }
        let mut seed = AzureSeed::default();
        let name_of = |i: Option<usize>| -> Option<String> {
            i.map(|p| &self.scopes[p])
                .filter(|p| p.kind == ScopeKind::ManagementGroup && p.parent != Some(0))
                .map(|p| p.id.rsplit('/').next().unwrap_or("").to_string())
        };
        for s in &self.scopes {
            match s.kind {
                ScopeKind::ManagementGroup if s.parent != Some(0) => {
                    seed.management_groups
                        .push(crate::tenant::ManagementGroupSeed {
                            id: s.id.rsplit('/').next().unwrap_or("").to_string(),
                            display_name: Some(s.display_name.clone()),
                            parent: name_of(s.parent),
                        })
                }
                ScopeKind::Subscription => {
                    seed.subscriptions.push(crate::tenant::SubscriptionSeed {
                        id: s.subscription.clone().unwrap_or_default(),
                        display_name: s.display_name.clone(),
                        management_group: name_of(s.parent),
                    })
                }
                ScopeKind::ResourceGroup => {
                    seed.resource_groups.push(crate::tenant::ResourceGroupSeed {
                        subscription: s.subscription.clone().unwrap_or_default(),
                        name: s.display_name.clone(),
                    })
                }
                ScopeKind::Resource => seed
                    .resources
                    .push(crate::tenant::ResourceSeed { id: s.id.clone() }),
                _ => {}
            }
        }
        seed.role_definitions = self
            .roles
            .iter()
            .filter(|r| !r.builtin)
            .map(|r| AzureRoleSeed {
                id: r.id.clone(),
                role_name: r.name.clone(),
                description: (!r.description.is_empty()).then(|| r.description.clone()),
                assignable_scopes: r.assignable_scopes.clone(),
            })
            .collect();
        let defaults = default_rules();
        for p in &self.policies {
            let changed: Vec<Value> = p
                .rules
                .iter()
                .filter(|r| !defaults.contains(r))
                .cloned()
                .collect();
            let derived = derived_name(&format!("policy/{}/{}", fold_scope(&p.scope), p.role));
            if changed.is_empty() && p.last_modified.is_none() && p.assigned && p.name == derived {
                continue;
            }
            seed.policies.push(AzurePolicySeed {
                scope: p.scope.clone(),
                role: p.role.clone(),
                id: (p.name != derived).then(|| p.name.clone()),
                rules: changed,
                last_modified_date_time: p.last_modified.map(ts),
                last_modified_by: p.last_modified_by.clone(),
                unassigned: !p.assigned,
            });
        }
        for s in &self.schedules {
            let out = AzureScheduleSeed {
                id: Some(s.name.clone()),
                instance_id: Some(s.instance.clone()),
                principal: s.principal.clone(),
                role: s.role.clone(),
                scope: s.scope.clone(),
                start: Some(ts(s.start)),
                end: s.end.map(ts),
                duration: None,
                created_using: s.request.clone(),
                created_on: Some(ts(s.created)),
                updated_on: Some(ts(s.updated)),
                assignment_type: s.assignment_type.clone(),
                linked_eligibility: s.linked.clone(),
                condition: s.condition.clone(),
                condition_version: s.condition_version.clone(),
            };
            match s.kind {
                Kind::Eligibility => seed.eligibility_schedules.push(out),
                Kind::Assignment => seed.assignment_schedules.push(out),
            }
        }
        for r in &self.requests {
            let mut v = json!({ "name": r.name, "properties": r.props, "input": r.input });
            if let Some(review) = &r.review {
                v["review"] = review.clone();
            }
            match r.kind {
                Kind::Eligibility => seed.eligibility_requests.push(v),
                Kind::Assignment => seed.assignment_requests.push(v),
            }
        }
        Some(seed)
    }
}

/// "hash of schedule name + time", as the spec describes instance names.
pub(crate) fn instance_name(schedule: &str, start: DateTime<Utc>) -> String {
    derived_name(&format!("instance/{schedule}/{}", ts(start)))
}

pub(crate) fn principal_type_wire(t: super::PrincipalType) -> &'static str {
    match t {
        super::PrincipalType::User => "User",
        super::PrincipalType::Group { .. } => "Group",
        super::PrincipalType::ServicePrincipal => "ServicePrincipal",
    }
}

/// Copy `patch`'s keys over `rule`'s (objects merged key by key).
pub(crate) fn merge(rule: &mut Value, patch: &Value) {
    match (rule, patch) {
        (Value::Object(r), Value::Object(p)) => {
            for (k, v) in p {
                match r.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        r.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (r, p) => *r = p.clone(),
    }
}

fn request_from_seed(arm: &ArmStore, kind: Kind, v: &Value) -> Result<ArmRequest, String> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or("an Azure schedule request has no name")?
        .to_ascii_lowercase();
    let props = v
        .get("properties")
        .filter(|p| p.is_object())
        .cloned()
        .ok_or_else(|| format!("Azure schedule request {name}: no properties"))?;
    let scope_text = props.get("scope").and_then(Value::as_str).unwrap_or("");
    let scope = arm
        .scope_of(scope_text)
        .ok_or_else(|| format!("Azure schedule request {name}: unknown scope {scope_text:?}"))?
        .id
        .clone();
    let mut props = props;
    if let Some(o) = props.as_object_mut() {
        o.remove("expandedProperties");
        o.insert("scope".into(), json!(scope));
    }
    let input = match v.get("input") {
        Some(i) if i.is_object() => i.clone(),
        _ => crate::arm::requests::input_of(&props),
    };
    Ok(ArmRequest {
        kind,
        name,
        scope,
        input,
        props,
        review: v.get("review").filter(|r| r.is_object()).cloned(),
    })
}
