//! Graph routing: a call's path to its handler (in the modules below), the
//! response type and the path helpers they share. Handlers are synchronous
//! over the locked store; the HTTP edge lives in `server`, `$batch` in `batch`.

mod approvals;
mod directory;
mod grants;
mod listing;
mod policies;
mod role_management;
mod rules;

use pim_model::Clock as _;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::odata::{Query, apply_select, percent_decode};
use super::store::{Store, Surface};
use super::{Caller, Shared};
use directory::{Dir, directory, get_by_ids, me};
use grants::{Env, Set};
use listing::entity_context;
use policies::{policies, policy_assignments};
use role_management::role_definitions;

pub(crate) const METADATA: &str = "https://graph.microsoft.com/v1.0/$metadata#";

/// A handler's answer before it is put on the wire (or into a `$batch` response).
#[derive(Debug, Clone)]
pub(crate) struct GraphResponse {
    pub status: u16,
    pub body: Option<Body>,
    pub headers: Vec<(String, String)>,
    /// The tenant changed: persist it.
    pub wrote: bool,
}

/// A response body: a `Value`, or the JSON text a hot path wrote directly
/// (the same text that `Value` would serialise to).
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Value(Value),
    Encoded(Vec<u8>),
}

impl Body {
    /// The JSON text of the body.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            // A `Value` always serialises.
            Body::Value(v) => serde_json::to_vec(&v).unwrap_or_default(),
            Body::Encoded(b) => b,
        }
    }

    /// The body as a `Value`, to nest in a `$batch` response.
    pub fn into_value(self) -> Value {
        match self {
            Body::Value(v) => v,
            // Written by the emulator from a `Value`'s fields: it parses.
            Body::Encoded(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        }
    }
}

impl GraphResponse {
    fn ok(body: Value) -> Self {
        GraphResponse {
            status: 200,
            body: Some(Body::Value(body)),
            headers: Vec::new(),
            wrote: false,
        }
    }
    /// 200 with JSON text already written.
    fn ok_encoded(body: Vec<u8>) -> Self {
        GraphResponse {
            status: 200,
            body: Some(Body::Encoded(body)),
            headers: Vec::new(),
            wrote: false,
        }
    }
    fn created(body: Value) -> Self {
        GraphResponse {
            status: 201,
            body: Some(Body::Value(body)),
            headers: Vec::new(),
            wrote: true,
        }
    }
    fn no_content(wrote: bool) -> Self {
        GraphResponse {
            status: 204,
            body: None,
            headers: Vec::new(),
            wrote,
        }
    }
}

/// One incoming Graph call, already authenticated.
pub(crate) struct IncomingCall<'a> {
    pub method: &'a str,
    /// Full path, including the `/v1.0` (or `/beta`) prefix.
    pub path: &'a str,
    pub raw_query: &'a str,
    pub body: &'a [u8],
    pub caller: &'a Caller,
}

/// Whether a call may change the tenant (for reset-after-write faults).
pub(crate) fn is_write(method: &str, path: &str) -> bool {
    method == "PATCH" || (method == "POST" && !path.ends_with("getByIds"))
}

fn segments(path: &str) -> ApiResult<(&str, Vec<String>)> {
    let trimmed = path.trim_end_matches('/');
    let (version, rest) = if let Some(r) = trimmed.strip_prefix("/v1.0") {
        ("/v1.0", r)
    } else if let Some(r) = trimmed.strip_prefix("/beta") {
        ("/beta", r)
    } else {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "Invalid version: the URL must start with /v1.0.",
        ));
    };
    let segs = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    Ok((version, segs))
}

fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Unable to read JSON request payload: {e}")))
}

/// Route one call. `$batch` is handled by the caller (it re-enters here).
pub(crate) fn dispatch(shared: &Shared, call: &IncomingCall<'_>) -> ApiResult<GraphResponse> {
    let (_version, segs) = segments(call.path)?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q = Query::parse(call.raw_query);
    let permission = super::permissions::Asked {
        method: call.method,
        segs: &segs,
        group_policy: q.as_ref().is_ok_and(policies::asks_for_groups),
        app_only: call.caller.app_id.is_some(),
    };
    super::permissions::check(&permission, &call.caller.permissions)?;
    let q = q?;
    let link = Link {
        base: &shared.base_url,
        path: call.path.trim_end_matches('/'),
        page: shared.page_size,
        // Unpaged: the whole collection fits the window.
        policy_page: shared.policy_page_size.unwrap_or(usize::MAX),
        rule_patch_body: shared.rule_patch_returns_body,
    };
    let now = shared.clock.now();
    let m = call.method;
    let env = Env {
        shared,
        call,
        q: &q,
        link: &link,
        now,
    };
    let mut store = shared.lock_store();
    let store = &mut *store;
    match segs.as_slice() {
        ["roleManagement", "directory", "roleDefinitions", rest @ ..] => {
            role_definitions(store, m, rest, &q, &link)
        }
        ["roleManagement", "directory", set, rest @ ..] => {
            let set = Set::parse(Surface::DirectoryRole, set)
                .ok_or_else(|| ApiError::no_route(m, call.path))?;
            grants::route(store, &env, set, rest)
        }
        [
            "identityGovernance",
            "privilegedAccess",
            "group",
            "assignmentApprovals",
            rest @ ..,
        ] => approvals::route(store, &env, rest),
        [
            "identityGovernance",
            "privilegedAccess",
            "group",
            set,
            rest @ ..,
        ] => {
            let set =
                Set::parse(Surface::Group, set).ok_or_else(|| ApiError::no_route(m, call.path))?;
            grants::route(store, &env, set, rest)
        }
        ["policies", "roleManagementPolicies", rest @ ..] => {
            policies(store, call, rest, &q, &link, now)
        }
        ["policies", "roleManagementPolicyAssignments", rest @ ..] => {
            if q.top.is_some() && shared.policy_assignments_top == crate::TopOption::Reject {
                // UNVERIFIED: the code Graph gives query options a resource does not support.
                return Err(ApiError::new(
                    400,
                    "Request_UnsupportedQuery",
                    "Query option '$top' is not supported on policies/roleManagementPolicyAssignments.",
                ));
            }
            // The docs list no `$top` here; by default it is ignored, as an
            // unsupported option is on many Graph collections (UNVERIFIED).
            let q = Query { top: None, ..q };
            policy_assignments(store, m, rest, &q, &link)
        }
        ["me"] if m == "GET" => me(store, call.caller, &q),
        ["users", rest @ ..] => directory(store, Dir::Users, m, rest, &q, &link),
        [seg, rest @ ..] if seg.starts_with("users(") => {
            let key = parse_key(seg, "users")?;
            let mut r = vec![key.as_str()];
            r.extend_from_slice(rest);
            directory(store, Dir::Users, m, &r, &q, &link)
        }
        ["groups", id, nav @ ("members" | "owners")] if m == "GET" => {
            let access = if *nav == "owners" { "owner" } else { "member" };
            directory::group_principals(store, id, access, &q, &link, now)
        }
        ["groups", rest @ ..] => directory(store, Dir::Groups, m, rest, &q, &link),
        ["servicePrincipals", rest @ ..] => {
            directory(store, Dir::ServicePrincipals, m, rest, &q, &link)
        }
        [seg] if seg.starts_with("servicePrincipals(") => {
            let app_id = parse_function_arg(seg, "servicePrincipals", "appId")?;
            q.only(&["$select"])?;
            let sp = store
                .service_principal_by_app_id(&app_id)
                .ok_or_else(|| ApiError::directory_object_not_found(&app_id))?;
            let mut v = Store::sp_json(sp);
            apply_select(&mut v, &q.select, &[]);
            with_context(&mut v, &entity_context("servicePrincipals", &q.select));
            Ok(GraphResponse::ok(v))
        }
        ["directory", "administrativeUnits", rest @ ..] => {
            directory(store, Dir::AdministrativeUnits, m, rest, &q, &link)
        }
        ["directoryObjects", "getByIds"] if m == "POST" => get_by_ids(store, call.body),
        _ => Err(ApiError::no_route(m, call.path)),
    }
}

/// What is needed to build `@odata.nextLink`.
struct Link<'a> {
    base: &'a str,
    path: &'a str,
    /// Server page size when the client gives no `$top`.
    page: usize,
    /// Server page size of the policy collections (`usize::MAX`: unpaged).
    policy_page: usize,
    /// Answer rule PATCH with 200 + the rule (newer beta behaviour) instead of 204.
    rule_patch_body: bool,
}

fn with_context(v: &mut Value, ctx: &str) {
    if let Some(o) = v.as_object_mut() {
        let mut m = Map::new();
        m.insert("@odata.context".into(), json!(ctx));
        m.extend(std::mem::take(o));
        *o = m;
    }
}

/// `name(key='value')` or `name(key=value)` → value.
fn parse_function_arg(seg: &str, name: &str, key: &str) -> ApiResult<String> {
    let inner = seg
        .strip_prefix(name)
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| ApiError::bad_request(format!("Invalid segment '{seg}'.")))?;
    let (k, v) = inner
        .split_once('=')
        .ok_or_else(|| ApiError::bad_request(format!("Invalid segment '{seg}'.")))?;
    if !k.trim().eq_ignore_ascii_case(key) {
        return Err(ApiError::bad_request(format!(
            "Unknown parameter '{}' in '{seg}'.",
            k.trim()
        )));
    }
    Ok(v.trim().trim_matches('\'').replace("''", "'"))
}

/// `users('key')` → key.
fn parse_key(seg: &str, name: &str) -> ApiResult<String> {
    seg.strip_prefix(name)
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.strip_suffix(')'))
        .map(|s| s.trim_matches('\'').replace("''", "'"))
        .ok_or_else(|| ApiError::bad_request(format!("Invalid segment '{seg}'.")))
}
