//! Drift of every kind, reported by role, with JSON that validates against
//! `schemas/drift.schema.json`.

use crate::support::common;

use pim::drift;
use pim::model::Address;
use pim::state::Resource;
use serde_json::json;

#[test]
fn every_kind_of_drift_is_reported_by_role() {
    let (plan, state, current) = common::scenario_full();
    // Record that pim applied the GA policy's activation maximum: the tenant
    // now has the default again, so it was changed outside of pim.
    let mut state = state;
    state.resources.push(Resource {
        surface: pim::model::SurfaceKind::DirectoryRole,
        address: Address::parse("policy[\"Global Administrator\"]").unwrap(),
        kind: None,
        schedule_id: None,
        request_id: None,
        principal_id: Default::default(),
        role_id: common::role_id("Global Administrator").into(),
        scope_id: "/".into(),
        attributes: json!({"settings": [{"setting": "activation.max_duration", "value": "PT4H"}]}),
    });
    let r = drift::report(&plan, &current, Some(&state));
    assert!(r.has_drift);
    let ga = &r.roles["Global Administrator"];
    assert_eq!(ga.added.len(), 1);
    assert!(
        ga.added[0].will_be_removed,
        "mallory holds an exclusive role"
    );
    assert_eq!(ga.policy.len(), 1);
    assert_eq!(
        (
            ga.policy[0].setting.as_str(),
            ga.policy[0].applied.as_str(),
            ga.policy[0].now.as_str()
        ),
        ("activation.max_duration", "PT4H", "PT8H")
    );
    let hd = &r.roles["Helpdesk Administrator"];
    assert_eq!(hd.changed[0].address, "eligibility.dave_helpdesk");
    assert_eq!(hd.changed[0].what, "removed outside of pim");
    assert_eq!(
        r.roles["Security Reader"].expiring[0].address,
        "eligibility.heidi_reader"
    );
    assert_eq!(
        r.roles["Global Reader"].added[0].principal,
        "user:kim@contoso.com"
    );

    let v = serde_json::to_value(&r).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schemas/drift.schema.json").unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    insta::assert_snapshot!(drift::render_text(&r));
    assert!(drift::render_markdown(&r).contains("| Global Administrator | 1 | 0 | 1 | 0 |"));
}

#[test]
fn a_converged_tenant_has_no_drift() {
    let (mut plan, _) = common::scenario_with_state();
    plan.changes.clear();
    plan.unmanaged.clear();
    let r = drift::report(&plan, &common::Tenant::new().current, None);
    assert!(!r.has_drift);
    assert_eq!(
        drift::render_text(&r),
        "No drift: the tenant matches the configuration and state.\n"
    );
}

#[test]
fn hostile_names_are_escaped_in_text_and_markdown() {
    use pim::model::AssignmentKind;
    use std::collections::BTreeMap;
    // Everything here comes from the tenant, or from a state file.
    let role = "Evil | Role\n```\n## No drift. All good\n```".to_string();
    let d = drift::RoleDrift {
        added: vec![drift::AddedHolder {
            kind: AssignmentKind::Eligible,
            principal: "user:kim\u{1b}[2K\r  + nothing to see@contoso.com".into(),
            scope: "/administrativeUnits/Paris\u{202e}eciffO".into(),
            since: None,
            end: None,
            request_id: Some("req\u{7}".into()),
            schedule_id: "s-1".into(),
            will_be_removed: false,
        }],
        changed: vec![drift::ChangedGrant {
            address: "eligibility.x[\"a\u{1b}[8m\"]".into(),
            what: "schedule changed outside of pim".into(),
            before: BTreeMap::from([("end".to_string(), "2027\n  ~ forged".to_string())]),
            after: BTreeMap::from([("end".to_string(), "2028".to_string())]),
        }],
        policy: vec![drift::ChangedSetting {
            rule: "Expiration_EndUser_Assignment".into(),
            setting: "activation.max_duration".into(),
            applied: "PT4H".into(),
            now: "PT8H\u{1b}[0m".into(),
        }],
        expiring: vec![],
    };
    let r = drift::DriftReport {
        format_version: 1,
        checked_at: common::now(),
        has_drift: true,
        roles: BTreeMap::from([(role, d)]),
    };
    let text = drift::render_text(&r);
    let md = drift::render_markdown(&r);
    for out in [&text, &md] {
        let hidden: Vec<char> = out
            .chars()
            .filter(|&c| c != '\n' && pim::render::escape::is_hidden(c))
            .collect();
        assert!(hidden.is_empty(), "{hidden:?} in\n{out}");
    }
    insta::assert_snapshot!("hostile_text", text);
    insta::assert_snapshot!("hostile_markdown", md);

    use pulldown_cmark::{Event, Options, Parser, Tag};
    let events: Vec<Event> = Parser::new_ext(&md, Options::ENABLE_TABLES).collect();
    let count = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(
        count(&|e| matches!(e, Event::Start(Tag::Heading { .. }))),
        1
    );
    assert_eq!(count(&|e| matches!(e, Event::Start(Tag::CodeBlock(_)))), 1);
    assert_eq!(
        count(&|e| matches!(e, Event::Start(Tag::TableRow))),
        1,
        "one role row"
    );
}
