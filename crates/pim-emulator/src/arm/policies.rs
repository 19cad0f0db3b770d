//! Role management policies of Azure roles (one per scope and role,
//! PATCHed whole with a `rules` array, checked rule by rule) and their
//! policy assignments (`{policyGuid}_{roleGuid}`).

use serde_json::{Value, json};

use super::filter::Filter;
use super::schedules::{not_found, role_definition_id, role_json, scope_json};
use super::{ArmResponse, Call, cloud_error, get_ci, no_route, page, parse_body, str_ci, under};
use crate::error::{ApiError, ApiResult};
use crate::store::arm::{ArmPolicy, derived_name, fold_scope, merge, role_guid};
use crate::store::{Store, ts};
use pim_model::IsoDuration;

const POLICIES: &str = "RoleManagementPolicies";
const ASSIGNMENTS: &str = "RoleManagementPolicyAssignment";

fn policy_json(store: &Store, p: &ArmPolicy) -> Value {
    let scope = store.arm.scope_of(&p.scope);
    json!({
        "properties": {
            "scope": p.scope,
            "displayName": null,
            "description": null,
            "isOrganizationDefault": false,
            "lastModifiedDateTime": p.last_modified.map(ts),
            "lastModifiedBy": last_modified_by(p),
            "rules": p.rules,
            "effectiveRules": p.rules,
            "policyProperties": { "scope": scope.map(scope_json) },
        },
        "name": p.name,
        "id": under(&p.scope, &format!("roleManagementPolicies/{}", p.name)),
        "type": format!("Microsoft.Authorization/{POLICIES}"),
    })
}

fn last_modified_by(p: &ArmPolicy) -> Value {
    match &p.last_modified_by {
        Some(n) => json!({ "id": null, "displayName": n, "type": null, "email": null }),
        None => Value::Null,
    }
}

fn assignment_name(p: &ArmPolicy) -> String {
    format!("{}_{}", p.name, p.role)
}

fn assignment_json(store: &Store, p: &ArmPolicy) -> Value {
    let scope = store.arm.scope_of(&p.scope);
    let policy_id = under(&p.scope, &format!("roleManagementPolicies/{}", p.name));
    let name = assignment_name(p);
    json!({
        "properties": {
            "scope": p.scope,
            "roleDefinitionId": scope.map(|s| role_definition_id(s, &p.role)),
            "policyId": policy_id,
            "effectiveRules": p.rules,
            "policyAssignmentProperties": {
                "scope": scope.map(scope_json),
                "roleDefinition": scope.map(|s| role_json(store, s, &p.role)),
                "policy": {
                    "id": policy_id,
                    "lastModifiedBy": last_modified_by(p),
                    "lastModifiedDateTime": p.last_modified.map(ts),
                },
            },
        },
        "name": name,
        "id": under(&p.scope, &format!("roleManagementPolicyAssignment/{name}")),
        "type": format!("Microsoft.Authorization/{ASSIGNMENTS}"),
    })
}

/// Role GUIDs that have a policy at the call's scope, in role order.
fn roles_at(store: &Store, call: &Call<'_>, filter: &Filter) -> Vec<String> {
    store
        .arm
        .roles
        .iter()
        .filter(|r| filter.role.as_deref().is_none_or(|f| f == r.id))
        .filter(|r| store.arm.role_usable_at(r, call.scope))
        .map(|r| r.id.clone())
        .collect()
}

/// The policy named `name` at the call's scope, made if it is a default
/// one never asked for before.
fn find_policy(store: &mut Store, call: &Call<'_>, name: &str) -> ApiResult<usize> {
    let scope = store.arm.scopes[call.scope].id.clone();
    let fs = fold_scope(&scope);
    if let Some(i) = store
        .arm
        .policies
        .iter()
        .position(|p| p.name.eq_ignore_ascii_case(name) && fold_scope(&p.scope) == fs)
    {
        return Ok(i);
    }
    let role = store
        .arm
        .roles
        .iter()
        .filter(|r| store.arm.role_usable_at(r, call.scope))
        .find(|r| derived_name(&format!("policy/{fs}/{}", r.id)).eq_ignore_ascii_case(name))
        .map(|r| r.id.clone());
    match role {
        // A default name now held by another policy (renamed) is gone.
        Some(role) => {
            let i = store.arm.policy_index(&scope, &role);
            if store.arm.policies[i].name.eq_ignore_ascii_case(name) {
                Ok(i)
            } else {
                Err(not_found(POLICIES, name))
            }
        }
        None => Err(not_found(POLICIES, name)),
    }
}

pub(super) fn route_policies(store: &mut Store, call: &Call<'_>) -> ApiResult<ArmResponse> {
    if call.action.is_some() {
        return Err(no_route(call.method, call.path));
    }
    match (call.method, call.name) {
        ("GET", None) => {
            let filter = Filter::parse(call.query.filter.as_deref())?;
            let scope = store.arm.scopes[call.scope].id.clone();
            let roles = roles_at(store, call, &filter);
            let idx: Vec<usize> = roles
                .iter()
                .map(|r| store.arm.policy_index(&scope, r))
                .collect();
            let items = idx
                .iter()
                .map(|&i| policy_json(store, &store.arm.policies[i]))
                .collect();
            Ok(page(call, items))
        }
        ("GET", Some(name)) => {
            let i = find_policy(store, call, name)?;
            Ok(ArmResponse::ok(policy_json(store, &store.arm.policies[i])))
        }
        ("PATCH", Some(name)) => {
            let i = find_policy(store, call, name)?;
            super::authorize_write(
                store,
                call,
                "Microsoft.Authorization/roleManagementPolicies/write",
            )?;
            let body = parse_body(call.body)?;
            let rules = get_ci(&body, "properties")
                .and_then(|p| get_ci(p, "rules"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut updated = store.arm.policies[i].rules.clone();
            for r in &rules {
                patch_rule(&mut updated, r)?;
            }
            let p = &mut store.arm.policies[i];
            p.rules = updated;
            if call.policy_names == crate::ArmPolicyNames::Rotated {
                p.name = derived_name(&format!("policy/{}/{}", p.name, ts(call.now)));
            }
            p.last_modified = Some(call.now);
            p.last_modified_by = Some(
                call.caller
                    .display_name
                    .clone()
                    .unwrap_or_else(|| call.caller.object_id.clone()),
            );
            Ok(ArmResponse {
                status: 200,
                body: Some(policy_json(store, &store.arm.policies[i])),
                wrote: true,
            })
        }
        // UNVERIFIED: what deleting a built-in per-role policy does; here
        // its rules go back to the defaults.
        ("DELETE", Some(name)) => match find_policy(store, call, name) {
            Ok(i) => {
                super::authorize_write(
                    store,
                    call,
                    "Microsoft.Authorization/roleManagementPolicies/delete",
                )?;
                let p = &mut store.arm.policies[i];
                p.rules = crate::store::arm::default_rules().to_vec();
                p.last_modified = None;
                p.last_modified_by = None;
                Ok(ArmResponse {
                    status: 200,
                    body: None,
                    wrote: true,
                })
            }
            Err(_) => Ok(ArmResponse {
                status: 204,
                body: None,
                wrote: false,
            }),
        },
        _ => Err(no_route(call.method, call.path)),
    }
}

/// UNVERIFIED: ARM's code for a rule it refuses; the checks follow the
/// documented constraints of the role settings.
fn invalid_rule(id: &str, why: &str) -> ApiError {
    cloud_error(
        400,
        "InvalidRoleManagementPolicyRule",
        format!("The policy rule '{id}' is invalid: {why}"),
    )
}

/// Merge one rule of a PATCH into the policy's rules, then check it.
fn patch_rule(rules: &mut [Value], patch: &Value) -> ApiResult<()> {
    let id = str_ci(patch, "id").unwrap_or("");
    let Some(existing) = rules.iter_mut().find(|r| {
        r.get("id")
            .and_then(Value::as_str)
            .is_some_and(|x| x.eq_ignore_ascii_case(id))
    }) else {
        return Err(invalid_rule(id, "no rule has this id."));
    };
    let rule_type = existing
        .get("ruleType")
        .and_then(Value::as_str)
        .unwrap_or("");
    match str_ci(patch, "ruleType") {
        Some(t) if t.eq_ignore_ascii_case(rule_type) => {}
        Some(t) => {
            return Err(invalid_rule(
                id,
                &format!("its ruleType is {rule_type}, not {t}."),
            ));
        }
        None => return Err(invalid_rule(id, "ruleType is required.")),
    }
    let mut merged = existing.clone();
    let mut clean = patch.clone();
    if let Some(o) = clean.as_object_mut() {
        // In the examples, not in the 2020-10-01 schema.
        o.remove("exceptionMembers");
    }
    merge(&mut merged, &clean);
    validate_rule(id, &merged)?;
    *existing = merged;
    Ok(())
}

fn validate_rule(id: &str, r: &Value) -> ApiResult<()> {
    let (caller, level) = match id.split('_').collect::<Vec<_>>().as_slice() {
        [_, c, l] | [_, _, c, l] => (c.to_string(), l.to_string()),
        _ => return Err(invalid_rule(id, "unknown rule id.")),
    };
    let target = r.get("target").cloned().unwrap_or(Value::Null);
    for (k, want) in [("caller", &caller), ("level", &level)] {
        if let Some(v) = str_ci(&target, k)
            && !v.eq_ignore_ascii_case(want)
        {
            return Err(invalid_rule(id, &format!("target.{k} must be {want}.")));
        }
    }
    let bool_or_absent = |k: &str| r.get(k).is_none_or(Value::is_boolean);
    match r.get("ruleType").and_then(Value::as_str).unwrap_or("") {
        "RoleManagementPolicyExpirationRule" => {
            if !bool_or_absent("isExpirationRequired") {
                return Err(invalid_rule(id, "isExpirationRequired must be a boolean."));
            }
            let max = r
                .get("maximumDuration")
                .and_then(Value::as_str)
                .unwrap_or("");
            let d: IsoDuration = max.parse().map_err(|_| {
                invalid_rule(
                    id,
                    &format!("maximumDuration '{max}' is not an ISO 8601 duration."),
                )
            })?;
            if d.is_zero() {
                return Err(invalid_rule(
                    id,
                    "maximumDuration must be longer than zero.",
                ));
            }
            // The role settings allow activations "from 1 to 24 hours"
            // (UNVERIFIED whether the API enforces it); shorter ones are
            // let through, as the Graph side does.
            if id == "Expiration_EndUser_Assignment" && d.as_seconds() > 24 * 3600 {
                return Err(invalid_rule(
                    id,
                    "an activation lasts at most 24 hours (PT24H).",
                ));
            }
            if id == "Expiration_EndUser_Assignment"
                && r.get("isExpirationRequired").and_then(Value::as_bool) == Some(false)
            {
                return Err(invalid_rule(id, "activations always expire."));
            }
        }
        "RoleManagementPolicyEnablementRule" => {
            let allowed: &[&str] = if id == "Enablement_Admin_Eligibility" {
                &["MultiFactorAuthentication", "Justification"]
            } else {
                &["MultiFactorAuthentication", "Justification", "Ticketing"]
            };
            let list = r.get("enabledRules").and_then(Value::as_array);
            let ok = list.is_some_and(|a| {
                a.iter()
                    .all(|v| v.as_str().is_some_and(|s| allowed.contains(&s)))
            });
            if !ok {
                return Err(invalid_rule(
                    id,
                    &format!("enabledRules must be a list of {}.", allowed.join(", ")),
                ));
            }
        }
        "RoleManagementPolicyNotificationRule" => {
            let one_of = |k: &str, vals: &[&str]| {
                r.get(k)
                    .and_then(Value::as_str)
                    .is_some_and(|v| vals.contains(&v))
            };
            if !one_of("notificationLevel", &["None", "Critical", "All"])
                || !one_of("recipientType", &["Requestor", "Approver", "Admin"])
                || !one_of("notificationType", &["Email"])
            {
                return Err(invalid_rule(
                    id,
                    "notificationType must be Email, notificationLevel None, Critical or All, recipientType Requestor, Approver or Admin.",
                ));
            }
            if !r.get("notificationRecipients").is_none_or(|v| {
                v.is_null() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
            }) {
                return Err(invalid_rule(
                    id,
                    "notificationRecipients must be a list of addresses.",
                ));
            }
        }
        "RoleManagementPolicyApprovalRule" => {
            let setting = r.get("setting").cloned().unwrap_or(Value::Null);
            let required = setting.get("isApprovalRequired").and_then(Value::as_bool) == Some(true);
            let mode = setting
                .get("approvalMode")
                .and_then(Value::as_str)
                .unwrap_or("SingleStage");
            if !["SingleStage", "Serial", "Parallel", "NoApproval"].contains(&mode) {
                return Err(invalid_rule(
                    id,
                    &format!("approvalMode '{mode}' is unknown."),
                ));
            }
            // "you must select at least one approver … There are no default approvers" [doc]
            let approvers = setting
                .pointer("/approvalStages/0/primaryApprovers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if required && approvers == 0 {
                return Err(invalid_rule(
                    id,
                    "an approval needs at least one primary approver.",
                ));
            }
        }
        "RoleManagementPolicyAuthenticationContextRule" => {
            let on = r.get("isEnabled").and_then(Value::as_bool) == Some(true);
            if on
                && r.get("claimValue")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                return Err(invalid_rule(
                    id,
                    "claimValue is required when isEnabled is true.",
                ));
            }
        }
        other => return Err(invalid_rule(id, &format!("ruleType '{other}' is unknown."))),
    }
    Ok(())
}

pub(super) fn route_assignments(store: &mut Store, call: &Call<'_>) -> ApiResult<ArmResponse> {
    if call.action.is_some() {
        return Err(no_route(call.method, call.path));
    }
    let scope = store.arm.scopes[call.scope].id.clone();
    let by_name = |store: &mut Store, name: &str| -> ApiResult<usize> {
        let (policy, role) = name
            .split_once('_')
            .ok_or_else(|| not_found(ASSIGNMENTS, name))?;
        let role = role_guid(role);
        let usable = store
            .arm
            .role(&role)
            .cloned()
            .is_some_and(|r| store.arm.role_usable_at(&r, call.scope));
        if !usable {
            return Err(not_found(ASSIGNMENTS, name));
        }
        let i = store.arm.policy_index(&scope, &role);
        if store.arm.policies[i].name.eq_ignore_ascii_case(policy) {
            Ok(i)
        } else {
            Err(not_found(ASSIGNMENTS, name))
        }
    };
    match (call.method, call.name) {
        ("GET", None) => {
            let filter = Filter::parse(call.query.filter.as_deref())?;
            let roles = roles_at(store, call, &filter);
            let idx: Vec<usize> = roles
                .iter()
                .map(|r| store.arm.policy_index(&scope, r))
                .collect();
            let items = idx
                .iter()
                .map(|&i| &store.arm.policies[i])
                .filter(|p| p.assigned)
                .map(|p| assignment_json(store, p))
                .collect();
            Ok(page(call, items))
        }
        ("GET", Some(name)) => {
            let i = by_name(store, name)?;
            let p = &store.arm.policies[i];
            if !p.assigned {
                return Err(not_found(ASSIGNMENTS, name));
            }
            Ok(ArmResponse::ok(assignment_json(store, p)))
        }
        ("PUT", Some(name)) => {
            super::authorize_write(
                store,
                call,
                "Microsoft.Authorization/roleManagementPolicyAssignments/write",
            )?;
            let body = parse_body(call.body)?;
            let props = get_ci(&body, "properties").cloned().unwrap_or(Value::Null);
            // UNVERIFIED: the checks ARM makes of the body against the name.
            let refuse = |why: &str| {
                cloud_error(
                    400,
                    "InvalidRoleManagementPolicyAssignment",
                    format!("The policy assignment '{name}' is invalid: {why}"),
                )
            };
            let i = by_name(store, name).map_err(|_| refuse("the name must be {policy GUID}_{role GUID} of the role's policy at this scope."))?;
            let p = &store.arm.policies[i];
            let role_ok = str_ci(&props, "roleDefinitionId").is_none_or(|r| role_guid(r) == p.role);
            let policy_ok = str_ci(&props, "policyId")
                .is_none_or(|x| role_guid(x).eq_ignore_ascii_case(&p.name));
            let scope_ok =
                str_ci(&props, "scope").is_none_or(|s| fold_scope(s) == fold_scope(&scope));
            if !(role_ok && policy_ok && scope_ok) {
                return Err(refuse(
                    "scope, roleDefinitionId and policyId must match the name and the URL.",
                ));
            }
            store.arm.policies[i].assigned = true;
            Ok(ArmResponse {
                status: 201,
                body: Some(assignment_json(store, &store.arm.policies[i])),
                wrote: true,
            })
        }
        ("DELETE", Some(name)) => match by_name(store, name) {
            Ok(i) if store.arm.policies[i].assigned => {
                super::authorize_write(
                    store,
                    call,
                    "Microsoft.Authorization/roleManagementPolicyAssignments/delete",
                )?;
                store.arm.policies[i].assigned = false;
                Ok(ArmResponse {
                    status: 200,
                    body: None,
                    wrote: true,
                })
            }
            _ => Ok(ArmResponse {
                status: 204,
                body: None,
                wrote: false,
            }),
        },
        _ => Err(no_route(call.method, call.path)),
    }
}
