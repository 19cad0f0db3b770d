//! The ARM client (`pim::arm`) against the emulator's ARM endpoints
//! in-process, and against a hand-written ARM that throttles, pages away
//! or counts writes: every operation of the `Arm` trait, paging, retries
//! on 429 with `Retry-After`, the write buckets on an injected clock,
//! CloudError mapping and the checks of `PIM_ARM_URL` and `nextLink`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use pim::arm::{Arm, ArmRates, ArmRequest, ArmSettings, HttpArm, RateLimit, role_guid, same_scope};
use pim::emulator::{
    Application, ArmPolicyNames, Emulator, EmulatorClock, EmulatorConfig, Faults, Tenant,
};
use pim::graph::{ErrorKind, GraphSettings, HttpGraph, RetryPolicy, Service, StaticToken, Timer};
use pim::model::{
    AssignmentKind, Clock, Expiration, IsoDuration, ObjectId, RequestAction, RuleId, RuleSet,
    RuleValue, Schedule,
};
use pim::snapshot::MemberType;

use crate::support::graph_common::{SECRET, settings_for};
use crate::support::hostile_common::{Reply, Seen, Server, TOKEN, check_line, elsewhere};

/// The seeded service principal `pim`, which signs in with [`SECRET`].
const PIM_APP: &str = "d0000000-0000-4000-8000-00000000000a";
const ALICE: &str = "a0000000-0000-4000-8000-00000000000a";
const BOB: &str = "a0000000-0000-4000-8000-00000000000b";
const DAVE: &str = "a0000000-0000-4000-8000-00000000000d";
const AZURE_OPS: &str = "b0000000-0000-4000-8000-00000000000a";
const PROD: &str = "/subscriptions/11111111-1111-4111-8111-111111111111";
const DEV: &str = "/subscriptions/22222222-2222-4222-8222-222222222222";
const CONTOSO_MG: &str = "/providers/Microsoft.Management/managementGroups/contoso";
const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";

fn rg(name: &str) -> String {
    format!("{PROD}/resourceGroups/{name}")
}

fn role_id(scope_sub: &str, guid: &str) -> String {
    format!("{scope_sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
}

/// A clock that moves only when slept on, recording every sleep (and
/// moving an emulator's clock along, when given one).
#[derive(Clone)]
struct TestClock {
    start: DateTime<Utc>,
    slept: Arc<Mutex<Vec<Duration>>>,
    emulator: Option<EmulatorClock>,
}

impl TestClock {
    fn new() -> Self {
        TestClock {
            start: Utc::now(),
            slept: Arc::new(Mutex::new(Vec::new())),
            emulator: None,
        }
    }

    fn moving(emulator: EmulatorClock) -> Self {
        TestClock {
            emulator: Some(emulator),
            ..TestClock::new()
        }
    }

    fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap().clone()
    }

    fn total(&self) -> Duration {
        self.slept().iter().sum()
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.start + self.total()
    }
}

impl Timer for TestClock {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.slept.lock().unwrap().push(d);
        if let Some(e) = &self.emulator {
            e.advance(TimeDelta::from_std(d).unwrap());
        }
        Box::pin(async {})
    }
}

/// The emulator's ARM test tenant, whose `pim` application signs in with a secret.
fn seed() -> Tenant {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/pim-emulator/tests/fixtures/arm/test-tenant.json"
    );
    let mut t = Tenant::from_file(path).expect("ARM seed");
    t.applications.push(Application {
        app_id: PIM_APP.into(),
        display_name: Some("pim".into()),
        secrets: vec![SECRET.into()],
    });
    t
}

async fn emulator(page_size: usize, faults: Faults, clock: EmulatorClock) -> Emulator {
    emulator_with(EmulatorConfig {
        page_size,
        faults,
        clock,
        ..EmulatorConfig::default()
    })
    .await
}

async fn emulator_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(EmulatorConfig {
        seed: Some(seed()),
        ..config
    })
    .await
    .expect("emulator starts")
}

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

/// Signed in as the `pim` application through azure_identity's client
/// secret flow, the Graph client's credential shared for ARM's scope.
fn app_client(emu: &Emulator) -> (HttpArm, TestClock) {
    let graph_settings = settings_for(emu, PIM_APP, SECRET);
    let graph = HttpGraph::new(graph_settings.clone()).expect("Graph client");
    let settings = ArmSettings::for_emulator(&graph_settings, &no_env()).expect("ARM settings");
    let clock = TestClock::new();
    let arm = HttpArm::sharing(settings, &graph)
        .expect("ARM client")
        .with_clock(Arc::new(clock.clone()));
    (arm, clock)
}

/// Signed in as a seeded user with an emulator-minted ARM token.
fn user_client(emu: &Emulator, user: &str) -> HttpArm {
    let graph_settings = settings_for(emu, PIM_APP, SECRET);
    let settings = ArmSettings::for_emulator(&graph_settings, &no_env()).unwrap();
    let token = emu.mint_arm_token(user, false);
    HttpArm::with_token_source(settings, Arc::new(StaticToken(token)))
        .unwrap()
        .with_clock(Arc::new(TestClock::new()))
}

fn find<'a>(
    list: &'a [pim::arm::ArmSchedule],
    principal: &str,
    role: &str,
) -> &'a pim::arm::ArmSchedule {
    list.iter()
        .find(|s| s.principal_id.as_str() == principal && role_guid(&s.role_definition_id) == role)
        .unwrap_or_else(|| panic!("no {role} of {principal} in {list:#?}"))
}

#[tokio::test]
async fn schedules_at_a_scope_page_through_and_mark_what_is_inherited() {
    // One item a page: every list is read across pages.
    let emu = emulator(1, Faults::default(), EmulatorClock::system()).await;
    let (client, _) = app_client(&emu);
    // Callers hold the trait object, as a planner with a fake would.
    let arm: &dyn Arm = &client;
    let at_sub = arm.schedules(AssignmentKind::Eligible, PROD).await.unwrap();
    let reader = find(&at_sub, ALICE, READER);
    assert!(!reader.inherited);
    assert_eq!(reader.member_type, MemberType::Direct);
    assert!(same_scope(&reader.scope, PROD));
    assert!(reader.end.is_some() && reader.start.is_some());
    let owner = find(&at_sub, ALICE, OWNER);
    assert!(
        owner.inherited,
        "the management group's grant, seen from below"
    );
    assert!(same_scope(&owner.scope, CONTOSO_MG));
    // The resource group's grant is below the subscription: not listed.
    assert!(!at_sub.iter().any(|s| s.principal_id.as_str() == AZURE_OPS));
    assert_eq!(at_sub.len(), 2, "{at_sub:#?}");
    // Pages of one item: two pages, the first with a nextLink.
    assert_eq!(client.stats().requests(), 2);

    let at_rg = arm
        .schedules(AssignmentKind::Eligible, &rg("rg-app"))
        .await
        .unwrap();
    let group = find(&at_rg, AZURE_OPS, CONTRIBUTOR);
    assert!(!group.inherited);
    assert_eq!(group.principal_type.as_deref(), Some("Group"));
    assert!(find(&at_rg, ALICE, READER).inherited);
    assert!(find(&at_rg, ALICE, OWNER).inherited);

    let active = arm.schedules(AssignmentKind::Active, DEV).await.unwrap();
    let bob = find(&active, BOB, CONTRIBUTOR);
    assert!(!bob.inherited);
    assert_eq!(bob.end, None, "permanent");
    // The subscription alias of the spec examples reads as the plain form.
    let aliased = arm
        .schedules(
            AssignmentKind::Active,
            &format!("/providers/Microsoft.Subscription{DEV}"),
        )
        .await
        .unwrap();
    assert_eq!(aliased, active);
    emu.stop().await;
}

#[tokio::test]
async fn my_instances_are_the_callers_across_scopes() {
    let emu = emulator(2, Faults::default(), EmulatorClock::system()).await;
    let alice = user_client(&emu, ALICE);
    let mine = alice
        .my_instances(AssignmentKind::Eligible, None)
        .await
        .unwrap();
    assert_eq!(mine.len(), 2, "{mine:#?}");
    assert!(mine.iter().all(|i| i.principal_id.as_str() == ALICE));
    assert!(mine.iter().all(|i| i.schedule_id.is_some()));
    find(&mine, ALICE, OWNER);
    find(&mine, ALICE, READER);
    // Signed in as Bob the way `--as` does (the emulator's user grant),
    // the one sign-in serving Graph and ARM.
    let graph_settings = settings_for(&emu, PIM_APP, SECRET);
    let graph =
        HttpGraph::for_emulator_user(graph_settings.clone(), "bob@contoso.com", false).unwrap();
    let settings = ArmSettings::for_emulator(&graph_settings, &no_env()).unwrap();
    let bob = HttpArm::sharing(settings, &graph).unwrap();
    let active = bob
        .my_instances(AssignmentKind::Active, Some(DEV))
        .await
        .unwrap();
    assert_eq!(active.len(), 1);
    assert!(!active[0].inherited);
    assert_eq!(active[0].principal_id.as_str(), BOB);
    emu.stop().await;
}

#[tokio::test]
async fn role_definitions_by_name() {
    let emu = emulator(50, Faults::default(), EmulatorClock::system()).await;
    let (arm, _) = app_client(&emu);
    let custom = arm
        .role_definitions(PROD, "Contoso Operator")
        .await
        .unwrap();
    assert_eq!(custom.len(), 1, "{custom:#?}");
    assert_eq!(custom[0].name, "e0000000-0000-4000-8000-00000000000a");
    assert_eq!(role_guid(&custom[0].id), custom[0].name);
    let owner = arm.role_definitions(PROD, "Owner").await.unwrap();
    assert_eq!(owner.len(), 1);
    assert_eq!(role_guid(&owner[0].id), OWNER);
    // A custom role is not assignable where its scopes do not reach.
    assert!(
        arm.role_definitions(DEV, "Contoso Operator")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        arm.role_definitions(PROD, "No Such Role")
            .await
            .unwrap()
            .is_empty()
    );
    emu.stop().await;
}

#[tokio::test]
async fn policies_with_their_roles_read_and_patch() {
    // A policy for each of ~500 built-in roles: pages of 200.
    let emu = emulator(200, Faults::default(), EmulatorClock::system()).await;
    let (arm, _) = app_client(&emu);
    let all = arm.policies(PROD).await.unwrap();
    assert!(all.len() > 10, "one per role: {}", all.len());
    assert!(
        all.iter().all(|p| p.role_definition_id.is_some()),
        "every policy joined to its role"
    );
    let owner = all
        .iter()
        .find(|p| p.role_definition_id.as_deref().map(role_guid).as_deref() == Some(OWNER))
        .unwrap();
    let approval = owner.rules.approval().expect("approval rule");
    assert!(
        approval.required,
        "seeded: Owner at Production needs approval"
    );
    assert_eq!(owner.rules.rules.len(), 17);
    // One policy by id, and by role through its assignment, read the same.
    let one = arm.policy(&owner.id).await.unwrap();
    assert_eq!(one.rules, owner.rules);
    assert_eq!(one.role_definition_id, None);
    let owner_role = role_id(PROD, OWNER);
    let by_role = arm
        .policy_for_role(PROD, &owner_role)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_role.id, owner.id);
    assert_eq!(
        by_role.role_definition_id.as_deref(),
        Some(owner_role.as_str())
    );

    let mut change = RuleSet::default();
    change.rules.insert(
        RuleId::ExpirationEndUserAssignment,
        RuleValue::Expiration {
            required: true,
            max: Some("PT4H".parse().unwrap()),
        },
    );
    // Permanent active assignments allowed: the maximum is not sent along.
    change.rules.insert(
        RuleId::ExpirationAdminAssignment,
        RuleValue::Expiration {
            required: false,
            max: Some("P90D".parse().unwrap()),
        },
    );
    let patched = arm.update_policy(&by_role.id, &change).await.unwrap();
    assert_eq!(
        patched
            .rules
            .expiration(RuleId::ExpirationEndUserAssignment),
        Some((true, Some("PT4H".parse().unwrap())))
    );
    assert_eq!(
        patched
            .rules
            .expiration(RuleId::ExpirationAdminAssignment)
            .map(|(required, _)| required),
        Some(false)
    );
    // Untouched rules stay as they were.
    assert_eq!(patched.rules.approval(), owner.rules.approval());
    // Read again through the assignment (the name may have changed).
    let again = arm
        .policy_for_role(PROD, &owner_role)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.rules, patched.rules);
    // A policy id that is not one is refused before anything is sent.
    let before = arm.stats().requests();
    let e = arm
        .update_policy(
            &format!("{PROD}/providers/Microsoft.Authorization/roleDefinitions/x"),
            &change,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    assert_eq!(arm.stats().requests(), before);
    emu.stop().await;
}

#[tokio::test]
async fn a_policy_whose_name_changes_on_update_is_found_again_by_role() {
    let emu = emulator_with(EmulatorConfig {
        page_size: 200,
        arm_policy_names: ArmPolicyNames::Rotated,
        ..EmulatorConfig::default()
    })
    .await;
    let (arm, _) = app_client(&emu);
    let contributor = role_id(PROD, CONTRIBUTOR);
    let before = arm
        .policy_for_role(PROD, &contributor)
        .await
        .unwrap()
        .unwrap();
    let rules = |max: &str| {
        let mut r = RuleSet::default();
        r.rules.insert(
            RuleId::ExpirationAdminEligibility,
            RuleValue::Expiration {
                required: true,
                max: Some(max.parse().unwrap()),
            },
        );
        r
    };
    let first = arm
        .update_role_policy(PROD, &contributor, &rules("P60D"))
        .await
        .unwrap();
    assert_ne!(first.name, before.name, "this emulator renames on PATCH");
    assert_eq!(
        first.role_definition_id.as_deref(),
        Some(contributor.as_str())
    );
    // The old name is gone; by role, the second change still lands.
    let e = arm
        .update_policy(&before.id, &rules("P30D"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    let second = arm
        .update_role_policy(PROD, &contributor, &rules("P30D"))
        .await
        .unwrap();
    assert_eq!(
        second.rules.expiration(RuleId::ExpirationAdminEligibility),
        Some((true, Some("P30D".parse().unwrap())))
    );
    // Several scopes read at once, each answer in its place.
    let scopes = vec![PROD.to_string(), DEV.to_string(), rg("rg-app")];
    let lists = arm
        .schedules_at(AssignmentKind::Eligible, &scopes)
        .await
        .unwrap();
    assert_eq!(lists.len(), 3);
    assert_eq!(
        lists[0],
        arm.schedules(AssignmentKind::Eligible, PROD).await.unwrap()
    );
    find(&lists[1], BOB, READER);
    find(&lists[2], AZURE_OPS, CONTRIBUTOR);
    emu.stop().await;
}

fn eligibility(scope: &str, principal: &str, role: &str, action: RequestAction) -> ArmRequest {
    ArmRequest::new(
        AssignmentKind::Eligible,
        scope,
        action,
        ObjectId::new(principal),
        role_id(PROD, role),
    )
}

#[tokio::test]
async fn admin_requests_assign_read_back_refuse_and_remove() {
    let clock = EmulatorClock::system();
    let emu = emulator(50, Faults::default(), clock.clone()).await;
    let (arm, _) = app_client(&emu);
    let scope = rg("rg-data");
    let mut assign = eligibility(&scope, DAVE, READER, RequestAction::AdminAssign);
    assign.schedule = Some(Schedule {
        start: None,
        expiration: Expiration::After("P30D".parse::<IsoDuration>().unwrap()),
    });
    assign.justification = Some("on call".into());
    let made = arm.create_request(&assign).await.unwrap();
    assert_eq!(made.name, assign.name);
    assert_eq!(made.status, "Provisioned");
    assert_eq!(made.action, Some(RequestAction::AdminAssign));
    assert!(!made.reconciled);
    assert!(same_scope(&made.scope, &scope));
    let read = arm
        .get_request(AssignmentKind::Eligible, &scope, &assign.name)
        .await
        .unwrap();
    assert_eq!(read.status, made.status);
    assert_eq!(read.target_schedule_id, made.target_schedule_id);
    let listed = arm
        .schedules(AssignmentKind::Eligible, &scope)
        .await
        .unwrap();
    assert!(!find(&listed, DAVE, READER).inherited);

    // The same grant again, under a fresh name: ARM says it exists.
    let mut again = assign.clone();
    again.name = uuid::Uuid::new_v4().to_string();
    let e = arm.create_request(&again).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RoleAssignmentExists, "{e}");
    assert_eq!(e.service, Service::Arm);

    // Permanent where the policy wants an end: the rule is named.
    let mut permanent = eligibility(&scope, DAVE, CONTRIBUTOR, RequestAction::AdminAssign);
    permanent.schedule = Some(Schedule::permanent());
    let e = arm.create_request(&permanent).await.unwrap_err();
    assert_eq!(e.failed_rules(), ["ExpirationRule"], "{e}");
    assert!(check_line(&e).contains("broke the role's policy: ExpirationRule failed"));

    // Removal: ARM refuses one of a grant under five minutes old.
    clock.advance(TimeDelta::minutes(10));
    let remove = eligibility(&scope, DAVE, READER, RequestAction::AdminRemove);
    let removed = arm.create_request(&remove).await.unwrap();
    assert_eq!(removed.status, "Revoked");
    let listed = arm
        .schedules(AssignmentKind::Eligible, &scope)
        .await
        .unwrap();
    assert!(!listed.iter().any(|s| s.principal_id.as_str() == DAVE));
    let e = arm
        .create_request(&eligibility(
            &scope,
            DAVE,
            READER,
            RequestAction::AdminRemove,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::RoleAssignmentDoesNotExist, "{e}");

    // A name that is not a GUID never leaves pim.
    let mut named = assign.clone();
    named.name = "mine".into();
    let before = arm.stats().requests();
    assert_eq!(
        arm.create_request(&named).await.unwrap_err().kind,
        ErrorKind::Config
    );
    assert_eq!(arm.stats().requests(), before);
    emu.stop().await;
}

#[tokio::test]
async fn a_principal_made_moments_ago_is_waited_for() {
    let clock = EmulatorClock::fixed(Utc::now());
    let faults = Faults {
        new_object_delay_ms: 30_000,
        ..Faults::default()
    };
    let emu = emulator(50, faults, clock.clone()).await;
    let erin = "a0000000-0000-4000-8000-0000000000ee";
    emu.add_user(pim::emulator::User {
        id: erin.into(),
        display_name: "Erin".into(),
        user_principal_name: "erin@contoso.com".into(),
        ..pim::emulator::User::default()
    })
    .unwrap();
    let graph_settings = settings_for(&emu, PIM_APP, SECRET);
    let graph = HttpGraph::new(graph_settings.clone()).unwrap();
    let waits = TestClock::moving(clock);
    let arm = HttpArm::sharing(
        ArmSettings::for_emulator(&graph_settings, &no_env()).unwrap(),
        &graph,
    )
    .unwrap()
    .with_clock(Arc::new(waits.clone()));
    let mut r = eligibility(&rg("rg-app"), erin, READER, RequestAction::AdminAssign);
    r.schedule = Some(Schedule {
        start: None,
        expiration: Expiration::After("P30D".parse().unwrap()),
    });
    let made = arm.create_request(&r).await.unwrap();
    assert_eq!(made.status, "Provisioned");
    assert!(arm.stats().retries() >= 2, "{}", arm.stats().retries());
    assert!(
        waits.total() >= Duration::from_secs(30),
        "{:?}",
        waits.total()
    );
    emu.stop().await;
}

#[tokio::test]
async fn self_service_activates_waits_for_approval_and_cancels() {
    let emu = emulator(50, Faults::default(), EmulatorClock::system()).await;
    let alice = user_client(&emu, ALICE);
    let activate = |scope: &str, role: &str| {
        let mut r = ArmRequest::new(
            AssignmentKind::Active,
            scope,
            RequestAction::SelfActivate,
            ObjectId::new(ALICE),
            role_id(PROD, role),
        );
        r.schedule = Some(Schedule {
            start: None,
            expiration: Expiration::After("PT1H".parse().unwrap()),
        });
        r.justification = Some("incident 42".into());
        r
    };
    // Owner at Production needs Bob's approval; Alice holds it from the
    // management group.
    let req = activate(PROD, OWNER);
    let pending = alice.create_request(&req).await.unwrap();
    assert_eq!(pending.status, "PendingApproval", "{pending:#?}");
    assert!(pending.approval_id.is_some());
    alice
        .cancel_request(AssignmentKind::Active, PROD, &req.name)
        .await
        .unwrap();
    let read = alice
        .get_request(AssignmentKind::Active, PROD, &req.name)
        .await
        .unwrap();
    assert_eq!(read.status, "Canceled");
    // Cancelling what is no longer pending: ARM refuses, pim says so.
    let e = alice
        .cancel_request(AssignmentKind::Active, PROD, &req.name)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest, "{e}");

    // Reader at Production: no approval, in force at once.
    let reader = alice.create_request(&activate(PROD, READER)).await.unwrap();
    assert_eq!(reader.status, "Provisioned");
    let active = alice
        .my_instances(AssignmentKind::Active, Some(PROD))
        .await
        .unwrap();
    assert_eq!(
        find(&active, ALICE, READER).assignment_type.as_deref(),
        Some("Activated")
    );

    // Without an eligibility: the eligibility rule fails.
    let e = alice
        .create_request(&activate(DEV, READER))
        .await
        .unwrap_err();
    assert_eq!(e.failed_rules(), ["EligibilityRule"], "{e}");

    // Activating for someone else: ARM's AuthorizationFailed, with RBAC words.
    let mut for_bob = activate(PROD, READER);
    for_bob.principal_id = ObjectId::new(BOB);
    let e = alice.create_request(&for_bob).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Forbidden);
    assert_eq!(e.code, "AuthorizationFailed");
    let text = check_line(&e);
    assert!(text.starts_with("ARM refused PUT"), "{text}");
    assert!(
        text.contains("Microsoft.Authorization/roleAssignmentScheduleRequests/write")
            && text.contains("Owner or User Access Administrator"),
        "{text}"
    );
    emu.stop().await;
}

#[tokio::test]
async fn a_graph_token_is_refused_once_renewed_and_reported() {
    let emu = emulator(50, Faults::default(), EmulatorClock::system()).await;
    let graph_settings = settings_for(&emu, PIM_APP, SECRET);
    let settings = ArmSettings::for_emulator(&graph_settings, &no_env()).unwrap();
    // A Graph token for ARM: wrong audience.
    let token = emu.mint_token(ALICE, false);
    let arm = HttpArm::with_token_source(settings, Arc::new(StaticToken(token.clone()))).unwrap();
    let e = arm
        .schedules(AssignmentKind::Eligible, PROD)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unauthorized);
    assert_eq!(e.code, "InvalidAuthenticationTokenAudience");
    assert_eq!(arm.stats().requests(), 2, "one fresh token, then no more");
    let text = check_line(&e);
    assert!(!text.contains(&token), "{text}");
    assert!(
        text.contains("a token for https://management.azure.com"),
        "{text}"
    );
    emu.stop().await;
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_is_read_back_before_it_is_sent_again() {
    let faults = Faults {
        reset_rate: 0.5,
        reset_after_write_share: 0.5,
        rng_seed: 7,
        ..Faults::default()
    };
    let clock = EmulatorClock::system();
    let emu = emulator(50, faults, clock).await;
    let (arm, _) = app_client(&emu);
    let principals = [ALICE, BOB, DAVE];
    let mut names = Vec::new();
    for (i, p) in principals.iter().enumerate() {
        let mut r = eligibility(&rg("rg-data"), p, CONTRIBUTOR, RequestAction::AdminAssign);
        r.schedule = Some(Schedule {
            start: None,
            expiration: Expiration::After(format!("P{}D", 10 + i).parse().unwrap()),
        });
        let out = arm.create_request(&r).await.unwrap();
        assert_eq!(out.name, r.name);
        names.push(out);
    }
    // Every grant exactly once, however the answers went.
    let listed = arm
        .schedules(AssignmentKind::Eligible, &rg("rg-data"))
        .await
        .unwrap();
    for p in principals {
        let n = listed
            .iter()
            .filter(|s| {
                s.principal_id.as_str() == p && role_guid(&s.role_definition_id) == CONTRIBUTOR
            })
            .count();
        assert_eq!(n, 1, "{p}");
    }
    assert!(
        arm.stats().reconciled() >= 1 && names.iter().any(|o| o.reconciled),
        "the seed loses at least one answer after the write: {}",
        arm.stats().reconciled()
    );
    emu.stop().await;
}

// ---------------------------------------------------------------- a hand-written ARM

fn hostile_settings(server: &Server) -> ArmSettings {
    ArmSettings {
        arm_url: server.base(),
        connection: GraphSettings {
            retry: RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
                ..RetryPolicy::default()
            },
            request_timeout: Duration::from_secs(20),
            ..GraphSettings::default()
        },
        rates: ArmRates::default(),
    }
}

fn hostile_client(settings: ArmSettings, clock: &TestClock) -> HttpArm {
    HttpArm::with_token_source(settings, Arc::new(StaticToken(TOKEN.into())))
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
}

fn schedule_item(n: usize) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{PROD}/providers/Microsoft.Authorization/roleEligibilitySchedules/s{n}"),
        "name": format!("s{n}"),
        "type": "Microsoft.Authorization/RoleEligibilitySchedules",
        "properties": {
            "scope": PROD,
            "roleDefinitionId": role_id(PROD, READER),
            "principalId": ALICE,
            "principalType": "User",
            "memberType": "Direct",
            "startDateTime": "2026-01-01T00:00:00Z",
            "endDateTime": null,
        }
    })
}

#[tokio::test]
async fn a_429_is_retried_after_the_time_arm_asks() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = Server::start(None, move |s| {
        assert!(s.target.contains("api-version=2020-10-01"), "{}", s.target);
        assert!(s.target.contains("$filter=atScope()"), "{}", s.target);
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::Raw {
                status: 429,
                headers: vec![
                    ("Content-Type", "application/json".into()),
                    ("Retry-After", "7".into()),
                    ("x-ms-ratelimit-remaining-subscription-reads", "0".into()),
                ],
                body: br#"{"error":{"code":"SubscriptionRequestsThrottled","message":"wait"}}"#
                    .to_vec(),
            }
        } else {
            Reply::Json(
                200,
                serde_json::json!({ "value": [schedule_item(1)] }).to_string(),
            )
        }
    })
    .await;
    let clock = TestClock::new();
    let arm = hostile_client(hostile_settings(&server), &clock);
    let got = arm.schedules(AssignmentKind::Eligible, PROD).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!((arm.stats().throttled(), arm.stats().retries()), (1, 1));
    // Waited what ARM asked, on the injected clock (the bucket emptied by
    // ARM's "0 reads left" refills within that wait).
    assert!(
        clock.slept().contains(&Duration::from_secs(7)),
        "{:?}",
        clock.slept()
    );
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")))
    );

    // A 429 that does not end: reported as throttled, one line, no token.
    let server = Server::start(None, |_| Reply::Raw {
        status: 429,
        headers: vec![("Retry-After", "1".into())],
        body: br#"{"error":{"code":"SubscriptionRequestsThrottled","message":"wait"}}"#.to_vec(),
    })
    .await;
    let clock = TestClock::new();
    let arm = hostile_client(hostile_settings(&server), &clock);
    let e = arm
        .schedules(AssignmentKind::Eligible, PROD)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Throttled);
    assert_eq!(server.seen().len(), 4, "max_attempts");
    assert!(check_line(&e).starts_with("ARM kept refusing GET"), "{e}");
}

#[tokio::test]
async fn pages_are_followed_on_the_endpoint_only() {
    let other = elsewhere().await;
    let away = format!(
        "{}{PROD}/providers/Microsoft.Authorization/roleEligibilitySchedules?api-version=2020-10-01&$skiptoken=2",
        other.base()
    );
    let base = Arc::new(Mutex::new(String::new()));
    let b = base.clone();
    let server = Server::start(None, move |s| {
        let page = if s.target.contains("$skiptoken=1") {
            serde_json::json!({ "value": [schedule_item(2)], "nextLink": away.clone() })
        } else {
            let next = format!("{}{PROD}/providers/Microsoft.Authorization/roleEligibilitySchedules?api-version=2020-10-01&$filter=atScope()&$skiptoken=1", b.lock().unwrap());
            serde_json::json!({ "value": [schedule_item(1)], "nextLink": next })
        };
        Reply::Json(200, page.to_string())
    })
    .await;
    *base.lock().unwrap() = server.base();
    let clock = TestClock::new();
    let arm = hostile_client(hostile_settings(&server), &clock);
    let e = arm
        .schedules(AssignmentKind::Eligible, PROD)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::UntrustedUrl, "{e}");
    assert_eq!(
        server.seen().len(),
        2,
        "the first link, on the endpoint, was followed"
    );
    assert!(server.seen()[1].target.contains("$skiptoken=1"));
    assert!(other.seen().is_empty(), "the token never went elsewhere");
    let text = check_line(&e);
    assert!(
        text.contains(&format!("127.0.0.1:{}", other.port())),
        "{text}"
    );
}

fn put_answer(s: &Seen) -> Reply {
    let name = s
        .target
        .split('?')
        .next()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    Reply::Raw {
        status: 201,
        headers: vec![
            ("Content-Type", "application/json".into()),
            ("x-ms-ratelimit-remaining-subscription-writes", "150".into()),
        ],
        body: serde_json::json!({
            "id": format!("{PROD}/providers/Microsoft.Authorization/roleEligibilityScheduleRequests/{name}"),
            "name": name,
            "properties": {
                "scope": PROD,
                "principalId": DAVE,
                "roleDefinitionId": role_id(PROD, READER),
                "requestType": "AdminAssign",
                "status": "Provisioned",
            }
        })
        .to_string()
        .into_bytes(),
    }
}

fn assign_at(scope: &str) -> ArmRequest {
    let mut r = ArmRequest::new(
        AssignmentKind::Eligible,
        scope,
        RequestAction::AdminAssign,
        ObjectId::new(DAVE),
        role_id(PROD, READER),
    );
    r.schedule = Some(Schedule {
        start: None,
        expiration: Expiration::After("P30D".parse().unwrap()),
    });
    r
}

#[tokio::test]
async fn writes_keep_to_the_rate_of_each_subscription() {
    let server = Server::start(None, put_answer).await;
    let clock = TestClock::new();
    let mut settings = hostile_settings(&server);
    settings.rates.writes = RateLimit {
        burst: 2,
        per_second: 10.0,
    };
    let arm = hostile_client(settings, &clock);
    for _ in 0..5 {
        arm.create_request(&assign_at(PROD)).await.unwrap();
    }
    // Two at once, then one every 100 ms: three waits of 100 ms.
    let waits: Vec<Duration> = clock.slept();
    assert_eq!(waits.len(), 3, "{waits:?}");
    for w in &waits {
        assert!((w.as_secs_f64() - 0.1).abs() < 1e-3, "{waits:?}");
    }
    assert!((arm.stats().paced().as_secs_f64() - 0.3).abs() < 0.01);
    // Another subscription has its own bucket: no wait.
    arm.create_request(&assign_at(DEV)).await.unwrap();
    assert_eq!(clock.slept().len(), 3);
    // Every PUT carried api-version and a GUID name.
    for s in server.seen() {
        assert_eq!(s.method, "PUT");
        assert!(
            s.target.ends_with("?api-version=2020-10-01"),
            "{}",
            s.target
        );
    }
}

#[tokio::test]
async fn few_writes_left_at_arm_slow_pim_down_before_a_429() {
    let left = Arc::new(AtomicUsize::new(3));
    let l = left.clone();
    let server = Server::start(None, move |s| {
        let mut reply = put_answer(s);
        let n = l.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        if let Reply::Raw { headers, .. } = &mut reply {
            headers.retain(|(k, _)| !k.starts_with("x-ms-ratelimit"));
            headers.push((
                "x-ms-ratelimit-remaining-subscription-writes",
                n.to_string(),
            ));
        }
        reply
    })
    .await;
    let clock = TestClock::new();
    let arm = hostile_client(hostile_settings(&server), &clock);
    // pim's own bucket holds 200; ARM says 2, 1, 0 remain.
    for _ in 0..3 {
        arm.create_request(&assign_at(PROD)).await.unwrap();
    }
    assert!(clock.slept().is_empty(), "within what ARM said was left");
    arm.create_request(&assign_at(PROD)).await.unwrap();
    assert_eq!(
        clock.slept(),
        [Duration::from_millis(100)],
        "then at ARM's refill rate"
    );
}

#[test]
fn pim_arm_url_is_checked_as_pim_graph_url_is() {
    let graph = GraphSettings::default();
    let env = |v: &str| HashMap::from([("PIM_ARM_URL".to_string(), v.to_string())]);
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost",
        "http://[::1]:9",
        "https://arm.example/",
    ] {
        let s = ArmSettings::from_env(&graph, &env(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(!s.root().ends_with('/'));
    }
    for (bad, says) in [
        ("http://arm.example", "loopback"),
        ("ftp://arm.example", "https"),
        ("not a url", "not a URL"),
        ("https://arm.example/subscriptions", "endpoint alone"),
    ] {
        let e = ArmSettings::from_env(&graph, &env(bad)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{bad}");
        assert_eq!(e.service, Service::Arm);
        assert!(e.to_string().contains(says), "{bad}: {e}");
        assert!(e.to_string().contains("ARM URL"), "{bad}: {e}");
    }
    assert_eq!(
        ArmSettings::from_env(&graph, &HashMap::new())
            .unwrap()
            .root(),
        "https://management.azure.com"
    );
}

#[tokio::test]
async fn subscriptions_are_listed_with_their_display_names() {
    let emu = emulator(50, Faults::default(), EmulatorClock::system()).await;
    let (arm, _) = app_client(&emu);
    let mut subs = arm.subscriptions().await.unwrap();
    subs.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    let seen: Vec<(&str, &str, &str)> = subs
        .iter()
        .map(|s| {
            (
                s.display_name.as_str(),
                s.subscription_id.as_str(),
                s.id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("Dev", "22222222-2222-4222-8222-222222222222", DEV),
            ("Production", "11111111-1111-4111-8111-111111111111", PROD),
        ]
    );
    assert!(subs.iter().all(|s| s.state.as_deref() == Some("Enabled")));
}
