//! What PIM for Groups checks that directory roles do not: the target of
//! a request (a group and its `member`/`owner` access), the groups PIM
//! refuses, and the `$filter` its list endpoints require. Everything else
//! is the shared request machinery of `pim` and `selfservice`.

use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::odata::{CmpOp, Expr, Lit, Query};
use super::pim::{required, subject_not_found};
use super::store::{Kind, PrincipalType, Store};

/// The error code of a list call without the required filter. UNVERIFIED:
/// the docs say the filter is required but not what Graph answers without
/// it; Graph's generic code stands in.
pub(crate) const MISSING_FILTER_CODE: &str = "BadRequest";

/// The error code for a group PIM for Groups does not support (dynamic
/// membership, synced from on-premises). UNVERIFIED: the docs name the
/// groups, not the answer.
pub(crate) const UNSUPPORTED_GROUP_CODE: &str = "BadRequest";

/// The answer to a request naming a group the directory does not hold.
/// UNVERIFIED: code and message (directory roles answer `RoleNotFound`).
fn group_not_found() -> ApiError {
    ApiError::new(404, "ResourceNotFound", "The group is not found.")
}

fn unsupported(why: &str) -> ApiError {
    ApiError::new(
        400,
        UNSUPPORTED_GROUP_CODE,
        format!("PIM for Groups does not support {why}."),
    )
}

/// A group request's access and group, checked against the directory:
/// any security or Microsoft 365 group but a dynamic or on-premises one;
/// users and groups as principals (a group is never its own member, and a
/// role-assignable group has no active group members), service principals
/// as for directory roles (active only; UNVERIFIED for groups).
pub(crate) fn target(
    store: &Store,
    kind: Kind,
    body: &Value,
    principal: &str,
) -> ApiResult<(String, String)> {
    let access_in = required(body, "accessId")?;
    let access = crate::store::parse_access(access_in).map_err(|_| {
        ApiError::bad_request(format!(
            "Requested value '{access_in}' was not found for property 'accessId'."
        ))
    })?;
    let group_in = required(body, "groupId")?;
    let group = store.group_by_id(group_in).ok_or_else(group_not_found)?;
    if group
        .group_types
        .iter()
        .any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
    {
        return Err(unsupported("dynamic membership groups"));
    }
    if group.on_premises_sync_enabled == Some(true) {
        return Err(unsupported("groups synced from on-premises"));
    }
    match store.principal_type(principal) {
        None => return Err(subject_not_found()),
        Some(PrincipalType::ServicePrincipal) if kind == Kind::Eligibility => {
            return Err(ApiError::bad_request(
                "Service principals can only have active assignments, not eligible ones.",
            ));
        }
        Some(PrincipalType::Group { .. }) if group.id.eq_ignore_ascii_case(principal) => {
            return Err(ApiError::bad_request(
                "A group cannot be a member or owner of itself.",
            ));
        }
        Some(PrincipalType::Group { .. })
            if group.is_assignable_to_role && kind == Kind::Assignment && access == "member" =>
        {
            return Err(ApiError::bad_request(
                "A role-assignable group cannot have groups as active members; make the group an eligible member.",
            ));
        }
        Some(_) => {}
    }
    Ok((access, group.id.to_ascii_lowercase()))
}

/// Refuse a list call whose `$filter` does not name a group or principal
/// with `eq` at its top level (other conditions may be `and`ed to it; an
/// `or` or `in` does not count, UNVERIFIED whether Graph takes them).
pub(crate) fn require_filter(q: &Query) -> ApiResult<()> {
    let names_one = q.filter.as_ref().is_some_and(|f| {
        f.conjuncts().iter().any(|c| {
            matches!(c, Expr::Cmp(p, CmpOp::Eq, Lit::Str(_)) if p == "groupId" || p == "principalId")
        })
    });
    if names_one {
        return Ok(());
    }
    Err(ApiError::new(
        400,
        MISSING_FILTER_CODE,
        "This collection requires a $filter on principalId or groupId with eq, for example $filter=groupId eq '{id}'.",
    ))
}
