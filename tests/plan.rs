//! The planner against a small tenant: a scenario with every action and
//! reason (snapshots of the text, Markdown and JSON people read), and
//! table-driven cases for the rules of the diff.

use crate::common;

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

fn errors_of(r: Result<Plan, PlanError>) -> String {
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
        address: Address::new(BlockKind::Policy, "Global Reader"),
        kind: None,
        schedule_id: None,
        request_id: None,
        principal_id: String::new(),
        role_id: common::role_id("Global Reader"),
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

// --- Safety rails ------------------------------------------------------------

fn plan_with(t: &Tenant, desired: &pim::config::Desired, state: Option<&StateFile>) -> Plan {
    plan::plan(
        desired,
        &t.current,
        &t.resolved,
        state,
        basis(),
        &PlanOptions::at(now()),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn removed_addresses(p: &Plan) -> Vec<String> {
    p.changes
        .iter()
        .filter(|c| c.action == Action::Remove)
        .map(|c| c.address.to_string())
        .collect()
}

/// A tenant where break-glass holds Global Administrator permanently and
/// eve is eligible, both managed by pim under their own addresses.
fn breakglass_tenant() -> (Tenant, StateFile) {
    let mut t = Tenant::new();
    let bg = t.grant(
        AssignmentKind::Active,
        "breakglass1",
        "Global Administrator",
        300,
        None,
    );
    let eve = t.grant(
        AssignmentKind::Eligible,
        "eve",
        "Global Administrator",
        30,
        Some(300),
    );
    let mut state = StateFile::new("l".into());
    state.resources.push(managed(
        "assignment.breakglass_ga",
        AssignmentKind::Active,
        &bg,
        "u-breakglass1",
        "Global Administrator",
        json!({"duration": "permanent"}),
    ));
    state.resources.push(managed(
        "eligibility.eve_ga",
        AssignmentKind::Eligible,
        &eve,
        "u-eve",
        "Global Administrator",
        json!({"duration": "P300D"}),
    ));
    (t, state)
}

#[test]
fn a_protected_principal_is_kept_when_its_block_is_deleted() {
    let (t, state) = breakglass_tenant();
    let desired = load_str(
        r#"
eligibility "eve_ga" {
  principal = "user:eve@contoso.com"
  role      = "Global Administrator"
  expires   = "2027-09-27T00:00:00Z"
}

role "Global Administrator" {
  protected = ["user:breakglass1@contoso.com"]
}
"#,
    );
    let p = plan_with(&t, &desired, Some(&state));
    assert_eq!(removed_addresses(&p), Vec::<String>::new());
    assert_eq!(
        p.warnings,
        [
            "assignment.breakglass_ga: kept, not removed: user:breakglass1@contoso.com is protected in role \"Global Administrator\" (case.pim.hcl:9:15)"
        ]
    );
    assert!(p.refusals.is_empty());
}

#[test]
fn a_principal_protected_in_the_tenant_block_is_kept_in_every_role() {
    let (t, state) = breakglass_tenant();
    let desired = load_str(
        r#"
tenant {
  protected = ["user:breakglass1@contoso.com"]
}

eligibility "eve_ga" {
  principal = "user:eve@contoso.com"
  role      = "Global Administrator"
  expires   = "2027-09-27T00:00:00Z"
}
"#,
    );
    let mut t = t;
    t.resolved.principals.insert(
        pim::model::PrincipalRef::User("breakglass1@contoso.com".into()).normalized(),
        "u-breakglass1".into(),
    );
    let p = plan_with(&t, &desired, Some(&state));
    assert_eq!(removed_addresses(&p), Vec::<String>::new());
    assert_eq!(
        p.warnings,
        [
            "assignment.breakglass_ga: kept, not removed: user:breakglass1@contoso.com is protected in every role by the tenant block (case.pim.hcl:3:15)"
        ]
    );
}

#[test]
fn an_exclusive_sweep_keeps_protected_holders_with_a_warning() {
    let (t, _) = breakglass_tenant();
    let desired = load_str(
        r#"
eligibility "eve_ga" {
  principal = "user:eve@contoso.com"
  role      = "Global Administrator"
  expires   = "2027-09-27T00:00:00Z"
}

role "Global Administrator" {
  exclusive = true
  protected = ["user:breakglass1@contoso.com"]
}
"#,
    );
    let p = plan_with(&t, &desired, None);
    assert_eq!(removed_addresses(&p), Vec::<String>::new());
    assert_eq!(
        p.warnings,
        [
            "role[\"Global Administrator\"][\"active user:breakglass1@contoso.com\"]: kept, not removed: user:breakglass1@contoso.com is protected in role \"Global Administrator\" (case.pim.hcl:10:15)"
        ]
    );
    assert_eq!(p.unmanaged.len(), 1, "left as it is, and listed");
}

#[test]
fn a_renamed_block_adopts_its_grant_instead_of_removing_it() {
    let (t, state) = breakglass_tenant();
    let desired = load_str(
        r#"
assignment "emergency_access" {
  principal = "user:breakglass1@contoso.com"
  role      = "Global Administrator"
  permanent = true
}

eligibility "eve_ga" {
  principal = "user:eve@contoso.com"
  role      = "Global Administrator"
  expires   = "2027-09-27T00:00:00Z"
}
"#,
    );
    let p = plan_with(&t, &desired, Some(&state));
    assert_eq!(removed_addresses(&p), Vec::<String>::new());
    let adopt: Vec<String> = p
        .changes
        .iter()
        .filter(|c| c.action == Action::Adopt)
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(adopt, ["assignment.emergency_access"]);
}

#[test]
fn the_caller_is_never_removed_on_any_path() {
    let (mut t, state) = breakglass_tenant();
    t.current.caller_id = Some("U-EVE".into());
    // Its own managed block deleted.
    let p = plan_with(
        &t,
        &load_str(
            "assignment \"breakglass_ga\" {\n  principal = \"user:breakglass1@contoso.com\"\n  role = \"Global Administrator\"\n  permanent = true\n}\n",
        ),
        Some(&state),
    );
    assert_eq!(removed_addresses(&p), Vec::<String>::new());
    assert_eq!(
        p.warnings,
        ["eligibility.eve_ga: kept, not removed: user:eve@contoso.com is the identity pim runs as"]
    );
    // An exclusive sweep of a role it holds undeclared.
    let p = plan_with(
        &t,
        &load_str(
            "assignment \"breakglass_ga\" {\n  principal = \"user:breakglass1@contoso.com\"\n  role = \"Global Administrator\"\n  permanent = true\n}\nrole \"Global Administrator\" {\n  exclusive = true\n}\n",
        ),
        None,
    );
    assert_eq!(removed_addresses(&p), Vec::<String>::new());
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].ends_with("is the identity pim runs as"));
}

#[test]
fn an_unknown_caller_is_said_when_the_plan_removes_anything() {
    let (mut t, state) = breakglass_tenant();
    t.current.caller_id = None;
    let p = plan_with(
        &t,
        &load_str(
            "assignment \"breakglass_ga\" {\n  principal = \"user:breakglass1@contoso.com\"\n  role = \"Global Administrator\"\n  permanent = true\n}\n",
        ),
        Some(&state),
    );
    assert_eq!(removed_addresses(&p), ["eligibility.eve_ga"]);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("the identity pim runs as is not known")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn removing_a_permanent_tier0_assignment_warns_in_every_format() {
    let (mut t, state) = breakglass_tenant();
    // A second holder, so the role is not left empty.
    t.grant(
        AssignmentKind::Eligible,
        "frank",
        "Global Administrator",
        10,
        Some(100),
    );
    let desired = load_str(
        r#"
eligibility "eve_ga" {
  principal = "user:eve@contoso.com"
  role      = "Global Administrator"
  expires   = "2027-09-27T00:00:00Z"
}
"#,
    );
    let p = plan_with(&t, &desired, Some(&state));
    assert_eq!(removed_addresses(&p), ["assignment.breakglass_ga"]);
    let warning = "assignment.breakglass_ga: removes the permanent active assignment of user:breakglass1@contoso.com to tier-0 role \"Global Administrator\"";
    assert!(
        p.warnings.iter().any(|w| w.starts_with(warning)),
        "{:?}",
        p.warnings
    );
    assert!(render::plan_text(&p, false).contains(warning));
    assert!(render::plan_markdown(&p).contains(warning));
    let json = render::plan_json(&p);
    assert!(
        json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with(warning)),
        "{json}"
    );
}

#[test]
fn emptying_a_tier0_role_is_refused_unless_it_may_be_empty() {
    let (t, state) = breakglass_tenant();
    let desired = load_str("locals {}\n");
    let p = plan_with(&t, &desired, Some(&state));
    assert_eq!(
        removed_addresses(&p),
        ["assignment.breakglass_ga", "eligibility.eve_ga"],
        "planned in full"
    );
    let refusals: Vec<String> = p.refusals.iter().map(ToString::to_string).collect();
    assert_eq!(
        refusals,
        [
            "the plan would leave tier-0 role \"Global Administrator\" with no eligible or active holder: it removes user:breakglass1@contoso.com (assignment.breakglass_ga), user:eve@contoso.com (eligibility.eve_ga)\n  = hint: declare at least one eligibility or assignment for it, or list its holders as protected; if the role may be empty, set allow_empty = true in role \"Global Administrator\""
        ]
    );
    insta::assert_snapshot!("refused_plan_text", render::plan_text(&p, false));
    let md = render::plan_markdown(&p);
    assert!(
        md.contains("> ⛔ **Refused:** the plan would leave tier-0 role"),
        "{md}"
    );
    let json = render::plan_json(&p);
    assert_eq!(json["diagnostics"][0]["severity"], "error");
    assert_eq!(json["changes"].as_array().unwrap().len(), 2);

    let allowed = load_str("role \"Global Administrator\" {\n  allow_empty = true\n}\n");
    let p = plan_with(&t, &allowed, Some(&state));
    assert_eq!(removed_addresses(&p).len(), 2);
    assert!(p.refusals.is_empty(), "{:?}", p.refusals);

    // A role that is not tier 0 may be emptied.
    let mut t = Tenant::new();
    let id = t.grant(
        AssignmentKind::Eligible,
        "walter",
        "Helpdesk Administrator",
        10,
        Some(100),
    );
    let mut state = StateFile::new("l".into());
    state.resources.push(managed(
        "eligibility.walter",
        AssignmentKind::Eligible,
        &id,
        "u-walter",
        "Helpdesk Administrator",
        json!({"duration": "P100D"}),
    ));
    let p = plan_with(&t, &desired, Some(&state));
    assert_eq!(removed_addresses(&p), ["eligibility.walter"]);
    assert!(p.refusals.is_empty());
}

#[test]
fn a_custom_tier0_list_is_guarded_too() {
    let mut t = Tenant::new();
    let id = t.grant(
        AssignmentKind::Eligible,
        "walter",
        "Helpdesk Administrator",
        10,
        Some(100),
    );
    let mut state = StateFile::new("l".into());
    state.resources.push(managed(
        "eligibility.walter",
        AssignmentKind::Eligible,
        &id,
        "u-walter",
        "Helpdesk Administrator",
        json!({"duration": "P100D"}),
    ));
    let desired = load_str("tenant {\n  tier0_roles = [\"Helpdesk Administrator\"]\n}\n");
    let p = plan_with(&t, &desired, Some(&state));
    assert_eq!(p.refusals.len(), 1);
    assert!(
        p.refusals[0]
            .message
            .contains("tier-0 role \"Helpdesk Administrator\"")
    );
}

#[test]
fn the_same_grant_under_two_spellings_is_an_error_naming_both() {
    let mut t = Tenant::new();
    t.user("alice");
    let ga = pim::model::RoleRef::Name("Global Administrator".into())
        .builtin()
        .unwrap()
        .id
        .clone();
    const ALICE: &str = "4a2f7c9e-1b3d-4e5f-8a6b-7c8d9e0f1a2b";
    t.resolved.principals.insert(
        pim::model::PrincipalRef::ObjectId(ALICE.into()).normalized(),
        "u-alice".into(),
    );
    let desired = load_str(&format!(
        r#"
eligibility "by_upn" {{
  principal = "user:alice@contoso.com"
  role      = "Global Administrator"
  duration  = "P30D"
}}

eligibility "by_id" {{
  principal = "{ALICE}"
  role      = "{ga}"
  duration  = "P60D"
}}
"#
    ));
    let text = errors_of(t.plan(&desired));
    assert!(
        text.contains("case.pim.hcl:8:1: error: eligibility.by_id declares the same grant as eligibility.by_upn (declared at case.pim.hcl:2:1)"),
        "{text}"
    );
}

#[test]
fn a_principal_declared_in_another_case_is_no_change() {
    let mut t = Tenant::new();
    let id = t.grant(
        AssignmentKind::Eligible,
        "alice",
        "Security Reader",
        10,
        Some(40),
    );
    t.resolved.principals.insert(
        pim::model::PrincipalRef::User("Alice@Contoso.COM".into()).normalized(),
        "u-alice".into(),
    );
    let mut state = StateFile::new("l".into());
    state.resources.push(managed(
        "eligibility.a",
        AssignmentKind::Eligible,
        &id,
        "u-alice",
        "Security Reader",
        json!({"duration": "P30D"}),
    ));
    let desired = load_str(
        "eligibility \"a\" {\n  principal = \"user:Alice@Contoso.COM\"\n  role = \"Security Reader\"\n  duration = \"P30D\"\n}\n",
    );
    let p = plan_with(&t, &desired, Some(&state));
    assert!(!p.summary.has_changes(), "{:?}", p.changes);
}

#[test]
fn approvers_are_reported_at_the_approvers_line() {
    let t = Tenant::new();
    let desired = load_str(
        r#"
policy "Global Administrator" {
  activation {
    approval {
      approvers = ["group:Nobody Here"]
    }
  }
}
"#,
    );
    let text = errors_of(t.plan(&desired));
    assert!(
        text.contains(
            "case.pim.hcl:5:19: error: approver group:Nobody Here was not found in the tenant"
        ),
        "{text}"
    );
}

/// What `duration` means for each kind of change (the README's table): a
/// rolling length that always counts from now, never from when the grant
/// began.
#[test]
fn what_a_rolling_duration_means_for_each_change() {
    struct Case {
        name: &'static str,
        /// The tenant's grant: (began days ago, lasts days; None = permanent); None = absent.
        grant: Option<(i64, Option<i64>)>,
        /// The duration state recorded at the last apply; None = not in state.
        state: Option<&'static str>,
        declared: &'static str,
        action: Option<Action>,
        request: Option<RequestAction>,
        /// Days from now the grant ends after the change.
        end_in_days: Option<i64>,
    }
    let cases = [
        Case {
            name: "create",
            grant: None,
            state: None,
            declared: "P30D",
            action: Some(Action::Create),
            request: Some(RequestAction::AdminAssign),
            end_in_days: None,
        },
        Case {
            name: "adopt, ends within the duration",
            grant: Some((10, Some(40))),
            state: None,
            declared: "P30D",
            action: Some(Action::Adopt),
            request: None,
            end_in_days: Some(30),
        },
        Case {
            name: "adopt, began 45 days ago and ends later than the duration",
            grant: Some((45, Some(400))),
            state: None,
            declared: "P30D",
            action: Some(Action::Adopt),
            request: Some(RequestAction::AdminUpdate),
            end_in_days: Some(30),
        },
        Case {
            name: "adopt, permanent",
            grant: Some((45, None)),
            state: None,
            declared: "P30D",
            action: Some(Action::Adopt),
            request: Some(RequestAction::AdminUpdate),
            end_in_days: Some(30),
        },
        Case {
            name: "adopt, ends within the renewal window",
            grant: Some((80, Some(85))),
            state: None,
            declared: "P90D",
            action: Some(Action::Adopt),
            request: Some(RequestAction::AdminExtend),
            end_in_days: Some(90),
        },
        Case {
            name: "in step",
            grant: Some((10, Some(40))),
            state: Some("P30D"),
            declared: "P30D",
            action: None,
            request: None,
            end_in_days: Some(30),
        },
        Case {
            name: "renew, ends within the window",
            grant: Some((80, Some(85))),
            state: Some("P90D"),
            declared: "P90D",
            action: Some(Action::Renew),
            request: Some(RequestAction::AdminExtend),
            end_in_days: Some(90),
        },
        Case {
            name: "update, duration shortened",
            grant: Some((45, Some(135))),
            state: Some("P90D"),
            declared: "P30D",
            action: Some(Action::Update),
            request: Some(RequestAction::AdminUpdate),
            end_in_days: Some(30),
        },
        Case {
            name: "update, duration lengthened",
            grant: Some((45, Some(75))),
            state: Some("P30D"),
            declared: "P90D",
            action: Some(Action::Update),
            request: Some(RequestAction::AdminUpdate),
            end_in_days: Some(90),
        },
        Case {
            name: "update, extended outside pim",
            grant: Some((45, Some(400))),
            state: Some("P30D"),
            declared: "P30D",
            action: Some(Action::Update),
            request: Some(RequestAction::AdminUpdate),
            end_in_days: Some(30),
        },
    ];
    for c in cases {
        let mut t = Tenant::new();
        t.user("alice");
        let mut state = StateFile::new("l".into());
        if let Some((began, lasts)) = c.grant {
            let id = t.grant(
                AssignmentKind::Eligible,
                "alice",
                "Security Reader",
                began,
                lasts,
            );
            if let Some(d) = c.state {
                state.resources.push(managed(
                    "eligibility.a",
                    AssignmentKind::Eligible,
                    &id,
                    "u-alice",
                    "Security Reader",
                    json!({ "duration": d }),
                ));
            }
        }
        let desired = load_str(&format!(
            "eligibility \"a\" {{\n  principal = \"user:alice@contoso.com\"\n  role = \"Security Reader\"\n  duration = \"{}\"\n}}\n",
            c.declared
        ));
        let p = plan_with(&t, &desired, Some(&state));
        let change = p.changes.first();
        assert_eq!(change.map(|x| x.action), c.action, "{}", c.name);
        let requests = match change.map(|x| &x.step) {
            Some(Step::Grant { requests, .. }) => requests.clone(),
            _ => vec![],
        };
        assert_eq!(requests.first().map(|r| r.action), c.request, "{}", c.name);
        let end = match requests.first().and_then(|r| r.schedule.as_ref()) {
            Some(s) => match s.expiration {
                pim::model::Expiration::At(t) => Some(t),
                _ => None,
            },
            None => t.current.grants.first().and_then(|g| g.end()),
        };
        assert_eq!(
            end.map(|e| (e - now()).num_days()),
            c.end_in_days,
            "{}",
            c.name
        );
        if let Some(e) = end {
            assert!(e > now(), "{}: an end in the past", c.name);
        }
    }
}

#[test]
fn every_end_is_checked_against_the_policy_and_the_five_minute_minimum() {
    let mut t = Tenant::new();
    let id = t.grant(
        AssignmentKind::Eligible,
        "alice",
        "Security Reader",
        45,
        Some(400),
    );
    *t.policy_mut("Security Reader")
        .rules
        .get_mut(&RuleId::ExpirationAdminEligibility)
        .unwrap() = RuleValue::Expiration {
        required: true,
        max: Some("P60D".parse().unwrap()),
    };
    let mut state = StateFile::new("l".into());
    state.resources.push(managed(
        "eligibility.a",
        AssignmentKind::Eligible,
        &id,
        "u-alice",
        "Security Reader",
        json!({ "duration": "P30D" }),
    ));
    // The update's end (now + P90D) is what Graph checks, at the duration line.
    let desired = load_str(
        "eligibility \"a\" {\n  principal = \"user:alice@contoso.com\"\n  role      = \"Security Reader\"\n  duration  = \"P90D\"\n}\n",
    );
    let text = errors_of(plan::plan(
        &desired,
        &t.current,
        &t.resolved,
        Some(&state),
        basis(),
        &PlanOptions::at(now()),
    ));
    assert!(
        text.contains("case.pim.hcl:4:15: error: policy of \"Security Reader\" allows eligibility of at most P60D (Expiration_Admin_Eligibility); this one would last until 2027-03-01T00:00:00Z"),
        "{text}"
    );
    // Counted from now, P30D is within the policy although the grant began 45 days ago.
    let ok = load_str(
        "eligibility \"a\" {\n  principal = \"user:alice@contoso.com\"\n  role      = \"Security Reader\"\n  duration  = \"P30D\"\n}\n",
    );
    let p = plan_with(&t, &ok, Some(&state));
    assert_eq!(p.changes[0].action, Action::Update);

    // Shorter than Graph's minimum.
    let short = load_str(
        "eligibility \"b\" {\n  principal = \"user:alice@contoso.com\"\n  role      = \"Global Reader\"\n  duration  = \"PT2M\"\n}\n",
    );
    let text = errors_of(t.plan(&short));
    assert!(
        text.contains("case.pim.hcl:4:15: error: eligibility.b would end at 2026-12-01T00:02:00Z, less than five minutes from now"),
        "{text}"
    );
}

#[test]
fn a_passed_expiry_is_left_forgotten_or_refused() {
    let mut t = Tenant::new();
    let exists = t.grant(
        AssignmentKind::Eligible,
        "alice",
        "Security Reader",
        100,
        Some(100),
    );
    t.user("bob");
    t.user("carol");
    let mut state = StateFile::new("l".into());
    state.resources.push(managed(
        "eligibility.alice",
        AssignmentKind::Eligible,
        &exists,
        "u-alice",
        "Security Reader",
        json!({ "duration": "2026-12-01T00:00:00Z" }),
    ));
    state.resources.push(managed(
        "eligibility.bob",
        AssignmentKind::Eligible,
        "sched-gone",
        "u-bob",
        "Security Reader",
        json!({ "duration": "2026-11-01T00:00:00Z" }),
    ));
    let block = |name: &str| {
        format!(
            "eligibility \"{name}\" {{\n  principal = \"user:{name}@contoso.com\"\n  role      = \"Security Reader\"\n  expires   = \"2026-11-01T00:00:00Z\"\n}}\n"
        )
    };
    // Ended and gone, or ending: no error, nothing planned.
    let desired = load_str(&format!("{}{}", block("alice"), block("bob")));
    let p = plan_with(&t, &desired, Some(&state));
    assert!(!p.summary.has_changes(), "{:?}", p.changes);
    assert_eq!(
        p.warnings,
        [
            "eligibility.alice: expires 2026-11-01T00:00:00Z has passed; the grant is left as it is until Graph ends it (remove the block once it has)",
            "eligibility.bob: expires 2026-11-01T00:00:00Z has passed and the grant has ended; it is forgotten (remove the block)",
        ]
    );
    let upkeep = plan::upkeep(
        &desired,
        &t.current,
        &t.resolved,
        &state,
        &PlanOptions::at(now()),
    );
    let forgotten: Vec<String> = upkeep.forget.iter().map(ToString::to_string).collect();
    assert_eq!(forgotten, ["eligibility.bob"]);
    // Never existed: nothing to create.
    let text = errors_of(t.plan(&load_str(&block("carol"))));
    assert!(
        text.contains("case.pim.hcl:4:15: error: expires 2026-11-01T00:00:00Z has passed: pim will not create a grant that has already ended"),
        "{text}"
    );
}

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
