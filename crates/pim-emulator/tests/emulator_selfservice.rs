//! The emulator's self-service side over HTTP: the emulator-only user sign-in,
//! `/me`, `selfActivate` / `selfDeactivate` / `selfExtend` / `selfRenew`
//! with Graph's rules, approvals, cancel, and `filterByCurrentUser`.

mod emulator_common;

use chrono::TimeDelta;
use emulator_common::{Harness, Reply, assert_graph_error};
use pim_emulator::{Decision, Tenant, USER_GRANT};
use serde_json::{Value, json};

const ALICE: &str = "5e1f0000-0000-4000-8000-000000000001";
const BOB: &str = "5e1f0000-0000-4000-8000-000000000002";
const CAROL: &str = "5e1f0000-0000-4000-8000-000000000003";
const DAVE: &str = "5e1f0000-0000-4000-8000-000000000004";
const ERIN: &str = "5e1f0000-0000-4000-8000-000000000005";
const FRANK: &str = "5e1f0000-0000-4000-8000-000000000006";
const GRACE: &str = "5e1f0000-0000-4000-8000-000000000007";
const HEIDI: &str = "5e1f0000-0000-4000-8000-000000000008";
const GA: &str = "62e90394-69f5-4237-9190-012177145e10";
const PRA: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
const SECURITY_READER: &str = "5d6b6bb7-de71-4623-b4af-96380a352509";
const GLOBAL_READER: &str = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
const PARIS: &str = "/administrativeUnits/5e1f0000-0000-4000-8000-0000000000b1";
const NOW: &str = "2026-12-01T10:00:00Z";
const ASSIGN: &str = "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests";
const ELIGIBLE: &str = "/v1.0/roleManagement/directory/roleEligibilityScheduleRequests";

async fn harness() -> Harness {
    // The self-service seed is pim's, shared with its own self-service tests.
    let seed = Tenant::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/selfservice/tenant.json"
    ))
    .unwrap();
    Harness::with_seed(seed, NOW).await
}

fn activation(principal: &str, role: &str, duration: &str) -> Value {
    json!({
        "action": "selfActivate", "principalId": principal, "roleDefinitionId": role,
        "directoryScopeId": "/", "justification": "incident 42",
        "scheduleInfo": { "startDateTime": NOW, "expiration": { "type": "AfterDuration", "duration": duration } },
    })
}

fn about(action: &str, principal: &str, role: &str) -> Value {
    json!({ "action": action, "principalId": principal, "roleDefinitionId": role, "directoryScopeId": "/" })
}

async fn post_as(h: &Harness, token: &str, path: &str, body: &Value) -> Reply {
    h.call_as(Some(token), "POST", path, Some(body)).await
}

async fn get_as(h: &Harness, token: &str, path: &str) -> Reply {
    h.call_as(Some(token), "GET", path, None).await
}

async fn my_active(h: &Harness, token: &str) -> Vec<Value> {
    let r = get_as(
        h,
        token,
        "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances/filterByCurrentUser(on='principal')",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["value"].as_array().unwrap().clone()
}

async fn approve(h: &Harness, id: &str, result: &str, approver: Option<&str>) -> Reply {
    let mut body = json!({ "id": id, "reviewResult": result });
    if let Some(a) = approver {
        body["approver"] = json!(a);
    }
    h.call_as(None, "POST", "/_emulator/approve", Some(&body))
        .await
}

fn failed_rules(r: &Reply) -> String {
    assert_graph_error(r, 400, "RoleAssignmentRequestPolicyValidationFailed")
}

#[tokio::test]
async fn seeded_users_sign_in_with_the_emulator_grant() {
    let h = harness().await;
    let url = format!("{}/contoso.com/oauth2/v2.0/token", h.emu.base_url());
    let token = |form: Vec<(&'static str, &'static str)>| {
        let (http, url) = (h.http.clone(), url.clone());
        async move {
            let r = http.post(url).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = token(vec![
        ("grant_type", USER_GRANT),
        ("username", "alice@contoso.com"),
        ("mfa", "true"),
    ])
    .await;
    assert_eq!(status, 200, "{body}");
    let alice = body["access_token"].as_str().unwrap().to_string();
    let me = get_as(&h, &alice, "/v1.0/me?$select=id,userPrincipalName").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["id"], ALICE);
    assert_eq!(me.body["userPrincipalName"], "alice@contoso.com");
    assert!(me.body.get("displayName").is_none(), "$select applies");

    let (status, body) = token(vec![
        ("grant_type", USER_GRANT),
        ("username", "nobody@contoso.com"),
    ])
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"], json!([50034]));
    let (_, body) = token(vec![
        ("grant_type", USER_GRANT),
        ("username", "ivan@contoso.com"),
    ])
    .await;
    assert_eq!(
        body["error_codes"],
        json!([50057]),
        "disabled accounts cannot sign in"
    );

    // An application has no "me".
    let (_, body) = token(vec![
        ("grant_type", "client_credentials"),
        ("client_id", "pim"),
        ("client_secret", "x"),
    ])
    .await;
    let app = body["access_token"].as_str().unwrap();
    let r = get_as(&h, app, "/v1.0/me").await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("delegated"));
}

#[tokio::test]
async fn activation_follows_eligibility_and_the_end_user_rules() {
    let h = harness().await;
    let alice_no_mfa = h.emu.mint_token(ALICE, false);
    let alice = h.emu.mint_token(ALICE, true);
    let heidi = h.emu.mint_token(HEIDI, true);

    // Beyond the PT4H maximum, and without MFA: both rules, in Graph's order.
    let r = post_as(&h, &alice_no_mfa, ASSIGN, &activation(ALICE, GA, "PT5H")).await;
    assert_eq!(
        failed_rules(&r),
        r#"The following policy rules failed: ["ExpirationRule","MfaRule"]"#
    );
    let mut no_reason = activation(ALICE, GA, "PT2H");
    no_reason["justification"] = Value::Null;
    let r = post_as(&h, &alice, ASSIGN, &no_reason).await;
    assert!(failed_rules(&r).contains(r#"["JustificationRule"]"#));
    let mut permanent = activation(ALICE, GA, "PT2H");
    permanent["scheduleInfo"]["expiration"] = json!({ "type": "NoExpiration" });
    let r = post_as(&h, &alice, ASSIGN, &permanent).await;
    assert!(
        failed_rules(&r).contains("ExpirationRule"),
        "activations always end"
    );
    // Not eligible.
    let r = post_as(&h, &heidi, ASSIGN, &activation(HEIDI, GA, "PT1H")).await;
    assert!(failed_rules(&r).contains(r#"["EligibilityRule"]"#));
    // For someone else, or on the eligibility endpoint.
    let r = post_as(&h, &alice, ASSIGN, &activation(BOB, PRA, "PT1H")).await;
    assert_graph_error(&r, 403, "Authorization_RequestDenied");
    let r = post_as(&h, &alice, ELIGIBLE, &activation(ALICE, GA, "PT1H")).await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("roleAssignmentScheduleRequests"));
    // Validation only: the answer, nothing kept.
    let mut check = activation(ALICE, GA, "PT2H");
    check["isValidationOnly"] = json!(true);
    let r = post_as(&h, &alice, ASSIGN, &check).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(my_active(&h, &alice).await.is_empty());

    let r = post_as(&h, &alice, ASSIGN, &activation(ALICE, GA, "PT2H")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "Provisioned");
    assert_eq!(r.body["action"], "selfActivate");
    assert_eq!(r.body["createdBy"]["user"]["id"], ALICE);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["targetScheduleId"], id.as_str());
    let active = my_active(&h, &alice).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["assignmentType"], "Activated");
    assert_eq!(active[0]["endDateTime"], "2026-12-01T12:00:00Z");
    let s = get_as(
        &h,
        &alice,
        &format!(
            "/v1.0/roleManagement/directory/roleAssignmentSchedules/{id}?$expand=activatedUsing"
        ),
    )
    .await;
    assert_eq!(s.body["assignmentType"], "Activated");
    assert_eq!(
        s.body["activatedUsing"]["id"], "5e1fe000-0000-4000-8000-000000000001",
        "{}",
        s.body
    );
    let r = post_as(&h, &alice, ASSIGN, &activation(ALICE, GA, "PT1H")).await;
    assert_graph_error(&r, 400, "RoleAssignmentExists");

    // Ticketing and a scoped eligibility.
    let erin = h.emu.mint_token(ERIN, false);
    let mut scoped = activation(ERIN, HELPDESK, "PT1H");
    scoped["directoryScopeId"] = json!(PARIS);
    let r = post_as(&h, &erin, ASSIGN, &scoped).await;
    assert!(failed_rules(&r).contains(r#"["TicketingRule"]"#));
    scoped["ticketInfo"] = json!({ "ticketSystem": "ServiceNow", "ticketNumber": "INC0042" });
    let r = post_as(&h, &erin, ASSIGN, &scoped).await;
    assert_eq!(r.body["status"], "Provisioned", "{}", r.body);
    assert_eq!(r.body["ticketInfo"]["ticketNumber"], "INC0042");
    scoped["directoryScopeId"] = json!("/");
    let r = post_as(&h, &erin, ASSIGN, &scoped).await;
    assert!(
        failed_rules(&r).contains("EligibilityRule"),
        "eligible at the AU only"
    );

    // Only the caller's own grants, with their function-result type.
    let mine = get_as(
        &h,
        &alice,
        "/v1.0/roleManagement/directory/roleEligibilitySchedules/filterByCurrentUser(on='principal')",
    )
    .await;
    let list = mine.body["value"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|s| s["principalId"] == ALICE));
    assert_eq!(
        list[0]["@odata.type"],
        "#microsoft.graph.unifiedRoleEligibilitySchedule"
    );
}

#[tokio::test]
async fn deactivation_waits_out_the_five_minute_rule() {
    let h = harness().await;
    let alice = h.emu.mint_token(ALICE, true);
    let r = post_as(&h, &alice, ASSIGN, &activation(ALICE, GA, "PT2H")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = post_as(&h, &alice, ASSIGN, &about("selfDeactivate", ALICE, GA)).await;
    let msg = assert_graph_error(&r, 400, "ActiveDurationTooShort");
    assert!(msg.contains("5 minutes"), "{msg}");
    assert_eq!(my_active(&h, &alice).await.len(), 1);

    h.emu.clock().advance(TimeDelta::minutes(6));
    let r = post_as(&h, &alice, ASSIGN, &about("selfDeactivate", ALICE, GA)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "Revoked");
    assert_eq!(r.body["targetScheduleId"], Value::Null);
    assert!(my_active(&h, &alice).await.is_empty());
    let r = post_as(&h, &alice, ASSIGN, &about("selfDeactivate", ALICE, GA)).await;
    assert_graph_error(&r, 400, "RoleAssignmentDoesNotExist");
}

#[tokio::test]
async fn activation_needing_approval_waits_for_an_approver() {
    let h = harness().await;
    let bob = h.emu.mint_token(BOB, true);
    let r = post_as(&h, &bob, ASSIGN, &activation(BOB, PRA, "PT1H")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "PendingApproval");
    assert_eq!(r.body["completedDateTime"], Value::Null);
    let approval = r.body["approvalId"].as_str().unwrap().to_string();
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(my_active(&h, &bob).await.is_empty());
    let r = post_as(&h, &bob, ASSIGN, &activation(BOB, PRA, "PT1H")).await;
    assert_graph_error(&r, 400, "PendingRoleAssignmentRequest");

    // Dave approves as a member of the approver group; Carol by name.
    let waiting = |token: String| {
        let h = &h;
        async move {
            get_as(
                h,
                &token,
                "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests/filterByCurrentUser(on='approver')",
            )
            .await
            .body["value"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(waiting(h.emu.mint_token(DAVE, true)).await, 1);
    assert_eq!(waiting(h.emu.mint_token(CAROL, true)).await, 1);
    assert_eq!(waiting(h.emu.mint_token(ALICE, true)).await, 0);
    assert_eq!(waiting(bob.clone()).await, 0, "not one's own");

    let r = approve(&h, &approval, "Approve", Some("alice@contoso.com")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = approve(&h, &approval, "Approve", Some("bob@contoso.com")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = approve(&h, &approval, "Approve", Some("dave@contoso.com")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "Provisioned");
    let got = get_as(&h, &bob, &format!("{ASSIGN}/{id}")).await;
    assert_eq!(got.body["status"], "Provisioned");
    let active = my_active(&h, &bob).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["assignmentType"], "Activated");
    let r = approve(&h, &approval, "Approve", None).await;
    assert_graph_error(&r, 400, "BadRequest");

    // A denied request ends there, and cannot be canceled any more.
    h.emu.clock().advance(TimeDelta::minutes(10));
    let r = post_as(&h, &bob, ASSIGN, &about("selfDeactivate", BOB, PRA)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = post_as(&h, &bob, ASSIGN, &activation(BOB, PRA, "PT1H")).await;
    let second = r.body["id"].as_str().unwrap().to_string();
    let denied = h
        .emu
        .decide(&second, Decision::Deny, Some("carol@contoso.com"))
        .unwrap();
    assert_eq!(denied["status"], "Denied");
    assert!(my_active(&h, &bob).await.is_empty());
    let r = post_as(&h, &bob, &format!("{ASSIGN}/{second}/cancel"), &Value::Null).await;
    assert_graph_error(&r, 400, "RequestCannotBeCancelled");
}

#[tokio::test]
async fn only_waiting_requests_can_be_canceled() {
    let h = harness().await;
    let bob = h.emu.mint_token(BOB, true);
    let r = post_as(&h, &bob, ASSIGN, &activation(BOB, PRA, "PT1H")).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = h
        .call_as(Some(&bob), "POST", &format!("{ASSIGN}/{id}/cancel"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = get_as(&h, &bob, &format!("{ASSIGN}/{id}")).await;
    assert_eq!(got.body["status"], "Canceled");
    let r = approve(&h, &id, "Approve", None).await;
    assert_eq!(
        r.status, 400,
        "a canceled request is not decided: {}",
        r.body
    );

    let alice = h.emu.mint_token(ALICE, true);
    let r = post_as(&h, &alice, ASSIGN, &activation(ALICE, GA, "PT1H")).await;
    let provisioned = r.body["id"].as_str().unwrap().to_string();
    let r = h
        .call_as(
            Some(&alice),
            "POST",
            &format!("{ASSIGN}/{provisioned}/cancel"),
            None,
        )
        .await;
    let msg = assert_graph_error(&r, 400, "RequestCannotBeCancelled");
    assert_eq!(msg, "Request is not in cancellable state.");
    assert_eq!(my_active(&h, &alice).await.len(), 1);
}

#[tokio::test]
async fn extension_and_renewal_wait_for_an_administrator() {
    let h = harness().await;
    let frank = h.emu.mint_token(FRANK, true);
    let extend = |action: &str, principal: &str, role: &str, duration: &str| {
        let mut b = about(action, principal, role);
        b["justification"] = json!("still on the rota");
        b["scheduleInfo"] = json!({ "startDateTime": NOW, "expiration": { "type": "AfterDuration", "duration": duration } });
        b
    };
    let mut bare = extend("selfExtend", FRANK, SECURITY_READER, "P90D");
    bare["justification"] = Value::Null;
    let r = post_as(&h, &frank, ELIGIBLE, &bare).await;
    assert!(failed_rules(&r).contains(r#"["JustificationRule"]"#));
    let r = post_as(
        &h,
        &frank,
        ELIGIBLE,
        &extend("selfExtend", FRANK, SECURITY_READER, "P90D"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "PendingAdminDecision");
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = post_as(
        &h,
        &frank,
        ELIGIBLE,
        &extend("selfExtend", FRANK, SECURITY_READER, "P90D"),
    )
    .await;
    assert_graph_error(&r, 400, "PendingRoleAssignmentRequest");
    let decided = h
        .emu
        .decide(&id, Decision::Approve, Some("dave@contoso.com"))
        .unwrap();
    assert_eq!(decided["status"], "Provisioned");
    let s = get_as(
        &h,
        &frank,
        "/v1.0/roleManagement/directory/roleEligibilitySchedules/filterByCurrentUser(on='principal')",
    )
    .await;
    let schedule = &s.body["value"][0];
    assert_eq!(
        schedule["id"],
        id.as_str(),
        "the extension replaced the schedule"
    );
    assert_eq!(schedule["scheduleInfo"]["expiration"]["duration"], "P90D");

    // An active assignment is extended on the assignment endpoint.
    let r = post_as(
        &h,
        &frank,
        ASSIGN,
        &extend(
            "selfExtend",
            FRANK,
            "4a5d8f65-41da-4de4-8968-e035b65339cf",
            "P30D",
        ),
    )
    .await;
    assert_eq!(r.body["status"], "PendingAdminDecision", "{}", r.body);

    // Grace's eligibility has ended: renew it, extending is too late.
    let grace = h.emu.mint_token(GRACE, true);
    let r = post_as(
        &h,
        &grace,
        ELIGIBLE,
        &extend("selfExtend", GRACE, GLOBAL_READER, "P90D"),
    )
    .await;
    assert_graph_error(&r, 400, "RoleAssignmentDoesNotExist");
    let r = post_as(
        &h,
        &grace,
        ELIGIBLE,
        &extend("selfRenew", GRACE, GLOBAL_READER, "P90D"),
    )
    .await;
    assert_eq!(r.body["status"], "PendingAdminDecision", "{}", r.body);
    let renewal = r.body["approvalId"].as_str().unwrap().to_string();
    let r = approve(&h, &renewal, "Approve", Some("dave@contoso.com")).await;
    assert_eq!(r.body["status"], "Provisioned", "{}", r.body);
    let inst = get_as(
        &h,
        &grace,
        "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances/filterByCurrentUser(on='principal')",
    )
    .await;
    assert_eq!(inst.body["value"].as_array().unwrap().len(), 1);

    // A permanent eligibility has nothing to extend.
    let alice = h.emu.mint_token(ALICE, true);
    let r = post_as(
        &h,
        &alice,
        ELIGIBLE,
        &extend("selfExtend", ALICE, GLOBAL_READER, "P90D"),
    )
    .await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("does not expire"));
}

#[tokio::test]
async fn requests_are_read_back_by_id_in_their_own_collection_and_by_principal_and_role() {
    let h = harness().await;
    let bob = h.emu.mint_token(BOB, true);
    let r = post_as(&h, &bob, ASSIGN, &activation(BOB, PRA, "PT1H")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();

    // `pim requests show` tries one collection, then the other.
    let got = get_as(&h, &bob, &format!("{ASSIGN}/{id}")).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let r = get_as(&h, &bob, &format!("{ELIGIBLE}/{id}")).await;
    assert_graph_error(&r, 404, "RoleAssignmentRequestNotFound");

    // The tenant-wide list narrowed by principal and role.
    let alice = h.emu.mint_token(ALICE, true);
    let listed = |filter: String| {
        let (h, alice) = (&h, alice.clone());
        async move {
            let r = get_as(h, &alice, &format!("{ASSIGN}?$filter={filter}")).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["value"].as_array().unwrap().len()
        }
    };
    assert_eq!(
        listed(format!(
            "principalId eq '{BOB}' and roleDefinitionId eq '{PRA}'"
        ))
        .await,
        1
    );
    assert_eq!(listed(format!("principalId eq '{ALICE}'")).await, 0);

    // A denial is the status and when: Graph v1.0 keeps no reviewer on the
    // request of a directory role.
    h.emu.clock().advance(TimeDelta::minutes(3));
    h.emu
        .decide(&id, Decision::Deny, Some("carol@contoso.com"))
        .unwrap();
    let got = get_as(&h, &bob, &format!("{ASSIGN}/{id}")).await;
    assert_eq!(got.body["status"], "Denied");
    assert_eq!(got.body["completedDateTime"], "2026-12-01T10:03:00Z");
    assert!(got.body["approvalId"].is_string(), "{}", got.body);
    assert!(got.body.get("reviewedBy").is_none(), "{}", got.body);
}
