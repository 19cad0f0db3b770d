//! Azure resource roles through the planner: grants at ARM scopes, the
//! inherited grants `atScope()` lists from below, exclusive sweeps per role
//! and scope, renewal before and after expiry, and the policy rule an
//! expiration change sends.

use crate::plan_guards::plan_with;
use crate::support::common;

use chrono::Duration;
use common::{Tenant, load_str, now};
use pim::model::{AssignmentKind, Expiration, RequestAction, RuleId, Scope, SurfaceKind};
use pim::plan::{Action, Plan, Step};
use pim::render;
use pim::snapshot::{ActiveType, Grant, MemberType, Policy, PolicyKey};

const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
const PROD: &str = "/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34";
const DEV: &str = "/subscriptions/5d1c0b7a-2e4f-4a8b-9c3d-1e2f3a4b5c6d";
const MG: &str = "/providers/microsoft.management/managementgroups/contoso";

/// A tenant whose Owner policies at `scopes` are the Azure defaults.
fn tenant(scopes: &[&str]) -> Tenant {
    let mut t = Tenant::new();
    for s in scopes {
        let s = s.to_ascii_lowercase();
        t.resolved.scopes.insert(Scope::Azure(s.clone()), s.clone());
        t.current.policies.insert(
            PolicyKey::of_grant(SurfaceKind::AzureRole, &OWNER.into(), &s),
            Policy {
                surface: SurfaceKind::AzureRole,
                policy_id: format!(
                    "{s}/providers/Microsoft.Authorization/roleManagementPolicies/p-owner"
                ),
                role_id: OWNER.into(),
                scope_id: s.clone(),
                rules: pim::surface::get(SurfaceKind::AzureRole).default_rules(),
            },
        );
    }
    t
}

/// An Owner grant to `user` made at `scope`, as the read keeps it: an
/// inherited one keeps the scope it was made at.
fn owner(
    t: &mut Tenant,
    kind: AssignmentKind,
    user: &str,
    scope: &str,
    member_type: MemberType,
    started_days_ago: i64,
    days: i64,
) -> String {
    let principal = t.user(user);
    let start = now() - Duration::days(started_days_ago);
    let id = format!("{user}-{}", t.current.grants.len());
    t.current.grants.push(Grant {
        surface: SurfaceKind::AzureRole,
        kind,
        schedule_id: id.clone(),
        principal_id: principal.into(),
        role_id: OWNER.into(),
        scope_id: scope.to_ascii_lowercase(),
        start: Some(start),
        expiration: Expiration::At(start + Duration::days(days)),
        member_type,
        active_type: (kind == AssignmentKind::Active).then_some(ActiveType::Assigned),
        created_using: None,
        created: Some(start),
        status: "Provisioned".into(),
        condition: None,
    });
    id
}

/// A configuration declaring `grants` and an exclusive Owner of
/// production, with `extra` lines in its role block.
fn exclusive_owner(grants: &str, extra: &str) -> pim::config::Desired {
    load_str(&format!(
        "{grants}\nrole \"azure:Owner\" {{\n  scope     = \"{PROD}\"\n  exclusive = true\n{extra}}}\n"
    ))
}

/// Alice eligible for Owner of production for `duration`.
fn alice_owner(duration: &str) -> String {
    format!(
        "eligibility \"alice_owner\" {{\n  principal  = \"user:alice@contoso.com\"\n  azure_role = \"Owner\"\n  scope      = \"{PROD}\"\n  duration   = \"{duration}\"\n}}\n"
    )
}

fn removed(p: &Plan) -> Vec<String> {
    p.changes
        .iter()
        .filter(|c| c.action == Action::Remove)
        .map(|c| c.address.to_string())
        .collect()
}

fn requests<'p>(p: &'p Plan, address: &str) -> &'p [pim::model::ScheduleRequest] {
    let c = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == address)
        .unwrap_or_else(|| panic!("no change at {address}:\n{}", render::plan_text(p, false)));
    match &c.step {
        Step::Grant { requests, .. } => requests,
        other => panic!("not a grant step: {other:?}"),
    }
}

#[test]
fn a_declared_azure_role_is_requested_at_its_scope_by_guid() {
    let mut t = tenant(&[PROD]);
    t.user("alice");
    let d = load_str(&format!(
        r#"
eligibility "alice_owner" {{
  principal     = "user:alice@contoso.com"
  azure_role    = "owner"
  scope         = "{PROD}"
  duration      = "P90D"
  justification = "Platform on-call"
}}
"#
    ));
    let p = plan_with(&t, &d, None);
    let r = requests(&p, "eligibility.alice_owner");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].surface, SurfaceKind::AzureRole);
    assert_eq!(r[0].action, RequestAction::AdminAssign);
    assert_eq!(r[0].role_id.as_str(), OWNER);
    assert_eq!(r[0].scope_id, PROD);
    let text = render::plan_text(&p, false);
    assert!(text.contains("+ azure_role    = \"Owner\""), "{text}");
}

#[test]
fn inherited_grants_are_never_swept_or_listed_at_the_child_scope() {
    let mut t = tenant(&[PROD]);
    owner(
        &mut t,
        AssignmentKind::Eligible,
        "alice",
        PROD,
        MemberType::Direct,
        10,
        170,
    );
    owner(
        &mut t,
        AssignmentKind::Eligible,
        "mallory",
        PROD,
        MemberType::Direct,
        10,
        170,
    );
    // Dave's Owner is made at the management group and listed from below.
    owner(
        &mut t,
        AssignmentKind::Eligible,
        "dave",
        MG,
        MemberType::Inherited,
        10,
        300,
    );
    let d = load_str(&format!(
        r#"
eligibility "alice_owner" {{
  principal  = "user:alice@contoso.com"
  azure_role = "Owner"
  scope      = "{PROD}"
  expires    = "{}"
}}
role "azure:Owner" {{
  scope     = "{PROD}"
  exclusive = true
}}
"#,
        (now() + Duration::days(160)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    let p = plan_with(&t, &d, None);
    assert_eq!(
        removed(&p),
        [format!(
            "role[\"azure:Owner\"][\"{PROD} eligible user:mallory@contoso.com\"]"
        )],
        "{}",
        render::plan_text(&p, false)
    );
    assert!(
        p.unmanaged.iter().all(|u| !u.principal.contains("dave")),
        "{:?}",
        p.unmanaged
    );
}

#[test]
fn an_exclusive_role_sweeps_only_its_own_scope() {
    let mut t = tenant(&[PROD, DEV]);
    owner(
        &mut t,
        AssignmentKind::Active,
        "alice",
        PROD,
        MemberType::Direct,
        1,
        30,
    );
    owner(
        &mut t,
        AssignmentKind::Active,
        "mallory",
        PROD,
        MemberType::Direct,
        1,
        30,
    );
    owner(
        &mut t,
        AssignmentKind::Active,
        "mallory",
        DEV,
        MemberType::Direct,
        1,
        30,
    );
    let d = load_str(&format!(
        r#"
assignment "alice_owner" {{
  principal  = "user:alice@contoso.com"
  azure_role = "Owner"
  scope      = "{PROD}"
  duration   = "P30D"
}}
role "azure:Owner" {{
  scope     = "{PROD}"
  exclusive = true
}}
"#
    ));
    let p = plan_with(&t, &d, None);
    assert_eq!(
        removed(&p),
        [format!(
            "role[\"azure:Owner\"][\"{PROD} active user:mallory@contoso.com\"]"
        )]
    );
    // Mallory's Owner of the other subscription is not this block's.
    assert!(
        p.unmanaged
            .iter()
            .any(|u| u.principal.contains("mallory") && u.scope == DEV),
        "{:?}",
        p.unmanaged
    );
}

#[test]
fn the_identity_pim_runs_as_keeps_its_azure_owner() {
    let mut t = tenant(&[PROD]);
    owner(
        &mut t,
        AssignmentKind::Eligible,
        "alice",
        PROD,
        MemberType::Direct,
        10,
        170,
    );
    let pim_id = owner(
        &mut t,
        AssignmentKind::Active,
        "pim-app",
        PROD,
        MemberType::Direct,
        10,
        3000,
    );
    let caller = t
        .current
        .grants
        .iter()
        .find(|g| g.schedule_id == pim_id)
        .unwrap()
        .principal_id
        .to_string();
    t.current.caller_id = Some(caller.into());
    let d = exclusive_owner(&alice_owner("P170D"), "");
    let p = plan_with(&t, &d, None);
    assert!(removed(&p).is_empty(), "{}", render::plan_text(&p, false));
}

#[test]
fn renewal_extends_before_expiry_and_assigns_anew_after_it() {
    // Before: a rolling duration whose grant ends within the renewal window.
    let mut t = tenant(&[PROD]);
    owner(
        &mut t,
        AssignmentKind::Eligible,
        "alice",
        PROD,
        MemberType::Direct,
        85,
        90,
    );
    let d = load_str(&format!(
        r#"
eligibility "alice_owner" {{
  principal  = "user:alice@contoso.com"
  azure_role = "Owner"
  scope      = "{PROD}"
  duration   = "P90D"
}}
"#
    ));
    let p = plan_with(&t, &d, None);
    let r = requests(&p, "eligibility.alice_owner");
    assert_eq!(r.len(), 1, "{}", render::plan_text(&p, false));
    assert!(
        matches!(
            r[0].action,
            RequestAction::AdminExtend | RequestAction::AdminUpdate
        ),
        "{:?}",
        r[0].action
    );
    assert_eq!(r[0].scope_id, PROD);

    // After: the grant has ended (ARM no longer lists it as held), and
    // state still records it: made again with AdminAssign, never a renewal
    // of a schedule ARM no longer has.
    let mut t = tenant(&[PROD]);
    let alice = t.user("alice");
    let mut entry = common::managed(
        "eligibility.alice_owner",
        AssignmentKind::Eligible,
        "gone",
        &alice,
        "Global Administrator",
        serde_json::json!({"duration": "P90D"}),
    );
    entry.surface = SurfaceKind::AzureRole;
    entry.role_id = OWNER.into();
    entry.scope_id = PROD.into();
    let state = pim::state::StateFile {
        version: 1,
        serial: 1,
        lineage: "lineage".into(),
        resources: vec![entry],
        acknowledged: Vec::new(),
    };
    let p = plan_with(&t, &d, Some(&state));
    let r = requests(&p, "eligibility.alice_owner");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].action, RequestAction::AdminAssign);
}

#[test]
fn allowing_permanent_eligibility_never_sends_a_maximum_duration() {
    let t = tenant(&[PROD]);
    let d = load_str(&format!(
        r#"
policy "azure:Owner" {{
  scope = "{PROD}"
  eligibility {{
    allow_permanent = true
  }}
}}
"#
    ));
    let p = plan_with(&t, &d, None);
    let c = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == format!("policy[\"azure:Owner\"][\"{PROD}\"]"))
        .unwrap_or_else(|| panic!("{}", render::plan_text(&p, false)));
    let Step::Rules(patch) = &c.step else {
        panic!("not a rule update: {:?}", c.step)
    };
    let (id, value) = patch
        .rules
        .rules
        .iter()
        .find(|(id, _)| **id == RuleId::parse("Expiration_Admin_Eligibility").unwrap())
        .expect("the eligibility expiration rule changes");
    let wire = pim::arm::convert::rule_to_wire(*id, value).expect("an ARM rule");
    assert_eq!(wire["isExpirationRequired"], false, "{wire}");
    assert!(wire.get("maximumDuration").is_none(), "{wire}");
}

#[test]
fn a_protected_principal_keeps_an_exclusive_azure_role() {
    let mut t = tenant(&[PROD]);
    owner(
        &mut t,
        AssignmentKind::Active,
        "breakglass1",
        PROD,
        MemberType::Direct,
        10,
        3000,
    );
    owner(
        &mut t,
        AssignmentKind::Eligible,
        "mallory",
        PROD,
        MemberType::Direct,
        10,
        170,
    );
    owner(
        &mut t,
        AssignmentKind::Eligible,
        "alice",
        PROD,
        MemberType::Direct,
        10,
        170,
    );
    let d = exclusive_owner(
        &alice_owner("P170D"),
        "  protected = [\"user:breakglass1@contoso.com\"]\n",
    );
    let p = plan_with(&t, &d, None);
    assert_eq!(
        removed(&p),
        [format!(
            "role[\"azure:Owner\"][\"{PROD} eligible user:mallory@contoso.com\"]"
        )],
        "{}",
        render::plan_text(&p, false)
    );
}
