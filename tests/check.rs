//! Baseline checks: each rule fires on a non-compliant configuration and
//! all stay quiet on a compliant one.

use crate::support::common;

use common::{Tenant, load_dir, now};
use pim::check::{self, Rule};
use pim::plan::{self, PlanOptions};

fn findings(dir: &str, extra_users: &[&str]) -> Vec<check::Finding> {
    let mut t = Tenant::new();
    for u in ["ops", "bob", "a", "b", "c", "d", "e", "breakglass1"]
        .iter()
        .chain(extra_users)
    {
        t.user(u);
    }
    baseline_of(&t, &load_dir(dir))
}

/// The baseline's findings for `desired` against `t`, with the policies and
/// unmanaged holders its plan leaves.
fn baseline_of(t: &Tenant, desired: &pim::config::Desired) -> Vec<check::Finding> {
    let opts = PlanOptions::at(now());
    let effective = plan::effective_policies(desired, &t.current, &t.resolved, &opts);
    let p = plan::plan(
        desired,
        &t.current,
        &t.resolved,
        None,
        common::basis(),
        &opts,
    )
    .unwrap();
    let names = |id: &str| {
        t.current
            .roles
            .get(id)
            .map_or(id.to_string(), |r| r.display_name.clone())
    };
    check::baseline(desired, &t.resolved, &effective, &p.unmanaged, &names)
}

#[test]
fn every_rule_fires_on_a_noncompliant_configuration() {
    let f = findings("tests/fixtures/check/noncompliant", &[]);
    let text: Vec<String> = f.iter().map(|x| x.to_string()).collect();
    let rules: Vec<Rule> = f.iter().map(|x| x.rule).collect();
    assert_eq!(
        rules,
        [
            Rule::PermanentTier0Assignment,
            Rule::Tier0ActivationWithoutMfa,
            Rule::Tier0ActivationWithoutApproval,
            Rule::LongTier0Activation,
            Rule::EligibilityWithoutExpiry,
            Rule::Tier0WithoutNotificationRecipients,
            Rule::TooManyGlobalAdministrators,
        ],
        "{text:#?}"
    );
    let dir = "tests/fixtures/check/noncompliant/main.pim.hcl";
    assert_eq!(
        text[0],
        format!(
            "{dir}:4:19: PIM001 user:ops@contoso.com is permanently assigned tier-0 role \"Global Administrator\"; make it eligible, or list it as protected if it is a break-glass account"
        )
    );
    assert_eq!(
        text[1],
        format!(
            "{dir}:21:1: PIM002 activating tier-0 role \"Global Administrator\" does not require MFA"
        )
    );
    assert_eq!(
        text[3],
        format!(
            "{dir}:21:1: PIM004 activations of tier-0 role \"Global Administrator\" may last PT8H, longer than PT4H"
        )
    );
    assert_eq!(
        text[4],
        format!(
            "{dir}:11:15: PIM005 user:bob@contoso.com is eligible for \"Helpdesk Administrator\" without an end date"
        )
    );
    assert!(
        text[6].contains("6 principals hold Global Administrator"),
        "{}",
        text[6]
    );
}

#[test]
fn a_compliant_configuration_is_quiet() {
    let f = findings("tests/fixtures/check/compliant", &[]);
    assert!(
        f.is_empty(),
        "{:#?}",
        f.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    );
}

#[test]
fn unmanaged_permanent_tier0_holders_are_reported() {
    let mut t = Tenant::new();
    for u in ["a", "b", "bob", "breakglass1"] {
        t.user(u);
    }
    t.grant(
        pim::model::AssignmentKind::Active,
        "shadow",
        "Privileged Role Administrator",
        100,
        None,
    );
    let desired = load_dir("tests/fixtures/check/compliant");
    let opts = PlanOptions::at(now());
    let effective = plan::effective_policies(&desired, &t.current, &t.resolved, &opts);
    let p = plan::plan(
        &desired,
        &t.current,
        &t.resolved,
        None,
        common::basis(),
        &opts,
    )
    .unwrap();
    let names = |id: &str| id.to_string();
    let f = check::baseline(&desired, &t.resolved, &effective, &p.unmanaged, &names);
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].to_string(),
        "PIM001 user:shadow@contoso.com holds tier-0 role \"Privileged Role Administrator\" permanently, outside of configuration"
    );
}

#[test]
fn offline_runs_what_the_configuration_answers_and_names_the_rest() {
    let desired = load_dir("tests/fixtures/check/noncompliant");
    let off = check::offline(&desired);
    let codes = |rules: &[Rule]| rules.iter().map(|r| r.code()).collect::<Vec<_>>();
    assert_eq!(
        codes(&off.skipped),
        ["PIM002", "PIM003", "PIM004", "PIM006", "PIM008"]
    );
    assert_eq!(codes(&off.partial), ["PIM001", "PIM007"]);
    // Every rule is run in full, run in part or skipped, and only one.
    for r in Rule::ALL {
        let places = [
            r.reads() == check::Reads::Configuration,
            off.partial.contains(&r),
            off.skipped.contains(&r),
        ];
        assert_eq!(places.iter().filter(|p| **p).count(), 1, "{r:?}");
    }
    let rules: Vec<Rule> = off.findings.iter().map(|f| f.rule).collect();
    assert_eq!(
        rules,
        [
            Rule::PermanentTier0Assignment,
            Rule::EligibilityWithoutExpiry,
            Rule::TooManyGlobalAdministrators,
        ]
    );
    // What offline finds, the tenant's run finds the same way.
    let online = findings("tests/fixtures/check/noncompliant", &[]);
    for f in &off.findings {
        assert!(online.contains(f), "{f} not found online");
    }

    let quiet = check::offline(&load_dir("tests/fixtures/check/compliant"));
    assert!(quiet.findings.is_empty(), "{:?}", quiet.findings);
    assert_eq!(quiet.skipped, off.skipped);
}

#[test]
fn a_group_that_holds_a_tier0_role_is_held_to_the_roles_baseline() {
    let mut t = Tenant::new();
    t.user("alice");
    t.pim_group("Tier0 Admins");
    let desired = common::load_str(
        r#"
assignment "tier0_admins_ga" {
  principal     = "group:Tier0 Admins"
  role          = "Global Administrator"
  duration      = "P180D"
  justification = "The group holds the role"
}
eligibility "alice_tier0_admins" {
  principal     = "user:alice@contoso.com"
  group         = "group:Tier0 Admins"
  duration      = "P90D"
  justification = "On call"
}
policy "group:Tier0 Admins" {
  activation {
    max_duration = "PT6H"
  }
}
"#,
    );
    let found = baseline_of(&t, &desired);
    let group: Vec<String> = found
        .iter()
        .filter(|f| f.role == "member of group:Tier0 Admins")
        .map(|f| f.to_string())
        .collect();
    // The group's defaults ask neither MFA nor approval, and alert no one;
    // its policy block lets an activation last six hours. Each is said at
    // the group's policy block.
    assert_eq!(
        group,
        [
            "case.pim.hcl:14:1: PIM002 activating membership of group:Tier0 Admins, which holds tier-0 role \"Global Administrator\", does not require MFA",
            "case.pim.hcl:14:1: PIM003 activating membership of group:Tier0 Admins, which holds tier-0 role \"Global Administrator\", does not require approval",
            "case.pim.hcl:14:1: PIM004 activations of membership of group:Tier0 Admins, which holds tier-0 role \"Global Administrator\", may last PT6H, longer than PT4H",
            "case.pim.hcl:14:1: PIM006 no one besides the default recipients is alerted when membership of group:Tier0 Admins, which holds tier-0 role \"Global Administrator\", is assigned or activated",
        ],
        "{found:#?}"
    );
}
