//! `GraphError`: every way a Graph call can fail, as one line a person can
//! act on (what failed, Graph's code and message, the permission to grant,
//! and the `request-id` Microsoft support asks for), never a stack of
//! transport internals.

use std::fmt;

/// What kind of failure, so callers can branch without parsing text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// No token could be had (bad secret, no Azure CLI login, no managed identity…).
    Auth,
    /// 401: the token was refused.
    Unauthorized,
    /// 403: the identity lacks a permission or a directory role.
    Forbidden,
    /// 404.
    NotFound,
    /// 400 `RoleAssignmentRequestPolicyValidationFailed`, with the failed rules
    /// (`ExpirationRule`, `JustificationRule`, …).
    PolicyValidation(Vec<String>),
    /// 400 `RoleAssignmentExists`.
    RoleAssignmentExists,
    /// 400 `RoleAssignmentDoesNotExist`.
    RoleAssignmentDoesNotExist,
    /// Any other 4xx.
    BadRequest,
    /// A 5xx that retrying did not cure (or that is not worth retrying).
    Server,
    /// 429/503/504 until the retry budget ran out.
    Throttled,
    /// The name did not resolve or the connection was refused.
    Connect,
    /// No answer in time.
    Timeout,
    /// The connection broke in another way.
    Network,
    /// A write whose outcome could not be established (connection lost after
    /// sending, and the follow-up read failed too).
    OutcomeUnknown,
    /// Graph answered something pim cannot read.
    Decode,
    /// A URL in Graph's answer (a next link, a redirect) leads away from the
    /// Graph root; not followed, so the token never goes there.
    UntrustedUrl,
    /// Paging broke its contract: a link seen before in the same read, a
    /// page larger than the `$top` asked for, or more pages than pim reads.
    Paging,
    /// An answer larger than pim reads.
    TooLarge,
    /// Settings that cannot work (plain HTTP to a remote host, unreadable CA file…).
    Config,
}

/// Which service a call went to, for the one line that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Service {
    #[default]
    Graph,
    /// Azure Resource Manager (`crate::arm`).
    Arm,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Graph => "Graph",
            Service::Arm => "ARM",
        }
    }
}

/// A failed Graph (or ARM) call.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub kind: ErrorKind,
    pub service: Service,
    /// `GET /roleManagement/directory/roleEligibilitySchedules`, or what was being done.
    pub operation: String,
    pub status: Option<u16>,
    /// Graph's `error.code`.
    pub code: String,
    /// Graph's `error.message`, or the transport's own one-line reason.
    pub message: String,
    /// Graph's `request-id`, for support cases.
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
    /// The permission whose absence explains a 401/403: the one Graph
    /// names, else the one the operation needs.
    pub permission: Option<String>,
}

impl GraphError {
    pub fn new(kind: ErrorKind, operation: impl Into<String>, message: impl Into<String>) -> Self {
        GraphError {
            kind,
            service: Service::Graph,
            operation: operation.into(),
            status: None,
            code: String::new(),
            message: message.into(),
            request_id: None,
            client_request_id: None,
            permission: None,
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        GraphError::new(ErrorKind::Config, "configure the Graph client", message)
    }

    /// A decoding failure; `message` often quotes the server (serde quotes
    /// the offending value whole), so only an excerpt is kept.
    pub fn decode(operation: impl Into<String>, message: impl AsRef<str>) -> Self {
        GraphError::new(
            ErrorKind::Decode,
            operation,
            excerpt(message.as_ref(), EXCERPT_CHARS),
        )
    }

    /// An error from an HTTP status and Graph's error envelope.
    pub fn from_status(
        operation: impl Into<String>,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    ) -> Self {
        let operation = operation.into();
        let (code, message) = unwrap_inner(code, message);
        let kind = match (status, code.as_str()) {
            (401, _) => ErrorKind::Unauthorized,
            (403, _) => ErrorKind::Forbidden,
            (404, _) => ErrorKind::NotFound,
            (_, "RoleAssignmentRequestPolicyValidationFailed") => {
                ErrorKind::PolicyValidation(failed_rules(&message))
            }
            (_, "RoleAssignmentExists") => ErrorKind::RoleAssignmentExists,
            (_, "RoleAssignmentDoesNotExist") => ErrorKind::RoleAssignmentDoesNotExist,
            (429, _) => ErrorKind::Throttled,
            (400..=499, _) => ErrorKind::BadRequest,
            _ => ErrorKind::Server,
        };
        let permission = match kind {
            ErrorKind::Unauthorized | ErrorKind::Forbidden => missing_scopes(&code, &message)
                .or_else(|| permission_for(&operation).map(str::to_string)),
            _ => None,
        };
        // Whatever the server sends ends up in one line on stderr: bounded
        // and free of control characters.
        GraphError {
            kind,
            service: Service::Graph,
            operation,
            status: Some(status),
            code: excerpt(&code, 100),
            message: excerpt(&message, EXCERPT_CHARS),
            request_id: request_id.map(|id| excerpt(&id, 100)),
            client_request_id: None,
            permission,
        }
    }

    pub fn with_client_request_id(mut self, id: Option<String>) -> Self {
        self.client_request_id = id;
        self
    }

    /// The policy rules a create request broke, if that is why it failed.
    pub fn failed_rules(&self) -> &[String] {
        match &self.kind {
            ErrorKind::PolicyValidation(r) => r,
            _ => &[],
        }
    }

    /// Replication delay after a principal or role was created: Graph's
    /// `404 SubjectNotFound` / `RoleNotFound`, worth retrying for a while.
    pub fn is_replication_delay(&self) -> bool {
        self.status == Some(404) && matches!(self.code.as_str(), "SubjectNotFound" | "RoleNotFound")
    }
}

/// The code and message Graph's PIM service puts as JSON inside the
/// message of an `UnknownError`
/// (`{"errorCode":"PermissionScopeNotGranted","message":"…","instanceAnnotations":[]}`);
/// anything else as it came.
fn unwrap_inner(code: String, message: String) -> (String, String) {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        error_code: String,
        #[serde(default)]
        message: String,
    }
    if !message.trim_start().starts_with('{') {
        return (code, message);
    }
    match serde_json::from_str::<Inner>(&message) {
        Ok(inner) if !inner.error_code.trim().is_empty() => (inner.error_code, inner.message),
        _ => (code, message),
    }
}

/// The permissions a `PermissionScopeNotGranted` message names
/// (`Authorization failed due to missing permission scope A,B.`; wording
/// as observed, UNVERIFIED beyond that): any one of them would do. Graph
/// may name one twice.
fn missing_scopes(code: &str, message: &str) -> Option<String> {
    if code != "PermissionScopeNotGranted" {
        return None;
    }
    const LEAD: &str = "missing permission scope";
    let at = message.find(LEAD)? + LEAD.len();
    let mut names: Vec<&str> = Vec::new();
    for name in message[at..]
        .trim()
        .trim_end_matches('.')
        .split([',', ' '])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            return None;
        }
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name);
        }
    }
    let (first, rest) = names.split_first()?;
    Some(if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first} (or {})", rest.join(", "))
    })
}

/// Characters of server text an error quotes at most.
pub(crate) const EXCERPT_CHARS: usize = 300;

/// At most `max` characters of `text`, control and bidirectional-override
/// characters escaped (`\n`, `\u{1b}`), `…` when cut: server text quoted in
/// an error can neither flood the terminal nor rewrite it.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0usize;
    for c in text.chars() {
        let piece: String = if c.is_control() || is_bidi_control(c) {
            c.escape_debug().collect()
        } else {
            c.to_string()
        };
        let n = piece.chars().count();
        if used + n > max {
            out.push('…');
            return out;
        }
        used += n;
        out.push_str(&piece);
    }
    out
}

/// An excerpt of a body that may be anything, of any size: only its first
/// few bytes are decoded.
pub(crate) fn body_excerpt(body: &[u8], max: usize) -> String {
    if body.is_empty() {
        return "an empty body".to_string();
    }
    // A character takes at most 4 bytes, and an escape shows one as at most 10.
    let head = &body[..body.len().min(max * 4)];
    let text = String::from_utf8_lossy(head);
    let mut e = excerpt(&text, max);
    if head.len() < body.len() && !e.ends_with('…') {
        e.push('…');
    }
    e
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `The following policy rules failed: ["ExpirationRule","MfaRule"]` → the names.
pub fn failed_rules(message: &str) -> Vec<String> {
    let Some(start) = message.find('[') else {
        return Vec::new();
    };
    let end = message[start..]
        .find(']')
        .map_or(message.len(), |e| start + e);
    message[start + 1..end]
        .split(',')
        .map(|s| s.trim().trim_matches('"').trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The application permission an operation needs, from its method and path.
pub fn permission_for(operation: &str) -> Option<&'static str> {
    let (method, path) = operation.split_once(' ').unwrap_or(("GET", operation));
    let write = method != "GET";
    let path = path.trim_start_matches('/');
    let path = path.strip_prefix("v1.0/").unwrap_or(path);
    if path.starts_with("policies/roleManagementPolic") {
        Some(if write {
            "RoleManagementPolicy.ReadWrite.Directory (or RoleManagement.ReadWrite.Directory)"
        } else {
            "RoleManagementPolicy.Read.Directory (or RoleManagement.Read.Directory)"
        })
    } else if path.starts_with("roleManagement/") {
        Some(if write {
            "RoleManagement.ReadWrite.Directory"
        } else {
            "RoleManagement.Read.Directory"
        })
    } else if path.starts_with("users") {
        Some("User.Read.All (or Directory.Read.All)")
    } else if path.starts_with("groups")
        || path.starts_with("servicePrincipals")
        || path.starts_with("directoryObjects")
        || path.starts_with("directory/")
    {
        Some("Directory.Read.All")
    } else {
        None
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = &self.operation;
        let svc = self.service.name();
        match &self.kind {
            ErrorKind::Auth => write!(f, "authentication failed: {}", self.message)?,
            ErrorKind::Connect => write!(f, "cannot connect to {svc} for {op}: {}", self.message)?,
            ErrorKind::Timeout => write!(f, "{svc} did not answer {op} in time: {}", self.message)?,
            ErrorKind::Network => {
                write!(f, "connection to {svc} broke during {op}: {}", self.message)?
            }
            ErrorKind::OutcomeUnknown => write!(
                f,
                "the outcome of {op} is unknown (connection lost after sending, and checking failed): {}",
                self.message
            )?,
            ErrorKind::Decode => {
                write!(f, "unexpected answer from {svc} to {op}: {}", self.message)?
            }
            ErrorKind::Config => write!(f, "{}", self.message)?,
            ErrorKind::UntrustedUrl => write!(
                f,
                "refused to follow {svc}'s answer to {op}: {}",
                self.message
            )?,
            ErrorKind::Paging => write!(f, "paging of {op} failed: {}", self.message)?,
            ErrorKind::TooLarge => {
                write!(f, "{svc}'s answer to {op} is too large: {}", self.message)?
            }
            ErrorKind::Throttled => write!(
                f,
                "{svc} kept refusing {op} (throttled or unavailable; gave up retrying): {}",
                status_code(self)
            )?,
            ErrorKind::PolicyValidation(rules) => write!(
                f,
                "{op} broke the role's policy: {} failed",
                if rules.is_empty() {
                    self.message.clone()
                } else {
                    rules.join(", ")
                }
            )?,
            ErrorKind::Forbidden
                if self.service == Service::Graph && self.code == "PermissionScopeNotGranted" =>
            {
                write!(f, "Graph refused {op}: pim lacks the Graph permission ")?;
                match &self.permission {
                    Some(p) => write!(f, "{p}")?,
                    None => write!(f, "it needs")?,
                }
                write!(
                    f,
                    ": grant it to the application pim signs in as and give admin consent ({})",
                    status_code(self)
                )?;
            }
            ErrorKind::Unauthorized | ErrorKind::Forbidden => {
                write!(f, "{svc} refused {op}: {}", status_code(self))?;
                if let Some(p) = &self.permission {
                    match self.service {
                        Service::Graph => write!(f, "; the identity needs the {p} permission")?,
                        // ARM's hint names the action and the roles that hold it.
                        Service::Arm => write!(f, "; the identity needs {p}")?,
                    }
                    if self.kind == ErrorKind::Forbidden
                        && self.service == Service::Graph
                        && op.starts_with("POST")
                    {
                        write!(
                            f,
                            " and, when signed in as a user, the Privileged Role Administrator role"
                        )?;
                    }
                }
            }
            _ => write!(f, "{op} failed: {}", status_code(self))?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

fn status_code(e: &GraphError) -> String {
    let mut s = String::new();
    if let Some(st) = e.status {
        s.push_str(&st.to_string());
    }
    if !e.code.is_empty() {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&e.code);
    }
    let msg = e.message.lines().next().unwrap_or_default();
    if !msg.is_empty() {
        if s.is_empty() {
            s.push_str(msg);
        } else {
            s.push_str(": ");
            s.push_str(msg);
        }
    }
    s
}

impl std::error::Error for GraphError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_failed_rules() {
        assert_eq!(
            failed_rules(r#"The following policy rules failed: ["ExpirationRule"]"#),
            vec!["ExpirationRule"]
        );
        assert_eq!(
            failed_rules(
                r#"The following policy rules failed: ["EligibilityRule","ExpirationRule"]"#
            ),
            vec!["EligibilityRule", "ExpirationRule"]
        );
        assert!(failed_rules("nothing here").is_empty());
    }

    #[test]
    fn one_line_displays() {
        let e = GraphError::from_status(
            "GET /roleManagement/directory/roleEligibilitySchedules",
            403,
            "Authorization_RequestDenied".into(),
            "Insufficient privileges to complete the operation.".into(),
            Some("abc".into()),
        );
        assert_eq!(
            e.to_string(),
            "Graph refused GET /roleManagement/directory/roleEligibilitySchedules: 403 Authorization_RequestDenied: \
             Insufficient privileges to complete the operation.; the identity needs the RoleManagement.Read.Directory \
             permission (request-id abc)"
        );
        let e = GraphError::from_status(
            "POST /roleManagement/directory/roleEligibilityScheduleRequests",
            400,
            "RoleAssignmentRequestPolicyValidationFailed".into(),
            r#"The following policy rules failed: ["ExpirationRule"]"#.into(),
            None,
        );
        assert_eq!(e.failed_rules(), ["ExpirationRule"]);
        assert!(!e.to_string().contains('\n'));
        assert_eq!(
            permission_for("GET /users/alice@contoso.com"),
            Some("User.Read.All (or Directory.Read.All)")
        );
    }

    #[test]
    fn names_the_permission_graphs_pim_service_says_is_missing() {
        // As Graph sends it (terraform-provider-azuread #1727): the detail is
        // JSON inside the message string.
        let body = r#"{"error":{"code":"UnknownError","message":"{\"errorCode\":\"PermissionScopeNotGranted\",\"message\":\"Authorization failed due to missing permission scope RoleManagement.ReadWrite.Directory,RoleManagement.ReadWrite.Directory.\",\"instanceAnnotations\":[]}","innerError":{"date":"2025-06-26T09:12:40","request-id":"5c6a1f0e-0c1b-4d52-9a5e-7f0e3c2b1a90","client-request-id":"5c6a1f0e-0c1b-4d52-9a5e-7f0e3c2b1a90"}}}"#;
        let odata: crate::graph::wire::ODataError = serde_json::from_str(body).unwrap();
        let e = GraphError::from_status(
            "POST /roleManagement/directory/roleEligibilityScheduleRequests",
            403,
            odata.error.code,
            odata.error.message,
            Some("5c6a1f0e".into()),
        );
        assert_eq!(e.kind, ErrorKind::Forbidden);
        assert_eq!(e.code, "PermissionScopeNotGranted");
        assert_eq!(
            e.permission.as_deref(),
            Some("RoleManagement.ReadWrite.Directory")
        );
        assert_eq!(
            e.to_string(),
            "Graph refused POST /roleManagement/directory/roleEligibilityScheduleRequests: pim lacks \
             the Graph permission RoleManagement.ReadWrite.Directory: grant it to the application pim \
             signs in as and give admin consent (403 PermissionScopeNotGranted: Authorization failed \
             due to missing permission scope RoleManagement.ReadWrite.Directory,RoleManagement.\
             ReadWrite.Directory.) (request-id 5c6a1f0e)"
        );

        // Several accepted permissions: any one would do.
        let e = GraphError::from_status(
            "GET /roleManagement/directory/roleAssignmentScheduleRequests",
            403,
            "UnknownError".into(),
            r#"{"errorCode":"PermissionScopeNotGranted","message":"Authorization failed due to missing permission scope RoleAssignmentSchedule.ReadWrite.Directory,RoleManagement.ReadWrite.Directory.","instanceAnnotations":[]}"#.into(),
            None,
        );
        assert_eq!(
            e.permission.as_deref(),
            Some(
                "RoleAssignmentSchedule.ReadWrite.Directory (or RoleManagement.ReadWrite.Directory)"
            )
        );
        // A message that names none: the operation's own permission.
        let e = GraphError::from_status(
            "POST /roleManagement/directory/roleAssignmentScheduleRequests",
            403,
            "UnknownError".into(),
            r#"{"errorCode":"PermissionScopeNotGranted","message":"Authorization failed.","instanceAnnotations":[]}"#.into(),
            None,
        );
        assert_eq!(
            e.permission.as_deref(),
            Some("RoleManagement.ReadWrite.Directory")
        );
        // The same wrapping on other answers is unwrapped too.
        let e = GraphError::from_status(
            "GET /policies/roleManagementPolicies",
            400,
            "UnknownError".into(),
            r#"{"errorCode":"MissingProvider","message":"The provider is missing.","instanceAnnotations":[]}"#.into(),
            None,
        );
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert_eq!(
            e.to_string(),
            "GET /policies/roleManagementPolicies failed: 400 MissingProvider: The provider is missing."
        );
    }

    #[test]
    fn server_text_is_quoted_short_and_escaped() {
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt("abcd", 3), "abc…");
        assert_eq!(excerpt("a\nb\x1b[2Jc", 20), "a\\nb\\u{1b}[2Jc");
        assert_eq!(excerpt("x\u{202e}y", 20), "x\\u{202e}y");
        let huge = "é".repeat(10_000_000);
        let e = body_excerpt(huge.as_bytes(), EXCERPT_CHARS);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1, "{e}");
        assert!(e.ends_with('…'));
        assert_eq!(body_excerpt(b"", 10), "an empty body");
        let e = GraphError::from_status(
            "GET /users",
            400,
            "Bad\nCode".into(),
            format!("{}\n", "m".repeat(100_000)),
            Some("id\r\n".into()),
        );
        let text = e.to_string();
        assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
        assert!(text.len() < 600, "{}", text.len());
    }
}
