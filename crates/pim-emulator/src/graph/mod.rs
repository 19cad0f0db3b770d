//! Graph routing: a call's path to its handler (in the modules below), the
//! response type and the path helpers they share. Handlers are synchronous
//! over the locked store; the HTTP edge lives in `server`, `$batch` in `batch`.

mod directory;
mod listing;
mod policies;
mod role_management;
mod rules;

use std::borrow::Cow;

use pim_model::Clock as _;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::odata::{Query, apply_select, percent_decode};
use super::pim;
use super::store::{Kind, Store};
use super::{Caller, Shared};
use directory::{Dir, directory, get_by_ids, me};
use listing::{Listing, entity_context, list};
use policies::{policies, policy_assignments};
use role_management::{REQUEST_FILTER, expand_pim, get_pim, list_pim, role_definitions, type_name};

pub(crate) const METADATA: &str = "https://graph.microsoft.com/v1.0/$metadata#";

/// A handler's answer before it is put on the wire (or into a `$batch` response).
#[derive(Debug, Clone)]
pub(crate) struct GraphResponse {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
    /// The tenant changed: persist it.
    pub wrote: bool,
}

impl GraphResponse {
    fn ok(body: Value) -> Self {
        GraphResponse {
            status: 200,
            body: Some(body),
            headers: Vec::new(),
            wrote: false,
        }
    }
    fn created(body: Value) -> Self {
        GraphResponse {
            status: 201,
            body: Some(body),
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
    super::permissions::check(call.method, &segs, &call.caller.permissions)?;
    let q = Query::parse(call.raw_query)?;
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
    let mut store = shared.lock_store();
    let store = &mut *store;
    match segs.as_slice() {
        ["roleManagement", "directory", set, rest @ ..] => {
            if *set == "roleDefinitions" {
                return role_definitions(store, m, rest, &q, &link);
            }
            if set.ends_with("ScheduleRequests") {
                store.purge_requests(now - shared.request_retention);
            }
            store.purge_schedules(now - shared.expired_schedule_retention);
            let (kind, what) = match *set {
                "roleEligibilityScheduleRequests" => (Kind::Eligibility, EntitySet::Requests),
                "roleAssignmentScheduleRequests" => (Kind::Assignment, EntitySet::Requests),
                "roleEligibilitySchedules" => (Kind::Eligibility, EntitySet::Schedules),
                "roleAssignmentSchedules" => (Kind::Assignment, EntitySet::Schedules),
                "roleEligibilityScheduleInstances" => (Kind::Eligibility, EntitySet::Instances),
                "roleAssignmentScheduleInstances" => (Kind::Assignment, EntitySet::Instances),
                _ => return Err(ApiError::no_route(m, call.path)),
            };
            match (what, m, rest) {
                (EntitySet::Requests, "POST", []) => {
                    q.only(&[])?;
                    let body = parse_body(call.body)?;
                    if let Some(window) = shared.faults.new_object_delay() {
                        pim::check_replicated(store, &body, now, window)?;
                    }
                    let delay = shared.faults.replication_delay();
                    let mut entity = pim::create_request(
                        store,
                        kind,
                        &body,
                        call.caller,
                        now,
                        delay,
                        shared.schedule_ids,
                    )?;
                    let wrote = !entity
                        .get("isValidationOnly")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    with_context(
                        &mut entity,
                        &format!("{METADATA}roleManagement/directory/{set}/$entity"),
                    );
                    let mut r = GraphResponse::created(entity);
                    r.wrote = wrote;
                    Ok(r)
                }
                (EntitySet::Requests, "POST", [id, "cancel"]) => {
                    q.only(&[])?;
                    pim::cancel_request(store, kind, id, now, shared.cancel)?;
                    Ok(GraphResponse::no_content(true))
                }
                (_, "GET", []) => list_pim(store, kind, what, &q, &link, None, now),
                (_, "GET", [func]) if func.starts_with("filterByCurrentUser") => {
                    let on = parse_function_arg(func, "filterByCurrentUser", "on")?;
                    match on.as_str() {
                        "principal" => list_pim(
                            store,
                            kind,
                            what,
                            &q,
                            &link,
                            Some(&call.caller.object_id),
                            now,
                        ),
                        "approver" if what == EntitySet::Requests => {
                            let items = match kind {
                                Kind::Assignment => {
                                    super::selfservice::awaiting(store, &call.caller.object_id)
                                }
                                // Eligibility changes wait for administrators, not approvers.
                                Kind::Eligibility => Vec::new(),
                            };
                            let spec = Listing {
                                context: format!("{METADATA}roleManagement/directory/{set}"),
                                entity: type_name(kind, what),
                                filterable: REQUEST_FILTER,
                                ordered: &[],
                            };
                            list(
                                items.into_iter().map(Cow::Owned).collect(),
                                &spec,
                                &q,
                                &link,
                                link.page,
                                |item, e| expand_pim(store, kind, what, item, e, now),
                            )
                        }
                        "createdBy" if what == EntitySet::Requests => {
                            let ctx = format!("{METADATA}roleManagement/directory/{set}");
                            Ok(GraphResponse::ok(
                                json!({ "@odata.context": ctx, "value": [] }),
                            ))
                        }
                        other => Err(ApiError::bad_request(format!(
                            "The value '{other}' is not valid for parameter 'on' of filterByCurrentUser."
                        ))),
                    }
                }
                (_, "GET", [id]) => get_pim(store, kind, what, id, &q, now),
                (_, "GET" | "POST" | "PATCH" | "DELETE" | "PUT", _) => {
                    Err(ApiError::method_not_allowed())
                }
                _ => Err(ApiError::no_route(m, call.path)),
            }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntitySet {
    Requests,
    Schedules,
    Instances,
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
