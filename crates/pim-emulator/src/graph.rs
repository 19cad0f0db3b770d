//! Graph routing and the read/write handlers for every emulated path:
//! role management, policies, principals, `getByIds` and `$batch`. Handlers
//! are synchronous over the locked store; the HTTP edge lives in `server`.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::error::{GraphError, GraphResult};
use super::odata::{
    ExpandItem, Query, apply_select, context_projection, encode_skiptoken, percent_decode,
    validate_filter,
};
use super::pim;
use super::store::{Kind, PolicyRec, Store, merge, normalize_rule, ts};
use super::{Caller, Shared};
use pim_model::RuleId;

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
pub(crate) struct Call<'a> {
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

fn segments(path: &str) -> GraphResult<(&str, Vec<String>)> {
    let trimmed = path.trim_end_matches('/');
    let (version, rest) = if let Some(r) = trimmed.strip_prefix("/v1.0") {
        ("/v1.0", r)
    } else if let Some(r) = trimmed.strip_prefix("/beta") {
        ("/beta", r)
    } else {
        return Err(GraphError::new(
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

fn parse_body(body: &[u8]) -> GraphResult<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| GraphError::bad_request(format!("Unable to read JSON request payload: {e}")))
}

/// Route one call. `$batch` is handled by the caller (it re-enters here).
pub(crate) fn dispatch(shared: &Shared, call: &Call<'_>) -> GraphResult<GraphResponse> {
    let (_version, segs) = segments(call.path)?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q = Query::parse(call.raw_query)?;
    let link = Link {
        base: &shared.base_url,
        path: call.path.trim_end_matches('/'),
        page: shared.page_size,
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
            let (kind, what) = match *set {
                "roleEligibilityScheduleRequests" => (Kind::Eligibility, Set::Requests),
                "roleAssignmentScheduleRequests" => (Kind::Assignment, Set::Requests),
                "roleEligibilitySchedules" => (Kind::Eligibility, Set::Schedules),
                "roleAssignmentSchedules" => (Kind::Assignment, Set::Schedules),
                "roleEligibilityScheduleInstances" => (Kind::Eligibility, Set::Instances),
                "roleAssignmentScheduleInstances" => (Kind::Assignment, Set::Instances),
                _ => return Err(GraphError::no_route(m, call.path)),
            };
            match (what, m, rest) {
                (Set::Requests, "POST", []) => {
                    q.only(&[])?;
                    let body = parse_body(call.body)?;
                    let delay = shared.faults.replication_delay();
                    let mut entity =
                        pim::create_request(store, kind, &body, call.caller, now, delay)?;
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
                (Set::Requests, "POST", [id, "cancel"]) => {
                    q.only(&[])?;
                    pim::cancel_request(store, kind, id, now)?;
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
                        "approver" if what == Set::Requests => {
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
                        "createdBy" if what == Set::Requests => {
                            let ctx = format!("{METADATA}roleManagement/directory/{set}");
                            Ok(GraphResponse::ok(
                                json!({ "@odata.context": ctx, "value": [] }),
                            ))
                        }
                        other => Err(GraphError::bad_request(format!(
                            "The value '{other}' is not valid for parameter 'on' of filterByCurrentUser."
                        ))),
                    }
                }
                (_, "GET", [id]) => get_pim(store, kind, what, id, &q, now),
                (_, "GET" | "POST" | "PATCH" | "DELETE" | "PUT", _) => {
                    Err(GraphError::method_not_allowed())
                }
                _ => Err(GraphError::no_route(m, call.path)),
            }
        }
        ["policies", "roleManagementPolicies", rest @ ..] => {
            policies(store, call, rest, &q, &link, now)
        }
        ["policies", "roleManagementPolicyAssignments", rest @ ..] => {
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
                .service_principals
                .iter()
                .find(|s| s.app_id.eq_ignore_ascii_case(&app_id))
                .ok_or_else(|| GraphError::directory_object_not_found(&app_id))?;
            let mut v = Store::sp_json(sp);
            apply_select(&mut v, &q.select, &[]);
            with_context(&mut v, &entity_context("servicePrincipals", &q.select));
            Ok(GraphResponse::ok(v))
        }
        ["directory", "administrativeUnits", rest @ ..] => {
            directory(store, Dir::AdministrativeUnits, m, rest, &q, &link)
        }
        ["directoryObjects", "getByIds"] if m == "POST" => get_by_ids(store, call.body),
        _ => Err(GraphError::no_route(m, call.path)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
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
fn parse_function_arg(seg: &str, name: &str, key: &str) -> GraphResult<String> {
    let inner = seg
        .strip_prefix(name)
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| GraphError::bad_request(format!("Invalid segment '{seg}'.")))?;
    let (k, v) = inner
        .split_once('=')
        .ok_or_else(|| GraphError::bad_request(format!("Invalid segment '{seg}'.")))?;
    if !k.trim().eq_ignore_ascii_case(key) {
        return Err(GraphError::bad_request(format!(
            "Unknown parameter '{}' in '{seg}'.",
            k.trim()
        )));
    }
    Ok(v.trim().trim_matches('\'').replace("''", "'"))
}

/// `users('key')` → key.
fn parse_key(seg: &str, name: &str) -> GraphResult<String> {
    seg.strip_prefix(name)
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.strip_suffix(')'))
        .map(|s| s.trim_matches('\'').replace("''", "'"))
        .ok_or_else(|| GraphError::bad_request(format!("Invalid segment '{seg}'.")))
}

/// Filter, count, page, expand and select a collection.
struct Listing<'a> {
    context: String,
    entity: &'a str,
    filterable: &'a [&'a str],
    /// Properties that also support gt/ge/lt/le.
    ordered: &'a [&'a str],
}

fn list<F>(
    items: Vec<Cow<'_, Value>>,
    spec: &Listing<'_>,
    q: &Query,
    link: &Link<'_>,
    default_page: usize,
    expand: F,
) -> GraphResult<GraphResponse>
where
    F: Fn(&mut Value, &ExpandItem) -> GraphResult<()>,
{
    let mut items = items;
    if let Some(f) = &q.filter {
        validate_filter(f, spec.entity, spec.filterable, spec.ordered)?;
        items.retain(|i| f.eval(i));
    }
    let total = items.len();
    let (start, end) = page_window(q, default_page, total);
    let page: Vec<_> = items.drain(start..end).collect();
    list_page(page, total, end, spec, q, link, expand)
}

/// The positions of the page a query asks for, of `total` items.
fn page_window(q: &Query, default_page: usize, total: usize) -> (usize, usize) {
    let page = q
        .top
        .map(|t| t.clamp(1, 999))
        .unwrap_or(default_page)
        .max(1);
    let start = q.skip.min(total);
    (start, (start + page).min(total))
}

/// One page of a collection, of `total` items, that ends at position `end`.
fn list_page<F>(
    page: Vec<Cow<'_, Value>>,
    total: usize,
    end: usize,
    spec: &Listing<'_>,
    q: &Query,
    link: &Link<'_>,
    expand: F,
) -> GraphResult<GraphResponse>
where
    F: Fn(&mut Value, &ExpandItem) -> GraphResult<()>,
{
    let mut value = Vec::with_capacity(page.len());
    for item in page {
        let mut item = item.into_owned();
        for e in &q.expand {
            expand(&mut item, e)?;
        }
        apply_select(&mut item, &q.select, &q.expand);
        value.push(item);
    }
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(format!(
            "{}{}",
            spec.context,
            context_projection(&q.select, &q.expand)
        )),
    );
    if q.count {
        out.insert("@odata.count".into(), json!(total));
    }
    if end < total {
        let mut pairs = q.raw_pairs.clone();
        pairs.push(format!("$skiptoken={}", encode_skiptoken(end)));
        out.insert(
            "@odata.nextLink".into(),
            json!(format!("{}{}?{}", link.base, link.path, pairs.join("&"))),
        );
    }
    out.insert("value".into(), Value::Array(value));
    Ok(GraphResponse::ok(Value::Object(out)))
}

// ---------------------------------------------------------------- PIM collections

const REQUEST_FILTER: &[&str] = &[
    "id",
    "principalId",
    "roleDefinitionId",
    "directoryScopeId",
    "appScopeId",
    "status",
    "targetScheduleId",
    "action",
    "isValidationOnly",
    "createdBy/user/id",
];
const SCHEDULE_FILTER: &[&str] = &[
    "id",
    "principalId",
    "roleDefinitionId",
    "directoryScopeId",
    "appScopeId",
    "status",
    "memberType",
    "assignmentType",
    "createdUsing",
];
const INSTANCE_FILTER: &[&str] = &[
    "id",
    "principalId",
    "roleDefinitionId",
    "directoryScopeId",
    "appScopeId",
    "memberType",
    "assignmentType",
    "roleAssignmentOriginId",
    "roleAssignmentScheduleId",
    "roleEligibilityScheduleId",
    "startDateTime",
    "endDateTime",
];

fn set_name(kind: Kind, what: Set) -> &'static str {
    match what {
        Set::Requests => kind.requests_set(),
        Set::Schedules => kind.schedules_set(),
        Set::Instances => kind.instances_set(),
    }
}

fn type_name(kind: Kind, what: Set) -> &'static str {
    match what {
        Set::Requests => kind.request_type(),
        Set::Schedules => kind.schedule_type(),
        Set::Instances => kind.instance_type(),
    }
}

/// `prop eq 'value'` conditions every result must meet (top-level `and`s).
fn required_equalities(filter: Option<&super::odata::Expr>) -> Vec<(&str, &str)> {
    use super::odata::{CmpOp, Expr, Lit};
    filter
        .map(|f| {
            f.conjuncts()
                .into_iter()
                .filter_map(|c| match c {
                    Expr::Cmp(p, CmpOp::Eq, Lit::Str(v)) => Some((p.as_str(), v.as_str())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pim_items<'a>(
    store: &'a Store,
    kind: Kind,
    what: Set,
    now: chrono::DateTime<chrono::Utc>,
    filter: Option<&super::odata::Expr>,
) -> Vec<Cow<'a, Value>> {
    // Skip rendering schedules the filter rules out anyway: rendering is
    // most of the cost of a filtered list.
    let required = required_equalities(filter);
    let store_view: Vec<&super::store::ScheduleRec> = store
        .visible_schedules(kind, now)
        .filter(|s| {
            required.iter().all(|(p, v)| match *p {
                "principalId" => s.principal_id.eq_ignore_ascii_case(v),
                "roleDefinitionId" => s.role_id.eq_ignore_ascii_case(v),
                "directoryScopeId" => s.scope.eq_ignore_ascii_case(v),
                _ => true,
            })
        })
        .collect();
    match what {
        Set::Requests => store
            .requests
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, v)| Cow::Borrowed(v))
            .collect(),
        Set::Schedules => store_view
            .into_iter()
            .map(|s| Cow::Owned(s.to_json(now)))
            .collect(),
        Set::Instances => store_view
            .into_iter()
            .filter(|s| s.is_active(now))
            .map(|s| Cow::Owned(s.instance_json()))
            .collect(),
    }
}

fn list_pim(
    store: &Store,
    kind: Kind,
    what: Set,
    q: &Query,
    link: &Link<'_>,
    only_principal: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> GraphResult<GraphResponse> {
    let set = set_name(kind, what);
    if q.filter.is_none() && only_principal.is_none() && what != Set::Requests {
        return list_pim_unfiltered(store, kind, what, q, link, now);
    }
    let mut items = pim_items(store, kind, what, now, q.filter.as_ref());
    let function_result = only_principal.is_some() && what != Set::Requests;
    if let Some(p) = only_principal {
        items.retain(|i| {
            i.get("principalId")
                .and_then(Value::as_str)
                .is_some_and(|x| x.eq_ignore_ascii_case(p))
        });
        if function_result {
            let t = format!("#microsoft.graph.{}", type_name(kind, what));
            for i in &mut items {
                with_type(i.to_mut(), &t);
            }
        }
    }
    let context = if function_result {
        format!("{METADATA}Collection({})", type_name(kind, what))
    } else {
        format!("{METADATA}roleManagement/directory/{set}")
    };
    let filterable = match what {
        Set::Requests => REQUEST_FILTER,
        Set::Schedules => SCHEDULE_FILTER,
        Set::Instances => INSTANCE_FILTER,
    };
    let spec = Listing {
        context,
        entity: type_name(kind, what),
        filterable,
        ordered: &["startDateTime", "endDateTime"],
    };
    list(items, &spec, q, link, link.page, |item, e| {
        expand_pim(store, kind, what, item, e, now)
    })
}

/// Schedules or instances without a filter: only the page asked for is
/// rendered, so reading a tenant of 50,000 schedules page by page renders
/// each once, not once per page.
fn list_pim_unfiltered(
    store: &Store,
    kind: Kind,
    what: Set,
    q: &Query,
    link: &Link<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> GraphResult<GraphResponse> {
    let recs: Vec<&super::store::ScheduleRec> = store
        .visible_schedules(kind, now)
        .filter(|s| what != Set::Instances || s.is_active(now))
        .collect();
    let (start, end) = page_window(q, link.page, recs.len());
    let page = recs[start..end]
        .iter()
        .map(|s| {
            Cow::Owned(match what {
                Set::Instances => s.instance_json(),
                _ => s.to_json(now),
            })
        })
        .collect();
    let spec = Listing {
        context: format!(
            "{METADATA}roleManagement/directory/{}",
            set_name(kind, what)
        ),
        entity: type_name(kind, what),
        filterable: &[],
        ordered: &[],
    };
    list_page(page, recs.len(), end, &spec, q, link, |item, e| {
        expand_pim(store, kind, what, item, e, now)
    })
}

fn with_type(v: &mut Value, t: &str) {
    if let Some(o) = v.as_object_mut() {
        let mut m = Map::new();
        m.insert("@odata.type".into(), json!(t));
        m.extend(std::mem::take(o));
        *o = m;
    }
}

fn get_pim(
    store: &Store,
    kind: Kind,
    what: Set,
    id: &str,
    q: &Query,
    now: chrono::DateTime<chrono::Utc>,
) -> GraphResult<GraphResponse> {
    q.only(&["$select", "$expand"])?;
    let set = set_name(kind, what);
    let found = match what {
        Set::Requests => store
            .requests
            .iter()
            .find(|(k, r)| {
                *k == kind
                    && r.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(id))
            })
            .map(|(_, v)| v.clone()),
        Set::Schedules => store
            .visible_schedules(kind, now)
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .map(|s| s.to_json(now)),
        Set::Instances => store
            .visible_schedules(kind, now)
            .filter(|s| s.is_active(now))
            .find(|s| s.instance_id().eq_ignore_ascii_case(id))
            .map(|s| s.instance_json()),
    };
    let mut item = found.ok_or_else(|| {
        GraphError::not_found(format!(
            "No {} with id '{id}' was found.",
            type_name(kind, what)
        ))
    })?;
    for e in &q.expand {
        expand_pim(store, kind, what, &mut item, e, now)?;
    }
    apply_select(&mut item, &q.select, &q.expand);
    let ctx = format!(
        "{METADATA}roleManagement/directory/{set}{}/$entity",
        context_projection(&q.select, &q.expand)
    );
    with_context(&mut item, &ctx);
    Ok(GraphResponse::ok(item))
}

fn expand_pim(
    store: &Store,
    kind: Kind,
    what: Set,
    item: &mut Value,
    e: &ExpandItem,
    now: chrono::DateTime<chrono::Utc>,
) -> GraphResult<()> {
    let get = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
    let mut v = match e.name.as_str() {
        "principal" => get("principalId")
            .and_then(|p| store.directory_object(&p))
            .unwrap_or(Value::Null),
        "roleDefinition" => get("roleDefinitionId")
            .and_then(|r| store.role(&r).map(|r| r.to_json()))
            .unwrap_or(Value::Null),
        "directoryScope" => match get("directoryScopeId").as_deref() {
            None | Some("/") => Value::Null,
            Some(s) => store
                .directory_object(s.rsplit('/').next().unwrap_or(s))
                .unwrap_or(Value::Null),
        },
        "appScope" => Value::Null,
        "activatedUsing" if kind == Kind::Assignment => {
            let schedule_id = match what {
                Set::Instances => get("roleAssignmentScheduleId"),
                Set::Requests => get("targetScheduleId"),
                Set::Schedules => get("id"),
            };
            schedule_id
                .and_then(|id| {
                    store
                        .schedules
                        .iter()
                        .find(|s| s.kind == Kind::Assignment && s.id == id)
                })
                .and_then(|s| s.activated_using.clone())
                .and_then(|e| {
                    store
                        .schedules
                        .iter()
                        .find(|s| s.kind == Kind::Eligibility && s.id == e)
                })
                .map(|s| match what {
                    Set::Instances => s.instance_json(),
                    _ => s.to_json(now),
                })
                .unwrap_or(Value::Null)
        }
        "targetSchedule" if what == Set::Requests => get("targetScheduleId")
            .and_then(|t| {
                store
                    .schedules
                    .iter()
                    .find(|s| s.kind == kind && s.id == t)
                    .map(|s| s.to_json(now))
            })
            .unwrap_or(Value::Null),
        other => {
            return Err(GraphError::bad_request(format!(
                "Could not find a property named '{other}' on type 'microsoft.graph.{}'.",
                type_name(kind, what)
            )));
        }
    };
    if !e.expand.is_empty() {
        return Err(GraphError::bad_request(format!(
            "Nested $expand is not supported on '{}'.",
            e.name
        )));
    }
    apply_select(&mut v, &e.select, &[]);
    if let Some(o) = item.as_object_mut() {
        o.insert(e.name.clone(), v);
    }
    Ok(())
}

// ---------------------------------------------------------------- role definitions

fn role_definitions(
    store: &Store,
    m: &str,
    rest: &[&str],
    q: &Query,
    link: &Link<'_>,
) -> GraphResult<GraphResponse> {
    match (m, rest) {
        ("GET", []) => {
            let items = store.rendered.roles.iter().map(Cow::Borrowed).collect();
            let spec = Listing {
                context: format!("{METADATA}roleManagement/directory/roleDefinitions"),
                entity: "unifiedRoleDefinition",
                filterable: &["id", "displayName", "isBuiltIn", "templateId", "isEnabled"],
                ordered: &[],
            };
            list(items, &spec, q, link, 1000, |_, e| {
                no_expand(e, "unifiedRoleDefinition")
            })
        }
        ("GET", [id]) => {
            q.only(&["$select"])?;
            let r = store.role(id).ok_or_else(|| {
                GraphError::not_found(format!("No role definition with id '{id}'."))
            })?;
            let mut v = r.to_json();
            apply_select(&mut v, &q.select, &[]);
            with_context(
                &mut v,
                &format!("{METADATA}roleManagement/directory/roleDefinitions/$entity"),
            );
            Ok(GraphResponse::ok(v))
        }
        _ => Err(GraphError::method_not_allowed()),
    }
}

fn no_expand(e: &ExpandItem, entity: &str) -> GraphResult<()> {
    Err(GraphError::bad_request(format!(
        "Could not find a property named '{}' on type 'microsoft.graph.{entity}'.",
        e.name
    )))
}

// ---------------------------------------------------------------- policies

/// The scope type a policy query asks for; anything but the tenant scope of
/// directory roles is the PIM backend's MissingProvider error.
fn required_scope(q: &Query) -> GraphResult<&'static str> {
    let Some(f) = &q.filter else {
        return Err(GraphError::missing_provider());
    };
    let mut scope_id = None;
    let mut scope_type = None;
    for c in f.conjuncts() {
        if let super::odata::Expr::Cmp(p, super::odata::CmpOp::Eq, super::odata::Lit::Str(v)) = c {
            if p == "scopeId" {
                scope_id = Some(v.clone());
            } else if p == "scopeType" {
                scope_type = Some(v.clone());
            }
        }
    }
    match (scope_id.as_deref(), scope_type.as_deref()) {
        (Some("/"), Some(t)) if t.eq_ignore_ascii_case("DirectoryRole") => Ok("DirectoryRole"),
        (Some("/"), Some(t)) if t.eq_ignore_ascii_case("Directory") => Ok("Directory"),
        _ => Err(GraphError::missing_provider()),
    }
}

fn scope_type_of(id: &str) -> &'static str {
    if id.starts_with("Directory_") {
        "Directory"
    } else {
        "DirectoryRole"
    }
}

/// The policy whose id a rendered item holds under `key`; the item was
/// rendered from the store, so a miss is the emulator's own fault.
fn policy_named<'s>(store: &'s Store, item: &Value, key: &str) -> GraphResult<&'s PolicyRec> {
    item.get(key)
        .and_then(Value::as_str)
        .and_then(|id| store.policy_index(id))
        .map(|i| &store.policies[i])
        .ok_or_else(GraphError::internal)
}

fn rules_json(p: &PolicyRec, select: &[String]) -> Vec<Value> {
    p.rules
        .iter()
        .map(|r| {
            let mut r = r.clone();
            apply_select(&mut r, select, &[]);
            r
        })
        .collect()
}

fn expand_policy(
    p: &PolicyRec,
    scope_type: &str,
    item: &mut Value,
    e: &ExpandItem,
) -> GraphResult<()> {
    match e.name.as_str() {
        "rules" | "effectiveRules" => {
            if !e.expand.is_empty() {
                return Err(GraphError::bad_request(
                    "Nested $expand is not supported on rules.",
                ));
            }
            if let Some(o) = item.as_object_mut() {
                if !e.select.is_empty() {
                    o.insert(
                        format!("{}@odata.context", e.name),
                        json!(format!(
                            "{METADATA}policies/roleManagementPolicies('{}')/{}({})",
                            p.id(scope_type),
                            e.name,
                            e.select.join(",")
                        )),
                    );
                }
                o.insert(e.name.clone(), Value::Array(rules_json(p, &e.select)));
            }
            Ok(())
        }
        other => Err(GraphError::bad_request(format!(
            "Could not find a property named '{other}' on type 'microsoft.graph.unifiedRoleManagementPolicy'."
        ))),
    }
}

fn policies(
    store: &mut Store,
    call: &Call<'_>,
    rest: &[&str],
    q: &Query,
    link: &Link<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> GraphResult<GraphResponse> {
    match (call.method, rest) {
        ("GET", []) => {
            let scope_type = required_scope(q)?;
            let items: Vec<Cow<'_, Value>> = store
                .policies
                .iter()
                .map(|p| Cow::Owned(p.to_json(scope_type)))
                .collect();
            let spec = Listing {
                context: format!("{METADATA}policies/roleManagementPolicies"),
                entity: "unifiedRoleManagementPolicy",
                filterable: &[
                    "scopeId",
                    "scopeType",
                    "isOrganizationDefault",
                    "id",
                    "displayName",
                ],
                ordered: &[],
            };
            let st = scope_type;
            list(items, &spec, q, link, link.page, |item, e| {
                expand_policy(policy_named(store, item, "id")?, st, item, e)
            })
        }
        ("GET", [id]) => {
            q.only(&["$select", "$expand"])?;
            let p = &store.policies[find_policy(store, id)?];
            let st = scope_type_of(id);
            let mut v = p.to_json(st);
            for e in &q.expand {
                expand_policy(p, st, &mut v, e)?;
            }
            apply_select(&mut v, &q.select, &q.expand);
            with_context(
                &mut v,
                &format!(
                    "{METADATA}policies/roleManagementPolicies{}/$entity",
                    context_projection(&q.select, &q.expand)
                ),
            );
            Ok(GraphResponse::ok(v))
        }
        ("PATCH", [id]) => {
            q.only(&[])?;
            let i = find_policy(store, id)?;
            let body = parse_body(call.body)?;
            let rules = body
                .get("rules")
                .and_then(Value::as_array)
                .ok_or_else(|| GraphError::bad_request("The request body must contain 'rules'."))?;
            let mut updated = store.policies[i].clone();
            for r in rules {
                let rid = r
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| GraphError::bad_request("Every rule needs an 'id'."))?;
                patch_rule(&mut updated, rid, r)?;
            }
            updated.last_modified = Some(ts(now));
            updated.last_modified_by = Some(caller_name(store, call.caller));
            let st = scope_type_of(id);
            let mut v = updated.to_json(st);
            store.policies[i] = updated;
            with_context(
                &mut v,
                &format!("{METADATA}policies/roleManagementPolicies/$entity"),
            );
            let mut r = GraphResponse::ok(v);
            r.wrote = true;
            Ok(r)
        }
        ("GET", [id, "rules"]) | ("GET", [id, "effectiveRules"]) => {
            let p = &store.policies[find_policy(store, id)?];
            let nav = rest[1];
            let spec = Listing {
                context: format!("{METADATA}policies/roleManagementPolicies('{id}')/{nav}"),
                entity: "unifiedRoleManagementPolicyRule",
                filterable: &["id", "target/caller", "target/level"],
                ordered: &[],
            };
            list(
                p.rules.iter().map(Cow::Borrowed).collect(),
                &spec,
                q,
                link,
                100,
                |_, e| no_expand(e, "unifiedRoleManagementPolicyRule"),
            )
        }
        ("GET", [id, "rules" | "effectiveRules", rule_id]) => {
            q.only(&["$select"])?;
            let p = &store.policies[find_policy(store, id)?];
            let rid = RuleId::parse(rule_id).ok_or_else(|| invalid_rule(rule_id))?;
            let mut v = p.rule(rid).cloned().ok_or_else(|| invalid_rule(rule_id))?;
            apply_select(&mut v, &q.select, &[]);
            with_context(
                &mut v,
                &format!(
                    "{METADATA}policies/roleManagementPolicies('{id}')/{}/$entity",
                    rest[1]
                ),
            );
            Ok(GraphResponse::ok(v))
        }
        ("PATCH", [id, "rules", rule_id]) => {
            q.only(&[])?;
            let i = find_policy(store, id)?;
            let body = parse_body(call.body)?;
            let mut updated = store.policies[i].clone();
            patch_rule(&mut updated, rule_id, &body)?;
            let rid = RuleId::parse(rule_id).ok_or_else(|| invalid_rule(rule_id))?;
            let out = updated.rule(rid).cloned();
            store.policies[i] = updated;
            if link.rule_patch_body {
                let mut v = out.unwrap_or(Value::Null);
                with_context(
                    &mut v,
                    &format!("{METADATA}policies/roleManagementPolicies('{id}')/rules/$entity"),
                );
                let mut r = GraphResponse::ok(v);
                r.wrote = true;
                return Ok(r);
            }
            Ok(GraphResponse::no_content(true))
        }
        _ => Err(GraphError::no_route(call.method, call.path)),
    }
}

/// The display name Graph shows in `lastModifiedBy`.
fn caller_name(store: &Store, caller: &Caller) -> String {
    let id = caller.object_id.as_str();
    store
        .users
        .iter()
        .find(|u| u.id.eq_ignore_ascii_case(id))
        .map(|u| u.display_name.clone())
        .or_else(|| {
            store
                .service_principals
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(id))
                .map(|s| s.display_name.clone())
        })
        .or_else(|| caller.display_name.clone())
        .unwrap_or_else(|| id.to_string())
}

fn find_policy(store: &Store, id: &str) -> GraphResult<usize> {
    store
        .policy_index(id)
        .ok_or_else(|| GraphError::not_found(format!("No policy with id '{id}' was found.")))
}

fn invalid_rule(id: &str) -> GraphError {
    GraphError::bad_request(format!("The policy rule id {id} is invalid."))
}

/// Apply one rule PATCH: the `@odata.type` must match the rule id (Graph
/// answers a bare 500 otherwise), known keys must have the right types.
fn patch_rule(p: &mut PolicyRec, rule_id: &str, body: &Value) -> GraphResult<()> {
    let rid = RuleId::parse(rule_id).ok_or_else(|| invalid_rule(rule_id))?;
    if !body.is_object() {
        return Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        ));
    }
    if let Some(bid) = body.get("id").and_then(Value::as_str)
        && !bid.eq_ignore_ascii_case(rid.as_str())
    {
        return Err(invalid_rule(bid));
    }
    match body.get("@odata.type").and_then(Value::as_str) {
        Some(t)
            if t.trim_start_matches('#')
                .eq_ignore_ascii_case(rid.odata_type().trim_start_matches('#')) => {}
        _ => return Err(GraphError::internal()),
    }
    let Some(rule) = p
        .rules
        .iter_mut()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(rid.as_str()))
    else {
        return Err(invalid_rule(rule_id));
    };
    let mut merged = rule.clone();
    merge(&mut merged, body);
    validate_rule(rid, &merged)?;
    normalize_rule(rid, &mut merged);
    *rule = merged;
    Ok(())
}

fn validate_rule(rid: RuleId, r: &Value) -> GraphResult<()> {
    let bad = |k: &str| {
        GraphError::bad_request(format!(
            "Invalid value for property '{k}' of rule {}.",
            rid.as_str()
        ))
    };
    let is_bool = |k: &str| r.get(k).is_none_or(Value::is_boolean);
    let str_list = |k: &str| {
        r.get(k)
            .is_none_or(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
    };
    if let Some(ops) = r.get("target").and_then(|t| t.get("operations")) {
        const OPS: [&str; 9] = [
            "all",
            "activate",
            "deactivate",
            "assign",
            "update",
            "remove",
            "extend",
            "renew",
            "unknownfuturevalue",
        ];
        let ok = ops.as_array().is_some_and(|a| {
            a.iter().all(|o| {
                o.as_str()
                    .is_some_and(|s| OPS.contains(&s.to_ascii_lowercase().as_str()))
            })
        });
        if !ok {
            return Err(bad("target.operations"));
        }
    }
    match rid.as_str().split('_').next().unwrap_or_default() {
        "Expiration" => {
            if !is_bool("isExpirationRequired") {
                return Err(bad("isExpirationRequired"));
            }
            match r.get("maximumDuration") {
                None | Some(Value::Null) => {
                    if r.get("isExpirationRequired").and_then(Value::as_bool) == Some(true) {
                        return Err(bad("maximumDuration"));
                    }
                }
                Some(Value::String(s)) if s.parse::<pim_model::IsoDuration>().is_ok() => {}
                Some(_) => return Err(bad("maximumDuration")),
            }
        }
        "Enablement" => {
            let ok = r.get("enabledRules").is_none_or(|v| {
                v.as_array().is_some_and(|a| {
                    a.iter().all(|x| {
                        x.as_str().is_some_and(|s| {
                            ["MultiFactorAuthentication", "Justification", "Ticketing"]
                                .iter()
                                .any(|k| k.eq_ignore_ascii_case(s))
                        })
                    })
                })
            });
            if !ok {
                return Err(bad("enabledRules"));
            }
        }
        "Approval" => {
            if let Some(s) = r.get("setting") {
                let ok = s.is_object()
                    && [
                        "isApprovalRequired",
                        "isApprovalRequiredForExtension",
                        "isRequestorJustificationRequired",
                    ]
                    .iter()
                    .all(|k| s.get(*k).is_none_or(Value::is_boolean))
                    && s.get("approvalStages").is_none_or(Value::is_array);
                if !ok {
                    return Err(bad("setting"));
                }
            }
        }
        "AuthenticationContext" => {
            if !is_bool("isEnabled") {
                return Err(bad("isEnabled"));
            }
            if !r
                .get("claimValue")
                .is_none_or(|v| v.is_null() || v.is_string())
            {
                return Err(bad("claimValue"));
            }
        }
        _ => {
            if !is_bool("isDefaultRecipientsEnabled") {
                return Err(bad("isDefaultRecipientsEnabled"));
            }
            if !str_list("notificationRecipients") {
                return Err(bad("notificationRecipients"));
            }
            let level_ok = r.get("notificationLevel").is_none_or(|v| {
                v.as_str().is_some_and(|s| {
                    ["None", "Critical", "All"]
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(s))
                })
            });
            if !level_ok {
                return Err(bad("notificationLevel"));
            }
            let recipient = rid.as_str().split('_').nth(1).unwrap_or_default();
            if r.get("recipientType")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.eq_ignore_ascii_case(recipient))
            {
                return Err(bad("recipientType"));
            }
        }
    }
    Ok(())
}

fn policy_assignments(
    store: &Store,
    m: &str,
    rest: &[&str],
    q: &Query,
    link: &Link<'_>,
) -> GraphResult<GraphResponse> {
    let assignment = |p: &PolicyRec, st: &str| {
        json!({
            "id": format!("{}_{}", p.id(st), p.role_id),
            "policyId": p.id(st),
            "scopeId": "/",
            "scopeType": st,
            "roleDefinitionId": p.role_id,
        })
    };
    let expand = |item: &mut Value, e: &ExpandItem, st: &str| -> GraphResult<()> {
        if e.name != "policy" {
            return no_expand(e, "unifiedRoleManagementPolicyAssignment");
        }
        let p = policy_named(store, item, "policyId")?;
        let mut v = p.to_json(st);
        for inner in &e.expand {
            expand_policy(p, st, &mut v, inner)?;
        }
        apply_select(&mut v, &e.select, &e.expand);
        if let Some(o) = item.as_object_mut() {
            o.insert("policy".into(), v);
        }
        Ok(())
    };
    match (m, rest) {
        ("GET", []) => {
            let st = required_scope(q)?;
            let items = store
                .policies
                .iter()
                .map(|p| Cow::Owned(assignment(p, st)))
                .collect();
            let spec = Listing {
                context: format!("{METADATA}policies/roleManagementPolicyAssignments"),
                entity: "unifiedRoleManagementPolicyAssignment",
                filterable: &["scopeId", "scopeType", "roleDefinitionId", "policyId", "id"],
                ordered: &[],
            };
            list(items, &spec, q, link, link.page, |item, e| {
                expand(item, e, st)
            })
        }
        ("GET", [id]) => {
            q.only(&["$select", "$expand"])?;
            let st = scope_type_of(id);
            let mut v = store
                .policies
                .iter()
                .map(|p| assignment(p, st))
                .find(|a| {
                    a.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(id))
                })
                .ok_or_else(|| {
                    GraphError::not_found(format!("No policy assignment with id '{id}' was found."))
                })?;
            for e in &q.expand {
                expand(&mut v, e, st)?;
            }
            apply_select(&mut v, &q.select, &q.expand);
            with_context(
                &mut v,
                &format!(
                    "{METADATA}policies/roleManagementPolicyAssignments{}/$entity",
                    context_projection(&q.select, &q.expand)
                ),
            );
            Ok(GraphResponse::ok(v))
        }
        _ => Err(GraphError::method_not_allowed()),
    }
}

// ---------------------------------------------------------------- directory

#[derive(Debug, Clone, Copy)]
enum Dir {
    Users,
    Groups,
    ServicePrincipals,
    AdministrativeUnits,
}

fn directory(
    store: &Store,
    d: Dir,
    m: &str,
    rest: &[&str],
    q: &Query,
    link: &Link<'_>,
) -> GraphResult<GraphResponse> {
    if m != "GET" {
        return Err(GraphError::method_not_allowed());
    }
    let (set, entity, filterable, items): (&str, &str, &[&str], &[Value]) = match d {
        Dir::Users => (
            "users",
            "user",
            &[
                "id",
                "userPrincipalName",
                "displayName",
                "mail",
                "accountEnabled",
                "jobTitle",
            ],
            &store.rendered.users,
        ),
        Dir::Groups => (
            "groups",
            "group",
            &[
                "id",
                "displayName",
                "isAssignableToRole",
                "mail",
                "securityEnabled",
            ],
            &store.rendered.groups,
        ),
        Dir::ServicePrincipals => (
            "servicePrincipals",
            "servicePrincipal",
            &[
                "id",
                "appId",
                "displayName",
                "servicePrincipalType",
                "accountEnabled",
            ],
            &store.rendered.service_principals,
        ),
        Dir::AdministrativeUnits => (
            "directory/administrativeUnits",
            "administrativeUnit",
            &["id", "displayName"],
            &store.rendered.administrative_units,
        ),
    };
    match rest {
        [] => {
            let spec = Listing {
                context: format!("{METADATA}{set}"),
                entity,
                filterable,
                ordered: &[],
            };
            list(
                items.iter().map(Cow::Borrowed).collect(),
                &spec,
                q,
                link,
                link.page.max(100),
                |_, e| no_expand(e, entity),
            )
        }
        [key] => {
            q.only(&["$select"])?;
            let found = match d {
                Dir::Users => store
                    .rendered
                    .user_keys
                    .get(&key.to_ascii_lowercase())
                    .and_then(|&i| items.get(i)),
                _ => items.iter().find(|i| {
                    i.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(key))
                }),
            };
            let mut v = found
                .cloned()
                .ok_or_else(|| GraphError::directory_object_not_found(key))?;
            apply_select(&mut v, &q.select, &[]);
            with_context(&mut v, &entity_context(set, &q.select));
            Ok(GraphResponse::ok(v))
        }
        _ => Err(GraphError::no_route(m, link.path)),
    }
}

/// `GET /me`: the signed-in user; app-only tokens have no "me", whatever
/// the application is.
fn me(store: &Store, caller: &Caller, q: &Query) -> GraphResult<GraphResponse> {
    if caller.app_id.is_some() {
        return Err(GraphError::bad_request(
            "/me request is only valid with delegated authentication flow.",
        ));
    }
    q.only(&["$select"])?;
    let user = store
        .users
        .iter()
        .find(|u| u.id.eq_ignore_ascii_case(&caller.object_id))
        .ok_or_else(|| GraphError::directory_object_not_found(&caller.object_id))?;
    let mut v = Store::user_json(user);
    apply_select(&mut v, &q.select, &[]);
    with_context(&mut v, &entity_context("users", &q.select));
    Ok(GraphResponse::ok(v))
}

/// `…$metadata#users(id)/$entity`: the set, the `$select`ed properties.
fn entity_context(set: &str, select: &[String]) -> String {
    format!("{METADATA}{set}{}/$entity", context_projection(select, &[]))
}

fn get_by_ids(store: &Store, body: &[u8]) -> GraphResult<GraphResponse> {
    let body = parse_body(body)?;
    let ids = body
        .get("ids")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::bad_request("The property 'ids' is required."))?;
    if ids.len() > 1000 {
        return Err(GraphError::bad_request(
            "Too many ids: at most 1000 are allowed.",
        ));
    }
    let types: Vec<String> = match body.get("types") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect(),
        Some(_) => {
            return Err(GraphError::bad_request(
                "Invalid value for property 'types'.",
            ));
        }
    };
    let mut value = Vec::new();
    for id in ids.iter().filter_map(Value::as_str) {
        if let Some(obj) = store.directory_object(id) {
            let t = obj
                .get("@odata.type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let short = t
                .trim_start_matches("#microsoft.graph.")
                .to_ascii_lowercase();
            if types.is_empty() || types.contains(&short) {
                value.push(obj);
            }
        }
    }
    Ok(GraphResponse::ok(
        json!({ "@odata.context": format!("{METADATA}directoryObjects"), "value": value }),
    ))
}
