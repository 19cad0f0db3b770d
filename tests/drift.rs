//! Drift of every kind, reported by role, new apart from known, with JSON
//! that validates against `schemas/drift.schema.json`; acknowledgements and
//! `known_holders` make findings known, never for an exclusive role.

use crate::support::common;

use std::collections::BTreeMap;

use pim::drift::{self, Accepted, Finding, FindingType, Known};
use pim::model::Address;
use pim::state::Resource;
use serde_json::json;

fn schema_errors(v: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schemas/drift.schema.json").unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Global Administrator is exclusive in the scenario.
fn known() -> Known {
    Known {
        exclusive_roles: [common::role_id("Global Administrator").into()].into(),
        ..Known::default()
    }
}

/// The scenario, with pim having applied the GA policy's activation
/// maximum, which the tenant now has back at its default.
fn scenario() -> (
    pim::plan::Plan,
    pim::state::StateFile,
    pim::snapshot::Current,
) {
    let (plan, mut state, current) = common::scenario_full();
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
    (plan, state, current)
}

fn of<'a>(r: &'a drift::DriftReport, role: &str, what: FindingType) -> Vec<&'a Finding> {
    r.roles[role]
        .findings
        .iter()
        .filter(|f| f.what == what)
        .collect()
}

#[test]
fn every_kind_of_drift_is_reported_by_role() {
    let (plan, state, current) = scenario();
    let r = drift::report(&plan, &current, Some(&state), &known());
    assert!(r.has_drift);
    let mallory = of(&r, "Global Administrator", FindingType::HolderAdded);
    assert_eq!(mallory.len(), 1);
    assert!(mallory[0].exclusive && mallory[0].will_be_removed && mallory[0].new);
    assert!(mallory[0].before.is_empty(), "pim never knew it");
    let policy = of(&r, "Global Administrator", FindingType::PolicyChanged);
    assert_eq!(
        (
            policy[0].setting.as_deref(),
            policy[0].before["value"].as_str(),
            policy[0].after["value"].as_str()
        ),
        (Some("activation.max_duration"), "PT4H", "PT8H"),
        "before is what pim applied, after what the tenant has"
    );
    let removed = of(&r, "Helpdesk Administrator", FindingType::GrantRemoved);
    assert_eq!(
        removed[0].address.as_deref(),
        Some("eligibility.dave_helpdesk")
    );
    assert!(removed[0].after.is_empty(), "{:?}", removed[0]);
    assert!(!removed[0].before.is_empty(), "{:?}", removed[0]);
    let heidi = &r.roles["Security Reader"].expiring[0];
    assert_eq!(heidi.address, "eligibility.heidi_reader");
    assert!(heidi.renewed);
    assert_eq!(
        of(&r, "Global Reader", FindingType::HolderAdded)[0]
            .principal
            .as_deref(),
        Some("user:kim@contoso.com")
    );
    assert_eq!(r.counts.new, 4);

    let v = serde_json::to_value(&r).unwrap();
    let errors = schema_errors(&v);
    assert!(errors.is_empty(), "{errors:#?}");
    insta::assert_snapshot!(pim::render::drift_text(&r, false));
    let md = pim::render::drift_markdown(&r);
    assert!(md.contains("| Global Administrator | 2 | 0 | 0 |"), "{md}");
    assert!(md.contains("#### Helpdesk Administrator"), "{md}");
}

#[test]
fn acknowledged_findings_are_known_but_exclusive_holders_stay_drift() {
    let (plan, mut state, current) = scenario();
    let r = drift::report(&plan, &current, Some(&state), &known());
    state.acknowledged = r.acknowledge(&state, common::now());
    assert_eq!(state.acknowledged.len(), 3, "{:#?}", state.acknowledged);

    let again = drift::report(&plan, &current, Some(&state), &known());
    assert!(again.has_drift, "mallory holds an exclusive role");
    let new: Vec<&Finding> = again.findings().filter(|f| f.new).collect();
    assert_eq!(new.len(), 1, "{new:#?}");
    assert!(new[0].exclusive);
    assert_eq!(again.counts.known, 3);
    let kim = of(&again, "Global Reader", FindingType::HolderAdded)[0];
    assert_eq!(kim.known.as_deref(), Some("acknowledged on 2026-12-01"));
    let text = pim::render::drift_text(&again, false);
    assert!(
        text.contains("user:kim@contoso.com at / since 2026-11-11, permanent [known: acknowledged on 2026-12-01]"),
        "{text}"
    );
    assert!(
        text.contains("Drift: 1 new finding in 1 role (3 known findings, 1 grant expiring)."),
        "{text}"
    );
    let errors = schema_errors(&serde_json::to_value(&again).unwrap());
    assert!(errors.is_empty(), "{errors:#?}");

    // Acknowledging again keeps what was recorded, and records nothing new.
    assert_eq!(again.acknowledge(&state, common::now()), state.acknowledged);
}

#[test]
fn known_holders_accept_holders_of_their_role() {
    let (plan, state, current) = scenario();
    let mut known = known();
    known.accepted.insert(
        common::role_id("Global Reader").into(),
        Accepted {
            any: true,
            principals: Default::default(),
            at: "roles.pim.hcl:3:3".into(),
        },
    );
    let r = drift::report(&plan, &current, Some(&state), &known);
    let kim = of(&r, "Global Reader", FindingType::HolderAdded)[0];
    assert!(!kim.new);
    assert_eq!(
        kim.known.as_deref(),
        Some("accepted by known_holders at roles.pim.hcl:3:3")
    );
}

#[test]
fn a_converged_tenant_has_no_drift() {
    let (mut plan, _) = common::scenario_with_state();
    plan.changes.clear();
    plan.unmanaged.clear();
    let r = drift::report(
        &plan,
        &common::Tenant::new().current,
        None,
        &Known::default(),
    );
    assert!(!r.has_drift);
    assert_eq!(
        pim::render::drift_text(&r, false),
        "No drift: the tenant matches the configuration and state.\n"
    );
}

#[test]
fn new_drift_is_coloured_on_a_terminal() {
    let (plan, state, current) = scenario();
    let r = drift::report(&plan, &current, Some(&state), &known());
    let text = pim::render::drift_text(&r, true);
    assert!(
        text.contains("\x1b[31m- eligibility.dave_helpdesk"),
        "{text}"
    );
    assert!(text.contains("\x1b[1mnew\x1b[0m"), "{text}");
    assert!(!pim::render::drift_text(&r, false).contains('\x1b'));
}

#[test]
fn hostile_names_are_escaped_in_text_and_markdown() {
    use pim::model::AssignmentKind;
    // Everything here comes from the tenant, or from a state file.
    let role = "Evil | Role\n```\n## No drift. All good\n```".to_string();
    let finding = |what: FindingType| Finding {
        key: "k".into(),
        what,
        new: true,
        known: None,
        address: Some("eligibility.x[\"a\u{1b}[8m\"]".into()),
        kind: Some(AssignmentKind::Eligible),
        principal: Some("user:kim\u{1b}[2K\r  + nothing to see@contoso.com".into()),
        scope: Some("/administrativeUnits/Paris\u{202e}eciffO".into()),
        rule: None,
        setting: None,
        before: BTreeMap::new(),
        after: BTreeMap::new(),
        exclusive: false,
        will_be_removed: false,
        schedule_id: Some("s-1".into()),
        changed_by: Some(drift::ChangedBy {
            at: None,
            by: Some("user:mallory\u{1b}]0;owned\u{7}@contoso.com".into()),
            justification: Some("because\n  + forged line".into()),
            ticket: None,
            request_id: Some("req\u{7}".into()),
        }),
        subject: None,
        request_id: None,
    };
    let mut changed = finding(FindingType::GrantChanged);
    changed.before = BTreeMap::from([("end".to_string(), "2027\n  ~ forged".to_string())]);
    changed.after = BTreeMap::from([("end".to_string(), "2028".to_string())]);
    let mut policy = finding(FindingType::PolicyChanged);
    policy.rule = Some("Expiration_EndUser_Assignment".into());
    policy.setting = Some("activation.max_duration".into());
    policy.before = BTreeMap::from([("value".to_string(), "PT4H".to_string())]);
    policy.after = BTreeMap::from([("value".to_string(), "PT8H\u{1b}[0m".to_string())]);
    let d = drift::RoleDrift {
        findings: vec![finding(FindingType::HolderAdded), changed, policy],
        expiring: vec![],
    };
    let r = drift::DriftReport {
        format_version: drift::DRIFT_FORMAT_VERSION,
        checked_at: common::now(),
        has_drift: true,
        counts: drift::Counts {
            new: 3,
            known: 0,
            expiring: 0,
        },
        roles: BTreeMap::from([(role, d)]),
    };
    let text = pim::render::drift_text(&r, false);
    let md = pim::render::drift_markdown(&r);
    for out in [&text, &md] {
        let hidden: Vec<char> = out
            .chars()
            .filter(|&c| c != '\n' && pim::render::escape::is_hidden(c))
            .collect();
        assert!(hidden.is_empty(), "{hidden:?} in\n{out}");
        assert!(!out.contains("\n  + forged"), "{out}");
    }
    insta::assert_snapshot!("hostile_text", text);
    insta::assert_snapshot!("hostile_markdown", md);

    use pulldown_cmark::{Event, Options, Parser, Tag};
    let events: Vec<Event> = Parser::new_ext(&md, Options::ENABLE_TABLES).collect();
    let count = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(
        count(&|e| matches!(e, Event::Start(Tag::Heading { .. }))),
        2,
        "the title and the role's section"
    );
    assert_eq!(count(&|e| matches!(e, Event::Start(Tag::CodeBlock(_)))), 0);
    assert_eq!(
        count(&|e| matches!(e, Event::Start(Tag::TableRow))),
        1,
        "one role row"
    );
}
