//! Why a self-service command did not do what was asked: refused before
//! sending (with the policy rule at stake), refused by Graph (with its code),
//! or not settled in time. Every variant reads as one line with a hint.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::graph::{ErrorKind, GraphError};
use crate::model::RequestAction;

/// One reason a request would fail, found before sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, in words.
    pub what: String,
    /// The policy rule id (`Expiration_EndUser_Assignment`, …) or Graph's
    /// name for the check (`EligibilityRule`, `JustificationRule`).
    pub rule: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(what: impl Into<String>) -> Self {
        Problem {
            what: what.into(),
            rule: None,
            hint: None,
        }
    }

    pub fn rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SelfServiceError {
    /// Reading the tenant failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("{}", unknown_role(name, suggestions))]
    UnknownRole {
        name: String,
        suggestions: Vec<String>,
    },
    #[error(
        "no administrative unit {0:?}; hint: give the scope as /, an administrative unit's display name or id, or /administrativeUnits/<id or display name>"
    )]
    UnknownScope(String),
    #[error(
        "{0:?} is not an Azure scope; hint: give it as /subscriptions/<id>, /subscriptions/<id>/resourceGroups/<name>, a resource id, or /providers/Microsoft.Management/managementGroups/<id>"
    )]
    UnknownAzureScope(String),
    /// An Azure role without an ARM `--scope`, which the caller holds
    /// nowhere (or named at a directory scope).
    #[error(
        "{role:?} is an Azure role, and you hold it at no Azure scope now; hint: give its scope with --scope /subscriptions/<id> (or another ARM scope)"
    )]
    NoAzureScope { role: String },
    /// An Azure role was named, and pim has no client for ARM.
    #[error(
        "pim has no client for Azure Resource Manager, which Azure roles need; hint: check PIM_ARM_URL and the sign-in"
    )]
    NoArm,
    /// A group that does not resolve to one group, or an access that is
    /// neither member nor owner.
    #[error("{what}; hint: {hint}")]
    UnknownGroup { what: String, hint: String },
    /// No `--scope`, and the caller holds the role at more than one.
    #[error("{}", several_scopes(role, scopes))]
    SeveralScopes { role: String, scopes: Vec<String> },
    /// `--principal` names no one.
    #[error(
        "no principal {0:?}; hint: give it as user:UPN, group:Name, sp:Name or appId, or an object id"
    )]
    UnknownPrincipal(String),
    /// The checks found problems: nothing was sent.
    #[error("{}", refused(subject, problems))]
    Refused {
        /// `Global Administrator at /`.
        subject: String,
        problems: Vec<Problem>,
    },
    /// Graph refused the request.
    #[error("{}", rejected(what, error, hint.as_deref()))]
    Rejected {
        /// `selfActivate`, `cancel`, …
        what: String,
        error: GraphError,
        hint: Option<String>,
    },
    /// `--wait` ran out of time; the request stands.
    #[error(
        "request {request_id} is still {status} after {waited}; hint: see it with pim requests show {request_id}, cancel it with pim requests cancel {request_id}"
    )]
    TimedOut {
        request_id: String,
        status: String,
        waited: String,
    },
    /// The request ended without taking effect.
    #[error(
        "request {request_id} was {status}; hint: see who decided and why, as far as Graph says, with pim requests show {request_id}"
    )]
    Ended { request_id: String, status: String },
    /// Ending an activation in its first five minutes, which Graph refuses
    /// (`ActiveDurationTooShort`): found before sending.
    #[error(
        "not sent: {subject}: it was activated at {} and can be ended from {} on (Graph refuses earlier with ActiveDurationTooShort); hint: try again then",
        utc(*activated),
        utc(*from)
    )]
    TooSoon {
        subject: String,
        activated: DateTime<Utc>,
        from: DateTime<Utc>,
    },
    #[error("no request {0} (by id or the start of one); hint: list them with pim requests --mine")]
    NoSuchRequest(String),
    #[error("no request {0} waits for your approval; hint: pim approvals lists those that do")]
    NotWaitingForYou(String),
    #[error(
        "request {request_id} was decided by another approver first; hint: pim requests show {request_id} says how"
    )]
    AlreadyDecided { request_id: String },
    /// Graph v1.0 has no API to decide a directory role's activation.
    #[error(
        "request {request_id} ({subject}) activates a directory role, and Microsoft Graph v1.0 has no API to approve or deny those; hint: decide it in the Microsoft Entra admin center, under Identity governance > Privileged Identity Management > Approve requests (pim approves PIM for Groups requests)"
    )]
    NoApprovalApi { request_id: String, subject: String },
    /// A prefix that starts more than one request's id.
    #[error("{}", ambiguous(prefix, matches))]
    AmbiguousRequest {
        prefix: String,
        /// `<id> (<action> <role> at <scope>, <status>)`, one per match.
        matches: Vec<String>,
    },
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn several_scopes(role: &str, scopes: &[String]) -> String {
    format!(
        "you hold {role:?} at {} scopes: {}; hint: choose one with --scope",
        scopes.len(),
        scopes.join(", ")
    )
}

fn ambiguous(prefix: &str, matches: &[String]) -> String {
    format!(
        "{prefix} starts the ids of {} requests: {}; hint: give more of the id",
        matches.len(),
        matches.join("; ")
    )
}

fn unknown_role(name: &str, suggestions: &[String]) -> String {
    match suggestions {
        [] => format!("no role {name:?}; hint: list your roles with pim my roles"),
        s => format!("no role {name:?}; hint: did you mean {}?", s.join(", ")),
    }
}

fn refused(subject: &str, problems: &[Problem]) -> String {
    let what: Vec<String> = problems
        .iter()
        .map(|p| match &p.rule {
            Some(r) => format!("{} (rule {r})", p.what),
            None => p.what.clone(),
        })
        .collect();
    let hints: Vec<&str> = problems.iter().filter_map(|p| p.hint.as_deref()).collect();
    let mut s = format!("not sent: {subject}: {}", what.join("; "));
    if !hints.is_empty() {
        s.push_str("; hint: ");
        s.push_str(&hints.join("; "));
    }
    s
}

fn rejected(what: &str, e: &GraphError, hint: Option<&str>) -> String {
    let mut s = format!("{} refused {what}: ", e.service.name());
    match e.status {
        Some(status) => {
            s.push_str(&status.to_string());
            if !e.code.is_empty() {
                s.push(' ');
                s.push_str(&e.code);
            }
            s.push_str(": ");
            s.push_str(e.message.lines().next().unwrap_or_default());
        }
        None => s.push_str(&e.to_string()),
    }
    if let Some(id) = &e.request_id {
        s.push_str(&format!(" (request-id {id})"));
    }
    if let Some(h) = hint {
        s.push_str("; hint: ");
        s.push_str(h);
    }
    s
}

/// What to do about Graph's answer, by its code (and failed rules).
fn hint_for(action: Option<RequestAction>, e: &GraphError) -> Option<String> {
    let rules = e.failed_rules();
    if !rules.is_empty() {
        let hints: Vec<&str> = rules
            .iter()
            .filter_map(|r| match r.as_str() {
                "EligibilityRule" => Some(
                    "you are not eligible for this role at this scope (any more): see pim my roles",
                ),
                "ExpirationRule" => Some("ask for a shorter --duration, within the role's maximum"),
                "JustificationRule" => Some("say why with --justification TEXT"),
                "TicketingRule" => Some("give the ticket with --ticket SYSTEM:NUMBER"),
                "MfaRule" => Some(
                    "sign in again with multi-factor authentication (az logout, then az login; against the emulator, --mfa)",
                ),
                _ => None,
            })
            .collect();
        return (!hints.is_empty()).then(|| hints.join("; "));
    }
    let h = match (&e.kind, e.code.as_str()) {
        (_, "ActiveDurationTooShort") => {
            "an activation can be ended only 5 minutes after it started; try again in a few minutes"
        }
        (ErrorKind::RoleAssignmentExists, _) => "it is already active: see pim my roles",
        (ErrorKind::RoleAssignmentDoesNotExist, _) => match action {
            Some(RequestAction::SelfDeactivate) => {
                "nothing of yours is active there: see pim my roles"
            }
            Some(RequestAction::SelfRenew) => {
                "nothing expired in the last 30 days to renew: see pim my roles"
            }
            _ => "you hold no such grant: see pim my roles",
        },
        (_, "PendingRoleAssignmentRequest" | "RoleAssignmentRequestExists") => {
            "a request for it is already waiting: see pim requests --mine"
        }
        (_, "RequestCannotBeCancelled") => CANCEL_REFUSED,
        (ErrorKind::Unauthorized | ErrorKind::Forbidden, _)
            if e.service == crate::graph::Service::Arm =>
        {
            "sign in as the person who holds the role (az login), with a token for Azure Resource Manager"
        }
        (ErrorKind::Unauthorized | ErrorKind::Forbidden, _) => {
            "sign in as the person who holds the role (az login), with a token for Microsoft Graph"
        }
        _ => return None,
    };
    Some(h.to_string())
}

/// What a refused cancel means, whichever code Graph gave it.
const CANCEL_REFUSED: &str =
    "only a request still waiting can be canceled; end an active role with pim deactivate";

impl SelfServiceError {
    pub(crate) fn rejected(action: RequestAction, error: GraphError) -> Self {
        SelfServiceError::Rejected {
            what: action.as_str().to_string(),
            hint: hint_for(Some(action), &error),
            error,
        }
    }

    pub(crate) fn cancel_rejected(error: GraphError) -> Self {
        // The v1.0 docs give a refused cancel a 400 and no code; the legacy
        // API's `RequestCannotBeCancelled` may or may not be what comes, so
        // any 400 gets the same hint.
        let hint = match (error.status, &error.kind) {
            (Some(400), _) => Some(CANCEL_REFUSED.to_string()),
            (_, ErrorKind::NotFound) => Some(
                "Graph no longer holds that request (it keeps requests about 45 days): see pim requests"
                    .to_string(),
            ),
            _ => hint_for(None, &error),
        };
        SelfServiceError::Rejected {
            what: "cancel".to_string(),
            hint,
            error,
        }
    }

    /// PIM's rules said no (before sending, or Graph did): nothing changed.
    pub fn is_refusal(&self) -> bool {
        match self {
            SelfServiceError::Refused { .. } | SelfServiceError::TooSoon { .. } => true,
            SelfServiceError::Rejected { error, .. } => error.status == Some(400),
            _ => false,
        }
    }

    /// Graph's error code, when Graph refused.
    pub fn graph_code(&self) -> Option<&str> {
        match self {
            SelfServiceError::Rejected { error, .. } | SelfServiceError::Graph(error) => {
                Some(error.code.as_str()).filter(|c| !c.is_empty())
            }
            _ => None,
        }
    }
}

/// `PT4H` → `4h`, `P1DT2H30M` → `1d 2h 30m`: durations as people read them.
pub(crate) fn human(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

pub(crate) struct Human(pub i64);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(status: u16, kind: ErrorKind, code: &str) -> GraphError {
        GraphError {
            status: Some(status),
            code: code.into(),
            ..GraphError::new(kind, "POST …/cancel", "refused")
        }
    }

    #[test]
    fn a_refused_cancel_reads_the_same_whichever_code_graph_gives() {
        for code in ["RequestCannotBeCancelled", "BadRequest", ""] {
            let e = SelfServiceError::cancel_rejected(graph(400, ErrorKind::BadRequest, code));
            assert!(e.is_refusal(), "{code}");
            assert!(e.to_string().contains("pim deactivate"), "{code}: {e}");
        }
        let gone = SelfServiceError::cancel_rejected(graph(
            404,
            ErrorKind::NotFound,
            "RoleAssignmentRequestNotFound",
        ));
        assert!(gone.to_string().contains("45 days"), "{gone}");
    }

    #[test]
    fn refusals_are_one_line_naming_the_rule() {
        let e = SelfServiceError::Refused {
            subject: "Global Administrator at /".into(),
            problems: vec![
                Problem::new("PT5H is longer than the PT4H the role allows")
                    .rule("Expiration_EndUser_Assignment")
                    .hint("ask for --duration PT4H or less"),
                Problem::new("a justification is required")
                    .rule("Enablement_EndUser_Assignment")
                    .hint("say why with --justification TEXT"),
            ],
        };
        assert_eq!(
            e.to_string(),
            "not sent: Global Administrator at /: PT5H is longer than the PT4H the role allows \
             (rule Expiration_EndUser_Assignment); a justification is required (rule \
             Enablement_EndUser_Assignment); hint: ask for --duration PT4H or less; say why with \
             --justification TEXT"
        );
        assert!(e.is_refusal());
    }

    #[test]
    fn graph_refusals_carry_code_and_hint() {
        let e = SelfServiceError::rejected(
            RequestAction::SelfDeactivate,
            GraphError::from_status(
                "POST /roleManagement/directory/roleAssignmentScheduleRequests",
                400,
                "ActiveDurationTooShort".into(),
                "The Active duration is too short. Miniumum Required is 5 minutes.".into(),
                Some("r-1".into()),
            ),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("Graph refused selfDeactivate: 400 ActiveDurationTooShort: The Active duration is too short."),
            "{text}"
        );
        assert!(text.contains("(request-id r-1); hint: an activation can be ended only 5 minutes"));
        assert_eq!(e.graph_code(), Some("ActiveDurationTooShort"));
        assert!(e.is_refusal() && !text.contains('\n'));
    }

    #[test]
    fn durations_read_like_people_say_them() {
        assert_eq!(human(4 * 3600), "4h");
        assert_eq!(human(3600 + 1800), "1h 30m");
        assert_eq!(human(90 * 86_400 + 3 * 3600 + 59), "90d 3h");
        assert_eq!(human(59), "59s");
        assert_eq!(human(-5), "0s");
    }
}
