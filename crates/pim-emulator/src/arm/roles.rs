//! Azure role definitions at a scope (`$filter=roleName eq '…'`, `type eq
//! 'BuiltInRole'|'CustomRole'`) and `eligibleChildResources`.

use serde_json::{Value, json};

use super::filter::Filter;
use super::schedules::{groups_of, not_found, role_definition_id};
use super::{ArmResponse, Call, cloud_error, no_route, page};
use crate::error::ApiResult;
use crate::store::arm::{AzureRole, ScopeKind};
use crate::store::{Kind, Store};

fn definition_json(store: &Store, call: &Call<'_>, r: &AzureRole) -> Value {
    let scope = &store.arm.scopes[call.scope];
    json!({
        "id": role_definition_id(scope, &r.id),
        "name": r.id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": r.name,
            "type": if r.builtin { "BuiltInRole" } else { "CustomRole" },
            "description": r.description,
            "assignableScopes": r.assignable_scopes,
            // Permissions are not modelled.
            "permissions": [],
            "createdOn": null,
            "updatedOn": null,
            "createdBy": null,
            "updatedBy": null,
        },
    })
}

/// `roleName eq '…'` and `type eq '…'`, joined with `and`.
fn definition_filter(text: Option<&str>) -> ApiResult<(Option<String>, Option<String>)> {
    let (mut name, mut kind) = (None, None);
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok((name, kind));
    };
    let bad = || {
        cloud_error(
            400,
            "InvalidFilter",
            format!("The filter '{text}' is not supported."),
        )
    };
    for clause in text.split(" and ") {
        let (prop, value) = clause.split_once(" eq ").ok_or_else(bad)?;
        let value = value
            .trim()
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .ok_or_else(bad)?
            .replace("''", "'");
        match prop.trim().to_ascii_lowercase().as_str() {
            "rolename" => name = Some(value),
            "type" => kind = Some(value),
            _ => return Err(bad()),
        }
    }
    Ok((name, kind))
}

pub(super) fn route_definitions(store: &mut Store, call: &Call<'_>) -> ApiResult<ArmResponse> {
    if call.method != "GET" || call.action.is_some() {
        return Err(no_route(call.method, call.path));
    }
    let store = &*store;
    let usable = |r: &&AzureRole| store.arm.role_usable_at(r, call.scope);
    match call.name {
        Some(name) => {
            let r = store
                .arm
                .role(name)
                .filter(usable)
                .ok_or_else(|| not_found("RoleDefinitions", name))?;
            Ok(ArmResponse::ok(definition_json(store, call, r)))
        }
        None => {
            let (name, kind) = definition_filter(call.query.filter.as_deref())?;
            let items = store
                .arm
                .roles
                .iter()
                .filter(usable)
                .filter(|r| {
                    name.as_deref()
                        .is_none_or(|n| r.name.eq_ignore_ascii_case(n))
                })
                .filter(|r| {
                    kind.as_deref().is_none_or(|k| {
                        k.eq_ignore_ascii_case(if r.builtin {
                            "BuiltInRole"
                        } else {
                            "CustomRole"
                        })
                    })
                })
                .map(|r| definition_json(store, call, r))
                .collect();
            Ok(page(call, items))
        }
    }
}

/// Scopes below the call's where the caller (or a group of theirs) holds
/// an eligibility at, above or below them.
pub(super) fn route_children(store: &mut Store, call: &Call<'_>) -> ApiResult<ArmResponse> {
    if call.method != "GET" || call.name.is_some() {
        return Err(no_route(call.method, call.path));
    }
    let store = &*store;
    let filter = Filter::parse(call.query.filter.as_deref())?;
    let me = call.caller.object_id.to_ascii_lowercase();
    let mut who = groups_of(store, &me, call.now);
    who.push(me);
    let held: Vec<usize> = store
        .arm
        .schedules
        .iter()
        .filter(|s| s.kind == Kind::Eligibility && s.is_active(call.now))
        .filter(|s| who.iter().any(|w| w.eq_ignore_ascii_case(&s.principal)))
        .filter_map(|s| store.arm.find_scope(&s.scope))
        .collect();
    let arm = &store.arm;
    let items = (0..arm.scopes.len())
        .filter(|&i| i != call.scope && arm.is_at_or_above(call.scope, i))
        .filter(|&i| arm.scopes[i].kind != ScopeKind::Tenant)
        .filter(|&i| {
            let t = arm.scopes[i].kind.wire();
            filter.resource_types.is_empty() || filter.resource_types.iter().any(|f| f == t)
        })
        .filter(|&i| {
            held.iter()
                .any(|&h| arm.is_at_or_above(h, i) || arm.is_at_or_above(i, h))
        })
        .map(|i| {
            let s = &arm.scopes[i];
            json!({ "id": s.id, "name": s.display_name, "type": s.kind.wire() })
        })
        .collect();
    Ok(page(call, items))
}
