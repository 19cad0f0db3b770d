//! `policies/roleManagementPolicies` (reads, policy and rule PATCH) and
//! `policies/roleManagementPolicyAssignments`, with their scope filters:
//! the directory's role policies, or one group's member and owner policies
//! (whose first change onboards the group, changing both their ids).

use std::borrow::Cow;

use serde_json::{Value, json};

use super::listing::{Listing, list, no_expand};
use super::rules::patch_rule;
use super::{GraphResponse, IncomingCall, Link, METADATA, parse_body, with_context};
use crate::Caller;
use crate::error::{ApiError, ApiResult};
use crate::odata::{CmpOp, Expr, Lit};
use crate::odata::{ExpandItem, Query, apply_select, context_projection};
use crate::store::{PolicyRec, PolicyScope, Store, Surface, ts};
use pim_model::RuleId;

/// The policies a query asks for: the directory's, answered under the
/// scope type asked (`DirectoryRole` or `Directory`), or one group's.
enum Scoped {
    Directory(&'static str),
    Group(String),
}

impl Scoped {
    fn scope_type(&self) -> &'static str {
        match self {
            Scoped::Directory(t) => t,
            Scoped::Group(_) => "Group",
        }
    }

    fn holds(&self, p: &PolicyRec) -> bool {
        match (self, &p.scope) {
            (Scoped::Directory(_), PolicyScope::Directory) => true,
            (Scoped::Group(g), PolicyScope::Group(pg)) => g.eq_ignore_ascii_case(pg),
            _ => false,
        }
    }
}

/// `scopeId eq '…'` and `scopeType eq '…'` among a filter's conjuncts.
fn scope_filter(q: &Query) -> (Option<&str>, Option<&str>) {
    let mut scope_id = None;
    let mut scope_type = None;
    if let Some(f) = &q.filter {
        for c in f.conjuncts() {
            if let Expr::Cmp(p, CmpOp::Eq, Lit::Str(v)) = c {
                if p == "scopeId" {
                    scope_id = Some(v.as_str());
                } else if p == "scopeType" {
                    scope_type = Some(v.as_str());
                }
            }
        }
    }
    (scope_id, scope_type)
}

/// Whether a policy query is about a group's policies (for the
/// permissions it needs).
pub(super) fn asks_for_groups(q: &Query) -> bool {
    scope_filter(q)
        .1
        .is_some_and(|t| t.eq_ignore_ascii_case("Group"))
}

/// The scope a policy query asks for; anything but the tenant scope of
/// directory roles or a group id with `Group` is the PIM backend's
/// MissingProvider error (for groups UNVERIFIED, as for directory roles
/// observed).
fn required_scope(q: &Query) -> ApiResult<Scoped> {
    match scope_filter(q) {
        (Some("/"), Some(t)) if t.eq_ignore_ascii_case("DirectoryRole") => {
            Ok(Scoped::Directory("DirectoryRole"))
        }
        (Some("/"), Some(t)) if t.eq_ignore_ascii_case("Directory") => {
            Ok(Scoped::Directory("Directory"))
        }
        (Some(g), Some(t)) if t.eq_ignore_ascii_case("Group") && g != "/" => {
            Ok(Scoped::Group(g.to_string()))
        }
        _ => Err(ApiError::missing_provider()),
    }
}

fn scope_type_of(id: &str) -> &'static str {
    if id.starts_with("Group_") {
        "Group"
    } else if id.starts_with("Directory_") {
        "Directory"
    } else {
        "DirectoryRole"
    }
}

/// A change to the policy at `i`: a group's first one onboards the group,
/// which gives both its policies new ids. Returns the policy's id now.
fn changed(store: &mut Store, i: usize, scope_type: &str) -> String {
    if let PolicyScope::Group(g) = &store.policies[i].scope {
        let g = g.clone();
        store.onboard(&g);
    }
    store.policies[i].id(scope_type)
}

/// The policy whose id a rendered item holds under `key`; the item was
/// rendered from the store, so a miss is the emulator's own fault.
fn policy_named<'s>(store: &'s Store, item: &Value, key: &str) -> ApiResult<&'s PolicyRec> {
    item.get(key)
        .and_then(Value::as_str)
        .and_then(|id| store.policy_index(id))
        .map(|i| &store.policies[i])
        .ok_or_else(ApiError::internal)
}

fn rules_json(p: &PolicyRec, select: &[String]) -> Vec<Value> {
    p.rules
        .iter()
        .map(|r| {
            let mut r = r.clone();
            apply_select(&mut r, select, &[]);
            r
        })
        .collect()
}

fn expand_policy(
    p: &PolicyRec,
    scope_type: &str,
    item: &mut Value,
    e: &ExpandItem,
) -> ApiResult<()> {
    match e.name.as_str() {
        "rules" | "effectiveRules" => {
            if !e.expand.is_empty() {
                return Err(ApiError::bad_request(
                    "Nested $expand is not supported on rules.",
                ));
            }
            if let Some(o) = item.as_object_mut() {
                if !e.select.is_empty() {
                    o.insert(
                        format!("{}@odata.context", e.name),
                        json!(format!(
                            "{METADATA}policies/roleManagementPolicies('{}')/{}({})",
                            p.id(scope_type),
                            e.name,
                            e.select.join(",")
                        )),
                    );
                }
                o.insert(e.name.clone(), Value::Array(rules_json(p, &e.select)));
            }
            Ok(())
        }
        other => Err(ApiError::bad_request(format!(
            "Could not find a property named '{other}' on type 'microsoft.graph.unifiedRoleManagementPolicy'."
        ))),
    }
}

pub(super) fn policies(
    store: &mut Store,
    call: &IncomingCall<'_>,
    rest: &[&str],
    q: &Query,
    link: &Link<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<GraphResponse> {
    match (call.method, rest) {
        ("GET", []) => {
            let scoped = required_scope(q)?;
            let scope_type = scoped.scope_type();
            let items: Vec<Cow<'_, Value>> = store
                .policies
                .iter()
                .filter(|p| scoped.holds(p))
                .map(|p| Cow::Owned(p.to_json(scope_type)))
                .collect();
            let spec = Listing {
                context: format!("{METADATA}policies/roleManagementPolicies"),
                entity: "unifiedRoleManagementPolicy",
                filterable: &[
                    "scopeId",
                    "scopeType",
                    "isOrganizationDefault",
                    "id",
                    "displayName",
                ],
                ordered: &[],
            };
            let st = scope_type;
            list(items, &spec, q, link, link.policy_page, |item, e| {
                expand_policy(policy_named(store, item, "id")?, st, item, e)
            })
        }
        ("GET", [id]) => {
            q.only(&["$select", "$expand"])?;
            let p = &store.policies[find_policy(store, id)?];
            let st = scope_type_of(id);
            let mut v = p.to_json(st);
            for e in &q.expand {
                expand_policy(p, st, &mut v, e)?;
            }
            apply_select(&mut v, &q.select, &q.expand);
            with_context(
                &mut v,
                &format!(
                    "{METADATA}policies/roleManagementPolicies{}/$entity",
                    context_projection(&q.select, &q.expand)
                ),
            );
            Ok(GraphResponse::ok(v))
        }
        ("PATCH", [id]) => {
            q.only(&[])?;
            let i = find_policy(store, id)?;
            let body = parse_body(call.body)?;
            let rules = body
                .get("rules")
                .and_then(Value::as_array)
                .ok_or_else(|| ApiError::bad_request("The request body must contain 'rules'."))?;
            let mut updated = store.policies[i].clone();
            for r in rules {
                let rid = r
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::bad_request("Every rule needs an 'id'."))?;
                patch_rule(&mut updated, rid, r)?;
            }
            updated.last_modified = Some(ts(now));
            updated.last_modified_by = Some(caller_name(store, call.caller));
            let st = scope_type_of(id);
            store.policies[i] = updated;
            // UNVERIFIED: whether Graph answers the first change of a group's
            // policy under its old id or the onboarded one; the emulator
            // answers what the policy is now.
            changed(store, i, st);
            let mut v = store.policies[i].to_json(st);
            with_context(
                &mut v,
                &format!("{METADATA}policies/roleManagementPolicies/$entity"),
            );
            let mut r = GraphResponse::ok(v);
            r.wrote = true;
            Ok(r)
        }
        ("GET", [id, "rules"]) | ("GET", [id, "effectiveRules"]) => {
            let p = &store.policies[find_policy(store, id)?];
            let nav = rest[1];
            let spec = Listing {
                context: format!("{METADATA}policies/roleManagementPolicies('{id}')/{nav}"),
                entity: "unifiedRoleManagementPolicyRule",
                filterable: &["id", "target/caller", "target/level"],
                ordered: &[],
            };
            list(
                p.rules.iter().map(Cow::Borrowed).collect(),
                &spec,
                q,
                link,
                100,
                |_, e| no_expand(e, "unifiedRoleManagementPolicyRule"),
            )
        }
        ("GET", [id, "rules" | "effectiveRules", rule_id]) => {
            q.only(&["$select"])?;
            let p = &store.policies[find_policy(store, id)?];
            let rid = RuleId::parse(rule_id).ok_or_else(|| invalid_rule(rule_id))?;
            let mut v = p.rule(rid).cloned().ok_or_else(|| invalid_rule(rule_id))?;
            apply_select(&mut v, &q.select, &[]);
            with_context(
                &mut v,
                &format!(
                    "{METADATA}policies/roleManagementPolicies('{id}')/{}/$entity",
                    rest[1]
                ),
            );
            Ok(GraphResponse::ok(v))
        }
        ("PATCH", [id, "rules", rule_id]) => {
            q.only(&[])?;
            let i = find_policy(store, id)?;
            let body = parse_body(call.body)?;
            let mut updated = store.policies[i].clone();
            patch_rule(&mut updated, rule_id, &body)?;
            let rid = RuleId::parse(rule_id).ok_or_else(|| invalid_rule(rule_id))?;
            let out = updated.rule(rid).cloned();
            store.policies[i] = updated;
            let now_id = changed(store, i, scope_type_of(id));
            // The newer v1.0 pages answer a group policy's rule PATCH with
            // 200 and the rule (graph-pim-groups.md §1.4); directory roles
            // answer 204 unless configured otherwise.
            let with_body = link.rule_patch_body || store.policies[i].surface() == Surface::Group;
            if with_body {
                let mut v = out.unwrap_or(Value::Null);
                with_context(
                    &mut v,
                    &format!("{METADATA}policies/roleManagementPolicies('{now_id}')/rules/$entity"),
                );
                let mut r = GraphResponse::ok(v);
                r.wrote = true;
                return Ok(r);
            }
            Ok(GraphResponse::no_content(true))
        }
        _ => Err(ApiError::no_route(call.method, call.path)),
    }
}

/// The display name Graph shows in `lastModifiedBy`.
fn caller_name(store: &Store, caller: &Caller) -> String {
    let id = caller.object_id.as_str();
    store
        .users
        .iter()
        .find(|u| u.id.eq_ignore_ascii_case(id))
        .map(|u| u.display_name.clone())
        .or_else(|| {
            store
                .service_principals
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(id))
                .map(|s| s.display_name.clone())
        })
        .or_else(|| caller.display_name.clone())
        .unwrap_or_else(|| id.to_string())
}

fn find_policy(store: &Store, id: &str) -> ApiResult<usize> {
    store
        .policy_index(id)
        .ok_or_else(|| ApiError::not_found(format!("No policy with id '{id}' was found.")))
}

pub(super) fn invalid_rule(id: &str) -> ApiError {
    ApiError::bad_request(format!("The policy rule id {id} is invalid."))
}

pub(super) fn policy_assignments(
    store: &Store,
    m: &str,
    rest: &[&str],
    q: &Query,
    link: &Link<'_>,
) -> ApiResult<GraphResponse> {
    let assignment = |p: &PolicyRec, st: &str| {
        json!({
            "id": format!("{}_{}", p.id(st), p.role_id),
            "policyId": p.id(st),
            "scopeId": p.scope_id(),
            "scopeType": p.scope_type(st),
            "roleDefinitionId": p.role_id,
        })
    };
    let expand = |item: &mut Value, e: &ExpandItem, st: &str| -> ApiResult<()> {
        if e.name != "policy" {
            return no_expand(e, "unifiedRoleManagementPolicyAssignment");
        }
        let p = policy_named(store, item, "policyId")?;
        let mut v = p.to_json(st);
        for inner in &e.expand {
            expand_policy(p, st, &mut v, inner)?;
        }
        apply_select(&mut v, &e.select, &e.expand);
        if let Some(o) = item.as_object_mut() {
            o.insert("policy".into(), v);
        }
        Ok(())
    };
    match (m, rest) {
        ("GET", []) => {
            let scoped = required_scope(q)?;
            let st = scoped.scope_type();
            let items = store
                .policies
                .iter()
                .filter(|p| scoped.holds(p))
                .map(|p| Cow::Owned(assignment(p, st)))
                .collect();
            let spec = Listing {
                context: format!("{METADATA}policies/roleManagementPolicyAssignments"),
                entity: "unifiedRoleManagementPolicyAssignment",
                filterable: &["scopeId", "scopeType", "roleDefinitionId", "policyId", "id"],
                ordered: &[],
            };
            list(items, &spec, q, link, link.policy_page, |item, e| {
                expand(item, e, st)
            })
        }
        ("GET", [id]) => {
            q.only(&["$select", "$expand"])?;
            let st = scope_type_of(id);
            let surface = if st == "Group" {
                Surface::Group
            } else {
                Surface::DirectoryRole
            };
            let mut v = store
                .policies
                .iter()
                .filter(|p| p.surface() == surface)
                .map(|p| assignment(p, st))
                .find(|a| {
                    a.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(id))
                })
                .ok_or_else(|| {
                    ApiError::not_found(format!("No policy assignment with id '{id}' was found."))
                })?;
            for e in &q.expand {
                expand(&mut v, e, st)?;
            }
            apply_select(&mut v, &q.select, &q.expand);
            with_context(
                &mut v,
                &format!(
                    "{METADATA}policies/roleManagementPolicyAssignments{}/$entity",
                    context_projection(&q.select, &q.expand)
                ),
            );
            Ok(GraphResponse::ok(v))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
