//! `roleManagement/directory/roleDefinitions`: the built-in and custom
//! role definitions, listed and by id.

use std::borrow::Cow;

use super::listing::{Listing, list, no_expand};
use super::{GraphResponse, Link, METADATA, with_context};
use crate::error::{ApiError, ApiResult};
use crate::odata::{Query, apply_select};
use crate::store::Store;

pub(super) fn role_definitions(
    store: &Store,
    m: &str,
    rest: &[&str],
    q: &Query,
    link: &Link<'_>,
) -> ApiResult<GraphResponse> {
    match (m, rest) {
        ("GET", []) => {
            let items = store.rendered.roles.iter().map(Cow::Borrowed).collect();
            let spec = Listing {
                context: format!("{METADATA}roleManagement/directory/roleDefinitions"),
                entity: "unifiedRoleDefinition",
                filterable: &["id", "displayName", "isBuiltIn", "templateId", "isEnabled"],
                ordered: &[],
            };
            list(items, &spec, q, link, 1000, |_, e| {
                no_expand(e, "unifiedRoleDefinition")
            })
        }
        ("GET", [id]) => {
            q.only(&["$select"])?;
            let r = store.role(id).ok_or_else(|| {
                ApiError::not_found(format!("No role definition with id '{id}'."))
            })?;
            let mut v = r.to_json();
            apply_select(&mut v, &q.select, &[]);
            with_context(
                &mut v,
                &format!("{METADATA}roleManagement/directory/roleDefinitions/$entity"),
            );
            Ok(GraphResponse::ok(v))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
