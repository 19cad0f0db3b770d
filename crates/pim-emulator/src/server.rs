//! The HTTP edge: the axum router, the Graph entry point (auth, faults,
//! stats, request ids, error envelope, persistence; ARM paths are handed
//! to `arm`) and the accept loop that
//! serves plain HTTP or TLS and can drop a connection on purpose.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::TokioIo;
use pim_model::Clock as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::error::ApiError;
use super::faults::{Reset, route_key};
use super::graph::{Body as GraphBody, GraphResponse, IncomingCall, dispatch, is_write};
use super::{Caller, Decision, Shared, auth, batch};

/// Lets a handler drop its own connection (connection-reset faults).
#[derive(Clone)]
pub(crate) struct ConnKill(Arc<Notify>);

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/approve", post(approve))
        .route("/{tenant}/oauth2/v2.0/token", post(auth::token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(auth::openid_configuration),
        )
        .route("/common/discovery/instance", get(auth::instance_discovery))
        .fallback(graph_entry)
        .with_state(shared)
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.stats_json()).into_response()
}

async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    match shared.reset() {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

/// `POST /_emulator/approve` with `{"id": approval or request id,
/// "reviewResult": "Approve" | "Deny", "approver": UPN or object id (optional)}`:
/// what an approver (or, for extensions, an administrator) decides.
/// Emulator-only: Graph v1.0 has no approval endpoint for directory roles.
async fn approve(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let result = match parsed {
        Err(e) => Err(ApiError::bad_request(format!(
            "Unable to read JSON request payload: {e}"
        ))),
        Ok(v) => {
            let decision = match field(&v, "reviewResult").as_deref() {
                Some(r) if r.eq_ignore_ascii_case("Approve") => Ok(Decision::Approve),
                Some(r) if r.eq_ignore_ascii_case("Deny") => Ok(Decision::Deny),
                _ => Err(ApiError::bad_request(
                    "reviewResult must be Approve or Deny.",
                )),
            };
            match (field(&v, "id"), decision) {
                (Some(id), Ok(d)) => shared.decide(&id, d, field(&v, "approver").as_deref()),
                (None, _) => Err(ApiError::bad_request("The property 'id' is required.")),
                (_, Err(e)) => Err(e),
            }
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    let ids = Ids {
        request_id: id.clone(),
        client_request_id: id.clone(),
    };
    let mut resp = match result {
        Ok(req) => json_response(200, Some(req)),
        Err(e) => error_response(&shared, &e, &ids),
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("request-id", v.clone());
        resp.headers_mut().insert("client-request-id", v);
    }
    shared.record("POST /_emulator/approve", resp.status().as_str());
    resp
}

pub(crate) fn throttled(retry_after: u64) -> ApiError {
    let mut e = ApiError::new(429, "TooManyRequests", "Please retry again later.")
        .with_header("Retry-After", retry_after.to_string());
    e.inner = Some(json!({ "code": "429", "message": "Please retry after", "status": "429" }));
    e
}

fn server_error(status: u16) -> ApiError {
    if status == 503 {
        ApiError::new(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry later.",
        )
        .with_header("Retry-After", "1")
    } else {
        ApiError::new(
            504,
            "GatewayTimeout",
            "The gateway did not receive a timely response.",
        )
    }
}

struct Ids {
    request_id: String,
    client_request_id: String,
}

fn error_response(shared: &Shared, e: &ApiError, ids: &Ids) -> Response {
    let date = shared.clock.now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let body = e.body(&date, &ids.request_id, &ids.client_request_id);
    let mut resp = json_response(e.status, Some(body));
    for (k, v) in &e.headers {
        if let (Ok(name), Ok(val)) = (
            axum::http::HeaderName::try_from(k.as_str()),
            HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(name, val);
        }
    }
    resp
}

fn json_response(status: u16, body: Option<Value>) -> Response {
    encoded_response(status, body.map(GraphBody::Value))
}

fn encoded_response(status: u16, body: Option<GraphBody>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match body {
        Some(b) => {
            let bytes = b.into_bytes();
            let mut r = (status, bytes).into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"),
            );
            r
        }
        None => status.into_response(),
    }
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let raw = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = raw
        .strip_prefix("Bearer ")
        .or_else(|| raw.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(401, "InvalidAuthenticationToken", "Access token is empty.")
        })?;
    shared
        .caller(token, crate::Audience::Graph)
        .map_err(|why| why.to_graph())
}

/// Every Graph path: auth, faults, dispatch, envelope, persistence; ARM's
/// paths (`/subscriptions/…`, `/providers/…`) go to `arm::entry`.
async fn graph_entry(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if crate::arm::is_arm_path(parts.uri.path()) {
        return crate::arm::entry(shared, parts, body).await;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = parts
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let ids = Ids {
        request_id,
        client_request_id,
    };
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let route = route_key(&method, &path);
    let kill = parts.extensions.get::<ConnKill>().cloned();

    let (resp, status_label) = handle(
        &shared,
        &parts.headers,
        &method,
        &path,
        &raw_query,
        body,
        &ids,
        kill,
    )
    .await;
    shared.record(&route, &status_label);
    tracing::info!(target: "pim::emulator", %method, %path, status = %status_label, request_id = %ids.request_id, "graph request");
    let mut resp = resp;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ids.request_id) {
        h.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ids.client_request_id) {
        h.insert("client-request-id", v);
    }
    resp
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    raw_query: &str,
    body: Body,
    ids: &Ids,
    kill: Option<ConnKill>,
) -> (Response, String) {
    if let Some(d) = shared.faults.latency() {
        tokio::time::sleep(d).await;
    }
    let caller = match authenticate(shared, headers) {
        Ok(c) => c,
        Err(e) => return (error_response(shared, &e, ids), e.status.to_string()),
    };
    let client = caller
        .app_id
        .clone()
        .unwrap_or_else(|| caller.object_id.clone());
    if let Some(after) = shared.faults.throttle(&client) {
        let e = throttled(after);
        return (error_response(shared, &e, ids), "429".into());
    }
    if let Some(status) = shared.faults.server_error() {
        let e = server_error(status);
        return (error_response(shared, &e, ids), status.to_string());
    }
    let reset = match &kill {
        Some(_) => shared.faults.reset(is_write(method, path)),
        None => Reset::No,
    };
    if reset == Reset::BeforeHandling {
        shared.record(&route_key(method, path), "reset");
        drop_connection(&kill).await;
    }
    let bytes: Bytes = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            let e = ApiError::bad_request("The request body could not be read.");
            return (error_response(shared, &e, ids), "400".into());
        }
    };
    let call = IncomingCall {
        method,
        path,
        raw_query,
        body: &bytes,
        caller: &caller,
    };
    let result = shared.charged(|| {
        if path.trim_end_matches('/').ends_with("/$batch") {
            if method != "POST" {
                Err(ApiError::method_not_allowed())
            } else {
                batch::run(shared, &caller, &client, &bytes).map(|(body, wrote)| GraphResponse {
                    status: 200,
                    body: Some(GraphBody::Value(body)),
                    headers: Vec::new(),
                    wrote,
                })
            }
        } else {
            dispatch(shared, &call)
        }
    });
    let (resp, label) = match result {
        Ok(r) => {
            if r.wrote
                && let Err(e) = shared.persist()
            {
                tracing::error!(target: "pim::emulator", "cannot persist the tenant: {e}");
                let e = ApiError::new(
                    500,
                    "InternalServerError",
                    format!("The emulator could not save its data: {e}"),
                );
                return (error_response(shared, &e, ids), "500".into());
            }
            let mut resp = encoded_response(r.status, r.body);
            for (k, v) in r.headers {
                if let (Ok(name), Ok(val)) = (
                    axum::http::HeaderName::try_from(k.as_str()),
                    HeaderValue::from_str(&v),
                ) {
                    resp.headers_mut().insert(name, val);
                }
            }
            (resp, r.status.to_string())
        }
        Err(e) => (error_response(shared, &e, ids), e.status.to_string()),
    };
    if reset == Reset::AfterHandling {
        shared.record(&route_key(method, path), "reset-after-write");
        drop_connection(&kill).await;
    }
    (resp, label)
}

/// Ask the connection task to close the socket, then never answer.
pub(crate) async fn drop_connection(kill: &Option<ConnKill>) {
    if let Some(k) = kill {
        k.0.notify_one();
    }
    std::future::pending::<()>().await;
}

/// Accept connections until `shutdown` fires.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(target: "pim::emulator", "accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        conns.spawn(async move {
            match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => serve_connection(s, app).await,
                    Err(e) => tracing::debug!(target: "pim::emulator", "TLS handshake failed: {e}"),
                },
                None => serve_connection(stream, app).await,
            }
        });
        while conns.try_join_next().is_some() {}
    }
    conns.abort_all();
}

async fn serve_connection<S>(stream: S, app: Router)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let notify = Arc::new(Notify::new());
    let kill = ConnKill(notify.clone());
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(kill.clone());
            let app = app.clone();
            async move {
                Ok::<_, Infallible>(
                    app.oneshot(req.map(Body::new))
                        .await
                        .unwrap_or_else(|e| match e {}),
                )
            }
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        r = conn => {
            if let Err(e) = r {
                tracing::debug!(target: "pim::emulator", "connection ended: {e}");
            }
        }
        _ = notify.notified() => {
            tracing::debug!(target: "pim::emulator", "dropping a connection (fault injection)");
        }
    }
}
