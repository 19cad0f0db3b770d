//! `pim check`: the baseline findings of configuration and tenant, or with
//! `--offline` of the configuration alone.

use super::args::*;
use super::*;
use crate::check::{Finding, OfflineBaseline, Rule};

pub(super) fn check_command(args: &CheckArgs) -> anyhow::Result<Exit> {
    if args.offline {
        return offline(args);
    }
    let (format, strict) = (args.format, args.strict);
    plan_quietly(
        &args.config,
        &args.tenant,
        format,
        async move |desired, planned, opts, _session| {
            let findings = planned.baseline(desired, opts);
            match format {
                Format::Json => outln!("{}", crate::render::findings_json(&findings)?)?,
                Format::Markdown => {
                    out!("{}", crate::render::findings_markdown(&findings, strict))?
                }
                Format::Text => out!(
                    "{}",
                    crate::render::findings_text(&findings, strict, colour::stdout())
                )?,
            }
            Ok(exit(&findings, strict))
        },
    )
}

fn exit(findings: &[Finding], strict: bool) -> Exit {
    if strict && !findings.is_empty() {
        Exit::Error
    } else {
        Exit::Ok
    }
}

/// No sign-in, no emulator, no state: the configuration is loaded and
/// checked as `pim validate` does, then the rules it alone answers run.
fn offline(args: &CheckArgs) -> anyhow::Result<Exit> {
    let Some(desired) = load_config(&args.config) else {
        return Ok(Exit::Error);
    };
    let report = crate::check::offline(&desired);
    match args.format {
        Format::Json => outln!("{}", offline_json(&report)?)?,
        Format::Markdown => out!("{}", offline_markdown(&report, args.strict))?,
        Format::Text => out!("{}", offline_text(&report, args.strict))?,
    }
    Ok(exit(&report.findings, args.strict))
}

/// What offline did not run in full, one sentence each; `code` writes a
/// rule's code (plain, or as Markdown code).
fn offline_notes(report: &OfflineBaseline, code: fn(&str) -> String) -> Vec<String> {
    let codes = |rules: &[Rule]| {
        rules
            .iter()
            .map(|r| code(r.code()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut notes = Vec::new();
    if !report.skipped.is_empty() {
        notes.push(format!(
            "Skipped offline (they read the tenant's policies): {}.",
            codes(&report.skipped)
        ));
    }
    if !report.partial.is_empty() {
        notes.push(format!(
            "Run on the declared grants only (holders outside the configuration are not read offline): {}.",
            codes(&report.partial)
        ));
    }
    notes
}

fn offline_text(report: &OfflineBaseline, strict: bool) -> String {
    let mut s = if report.findings.is_empty() {
        "No findings in the checks that need only the configuration.\n".to_string()
    } else {
        crate::render::findings_text(&report.findings, strict, colour::stdout())
    };
    for note in offline_notes(report, str::to_string) {
        s.push_str(&note);
        s.push('\n');
    }
    s
}

/// The Markdown report, with what was not run in full below the table.
fn offline_markdown(report: &OfflineBaseline, strict: bool) -> String {
    let mut s = crate::render::findings_markdown(&report.findings, strict);
    for note in offline_notes(report, |c| format!("`{c}`")) {
        s.push_str(&format!("\n_{note}_\n"));
    }
    s
}

/// The online report's `{"findings": [...]}`, with what was not run in
/// full beside it.
fn offline_json(report: &OfflineBaseline) -> Result<String, serde_json::Error> {
    let rules = |rules: &[Rule]| -> Vec<serde_json::Value> {
        rules
            .iter()
            .map(|r| serde_json::json!({ "code": r.code(), "rule": r, "reads": r.reads() }))
            .collect()
    };
    serde_json::to_string_pretty(&serde_json::json!({
        "offline": true,
        "findings": report.findings,
        "skipped": rules(&report.skipped),
        "partial": rules(&report.partial),
    }))
}
