//! Self-service through the library against the in-process emulator, with
//! the emulator's fixed clock as the caller's: activation (checked before
//! sending, pending approval, waiting), deactivation and the five-minute
//! rule, extension and renewal, `my roles`, requests and cancel.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use pim::emulator::{
    Decision, Emulator, EmulatorClock as EmuClockHandle, EmulatorConfig, Tenant, TokenFormat,
};
use pim::graph::{Graph, GraphSettings, HttpGraph, Me, StaticToken, Timer};
use pim::model::{AssignmentKind, Clock, IsoDuration, Ticket};
use pim::selfservice::{
    self, ActivationRequest, ExtensionRequest, SelfServiceError, Status, Target, WaitOptions,
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

async fn world_with(token_format: TokenFormat) -> World {
    let seed = Tenant::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/selfservice/tenant.json"
    ))
    .unwrap();
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
    assert_eq!(roles.active[0].assignment, "activated");
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
    let d = selfservice::check_deactivation(&g, &me, &t, None)
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
}

#[tokio::test]
async fn deactivation_within_five_minutes_is_refused_with_graphs_code() {
    let w = world().await;
    let g = w.as_user("alice@contoso.com", true);
    let me = whoami(&g).await;
    let t = target(&g, "Global Administrator", "/").await;
    let e = selfservice::check_deactivation(&g, &me, &t, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("it is not active"), "{e}");

    let a =
        selfservice::check_activation(&g, &w.clock, &me, &ask(t.clone(), Some("PT1H"), Some("x")))
            .await
            .unwrap();
    selfservice::submit(&g, &a.request).await.unwrap();
    let d = selfservice::check_deactivation(&g, &me, &t, None)
        .await
        .unwrap();
    assert_eq!(d.activated, Some(at(NOW)));
    let e = selfservice::submit(&g, &d.request).await.unwrap_err();
    assert_eq!(e.graph_code(), Some("ActiveDurationTooShort"));
    assert!(e.is_refusal());
    assert!(e.to_string().contains("5 minutes"), "{e}");

    w.emu.clock().advance(TimeDelta::minutes(6));
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
    let mine = selfservice::list_requests(&bob, true, Some("canceled"))
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
        &selfservice::list_requests(&alice, true, None)
            .await
            .unwrap(),
    );
    assert!(
        text.contains("selfActivate  Global Administrator  /      PT1H  Provisioned"),
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
        selfservice::list_requests(&bob, true, None)
            .await
            .unwrap()
            .len(),
        1
    );
    // Graph keeps a request about 45 days.
    w.emu.clock().advance(TimeDelta::days(46));
    let rows = selfservice::list_requests(&bob, true, None).await.unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    let e = selfservice::cancel(&bob, &pending.request_id)
        .await
        .unwrap_err();
    assert!(matches!(e, SelfServiceError::NoSuchRequest(_)), "{e}");
}
