//! The Azure Resource Manager side: PIM for Azure resource roles
//! (`Microsoft.Authorization`, api-version 2020-10-01) under
//! `/{scope}/providers/Microsoft.Authorization/<collection>[/<name>]`, and
//! the approvals of its preview API (2021-01-01-preview).
//! This module owns the ARM edge (ARM tokens, `api-version`, CloudError
//! bodies, rate-limit headers, faults) and the routing to the handlers
//! below; the state lives in `store::arm`.

mod approvals;
mod filter;
mod policies;
pub(crate) mod requests;
mod roles;
mod schedules;
pub(crate) mod throttle;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use pim_model::Clock as _;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::faults::{Reset, route_key};
use crate::odata::percent_decode;
use crate::server::{ConnKill, drop_connection};
use crate::store::Store;
use crate::store::arm::fold_scope;
use crate::token::Invalid;
use crate::{Audience, Caller, Shared};

/// The api-version of every PIM collection.
pub(crate) const PIM_API_VERSION: &str = "2020-10-01";

/// Versions each collection takes. UNVERIFIED beyond 2020-10-01: the
/// `validate` examples use 2022-04-01, role definitions are read with
/// 2022-04-01 by clients; later versions are accepted as the same shapes.
fn api_versions(collection: Collection) -> &'static [&'static str] {
    match collection {
        Collection::RoleDefinitions => &["2015-07-01", "2018-01-01-preview", "2022-04-01"],
        Collection::Approvals => &["2021-01-01-preview"],
        Collection::RoleAssignments => &["2015-07-01", "2020-04-01-preview", "2022-04-01"],
        _ => &[PIM_API_VERSION, "2020-10-01-preview", "2022-04-01"],
    }
}

/// The collections served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collection {
    EligibilityRequests,
    AssignmentRequests,
    EligibilitySchedules,
    AssignmentSchedules,
    EligibilityInstances,
    AssignmentInstances,
    Policies,
    PolicyAssignments,
    RoleDefinitions,
    EligibleChildResources,
    Approvals,
    RoleAssignments,
}

impl Collection {
    fn parse(seg: &str) -> Option<Collection> {
        let all = [
            (
                "roleEligibilityScheduleRequests",
                Collection::EligibilityRequests,
            ),
            (
                "roleAssignmentScheduleRequests",
                Collection::AssignmentRequests,
            ),
            ("roleEligibilitySchedules", Collection::EligibilitySchedules),
            ("roleAssignmentSchedules", Collection::AssignmentSchedules),
            (
                "roleEligibilityScheduleInstances",
                Collection::EligibilityInstances,
            ),
            (
                "roleAssignmentScheduleInstances",
                Collection::AssignmentInstances,
            ),
            ("roleManagementPolicies", Collection::Policies),
            (
                "roleManagementPolicyAssignments",
                Collection::PolicyAssignments,
            ),
            ("roleDefinitions", Collection::RoleDefinitions),
            ("eligibleChildResources", Collection::EligibleChildResources),
            ("roleAssignmentApprovals", Collection::Approvals),
            ("roleAssignments", Collection::RoleAssignments),
        ];
        all.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(seg))
            .map(|(_, c)| *c)
    }
}

/// A handler's answer before it is put on the wire.
#[derive(Debug)]
pub(crate) struct ArmResponse {
    pub status: u16,
    pub body: Option<Value>,
    /// The tenant changed: persist it.
    pub wrote: bool,
}

impl ArmResponse {
    pub fn ok(body: Value) -> Self {
        ArmResponse {
            status: 200,
            body: Some(body),
            wrote: false,
        }
    }
}

/// One authenticated ARM call, its path already taken apart.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    /// Index of the URL's scope in `ArmStore::scopes`.
    pub scope: usize,
    pub name: Option<&'a str>,
    /// A segment after the name (`cancel`, `validate`).
    pub action: Option<&'a str>,
    pub query: &'a Query,
    pub body: &'a [u8],
    pub caller: &'a Caller,
    pub now: chrono::DateTime<chrono::Utc>,
    /// For `nextLink`.
    pub base: &'a str,
    pub path: &'a str,
    pub page_size: usize,
    /// How long principals created at run time stay unknown (`SubjectNotFound`).
    pub new_object_delay: Option<chrono::TimeDelta>,
    pub policy_names: crate::ArmPolicyNames,
    pub authorization: crate::ArmAuthorization,
}

/// The query options ARM reads.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub api_version: Option<String>,
    pub filter: Option<String>,
    pub skiptoken: Option<usize>,
    /// The raw pairs, minus `$skiptoken`, for `nextLink`.
    raw_rest: Vec<String>,
}

impl Query {
    fn parse(raw: &str) -> Query {
        let mut q = Query::default();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(k);
            let value = percent_decode(v);
            match key.to_ascii_lowercase().as_str() {
                "$skiptoken" => {
                    q.skiptoken = value.parse().ok();
                    continue;
                }
                "api-version" => q.api_version = Some(value),
                "$filter" => q.filter = Some(value),
                // `$top` is not defined on the 2020-10-01 PIM lists
                // (UNVERIFIED whether ARM honours it): ignored, pages are
                // the server's.
                _ => {}
            }
            q.raw_rest.push(pair.to_string());
        }
        q
    }

    /// The URL of the page starting at `offset`.
    pub fn next_link(&self, base: &str, path: &str, offset: usize) -> String {
        let mut pairs = self.raw_rest.clone();
        pairs.push(format!("$skiptoken={offset}"));
        format!("{base}{path}?{}", pairs.join("&"))
    }
}

/// One page of `items` as ARM lists it: `{value, nextLink}`.
pub(crate) fn page(call: &Call<'_>, items: Vec<Value>) -> ArmResponse {
    let start = call.query.skiptoken.unwrap_or(0).min(items.len());
    let end = start.saturating_add(call.page_size).min(items.len());
    let mut body = json!({ "value": items[start..end].to_vec() });
    if end < items.len() {
        body["nextLink"] = json!(call.query.next_link(call.base, call.path, end));
    }
    ArmResponse::ok(body)
}

/// Whether a path is ARM's rather than Graph's (which all start with a version).
pub(crate) fn is_arm_path(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.starts_with("/subscriptions/")
        || p.trim_end_matches('/') == "/subscriptions"
        || p.starts_with("/providers/")
}

/// The api-versions of `Microsoft.Resources` subscriptions the emulator
/// takes (a few of the many ARM accepts).
const SUBSCRIPTION_API_VERSIONS: &[&str] = &["2020-01-01", "2021-01-01", "2022-12-01"];

/// `GET /subscriptions` (Microsoft.Resources): the tenant's subscriptions.
/// UNVERIFIED: ARM lists those the caller holds some role on; the emulator
/// lists all of them, whoever asks. The shape follows the
/// `Subscriptions_List` reference (id, subscriptionId, tenantId,
/// displayName, state), without `subscriptionPolicies`.
fn list_subscriptions(
    store: &Store,
    q: &Query,
    method: &str,
    path: &str,
) -> ApiResult<ArmResponse> {
    if method != "GET" {
        return Err(no_route(method, path));
    }
    match q.api_version.as_deref().filter(|v| !v.is_empty()) {
        None => {
            return Err(cloud_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            ));
        }
        Some(v) if !SUBSCRIPTION_API_VERSIONS.contains(&v) => {
            return Err(cloud_error(
                400,
                "NoRegisteredProviderFound",
                format!(
                    "No registered resource provider found for location 'global' and API version '{v}' for type 'subscriptions'. The supported api-versions are '{}'.",
                    SUBSCRIPTION_API_VERSIONS.join(", ")
                ),
            ));
        }
        Some(_) => {}
    }
    let value: Vec<Value> = store
        .arm
        .scopes
        .iter()
        .filter(|s| s.kind == crate::store::arm::ScopeKind::Subscription)
        .map(|s| {
            json!({
                "id": s.id,
                "authorizationSource": "RoleBased",
                "managedByTenants": [],
                "subscriptionId": s.subscription.clone().unwrap_or_default(),
                "tenantId": store.tenant_id,
                "displayName": s.display_name,
                "state": "Enabled",
            })
        })
        .collect();
    let count = value.len();
    Ok(ArmResponse::ok(json!({
        "count": { "type": "Total", "value": count },
        "value": value,
    })))
}

/// `{scope}/providers/Microsoft.Authorization/{rest}` for a canonical scope id.
pub(crate) fn under(scope: &str, rest: &str) -> String {
    let s = scope.trim_end_matches('/');
    format!("{s}/providers/Microsoft.Authorization/{rest}")
}

// ---------------------------------------------------------------------------
// Errors

pub(crate) fn cloud_error(status: u16, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

/// What ARM answers for a token it refuses.
fn auth_error(why: Option<Invalid>) -> ApiError {
    let (code, message) = match why {
        None => (
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_string(),
        ),
        Some(Invalid::Audience) => (
            "InvalidAuthenticationTokenAudience",
            "The access token has been obtained for wrong audience or resource 'https://graph.microsoft.com'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.".to_string(),
        ),
        // UNVERIFIED: ARM puts both times in this message; the emulator's
        // tokens age in real time, which the message does not need.
        Some(Invalid::Expired) | Some(Invalid::NotYetValid) => (
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.".to_string(),
        ),
        Some(Invalid::Malformed) | Some(Invalid::Signature) => (
            "InvalidAuthenticationToken",
            "The access token is invalid.".to_string(),
        ),
    };
    let described = message.replace('"', "'");
    cloud_error(401, code, message).with_header(
        "WWW-Authenticate",
        format!(
            "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\"{described}\""
        ),
    )
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
        .ok_or_else(|| auth_error(None))?;
    shared
        .caller(token, Audience::Arm)
        .map_err(|why| auth_error(Some(why)))
}

fn not_found_scope(path: &str) -> ApiError {
    let folded = fold_scope(path);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let seg = |i: usize| segs.get(i).copied().unwrap_or("");
    if folded.starts_with("/providers/microsoft.management/managementgroups/") {
        // UNVERIFIED: code and message for an unknown management group.
        return cloud_error(
            404,
            "ManagementGroupNotFound",
            format!("Management group '{}' not found.", seg(3)),
        );
    }
    let off = if path
        .to_ascii_lowercase()
        .trim_start_matches('/')
        .starts_with("providers/microsoft.subscription/")
    {
        2
    } else {
        0
    };
    match segs.len().saturating_sub(off) {
        0..=2 => cloud_error(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{}' could not be found.", seg(off + 1)),
        ),
        3 | 4 => cloud_error(
            404,
            "ResourceGroupNotFound",
            format!("Resource group '{}' could not be found.", seg(off + 3)),
        ),
        _ => {
            let rest = &segs[off + 5..];
            cloud_error(
                404,
                "ResourceNotFound",
                format!(
                    "The Resource '{}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                    rest.join("/"),
                    seg(off + 3)
                ),
            )
        }
    }
}

/// The scope part and what follows `/providers/Microsoft.Authorization/`.
fn split_path(path: &str) -> ApiResult<(String, Vec<String>)> {
    const MARK: &str = "/providers/microsoft.authorization/";
    let lower = path.to_ascii_lowercase();
    let Some(at) = lower.rfind(MARK) else {
        return Err(cloud_error(
            404,
            "InvalidResourceType",
            format!("The resource type could not be found in the namespace for the path '{path}'."),
        ));
    };
    let scope = path[..at].to_string();
    let rest = path[at + MARK.len()..]
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    Ok((scope, rest))
}

fn check_api_version(q: &Query, collection: Collection, seg: &str) -> ApiResult<()> {
    let supported = api_versions(collection);
    let Some(v) = q.api_version.as_deref().filter(|v| !v.is_empty()) else {
        return Err(cloud_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    if supported.contains(&v) {
        return Ok(());
    }
    let well_formed = v.len() >= 10
        && v[..10].chars().enumerate().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        })
        && (v.len() == 10 || v[10..].starts_with('-'));
    if !well_formed {
        return Err(cloud_error(
            400,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions are '{}'.",
                supported.join(",")
            ),
        ));
    }
    Err(cloud_error(
        400,
        "NoRegisteredProviderFound",
        format!(
            "No registered resource provider found for location 'global' and API version '{v}' for type '{seg}'. The supported api-versions are '{}'. The supported locations are ''.",
            supported.join(", ")
        ),
    ))
}

// ---------------------------------------------------------------------------
// Routing

fn dispatch(
    shared: &Shared,
    store: &mut Store,
    method: &str,
    path: &str,
    q: &Query,
    body: &[u8],
    caller: &Caller,
) -> ApiResult<ArmResponse> {
    if path
        .trim_end_matches('/')
        .eq_ignore_ascii_case("/subscriptions")
    {
        return list_subscriptions(store, q, method, path);
    }
    let (scope_path, rest) = split_path(path)?;
    let Some(first) = rest.first() else {
        return Err(cloud_error(
            400,
            "InvalidResourceType",
            "The resource type '' could not be found in the namespace 'Microsoft.Authorization'.",
        ));
    };
    let collection = Collection::parse(first).ok_or_else(|| {
        cloud_error(
            400,
            "InvalidResourceType",
            format!(
                "The resource type '{first}' could not be found in the namespace 'Microsoft.Authorization' for api version '{}'.",
                q.api_version.as_deref().unwrap_or("")
            ),
        )
    })?;
    check_api_version(q, collection, first)?;
    let scope = store
        .arm
        .find_scope(if scope_path.is_empty() {
            "/"
        } else {
            &scope_path
        })
        .ok_or_else(|| not_found_scope(&scope_path))?;
    let depth = if collection == Collection::Approvals {
        4
    } else {
        3
    };
    if rest.len() > depth {
        return Err(no_route(method, path));
    }
    let call = Call {
        method,
        scope,
        name: rest.get(1).map(String::as_str),
        action: rest.get(2).map(String::as_str),
        query: q,
        body,
        caller,
        now: shared.clock.now(),
        base: &shared.base_url,
        path,
        page_size: shared.page_size,
        new_object_delay: shared.faults.new_object_delay(),
        policy_names: shared.arm_policy_names,
        authorization: shared.arm_authorization,
    };
    time_out_approvals(store, call.now);
    use crate::store::Kind;
    match collection {
        Collection::EligibilityRequests => requests::route(store, &call, Kind::Eligibility),
        Collection::AssignmentRequests => requests::route(store, &call, Kind::Assignment),
        Collection::EligibilitySchedules => {
            schedules::route(store, &call, Kind::Eligibility, false)
        }
        Collection::AssignmentSchedules => schedules::route(store, &call, Kind::Assignment, false),
        Collection::EligibilityInstances => schedules::route(store, &call, Kind::Eligibility, true),
        Collection::AssignmentInstances => schedules::route(store, &call, Kind::Assignment, true),
        Collection::Policies => policies::route_policies(store, &call),
        Collection::PolicyAssignments => policies::route_assignments(store, &call),
        Collection::RoleDefinitions => roles::route_definitions(store, &call),
        Collection::RoleAssignments => schedules::route_role_assignments(store, &call),
        Collection::EligibleChildResources => roles::route_children(store, &call),
        Collection::Approvals => approvals::route(store, &call, rest.get(3).map(String::as_str)),
    }
}

/// Roles whose `Microsoft.Authorization/roleAssignments/write` lets a
/// caller manage PIM grants and role settings [doc]; the last UNVERIFIED.
const RBAC_WRITERS: [&str; 3] = [
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
];

/// Under `ArmAuthorization::Rbac`, that the caller holds a writer role
/// (actively, directly or through a group) at the call's scope or above.
pub(crate) fn authorize_write(store: &Store, call: &Call<'_>, action: &str) -> ApiResult<()> {
    if call.authorization == crate::ArmAuthorization::Open {
        return Ok(());
    }
    let me = call.caller.object_id.to_ascii_lowercase();
    let mut who = schedules::groups_of(store, &me, call.now);
    who.push(me.clone());
    let ok = store.arm.schedules.iter().any(|s| {
        s.kind == crate::store::Kind::Assignment
            && s.is_active(call.now)
            && RBAC_WRITERS.contains(&s.role.as_str())
            && who.iter().any(|w| w.eq_ignore_ascii_case(&s.principal))
            && store
                .arm
                .find_scope(&s.scope)
                .is_some_and(|i| store.arm.is_at_or_above(i, call.scope))
    });
    if ok {
        return Ok(());
    }
    let scope = &store.arm.scopes[call.scope].id;
    Err(cloud_error(
        403,
        "AuthorizationFailed",
        format!(
            "The client '{me}' with object id '{me}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
        ),
    ))
}

/// "Delegated approvers have 24 hours to approve requests … The 24-hour
/// approval time window isn't configurable" [doc]: a request still waiting
/// a day after it was made has timed out (the status it then shows,
/// `TimedOut`, is UNVERIFIED). Done lazily, on the next ARM call.
fn time_out_approvals(store: &mut Store, now: chrono::DateTime<chrono::Utc>) {
    for r in &mut store.arm.requests {
        let created = r
            .props
            .get("createdOn")
            .and_then(Value::as_str)
            .and_then(crate::store::parse_ts);
        if r.str("status") == "PendingApproval"
            && created.is_some_and(|c| c + chrono::TimeDelta::hours(24) <= now)
        {
            r.props["status"] = json!("TimedOut");
        }
    }
}

pub(crate) fn no_route(method: &str, path: &str) -> ApiError {
    cloud_error(
        405,
        "MethodNotAllowed",
        format!("The requested resource does not support http method '{method}' for '{path}'."),
    )
}

pub(crate) fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        cloud_error(
            400,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{e}'."),
        )
    })
}

/// A member of an object, its name in any case (ARM reads PascalCase too).
pub(crate) fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

pub(crate) fn str_ci<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get_ci(v, key).and_then(Value::as_str)
}

// ---------------------------------------------------------------------------
// The edge

fn error_response(e: &ApiError) -> Response {
    let body = json!({ "error": { "code": e.code, "message": e.message } });
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
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match body {
        Some(b) => {
            let bytes = serde_json::to_vec(&b).unwrap_or_default();
            let mut r = (status, bytes).into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        }
        None => {
            let mut r = status.into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_LENGTH,
                HeaderValue::from_static("0"),
            );
            r
        }
    }
}

fn server_error(status: u16) -> ApiError {
    if status == 503 {
        cloud_error(
            503,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please retry later.",
        )
        .with_header("Retry-After", "1")
    } else {
        cloud_error(
            504,
            "GatewayTimeout",
            "The gateway did not receive a response from 'Microsoft.Authorization' within the specified time period.",
        )
    }
}

/// Every ARM path: faults, auth, rate limits, dispatch, persistence.
pub(crate) async fn entry(shared: Arc<Shared>, parts: Parts, body: Body) -> Response {
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let route = route_key(&method, &path);
    let kill = parts.extensions.get::<ConnKill>().cloned();
    let request_id = uuid::Uuid::new_v4().to_string();
    let correlation = parts
        .headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let client_request_id = parts
        .headers
        .get("x-ms-client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let (mut resp, label) = handle(
        &shared,
        &parts.headers,
        &method,
        &path,
        &raw_query,
        body,
        kill,
    )
    .await;
    shared.record(&route, &label);
    tracing::info!(target: "pim::emulator", %method, %path, status = %label, request_id = %request_id, "arm request");
    let h = resp.headers_mut();
    for (k, v) in [
        ("x-ms-request-id", Some(request_id.clone())),
        ("x-ms-correlation-request-id", Some(correlation)),
        (
            "x-ms-routing-request-id",
            Some(format!("GLOBAL:{request_id}")),
        ),
        ("x-ms-client-request-id", client_request_id),
    ] {
        if let Some(v) = v
            && let Ok(v) = HeaderValue::from_str(&v)
        {
            h.insert(k, v);
        }
    }
    resp
}

async fn handle(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    raw_query: &str,
    body: Body,
    kill: Option<ConnKill>,
) -> (Response, String) {
    let fail = |e: ApiError| {
        let label = e.status.to_string();
        (error_response(&e), label)
    };
    if let Some(d) = shared.faults.latency() {
        tokio::time::sleep(d).await;
    }
    let caller = match authenticate(shared, headers) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let client = caller
        .app_id
        .clone()
        .unwrap_or_else(|| caller.object_id.clone());
    let bucket = throttle::Bucket::of(method, path, &client);
    if let Some(after) = shared.faults.throttle(&client) {
        return fail(throttle::throttled(&bucket, after));
    }
    let remaining = match shared
        .arm_limits
        .take(&bucket, &shared.faults.cfg.arm_limits)
    {
        Ok(n) => n,
        Err(after) => return fail(throttle::throttled(&bucket, after)),
    };
    if let Some(status) = shared.faults.server_error() {
        return fail(server_error(status));
    }
    let reset = match &kill {
        Some(_) => shared.faults.reset(method != "GET"),
        None => Reset::No,
    };
    if reset == Reset::BeforeHandling {
        shared.record(&route_key(method, path), "reset");
        drop_connection(&kill).await;
    }
    let bytes: Bytes = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return fail(cloud_error(
                400,
                "InvalidRequestContent",
                "The request content could not be read.",
            ));
        }
    };
    let q = Query::parse(raw_query);
    let result = shared.charged(|| {
        let mut store = shared.lock_store();
        dispatch(shared, &mut store, method, path, &q, &bytes, &caller)
    });
    let (mut resp, label) = match result {
        Ok(r) => {
            if r.wrote
                && let Err(e) = shared.persist()
            {
                tracing::error!(target: "pim::emulator", "cannot persist the tenant: {e}");
                return fail(cloud_error(
                    500,
                    "InternalServerError",
                    format!("The emulator could not save its data: {e}"),
                ));
            }
            let label = r.status.to_string();
            (json_response(r.status, r.body), label)
        }
        Err(e) => fail(e),
    };
    if let Ok(v) = HeaderValue::from_str(&remaining.to_string()) {
        resp.headers_mut().insert(bucket.header(), v);
    }
    if reset == Reset::AfterHandling {
        shared.record(&route_key(method, path), "reset-after-write");
        drop_connection(&kill).await;
    }
    (resp, label)
}
