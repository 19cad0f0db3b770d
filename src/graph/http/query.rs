//! Query strings and path segments as Graph reads them: percent-encoding,
//! OData string literals, and the filters and collection names of grants.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::graph::GrantFilter;
use crate::model::AssignmentKind;

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

pub(super) fn set_name(kind: AssignmentKind, requests: bool) -> &'static str {
    match (kind, requests) {
        (AssignmentKind::Eligible, false) => "roleEligibilitySchedules",
        (AssignmentKind::Active, false) => "roleAssignmentSchedules",
        (AssignmentKind::Eligible, true) => "roleEligibilityScheduleRequests",
        (AssignmentKind::Active, true) => "roleAssignmentScheduleRequests",
    }
}

pub(super) fn grant_filter(f: &GrantFilter) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(p) = &f.principal_id {
        parts.push(format!("principalId eq {}", odata_string(p)));
    }
    if let Some(r) = &f.role_id {
        parts.push(format!("roleDefinitionId eq {}", odata_string(r)));
    }
    if let Some(s) = &f.scope_id {
        parts.push(format!("directoryScopeId eq {}", odata_string(s)));
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
            principal_id: Some("p".into()),
            role_id: Some("r".into()),
            scope_id: Some("/".into()),
        });
        assert_eq!(
            f.as_deref(),
            Some("principalId eq 'p' and roleDefinitionId eq 'r' and directoryScopeId eq '/'")
        );
    }
}
