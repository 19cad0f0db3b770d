//! What people read after apply and check: the apply report, and the
//! baseline findings as text or JSON.

use std::fmt::Write as _;

use super::Paint;
use super::escape;
use crate::apply::ApplyReport;
use crate::check::Finding;
use crate::plan::Plan;

fn shown(x: &impl std::fmt::Display) -> String {
    escape::text(&x.to_string()).into_owned()
}

/// The report of an apply: counts, then what failed (with the configuration
/// line that declared it, since Graph's refusal names only a rule) and what
/// was not started.
pub fn apply_report(report: &ApplyReport, plan: &Plan, paint: Paint) -> String {
    let outcome = if report.succeeded() {
        paint.with(super::Colour::Green, "complete")
    } else {
        paint.error("failed")
    };
    let mut s = format!(
        "\nApply {outcome}: {} done, {} failed, {} not started.\n",
        report.done.len(),
        report.failed.len(),
        report.not_started.len()
    );
    for (address, action, error) in &report.failed {
        let _ = writeln!(
            s,
            "  {}: {} ({action}): {}",
            paint.error("failed"),
            shown(address),
            escape::text(error)
        );
        if let Some(at) = plan
            .changes
            .iter()
            .find(|c| &c.address == address)
            .and_then(|c| c.origin.as_ref())
        {
            let _ = writeln!(s, "    declared at {}", shown(at));
        }
    }
    for (address, action) in &report.not_started {
        let _ = writeln!(s, "  not started: {} ({action})", shown(address));
    }
    s
}

/// Baseline findings as `pim check` prints them: errors with `--strict`.
pub fn findings_text(findings: &[Finding], strict: bool, paint: Paint) -> String {
    if findings.is_empty() {
        return "No findings: the configuration meets the baseline.\n".to_string();
    }
    let label = if strict {
        paint.error("error")
    } else {
        paint.warning("warning")
    };
    let mut s = String::new();
    for f in findings {
        let at = f
            .location
            .as_ref()
            .map(|l| format!("{}: ", shown(l)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{label}: {at}{} {}",
            paint.bold(f.code),
            escape::text(&f.message)
        );
    }
    let _ = writeln!(
        s,
        "\n{} finding{}.",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    s
}

/// Baseline findings as Markdown for a pull-request comment: a table of
/// code, role, place and finding.
pub fn findings_markdown(findings: &[Finding], strict: bool) -> String {
    let mut s = String::from("### pim check\n\n");
    if findings.is_empty() {
        s.push_str("**No findings: the configuration meets the baseline.**\n");
        return s;
    }
    let (icon, what) = if strict {
        ("⛔", "error")
    } else {
        ("⚠️", "warning")
    };
    let _ = writeln!(
        s,
        "**{} finding{}** ({what}s{}).\n",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        if strict { " with `--strict`" } else { "" }
    );
    s.push_str("| | Code | Role | Declared at | Finding |\n|---|---|---|---|---|\n");
    for f in findings {
        let at = f.location.as_ref().map_or_else(
            || "—".to_string(),
            |l| escape::code_span(&l.to_string(), true),
        );
        let _ = writeln!(
            s,
            "| {icon} | {} | {} | {at} | {} |",
            f.code,
            escape::markdown(&f.role),
            escape::markdown(&f.message)
        );
    }
    s
}

/// Baseline findings as JSON: `{"findings": [...]}`.
pub fn findings_json(findings: &[Finding]) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&serde_json::json!({ "findings": findings }))
}
