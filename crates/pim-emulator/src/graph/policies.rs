//! `policies/roleManagementPolicies` (reads, policy and rule PATCH) and
//! `policies/roleManagementPolicyAssignments`, with their scope filters.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::listing::{Listing, list, no_expand};
use super::rules::patch_rule;
use super::{GraphResponse, IncomingCall, Link, METADATA, parse_body, with_context};
use crate::Caller;
use crate::error::{ApiError, ApiResult};
use crate::odata::{ExpandItem, Query, apply_select, context_projection};
use crate::store::{PolicyRec, Store, ts};
use pim_model::RuleId;

/// The scope type a policy query asks for; anything but the tenant scope of
/// directory roles is the PIM backend's MissingProvider error.
fn required_scope(q: &Query) -> ApiResult<&'static str> {
    let Some(f) = &q.filter else {
        return Err(ApiError::missing_provider());
    };
    let mut scope_id = None;
    let mut scope_type = None;
    for c in f.conjuncts() {
        if let crate::odata::Expr::Cmp(p, crate::odata::CmpOp::Eq, crate::odata::Lit::Str(v)) = c {
            if p == "scopeId" {
                scope_id = Some(v.clone());
            } else if p == "scopeType" {
                scope_type = Some(v.clone());
            }
        }
    }
    match (scope_id.as_deref(), scope_type.as_deref()) {
        (Some("/"), Some(t)) if t.eq_ignore_ascii_case("DirectoryRole") => Ok("DirectoryRole"),
        (Some("/"), Some(t)) if t.eq_ignore_ascii_case("Directory") => Ok("Directory"),
        _ => Err(ApiError::missing_provider()),
    }
}

fn scope_type_of(id: &str) -> &'static str {
    if id.starts_with("Directory_") {
        "Directory"
    } else {
        "DirectoryRole"
    }
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
            let scope_type = required_scope(q)?;
            let items: Vec<Cow<'_, Value>> = store
                .policies
                .iter()
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
            let mut v = updated.to_json(st);
            store.policies[i] = updated;
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
            if link.rule_patch_body {
                let mut v = out.unwrap_or(Value::Null);
                with_context(
                    &mut v,
                    &format!("{METADATA}policies/roleManagementPolicies('{id}')/rules/$entity"),
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
            "scopeId": "/",
            "scopeType": st,
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
            let st = required_scope(q)?;
            let items = store
                .policies
                .iter()
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
            let mut v = store
                .policies
                .iter()
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
