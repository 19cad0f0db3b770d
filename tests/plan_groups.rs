//! PIM for Groups through the planner: grants of a group's membership and
//! ownership, the group's policies, and the safety rails per group and
//! access.

use crate::plan::errors_of;
use crate::plan_guards::plan_with;
use crate::support::common;

use common::{Tenant, load_str, now};
use pim::model::{AssignmentKind, RuleId, RuleValue, SurfaceKind};
use pim::plan::{Action, Plan, Step};
use pim::render;

const GROUP: &str = "Tier0 Admins";

fn tenant() -> (Tenant, String) {
    let mut t = Tenant::new();
    let g = t.pim_group(GROUP);
    (t, g)
}

fn change<'p>(p: &'p Plan, address: &str) -> &'p pim::plan::Change {
    p.changes
        .iter()
        .find(|c| c.address.to_string() == address)
        .unwrap_or_else(|| {
            panic!(
                "no change at {address}; the plan has {:?}",
                p.changes
                    .iter()
                    .map(|c| c.address.to_string())
                    .collect::<Vec<_>>()
            )
        })
}

#[test]
fn a_declared_membership_is_created_as_a_group_request() {
    let (t, g) = tenant();
    let d = load_str(
        r#"
eligibility "alice_tier0" {
  principal     = "user:alice@contoso.com"
  group         = "group:Tier0 Admins"
  duration      = "P180D"
  justification = "Tier-0 on-call"
}
assignment "bob_tier0_owner" {
  principal     = "user:bob@contoso.com"
  group         = "group:Tier0 Admins"
  access        = "owner"
  duration      = "P30D"
  justification = "Owns the group"
}
"#,
    );
    let mut t = t;
    t.user("alice");
    t.user("bob");
    let p = plan_with(&t, &d, None);
    let c = change(&p, "eligibility.alice_tier0");
    assert_eq!(c.action, Action::Create);
    assert_eq!(c.role, "member of group:Tier0 Admins");
    let Step::Grant {
        subject, requests, ..
    } = &c.step
    else {
        panic!("not a grant step: {:?}", c.step)
    };
    assert_eq!(subject.surface, SurfaceKind::Group);
    assert_eq!(subject.role_id.as_str(), "member");
    assert_eq!(subject.scope_id, g);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].surface, SurfaceKind::Group);
    assert_eq!(requests[0].scope_id, g);
    let owner = change(&p, "assignment.bob_tier0_owner");
    assert_eq!(owner.role, "owner of group:Tier0 Admins");
    insta::assert_snapshot!("group_grants_plan", render::plan_text(&p, false));
}

#[test]
fn a_held_membership_as_declared_is_no_change() {
    let (mut t, g) = tenant();
    t.group_grant(
        AssignmentKind::Eligible,
        "alice",
        &g,
        "member",
        10,
        Some(170),
    );
    let d = load_str(
        r#"
eligibility "alice_tier0" {
  principal     = "user:alice@contoso.com"
  group         = "group:Tier0 Admins"
  expires       = "2027-05-10T00:00:00Z"
  justification = "Tier-0 on-call"
}
"#,
    );
    let p = plan_with(&t, &d, None);
    let c = change(&p, "eligibility.alice_tier0");
    // Not recorded in state yet: adopted, no request sent.
    assert_eq!(c.action, Action::Adopt, "{}", render::plan_text(&p, false));
    let Step::Grant { requests, .. } = &c.step else {
        panic!()
    };
    assert!(requests.is_empty());
}

#[test]
fn an_exclusive_group_sweeps_its_access_and_keeps_the_protected_and_the_other_access() {
    let (mut t, g) = tenant();
    t.group_grant(
        AssignmentKind::Eligible,
        "alice",
        &g,
        "member",
        10,
        Some(170),
    );
    t.group_grant(
        AssignmentKind::Eligible,
        "mallory",
        &g,
        "member",
        10,
        Some(170),
    );
    t.group_grant(
        AssignmentKind::Active,
        "breakglass1",
        &g,
        "member",
        10,
        Some(170),
    );
    // Owners are another access: an exclusive member block leaves them be.
    t.group_grant(AssignmentKind::Active, "olga", &g, "owner", 10, Some(170));
    // A member of another group is not this group's.
    let other = t.pim_group("Other");
    t.group_grant(
        AssignmentKind::Eligible,
        "mallory",
        &other,
        "member",
        10,
        Some(170),
    );
    let d = load_str(
        r#"
eligibility "alice_tier0" {
  principal     = "user:alice@contoso.com"
  group         = "group:Tier0 Admins"
  expires       = "2027-05-10T00:00:00Z"
  justification = "Tier-0 on-call"
}
role "group:Tier0 Admins" {
  exclusive = true
  protected = ["user:breakglass1@contoso.com"]
}
"#,
    );
    let p = plan_with(&t, &d, None);
    let removed: Vec<String> = p
        .changes
        .iter()
        .filter(|c| c.action == Action::Remove)
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(
        removed,
        ["role[\"group:Tier0 Admins\"][\"member eligible user:mallory@contoso.com\"]"],
        "{}",
        render::plan_text(&p, false)
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("breakglass1") && w.contains("protected")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn an_exclusive_group_is_never_emptied() {
    let (mut t, g) = tenant();
    t.group_grant(
        AssignmentKind::Eligible,
        "mallory",
        &g,
        "member",
        10,
        Some(170),
    );
    let d = load_str(
        r#"
role "group:Tier0 Admins" {
  exclusive = true
}
"#,
    );
    let e = plan_with(&t, &d, None);
    assert!(
        e.refusals
            .iter()
            .any(|r| r.message.contains("member of group:Tier0 Admins")),
        "{:?}",
        e.refusals
    );
}

#[test]
fn each_access_of_a_group_has_its_own_policy() {
    let (t, g) = tenant();
    let d = load_str(
        r#"
policy "group:Tier0 Admins" {
  access = "owner"
  activation {
    max_duration          = "PT2H"
    require_mfa           = true
  }
}
"#,
    );
    let p = plan_with(&t, &d, None);
    let c = change(&p, "policy[\"group:Tier0 Admins\"][\"owner\"]");
    assert_eq!(c.action, Action::UpdateRules);
    assert_eq!(c.role, "owner of group:Tier0 Admins");
    let Step::Rules(patch) = &c.step else {
        panic!()
    };
    assert_eq!(patch.policy_id, format!("Group_{g}_owner"));
    assert_eq!(patch.surface, SurfaceKind::Group);
    assert_eq!(patch.scope_id, g);
    assert!(
        patch
            .rules
            .rules
            .contains_key(&RuleId::ExpirationEndUserAssignment)
    );
    // The member policy is left as it is.
    assert_eq!(p.changes.len(), 1);
}

#[test]
fn the_group_default_policy_refuses_a_permanent_membership_at_its_line() {
    let (mut t, _) = tenant();
    t.user("alice");
    let d = load_str(
        r#"
eligibility "alice_tier0" {
  principal     = "user:alice@contoso.com"
  group         = "group:Tier0 Admins"
  permanent     = true
  justification = "Tier-0 on-call"
}
"#,
    );
    let e = errors_of(pim::plan::plan(
        &d,
        &t.current,
        &t.resolved,
        None,
        common::basis(),
        &pim::plan::PlanOptions::at(now()),
    ));
    assert!(e.contains("case.pim.hcl:"), "{e}");
    assert!(e.contains("permanent"), "{e}");
}

#[test]
fn a_group_policy_change_to_an_expiry_longer_than_allowed_is_checked_against_the_new_rules() {
    let (mut t, g) = tenant();
    t.user("alice");
    // The tenant's member policy allows eligibility for at most 30 days.
    let key = pim::snapshot::PolicyKey::of_grant(SurfaceKind::Group, &"member".into(), &g);
    t.current
        .policies
        .get_mut(&key)
        .unwrap()
        .rules
        .rules
        .insert(
            RuleId::ExpirationAdminEligibility,
            RuleValue::Expiration {
                required: true,
                max: Some("P30D".parse().unwrap()),
            },
        );
    let d = load_str(
        r#"
eligibility "alice_tier0" {
  principal     = "user:alice@contoso.com"
  group         = "group:Tier0 Admins"
  duration      = "P90D"
  justification = "Tier-0 on-call"
}
"#,
    );
    let e = errors_of(pim::plan::plan(
        &d,
        &t.current,
        &t.resolved,
        None,
        common::basis(),
        &pim::plan::PlanOptions::at(now()),
    ));
    assert!(e.contains("P30D") || e.contains("30 days"), "{e}");
}
