//! Directory objects: users, groups, service principals and administrative
//! units (lists and lookups), `GET /me` and `directoryObjects/getByIds`.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::listing::{Listing, entity_context, list, no_expand};
use super::{GraphResponse, Link, METADATA, parse_body, with_context};
use crate::Caller;
use crate::error::{ApiError, ApiResult};
use crate::odata::{Query, apply_select};
use crate::store::Store;

#[derive(Debug, Clone, Copy)]
pub(super) enum Dir {
    Users,
    Groups,
    ServicePrincipals,
    AdministrativeUnits,
}

pub(super) fn directory(
    store: &Store,
    d: Dir,
    m: &str,
    rest: &[&str],
    q: &Query,
    link: &Link<'_>,
) -> ApiResult<GraphResponse> {
    if m != "GET" {
        return Err(ApiError::method_not_allowed());
    }
    let (set, entity, filterable, items): (&str, &str, &[&str], &[Value]) = match d {
        Dir::Users => (
            "users",
            "user",
            &[
                "id",
                "userPrincipalName",
                "displayName",
                "mail",
                "accountEnabled",
                "jobTitle",
            ],
            &store.rendered.users,
        ),
        Dir::Groups => (
            "groups",
            "group",
            &[
                "id",
                "displayName",
                "isAssignableToRole",
                "mail",
                "securityEnabled",
            ],
            &store.rendered.groups,
        ),
        Dir::ServicePrincipals => (
            "servicePrincipals",
            "servicePrincipal",
            &[
                "id",
                "appId",
                "displayName",
                "servicePrincipalType",
                "accountEnabled",
            ],
            &store.rendered.service_principals,
        ),
        Dir::AdministrativeUnits => (
            "directory/administrativeUnits",
            "administrativeUnit",
            &["id", "displayName"],
            &store.rendered.administrative_units,
        ),
    };
    match rest {
        [] => {
            let spec = Listing {
                context: format!("{METADATA}{set}"),
                entity,
                filterable,
                ordered: &[],
            };
            list(
                items.iter().map(Cow::Borrowed).collect(),
                &spec,
                q,
                link,
                link.page.max(100),
                |_, e| no_expand(e, entity),
            )
        }
        [key] => {
            q.only(&["$select"])?;
            let found = match d {
                Dir::Users => store
                    .rendered
                    .user_keys
                    .get(&key.to_ascii_lowercase())
                    .and_then(|&i| items.get(i)),
                _ => items.iter().find(|i| {
                    i.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(key))
                }),
            };
            let mut v = found
                .cloned()
                .ok_or_else(|| ApiError::directory_object_not_found(key))?;
            apply_select(&mut v, &q.select, &[]);
            with_context(&mut v, &entity_context(set, &q.select));
            Ok(GraphResponse::ok(v))
        }
        _ => Err(ApiError::no_route(m, link.path)),
    }
}

/// `GET /me`: the signed-in user; app-only tokens have no "me", whatever
/// the application is.
pub(super) fn me(store: &Store, caller: &Caller, q: &Query) -> ApiResult<GraphResponse> {
    if caller.app_id.is_some() {
        return Err(ApiError::bad_request(
            "/me request is only valid with delegated authentication flow.",
        ));
    }
    q.only(&["$select"])?;
    let user = store
        .users
        .iter()
        .find(|u| u.id.eq_ignore_ascii_case(&caller.object_id))
        .ok_or_else(|| ApiError::directory_object_not_found(&caller.object_id))?;
    let mut v = Store::user_json(user);
    apply_select(&mut v, &q.select, &[]);
    with_context(&mut v, &entity_context("users", &q.select));
    Ok(GraphResponse::ok(v))
}

pub(super) fn get_by_ids(store: &Store, body: &[u8]) -> ApiResult<GraphResponse> {
    let body = parse_body(body)?;
    let ids = body
        .get("ids")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("The property 'ids' is required."))?;
    if ids.len() > 1000 {
        return Err(ApiError::bad_request(
            "Too many ids: at most 1000 are allowed.",
        ));
    }
    let types: Vec<String> = match body.get("types") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect(),
        Some(_) => {
            return Err(ApiError::bad_request("Invalid value for property 'types'."));
        }
    };
    let mut value = Vec::new();
    for id in ids.iter().filter_map(Value::as_str) {
        if let Some(obj) = store.directory_object(id) {
            let t = obj
                .get("@odata.type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let short = t
                .trim_start_matches("#microsoft.graph.")
                .to_ascii_lowercase();
            if types.is_empty() || types.contains(&short) {
                value.push(obj);
            }
        }
    }
    Ok(GraphResponse::ok(
        json!({ "@odata.context": format!("{METADATA}directoryObjects"), "value": value }),
    ))
}
