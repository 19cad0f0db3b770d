//! The planner against a small tenant: a scenario with every action and
//! reason (snapshots of the text, Markdown and JSON people read), and
//! table-driven cases for the rules of the diff.

use crate::support::common;

use chrono::Duration;
use common::{Tenant, basis, load_str, managed, now, scenario};
use pim::model::{Address, AssignmentKind, BlockKind, RuleId, RuleValue};
use pim::plan::{self, Action, Plan, PlanError, PlanOptions, Reason, RequestAction, Step};
use pim::render;
use pim::state::StateFile;
use serde_json::json;

#[test]
fn scenario_covers_every_action_and_reason() {
    let p = scenario();
    let got: Vec<(String, Action, Reason)> = p
        .changes
        .iter()
        .map(|c| (c.address.to_string(), c.action, c.reason))
        .collect();
    let want = [
        (
            "policy[\"Global Administrator\"]",
            Action::UpdateRules,
            Reason::Declared,
        ),
        (
            "eligibility.carol_helpdesk",
            Action::Create,
            Reason::Declared,
        ),
        ("eligibility.dave_helpdesk", Action::Create, Reason::Drift),
        ("eligibility.erin_ga", Action::Adopt, Reason::Declared),
        ("eligibility.frank_ga", Action::Adopt, Reason::Declared),
        ("eligibility.grace_reader", Action::Update, Reason::Declared),
        ("eligibility.heidi_reader", Action::Renew, Reason::Expiring),
        ("eligibility.ivan_old", Action::Remove, Reason::NotDeclared),
        (
            "role[\"Global Administrator\"][\"eligible user:mallory@contoso.com\"]",
            Action::Remove,
            Reason::Exclusive,
        ),
    ];
    let want: Vec<(String, Action, Reason)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), *b, *c))
        .collect();
    assert_eq!(got, want);
    let s = p.summary;
    assert_eq!(
        (
            s.create,
            s.adopt,
            s.update,
            s.renew,
            s.remove,
            s.update_rules,
            s.no_op
        ),
        (2, 2, 1, 1, 2, 1, 2)
    );
    assert_eq!(
        render::summary_line(&s),
        "Plan: 2 to create, 2 to adopt (1 also updated), 1 to update, 1 to renew, 2 to remove, 1 policy to update."
    );

    let requests = |addr: &str| match &p
        .changes
        .iter()
        .find(|c| c.address.to_string() == addr)
        .unwrap()
        .step
    {
        Step::Grant { requests, .. } => requests.iter().map(|r| r.action).collect::<Vec<_>>(),
        Step::Rules(_) => vec![],
    };
    assert_eq!(
        requests("eligibility.erin_ga"),
        [],
        "adopting a matching schedule sends nothing"
    );
    assert_eq!(
        requests("eligibility.frank_ga"),
        [RequestAction::AdminUpdate]
    );
    assert_eq!(
        requests("eligibility.heidi_reader"),
        [RequestAction::AdminExtend]
    );
    assert_eq!(
        requests("eligibility.ivan_old"),
        [RequestAction::AdminRemove]
    );
    let unmanaged: Vec<&str> = p.unmanaged.iter().map(|u| u.principal.as_str()).collect();
    assert_eq!(
        unmanaged,
        ["user:kim@contoso.com"],
        "activations and group grants are neither planned nor listed"
    );

    let Step::Rules(patch) = &p.changes[0].step else {
        panic!("rules first")
    };
    let ids: Vec<RuleId> = patch.rules.rules.keys().copied().collect();
    assert_eq!(
        ids,
        [
            RuleId::ExpirationEndUserAssignment,
            RuleId::ApprovalEndUserAssignment,
            RuleId::ExpirationAdminEligibility,
            RuleId::NotificationAdminAdminEligibility
        ]
    );
}

#[test]
fn scenario_text() {
    insta::assert_snapshot!(render::plan_text(&scenario(), false));
}

#[test]
fn scenario_markdown() {
    let md = render::plan_markdown(&scenario());
    assert!(md.len() < render::MARKDOWN_LIMIT);
    insta::assert_snapshot!(md);
}

#[test]
fn scenario_json_validates_against_its_schema() {
    let v = render::plan_json(&scenario());
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schemas/plan.schema.json").unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    insta::assert_snapshot!(serde_json::to_string_pretty(&v).unwrap());
}

#[test]
fn colour_is_only_added_when_asked() {
    let p = scenario();
    assert!(!render::plan_text(&p, false).contains('\x1b'));
    assert!(render::plan_text(&p, true).contains("\x1b[32m+\x1b[0m"));
}

#[test]
fn markdown_of_a_huge_plan_is_truncated_with_a_note() {
    let mut p = scenario();
    let template = p.changes[1].clone();
    for i in 0..3000 {
        let mut c = template.clone();
        c.address = Address::new(BlockKind::Eligibility, format!("bulk_{i:04}"));
        c.role = format!("Role {}", i % 400);
        p.changes.push(c);
    }
    let md = render::plan_markdown(&p);
    assert!(md.len() <= render::MARKDOWN_LIMIT, "{}", md.len());
    assert!(md.contains("The plan is too long for one comment"));
}

pub(crate) fn errors_of(r: Result<Plan, PlanError>) -> String {
    match r {
        Ok(p) => panic!(
            "expected plan errors, got {:?}",
            p.changes
                .iter()
                .map(|c| c.address.to_string())
                .collect::<Vec<_>>()
        ),
        Err(PlanError::Invalid(d)) => d.to_string(),
    }
}

#[test]
fn policy_violations_are_caught_at_the_config_line() {
    let mut t = Tenant::new();
    t.user("alice");
    t.user("bob");
    let desired = load_str(
        r#"
policy "Global Administrator" {
  eligibility {
    allow_permanent = false
    max_duration    = "P90D"
  }
}

eligibility "alice_forever" {
  principal = "user:alice@contoso.com"
  role      = "Global Administrator"
  permanent = true
}

eligibility "bob_long" {
  principal = "user:bob@contoso.com"
  role      = "Global Administrator"
  duration  = "P180D"
}

assignment "bob_active" {
  principal = "user:bob@contoso.com"
  role      = "Helpdesk Administrator"
  duration  = "P30D"
}
"#,
    );
    let text = errors_of(t.plan(&desired));
    assert!(text.contains("case.pim.hcl:12:15: error: policy of \"Global Administrator\" forbids permanent eligibility (Expiration_Admin_Eligibility)"), "{text}");
    assert!(text.contains("case.pim.hcl:18:15: error: policy of \"Global Administrator\" allows eligibility of at most P90D (Expiration_Admin_Eligibility)"), "{text}");
    assert!(text.contains("case.pim.hcl:21:1: error: policy of \"Helpdesk Administrator\" requires a justification for active assignment (Enablement_Admin_Assignment)"), "{text}");

    // The same grants are fine against the tenant's (default) policy once the block is gone.
    t.policy_mut("Global Administrator");
    let ok = load_str(
        r#"
eligibility "alice_forever" {
  principal = "user:alice@contoso.com"
  role      = "Global Administrator"
  permanent = true
}
"#,
    );
    t.plan(&ok).unwrap();
}

#[test]
fn tenant_policy_is_checked_when_config_does_not_override_it() {
    let mut t = Tenant::new();
    t.user("alice");
    *t.policy_mut("Security Reader")
        .rules
        .get_mut(&RuleId::ExpirationAdminEligibility)
        .unwrap() = RuleValue::Expiration {
        required: true,
        max: Some("P30D".parse().unwrap()),
    };
    let desired = load_str(
        r#"
eligibility "a" {
  principal = "user:alice@contoso.com"
  role      = "Security Reader"
  expires   = "2027-12-01T00:00:00Z"
}
"#,
    );
    let text = errors_of(t.plan(&desired));
    assert!(text.contains("case.pim.hcl:5:15: error: policy of \"Security Reader\" allows eligibility of at most P30D"), "{text}");
}

fn one_grant_plan(end_in: Duration, renew_within: &str) -> Plan {
    let mut t = Tenant::new();
    let id = t.grant(
        AssignmentKind::Eligible,
        "alice",
        "Security Reader",
        0,
        None,
    );
    let g = t
        .current
        .grants
        .iter_mut()
        .find(|g| g.schedule_id == id)
        .unwrap();
    g.start = Some(now() - Duration::days(60));
    g.expiration = pim::model::Expiration::At(now() + end_in);
    let mut state = StateFile::new("l".into());
    state.resources.push(managed(
        "eligibility.a",
        AssignmentKind::Eligible,
        &id,
        "u-alice",
        "Security Reader",
        json!({"duration": "P90D"}),
    ));
    let desired = load_str(
        r#"
eligibility "a" {
  principal = "user:alice@contoso.com"
  role      = "Security Reader"
  duration  = "P90D"
}
"#,
    );
    let mut opts = PlanOptions::at(now());
    opts.renew_within = renew_within.parse().unwrap();
    plan::plan(
        &desired,
        &t.current,
        &t.resolved,
        Some(&state),
        basis(),
        &opts,
    )
    .unwrap()
}

#[test]
fn renewal_window_boundary() {
    let actions = |p: &Plan| p.changes.iter().map(|c| c.action).collect::<Vec<_>>();
    assert_eq!(
        actions(&one_grant_plan(Duration::days(14), "P14D")),
        [Action::Renew],
        "ending exactly at the window's edge"
    );
    assert_eq!(
        actions(&one_grant_plan(
            Duration::days(14) + Duration::hours(1),
            "P14D"
        )),
        [],
        "just outside the window"
    );
    assert_eq!(
        one_grant_plan(Duration::days(14) + Duration::hours(1), "P14D")
            .summary
            .no_op,
        1
    );
    let wide = one_grant_plan(Duration::days(20), "P30D");
    let Step::Grant { requests, .. } = &wide.changes[0].step else {
        panic!()
    };
    assert_eq!(
        requests[0].action,
        RequestAction::AdminUpdate,
        "outside Graph's 14-day extend window a renewal is an update"
    );
    let near = one_grant_plan(Duration::days(3), "P30D");
    let Step::Grant { requests, .. } = &near.changes[0].step else {
        panic!()
    };
    assert_eq!(requests[0].action, RequestAction::AdminExtend);
}

#[test]
fn exclusive_roles_spare_protected_principals_and_the_caller() {
    let mut t = Tenant::new();
    t.grant(
        AssignmentKind::Active,
        "breakglass1",
        "Global Administrator",
        100,
        None,
    );
    t.grant(
        AssignmentKind::Active,
        "pimrunner",
        "Global Administrator",
        100,
        None,
    );
    t.grant(
        AssignmentKind::Eligible,
        "eve",
        "Global Administrator",
        100,
        Some(300),
    );
    t.current.caller_id = Some("u-pimrunner".into());
    let desired = load_str(
        r#"
role "Global Administrator" {
  exclusive = true
  protected = ["user:breakglass1@contoso.com"]
}
"#,
    );
    let p = t.plan(&desired).unwrap();
    let removed: Vec<String> = p.changes.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(
        removed,
        ["role[\"Global Administrator\"][\"eligible user:eve@contoso.com\"]"]
    );
    assert_eq!(
        p.unmanaged.len(),
        2,
        "the spared holders are listed as unmanaged"
    );
}

#[test]
fn removal_guards() {
    let mut t = Tenant::new();
    for u in ["a", "b", "c"] {
        t.grant(
            AssignmentKind::Eligible,
            u,
            "Global Administrator",
            10,
            Some(100),
        );
    }
    let desired = load_str("role \"Global Administrator\" {\n  exclusive = true\n}\n");
    let mut opts = PlanOptions::at(now());
    opts.max_removals = 2;
    let refusals = |opts: &PlanOptions| {
        let p = plan::plan(&desired, &t.current, &t.resolved, None, basis(), opts).unwrap();
        // Refused, yet planned in full: the reviewer sees what is refused.
        assert_eq!(p.summary.remove, 3);
        assert_eq!(p.changes.len(), 3);
        p.refusals
            .iter()
            .map(|r| format!("{r}\n"))
            .collect::<String>()
    };
    let text = refusals(&opts);
    assert!(
        text.contains("the plan removes 3 grants, more than the 2 allowed"),
        "{text}"
    );
    assert!(text.contains("--max-removals 3"), "{text}");
    assert!(text.contains("case.pim.hcl:1:1: the plan would leave tier-0 role \"Global Administrator\" with no eligible or active holder: it removes user:a@contoso.com"), "{text}");
    opts.max_removals = 10;
    let text = refusals(&opts);
    assert!(!text.contains("more than"), "{text}");
    assert!(text.contains("allow_empty = true"), "{text}");
}

#[test]
fn unresolved_names_are_errors_at_their_line() {
    let t = Tenant::new();
    let desired = load_str(
        r#"
eligibility "ghost" {
  principal = "user:ghost@contoso.com"
  role      = "Global Reader"
  scope     = "/administrativeUnits/Nowhere"
  duration  = "P30D"
}
"#,
    );
    let text = errors_of(t.plan(&desired));
    assert!(
        text.contains(
            "case.pim.hcl:3:15: error: user:ghost@contoso.com was not found in the tenant"
        ),
        "{text}"
    );
    assert!(text.contains("case.pim.hcl:5:15: error: scope /administrativeUnits/Nowhere was not found in the tenant"), "{text}");
}

#[test]
fn converged_tenant_has_no_changes() {
    let mut t = Tenant::new();
    let id = t.grant(
        AssignmentKind::Eligible,
        "alice",
        "Security Reader",
        10,
        Some(90),
    );
    let mut state = StateFile::new("l".into());
    state.resources.push(managed(
        "eligibility.a",
        AssignmentKind::Eligible,
        &id,
        "u-alice",
        "Security Reader",
        json!({"duration": "P90D"}),
    ));
    let desired = load_str(
        "eligibility \"a\" {\n  principal = \"user:alice@contoso.com\"\n  role      = \"Security Reader\"\n  duration  = \"P90D\"\n}\n",
    );
    let p = plan::plan(
        &desired,
        &t.current,
        &t.resolved,
        Some(&state),
        basis(),
        &PlanOptions::at(now()),
    )
    .unwrap();
    assert!(p.changes.is_empty());
    assert!(!p.summary.has_changes());
    assert_eq!(
        render::plan_text(&p, false),
        "No changes. The tenant matches the configuration.\n"
    );
}

#[test]
fn saved_plans_round_trip_and_refuse_other_files() {
    let dir = std::env::temp_dir().join(format!("pim-planfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = scenario();
    let file = dir.join("plan.bin");
    plan::planfile::write(&file, &p).unwrap();
    assert_eq!(plan::planfile::read(&file).unwrap(), p);
    let state = dir.join("state.json");
    std::fs::write(
        &state,
        serde_json::to_vec(&StateFile::new("x".into())).unwrap(),
    )
    .unwrap();
    let e = plan::planfile::read(&state).unwrap_err().to_string();
    assert!(e.contains("is not a pim plan file"), "{e}");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    v["plan"]["format_version"] = json!(99);
    std::fs::write(&file, v.to_string()).unwrap();
    let e = plan::planfile::read(&file).unwrap_err().to_string();
    assert!(e.contains("has been changed since pim wrote it"), "{e}");
    // A well-formed file of another format version, as another pim writes it.
    let body = serde_json::to_string(&v["plan"]).unwrap();
    let digest = {
        use sha2::Digest as _;
        format!("sha256:{:x}", sha2::Sha256::digest(body.as_bytes()))
    };
    std::fs::write(
        &file,
        format!("{{\"kind\":\"pim-plan\",\"digest\":\"{digest}\",\"plan\":{body}}}"),
    )
    .unwrap();
    let e = plan::planfile::read(&file).unwrap_err().to_string();
    assert!(e.contains("plan format is 99"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pim_show_renders_a_saved_plan_in_every_format() {
    let dir = std::env::temp_dir().join(format!("pim-show-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plan.bin");
    let p = scenario();
    plan::planfile::write(&file, &p).unwrap();
    let show = |format: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pim"))
            .args(["show", "--format", format])
            .arg(&file)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(show("text"), render::plan_text(&p, false));
    assert_eq!(show("markdown"), render::plan_markdown(&p));
    let json: serde_json::Value = serde_json::from_str(&show("json")).unwrap();
    assert_eq!(json, render::plan_json(&p));
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_pim"))
        .args(["show", "/nonexistent/plan.bin"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .starts_with("error: cannot read plan file /nonexistent/plan.bin")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn removals_wait_out_graphs_five_minute_rule() {
    let mut t = Tenant::new();
    let id = t.grant(
        AssignmentKind::Eligible,
        "young",
        "Security Reader",
        0,
        Some(30),
    );
    t.current
        .grants
        .iter_mut()
        .find(|g| g.schedule_id == id)
        .unwrap()
        .start = Some(now() - chrono::Duration::minutes(2));
    let mut state = StateFile::new("l".into());
    state.resources.push(managed(
        "eligibility.young",
        AssignmentKind::Eligible,
        &id,
        "u-young",
        "Security Reader",
        json!({}),
    ));
    let p = plan::plan(
        &load_str("locals {}\n"),
        &t.current,
        &t.resolved,
        Some(&state),
        basis(),
        &PlanOptions::at(now()),
    )
    .unwrap();
    assert!(p.changes.is_empty());
    assert_eq!(
        p.warnings,
        [
            "eligibility.young began less than 5 minutes ago, and Graph refuses to end a grant that young (ActiveDurationTooShort): it is kept for now, and a run after 2026-12-01T00:03:00Z will remove it"
        ]
    );
    let later = PlanOptions::at(now() + chrono::Duration::minutes(4));
    let p = plan::plan(
        &load_str("locals {}\n"),
        &t.current,
        &t.resolved,
        Some(&state),
        basis(),
        &later,
    )
    .unwrap();
    assert_eq!(p.changes.len(), 1);
    assert_eq!(p.changes[0].action, Action::Remove);
}

#[test]
fn state_entries_with_nothing_left_to_manage_are_orphans() {
    let mut t = Tenant::new();
    let kept = t.grant(
        AssignmentKind::Eligible,
        "kim",
        "Security Reader",
        10,
        Some(90),
    );
    let renamed = t.grant(
        AssignmentKind::Eligible,
        "lea",
        "Security Reader",
        10,
        Some(90),
    );
    let undeclared = t.grant(
        AssignmentKind::Eligible,
        "max",
        "Security Reader",
        10,
        Some(90),
    );
    t.user("gone");
    let mut state = StateFile::new("l".into());
    let p90 = json!({"duration": "P90D"});
    for (address, id, user) in [
        ("eligibility.kim", kept.as_str(), "u-kim"),
        ("eligibility.lea_old", renamed.as_str(), "u-lea"),
        ("eligibility.max", undeclared.as_str(), "u-max"),
        // Removed by a run that was killed before it could record it.
        ("eligibility.gone", "sched-removed", "u-gone"),
    ] {
        state.resources.push(managed(
            address,
            AssignmentKind::Eligible,
            id,
            user,
            "Security Reader",
            p90.clone(),
        ));
    }
    state.resources.push(pim::state::Resource {
        surface: pim::model::SurfaceKind::DirectoryRole,
        address: Address::new(BlockKind::Policy, "Global Reader"),
        kind: None,
        schedule_id: None,
        request_id: None,
        principal_id: Default::default(),
        role_id: common::role_id("Global Reader").into(),
        scope_id: "/".into(),
        attributes: json!({}),
    });
    let desired = load_str(
        "eligibility \"kim\" {\n  principal = \"user:kim@contoso.com\"\n  role      = \"Security Reader\"\n  duration  = \"P90D\"\n}\n\
         eligibility \"lea\" {\n  principal = \"user:lea@contoso.com\"\n  role      = \"Security Reader\"\n  duration  = \"P90D\"\n}\n",
    );
    let upkeep = plan::upkeep(
        &desired,
        &t.current,
        &t.resolved,
        &state,
        &PlanOptions::at(now()),
    );
    assert!(upkeep.record.is_empty());
    let orphans: Vec<String> = upkeep.forget.iter().map(ToString::to_string).collect();
    // max is still in the tenant: the plan removes it, it is no orphan.
    assert_eq!(
        orphans,
        [
            "eligibility.lea_old",
            "eligibility.gone",
            "policy[\"Global Reader\"]"
        ]
    );
    let p = plan::plan(
        &desired,
        &t.current,
        &t.resolved,
        Some(&state),
        basis(),
        &PlanOptions::at(now()),
    )
    .unwrap();
    let actions: Vec<(String, Action)> = p
        .changes
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("eligibility.lea".to_string(), Action::Adopt),
            ("eligibility.max".to_string(), Action::Remove)
        ]
    );
}

#[test]
fn declared_policies_the_tenant_already_matches_are_recorded() {
    let t = Tenant::new();
    let desired = load_str(
        "policy \"Security Reader\" {\n  activation {\n    max_duration = \"PT8H\"\n    require_mfa  = true\n  }\n}\n\
         policy \"Global Reader\" {\n  activation {\n    max_duration = \"PT4H\"\n  }\n}\n",
    );
    let state = StateFile::new("l".into());
    let opts = PlanOptions::at(now());
    let upkeep = plan::upkeep(&desired, &t.current, &t.resolved, &state, &opts);
    assert!(upkeep.forget.is_empty());
    let recorded: Vec<(String, serde_json::Value)> = upkeep
        .record
        .iter()
        .map(|r| (r.address.to_string(), r.attributes["settings"].clone()))
        .collect();
    assert_eq!(
        recorded,
        [(
            "policy[\"Security Reader\"]".to_string(),
            json!([
                {"setting": "activation.max_duration", "value": "PT8H"},
                {"setting": "activation.require_mfa", "value": "true"},
                {"setting": "activation.require_justification", "value": "true"},
                {"setting": "activation.require_ticket", "value": "false"},
            ])
        )],
        "Global Reader differs: the plan updates it and apply records it then"
    );
    let p = plan::plan(
        &desired,
        &t.current,
        &t.resolved,
        Some(&state),
        basis(),
        &opts,
    )
    .unwrap();
    let actions: Vec<(String, Action)> = p
        .changes
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect();
    assert_eq!(
        actions,
        [("policy[\"Global Reader\"]".to_string(), Action::UpdateRules)]
    );
    let mut recorded = state.clone();
    upkeep.apply_to(&mut recorded);
    let again = plan::upkeep(&desired, &t.current, &t.resolved, &recorded, &opts);
    assert!(again.is_empty(), "{again:?}");
}

/// A grant ending at an odd second, exported as `expires` rounded up to the
/// next midnight, with the state an export writes (the declaration and the
/// exact end); planned with `expires` as `declared` and the tenant's end
/// moved by `moved`.
fn exported_expiry_plan(declared: &str, moved: Duration, record_end: bool) -> Plan {
    let mut t = Tenant::new();
    let id = t.grant(
        AssignmentKind::Eligible,
        "alice",
        "Security Reader",
        10,
        None,
    );
    let end = chrono::DateTime::parse_from_rfc3339("2027-03-31T21:47:55Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let g = t
        .current
        .grants
        .iter_mut()
        .find(|g| g.schedule_id == id)
        .unwrap();
    g.expiration = pim::model::Expiration::At(end + moved);
    let mut attributes = json!({ "duration": "2027-04-01T00:00:00Z", "exported": true });
    if record_end {
        attributes["end"] = json!(end);
    }
    let mut state = StateFile::new("l".into());
    state.resources.push(managed(
        "eligibility.alice_sr",
        AssignmentKind::Eligible,
        &id,
        "u-alice",
        "Security Reader",
        attributes,
    ));
    let desired = load_str(&format!(
        "eligibility \"alice_sr\" {{\n  principal = \"user:alice@contoso.com\"\n  role      = \"Security Reader\"\n  expires   = \"{declared}\"\n}}\n"
    ));
    plan::plan(
        &desired,
        &t.current,
        &t.resolved,
        Some(&state),
        basis(),
        &PlanOptions::at(now()),
    )
    .unwrap()
}

#[test]
fn an_exported_expiry_rounded_to_a_day_stands_for_the_grant_until_either_moves() {
    let changes = |p: &Plan| -> Vec<(Action, Reason, Option<String>)> {
        p.changes
            .iter()
            .map(|c| {
                let sent = match &c.step {
                    Step::Grant { requests, .. } => requests
                        .first()
                        .and_then(|r| r.schedule.as_ref().map(|s| format!("{:?}", s.expiration))),
                    Step::Rules(_) => None,
                };
                (c.action, c.reason, sent)
            })
            .collect()
    };
    let as_exported = exported_expiry_plan("2027-04-01T00:00:00Z", Duration::zero(), true);
    assert_eq!(
        changes(&as_exported),
        [],
        "state says the date stands for the end"
    );
    assert_eq!(as_exported.summary.no_op, 1);

    assert_eq!(
        changes(&exported_expiry_plan(
            "2027-06-30T00:00:00Z",
            Duration::zero(),
            true
        )),
        [(
            Action::Update,
            Reason::Declared,
            Some("At(2027-06-30T00:00:00Z)".into())
        )],
        "the configuration changed since the export: the new date is sent"
    );
    assert_eq!(
        changes(&exported_expiry_plan(
            "2027-04-01T00:00:00Z",
            Duration::days(30),
            true
        )),
        [(
            Action::Update,
            Reason::Drift,
            Some("At(2027-04-01T00:00:00Z)".into())
        )],
        "the grant changed outside pim: put back to the declared date"
    );
    assert_eq!(
        changes(&exported_expiry_plan(
            "2027-04-01T00:00:00Z",
            Duration::zero(),
            false
        )),
        [(
            Action::Update,
            Reason::Drift,
            Some("At(2027-04-01T00:00:00Z)".into())
        )],
        "a state that does not record the end cannot say the date stands for it"
    );
}
