//! The drift report as a terminal shows it (coloured like the plan) and as
//! Markdown for an issue or a chat message: new findings first, then what
//! is known, then what expires.

use std::fmt::Write as _;

use super::colour::Colour;
use super::escape::{self, text};
use crate::drift::{ChangedBy, DriftReport, Finding, FindingType, RoleDrift};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";

struct Paint {
    colour: bool,
}

impl Paint {
    fn with(&self, code: &str, s: &str) -> String {
        if self.colour && !code.is_empty() {
            format!("{code}{s}{RESET}")
        } else {
            s.to_string()
        }
    }

    fn finding_colour(f: &Finding) -> &'static str {
        match f.what {
            FindingType::HolderAdded => Colour::Green.ansi(),
            FindingType::GrantRemoved => Colour::Red.ansi(),
            FindingType::GrantChanged | FindingType::PolicyChanged => Colour::Yellow.ansi(),
        }
    }
}

fn day(t: &str) -> &str {
    t.get(..10).unwrap_or(t)
}

/// The finding's first line, without its marker.
fn headline(f: &Finding) -> String {
    match f.what {
        FindingType::HolderAdded => {
            let end = f.after.get("end").map_or("?", String::as_str);
            let end = if end == "permanent" {
                "permanent".to_string()
            } else {
                format!("until {}", day(end))
            };
            let since = f
                .after
                .get("start")
                .map(|s| format!(" since {}", day(s)))
                .unwrap_or_default();
            let fate = match (f.exclusive, f.will_be_removed) {
                (true, true) => " (exclusive role: apply removes it)",
                (true, false) => " (exclusive role: apply removes it once Graph allows)",
                _ => "",
            };
            format!(
                "{} {} at {}{since}, {end}{fate}",
                f.kind.map(|k| k.to_string()).unwrap_or_default(),
                text(f.principal.as_deref().unwrap_or("?")),
                text(f.scope.as_deref().unwrap_or("?")),
            )
        }
        FindingType::GrantRemoved => format!(
            "{} ({}) removed outside of pim",
            text(f.address.as_deref().unwrap_or("?")),
            text(f.principal.as_deref().unwrap_or("?"))
        ),
        FindingType::GrantChanged => format!(
            "{} ({}) changed outside of pim",
            text(f.address.as_deref().unwrap_or("?")),
            text(f.principal.as_deref().unwrap_or("?"))
        ),
        FindingType::PolicyChanged => format!(
            "{} {}: {} (pim applied {}) [{}]",
            text(f.address.as_deref().unwrap_or("?")),
            text(f.setting.as_deref().unwrap_or("?")),
            text(f.after.get("value").map_or("?", String::as_str)),
            text(f.before.get("value").map_or("?", String::as_str)),
            text(f.rule.as_deref().unwrap_or("?"))
        ),
    }
}

fn marker(f: &Finding) -> &'static str {
    match f.what {
        FindingType::HolderAdded => "+",
        FindingType::GrantRemoved => "-",
        FindingType::GrantChanged | FindingType::PolicyChanged => "~",
    }
}

/// What changed in a managed grant: `end: X (pim applied Y)`.
fn details(f: &Finding) -> Vec<String> {
    if f.what != FindingType::GrantChanged {
        return Vec::new();
    }
    f.after
        .iter()
        .filter(|(k, _)| *k != "principal")
        .filter_map(|(k, now)| match f.before.get(k) {
            Some(was) if was != now => Some(format!(
                "{}: {} (pim applied {})",
                text(k),
                text(now),
                text(was)
            )),
            _ => None,
        })
        .collect()
}

fn changed_by(c: &ChangedBy) -> Option<String> {
    let mut s = String::new();
    if let Some(by) = &c.by {
        let _ = write!(s, "by {}", text(by));
    }
    if let Some(at) = c.at {
        let _ = write!(
            s,
            "{}on {}",
            if s.is_empty() { "" } else { " " },
            at.format("%Y-%m-%d %H:%M UTC")
        );
    }
    if let Some(j) = &c.justification {
        let _ = write!(s, "{}\"{}\"", if s.is_empty() { "" } else { ": " }, text(j));
    }
    let mut extra = Vec::new();
    if let Some(t) = &c.ticket {
        extra.push(format!("ticket {}", text(t)));
    }
    if let Some(r) = &c.request_id {
        extra.push(format!("request {}", text(r)));
    }
    if !extra.is_empty() {
        let _ = write!(
            s,
            "{}({})",
            if s.is_empty() { "" } else { " " },
            extra.join(", ")
        );
    }
    (!s.is_empty()).then_some(s)
}

fn finding_lines(p: &Paint, f: &Finding, out: &mut String) {
    let tag = if f.new {
        p.with(BOLD, "new")
    } else {
        p.with(
            DIM,
            &format!(
                "known: {}",
                text(f.known.as_deref().unwrap_or("seen before"))
            ),
        )
    };
    let line = format!("{} {}", marker(f), headline(f));
    let _ = writeln!(
        out,
        "  {} [{tag}]",
        if f.new {
            p.with(Paint::finding_colour(f), &line)
        } else {
            line
        }
    );
    for d in details(f) {
        let _ = writeln!(out, "      {d}");
    }
    if let Some(c) = f.changed_by.as_ref().and_then(changed_by) {
        let _ = writeln!(out, "      {c}");
    }
}

fn role_lines(p: &Paint, role: &str, d: &RoleDrift, out: &mut String) {
    let _ = writeln!(out, "{}", p.with(BOLD, &format!("{}:", text(role))));
    for f in &d.findings {
        finding_lines(p, f, out);
    }
    for e in &d.expiring {
        let fate = if e.renewed {
            "the next apply renews it"
        } else {
            "its expires is fixed: it ends then"
        };
        let line = format!(
            "  ⟳ {} {} ({}) ends {}: {fate}",
            text(&e.address),
            e.kind,
            text(&e.principal),
            e.end.format("%Y-%m-%d")
        );
        let _ = writeln!(out, "{}", p.with(Colour::Magenta.ansi(), &line));
    }
    out.push('\n');
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The last line: what is new, and what is not counted.
fn summary(r: &DriftReport) -> String {
    let c = r.counts;
    let mut rest = Vec::new();
    if c.known > 0 {
        rest.push(plural(c.known, "known finding", "known findings"));
    }
    if c.expiring > 0 {
        rest.push(plural(c.expiring, "grant expiring", "grants expiring"));
    }
    let rest = if rest.is_empty() {
        String::new()
    } else {
        format!(" ({})", rest.join(", "))
    };
    if r.has_drift {
        let roles = r
            .roles
            .values()
            .filter(|d| d.findings.iter().any(|f| f.new))
            .count();
        format!(
            "Drift: {} in {}{rest}.",
            plural(c.new, "new finding", "new findings"),
            plural(roles, "role", "roles")
        )
    } else if r.roles.is_empty() {
        "No drift: the tenant matches the configuration and state.".to_string()
    } else {
        format!("No new drift{rest}.")
    }
}

/// The report as text, role by role; `colour` adds ANSI colours (for a
/// terminal without `NO_COLOR`).
pub fn drift_text(r: &DriftReport, colour: bool) -> String {
    let p = Paint { colour };
    let mut out = String::new();
    for (role, d) in &r.roles {
        role_lines(&p, role, d, &mut out);
    }
    let _ = writeln!(out, "{}", summary(r));
    if r.counts.new > 0 {
        let _ = writeln!(
            out,
            "Apply to put the tenant back as configured, or acknowledge what is expected with pim drift --acknowledge."
        );
    }
    out
}

/// The report as Markdown for an issue or a chat message: a table of
/// findings by role, then a section per role.
pub fn drift_markdown(r: &DriftReport) -> String {
    let mut out = String::from("### pim drift\n\n");
    let _ = writeln!(out, "{}\n", escape::markdown(&summary(r)));
    if r.roles.is_empty() {
        return out;
    }
    out.push_str("| Role | New | Known | Expiring |\n|---|---|---|---|\n");
    for (role, d) in &r.roles {
        let new = d.findings.iter().filter(|f| f.new).count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            escape::markdown(role),
            new,
            d.findings.len() - new,
            d.expiring.len()
        );
    }
    for (role, d) in &r.roles {
        let _ = writeln!(out, "\n#### {}\n", escape::markdown(role));
        for f in &d.findings {
            let standing = if f.new {
                "**new**".to_string()
            } else {
                format!(
                    "known: {}",
                    escape::markdown(f.known.as_deref().unwrap_or("seen before"))
                )
            };
            let _ = writeln!(
                out,
                "- `{}` {} ({standing})",
                marker(f),
                escape::markdown(&headline(f))
            );
            for line in details(f)
                .into_iter()
                .chain(f.changed_by.as_ref().and_then(changed_by))
            {
                let _ = writeln!(out, "  - {}", escape::markdown(&line));
            }
        }
        for e in &d.expiring {
            let fate = if e.renewed {
                "the next apply renews it"
            } else {
                "fixed expires: it ends then"
            };
            let _ = writeln!(
                out,
                "- `⟳` {} {} ({}) ends {}: {fate}",
                escape::markdown(&e.address),
                e.kind,
                escape::markdown(&e.principal),
                e.end.format("%Y-%m-%d")
            );
        }
    }
    out
}
