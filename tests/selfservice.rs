//! Self-service through the library against the in-process emulator, with
//! the emulator's fixed clock as the caller's: activation (checked before
//! sending, pending approval, waiting), deactivation and the five-minute
//! rule, extension and renewal, `my roles`, requests and cancel.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use pim::arm::{Arm as _, ArmSettings, HttpArm};
use pim::emulator::{
    Decision, Emulator, EmulatorClock as EmuClockHandle, EmulatorConfig, Tenant, TokenFormat,
};
use pim::graph::{Graph, GraphSettings, GraphWrite as _, HttpGraph, Me, StaticToken, Timer};
use pim::model::{AssignmentKind, Clock, IsoDuration, Ticket};
use pim::selfservice::{
    self, ActivationRequest, ExtensionRequest, Held, RequestFilter, SelfServiceError, Status,
    Target, WaitOptions,
};

const ALICE: &str = "5e1f0000-0000-4000-8000-000000000001";
const BOB: &str = "5e1f0000-0000-4000-8000-000000000002";
const ERIN: &str = "5e1f0000-0000-4000-8000-000000000005";
const FRANK: &str = "5e1f0000-0000-4000-8000-000000000006";
const GRACE: &str = "5e1f0000-0000-4000-8000-000000000007";
const NOW: &str = "2026-12-01T10:00:00Z";

/// The emulator's clock as the caller's: sleeping moves it on.
struct EmuClock(EmuClockHandle);

impl Clock for EmuClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

impl Timer for EmuClock {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.0
            .advance(TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX));
        Box::pin(tokio::task::yield_now())
    }
}

struct World {
    emu: Emulator,
    clock: EmuClock,
}

async fn world() -> World {
    world_with(TokenFormat::Jwt).await
}

fn seed() -> Tenant {
    Tenant::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/selfservice/tenant.json"
    ))
    .unwrap()
}

/// The self-service tenant with requests Graph still keeps from the days
/// before: two of Bob's whose ids start alike, one denied; and an
/// administrator's assignment of Erin's eligibility.
fn seed_with_past_requests() -> Tenant {
    let mut seed = seed();
    let past: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/selfservice/past_requests.json"
        ))
        .unwrap(),
    )
    .unwrap();
    seed.assignment_requests.extend(
        past["assignmentRequests"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    seed.eligibility_requests.extend(
        past["eligibilityRequests"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    seed
}

async fn world_with(token_format: TokenFormat) -> World {
    world_seeded(seed(), token_format).await
}

async fn world_seeded(seed: Tenant, token_format: TokenFormat) -> World {
    let clock = EmuClockHandle::fixed(at(NOW));
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        clock: clock.clone(),
        token_format,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    World {
        emu,
        clock: EmuClock(clock),
    }
}

impl World {
    fn settings(&self) -> GraphSettings {
        GraphSettings {
            graph_url: self.emu.graph_url(),
            authority_host: self.emu.authority_host().to_string(),
            tenant_id: Some(self.emu.tenant_id()),
            ca_pem: self.emu.ca_pem().map(str::to_string),
            ..GraphSettings::default()
        }
    }

    /// Signed in as a seeded user through the emulator's user grant.
    fn as_user(&self, upn: &str, mfa: bool) -> HttpGraph {
        HttpGraph::for_emulator_user(self.settings(), upn, mfa).unwrap()
    }

    /// With a minted token, which says what the client may read of it.
    fn minted(&self, id: &str, mfa: bool) -> HttpGraph {
        let token = self.emu.mint_token(id, mfa);
        HttpGraph::with_token_source(self.settings(), Arc::new(StaticToken(token))).unwrap()
    }

    /// Schedule requests POSTed so far.
    fn requests_sent(&self) -> u64 {
        let stats = self.emu.stats();
        stats["byRoute"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("POST ") && k.contains("ScheduleRequests"))
                    .filter_map(|(_, v)| v.as_u64())
                    .sum()
            })
            .unwrap_or(0)
    }
}

async fn target(g: &dyn Graph, role: &str, scope: &str) -> Target {
    selfservice::resolve_target(g, role, scope).await.unwrap()
}

fn ask(target: Target, duration: Option<&str>, justification: Option<&str>) -> ActivationRequest {
    ActivationRequest {
        target,
        duration: duration.map(|d| d.parse::<IsoDuration>().unwrap()),
        justification: justification.map(str::to_string),
        ticket: None,
    }
}

/// Bob asks to activate Privileged Role Administrator for an hour: a
/// request that waits for approval. His sign-in, and Graph's answer.
async fn bob_asks_for_privileged_role_administrator(
    w: &World,
) -> (HttpGraph, pim::graph::RequestOutcome) {
    let bob = w.as_user("bob@contoso.com", true);
    let me_bob = whoami(&bob).await;
    let t = target(&bob, "Privileged Role Administrator", "/").await;
    let a =
        selfservice::check_activation(&bob, &w.clock, &me_bob, &ask(t, Some("PT1H"), Some("x")))
            .await
            .unwrap();
    let pending = selfservice::submit(&bob, &a.request).await.unwrap();
    (bob, pending)
}

async fn whoami(g: &dyn Graph) -> Me {
    g.me().await.unwrap()
}

fn refusal_rules(e: &SelfServiceError) -> Vec<String> {
    match e {
        SelfServiceError::Refused { problems, .. } => {
            problems.iter().filter_map(|p| p.rule.clone()).collect()
        }
        other => panic!("expected a refusal before sending, got: {other}"),
    }
}

#[tokio::test]
async fn a_seeded_user_activates_an_eligible_role_and_sees_it_in_my_roles() {
    let w = world().await;
    let g = w.as_user("alice@contoso.com", true);
    let me = whoami(&g).await;
    assert_eq!(me.id, ALICE);
    let t = target(&g, "Global Administrator", "/").await;
    let a = selfservice::check_activation(
        &g,
        &w.clock,
        &me,
        &ask(t, Some("PT2H"), Some("incident 42")),
    )
    .await
    .unwrap();
    assert_eq!(a.approvers, None);
    assert!(a.notes.is_empty(), "{:?}", a.notes);
    let out = selfservice::submit(&g, &a.request).await.unwrap();
    assert_eq!(Status::from_graph(&out.status), Status::Provisioned);
    assert_eq!(out.action, "selfActivate");

    let roles = selfservice::my_roles(&g, &w.clock, &me).await.unwrap();
    assert_eq!(roles.active.len(), 1);
    assert_eq!(roles.active[0].role, "Global Administrator");
    assert_eq!(roles.active[0].assignment_type, Some("activated"));
    assert!(roles.pending.is_empty());
    assert_eq!(roles.active[0].time_left, "2h");
    insta::assert_snapshot!(
        "my_roles_json",
        serde_json::to_string_pretty(&roles).unwrap()
    );
    insta::assert_snapshot!("my_roles_text", selfservice::render_my_roles_text(&roles));
}

#[tokio::test]
async fn what_the_policy_forbids_is_refused_before_anything_is_sent() {
    let w = world().await;
    let g = w.as_user("alice@contoso.com", true);
    let me = whoami(&g).await;
    let t = target(&g, "Global Administrator", "/").await;

    let e =
        selfservice::check_activation(&g, &w.clock, &me, &ask(t.clone(), Some("PT5H"), Some("x")))
            .await
            .unwrap_err();
    assert_eq!(refusal_rules(&e), ["Expiration_EndUser_Assignment"]);
    assert!(
        e.to_string()
            .contains("PT5H is longer than the PT4H the role allows"),
        "{e}"
    );
    assert!(e.to_string().contains("--duration PT4H"), "{e}");

    let e = selfservice::check_activation(&g, &w.clock, &me, &ask(t.clone(), Some("PT1H"), None))
        .await
        .unwrap_err();
    assert_eq!(refusal_rules(&e), ["Enablement_EndUser_Assignment"]);
    assert!(e.to_string().contains("--justification"), "{e}");

    // The sign-in had no MFA, and pim knows it.
    let no_mfa = w.as_user("alice@contoso.com", false);
    let e = selfservice::check_activation(&no_mfa, &w.clock, &me, &ask(t.clone(), None, Some("x")))
        .await
        .unwrap_err();
    assert_eq!(refusal_rules(&e), ["Enablement_EndUser_Assignment"]);
    assert!(e.to_string().contains("multi-factor"), "{e}");

    // Not eligible at all: named with Graph's rule, and what is eligible instead.
    let ga = target(&g, "Privileged Role Administrator", "/").await;
    let e = selfservice::check_activation(&g, &w.clock, &me, &ask(ga, None, Some("x")))
        .await
        .unwrap_err();
    assert_eq!(refusal_rules(&e), ["EligibilityRule"]);
    assert!(
        e.to_string()
            .contains("you may activate: Global Administrator at /, Global Reader at /"),
        "{e}"
    );

    // A ticket, at an administrative unit by name.
    let erin = w.minted(ERIN, false);
    let me_erin = whoami(&erin).await;
    let t = target(
        &erin,
        "Helpdesk Administrator",
        "/administrativeUnits/Paris Office",
    )
    .await;
    assert_eq!(
        t.scope_id,
        "/administrativeUnits/5e1f0000-0000-4000-8000-0000000000b1"
    );
    let e = selfservice::check_activation(
        &erin,
        &w.clock,
        &me_erin,
        &ask(t.clone(), Some("PT1H"), Some("x")),
    )
    .await
    .unwrap_err();
    assert_eq!(refusal_rules(&e), ["Enablement_EndUser_Assignment"]);
    assert!(e.to_string().contains("--ticket SYSTEM:NUMBER"), "{e}");
    assert_eq!(w.requests_sent(), 0, "nothing was POSTed");

    let mut with_ticket = ask(t, Some("PT1H"), Some("x"));
    with_ticket.ticket = Some(Ticket {
        system: Some("ServiceNow".into()),
        number: "INC0042".into(),
    });
    let a = selfservice::check_activation(&erin, &w.clock, &me_erin, &with_ticket)
        .await
        .unwrap();
    let out = selfservice::submit(&erin, &a.request).await.unwrap();
    assert_eq!(out.status, "Provisioned");
    assert_eq!(w.requests_sent(), 1);
}

#[tokio::test]
async fn graph_checks_what_pim_cannot_see_and_its_code_is_reported() {
    // An opaque token: pim cannot tell whether it carries MFA.
    let w = world_with(TokenFormat::Opaque).await;
    let g = w.minted(ALICE, false);
    let me = whoami(&g).await;
    let t = target(&g, "Global Administrator", "/").await;
    let a = selfservice::check_activation(&g, &w.clock, &me, &ask(t, None, Some("x")))
        .await
        .unwrap();
    assert_eq!(
        a.duration.to_string(),
        "PT4H",
        "the role's maximum by default"
    );
    assert!(
        a.notes.iter().any(|n| n.contains("multi-factor")),
        "{:?}",
        a.notes
    );
    let e = selfservice::submit(&g, &a.request).await.unwrap_err();
    assert_eq!(
        e.graph_code(),
        Some("RoleAssignmentRequestPolicyValidationFailed")
    );
    assert!(e.is_refusal());
    assert!(e.to_string().contains("MfaRule"), "{e}");
    assert!(
        e.to_string()
            .contains("hint: sign in again with multi-factor"),
        "{e}"
    );
}

#[tokio::test]
async fn an_activation_needing_approval_is_pending_until_approved() {
    let w = world().await;
    let g = w.as_user("bob@contoso.com", true);
    let me = whoami(&g).await;
    assert_eq!(me.id, BOB);
    let t = target(&g, "Privileged Role Administrator", "/").await;
    let e = selfservice::check_activation(&g, &w.clock, &me, &ask(t.clone(), Some("PT1H"), None))
        .await
        .unwrap_err();
    assert_eq!(refusal_rules(&e), ["Enablement_EndUser_Assignment"]);
    let a = selfservice::check_activation(
        &g,
        &w.clock,
        &me,
        &ask(t.clone(), Some("PT1H"), Some("change 7")),
    )
    .await
    .unwrap();
    assert_eq!(
        a.approvers.as_deref(),
        Some(
            &[
                "PIM Approvers (group)".to_string(),
                "Carol White <carol@contoso.com>".to_string()
            ][..]
        )
    );
    let out = selfservice::submit(&g, &a.request).await.unwrap();
    assert_eq!(Status::from_graph(&out.status), Status::PendingApproval);
    let approval = out.approval_id.clone().unwrap();

    // Asking again while it waits is refused, naming the waiting request.
    let e = selfservice::check_activation(
        &g,
        &w.clock,
        &me,
        &ask(t.clone(), Some("PT1H"), Some("again")),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains(&out.request_id), "{e}");

    let opts = WaitOptions {
        timeout: Duration::from_secs(60),
        interval: Duration::from_secs(10),
    };
    let e = selfservice::wait_until_active(&g, &w.clock, &out, &t, opts)
        .await
        .unwrap_err();
    assert!(
        matches!(e, SelfServiceError::TimedOut { ref status, .. } if status == "PendingApproval"),
        "{e}"
    );
    assert!(e.to_string().contains("after 1m"), "{e}");

    w.emu
        .decide(&approval, Decision::Approve, Some("dave@contoso.com"))
        .unwrap();
    let done = selfservice::wait_until_active(&g, &w.clock, &out, &t, opts)
        .await
        .unwrap();
    assert_eq!(Status::from_graph(&done.status), Status::Provisioned);
    let roles = selfservice::my_roles(&g, &w.clock, &me).await.unwrap();
    assert_eq!(roles.active.len(), 1);
    assert_eq!(roles.active[0].role, "Privileged Role Administrator");

    // A denied request ends the wait.
    w.emu.clock().advance(TimeDelta::minutes(10));
    let d = selfservice::check_deactivation(&g, &w.clock, &me, &t, None)
        .await
        .unwrap();
    selfservice::submit(&g, &d.request).await.unwrap();
    let a = selfservice::check_activation(
        &g,
        &w.clock,
        &me,
        &ask(t.clone(), Some("PT1H"), Some("again")),
    )
    .await
    .unwrap();
    let out = selfservice::submit(&g, &a.request).await.unwrap();
    w.emu
        .decide(&out.request_id, Decision::Deny, Some("carol@contoso.com"))
        .unwrap();
    let e = selfservice::wait_until_active(&g, &w.clock, &out, &t, opts)
        .await
        .unwrap_err();
    assert!(
        matches!(e, SelfServiceError::Ended { ref status, .. } if status == "Denied"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(&format!("pim requests show {}", out.request_id)),
        "{e}"
    );
    // What Graph says of the denial: when, and that it says no more.
    let d = selfservice::show_request(&g, &out.request_id)
        .await
        .unwrap();
    let approval = d.approval.unwrap();
    assert_eq!(approval.state, "denied");
    assert_eq!(approval.decided, Some(w.clock.now()));
    assert!(
        approval
            .notes
            .iter()
            .any(|n| n.contains("does not say who decided")),
        "{:?}",
        approval.notes
    );
}

#[tokio::test]
async fn deactivation_within_five_minutes_is_refused_with_graphs_code() {
    let w = world().await;
    let g = w.as_user("alice@contoso.com", true);
    let me = whoami(&g).await;
    let t = target(&g, "Global Administrator", "/").await;
    let e = selfservice::check_deactivation(&g, &w.clock, &me, &t, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("it is not active"), "{e}");

    let a =
        selfservice::check_activation(&g, &w.clock, &me, &ask(t.clone(), Some("PT1H"), Some("x")))
            .await
            .unwrap();
    selfservice::submit(&g, &a.request).await.unwrap();
    let sent = w.requests_sent();
    // Within the first five minutes: refused before sending, with the time
    // from which it is possible.
    w.emu.clock().advance(TimeDelta::minutes(4));
    let e = selfservice::check_deactivation(&g, &w.clock, &me, &t, None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, SelfServiceError::TooSoon { from, .. } if from == at("2026-12-01T10:05:00Z")),
        "{e}"
    );
    assert!(e.is_refusal());
    assert_eq!(
        e.to_string(),
        "not sent: Global Administrator at /: it was activated at 2026-12-01 10:00:00 UTC and can be ended from 2026-12-01 10:05:00 UTC on (Graph refuses earlier with ActiveDurationTooShort); hint: try again then"
    );
    assert_eq!(w.requests_sent(), sent, "nothing was POSTed");

    // A caller whose clock runs ahead of Graph's gets Graph's own refusal.
    let ahead = EmuClockHandle::fixed(at("2026-12-01T10:06:00Z"));
    let d = selfservice::check_deactivation(&g, &EmuClock(ahead), &me, &t, None)
        .await
        .unwrap();
    assert_eq!(d.activated, Some(at(NOW)));
    let e = selfservice::submit(&g, &d.request).await.unwrap_err();
    assert_eq!(e.graph_code(), Some("ActiveDurationTooShort"));
    assert!(e.is_refusal());
    assert!(e.to_string().contains("5 minutes"), "{e}");

    w.emu.clock().advance(TimeDelta::minutes(2));
    let d = selfservice::check_deactivation(&g, &w.clock, &me, &t, None)
        .await
        .unwrap();
    let out = selfservice::submit(&g, &d.request).await.unwrap();
    assert_eq!(Status::from_graph(&out.status), Status::Revoked);
    let roles = selfservice::my_roles(&g, &w.clock, &me).await.unwrap();
    assert!(roles.active.is_empty());
}

#[tokio::test]
async fn cancel_works_on_a_pending_request_and_not_on_a_provisioned_one() {
    let w = world().await;
    let (bob, pending) = bob_asks_for_privileged_role_administrator(&w).await;
    let before = selfservice::cancel(&bob, &pending.request_id)
        .await
        .unwrap();
    assert_eq!(before.status, "PendingApproval");
    let mine = selfservice::list_requests(&bob, &filter(true, Some("canceled")))
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].role, "Privileged Role Administrator");
    assert_eq!(mine[0].expiration.as_deref(), Some("PT1H"));

    let alice = w.as_user("alice@contoso.com", true);
    let me_alice = whoami(&alice).await;
    let t = target(&alice, "Global Administrator", "/").await;
    let a = selfservice::check_activation(
        &alice,
        &w.clock,
        &me_alice,
        &ask(t, Some("PT1H"), Some("x")),
    )
    .await
    .unwrap();
    let done = selfservice::submit(&alice, &a.request).await.unwrap();
    let e = selfservice::cancel(&alice, &done.request_id)
        .await
        .unwrap_err();
    assert_eq!(e.graph_code(), Some("RequestCannotBeCancelled"));
    assert!(e.to_string().contains("pim deactivate"), "{e}");
    let e = selfservice::cancel(&alice, "00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(matches!(e, SelfServiceError::NoSuchRequest(_)), "{e}");

    let text = selfservice::render_requests_text(
        &selfservice::list_requests(&alice, &filter(true, None))
            .await
            .unwrap(),
    );
    assert!(
        text.contains(
            "user:alice@contoso.com  active  selfActivate  Global Administrator  /      PT1H  Provisioned"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn extension_and_renewal_go_to_the_administrators() {
    let w = world().await;
    let frank = w.minted(FRANK, true);
    let me_frank = whoami(&frank).await;
    let ext =
        |t: Target, kind: Option<AssignmentKind>, justification: Option<&str>| ExtensionRequest {
            target: t,
            kind,
            duration: Some(IsoDuration::days(90)),
            justification: justification.map(str::to_string),
            ticket: None,
        };
    let t = target(&frank, "Security Reader", "/").await;
    let e = selfservice::check_extension(
        &frank,
        &w.clock,
        &me_frank,
        &ext(t.clone(), None, None),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(refusal_rules(&e), ["JustificationRule"]);
    let x = selfservice::check_extension(
        &frank,
        &w.clock,
        &me_frank,
        &ext(t.clone(), None, Some("rota")),
        false,
    )
    .await
    .unwrap();
    assert_eq!(x.request.kind, AssignmentKind::Eligible);
    assert_eq!(x.ends, Some(at("2026-12-06T10:00:00Z")));
    let out = selfservice::submit(&frank, &x.request).await.unwrap();
    assert_eq!(
        Status::from_graph(&out.status),
        Status::PendingAdminDecision
    );
    let e = selfservice::check_extension(
        &frank,
        &w.clock,
        &me_frank,
        &ext(t, None, Some("rota")),
        true,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("has not expired"), "{e}");
    let t = target(&frank, "Reports Reader", "/").await;
    let x = selfservice::check_extension(
        &frank,
        &w.clock,
        &me_frank,
        &ext(t, None, Some("rota")),
        false,
    )
    .await
    .unwrap();
    assert_eq!(x.request.kind, AssignmentKind::Active);

    let grace = w.minted(GRACE, true);
    let me_grace = whoami(&grace).await;
    let t = target(&grace, "Global Reader", "/").await;
    let e = selfservice::check_extension(
        &grace,
        &w.clock,
        &me_grace,
        &ext(t.clone(), None, Some("back")),
        false,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("pim renew"), "{e}");
    let x = selfservice::check_extension(
        &grace,
        &w.clock,
        &me_grace,
        &ext(t, None, Some("back")),
        true,
    )
    .await
    .unwrap();
    let out = selfservice::submit(&grace, &x.request).await.unwrap();
    assert_eq!(out.action, "selfRenew");
    assert_eq!(
        Status::from_graph(&out.status),
        Status::PendingAdminDecision
    );

    let alice = w.minted(ALICE, true);
    let me_alice = whoami(&alice).await;
    let t = target(&alice, "Global Reader", "/").await;
    let e =
        selfservice::check_extension(&alice, &w.clock, &me_alice, &ext(t, None, Some("x")), false)
            .await
            .unwrap_err();
    assert!(e.to_string().contains("does not expire"), "{e}");
}

#[tokio::test]
async fn unknown_roles_and_scopes_are_named() {
    let w = world().await;
    let g = w.minted(ALICE, true);
    let e = selfservice::resolve_target(&g, "Global Adminstrator", "/")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("did you mean Global Administrator"),
        "{e}"
    );
    let e = selfservice::resolve_target(&g, "Global Administrator", "/administrativeUnits/Nowhere")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no administrative unit"), "{e}");
}

fn filter(mine: bool, status: Option<&str>) -> RequestFilter {
    RequestFilter {
        mine,
        status: status.map(str::to_string),
        ..RequestFilter::default()
    }
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn requests_graph_has_purged_are_gone_from_the_list_and_cannot_be_canceled() {
    let w = world().await;
    let (bob, pending) = bob_asks_for_privileged_role_administrator(&w).await;
    assert_eq!(
        selfservice::list_requests(&bob, &filter(true, None))
            .await
            .unwrap()
            .len(),
        1
    );
    // Graph keeps a request about 45 days.
    w.emu.clock().advance(TimeDelta::days(46));
    let rows = selfservice::list_requests(&bob, &filter(true, None))
        .await
        .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    let e = selfservice::cancel(&bob, &pending.request_id)
        .await
        .unwrap_err();
    assert!(matches!(e, SelfServiceError::NoSuchRequest(_)), "{e}");
}

const BOB_DENIED: &str = "8213d958-0000-4000-8000-000000000001";
const BOB_CANCELED: &str = "8213d958-1111-4000-8000-000000000002";
const ERIN_ASSIGNED: &str = "3c9e7d21-0000-4000-8000-000000000003";

#[tokio::test]
async fn one_request_is_shown_in_full_by_its_id_or_the_start_of_it() {
    let w = world_seeded(seed_with_past_requests(), TokenFormat::Jwt).await;
    let bob = w.as_user("bob@contoso.com", true);
    let denied = selfservice::show_request(&bob, "8213d958-0").await.unwrap();
    assert_eq!(denied.request.id, BOB_DENIED);
    insta::assert_snapshot!(
        "request_show_denied_text",
        pim::render::request_detail_text(&denied)
    );
    insta::assert_snapshot!(
        "request_show_denied_json",
        serde_json::to_string_pretty(&denied).unwrap()
    );

    // An eligibility request, made by an administrator, by its whole id.
    let erin = w.as_user("erin@contoso.com", false);
    let assigned = selfservice::show_request(&erin, ERIN_ASSIGNED)
        .await
        .unwrap();
    assert_eq!(assigned.request.kind, AssignmentKind::Eligible);
    assert_eq!(
        assigned.created_by.as_deref(),
        Some("user:dave@contoso.com")
    );
    assert!(assigned.approval.is_none());
    insta::assert_snapshot!(
        "request_show_eligibility_text",
        pim::render::request_detail_text(&assigned)
    );
}

#[tokio::test]
async fn an_ambiguous_prefix_names_its_matches_and_an_unknown_id_is_an_error() {
    let w = world_seeded(seed_with_past_requests(), TokenFormat::Jwt).await;
    let bob = w.as_user("bob@contoso.com", true);
    for (prefix, e) in [
        (
            "8213d958",
            selfservice::show_request(&bob, "8213d958")
                .await
                .unwrap_err(),
        ),
        (
            "8213D958",
            selfservice::cancel(&bob, "8213D958…").await.unwrap_err(),
        ),
    ] {
        assert!(
            matches!(&e, SelfServiceError::AmbiguousRequest { matches, .. } if matches.len() == 2),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "{prefix} starts the ids of 2 requests: {BOB_DENIED} (selfActivate Privileged Role Administrator at /, Denied); \
                 {BOB_CANCELED} (selfActivate Privileged Role Administrator at /, Canceled); hint: give more of the id"
            )
        );
    }
    for id in ["ffff", "00000000-0000-4000-8000-00000000dead", ""] {
        let e = selfservice::show_request(&bob, id).await.unwrap_err();
        assert!(matches!(e, SelfServiceError::NoSuchRequest(_)), "{id}: {e}");
    }
    // Another's request is found by its prefix tenant-wide, when none of
    // the caller's own matches.
    let admin = w.minted(ALICE, true);
    let d = selfservice::show_request(&admin, "3c9e").await.unwrap();
    assert_eq!(d.request.id, ERIN_ASSIGNED);

    // A request still waiting is canceled by the start of its id.
    let (bob, pending) = bob_asks_for_privileged_role_administrator(&w).await;
    let before = selfservice::cancel(&bob, &pending.request_id[..8])
        .await
        .unwrap();
    assert_eq!(before.id, pending.request_id);
    assert_eq!(before.status, "PendingApproval");
}

#[tokio::test]
async fn the_tenants_requests_name_principal_and_kind_and_narrow_by_them() {
    let w = world_seeded(seed_with_past_requests(), TokenFormat::Jwt).await;
    let admin = w.minted(ALICE, true);
    let all = selfservice::list_requests(&admin, &RequestFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    insta::assert_snapshot!(
        "requests_tenant_text",
        selfservice::render_requests_text(&all)
    );

    let ids = |f: RequestFilter| {
        let admin = &admin;
        async move {
            selfservice::list_requests(admin, &f)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    let by = |principal: &str| RequestFilter {
        principal: Some(principal.to_string()),
        ..RequestFilter::default()
    };
    assert_eq!(ids(by("bob@contoso.com")).await, [BOB_DENIED, BOB_CANCELED]);
    assert_eq!(ids(by("user:erin@contoso.com")).await, [ERIN_ASSIGNED]);
    assert_eq!(ids(by(BOB)).await, [BOB_DENIED, BOB_CANCELED]);
    let e = selfservice::list_requests(&admin, &by("nobody@contoso.com"))
        .await
        .unwrap_err();
    assert!(matches!(e, SelfServiceError::UnknownPrincipal(_)), "{e}");
    let kind = RequestFilter {
        kind: Some(AssignmentKind::Eligible),
        ..RequestFilter::default()
    };
    assert_eq!(ids(kind).await, [ERIN_ASSIGNED]);
    let role = RequestFilter {
        role: Some("privileged role administrator".into()),
        status: Some("denied".into()),
        ..RequestFilter::default()
    };
    assert_eq!(ids(role).await, [BOB_DENIED]);
    let since = RequestFilter {
        since: Some(at("2026-11-30T00:00:00Z")),
        ..RequestFilter::default()
    };
    assert_eq!(ids(since).await, [BOB_DENIED]);
}

#[tokio::test]
async fn my_roles_lists_requests_still_waiting_under_their_own_heading() {
    let w = world().await;
    let (bob, pending) = bob_asks_for_privileged_role_administrator(&w).await;
    let me = whoami(&bob).await;
    let roles = selfservice::my_roles(&bob, &w.clock, &me).await.unwrap();
    assert!(roles.active.is_empty());
    assert_eq!(roles.pending.len(), 1);
    assert_eq!(roles.pending[0].id, pending.request_id);
    assert_eq!(roles.pending[0].status, "PendingApproval");
    assert_eq!(roles.pending[0].principal, "user:bob@contoso.com");
    // Ids are random: one of the same length keeps the columns.
    let placeholder =
        |s: String| s.replace(&pending.request_id, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
    insta::assert_snapshot!(
        "my_roles_pending_text",
        placeholder(selfservice::render_my_roles_text(&roles))
    );
    let json = placeholder(serde_json::to_string_pretty(&roles).unwrap());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["pending"][0]["kind"], "active");
    assert_eq!(
        v["pending"][0]["id"],
        "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
    );
    assert_eq!(v["eligible"][0]["assignment_type"], serde_json::Value::Null);
    assert_eq!(v["eligible"][0]["member_type"], "direct");
}

#[tokio::test]
async fn a_scope_is_named_as_people_say_it_or_found_from_what_they_hold() {
    let mut seed = seed();
    // Alice is also eligible for Helpdesk Administrator at two scopes.
    for scope in ["/", "/administrativeUnits/Paris Office"] {
        seed.eligibility_schedules.push(
            serde_json::from_value(serde_json::json!({
                "principal": "user:alice@contoso.com",
                "role": "Helpdesk Administrator",
                "scope": scope,
                "start": "-P1D",
                "end": "+P30D",
            }))
            .unwrap(),
        );
    }
    let w = world_seeded(seed, TokenFormat::Jwt).await;
    let erin = w.minted(ERIN, false);
    let paris = "/administrativeUnits/5e1f0000-0000-4000-8000-0000000000b1";
    for given in [
        "Paris Office",
        "paris office",
        "/administrativeUnits/Paris Office",
        "administrativeUnits/Paris Office",
        "5e1f0000-0000-4000-8000-0000000000b1",
    ] {
        let t = target(&erin, "Helpdesk Administrator", given).await;
        assert_eq!(t.scope_id, paris, "{given}");
        assert_eq!(t.scope_name, "/administrativeUnits/Paris Office", "{given}");
    }
    let e = selfservice::resolve_target(&erin, "Helpdesk Administrator", "Lyon Office")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no administrative unit \"Lyon Office\""),
        "{e}"
    );

    let eligible = Held {
        kind: Some(AssignmentKind::Eligible),
        ended: false,
    };
    let now = w.clock.now();
    let t = selfservice::resolve_held_target(&erin, now, "Helpdesk Administrator", None, eligible)
        .await
        .unwrap();
    assert_eq!(
        t.scope_id, paris,
        "Erin's one eligibility for it is at Paris"
    );
    // Not held at all: the directory, for the checks to explain.
    let t = selfservice::resolve_held_target(&erin, now, "Global Administrator", None, eligible)
        .await
        .unwrap();
    assert_eq!(t.scope_id, "/");

    let alice = w.minted(ALICE, true);
    let e = selfservice::resolve_held_target(&alice, now, "Helpdesk Administrator", None, eligible)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "you hold \"Helpdesk Administrator\" at 2 scopes: /, /administrativeUnits/Paris Office; hint: choose one with --scope"
    );
    let t = selfservice::resolve_held_target(
        &alice,
        now,
        "Helpdesk Administrator",
        Some("Paris Office"),
        eligible,
    )
    .await
    .unwrap();
    assert_eq!(t.scope_id, paris);
}

#[tokio::test]
async fn the_requester_is_not_named_among_the_approvers_of_their_own_activation() {
    let mut seed = seed();
    // Carol approves Privileged Role Administrator and is eligible for it.
    seed.eligibility_schedules.push(
        serde_json::from_value(serde_json::json!({
            "principal": "user:carol@contoso.com",
            "role": "Privileged Role Administrator",
            "start": "-P1D",
            "end": "+P30D",
        }))
        .unwrap(),
    );
    let w = world_seeded(seed, TokenFormat::Jwt).await;
    let carol = w.as_user("carol@contoso.com", true);
    let me = whoami(&carol).await;
    let t = target(&carol, "Privileged Role Administrator", "/").await;
    let a = selfservice::check_activation(&carol, &w.clock, &me, &ask(t, Some("PT1H"), Some("x")))
        .await
        .unwrap();
    assert_eq!(
        a.approvers.as_deref(),
        Some(&["PIM Approvers (group)".to_string()][..])
    );
    assert!(
        a.notes
            .iter()
            .any(|n| n.contains("you are one of the role's approvers")),
        "{:?}",
        a.notes
    );
    let out = selfservice::submit(&carol, &a.request).await.unwrap();
    let d = selfservice::show_request(&carol, &out.request_id)
        .await
        .unwrap();
    let stage = &d.approval.unwrap().stages[0];
    assert_eq!(
        stage.approvers,
        [
            "PIM Approvers (group)",
            "Carol White <carol@contoso.com> (the requester, who cannot approve it)"
        ]
    );
}

// ------------------------------------------------------- Azure resource roles

const SUB: &str = "/subscriptions/11111111-1111-4111-8111-111111111111";
const RG: &str = "/subscriptions/11111111-1111-4111-8111-111111111111/resourcegroups/rg-app";
const MG: &str = "/providers/microsoft.management/managementgroups/contoso";
const BOB_CONTRIBUTOR: &str = "c0000000-0000-4000-8000-000000000001";
const BOB_OWNER_MG: &str = "c0000000-0000-4000-8000-000000000002";

/// The self-service tenant with an Azure section: Bob eligible for
/// Contributor at the subscription (whose policy wants MFA, a
/// justification and a ticket, for at most two hours) and for Owner at the
/// management group above it (whose policy at the resource group wants
/// approval by PIM Approvers).
fn azure_seed() -> Tenant {
    let mut seed = seed();
    seed.azure = Some(
        serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/selfservice/azure.json"
            ))
            .unwrap(),
        )
        .unwrap(),
    );
    seed
}

impl World {
    /// Signed in as a seeded user, with an ARM client sharing the sign-in
    /// (as `pim --as` connects).
    fn as_azure_user(&self, upn: &str, mfa: bool) -> HttpGraph {
        let graph = self.as_user(upn, mfa);
        let settings = ArmSettings::for_emulator(&self.settings(), &Default::default()).unwrap();
        let arm = HttpArm::sharing(settings, &graph).unwrap();
        graph.with_arm(Arc::new(arm))
    }

    /// Azure schedule requests PUT so far.
    fn arm_requests_sent(&self) -> u64 {
        self.emu.stats()["byRoute"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("PUT ") && k.contains("ScheduleRequests"))
                    .filter_map(|(_, v)| v.as_u64())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// What the emulator holds of the Azure activation request `name`.
    fn arm_request(&self, name: &str) -> serde_json::Value {
        self.emu
            .snapshot()
            .azure
            .unwrap()
            .assignment_requests
            .into_iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no Azure request {name}"))
    }
}

fn ticket() -> Ticket {
    Ticket {
        system: Some("ServiceNow".into()),
        number: "CHG0042".into(),
    }
}

#[tokio::test]
async fn an_azure_eligibility_activates_at_its_scope_and_ends_after_five_minutes() {
    let w = world_seeded(azure_seed(), TokenFormat::Jwt).await;
    let g = w.as_azure_user("bob@contoso.com", true);
    let me = whoami(&g).await;
    let t = target(&g, "Contributor", &format!("{SUB}/")).await;
    assert_eq!(t.subject(), format!("Contributor at {SUB}"));
    let mut asked = ask(t.clone(), Some("PT1H"), Some("deploy the payments release"));
    asked.ticket = Some(ticket());
    let a = selfservice::check_activation(&g, &w.clock, &me, &asked)
        .await
        .unwrap();
    assert_eq!(a.approvers, None);
    assert_eq!(
        a.linked_eligibility.as_deref(),
        Some(
            format!(
                "{SUB}/providers/Microsoft.Authorization/roleEligibilitySchedules/{BOB_CONTRIBUTOR}"
            )
            .as_str()
        )
    );
    let out = selfservice::submit_activation(&g, &a).await.unwrap();
    assert_eq!(Status::from_graph(&out.status), Status::Provisioned);
    assert_eq!(out.action, "selfActivate");
    assert_eq!(out.scope_id, SUB);
    let sent = w.arm_request(&out.request_id);
    assert_eq!(
        sent["properties"]["linkedRoleEligibilityScheduleId"],
        BOB_CONTRIBUTOR
    );
    assert_eq!(sent["properties"]["ticketInfo"]["ticketNumber"], "CHG0042");
    assert_eq!(
        sent["properties"]["scheduleInfo"]["expiration"]["duration"],
        "PT1H"
    );

    let roles = selfservice::my_roles(&g, &w.clock, &me).await.unwrap();
    let azure = |list: &[selfservice::HeldRole]| -> Vec<(String, String)> {
        list.iter()
            .filter(|h| h.surface == pim::model::SurfaceKind::AzureRole)
            .map(|h| (h.role.clone(), h.scope.clone()))
            .collect()
    };
    assert_eq!(
        azure(&roles.eligible),
        [
            ("Contributor".to_string(), SUB.to_string()),
            ("Owner".to_string(), MG.to_string())
        ]
    );
    assert_eq!(
        azure(&roles.active),
        [("Contributor".to_string(), SUB.to_string())]
    );
    let active = roles
        .active
        .iter()
        .find(|h| h.surface == pim::model::SurfaceKind::AzureRole)
        .unwrap();
    assert_eq!(active.assignment_type, Some("activated"));
    assert_eq!(active.time_left, "1h");
    let text = selfservice::render_my_roles_text(&roles);
    assert!(
        text.contains(&format!("Contributor  {SUB}")),
        "the scope is shown: {text}"
    );

    // Active already: a second activation is refused before sending.
    let sent = w.arm_requests_sent();
    let e = selfservice::check_activation(&g, &w.clock, &me, &asked)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already active until"), "{e}");

    // Ended early only after its first five minutes.
    let e = selfservice::check_deactivation(&g, &w.clock, &me, &t, None)
        .await
        .unwrap_err();
    assert!(matches!(e, SelfServiceError::TooSoon { .. }), "{e}");
    assert_eq!(w.arm_requests_sent(), sent, "nothing was PUT");
    w.emu.clock().advance(TimeDelta::minutes(6));
    let d = selfservice::check_deactivation(&g, &w.clock, &me, &t, Some("done".into()))
        .await
        .unwrap();
    let out = selfservice::submit(&g, &d.request).await.unwrap();
    assert_eq!(Status::from_graph(&out.status), Status::Revoked);
    assert_eq!(out.action, "selfDeactivate");
    let roles = selfservice::my_roles(&g, &w.clock, &me).await.unwrap();
    assert!(azure(&roles.active).is_empty(), "{:?}", roles.active);
    assert_eq!(azure(&roles.eligible).len(), 2);

    // The administrators are asked to extend the eligibility.
    let x = selfservice::check_extension(
        &g,
        &w.clock,
        &me,
        &ExtensionRequest {
            target: t.clone(),
            kind: None,
            duration: Some("P90D".parse().unwrap()),
            justification: Some("still on the platform team".into()),
            ticket: None,
        },
        false,
    )
    .await
    .unwrap();
    assert_eq!(x.request.kind, AssignmentKind::Eligible);
    let out = selfservice::submit(&g, &x.request).await.unwrap();
    assert_eq!(
        Status::from_graph(&out.status),
        Status::PendingAdminDecision
    );
}

#[tokio::test]
async fn what_an_azure_roles_policy_forbids_is_refused_before_sending() {
    let w = world_seeded(azure_seed(), TokenFormat::Jwt).await;
    let g = w.as_azure_user("bob@contoso.com", false);
    let me = whoami(&g).await;
    let t = target(&g, "Contributor", SUB).await;
    let e = selfservice::check_activation(&g, &w.clock, &me, &ask(t, Some("PT3H"), None))
        .await
        .unwrap_err();
    let mut rules = refusal_rules(&e);
    rules.sort();
    assert_eq!(
        rules,
        [
            "Enablement_EndUser_Assignment",
            "Enablement_EndUser_Assignment",
            "Enablement_EndUser_Assignment",
            "Expiration_EndUser_Assignment"
        ],
        "{e}"
    );
    let said = e.to_string();
    for what in [
        "PT3H is longer than the PT2H the role allows",
        "a justification is required",
        "a ticket is required",
        "multi-factor authentication is required and this sign-in had none",
    ] {
        assert!(said.contains(what), "{what}: {said}");
    }
    assert!(e.is_refusal());

    // A role Bob is not eligible for names those he is.
    let reader = target(&g, "Reader", SUB).await;
    let e = selfservice::check_activation(&g, &w.clock, &me, &ask(reader, None, Some("x")))
        .await
        .unwrap_err();
    assert_eq!(refusal_rules(&e), ["EligibilityRule"]);
    assert!(
        e.to_string().contains(&format!(
            "you may activate: Contributor at {SUB}, Owner at {MG}"
        )),
        "{e}"
    );
    // Nor at the management group above his subscription's eligibility.
    let above = target(&g, "Contributor", MG).await;
    let e = selfservice::check_activation(&g, &w.clock, &me, &ask(above, None, Some("x")))
        .await
        .unwrap_err();
    assert_eq!(refusal_rules(&e), ["EligibilityRule"], "{e}");
    assert_eq!(w.arm_requests_sent(), 0, "nothing was PUT");
}

#[tokio::test]
async fn an_eligibility_inherited_from_a_management_group_activates_below_it_with_approval() {
    let w = world_seeded(azure_seed(), TokenFormat::Jwt).await;
    let g = w.as_azure_user("bob@contoso.com", true);
    let me = whoami(&g).await;
    // Without a scope: the one where Bob holds Owner, the management group.
    let held = Held {
        kind: Some(AssignmentKind::Eligible),
        ended: false,
    };
    let at_mg = selfservice::resolve_held_target(&g, w.clock.now(), "Owner", None, held)
        .await
        .unwrap();
    assert_eq!(at_mg.scope_id, MG);

    let t = target(&g, "Owner", RG).await;
    let a = selfservice::check_activation(
        &g,
        &w.clock,
        &me,
        &ask(t.clone(), Some("PT1H"), Some("hotfix")),
    )
    .await
    .unwrap();
    assert_eq!(a.approvers, Some(vec!["PIM Approvers (group)".to_string()]));
    assert_eq!(
        a.linked_eligibility,
        Some(format!(
            "{MG}/providers/Microsoft.Authorization/roleEligibilitySchedules/{BOB_OWNER_MG}"
        ))
    );
    let out = selfservice::submit_activation(&g, &a).await.unwrap();
    assert_eq!(Status::from_graph(&out.status), Status::PendingApproval);
    assert_eq!(out.scope_id, RG);
    assert_eq!(
        w.arm_request(&out.request_id)["properties"]["linkedRoleEligibilityScheduleId"],
        BOB_OWNER_MG
    );

    // Waiting: listed, refused a second time, shown, then canceled.
    let roles = selfservice::my_roles(&g, &w.clock, &me).await.unwrap();
    assert_eq!(roles.pending.len(), 1, "{:?}", roles.pending);
    assert_eq!(roles.pending[0].id, out.request_id);
    assert_eq!(roles.pending[0].scope, RG);
    assert_eq!(roles.pending[0].role, "Owner");
    let e = selfservice::check_activation(&g, &w.clock, &me, &ask(t, Some("PT1H"), Some("again")))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("already waiting for approval"),
        "{e}"
    );
    let mine = selfservice::list_requests(&g, &filter(true, Some("PendingApproval")))
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].surface, pim::model::SurfaceKind::AzureRole);

    let shown = selfservice::show_request(&g, &out.request_id[..8])
        .await
        .unwrap();
    assert_eq!(shown.request.id, out.request_id);
    let approval = shown.approval.expect("an approval");
    assert_eq!(approval.state, "waiting");
    assert_eq!(approval.stages[0].approvers, ["PIM Approvers (group)"]);

    let before = selfservice::cancel(&g, &out.request_id).await.unwrap();
    assert_eq!(before.status, "PendingApproval");
    assert_eq!(
        w.arm_request(&out.request_id)["properties"]["status"],
        "Canceled"
    );
    // ARM's full id names the same request.
    let full = format!(
        "{RG}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{}",
        out.request_id
    );
    let again = selfservice::show_request(&g, &full).await.unwrap();
    assert_eq!(again.request.status, "Canceled");
    let e = selfservice::cancel(&g, &full).await.unwrap_err();
    assert!(e.is_refusal(), "{e}");
}

#[tokio::test]
async fn an_emulator_users_arm_client_signs_in_for_arm_not_graph() {
    let w = world_seeded(azure_seed(), TokenFormat::Jwt).await;
    let g = w.as_azure_user("bob@contoso.com", true);
    let listed = g
        .arm()
        .unwrap()
        .my_instances(AssignmentKind::Eligible, None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    // The same user with a Graph token: ARM refuses its audience.
    let settings = ArmSettings::for_emulator(&w.settings(), &Default::default()).unwrap();
    let graph_token = w.emu.mint_token(BOB, true);
    let wrong = HttpArm::with_token_source(settings, Arc::new(StaticToken(graph_token))).unwrap();
    let e = wrong
        .my_instances(AssignmentKind::Eligible, None)
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(401), "{e}");
}

#[tokio::test]
async fn an_approver_decides_an_azure_activation_through_the_preview_approvals_api() {
    let w = world_seeded(azure_seed(), TokenFormat::Jwt).await;
    let bob = w.as_azure_user("bob@contoso.com", true);
    let me_bob = whoami(&bob).await;
    let t = target(&bob, "Owner", RG).await;
    let a = selfservice::check_activation(
        &bob,
        &w.clock,
        &me_bob,
        &ask(t.clone(), Some("PT1H"), Some("hotfix")),
    )
    .await
    .unwrap();
    let pending = selfservice::submit_activation(&bob, &a).await.unwrap();
    assert_eq!(Status::from_graph(&pending.status), Status::PendingApproval);

    // Dave is in PIM Approvers. Azure approvals are read only when asked.
    let dave = w.as_azure_user("dave@contoso.com", true);
    let azure = selfservice::ApprovalSources { azure: true };
    assert!(selfservice::waiting(&dave).await.unwrap().is_empty());
    let rows = selfservice::waiting_in(&dave, azure).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].id, pending.request_id);
    assert_eq!(rows[0].principal, "user:bob@contoso.com");
    assert_eq!(rows[0].scope, RG);
    // Not Bob's to decide, nor to see as an approver.
    assert!(
        selfservice::waiting_in(&bob, azure)
            .await
            .unwrap()
            .is_empty()
    );
    let e = selfservice::decide_in(&bob, &pending.request_id, true, "self", azure)
        .await
        .unwrap_err();
    assert!(matches!(e, SelfServiceError::NotWaitingForYou(_)), "{e}");

    let decided = selfservice::decide_in(&dave, &pending.request_id[..8], true, "on call", azure)
        .await
        .unwrap();
    assert_eq!(decided.id, pending.request_id);
    // Bob's --wait sees it in effect.
    let done = selfservice::wait_until_active(
        &bob,
        &w.clock,
        &pending,
        &t,
        WaitOptions {
            timeout: Duration::from_secs(60),
            interval: Duration::from_secs(5),
        },
    )
    .await
    .unwrap();
    assert_eq!(Status::from_graph(&done.status), Status::Provisioned);
    let request = w.arm_request(&pending.request_id);
    assert_eq!(request["properties"]["status"], "Provisioned");
    assert_eq!(request["review"]["reviewResult"], "Approve");
    assert_eq!(request["review"]["justification"], "on call");
    let roles = selfservice::my_roles(&bob, &w.clock, &me_bob)
        .await
        .unwrap();
    assert!(
        roles
            .active
            .iter()
            .any(|h| h.role == "Owner" && h.scope == RG && h.assignment_type == Some("activated")),
        "{:?}",
        roles.active
    );
    assert!(roles.pending.is_empty(), "{:?}", roles.pending);
    // Decided: nothing waits any more.
    let e = selfservice::decide_in(&dave, &pending.request_id, false, "late", azure)
        .await
        .unwrap_err();
    assert!(matches!(e, SelfServiceError::NotWaitingForYou(_)), "{e}");
}

#[tokio::test]
async fn an_azure_role_needs_an_arm_scope_and_an_arm_client() {
    let w = world().await;
    let g = w.as_user("bob@contoso.com", true);
    let e = selfservice::resolve_target(&g, "Owner", "/")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("\"Owner\" is an Azure role, and you hold it at no Azure scope now"),
        "{e}"
    );
    // No ARM client beside this Graph one: said, not guessed.
    let held = Held {
        kind: Some(AssignmentKind::Eligible),
        ended: false,
    };
    let e = selfservice::resolve_held_target(&g, w.clock.now(), "Contributor", None, held)
        .await
        .unwrap_err();
    assert!(matches!(e, SelfServiceError::NoArm), "{e}");
    let t = selfservice::resolve_azure_target("Contributor", SUB).unwrap();
    let me = whoami(&g).await;
    let e = selfservice::check_activation(&g, &w.clock, &me, &ask(t, None, Some("x")))
        .await
        .unwrap_err();
    assert!(matches!(e, SelfServiceError::NoArm), "{e}");
    // Directory roles are listed as before.
    assert!(selfservice::my_roles(&g, &w.clock, &me).await.is_ok());
}

/// ARM as it might be: refusing the caller's active instances without a
/// scope, answering everything else as the emulator does.
struct NoTenantWideActive(HttpArm);

#[async_trait::async_trait]
impl pim::arm::Arm for NoTenantWideActive {
    async fn schedules(
        &self,
        kind: AssignmentKind,
        scope: &str,
    ) -> Result<Vec<pim::arm::ArmSchedule>, pim::graph::GraphError> {
        self.0.schedules(kind, scope).await
    }
    async fn my_instances(
        &self,
        kind: AssignmentKind,
        scope: Option<&str>,
    ) -> Result<Vec<pim::arm::ArmSchedule>, pim::graph::GraphError> {
        if kind == AssignmentKind::Active && scope.is_none() {
            return Err(pim::graph::GraphError::from_status(
                "GET /providers/Microsoft.Authorization/roleAssignmentScheduleInstances",
                400,
                "InvalidFilter".into(),
                "The filter 'asTarget()' is not supported at this scope.".into(),
                None,
            ));
        }
        self.0.my_instances(kind, scope).await
    }
    async fn my_requests(
        &self,
        kind: AssignmentKind,
        scope: &str,
        party: pim::graph::RequestParty,
    ) -> Result<Vec<pim::arm::ArmRequestOutcome>, pim::graph::GraphError> {
        self.0.my_requests(kind, scope, party).await
    }
    async fn role_definitions(
        &self,
        scope: &str,
        role_name: &str,
    ) -> Result<Vec<pim::arm::ArmRoleDefinition>, pim::graph::GraphError> {
        self.0.role_definitions(scope, role_name).await
    }
    async fn policies(
        &self,
        scope: &str,
    ) -> Result<Vec<pim::arm::ArmPolicy>, pim::graph::GraphError> {
        self.0.policies(scope).await
    }
    async fn policy_for_role(
        &self,
        scope: &str,
        role_definition_id: &str,
    ) -> Result<Option<pim::arm::ArmPolicy>, pim::graph::GraphError> {
        self.0.policy_for_role(scope, role_definition_id).await
    }
    async fn policy(&self, policy_id: &str) -> Result<pim::arm::ArmPolicy, pim::graph::GraphError> {
        self.0.policy(policy_id).await
    }
    async fn update_policy(
        &self,
        policy_id: &str,
        rules: &pim::model::RuleSet,
    ) -> Result<pim::arm::ArmPolicy, pim::graph::GraphError> {
        self.0.update_policy(policy_id, rules).await
    }
    async fn create_request(
        &self,
        request: &pim::arm::ArmRequest,
    ) -> Result<pim::arm::ArmRequestOutcome, pim::graph::GraphError> {
        self.0.create_request(request).await
    }
    async fn get_request(
        &self,
        kind: AssignmentKind,
        scope: &str,
        name: &str,
    ) -> Result<pim::arm::ArmRequestOutcome, pim::graph::GraphError> {
        self.0.get_request(kind, scope, name).await
    }
    async fn cancel_request(
        &self,
        kind: AssignmentKind,
        scope: &str,
        name: &str,
    ) -> Result<(), pim::graph::GraphError> {
        self.0.cancel_request(kind, scope, name).await
    }
}

#[tokio::test]
async fn active_azure_roles_are_found_at_the_eligibilities_scopes_when_arm_wants_a_scope() {
    let w = world_seeded(azure_seed(), TokenFormat::Jwt).await;
    let g = w.as_azure_user("bob@contoso.com", true);
    let me = whoami(&g).await;
    // An activation at the subscription, from the management group's
    // eligibility: listed there when asked at the management group.
    let t = target(&g, "Owner", SUB).await;
    let a = selfservice::check_activation(&g, &w.clock, &me, &ask(t, Some("PT1H"), Some("x")))
        .await
        .unwrap();
    selfservice::submit_activation(&g, &a).await.unwrap();

    let picky = w.as_user("bob@contoso.com", true);
    let settings = ArmSettings::for_emulator(&w.settings(), &Default::default()).unwrap();
    let arm = HttpArm::sharing(settings, &picky).unwrap();
    let picky = picky.with_arm(Arc::new(NoTenantWideActive(arm)));
    let roles = selfservice::my_roles(&picky, &w.clock, &me).await.unwrap();
    let active: Vec<(&str, &str, &str)> = roles
        .active
        .iter()
        .filter(|h| h.surface == pim::model::SurfaceKind::AzureRole)
        .map(|h| (h.role.as_str(), h.scope.as_str(), h.member_type))
        .collect();
    assert_eq!(active, [("Owner", SUB, "direct")], "{:?}", roles.active);
}
