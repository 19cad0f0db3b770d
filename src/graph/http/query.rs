//! Query strings and path segments as Graph reads them: percent-encoding,
//! OData string literals, and the filters and collection names of grants.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::graph::{ErrorKind, GrantFilter, GraphError};
use crate::model::{AssignmentKind, SurfaceKind};

/// Characters left alone in query values and path segments: unreserved ones
/// plus the OData punctuation Graph's own examples leave unencoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b'@')
    .remove(b'$');
pub(super) const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `?k=v&…` with values percent-encoded.
pub(super) fn query(pairs: &[(&str, String)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        s.push('=');
        s.push_str(&utf8_percent_encode(v, QUERY).to_string());
    }
    s
}

/// An OData string literal: quotes doubled.
pub(super) fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Where a surface's schedules and requests live in Graph; Azure roles
/// live in ARM, and a call for them is refused before it is sent.
fn base(surface: SurfaceKind) -> Result<&'static str, GraphError> {
    match surface {
        SurfaceKind::DirectoryRole => Ok("/roleManagement/directory"),
        SurfaceKind::Group => Ok("/identityGovernance/privilegedAccess/group"),
        SurfaceKind::AzureRole => Err(GraphError::new(
            ErrorKind::Config,
            "choose a Graph collection",
            "Azure role grants are read and written through Azure Resource Manager, not Graph",
        )),
    }
}

/// The collection of a surface's schedules (or requests) of one kind.
fn set_name(surface: SurfaceKind, kind: AssignmentKind, requests: bool) -> &'static str {
    match (surface, kind, requests) {
        (SurfaceKind::DirectoryRole, AssignmentKind::Eligible, false) => "roleEligibilitySchedules",
        (SurfaceKind::DirectoryRole, AssignmentKind::Active, false) => "roleAssignmentSchedules",
        (SurfaceKind::DirectoryRole, AssignmentKind::Eligible, true) => {
            "roleEligibilityScheduleRequests"
        }
        (SurfaceKind::DirectoryRole, AssignmentKind::Active, true) => {
            "roleAssignmentScheduleRequests"
        }
        (SurfaceKind::Group, AssignmentKind::Eligible, false) => "eligibilitySchedules",
        (SurfaceKind::Group, AssignmentKind::Active, false) => "assignmentSchedules",
        (SurfaceKind::Group, AssignmentKind::Eligible, true) => "eligibilityScheduleRequests",
        (SurfaceKind::Group, AssignmentKind::Active, true) => "assignmentScheduleRequests",
        (SurfaceKind::AzureRole, _, _) => "",
    }
}

/// The path of a surface's instances of one kind: what is in effect now.
pub(super) fn instances(surface: SurfaceKind, kind: AssignmentKind) -> Result<String, GraphError> {
    let set = match (surface, kind) {
        (SurfaceKind::DirectoryRole, AssignmentKind::Eligible) => {
            "roleEligibilityScheduleInstances"
        }
        (SurfaceKind::DirectoryRole, AssignmentKind::Active) => "roleAssignmentScheduleInstances",
        (SurfaceKind::Group, AssignmentKind::Eligible) => "eligibilityScheduleInstances",
        (SurfaceKind::Group, AssignmentKind::Active) => "assignmentScheduleInstances",
        (SurfaceKind::AzureRole, _) => "",
    };
    Ok(format!("{}/{set}", base(surface)?))
}

/// `{base}/{set}`: the path of a surface's collection.
pub(super) fn collection(
    surface: SurfaceKind,
    kind: AssignmentKind,
    requests: bool,
) -> Result<String, GraphError> {
    Ok(format!(
        "{}/{}",
        base(surface)?,
        set_name(surface, kind, requests)
    ))
}

/// The `$filter` of a grant filter, in the surface's own property names:
/// a group's access is its `accessId`, the group its `groupId`.
pub(super) fn grant_filter(f: &GrantFilter) -> Option<String> {
    let (role, scope) = match f.surface {
        SurfaceKind::DirectoryRole => ("roleDefinitionId", "directoryScopeId"),
        SurfaceKind::Group => ("accessId", "groupId"),
        SurfaceKind::AzureRole => ("roleDefinitionId", "scope"),
    };
    let mut parts = Vec::new();
    // Graph requires a group's lists filtered by group or principal: the
    // group comes first, as in its docs.
    if f.surface == SurfaceKind::Group
        && let Some(s) = &f.scope_id
    {
        parts.push(format!("{scope} eq {}", odata_string(s)));
    }
    if let Some(p) = &f.principal_id {
        parts.push(format!("principalId eq {}", odata_string(p)));
    }
    if let Some(r) = &f.role_id {
        parts.push(format!("{role} eq {}", odata_string(r)));
    }
    if f.surface != SurfaceKind::Group
        && let Some(s) = &f.scope_id
    {
        parts.push(format!("{scope} eq {}", odata_string(s)));
    }
    (!parts.is_empty()).then(|| parts.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_filters_and_literals() {
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
        let q = query(&[("$filter", "displayName eq 'A & B'".into())]);
        assert_eq!(q, "?$filter=displayName%20eq%20'A%20%26%20B'");
        let f = grant_filter(&GrantFilter {
            surface: SurfaceKind::DirectoryRole,
            principal_id: Some("p".into()),
            role_id: Some("r".into()),
            scope_id: Some("/".into()),
        });
        assert_eq!(
            f.as_deref(),
            Some("principalId eq 'p' and roleDefinitionId eq 'r' and directoryScopeId eq '/'")
        );
        let g = grant_filter(&GrantFilter {
            surface: SurfaceKind::Group,
            principal_id: Some("p".into()),
            role_id: Some("member".into()),
            scope_id: Some("g".into()),
        });
        assert_eq!(
            g.as_deref(),
            Some("groupId eq 'g' and principalId eq 'p' and accessId eq 'member'")
        );
    }
}
