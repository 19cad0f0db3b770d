//! What people and machines read: plans as coloured text (Terraform's
//! layout), Markdown for pull-request comments, and JSON with a documented
//! schema (`schemas/plan.schema.json`); and what the other commands report.
//! Renderers only format; every decision is already made.

mod colour;
mod drift;
pub mod escape;
mod json;
mod markdown;
mod report;
mod selfservice;
mod state;
mod text;

pub use colour::{Colour, Paint};
pub use drift::{drift_markdown, drift_text};
pub use json::{plan_json, plan_json_errors};
pub use markdown::{MARKDOWN_LIMIT, plan_markdown};
pub use report::{apply_report, findings_json, findings_markdown, findings_text};
pub use selfservice::{
    activation_line, canceled_line, deactivated_line, extension_line, request_detail_text,
    too_soon_note,
};
pub use state::{
    exported_line, forgotten_line, imported_line, lock_broken_line, resource_json, state_list,
    upkeep_text,
};
pub use text::plan_text;

use crate::plan::{Refusal, Summary};

/// `Plan: 3 to create, 1 to update, 1 to renew, 2 to remove, 2 policies to update.`
pub fn summary_line(s: &Summary) -> String {
    if !s.has_changes() {
        return "No changes. The tenant matches the configuration.".to_string();
    }
    let mut parts = vec![format!("{} to create", s.create)];
    if s.adopt > 0 {
        // An adoption that also changes the grant must not read as a no-op.
        let mut also = Vec::new();
        if s.adopt_update > 0 {
            also.push(format!("{} also updated", s.adopt_update));
        }
        if s.adopt_renew > 0 {
            also.push(format!("{} also renewed", s.adopt_renew));
        }
        if also.is_empty() {
            parts.push(format!("{} to adopt", s.adopt));
        } else {
            parts.push(format!("{} to adopt ({})", s.adopt, also.join(", ")));
        }
    }
    parts.push(format!("{} to update", s.update));
    parts.push(format!("{} to renew", s.renew));
    parts.push(format!("{} to remove", s.remove));
    let policies = if s.update_rules == 1 {
        "policy"
    } else {
        "policies"
    };
    parts.push(format!("{} {policies} to update", s.update_rules));
    format!("Plan: {}.", parts.join(", "))
}

/// Writes a value the way HCL would: strings quoted, booleans and lists bare.
fn quote(v: &str) -> String {
    if matches!(v, "true" | "false") || (v.starts_with('[') && v.ends_with(']')) {
        escape::text(v).into_owned()
    } else {
        escape::quoted(v)
    }
}

/// A refusal as a terminal shows it: `file:line:col: message`, then its
/// hint on a line of its own; each part escaped.
pub fn refusal_text(r: &Refusal) -> String {
    let mut out = String::new();
    if let Some(at) = &r.origin {
        out.push_str(&escape::text(&at.to_string()));
        out.push_str(": ");
    }
    out.push_str(&escape::text(&r.message));
    if let Some(h) = &r.hint {
        out.push_str("\n  = hint: ");
        out.push_str(&escape::text(h));
    }
    out
}
