//! The Entra ID side: the v2.0 token endpoint (client credentials with a
//! secret or an assertion, and an emulator-only grant that signs in as a
//! seeded user), discovery documents azure_identity may ask for, and
//! bearer-token checks for Graph routes. Tokens are made in `token`; a
//! `scope` naming ARM gets an ARM token.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pim_model::Clock as _;
use serde_json::json;
use uuid::Uuid;

use super::store::ts;
use super::token::{Audience, ClientAuth};
use super::{Caller, Shared};
use std::sync::Arc;

/// The emulator-only grant: a delegated token for a seeded user, named by
/// `username` (UPN or object id), with the MFA claim when `mfa=true`.
/// Entra has no such grant; it stands in for an interactive sign-in.
pub const USER_GRANT: &str = "urn:pim:emulator:grant-type:user";

const TOKEN_NAMESPACE: Uuid = Uuid::from_u128(0x2b7e_1516_28ae_4d2a_a6ab_f715_8809_cf4f);

fn aad_error(
    shared: &Shared,
    status: StatusCode,
    error: &str,
    code: u32,
    description: &str,
) -> Response {
    let trace = Uuid::new_v4().to_string();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {trace} Timestamp: {}", ts(shared.clock.now())),
        "error_codes": [code],
        "timestamp": ts(shared.clock.now()),
        "trace_id": trace,
        "correlation_id": trace,
    });
    (status, axum::Json(body)).into_response()
}

fn tenant_known(shared: &Shared, tenant: &str) -> bool {
    let store = shared.lock_store();
    tenant.eq_ignore_ascii_case(&store.tenant_id)
        || store.domains.iter().any(|d| d.eq_ignore_ascii_case(tenant))
        || tenant.eq_ignore_ascii_case("organizations")
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let resp = match form {
        Ok(Form(form)) => issue(&shared, &tenant, &form),
        Err(_) => aad_error(
            &shared,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must be application/x-www-form-urlencoded.",
        ),
    };
    shared.record("POST /{tenant}/oauth2/v2.0/token", resp.status().as_str());
    resp
}

fn issue(shared: &Arc<Shared>, tenant: &str, form: &HashMap<String, String>) -> Response {
    let shared = shared.as_ref();
    if !tenant_known(shared, tenant) {
        return aad_error(
            shared,
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    if form.get("grant_type").map(String::as_str) == Some(USER_GRANT) {
        return issue_for_user(shared, tenant, form);
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return aad_error(
            shared,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let Some(client_id) = form.get("client_id").filter(|c| !c.is_empty()) else {
        return aad_error(
            shared,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let secret = form.get("client_secret");
    let assertion = form.get("client_assertion");
    if secret.is_none() && assertion.is_none() {
        return aad_error(
            shared,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    }
    let (object_id, display_name) = {
        let store = shared.lock_store();
        if !store.applications.is_empty() {
            let Some(app) = store
                .applications
                .iter()
                .find(|a| a.app_id.eq_ignore_ascii_case(client_id))
            else {
                drop(store);
                return aad_error(
                    shared,
                    StatusCode::BAD_REQUEST,
                    "unauthorized_client",
                    700016,
                    &format!(
                        "Application with identifier '{client_id}' was not found in the directory."
                    ),
                );
            };
            let secret_ok = match secret {
                Some(s) => app.secrets.is_empty() || app.secrets.iter().any(|x| x == s),
                None => true,
            };
            if !secret_ok {
                drop(store);
                return aad_error(
                    shared,
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
                );
            }
        }
        match store
            .service_principals
            .iter()
            .find(|s| s.app_id.eq_ignore_ascii_case(client_id))
        {
            Some(sp) => (sp.id.clone(), Some(sp.display_name.clone())),
            None => (
                Uuid::new_v5(&TOKEN_NAMESPACE, client_id.to_ascii_lowercase().as_bytes())
                    .to_string(),
                None,
            ),
        }
    };
    let caller = Caller {
        object_id,
        app_id: Some(client_id.clone()),
        mfa: shared.tokens_have_mfa,
        display_name,
        upn: None,
        permissions: Vec::new(),
    };
    let auth = if secret.is_some() {
        ClientAuth::Secret
    } else {
        ClientAuth::Assertion
    };
    token_response(shared, &caller, auth, form)
}

fn token_response(
    shared: &Shared,
    caller: &Caller,
    auth: ClientAuth,
    form: &HashMap<String, String>,
) -> Response {
    let audience = Audience::of_scope(form.get("scope").map(String::as_str));
    let (token, lifetime) = shared.issue_token(caller, auth, audience);
    axum::Json(json!({ "token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token }))
        .into_response()
}

/// A delegated token for a seeded, enabled user (see [`USER_GRANT`]).
fn issue_for_user(shared: &Shared, tenant: &str, form: &HashMap<String, String>) -> Response {
    let Some(name) = form.get("username").filter(|u| !u.trim().is_empty()) else {
        return aad_error(
            shared,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'username'.",
        );
    };
    let user = {
        let store = shared.lock_store();
        store
            .users
            .iter()
            .find(|u| {
                u.user_principal_name.eq_ignore_ascii_case(name) || u.id.eq_ignore_ascii_case(name)
            })
            .cloned()
    };
    let Some(user) = user else {
        return aad_error(
            shared,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50034,
            &format!("The user account {name} does not exist in the {tenant} directory."),
        );
    };
    if !user.account_enabled {
        return aad_error(
            shared,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50057,
            "The user account is disabled.",
        );
    }
    let mfa = form
        .get("mfa")
        .is_some_and(|m| m.eq_ignore_ascii_case("true") || m == "1");
    let caller = Caller {
        object_id: user.id.to_ascii_lowercase(),
        app_id: None,
        mfa,
        display_name: Some(user.display_name.clone()),
        upn: Some(user.user_principal_name.clone()),
        permissions: Vec::new(),
    };
    token_response(shared, &caller, ClientAuth::Public, form)
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) async fn openid_configuration(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
) -> Response {
    let base = &shared.base_url;
    let tid = shared.lock_store().tenant_id.clone();
    axum::Json(json!({
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "issuer": format!("{base}/{tid}/v2.0"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
        "end_session_endpoint": format!("{base}/{tenant}/oauth2/v2.0/logout"),
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
    }))
    .into_response()
}

/// `GET /common/discovery/instance` (MSAL instance discovery).
pub(crate) async fn instance_discovery(State(shared): State<Arc<Shared>>) -> Response {
    let host = shared
        .base_url
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    axum::Json(json!({
        "tenant_discovery_endpoint": format!("{}/common/v2.0/.well-known/openid-configuration", shared.base_url),
        "api-version": "1.1",
        "metadata": [{ "preferred_network": host, "preferred_cache": host, "aliases": [host] }],
    }))
    .into_response()
}
