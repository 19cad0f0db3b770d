//! ARM scopes and ids as pim writes and compares them. A scope goes into
//! the URL path as it is (`x-ms-skip-url-encoding`), so it is checked
//! before it is sent: only the forms of arm-pim.md §1, nothing that could
//! change the path or the query.

use crate::graph::{ErrorKind, GraphError, Service};

const SUBSCRIPTION_ALIAS: &str = "/providers/microsoft.subscription";

/// `scope` as pim sends it: a leading slash, none trailing, the
/// `/providers/Microsoft.Subscription` alias of the spec examples dropped;
/// `""` for the tenant root (`/`). Refused: anything but a management
/// group, a subscription or something under one, and characters that
/// would leave the path (`?`, `#`, `%`, whitespace, `..`).
pub fn normalize_scope(scope: &str) -> Result<String, GraphError> {
    let refuse = |why: &str| GraphError {
        service: Service::Arm,
        ..GraphError::new(
            ErrorKind::Config,
            "check an ARM scope",
            format!(
                "{:?} is not an ARM scope: {why}",
                crate::graph::excerpt(scope, 200)
            ),
        )
    };
    let s = scope.trim();
    if s.is_empty() || s == "/" {
        return Ok(String::new());
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%' | '\\'))
    {
        return Err(refuse("it holds a character a path cannot carry"));
    }
    let s = format!("/{}", s.trim_matches('/'));
    let lower = s.to_ascii_lowercase();
    let s = match lower.strip_prefix(SUBSCRIPTION_ALIAS) {
        Some(rest) if rest.starts_with("/subscriptions/") => {
            s[SUBSCRIPTION_ALIAS.len()..].to_string()
        }
        _ => s,
    };
    let segments: Vec<&str> = s[1..].split('/').collect();
    if segments
        .iter()
        .any(|g| g.is_empty() || *g == "." || *g == "..")
    {
        return Err(refuse("it has an empty, `.` or `..` segment"));
    }
    let lower = s.to_ascii_lowercase();
    let ok = (lower.starts_with("/subscriptions/") && segments.len() >= 2)
        || (lower.starts_with("/providers/microsoft.management/managementgroups/")
            && segments.len() == 4);
    if !ok {
        return Err(refuse(
            "use /providers/Microsoft.Management/managementGroups/{id}, /subscriptions/{id}, or a resource group or resource under one",
        ));
    }
    Ok(s)
}

/// The same scope, whatever the case or alias (ARM echoes ids in the case
/// sent, and with or without the subscription alias).
pub fn same_scope(a: &str, b: &str) -> bool {
    let fold = |s: &str| {
        normalize_scope(s)
            .unwrap_or_else(|_| s.trim().trim_end_matches('/').to_string())
            .to_ascii_lowercase()
    };
    fold(a) == fold(b)
}

/// The GUID at the end of a role definition id, lower case: built-in roles
/// have the same one at every scope, so roles compare by it.
pub fn role_guid(role_definition_id: &str) -> String {
    role_definition_id
        .trim()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_written_one_way() {
        let sub = "/subscriptions/11111111-1111-4111-8111-111111111111";
        assert_eq!(normalize_scope(sub).unwrap(), sub);
        assert_eq!(normalize_scope(&format!("{sub}/")).unwrap(), sub);
        assert_eq!(
            normalize_scope(&format!("/providers/Microsoft.Subscription{sub}")).unwrap(),
            sub
        );
        assert_eq!(normalize_scope("/").unwrap(), "");
        assert!(
            normalize_scope("/providers/Microsoft.Management/managementGroups/contoso").is_ok()
        );
        for bad in [
            "/subscriptions/x?api-version=1",
            "/subscriptions/x#y",
            "/subscriptions/x/../../other",
            "/subscriptions/x%2F..",
            "/subscriptions/a b",
            "/subscriptions",
            "/tenants/x",
            "/providers/Microsoft.Management/managementGroups/a/b",
        ] {
            let e = normalize_scope(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn ids_compare_without_case_or_alias() {
        assert!(same_scope(
            "/providers/Microsoft.Subscription/subscriptions/AB",
            "/subscriptions/ab/"
        ));
        assert!(!same_scope(
            "/subscriptions/ab",
            "/subscriptions/ab/resourceGroups/rg"
        ));
        assert_eq!(
            role_guid(
                "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/B24988AC-6180-42a0-ab88-20f7382dd24c"
            ),
            "b24988ac-6180-42a0-ab88-20f7382dd24c"
        );
    }
}
