//! End-to-end tests of the emulator over HTTP: auth, PIM request semantics,
//! policy enforcement, rules, OData, paging, `$batch`, faults, persistence
//! and the seed format. Time is fixed with `Clock::fixed`; faults are seeded.

mod emulator_common;

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use emulator_common::{Harness, assert_graph_error, at, fixture_path};
use pim_emulator::{Clock, EmulatorConfig, Faults, Tenant, TokenFormat};
use serde_json::{Value, json};

const ALICE: &str = "a0000000-0000-4000-8000-000000000000";
const BOB: &str = "a0000000-0000-4000-8000-000000000001";
const GA: &str = "62e90394-69f5-4237-9190-012177145e10";
const GLOBAL_READER: &str = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
const SECURITY_ADMIN: &str = "194ae4cb-b126-40b2-bd5b-6091b380977d";
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
const SP: &str = "c0000000-0000-4000-8000-000000000001";
const NOW: &str = "2026-12-01T10:00:00Z";
const ASSIGN: &str = "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests";
const ELIGIBLE: &str = "/v1.0/roleManagement/directory/roleEligibilityScheduleRequests";

fn tenant() -> Tenant {
    Tenant::from_file(fixture_path("test-tenant.json")).unwrap()
}

async fn harness() -> Harness {
    Harness::with_seed(tenant(), NOW).await
}

fn request(action: &str, principal: &str, role: &str, schedule: Option<Value>) -> Value {
    let mut r = json!({
        "action": action, "principalId": principal, "roleDefinitionId": role,
        "directoryScopeId": "/", "justification": "testing",
    });
    if let Some(s) = schedule {
        r["scheduleInfo"] = s;
    }
    r
}

fn for_duration(d: &str) -> Value {
    json!({ "startDateTime": NOW, "expiration": { "type": "AfterDuration", "duration": d } })
}

fn permanent() -> Value {
    json!({ "startDateTime": NOW, "expiration": { "type": "NoExpiration" } })
}

async fn token_for(h: &Harness, tenant: &str, form: &[(&str, &str)]) -> emulator_common::Reply {
    let url = format!("{}/{tenant}/oauth2/v2.0/token", h.emu.base_url());
    let resp = h.http.post(url).form(form).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap();
    emulator_common::Reply {
        status,
        headers,
        body,
    }
}

// ---------------------------------------------------------------- auth and TLS

#[tokio::test]
async fn graph_routes_require_a_known_bearer_token() {
    let h = harness().await;
    let r = h.call_as(None, "GET", "/v1.0/users", None).await;
    assert_eq!(
        assert_graph_error(&r, 401, "InvalidAuthenticationToken"),
        "Access token is empty."
    );
    let r = h.call_as(Some("forged"), "GET", "/v1.0/users", None).await;
    assert_graph_error(&r, 401, "InvalidAuthenticationToken");
    // client-request-id is echoed.
    let resp = h
        .http
        .get(format!("{}/v1.0/users", h.emu.base_url()))
        .header("client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["client-request-id"], "abc-123");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["innerError"]["client-request-id"], "abc-123");
}

#[tokio::test]
async fn token_endpoint_accepts_only_seeded_applications() {
    let h = harness().await;
    let app = "d0000000-0000-4000-8000-000000000001";
    let ok = token_for(
        &h,
        "fabrikam.com",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_secret", "s3cret"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["token_type"], "Bearer");
    assert_eq!(ok.body["expires_in"], 3599);
    assert_eq!(ok.body["ext_expires_in"], 3599);
    let token = ok.body["access_token"].as_str().unwrap().to_string();

    let bad = token_for(
        &h,
        "fabrikam.com",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_secret", "nope"),
        ],
    )
    .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["error"], "invalid_client");
    assert!(
        bad.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215")
    );
    let unknown = token_for(
        &h,
        "fabrikam.com",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "x"),
            ("client_secret", "s3cret"),
        ],
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["error"], "unauthorized_client");
    let wrong_tenant = token_for(
        &h,
        "contoso.com",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_secret", "s3cret"),
        ],
    )
    .await;
    assert_eq!(wrong_tenant.body["error"], "invalid_tenant");
    let assertion = token_for(
        &h,
        &h.emu.tenant_id(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", "eyJ.x.y"),
        ],
    )
    .await;
    assert_eq!(assertion.status, 200);

    // The app's service principal is the caller: it shows up as createdBy.
    let r = h
        .call_as(
            Some(&token),
            "POST",
            ASSIGN,
            Some(&request(
                "adminAssign",
                ALICE,
                GLOBAL_READER,
                Some(for_duration("P10D")),
            )),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["createdBy"]["user"]["id"], SP);

    let disco = h
        .call_as(
            None,
            "GET",
            "/fabrikam.com/v2.0/.well-known/openid-configuration",
            None,
        )
        .await;
    assert_eq!(
        disco.body["token_endpoint"],
        format!("{}/fabrikam.com/oauth2/v2.0/token", h.emu.base_url())
    );
}

#[tokio::test]
async fn any_client_gets_a_token_when_no_applications_are_seeded() {
    let h = Harness::with_seed(Tenant::empty(), NOW).await;
    let r = token_for(
        &h,
        &h.emu.tenant_id(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "whatever"),
            ("client_secret", "x"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let token = r.body["access_token"].as_str().unwrap();
    let r = h
        .call_as(
            Some(token),
            "GET",
            "/v1.0/roleManagement/directory/roleDefinitions?$count=true",
            None,
        )
        .await;
    assert_eq!(r.body["@odata.count"], 123);
    assert_eq!(
        h.emu.token_url(),
        format!(
            "{}/{}/oauth2/v2.0/token",
            h.emu.base_url(),
            h.emu.tenant_id()
        )
    );
}

#[tokio::test]
async fn serves_https_with_the_generated_ca() {
    let h = Harness::start(EmulatorConfig {
        seed: Some(tenant()),
        ..EmulatorConfig::default()
    })
    .await;
    assert!(h.emu.base_url().starts_with("https://127.0.0.1:"));
    assert!(h.emu.ca_pem().unwrap().contains("BEGIN CERTIFICATE"));
    let r = h.get("/v1.0/users/alice@fabrikam.com").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], ALICE);
    // Without trusting the CA the handshake fails.
    let plain = reqwest::Client::new();
    assert!(
        plain
            .get(format!("{}/v1.0/users", h.emu.base_url()))
            .send()
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------- tokens

const CONTOSO: &str = "3c9f8a5e-0d2b-4c71-9a8e-5b6d7e8f9a01";
const LEGACY_SYNC: &str = "7c7534dc-0467-59c2-9dc0-bf82b6866efe";
const LEGACY_SYNC_APP: &str = "4b5f9311-65b8-5934-b1b2-5d7814f9b2c3";
const CONTOSO_ALICE: &str = "fe07ce2f-d86e-5850-9fa9-21872500fd0a";

fn contoso() -> Tenant {
    Tenant::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/contoso/tenant.json"
    ))
    .unwrap()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims of a JWT signed with HMAC-SHA256.
fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT: {token}");
    let header: Value = serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({ "alg": "HS256", "typ": "JWT" }));
    assert_eq!(b64.decode(parts[2]).unwrap().len(), 32);
    serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap()
}

fn assert_lifetime(claims: &Value, expires_in: &Value, before: u64) {
    let iat = claims["iat"].as_u64().unwrap();
    assert!((before..=unix_now()).contains(&iat), "iat {iat}");
    assert_eq!(claims["nbf"], iat);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - iat,
        expires_in.as_u64().unwrap()
    );
}

#[tokio::test]
async fn app_tokens_carry_the_claims_of_entra_v1_tokens() {
    let h = Harness::with_seed(contoso(), NOW).await;
    let before = unix_now();
    let r = token_for(
        &h,
        "contoso.com",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", LEGACY_SYNC_APP),
            ("client_secret", "any"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["expires_in"], 3599);
    let token = r.body["access_token"].as_str().unwrap();
    let c = jwt_claims(token);
    assert_lifetime(&c, &r.body["expires_in"], before);
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["iss"], format!("https://sts.windows.net/{CONTOSO}/"));
    assert_eq!(c["idp"], c["iss"]);
    assert_eq!(c["tid"], CONTOSO);
    assert_eq!(c["ver"], "1.0");
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["oid"], LEGACY_SYNC);
    assert_eq!(c["sub"], LEGACY_SYNC);
    assert_eq!(c["appid"], LEGACY_SYNC_APP);
    assert_eq!(c["app_displayname"], "Legacy Sync");
    assert_eq!(c["appidacr"], "1", "a client secret");
    assert!(
        c["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("RoleManagement.ReadWrite.Directory"))
    );
    for absent in ["scp", "amr", "upn", "name"] {
        assert!(c.get(absent).is_none(), "{absent} in {c}");
    }
    // What the token says is what Graph goes by.
    let me = h.call_as(Some(token), "GET", "/v1.0/me", None).await;
    assert!(assert_graph_error(&me, 400, "BadRequest").contains("delegated"));

    let r = token_for(
        &h,
        "contoso.com",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", LEGACY_SYNC_APP),
            ("client_assertion", "eyJ.x.y"),
        ],
    )
    .await;
    assert_eq!(
        jwt_claims(r.body["access_token"].as_str().unwrap())["appidacr"],
        "2"
    );
    // A minted token for a service principal is an app token too.
    let c = jwt_claims(&h.emu.mint_token(LEGACY_SYNC, false));
    assert_eq!(
        (&c["idtyp"], &c["appid"]),
        (&json!("app"), &json!(LEGACY_SYNC_APP))
    );
}

#[tokio::test]
async fn user_tokens_carry_the_claims_of_entra_v1_tokens() {
    let h = Harness::with_seed(contoso(), NOW).await;
    async fn sign_in(h: &Harness, mfa: &str) -> emulator_common::Reply {
        let form = [
            ("grant_type", pim_emulator::USER_GRANT),
            ("username", "alice@contoso.com"),
            ("mfa", mfa),
        ];
        token_for(h, "contoso.com", &form).await
    }
    let before = unix_now();
    let r = sign_in(&h, "true").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    let c = jwt_claims(&token);
    assert_lifetime(&c, &r.body["expires_in"], before);
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["iss"], format!("https://sts.windows.net/{CONTOSO}/"));
    assert_eq!(c["tid"], CONTOSO);
    assert_eq!(c["idtyp"], "user");
    assert_eq!(c["oid"], CONTOSO_ALICE);
    assert_eq!(c["upn"], "alice@contoso.com");
    assert_eq!(c["name"], "Alice Johnson");
    assert_eq!(c["amr"], json!(["pwd", "mfa"]));
    assert_eq!(c["appidacr"], "0", "a public client");
    assert!(c["appid"].is_string());
    // A user's subject is pairwise, not the object id.
    assert!(c["sub"].is_string() && c["sub"] != c["oid"]);
    let scopes: Vec<&str> = c["scp"].as_str().unwrap().split(' ').collect();
    assert!(scopes.contains(&"RoleAssignmentSchedule.ReadWrite.Directory"));
    assert!(c.get("roles").is_none());
    let me = h
        .call_as(Some(&token), "GET", "/v1.0/me?$select=id", None)
        .await;
    assert_eq!(
        me.body,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id)/$entity",
            "id": CONTOSO_ALICE,
        })
    );

    let r = sign_in(&h, "false").await;
    assert_eq!(
        jwt_claims(r.body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd"])
    );
}

#[tokio::test]
async fn expired_foreign_and_altered_tokens_are_refused() {
    let h = Harness::start(EmulatorConfig {
        seed: Some(tenant()),
        tls: false,
        token_lifetime: Duration::ZERO,
        ..EmulatorConfig::default()
    })
    .await;
    let r = h.get("/v1.0/users").await;
    assert_eq!(
        assert_graph_error(&r, 401, "InvalidAuthenticationToken"),
        "Lifetime validation failed, the token is expired."
    );
    let live = Harness::with_seed(tenant(), NOW).await;
    assert_eq!(live.get("/v1.0/users").await.status, 200);
    // Another emulator's token.
    let r = h
        .call_as(Some(&live.token), "GET", "/v1.0/users", None)
        .await;
    assert_eq!(
        assert_graph_error(&r, 401, "InvalidAuthenticationToken"),
        "Access token validation failure."
    );
    // Claims changed after signing.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims = jwt_claims(&live.token);
    claims["oid"] = json!(ALICE);
    let mut parts: Vec<String> = live.token.split('.').map(str::to_string).collect();
    parts[1] = b64.encode(claims.to_string());
    let r = live
        .call_as(Some(&parts.join(".")), "GET", "/v1.0/users", None)
        .await;
    assert_graph_error(&r, 401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn opaque_tokens_say_nothing_and_graph_names_the_caller() {
    let h = Harness::start(EmulatorConfig {
        seed: Some(contoso()),
        tls: false,
        token_format: TokenFormat::Opaque,
        ..EmulatorConfig::default()
    })
    .await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", LEGACY_SYNC_APP),
        ("client_secret", "any"),
    ];
    let r = token_for(&h, "contoso.com", &form).await;
    let app = r.body["access_token"].as_str().unwrap();
    assert_eq!(app.split('.').count(), 2, "not a JWT: {app}");
    let me = h
        .call_as(Some(app), "GET", "/v1.0/me?$select=id", None)
        .await;
    assert_eq!(
        assert_graph_error(&me, 400, "BadRequest"),
        "/me request is only valid with delegated authentication flow."
    );
    let sp = h
        .call_as(
            Some(app),
            "GET",
            &format!("/v1.0/servicePrincipals(appId='{LEGACY_SYNC_APP}')?$select=id"),
            None,
        )
        .await;
    assert_eq!(
        sp.body,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals(id)/$entity",
            "id": LEGACY_SYNC,
        })
    );
    let user = h.emu.mint_token(CONTOSO_ALICE, false);
    let me = h
        .call_as(Some(&user), "GET", "/v1.0/me?$select=id", None)
        .await;
    assert_eq!(me.body["id"], CONTOSO_ALICE);
}

// ---------------------------------------------------------------- PIM requests

#[tokio::test]
async fn admin_assign_update_remove_lifecycle() {
    let h = harness().await;
    let body = request(
        "adminAssign",
        ALICE,
        GLOBAL_READER,
        Some(json!({
        "startDateTime": "2026-11-01T00:00:00Z", "expiration": { "type": "AfterDuration", "duration": "P10D" } })),
    );
    let r = h.post(ASSIGN, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let b = &r.body;
    let id = b["id"].as_str().unwrap().to_string();
    assert_eq!(
        b["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignmentScheduleRequests/$entity"
    );
    assert_eq!(b["status"], "Provisioned");
    assert_eq!(b["targetScheduleId"], id.as_str());
    assert_eq!(
        b["createdBy"],
        json!({ "application": null, "device": null, "user": { "displayName": null, "id": emulator_common::CALLER } })
    );
    // A start in the past is clamped to now; expiration carries all three keys, camelCase.
    assert_eq!(
        b["scheduleInfo"],
        json!({ "startDateTime": NOW, "recurrence": null,
        "expiration": { "type": "afterDuration", "endDateTime": null, "duration": "P10D" } })
    );
    assert_eq!(
        b["ticketInfo"],
        json!({ "ticketNumber": null, "ticketSystem": null })
    );
    for k in ["approvalId", "customData", "appScopeId"] {
        assert!(b[k].is_null(), "{k}");
    }
    assert_eq!(b["isValidationOnly"], false);

    let s = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleAssignmentSchedules/{id}"
        ))
        .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["createdUsing"], id.as_str());
    assert_eq!(s.body["assignmentType"], "Assigned");
    assert_eq!(s.body["memberType"], "Direct");
    let inst = h.get(&format!("/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter=roleAssignmentScheduleId eq '{id}'")).await;
    assert_eq!(inst.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(inst.body["value"][0]["endDateTime"], "2026-12-11T10:00:00Z");

    let dup = h.post(ASSIGN, &body).await;
    assert_eq!(
        assert_graph_error(&dup, 400, "RoleAssignmentExists"),
        "The Role assignment already exists."
    );

    let too_soon = h
        .post(ASSIGN, &request("adminRemove", ALICE, GLOBAL_READER, None))
        .await;
    assert_eq!(
        assert_graph_error(&too_soon, 400, "ActiveDurationTooShort"),
        "The Active duration is too short. Miniumum Required is 5 minutes."
    );

    let upd = h
        .post(
            ASSIGN,
            &request(
                "adminUpdate",
                ALICE,
                GLOBAL_READER,
                Some(for_duration("P20D")),
            ),
        )
        .await;
    assert_eq!(upd.status, 201, "{}", upd.body);
    let ext = h
        .post(
            ASSIGN,
            &request(
                "adminExtend",
                ALICE,
                GLOBAL_READER,
                Some(for_duration("P30D")),
            ),
        )
        .await;
    assert_eq!(ext.body["action"], "adminExtend");
    let schedules = h.get(&format!("/v1.0/roleManagement/directory/roleAssignmentSchedules?$filter=principalId eq '{ALICE}'")).await;
    let list = schedules.body["value"].as_array().unwrap();
    assert_eq!(list.len(), 1, "update replaces the schedule");
    assert_eq!(list[0]["id"], ext.body["id"]);
    assert_eq!(list[0]["scheduleInfo"]["expiration"]["duration"], "P30D");

    h.emu.clock().advance(TimeDelta::minutes(6));
    let rm = h
        .post(ASSIGN, &request("adminRemove", ALICE, GLOBAL_READER, None))
        .await;
    assert_eq!(rm.status, 201, "{}", rm.body);
    assert_eq!(rm.body["status"], "Revoked");
    assert!(
        rm.body["targetScheduleId"].is_null()
            && rm.body["scheduleInfo"].is_null()
            && rm.body["completedDateTime"].is_null()
    );
    let again = h
        .post(ASSIGN, &request("adminRemove", ALICE, GLOBAL_READER, None))
        .await;
    assert_eq!(
        assert_graph_error(&again, 400, "RoleAssignmentDoesNotExist"),
        "The Role assignment does not exist."
    );
    let upd = h
        .post(
            ASSIGN,
            &request(
                "adminUpdate",
                ALICE,
                GLOBAL_READER,
                Some(for_duration("P1D")),
            ),
        )
        .await;
    assert_graph_error(&upd, 400, "RoleAssignmentDoesNotExist");

    // Requests stay listable, newest included.
    let reqs = h
        .get(&format!(
            "{ASSIGN}?$filter=principalId eq '{ALICE}'&$count=true"
        ))
        .await;
    assert_eq!(reqs.body["@odata.count"], 4);
}

#[tokio::test]
async fn renew_brings_back_an_expired_grant_and_instances_follow_the_clock() {
    let h = harness().await;
    async fn inst(h: &Harness) -> usize {
        let path = format!(
            "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter=principalId eq '{ALICE}'"
        );
        h.get(&path).await.body["value"].as_array().unwrap().len()
    }
    assert_eq!(inst(&h).await, 1);
    h.emu.clock().advance(TimeDelta::days(6));
    assert_eq!(inst(&h).await, 0, "expired at +P5D");
    let ext = h
        .post(
            ELIGIBLE,
            &request("adminExtend", ALICE, GA, Some(for_duration("P30D"))),
        )
        .await;
    assert_graph_error(&ext, 400, "RoleAssignmentDoesNotExist");
    let mut renew = request(
        "adminRenew",
        ALICE,
        GA,
        Some(json!({ "expiration": { "type": "afterDuration", "duration": "P30D" } })),
    );
    renew["directoryScopeId"] = json!("/");
    let r = h.post(ELIGIBLE, &renew).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(inst(&h).await, 1);
}

#[tokio::test]
async fn future_start_is_granted_and_can_be_canceled() {
    let h = harness().await;
    let body = request(
        "adminAssign",
        BOB,
        GA,
        Some(json!({
        "startDateTime": "2026-12-05T00:00:00Z", "expiration": { "type": "afterDateTime", "endDateTime": "2027-01-05T00:00:00Z" } })),
    );
    let r = h.post(ELIGIBLE, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "Granted");
    assert_eq!(r.body["completedDateTime"], "2026-12-05T00:00:00Z");
    let id = r.body["id"].as_str().unwrap();
    let sched = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/{id}"
        ))
        .await;
    assert_eq!(sched.body["status"], "Granted");
    let inst = h.get(&format!("/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter=roleEligibilityScheduleId eq '{id}'")).await;
    assert_eq!(inst.body["value"], json!([]));
    let c = h
        .call("POST", &format!("{ELIGIBLE}/{id}/cancel"), None)
        .await;
    assert_eq!(c.status, 204);
    let got = h.get(&format!("{ELIGIBLE}/{id}")).await;
    assert_eq!(got.body["status"], "Canceled");
    let gone = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/{id}"
        ))
        .await;
    assert_eq!(gone.status, 404);
    let c2 = h
        .call("POST", &format!("{ELIGIBLE}/{id}/cancel"), None)
        .await;
    assert_graph_error(&c2, 400, "RequestCannotBeCancelled");
}

#[tokio::test]
async fn every_policy_rule_kind_is_enforced() {
    let h = harness().await;
    let no_mfa = h.emu.mint_token(emulator_common::CALLER, false);
    let msg = |r: &emulator_common::Reply| {
        assert_graph_error(r, 400, "RoleAssignmentRequestPolicyValidationFailed")
    };

    let mut bare = request("adminAssign", ALICE, SECURITY_ADMIN, Some(permanent()));
    bare["justification"] = Value::Null;
    let r = h.call_as(Some(&no_mfa), "POST", ASSIGN, Some(&bare)).await;
    assert_eq!(
        msg(&r),
        r#"The following policy rules failed: ["ExpirationRule","JustificationRule","TicketingRule","MfaRule"]"#
    );

    let mut ok = request(
        "adminAssign",
        ALICE,
        SECURITY_ADMIN,
        Some(for_duration("P60D")),
    );
    ok["ticketInfo"] = json!({ "ticketNumber": "CHG-1", "ticketSystem": "SNOW" });
    let r = h.post(ASSIGN, &ok).await;
    assert_eq!(
        msg(&r),
        r#"The following policy rules failed: ["ExpirationRule"]"#
    );
    ok["scheduleInfo"] = for_duration("PT2M");
    assert_eq!(
        msg(&h.post(ASSIGN, &ok).await),
        r#"The following policy rules failed: ["ExpirationRule"]"#
    );
    ok["scheduleInfo"] = json!({ "startDateTime": NOW, "expiration": { "type": "afterDateTime", "endDateTime": "2026-12-31T10:00:01Z" } });
    assert_eq!(
        msg(&h.post(ASSIGN, &ok).await),
        r#"The following policy rules failed: ["ExpirationRule"]"#
    );
    let r = h
        .call_as(
            Some(&no_mfa),
            "POST",
            ASSIGN,
            Some(&{
                let mut x = ok.clone();
                x["scheduleInfo"] = for_duration("P30D");
                x
            }),
        )
        .await;
    assert_eq!(msg(&r), r#"The following policy rules failed: ["MfaRule"]"#);
    ok["scheduleInfo"] = for_duration("P30D");
    let r = h.post(ASSIGN, &ok).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["ticketInfo"]["ticketNumber"], "CHG-1");

    // Eligibility has its own expiration rule; validation-only requests persist nothing.
    let r = h
        .post(
            ELIGIBLE,
            &request(
                "adminAssign",
                BOB,
                SECURITY_ADMIN,
                Some(for_duration("P100D")),
            ),
        )
        .await;
    assert_eq!(
        msg(&r),
        r#"The following policy rules failed: ["ExpirationRule"]"#
    );
    let mut probe = request(
        "adminAssign",
        BOB,
        SECURITY_ADMIN,
        Some(for_duration("P90D")),
    );
    probe["isValidationOnly"] = json!(true);
    let r = h.post(ELIGIBLE, &probe).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["isValidationOnly"], true);
    let s = h
        .get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=principalId eq '{BOB}'"
        ))
        .await;
    assert_eq!(s.body["value"], json!([]));

    // Default policy: justification is required on active assignment.
    let mut nj = request("adminAssign", BOB, GLOBAL_READER, Some(permanent()));
    nj["justification"] = json!("  ");
    assert_eq!(
        msg(&h.post(ASSIGN, &nj).await),
        r#"The following policy rules failed: ["JustificationRule"]"#
    );
}

#[tokio::test]
async fn bad_principals_roles_and_actions_are_graph_errors() {
    let h = harness().await;
    let r = h
        .post(
            ASSIGN,
            &request(
                "adminAssign",
                ALICE,
                "00000000-1111-2222-3333-444444444444",
                Some(permanent()),
            ),
        )
        .await;
    assert_graph_error(&r, 404, "RoleNotFound");
    let r = h
        .post(
            ASSIGN,
            &request(
                "adminAssign",
                "00000000-1111-2222-3333-444444444444",
                GA,
                Some(permanent()),
            ),
        )
        .await;
    assert_graph_error(&r, 404, "SubjectNotFound");
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", SP, GA, Some(for_duration("P10D"))),
        )
        .await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("Service principals"));
    let r = h
        .post(
            ASSIGN,
            &request("adminAssign", SP, GA, Some(for_duration("P10D"))),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "service principals may be active: {}",
        r.body
    );
    let r = h
        .post(
            ASSIGN,
            &request(
                "adminAssign",
                "b0000000-0000-4000-8000-000000000002",
                GA,
                Some(for_duration("P10D")),
            ),
        )
        .await;
    assert!(assert_graph_error(&r, 400, "BadRequest").contains("role-assignable"));
    let r = h
        .post(
            ASSIGN,
            &request("selfActivate", ALICE, GA, Some(for_duration("PT1H"))),
        )
        .await;
    // Self-service acts for the signed-in user only.
    assert!(assert_graph_error(&r, 403, "Authorization_RequestDenied").contains("selfActivate"));
    let r = h
        .post(ASSIGN, &request("adminPromote", ALICE, GA, None))
        .await;
    assert_graph_error(&r, 400, "BadRequest");
    let mut scoped = request("adminAssign", ALICE, HELPDESK, Some(for_duration("P10D")));
    scoped["directoryScopeId"] = json!("/administrativeUnits/e0000000-0000-4000-8000-000000000001");
    assert_eq!(h.post(ASSIGN, &scoped).await.status, 201);
    scoped["directoryScopeId"] = json!("/administrativeUnits/nope");
    assert_graph_error(&h.post(ASSIGN, &scoped).await, 400, "BadRequest");
    let r = h.call("POST", ASSIGN, None).await;
    assert_graph_error(&r, 400, "BadRequest");
}

// ---------------------------------------------------------------- policies

#[tokio::test]
async fn policy_reads_need_the_scope_filter() {
    let h = harness().await;
    let missing = h.get("/v1.0/policies/roleManagementPolicies").await;
    let m = assert_graph_error(&missing, 400, "UnknownError");
    assert_eq!(
        m,
        r#"{"errorCode":"MissingProvider","message":"The provider is missing.","instanceAnnotations":[]}"#
    );
    let group = h.get("/v1.0/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'Group'").await;
    assert_graph_error(&group, 400, "UnknownError");

    let q = format!(
        "/v1.0/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{SECURITY_ADMIN}'&$expand=policy($expand=rules)"
    );
    let r = h.get(&q).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#policies/roleManagementPolicyAssignments(policy(rules()))"
    );
    let a = &r.body["value"][0];
    let policy_id = a["policyId"].as_str().unwrap().to_string();
    assert!(policy_id.starts_with("DirectoryRole_f1f1f1f1-0000-4000-8000-000000000001_"));
    assert_eq!(a["id"], format!("{policy_id}_{SECURITY_ADMIN}"));
    let rules = a["policy"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 17);
    let exp = rules
        .iter()
        .find(|r| r["id"] == "Expiration_Admin_Assignment")
        .unwrap();
    assert_eq!(exp["maximumDuration"], "P30D");
    assert_eq!(exp["isExpirationRequired"], true);

    let dir = h.get("/v1.0/policies/roleManagementPolicies?$filter=scopeId eq '/' and scopeType eq 'Directory'&$top=1").await;
    assert!(
        dir.body["value"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("Directory_")
    );
    assert_eq!(dir.body["value"][0]["scopeType"], "Directory");
    let sel = h.get("/v1.0/policies/roleManagementPolicies?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'&$expand=rules($select=id)&$top=1").await;
    assert_eq!(
        sel.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#policies/roleManagementPolicies(rules(id))"
    );
    assert!(sel.body["value"][0]["rules@odata.context"].is_string());
    assert_eq!(
        sel.body["value"][0]["rules"][0].as_object().unwrap().len(),
        2,
        "@odata.type + id"
    );
}

#[tokio::test]
async fn rule_patch_semantics() {
    let h = harness().await;
    let q = format!(
        "/v1.0/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{HELPDESK}'"
    );
    let pid = h.get(&q).await.body["value"][0]["policyId"]
        .as_str()
        .unwrap()
        .to_string();
    let rule_url =
        format!("/v1.0/policies/roleManagementPolicies/{pid}/rules/Expiration_Admin_Eligibility");
    let patch = json!({
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
        "id": "Expiration_Admin_Eligibility", "isExpirationRequired": true, "maximumDuration": "P30D",
        "target": { "@odata.type": "microsoft.graph.unifiedRoleManagementPolicyRuleTarget", "caller": "Admin",
                    "operations": ["All"], "level": "Eligibility", "inheritableSettings": [], "enforcedSettings": [] } });
    let r = h.call("PATCH", &rule_url, Some(&patch)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = h.get(&rule_url).await;
    assert_eq!(got.body["maximumDuration"], "P30D");
    assert_eq!(got.body["target"]["operations"], json!(["all"]));
    assert!(got.body["target"].get("@odata.type").is_none());
    assert_eq!(
        got.body["@odata.context"],
        format!(
            "https://graph.microsoft.com/v1.0/$metadata#policies/roleManagementPolicies('{pid}')/rules/$entity"
        )
    );
    // The new rule is enforced.
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", BOB, HELPDESK, Some(for_duration("P60D"))),
        )
        .await;
    assert_graph_error(&r, 400, "RoleAssignmentRequestPolicyValidationFailed");

    let mut wrong = patch.clone();
    wrong["@odata.type"] = json!("#microsoft.graph.unifiedRoleManagementPolicyEnablementRule");
    let r = h.call("PATCH", &rule_url, Some(&wrong)).await;
    assert_eq!(assert_graph_error(&r, 500, ""), "An error has occurred.");
    let r = h
        .call(
            "PATCH",
            &format!(
                "/v1.0/policies/roleManagementPolicies/{pid}/rules/Expiration_Admin_Everything"
            ),
            Some(&patch),
        )
        .await;
    assert_eq!(
        assert_graph_error(&r, 400, "BadRequest"),
        "The policy rule id Expiration_Admin_Everything is invalid."
    );
    let mut bad = patch.clone();
    bad["maximumDuration"] = json!("forever");
    assert_graph_error(
        &h.call("PATCH", &rule_url, Some(&bad)).await,
        400,
        "BadRequest",
    );

    let bulk = json!({ "rules": [{ "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
        "id": "Enablement_EndUser_Assignment", "enabledRules": ["Justification", "Ticketing"],
        "target": { "caller": "EndUser", "operations": ["All"], "level": "Assignment", "inheritableSettings": [], "enforcedSettings": [] } }] });
    let r = h
        .call(
            "PATCH",
            &format!("/v1.0/policies/roleManagementPolicies/{pid}"),
            Some(&bulk),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["lastModifiedDateTime"], NOW);
    assert_eq!(
        r.body["lastModifiedBy"]["displayName"],
        emulator_common::CALLER
    );
    assert!(r.body.get("rules").is_none());
    let rules = h
        .get(&format!(
            "/v1.0/policies/roleManagementPolicies/{pid}/rules"
        ))
        .await;
    assert_eq!(
        rules.body["@odata.context"],
        format!(
            "https://graph.microsoft.com/v1.0/$metadata#policies/roleManagementPolicies('{pid}')/rules"
        )
    );
    let en = rules.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "Enablement_EndUser_Assignment")
        .unwrap()
        .clone();
    assert_eq!(en["enabledRules"], json!(["Justification", "Ticketing"]));
}

// ---------------------------------------------------------------- OData and paging

#[tokio::test]
async fn paging_walks_three_pages_with_opaque_skiptokens() {
    let h = Harness::start(EmulatorConfig {
        seed: Some(tenant()),
        tls: false,
        page_size: 10,
        clock: Clock::fixed(at(NOW)),
        ..EmulatorConfig::default()
    })
    .await;
    let mut url = "/v1.0/roleManagement/directory/roleEligibilitySchedules?$count=true".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = h.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.body["@odata.context"],
            "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleEligibilitySchedules"
        );
        assert_eq!(r.body["@odata.count"], 26);
        pages += 1;
        seen.extend(
            r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_string()),
        );
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(h.emu.base_url())
                        && next.contains("$skiptoken=")
                        && next.contains("$count=true")
                );
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 26);
    let top = h
        .get("/v1.0/roleManagement/directory/roleEligibilitySchedules?$top=20")
        .await;
    assert_eq!(top.body["value"].as_array().unwrap().len(), 20);
    let big = h.get("/v1.0/users?$top=5000").await;
    assert_eq!(
        big.body["value"].as_array().unwrap().len(),
        30,
        "$top is capped at 999, more than there are"
    );
    let forged = h.get("/v1.0/users?$skiptoken=abc").await;
    assert_graph_error(&forged, 400, "BadRequest");
}

#[tokio::test]
async fn odata_filters_select_and_expand() {
    let h = harness().await;
    let ids = |r: &emulator_common::Reply| -> Vec<String> {
        r.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    let r = h
        .get("/v1.0/users?$filter=userPrincipalName eq 'ALICE@fabrikam.com'")
        .await;
    assert_eq!(ids(&r), vec![ALICE]);
    let r = h.get(&format!("/v1.0/users?$filter=id in ('{ALICE}', '{BOB}') or startswith(displayName,'User 02')&$select=id,displayName")).await;
    assert_eq!(ids(&r).len(), 2 + 10);
    assert_eq!(r.body["value"][0].as_object().unwrap().len(), 2);
    assert_eq!(
        r.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName)"
    );
    let r = h.get(&format!("/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=roleDefinitionId eq '{HELPDESK}' and principalId ne '{BOB}' and appScopeId eq null&$count=true")).await;
    assert_eq!(r.body["@odata.count"], 25);
    let r = h
        .get("/v1.0/roleManagement/directory/roleDefinitions?$filter=isBuiltIn eq false")
        .await;
    assert_eq!(r.body["value"][0]["displayName"], "Fabrikam Auditor");
    let r = h.get("/v1.0/roleManagement/directory/roleDefinitions?$filter=displayName in ('Global Administrator','Global Reader')").await;
    assert_eq!(ids(&r).len(), 2);

    let r = h.get(&format!("/v1.0/roleManagement/directory/roleAssignmentSchedules?$filter=principalId eq '{BOB}'&$expand=principal($select=id),roleDefinition,directoryScope")).await;
    let v = &r.body["value"][0];
    assert_eq!(
        v["principal"],
        json!({ "@odata.type": "#microsoft.graph.user", "id": BOB })
    );
    assert_eq!(v["roleDefinition"]["displayName"], "Global Reader");
    assert_eq!(v["directoryScope"]["displayName"], "Paris Office");
    assert_eq!(
        v["directoryScopeId"],
        "/administrativeUnits/e0000000-0000-4000-8000-000000000001"
    );

    for (url, code) in [
        (
            "/v1.0/users?$filter=favouriteColour eq 'blue'",
            "BadRequest",
        ),
        ("/v1.0/users?$filter=userPrincipalName eq", "BadRequest"),
        (
            "/v1.0/users?$filter=userPrincipalName eq alice",
            "BadRequest",
        ),
        (
            "/v1.0/users?$filter=contains(displayName,'a')",
            "BadRequest",
        ),
        (
            "/v1.0/users?$filter=displayName gt 'a'",
            "Request_UnsupportedQuery",
        ),
        ("/v1.0/users?$orderby=displayName", "BadRequest"),
        ("/v1.0/users?$search=\"alice\"", "BadRequest"),
        (
            "/v1.0/roleManagement/directory/roleEligibilitySchedules?$expand=manager",
            "BadRequest",
        ),
        (
            "/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=justification eq 'x'",
            "BadRequest",
        ),
        (
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/x?$filter=id eq 'x'",
            "BadRequest",
        ),
        ("/v1.0/roleManagement/directory/roleWhatever", "BadRequest"),
    ] {
        let r = h.get(url).await;
        assert_graph_error(&r, 400, code);
    }
}

#[tokio::test]
async fn directory_lookups() {
    let h = harness().await;
    assert_eq!(
        h.get(&format!("/v1.0/users/{ALICE}")).await.body["userPrincipalName"],
        "alice@fabrikam.com"
    );
    assert_eq!(
        h.get("/v1.0/users('bob@fabrikam.com')").await.body["id"],
        BOB
    );
    assert_graph_error(
        &h.get("/v1.0/users/nobody@fabrikam.com").await,
        404,
        "Request_ResourceNotFound",
    );
    let g = h
        .get("/v1.0/groups?$filter=displayName eq 'Tier0 Admins'")
        .await;
    assert_eq!(g.body["value"][0]["isAssignableToRole"], true);
    assert_eq!(
        h.get("/v1.0/groups/b0000000-0000-4000-8000-000000000002")
            .await
            .body["isAssignableToRole"],
        false
    );
    let sp = h
        .get("/v1.0/servicePrincipals(appId='d0000000-0000-4000-8000-000000000001')")
        .await;
    assert_eq!(sp.body["id"], SP);
    assert_eq!(
        h.get("/v1.0/servicePrincipals?$filter=displayName eq 'pim-ci'")
            .await
            .body["value"][0]["appId"],
        "d0000000-0000-4000-8000-000000000001"
    );
    assert_eq!(
        h.get(&format!("/v1.0/servicePrincipals/{SP}")).await.body["displayName"],
        "pim-ci"
    );
    let au = h
        .get("/v1.0/directory/administrativeUnits?$filter=displayName eq 'Paris Office'")
        .await;
    assert_eq!(
        au.body["value"][0]["id"],
        "e0000000-0000-4000-8000-000000000001"
    );
    let by_ids = h.post("/v1.0/directoryObjects/getByIds", &json!({
        "ids": [ALICE, SP, "b0000000-0000-4000-8000-000000000001", "99999999-0000-4000-8000-000000000000"] })).await;
    assert_eq!(
        by_ids.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#directoryObjects"
    );
    let types: Vec<&str> = by_ids.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["@odata.type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "#microsoft.graph.user",
            "#microsoft.graph.servicePrincipal",
            "#microsoft.graph.group"
        ]
    );
    let users_only = h
        .post(
            "/v1.0/directoryObjects/getByIds",
            &json!({ "ids": [ALICE, SP], "types": ["User"] }),
        )
        .await;
    assert_eq!(users_only.body["value"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------- $batch

#[tokio::test]
async fn batch_runs_requests_with_dependencies() {
    let h = harness().await;
    let body = json!({ "requests": [
        { "id": "1", "method": "GET", "url": "/users/alice@fabrikam.com" },
        { "id": "2", "method": "POST", "url": "/roleManagement/directory/roleAssignmentScheduleRequests",
          "headers": { "Content-Type": "application/json" },
          "body": request("adminAssign", ALICE, "00000000-0000-0000-0000-000000000000", Some(permanent())) },
        { "id": "3", "method": "GET", "url": "/users", "dependsOn": ["2"] },
        { "id": "4", "method": "GET", "url": "/users?$top=1", "dependsOn": ["1"] },
    ]});
    let r = h.post("/v1.0/$batch", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let by_id = |id: &str| {
        r.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("1")["status"], 200);
    assert_eq!(by_id("1")["body"]["id"], ALICE);
    assert_eq!(by_id("2")["status"], 404);
    assert_eq!(by_id("2")["body"]["error"]["code"], "RoleNotFound");
    assert_eq!(by_id("3")["status"], 424);
    assert_eq!(by_id("4")["status"], 200);
    assert_eq!(by_id("4")["headers"]["Content-Type"], "application/json");

    let many: Vec<Value> = (0..21)
        .map(|i| json!({ "id": i.to_string(), "method": "GET", "url": "/users" }))
        .collect();
    assert_graph_error(
        &h.post("/v1.0/$batch", &json!({ "requests": many })).await,
        400,
        "BadRequest",
    );
    let dup = json!({ "requests": [{ "id": "a", "method": "GET", "url": "/users" }, { "id": "A", "method": "GET", "url": "/users" }] });
    assert_graph_error(&h.post("/v1.0/$batch", &dup).await, 400, "BadRequest");
    let no_ct = json!({ "requests": [{ "id": "a", "method": "POST", "url": "/directoryObjects/getByIds", "body": { "ids": [] } }] });
    assert_graph_error(&h.post("/v1.0/$batch", &no_ct).await, 400, "BadRequest");
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn latency_is_added() {
    let h = Harness::with_faults(
        tenant(),
        Faults {
            latency_ms: 150,
            jitter_ms: 20,
            ..Faults::default()
        },
    )
    .await;
    let t = Instant::now();
    assert_eq!(h.get("/v1.0/users?$top=1").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn faults_can_come_from_the_seed() {
    let mut seed = tenant();
    seed.faults = Some(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let h = Harness::with_seed(seed, NOW).await;
    let r = h.get("/v1.0/users").await;
    assert!(r.status == 503 || r.status == 504);
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after() {
    let h = Harness::with_faults(
        tenant(),
        Faults {
            throttle_per_second: Some(3),
            ..Faults::default()
        },
    )
    .await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let r = h.get("/v1.0/users?$top=1").await;
        statuses.push(r.status);
        last = Some(r);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    let r = last.unwrap();
    assert_eq!(
        assert_graph_error(&r, 429, "TooManyRequests"),
        "Please retry again later."
    );
    assert_eq!(r.body["error"]["innerError"]["status"], "429");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry));
    // Another client has its own quota.
    let other = h
        .emu
        .mint_token("a0000000-0000-4000-8000-000000000009", false);
    assert_eq!(
        h.call_as(Some(&other), "GET", "/v1.0/users?$top=1", None)
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(h.get("/v1.0/users?$top=1").await.status, 200);
    let stats = h.call_as(None, "GET", "/_emulator/stats", None).await;
    assert_eq!(stats.body["byStatus"]["429"], 2);
}

#[tokio::test]
async fn random_server_errors_are_503_or_504_and_reproducible() {
    let run = || async {
        let h = Harness::with_faults(
            tenant(),
            Faults {
                error_rate: 0.5,
                rng_seed: 7,
                ..Faults::default()
            },
        )
        .await;
        let mut s = Vec::new();
        for _ in 0..20 {
            s.push(h.get("/v1.0/users?$top=1").await.status);
        }
        s
    };
    let a = run().await;
    assert_eq!(a, run().await, "same seed, same faults");
    assert!(a.contains(&200) && a.iter().any(|s| *s == 503 || *s == 504));
    assert!(a.iter().all(|s| [200, 503, 504].contains(s)));
}

#[tokio::test]
async fn connection_resets_before_and_after_a_write() {
    let before = Harness::with_faults(
        tenant(),
        Faults {
            reset_rate: 1.0,
            reset_after_write_share: 0.0,
            ..Faults::default()
        },
    )
    .await;
    let body = request(
        "adminAssign",
        ALICE,
        GLOBAL_READER,
        Some(for_duration("P10D")),
    );
    assert!(
        before
            .try_call_as(Some(&before.token), "POST", ASSIGN, Some(&body))
            .await
            .is_err()
    );
    assert!(
        before
            .emu
            .snapshot()
            .assignment_schedules
            .iter()
            .all(|s| s.principal != ALICE),
        "nothing written"
    );
    assert!(
        before
            .try_call_as(Some(&before.token), "GET", "/v1.0/users", None)
            .await
            .is_err()
    );

    let after = Harness::with_faults(
        tenant(),
        Faults {
            reset_rate: 1.0,
            reset_after_write_share: 1.0,
            ..Faults::default()
        },
    )
    .await;
    assert!(
        after
            .try_call_as(Some(&after.token), "POST", ASSIGN, Some(&body))
            .await
            .is_err()
    );
    assert!(
        after
            .emu
            .snapshot()
            .assignment_schedules
            .iter()
            .any(|s| s.principal == ALICE),
        "the write took effect"
    );
    assert_eq!(after.emu.stats()["byStatus"]["reset-after-write"], 1);
}

#[tokio::test]
async fn replication_delay_hides_new_schedules_for_a_while() {
    let h = Harness::with_faults(
        tenant(),
        Faults {
            replication_delay_ms: 300,
            ..Faults::default()
        },
    )
    .await;
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", BOB, GA, Some(for_duration("P10D"))),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let url = format!(
        "/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=principalId eq '{BOB}'"
    );
    assert_eq!(h.get(&url).await.body["value"], json!([]));
    assert_eq!(
        h.get(&format!("{ELIGIBLE}/{id}")).await.status,
        200,
        "requests are readable at once"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.get(&url).await.body["value"][0]["id"], id.as_str());
}

// ---------------------------------------------------------------- persistence and admin routes

#[tokio::test]
async fn a_persisted_tenant_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("pim-emu-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("tenant.json");
    let config = || EmulatorConfig {
        seed: Some(tenant()),
        tls: false,
        clock: Clock::fixed(at(NOW)),
        data_file: Some(data.clone()),
        ..EmulatorConfig::default()
    };
    let h = Harness::start(config()).await;
    let r = h
        .post(
            ELIGIBLE,
            &request("adminAssign", BOB, GA, Some(for_duration("P10D"))),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let pid = h.get(&format!("/v1.0/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{GA}'")).await.body["value"][0]["policyId"].as_str().unwrap().to_string();
    let patch = json!({ "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule", "id": "Expiration_EndUser_Assignment",
        "isExpirationRequired": true, "maximumDuration": "PT2H" });
    assert_eq!(
        h.call(
            "PATCH",
            &format!(
                "/v1.0/policies/roleManagementPolicies/{pid}/rules/Expiration_EndUser_Assignment"
            ),
            Some(&patch)
        )
        .await
        .status,
        204
    );
    h.emu.stop().await;
    assert!(
        !std::fs::read_dir(&dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp"))
    );

    let h2 = Harness::start(config()).await;
    assert_eq!(
        h2.get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/{id}"
        ))
        .await
        .status,
        200
    );
    assert_eq!(
        h2.get(&format!("{ELIGIBLE}/{id}")).await.body["action"],
        "adminAssign"
    );
    let rule = h2
        .get(&format!(
            "/v1.0/policies/roleManagementPolicies/{pid}/rules/Expiration_EndUser_Assignment"
        ))
        .await;
    assert_eq!(rule.body["maximumDuration"], "PT2H");
    // Reset goes back to the seed, and so does the file.
    let r = h2.call_as(None, "POST", "/_emulator/reset", None).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        h2.get(&format!(
            "/v1.0/roleManagement/directory/roleEligibilitySchedules/{id}"
        ))
        .await
        .status,
        404
    );
    let saved = Tenant::from_file(&data).unwrap();
    assert!(
        saved
            .eligibility_schedules
            .iter()
            .all(|s| s.id.as_deref() != Some(id.as_str()))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn stats_count_every_request() {
    let h = harness().await;
    h.get("/v1.0/users?$top=1").await;
    h.get(&format!("/v1.0/users/{ALICE}")).await;
    h.call_as(None, "GET", "/v1.0/users", None).await;
    let s = h.call_as(None, "GET", "/_emulator/stats", None).await.body;
    assert_eq!(s["total"], 3);
    assert_eq!(s["byRoute"]["GET /v1.0/users"], 2);
    assert_eq!(s["byRoute"]["GET /v1.0/users/{id}"], 1);
    assert_eq!(s["byStatus"]["200"], 2);
    assert_eq!(s["byStatus"]["401"], 1);
}

// ---------------------------------------------------------------- seed format

#[test]
fn relative_times_in_seeds_resolve_against_the_clock() {
    let t = tenant();
    let alice = t
        .eligibility_schedules
        .iter()
        .find(|s| s.principal == "user:alice@fabrikam.com")
        .unwrap();
    assert_eq!(alice.end.as_deref(), Some("+P5D"));
    let bad = r#"{"tenantId":"x","users":[],"unknownThing":1}"#;
    assert!(Tenant::from_json(bad).is_err(), "unknown keys are rejected");
}

#[test]
fn seeds_match_the_json_schema() {
    // The seed format is pim's documented schema; the seeds are pim's and ours.
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("schemas/tenant.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for file in [
        "examples/contoso/tenant.json",
        "crates/pim-emulator/tests/fixtures/graph/test-tenant.json",
        "crates/pim-emulator/tests/fixtures/graph/conformance-tenant.json",
        "tests/fixtures/selfservice/tenant.json",
    ] {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(file)).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
        Tenant::from_json(&serde_json::to_string(&doc).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let bad = json!({ "tenantId": "x", "users": [{ "id": "1" }] });
    assert!(!validator.is_valid(&bad));
}

#[tokio::test]
async fn the_contoso_seed_loads() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let seed = Tenant::from_file(root.join("examples/contoso/tenant.json")).unwrap();
    let h = Harness::with_seed(seed, NOW).await;
    let r = h
        .get("/v1.0/users?$filter=userPrincipalName eq 'breakglass1@contoso.com'")
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    let users = h.get("/v1.0/users?$count=true&$top=1").await;
    assert!(users.body["@odata.count"].as_u64().unwrap() >= 200);
}

#[test]
fn the_contoso_config_is_valid_hcl_naming_seeded_principals() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("examples/contoso");
    let seed = Tenant::from_file(root.join("tenant.json")).unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".pim.hcl") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Every principal the config names exists in the seed.
        for part in text.split('"').skip(1).step_by(2) {
            if let Some(upn) = part.strip_prefix("user:") {
                assert!(
                    seed.users.iter().any(|u| u.user_principal_name == upn),
                    "{upn} missing from tenant.json"
                );
            } else if let Some(name) = part.strip_prefix("group:") {
                assert!(
                    seed.groups
                        .iter()
                        .any(|g| g.display_name == name && g.is_assignable_to_role),
                    "{name}"
                );
            } else if let Some(name) = part.strip_prefix("sp:") {
                assert!(
                    seed.service_principals
                        .iter()
                        .any(|s| s.display_name == name),
                    "{name}"
                );
            }
        }
    }
    assert_eq!(files, 3);
}

#[tokio::test]
async fn a_justification_longer_than_the_limit_is_refused() {
    let h = harness().await;
    let mut body = request(
        "adminAssign",
        ALICE,
        GLOBAL_READER,
        Some(for_duration("P10D")),
    );
    body["justification"] = json!("x".repeat(pim_model::MAX_JUSTIFICATION_CHARS + 1));
    let r = h.post(ASSIGN, &body).await;
    let msg = assert_graph_error(&r, 400, "BadRequest");
    assert!(msg.contains("justification is longer than 500"), "{msg}");
    body["justification"] = json!("x".repeat(pim_model::MAX_JUSTIFICATION_CHARS));
    let r = h.post(ASSIGN, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
}
