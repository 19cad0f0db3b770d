//! What the self-service commands say once Graph has answered: activation,
//! deactivation, extension and cancellation, one line each (two when a
//! request waits for approval).

use chrono::{DateTime, Utc};

use crate::graph::RequestOutcome;
use crate::model::AssignmentKind;
use crate::selfservice::{Extension, RequestRow, Status, Target};

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What an accepted activation means as of `now`, in one line.
pub fn activation_line(
    t: &Target,
    out: &RequestOutcome,
    approvers: Option<&[String]>,
    now: DateTime<Utc>,
) -> String {
    let start = out.schedule.as_ref().and_then(|s| s.start);
    let end = out.schedule.as_ref().and_then(|s| s.end(now));
    match Status::from_graph(&out.status) {
        Status::Provisioned => format!(
            "Activated {}{}. Request {}.",
            t.subject(),
            end.map(|e| format!(" until {}", utc(e)))
                .unwrap_or_default(),
            out.request_id
        ),
        Status::Scheduled => format!(
            "Scheduled {}{}{}. Request {}.",
            t.subject(),
            start
                .map(|s| format!(" from {}", utc(s)))
                .unwrap_or_default(),
            end.map(|e| format!(" until {}", utc(e)))
                .unwrap_or_default(),
            out.request_id
        ),
        Status::PendingApproval => format!(
            "Requested {}: waiting for approval by {}. Request {}.\nFollow it with: pim requests --mine; cancel it with: pim requests cancel {}",
            t.subject(),
            approvers
                .filter(|a| !a.is_empty())
                .map_or_else(|| "the role's approvers".to_string(), |a| a.join(", ")),
            out.request_id,
            out.request_id
        ),
        _ => format!(
            "Sent the activation of {}: Graph says {}. Request {}.",
            t.subject(),
            out.status,
            out.request_id
        ),
    }
}

pub fn deactivated_line(t: &Target, out: &RequestOutcome) -> String {
    format!("Deactivated {}. Request {}.", t.subject(), out.request_id)
}

/// Why Graph refused to end an activation so soon, and from when it can be.
pub fn too_soon_note(activated: DateTime<Utc>) -> String {
    format!(
        "note: it was activated at {}; it can be ended from {} on",
        utc(activated),
        utc(activated + chrono::TimeDelta::minutes(5))
    )
}

/// What an extension (or, with `renew`, a renewal) sent means.
pub fn extension_line(t: &Target, x: &Extension, out: &RequestOutcome, renew: bool) -> String {
    let what = match x.request.kind {
        AssignmentKind::Eligible => "eligibility",
        AssignmentKind::Active => "active assignment",
    };
    let verb = if renew { "renew" } else { "extend" };
    let duration = &x.duration;
    match Status::from_graph(&out.status) {
        Status::PendingAdminDecision => format!(
            "Asked the administrators to {verb} your {what} of {} for {duration}. Request {} is waiting for their decision.",
            t.subject(),
            out.request_id
        ),
        _ => format!(
            "Sent: {verb} your {what} of {} for {duration}: Graph says {}. Request {}.",
            t.subject(),
            out.status,
            out.request_id
        ),
    }
}

/// A canceled request, with what it was.
pub fn canceled_line(id: &str, before: &RequestRow) -> String {
    format!(
        "Canceled request {id} ({} of {} at {}, which was {}).",
        before.action, before.role, before.scope, before.status
    )
}
