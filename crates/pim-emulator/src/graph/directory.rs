//! Directory objects: users, groups, service principals and administrative
//! units (lists and lookups), a group's members and owners, `GET /me` and
//! `directoryObjects/getByIds`.

use std::borrow::Cow;

use serde_json::Value;

use super::listing::{Listing, entity_context, list, no_expand};
use super::{GraphResponse, Link, METADATA, parse_body, with_context};
use crate::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::{J, Obj};
use crate::odata::{Query, apply_select, candidates, check_in_limit, fold, validate_filter};
use crate::store::{AU_FILTER, GROUP_FILTER, SP_FILTER, Store, USER_FILTER, ValueIndex};

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
    let r = &store.rendered;
    let (set, entity, filterable, items, index): (&str, &str, &[&str], &[Value], &ValueIndex) =
        match d {
            Dir::Users => ("users", "user", USER_FILTER, &r.users, &r.user_index),
            Dir::Groups => ("groups", "group", GROUP_FILTER, &r.groups, &r.group_index),
            Dir::ServicePrincipals => (
                "servicePrincipals",
                "servicePrincipal",
                SP_FILTER,
                &r.service_principals,
                &r.sp_index,
            ),
            Dir::AdministrativeUnits => (
                "directory/administrativeUnits",
                "administrativeUnit",
                AU_FILTER,
                &r.administrative_units,
                &r.au_index,
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
            if let Some(f) = &q.filter {
                validate_filter(f, entity, filterable, &[])?;
                check_in_limit(f)?;
            }
            // Through the index when it can answer, in the collection's
            // order either way; `list` evaluates the filter on what is left.
            let found = q
                .filter
                .as_ref()
                .and_then(|f| candidates(f, &|p: &str, v: &str| index.get(p, v)));
            let rows = match found {
                Some(at) => at
                    .iter()
                    .filter_map(|&i| items.get(i))
                    .map(Cow::Borrowed)
                    .collect(),
                None => items.iter().map(Cow::Borrowed).collect(),
            };
            list(rows, &spec, q, link, link.page.max(100), |_, e| {
                no_expand(e, entity)
            })
        }
        [key] => {
            q.only(&["$select"])?;
            let found = match d {
                Dir::Users => store
                    .rendered
                    .user_keys
                    .get(&key.to_ascii_lowercase())
                    .and_then(|&i| items.get(i)),
                _ => index
                    .get("id", &fold(key))
                    .into_iter()
                    .flatten()
                    .filter_map(|&i| items.get(i))
                    .find(|i| {
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
        .user_by_id(&caller.object_id)
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
        if let Some((short, obj)) = store.directory_object_obj(id)
            && (types.is_empty() || types.iter().any(|t| t == short))
        {
            value.push(J::Obj(obj));
        }
    }
    let context = format!("{METADATA}directoryObjects");
    let out = Obj::new(vec![
        ("@odata.context", J::String(context)),
        ("value", J::Arr(value)),
    ]);
    Ok(GraphResponse::ok_encoded(out.to_vec()))
}

/// `GET /groups/{id}/members` and `/owners`: the members (or owners) added
/// outside PIM and those holding an active PIM grant now, as directory
/// objects; eligible grants and ended ones are not members.
pub(super) fn group_principals(
    store: &Store,
    group_id: &str,
    access: &str,
    q: &Query,
    link: &Link<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<GraphResponse> {
    if store.group_by_id(group_id).is_none() {
        return Err(ApiError::directory_object_not_found(group_id));
    }
    let rows = store
        .group_principals(group_id, access, now)
        .iter()
        .filter_map(|id| store.directory_object(id))
        .map(Cow::Owned)
        .collect();
    let spec = Listing {
        context: format!("{METADATA}directoryObjects"),
        entity: "directoryObject",
        filterable: &["id", "displayName"],
        ordered: &[],
    };
    list(rows, &spec, q, link, link.page.max(100), |_, e| {
        no_expand(e, "directoryObject")
    })
}
