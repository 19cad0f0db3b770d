//! What the self-service commands say once Graph has answered: activation,
//! deactivation, extension and cancellation, one line each (two when a
//! request waits for approval); and one request in full (`pim requests show`).

use chrono::{DateTime, Utc};

use crate::graph::RequestOutcome;
use crate::model::AssignmentKind;
use crate::selfservice::{Extension, RequestDetail, RequestRow, Status, Target};

use super::escape::text;

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

/// Why Graph refused to end an activation so soon, and from when it can
/// be: pim checks first, so this is for a clock that differs from Graph's.
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
pub fn canceled_line(before: &RequestRow) -> String {
    format!(
        "Canceled request {} ({} of {} at {}, which was {}).",
        before.id,
        before.action,
        text(&before.role),
        text(&before.scope),
        before.status
    )
}

/// `pim requests show` as text: the request, then its approval.
pub fn request_detail_text(d: &RequestDetail) -> String {
    let r = &d.request;
    let mut lines: Vec<(&str, String)> = vec![
        ("principal", r.principal.clone()),
        ("role", r.role.clone()),
        ("scope", r.scope.clone()),
        ("kind", r.kind.to_string()),
        ("action", r.action.clone()),
        ("status", r.status.clone()),
    ];
    let schedule = match (r.start, &r.expiration) {
        (None, None) => None,
        (start, expiration) => {
            let mut s = start
                .map(|t| format!("from {}", utc(t)))
                .unwrap_or_default();
            if let Some(e) = expiration {
                let e = match e.as_str() {
                    "permanent" => "permanently".to_string(),
                    e if e.starts_with("until ") => format!("{e} UTC"),
                    e => format!("for {e}"),
                };
                if !s.is_empty() {
                    s.push(' ');
                }
                s.push_str(&e);
            }
            if let Some(end) = d.end.filter(|_| {
                !r.expiration
                    .as_deref()
                    .is_some_and(|e| e.starts_with("until "))
            }) {
                s.push_str(&format!(" (until {})", utc(end)));
            }
            Some(s)
        }
    };
    lines.extend(schedule.map(|s| ("schedule", s)));
    lines.extend(r.justification.clone().map(|j| ("justification", j)));
    lines.extend(r.ticket.clone().map(|t| ("ticket", t)));
    let created = match (r.created, &d.created_by) {
        (Some(t), Some(by)) => Some(format!("{} by {by}", utc(t))),
        (Some(t), None) => Some(utc(t)),
        (None, Some(by)) => Some(format!("by {by}")),
        (None, None) => None,
    };
    lines.extend(created.map(|c| ("created", c)));
    lines.extend(d.completed.map(|t| ("completed", utc(t))));
    lines.extend(d.target_schedule_id.clone().map(|t| ("schedule id", t)));
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = format!("Request {}\n", text(&r.id));
    for (k, v) in &lines {
        out.push_str(&format!("  {k:<width$}  {}\n", text(v)));
    }
    let Some(a) = &d.approval else {
        return out;
    };
    out.push_str(&format!("\nApproval {}: {}", text(&a.id), a.state));
    if let Some(t) = a.decided {
        out.push_str(&format!(" at {}", utc(t)));
    }
    out.push('\n');
    for (n, s) in a.stages.iter().enumerate() {
        let mut about = vec![if s.timeout_days == 1 {
            "1 day".to_string()
        } else {
            format!("{} days", s.timeout_days)
        }];
        if s.approver_justification_required {
            about.push("approvers say why".to_string());
        }
        out.push_str(&format!("  stage {} ({}):\n", n + 1, about.join(", ")));
        let who = if s.approvers.is_empty() {
            "no approvers named".to_string()
        } else {
            s.approvers.join(", ")
        };
        out.push_str(&format!("    approvers: {}\n", text(&who)));
        if !s.escalation_approvers.is_empty() {
            out.push_str(&format!(
                "    escalation: {}\n",
                text(&s.escalation_approvers.join(", "))
            ));
        }
    }
    for n in &a.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    out
}
