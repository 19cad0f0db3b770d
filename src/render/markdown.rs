//! The plan as a pull-request comment: a summary table, then the details of
//! each role in a collapsible section, kept under GitHub's comment limit.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::escape::{self, code_span, html, markdown};
use super::summary_line;
use crate::plan::{Action, Change, Plan};

/// GitHub rejects comments over 65,536 characters; stay clear of it.
pub const MARKDOWN_LIMIT: usize = 65_000;

fn icon(a: Action) -> &'static str {
    match a {
        Action::Create => "🟢",
        Action::Adopt => "🔵",
        Action::Update | Action::UpdateRules => "🟡",
        Action::Renew => "🟣",
        Action::Remove => "🔴",
        Action::NoOp => "⚪",
    }
}

fn details(c: &Change) -> String {
    let mut out = String::new();
    // Inside the code block: only hidden characters need escaping, and the
    // fence is chosen once the block is written.
    let _ = writeln!(
        out,
        "{} {} ({}, {})",
        c.action.symbol(),
        escape::text(&c.address.to_string()),
        c.action,
        c.reason.describe()
    );
    let find = |attrs: &Option<Vec<crate::plan::Attr>>, n: &str| {
        attrs
            .as_ref()
            .and_then(|a| a.iter().find(|x| x.name == n))
            .map(|x| x.value.clone())
    };
    let mut names: Vec<&str> = Vec::new();
    for a in c.before.iter().chain(c.after.iter()).flatten() {
        if !names.contains(&a.name.as_str()) {
            names.push(&a.name);
        }
    }
    for name in names {
        let n = escape::text(name);
        // As the text shows them: booleans and lists bare, strings quoted.
        let q = |v: &str| super::quote(v);
        let line = match (find(&c.before, name), find(&c.after, name)) {
            (Some(b), Some(a)) if a == b => format!("    {n} = {}", q(&a)),
            (Some(b), Some(a)) => format!("-   {n} = {}\n+   {n} = {}", q(&b), q(&a)),
            (None, Some(a)) => format!("+   {n} = {}", q(&a)),
            (Some(b), None) => format!("-   {n} = {}", q(&b)),
            (None, None) => continue,
        };
        let _ = writeln!(out, "{line}");
    }
    out
}

/// Renders a plan as Markdown of at most [`MARKDOWN_LIMIT`] characters.
pub fn plan_markdown(plan: &Plan) -> String {
    let mut head = String::from("### pim plan\n\n");
    let _ = writeln!(head, "**{}**\n", summary_line(&plan.summary));
    // Refusals lead: a reviewer must not take the plan for one to apply.
    for r in &plan.refusals {
        let at = r.origin.as_ref().map_or_else(String::new, |l| {
            format!(" ({})", code_span(&l.to_string(), false))
        });
        let hint = r
            .hint
            .as_ref()
            .map_or_else(String::new, |h| format!(" {}", markdown(h)));
        let _ = writeln!(
            head,
            "> ⛔ **Refused:** {}{at}.{hint}",
            markdown(&r.message)
        );
    }
    if !plan.refusals.is_empty() {
        head.push('\n');
    }
    if !plan.changes.is_empty() {
        head.push_str("| | Action | Address | Role | Reason |\n|---|---|---|---|---|\n");
        // The table must leave room for details; a huge plan lists only its start.
        let table_budget = MARKDOWN_LIMIT / 2;
        for (i, c) in plan.changes.iter().enumerate() {
            if head.len() > table_budget {
                let _ = writeln!(
                    head,
                    "\n_…and {} more changes, not listed here._",
                    plan.changes.len() - i
                );
                break;
            }
            let _ = writeln!(
                head,
                "| {} | {} | {} | {} | {} |",
                icon(c.action),
                c.action,
                code_span(&c.address.to_string(), true),
                markdown(&c.role),
                c.reason.describe()
            );
        }
        head.push('\n');
    }
    for w in &plan.warnings {
        let _ = writeln!(head, "> ⚠️ {}", markdown(w));
    }
    if !plan.warnings.is_empty() {
        head.push('\n');
    }

    let mut sections: Vec<String> = Vec::new();
    let mut by_role: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for c in &plan.changes {
        by_role.entry(&c.role).or_default().push(c);
    }
    for (role, changes) in by_role {
        let n = changes.len();
        let mut body = String::new();
        for c in changes {
            body.push_str(&details(c));
            body.push('\n');
        }
        let fence = escape::fence(&body);
        sections.push(format!(
            "<details><summary>{} ({n} change{})</summary>\n\n{fence}diff\n{body}{fence}\n\n</details>\n\n",
            html(role),
            if n == 1 { "" } else { "s" }
        ));
    }
    if !plan.unmanaged.is_empty() {
        let mut s = format!(
            "<details><summary>Unmanaged grants ({}): neither declared nor in state, left as they are</summary>\n\n| Kind | Principal | Role | Scope | Ends |\n|---|---|---|---|---|\n",
            plan.unmanaged.len()
        );
        for u in &plan.unmanaged {
            let end = u.end.map_or_else(
                || "permanent".to_string(),
                |t| t.format("%Y-%m-%d").to_string(),
            );
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {end} |",
                u.kind,
                markdown(&u.principal),
                markdown(&u.role),
                markdown(&u.scope)
            );
        }
        s.push_str("\n</details>\n\n");
        sections.push(s);
    }

    let mut out = head;
    let total = sections.len();
    for (i, s) in sections.into_iter().enumerate() {
        let note_room = 200;
        if out.len() + s.len() + note_room > MARKDOWN_LIMIT {
            let _ = writeln!(
                out,
                "_The plan is too long for one comment: {} of {total} sections are not shown. Run `pim plan` or `pim show` for all of it._",
                total - i
            );
            return out;
        }
        out.push_str(&s);
    }
    out
}
