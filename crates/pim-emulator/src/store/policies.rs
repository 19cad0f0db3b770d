//! Role definitions and the policies of every surface (a directory role's,
//! a group's member and owner policies): the rules, the defaults each
//! starts from, rule normalization and merge, lookups by target or id.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::{Store, Surface};
use pim_model::{IsoDuration, RuleId, default_rules_json};

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

/// What a policy governs: a directory role in the whole directory, or one
/// access (member, owner) of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PolicyScope {
    Directory,
    /// The group's id, lower case.
    Group(String),
}

#[derive(Debug, Clone)]
pub(crate) struct PolicyRec {
    /// `<tenantId>_<policyGuid>` (directory roles) or `<groupId>_<policyGuid>`
    /// (groups); the id is `<scopeType>_` + this.
    pub suffix: String,
    pub scope: PolicyScope,
    /// A role definition id, or a group's access (`member`, `owner`).
    pub role_id: String,
    pub rules: Vec<Value>,
    pub last_modified: Option<String>,
    pub last_modified_by: Option<String>,
}

impl PolicyRec {
    pub fn surface(&self) -> Surface {
        match self.scope {
            PolicyScope::Directory => Surface::DirectoryRole,
            PolicyScope::Group(_) => Surface::Group,
        }
    }

    /// The scope type the policy is answered under: a group's is always
    /// `Group`; a directory role's is the one the client asked for
    /// (`DirectoryRole` or the older `Directory`).
    pub fn scope_type<'a>(&self, asked: &'a str) -> &'a str {
        match self.scope {
            PolicyScope::Directory => asked,
            PolicyScope::Group(_) => "Group",
        }
    }

    pub fn scope_id(&self) -> &str {
        match &self.scope {
            PolicyScope::Directory => "/",
            PolicyScope::Group(g) => g,
        }
    }

    pub fn id(&self, scope_type: &str) -> String {
        format!("{}_{}", self.scope_type(scope_type), self.suffix)
    }

    pub fn to_json(&self, scope_type: &str) -> Value {
        let scope_type = self.scope_type(scope_type);
        json!({
            "id": self.id(scope_type),
            "displayName": scope_type,
            "description": scope_type,
            "isOrganizationDefault": false,
            "scopeId": self.scope_id(),
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

static DEFAULT_RULES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let doc: Value = serde_json::from_str(default_rules_json()).unwrap_or(Value::Null);
    doc.get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
});

/// The 17 rules of a group's policy as the docs' example shows them (the
/// owner policy; the member policy is assumed to start the same,
/// UNVERIFIED), in that example's order.
static DEFAULT_GROUP_RULES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let doc: Value = serde_json::from_str(include_str!("default_group_policy_rules.json"))
        .unwrap_or(Value::Null);
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

/// The rules a policy of `surface` starts with.
pub(super) fn default_rules(surface: Surface) -> Vec<Value> {
    match surface {
        Surface::DirectoryRole => RuleId::ALL
            .iter()
            .filter_map(|id| default_rule(*id))
            .collect(),
        Surface::Group => DEFAULT_GROUP_RULES.clone(),
    }
}

/// `operations` as the surface's examples write them: `all` for directory
/// roles, `All` for groups (UNVERIFIED whether Graph really differs, or
/// only its examples do; clients should compare without case).
fn operation_case(surface: Surface, op: &str) -> String {
    match surface {
        Surface::DirectoryRole => op.to_ascii_lowercase(),
        Surface::Group => super::pascal(&op.to_ascii_lowercase()),
    }
}

/// Put a rule in the form Graph returns: `operations` in the surface's
/// case, no `@odata.type` on nested complex values. The target's `caller`
/// and `level` are kept as sent, as Graph stores them: rewriting them from
/// the rule id would hide a client that sent a wrong target. Only when they
/// are missing are they filled in from the rule id (UNVERIFIED what Graph
/// stores then).
pub(crate) fn normalize_rule(surface: Surface, id: RuleId, rule: &mut Value) {
    let Some(obj) = rule.as_object_mut() else {
        return;
    };
    obj.insert("@odata.type".into(), json!(id.odata_type()));
    obj.insert("id".into(), json!(id.as_str()));
    // Graph stores maximumDuration as a TimeSpan and answers it in canonical
    // form (`PT24H` as `P1D`); what cannot be read is left for validation.
    if let Some(d) = obj
        .get("maximumDuration")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<IsoDuration>().ok())
    {
        obj.insert("maximumDuration".into(), json!(d.canonical().to_string()));
    }
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
                    .map(|s| json!(operation_case(surface, s)))
                    .collect()
            })
            .unwrap_or_else(|| vec![json!(operation_case(surface, "all"))]);
        t.entry("caller").or_insert_with(|| json!(caller));
        t.insert("operations".into(), Value::Array(ops));
        t.entry("level").or_insert_with(|| json!(level));
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

impl Store {
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

    /// The policy that governs grants of `role` at `scope` on `surface`:
    /// a directory role has one policy whatever the scope; a group one per
    /// access.
    pub fn policy_for(&self, surface: Surface, role: &str, scope: &str) -> Option<&PolicyRec> {
        self.policies.iter().find(|p| {
            p.role_id.eq_ignore_ascii_case(role)
                && match &p.scope {
                    PolicyScope::Directory => surface == Surface::DirectoryRole,
                    PolicyScope::Group(g) => {
                        surface == Surface::Group && g.eq_ignore_ascii_case(scope)
                    }
                }
        })
    }

    /// The policy with this id: `Group_…` for groups, and both the
    /// `Directory_` and `DirectoryRole_` forms for directory roles.
    pub fn policy_index(&self, id: &str) -> Option<usize> {
        if let Some(suffix) = id.strip_prefix("Group_") {
            return self.policies.iter().position(|p| {
                p.surface() == Surface::Group && p.suffix.eq_ignore_ascii_case(suffix)
            });
        }
        let suffix = id
            .strip_prefix("DirectoryRole_")
            .or_else(|| id.strip_prefix("Directory_"))?;
        self.policies.iter().position(|p| {
            p.surface() == Surface::DirectoryRole && p.suffix.eq_ignore_ascii_case(suffix)
        })
    }
}
