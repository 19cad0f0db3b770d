//! The plan's safety rails, one test per removal path, and what a rolling
//! duration, a passed expiry and an end too close mean for each change.

use crate::plan::errors_of;
use crate::support::common;

use common::{Tenant, basis, load_str, managed, now};
use pim::model::{AssignmentKind, RuleId, RuleValue};
use pim::plan::{self, Action, Plan, PlanOptions, RequestAction, Step};
use pim::render;
use pim::state::StateFile;
use serde_json::json;

pub(crate) fn plan_with(
    t: &Tenant,
    desired: &pim::config::Desired,
    state: Option<&StateFile>,
) -> Plan {
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
    let mut state = StateFile::new("l".into());
    t.grant_managed(
        &mut state,
        "assignment.breakglass_ga",
        AssignmentKind::Active,
        "breakglass1",
        "Global Administrator",
        300,
        None,
        "permanent",
    );
    t.grant_managed(
        &mut state,
        "eligibility.eve_ga",
        AssignmentKind::Eligible,
        "eve",
        "Global Administrator",
        30,
        Some(300),
        "P300D",
    );
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
    let (t, state) = walter_helpdesk();
    let p = plan_with(&t, &desired, Some(&state));
    assert_eq!(removed_addresses(&p), ["eligibility.walter"]);
    assert!(p.refusals.is_empty());
}

/// Walter's eligibility for Helpdesk Administrator (not tier 0), managed
/// by pim at `eligibility.walter`.
fn walter_helpdesk() -> (Tenant, StateFile) {
    let mut t = Tenant::new();
    let mut state = StateFile::new("l".into());
    t.grant_managed(
        &mut state,
        "eligibility.walter",
        AssignmentKind::Eligible,
        "walter",
        "Helpdesk Administrator",
        10,
        Some(100),
        "P100D",
    );
    (t, state)
}

#[test]
fn a_custom_tier0_list_is_guarded_too() {
    let (t, state) = walter_helpdesk();
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
