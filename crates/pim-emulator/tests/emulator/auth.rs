//! Auth and tokens: bearer tokens on Graph routes, the token endpoint and
//! its seeded applications, TLS, and the claims of JWT and opaque tokens.

use std::time::Duration;

use super::{ALICE, ASSIGN, GLOBAL_READER, NOW, SP, for_duration, harness, request, tenant};
use crate::emulator_common;
use crate::emulator_common::{Harness, assert_graph_error};
use pim_emulator::{EmulatorConfig, Tenant, TokenFormat};
use serde_json::{Value, json};

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

// ---------------------------------------------------------------- permissions

#[tokio::test]
async fn a_token_without_the_permission_gets_graphs_403() {
    use pim_emulator::{EmulatorClock, Permissions};
    let h = Harness::start(EmulatorConfig {
        seed: Some(tenant()),
        tls: false,
        clock: EmulatorClock::fixed(emulator_common::at(NOW)),
        permissions: Permissions {
            application: vec!["RoleManagement.Read.Directory".into()],
            delegated: vec!["RoleManagement.Read.Directory".into(), "User.Read".into()],
        },
        ..EmulatorConfig::default()
    })
    .await;
    let app = h.emu.mint_token(SP, false);
    let c = jwt_claims(&app);
    assert_eq!(c["roles"], json!(["RoleManagement.Read.Directory"]));
    assert_eq!(
        jwt_claims(&h.token)["scp"],
        "RoleManagement.Read.Directory User.Read"
    );
    for token in [&app, &h.token] {
        let body = request(
            "adminAssign",
            ALICE,
            GLOBAL_READER,
            Some(for_duration("P10D")),
        );
        let r = h.call_as(Some(token), "POST", ASSIGN, Some(&body)).await;
        let message = assert_graph_error(&r, 403, "UnknownError");
        // The PIM service's detail is JSON inside the message string.
        let inner: Value = serde_json::from_str(&message).unwrap();
        assert_eq!(
            inner,
            json!({
                "errorCode": "PermissionScopeNotGranted",
                "message": "Authorization failed due to missing permission scope RoleAssignmentSchedule.ReadWrite.Directory,RoleManagement.ReadWrite.Directory.",
                "instanceAnnotations": [],
            })
        );
        // Reading is allowed; the directory refuses in its own words.
        let r = h.call_as(Some(token), "GET", ASSIGN, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = h.call_as(Some(token), "GET", "/v1.0/users", None).await;
        assert_eq!(
            assert_graph_error(&r, 403, "Authorization_RequestDenied"),
            "Insufficient privileges to complete the operation."
        );
    }
    // Inside `$batch` too.
    let batch = json!({ "requests": [{ "id": "1", "method": "GET", "url": "/groups" }] });
    let r = h.post("/v1.0/$batch", &batch).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["responses"][0]["status"], 403, "{}", r.body);
}
