//! The plan as a terminal shows it.

use std::fmt::Write as _;

use super::colour::{ActionColour as _, Colour};
use super::escape;
use super::{quote, refusal_text, summary_line};
use crate::plan::{Action, Attr, Change, Plan};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";

struct Out {
    buf: String,
    colour: bool,
}

impl Out {
    fn paint(&self, c: Colour, s: &str) -> String {
        if self.colour && c != Colour::None {
            format!("{}{s}{RESET}", c.ansi())
        } else {
            s.to_string()
        }
    }

    fn bold(&self, s: &str) -> String {
        if self.colour {
            format!("{BOLD}{s}{RESET}")
        } else {
            s.to_string()
        }
    }

    fn line(&mut self, s: &str) {
        self.buf.push_str(s);
        self.buf.push('\n');
    }
}

/// Renders a plan as text; `colour` adds ANSI colours (for a TTY without
/// `NO_COLOR`).
pub fn plan_text(plan: &Plan, colour: bool) -> String {
    let mut o = Out {
        buf: String::new(),
        colour,
    };
    if !plan.changes.is_empty() {
        o.line("pim will perform the following actions:");
        o.line("");
        for c in &plan.changes {
            change(&mut o, c);
        }
    }
    if !plan.unmanaged.is_empty() {
        o.line(&o.bold("Unmanaged grants (neither declared nor in state; left as they are):"));
        let shown: Vec<_> = plan
            .unmanaged
            .iter()
            .map(|u| {
                (
                    u,
                    escape::text(&u.principal),
                    escape::text(&u.role),
                    escape::text(&u.scope),
                )
            })
            .collect();
        let width = shown.iter().map(|s| s.1.chars().count()).max().unwrap_or(0);
        let role_width = shown.iter().map(|s| s.2.chars().count()).max().unwrap_or(0);
        for (u, principal, role, scope) in &shown {
            let end = u.end.map_or_else(
                || "permanent".to_string(),
                |t| format!("until {}", t.format("%Y-%m-%d")),
            );
            let kind = format!("{:<8}", u.kind.to_string());
            let line =
                format!("  {kind} {principal:<width$}  {role:<role_width$}  at {scope}  {end}");
            o.line(line.trim_end());
        }
        o.line("");
    }
    for w in &plan.warnings {
        let text = format!("Warning: {}", escape::text(w));
        o.line(&o.paint(Colour::Yellow, &text));
    }
    if !plan.warnings.is_empty() {
        o.line("");
    }
    let summary = summary_line(&plan.summary);
    o.line(&o.bold(&summary));
    if !plan.refusals.is_empty() {
        o.line("");
        for r in &plan.refusals {
            let text = format!("Refused: {}", refusal_text(r));
            o.line(&o.paint(Colour::Red, &text));
        }
        o.line("");
        o.line(&o.paint(
            Colour::Red,
            "This plan cannot be applied as it is: nothing will be changed.",
        ));
    }
    o.buf
}

fn change(o: &mut Out, c: &Change) {
    let address = c.address.to_string();
    let address = escape::text(&address);
    let why = format!("# {address} {} ({})", c.action.verb(), c.reason.describe());
    o.line(&format!("  {}", o.bold(&why)));
    if let Some(at) = &c.origin {
        o.line(&format!(
            "  # declared at {}",
            escape::text(&at.to_string())
        ));
    }
    let sym = c.action.symbol().to_string();
    o.line(&format!(
        "  {} {address} {{",
        o.paint(c.action.colour(), &sym),
    ));
    let rows = rows(c);
    let width = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    for (action, name, value) in rows {
        let mark = match action {
            Some(a) => o.paint(a.colour(), &a.symbol().to_string()),
            None => " ".to_string(),
        };
        let pad = " ".repeat(width - name.chars().count());
        o.line(&format!("      {mark} {name}{pad} = {value}"));
    }
    o.line("    }");
    if let crate::plan::Step::Grant { requests, .. } = &c.step
        && c.action == Action::Adopt
        && !requests.is_empty()
    {
        if c.reason == crate::plan::Reason::Expiring {
            o.line("    # and renewed: it ends within the renewal window");
        } else {
            o.line("    # and its schedule will be updated to match the configuration");
        }
    }
    o.line("");
}

/// `(marker, attribute, value)` rows of a change.
fn rows(c: &Change) -> Vec<(Option<Action>, String, String)> {
    let find = |attrs: &Option<Vec<Attr>>, name: &str| {
        attrs
            .as_ref()
            .and_then(|a| a.iter().find(|x| x.name == name))
            .map(|x| x.value.clone())
    };
    let mut names: Vec<String> = Vec::new();
    for a in c.before.iter().chain(c.after.iter()).flatten() {
        if !names.contains(&a.name) {
            names.push(a.name.clone());
        }
    }
    names
        .into_iter()
        .map(|n| {
            let shown = escape::text(&n).into_owned();
            (n, shown)
        })
        .map(
            |(n, shown)| match (find(&c.before, &n), find(&c.after, &n)) {
                (None, Some(a)) if c.action == Action::Create => {
                    (Some(Action::Create), shown, quote(&a))
                }
                (Some(b), None) if c.action == Action::Remove => {
                    (Some(Action::Remove), shown, quote(&b))
                }
                (Some(b), Some(a)) if a == b => (None, shown, quote(&a)),
                (Some(b), Some(a)) => (Some(Action::Update), shown, diff_value(&b, &a)),
                (None, Some(a)) => (Some(Action::Create), shown, quote(&a)),
                (Some(b), None) => (Some(Action::Remove), shown, quote(&b)),
                (None, None) => (None, shown, String::new()),
            },
        )
        .collect()
}

/// `"a" -> "b"`, or a line diff for multi-line values.
fn diff_value(before: &str, after: &str) -> String {
    if !before.contains('\n') && !after.contains('\n') {
        return format!("{} -> {}", quote(before), quote(after));
    }
    let mut out = String::from("<<-EOT\n");
    for change in similar::TextDiff::from_lines(before, after).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        // Each line's own characters are escaped; only the line breaks the
        // diff is made of stay.
        let line = change.value().strip_suffix('\n').unwrap_or(change.value());
        let _ = writeln!(out, "            {sign} {}", escape::text(line));
    }
    out.push_str("        EOT");
    out
}
