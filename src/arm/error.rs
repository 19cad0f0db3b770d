//! ARM's CloudError answers as [`GraphError`]s: the same kinds pim already
//! branches on (`RoleAssignmentExists`, policy failures with their rule
//! names, `Forbidden`, …), marked as ARM's, with hints that name Azure RBAC
//! actions and roles instead of Graph permissions. Server text is quoted
//! short and escaped, as for Graph; the token never appears.

use super::wire::CloudError;
use crate::graph::{ErrorKind, GraphError, Service, body_excerpt, excerpt, failed_rules};

/// Characters of an ARM message quoted at most (the Graph client's figure).
const EXCERPT_CHARS: usize = crate::graph::EXCERPT_CHARS;

/// The error an ARM answer of `status` with `body` stands for.
pub(crate) fn from_response(
    operation: &str,
    status: u16,
    body: &[u8],
    content_type: Option<&str>,
    request_id: Option<String>,
) -> GraphError {
    let cloud: CloudError = serde_json::from_slice(body).unwrap_or_default();
    let mut code = cloud.error.code;
    let mut message = cloud.error.message;
    // Some answers put the reason in their first detail only.
    if let Some(d) = cloud.error.details.into_iter().next() {
        if code.is_empty() {
            code = d.code;
        }
        if message.is_empty() {
            message = d.message;
        }
    }
    if code.is_empty() && message.is_empty() {
        message = format!(
            "({}) {}",
            content_type.map_or("no content type".into(), |c| excerpt(c, 100)),
            body_excerpt(body, EXCERPT_CHARS)
        );
    }
    from_parts(operation, status, code, message, request_id)
}

/// The kind is decided by ARM's code before its status: ARM's status for
/// the PIM codes is UNVERIFIED (arm-pim.md §15), so a
/// `RoleAssignmentDoesNotExist` reads the same at 400 or 404.
pub(crate) fn from_parts(
    operation: &str,
    status: u16,
    code: String,
    message: String,
    request_id: Option<String>,
) -> GraphError {
    let kind = match code.as_str() {
        "RoleAssignmentRequestPolicyValidationFailed" => {
            ErrorKind::PolicyValidation(failed_rules(&message))
        }
        "RoleAssignmentExists" => ErrorKind::RoleAssignmentExists,
        "RoleAssignmentDoesNotExist" => ErrorKind::RoleAssignmentDoesNotExist,
        "AuthorizationFailed" | "LinkedAuthorizationFailed" => ErrorKind::Forbidden,
        c if c.starts_with("InvalidAuthenticationToken")
            || c == "ExpiredAuthenticationToken"
            || c == "AuthenticationFailed" =>
        {
            ErrorKind::Unauthorized
        }
        _ => match status {
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::Throttled,
            400..=499 => ErrorKind::BadRequest,
            _ => ErrorKind::Server,
        },
    };
    let permission = match kind {
        ErrorKind::Forbidden => named_action(&message)
            .map(with_roles)
            .or_else(|| permission_for(operation).map(str::to_string)),
        ErrorKind::Unauthorized if code == "InvalidAuthenticationTokenAudience" => {
            Some("a token for https://management.azure.com (not one for Graph)".to_string())
        }
        _ => None,
    };
    GraphError {
        service: Service::Arm,
        status: Some(status),
        code: excerpt(&code, 100),
        request_id: request_id.map(|id| excerpt(&id, 100)),
        permission,
        ..GraphError::new(kind, operation, excerpt(&message, EXCERPT_CHARS))
    }
}

/// The action an `AuthorizationFailed` message names: `… to perform action
/// 'Microsoft.Authorization/roleEligibilityScheduleRequests/write' over
/// scope …` (ARM's generic wording).
fn named_action(message: &str) -> Option<&str> {
    const LEAD: &str = "perform action '";
    let at = message.find(LEAD)? + LEAD.len();
    let rest = &message[at..];
    let action = &rest[..rest.find('\'')?];
    let plain = action
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-'));
    (plain && action.starts_with("Microsoft.")).then_some(action)
}

fn with_roles(action: &str) -> String {
    if action.ends_with("/read") {
        format!("{action} (every built-in role has it, Reader included)")
    } else {
        format!("{action} at the scope (Owner or User Access Administrator there)")
    }
}

/// The RBAC action (and the roles that hold it) an ARM operation needs,
/// from its method and path.
pub fn permission_for(operation: &str) -> Option<&'static str> {
    let (method, path) = operation.split_once(' ').unwrap_or(("GET", operation));
    let write = method != "GET";
    let lower = path.to_ascii_lowercase();
    let collection = lower
        .rsplit_once("/providers/microsoft.authorization/")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())?;
    Some(match (collection, write) {
        ("roleeligibilityschedulerequests", true) => {
            "Microsoft.Authorization/roleEligibilityScheduleRequests/write at the scope (Owner or User Access Administrator there; an activation needs an eligibility instead)"
        }
        ("roleassignmentschedulerequests", true) => {
            "Microsoft.Authorization/roleAssignmentScheduleRequests/write at the scope (Owner or User Access Administrator there; an activation needs an eligibility instead)"
        }
        ("rolemanagementpolicies", true) => {
            "Microsoft.Authorization/roleManagementPolicies/write at the scope (Owner or User Access Administrator there)"
        }
        ("rolemanagementpolicies" | "rolemanagementpolicyassignments", false) => {
            "Microsoft.Authorization/roleManagementPolicies/read at the scope (every built-in role has it, Reader included)"
        }
        (_, false) => {
            "Microsoft.Authorization/roleAssignments/read at the scope (every built-in role has it, Reader included)"
        }
        (_, true) => {
            "Microsoft.Authorization/roleAssignments/write at the scope (Owner or User Access Administrator there)"
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUT: &str =
        "PUT /subscriptions/s/providers/Microsoft.Authorization/roleEligibilityScheduleRequests/n";

    fn fixture(name: &str) -> (u16, Vec<u8>) {
        let path = format!(
            "{}/crates/pim-emulator/tests/fixtures/arm/examples/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let status = v["response"]["status"].as_u64().unwrap() as u16;
        (status, serde_json::to_vec(&v["response"]["body"]).unwrap())
    }

    #[test]
    fn the_documented_errors_map_onto_graphs_kinds() {
        let (status, body) =
            fixture("error_create_roleEligibilityScheduleRequest_ExpirationRule.json");
        let e = from_response(PUT, status, &body, None, Some("rid".into()));
        assert_eq!(
            e.kind,
            ErrorKind::PolicyValidation(vec!["ExpirationRule".into()])
        );
        assert_eq!(e.service, Service::Arm);
        assert!(
            e.to_string().starts_with(&format!(
                "{PUT} broke the role's policy: ExpirationRule failed"
            )),
            "{e}"
        );
        let (status, body) =
            fixture("error_create_roleEligibilityScheduleRequest_RoleAssignmentExists.json");
        assert_eq!(
            from_response(PUT, status, &body, None, None).kind,
            ErrorKind::RoleAssignmentExists
        );
        let gone = from_parts(
            PUT,
            404,
            "RoleAssignmentDoesNotExist".into(),
            "gone".into(),
            None,
        );
        assert_eq!(gone.kind, ErrorKind::RoleAssignmentDoesNotExist);
    }

    #[test]
    fn refusals_name_rbac_actions_not_graph_permissions() {
        let e = from_parts(
            PUT,
            403,
            "AuthorizationFailed".into(),
            "The client 'x' with object id 'x' does not have authorization to perform action 'Microsoft.Authorization/roleEligibilityScheduleRequests/write' over scope '/subscriptions/s' or the scope is invalid.".into(),
            None,
        );
        assert_eq!(e.kind, ErrorKind::Forbidden);
        let text = e.to_string();
        assert!(text.starts_with("ARM refused PUT"), "{text}");
        assert!(
            text.contains("needs Microsoft.Authorization/roleEligibilityScheduleRequests/write at the scope (Owner or User Access Administrator"),
            "{text}"
        );
        assert!(
            !text.contains("RoleManagement.") && !text.contains("Privileged Role Administrator"),
            "{text}"
        );
        let e = from_parts(
            "GET /subscriptions/s/providers/Microsoft.Authorization/roleEligibilitySchedules",
            401,
            "InvalidAuthenticationTokenAudience".into(),
            "wrong audience".into(),
            None,
        );
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert!(
            e.to_string().contains("https://management.azure.com"),
            "{e}"
        );
        let e = from_parts(
            "PATCH /subscriptions/s/providers/Microsoft.Authorization/roleManagementPolicies/p",
            403,
            "Forbidden".into(),
            "no".into(),
            None,
        );
        assert!(
            e.permission
                .unwrap()
                .starts_with("Microsoft.Authorization/roleManagementPolicies/write")
        );
    }

    #[test]
    fn answers_that_are_not_cloud_errors_are_quoted_short() {
        let e = from_response(
            PUT,
            502,
            b"<html>\n bad gateway</html>",
            Some("text/html"),
            None,
        );
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(
            e.message.contains("text/html") && !e.to_string().contains('\n'),
            "{e}"
        );
        let throttled = from_parts(
            PUT,
            429,
            "SubscriptionRequestsThrottled".into(),
            "wait".into(),
            None,
        );
        assert_eq!(throttled.kind, ErrorKind::Throttled);
    }
}
