//! Names from configuration, the tenant or a saved plan cannot forge what
//! a reviewer reads: plans with hostile names, as text and as Markdown.

use crate::plan_guards::plan_with;
use crate::support::common;

use common::{Tenant, load_str};
use pim::model::{Address, AssignmentKind, BlockKind};
use pim::plan::Plan;
use pim::render;

/// A plan whose names come from people who may be hostile: display names
/// and UPNs of the tenant (an unmanaged holder, an exclusive role's
/// sweep, an administrative unit, a role's display name), a justification
/// in configuration, and, since a saved plan is input too, an address and
/// a warning such a file could carry.
fn hostile_plan() -> Plan {
    use AssignmentKind::Eligible;
    let mut t = Tenant::new();
    t.user("alice");
    let reader = common::role_id("Global Reader");
    t.current.roles.get_mut(&reader).unwrap().display_name =
        "Global Reader</summary><img src=x onerror=alert(1)> | **Approved** `x`".into();
    t.current.administrative_units.insert(
        "au-evil".into(),
        pim::snapshot::AdministrativeUnit {
            id: "au-evil".into(),
            display_name: "Paris\u{202e}eciffO".into(),
        },
    );
    t.grant(
        Eligible,
        "kim\u{1b}]8;;https://evil.example\u{7}click\u{1b}]8;;\u{7}\u{1b}[2K",
        "Global Reader",
        20,
        None,
    );
    t.current.grants.last_mut().unwrap().scope_id = "/administrativeUnits/au-evil".into();
    t.grant(
        Eligible,
        "mallory\n  + eligibility.fake {\n```\n## Plan: no changes. Safe to merge\n```diff\n",
        "Global Administrator",
        100,
        Some(300),
    );
    let desired = load_str(
        r#"
eligibility "alice_ga" {
  principal     = "user:alice@contoso.com"
  role          = "Global Administrator"
  duration      = "P90D"
  justification = "on call\u001b[2J\u001b[H"
}

role "Global Administrator" {
  exclusive = true
}
"#,
    );
    let mut p = plan_with(&t, &desired, None);
    let mut forged = p.changes[0].clone();
    forged.address = Address::new(BlockKind::Eligibility, "team")
        .with_key("x````\n</details>\n\n## Plan: no changes. Safe to merge <!--");
    forged.role = "Helpdesk Administrator\n\n## Approved".into();
    p.changes.push(forged);
    p.warnings
        .push("eligibility.x: \u{1b}[32mall checks passed\u{1b}[0m\r".into());
    p
}

/// No character of `s` but its line breaks is hidden.
fn assert_nothing_hidden(s: &str) {
    let hidden: Vec<char> = s
        .chars()
        .filter(|&c| c != '\n' && render::escape::is_hidden(c))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?} in\n{s}");
}

#[test]
fn hostile_names_are_escaped_in_text() {
    let p = hostile_plan();
    let text = render::plan_text(&p, false);
    assert_nothing_hidden(&text);
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("+ eligibility.fake")
                && !line.starts_with("## ")
                && !line.starts_with("```"),
            "a forged line: {line}"
        );
    }
    insta::assert_snapshot!(text);
}

#[test]
fn hostile_names_are_escaped_in_markdown() {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let p = hostile_plan();
    let md = render::plan_markdown(&p);
    assert_nothing_hidden(&md);
    insta::assert_snapshot!(md);

    // Read back as GitHub would: only pim's own structure is there.
    let mut headings = 0;
    let mut code_blocks = 0;
    let mut html: Vec<String> = Vec::new();
    let mut in_code = false;
    let mut outside_code = String::new();
    for event in Parser::new_ext(&md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(Tag::Heading { .. }) => headings += 1,
            Event::Start(Tag::CodeBlock(_)) => {
                code_blocks += 1;
                in_code = true;
            }
            Event::End(TagEnd::CodeBlock) => in_code = false,
            Event::Start(
                Tag::Link { .. } | Tag::Image { .. } | Tag::Emphasis | Tag::Strikethrough,
            ) => panic!("{event:?} in\n{md}"),
            Event::Html(h) | Event::InlineHtml(h) => html.push(h.trim().to_string()),
            Event::Text(t) if !in_code => outside_code.push_str(&t),
            _ => {}
        }
    }
    assert_eq!(headings, 1, "only \"### pim plan\"");
    let roles: std::collections::BTreeSet<&str> =
        p.changes.iter().map(|c| c.role.as_str()).collect();
    assert_eq!(
        code_blocks,
        roles.len(),
        "one block per role, none closed early"
    );
    for h in &html {
        assert!(
            h.starts_with("<details><summary>") && h.ends_with("</summary>") || h == "</details>",
            "HTML that pim did not write: {h}"
        );
    }
    assert!(
        !outside_code.contains("Safe to merge"),
        "forged text outside code: {outside_code}"
    );
}
