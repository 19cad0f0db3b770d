//! The six grant collections of every surface (`roleManagement/directory`,
//! `identityGovernance/privilegedAccess/group`): schedule requests (create,
//! list, get, cancel), schedules and instances, `filterByCurrentUser`, and
//! their `$expand`s. A surface differs only in names, in the `$filter` its
//! lists require, and in what it expands.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::listing::{Listing, encoded_page, list, list_page, page_window};
use super::{
    GraphResponse, IncomingCall, Link, METADATA, parse_body, parse_function_arg, with_context,
};
use crate::error::{ApiError, ApiResult};
use crate::json::J;
use crate::odata::{ExpandItem, Expr, Query, apply_select, candidates, context_projection, fold};
use crate::store::{Grants, Key, Kind, ScheduleRec, Store, Surface};
use crate::{Caller, Shared};
use crate::{groups, pim, selfservice};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EntitySet {
    Requests,
    Schedules,
    Instances,
}

/// One of a surface's six collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Set {
    pub surface: Surface,
    pub kind: Kind,
    pub what: EntitySet,
}

const SETS: [(Kind, EntitySet); 6] = [
    (Kind::Eligibility, EntitySet::Requests),
    (Kind::Assignment, EntitySet::Requests),
    (Kind::Eligibility, EntitySet::Schedules),
    (Kind::Assignment, EntitySet::Schedules),
    (Kind::Eligibility, EntitySet::Instances),
    (Kind::Assignment, EntitySet::Instances),
];

impl Set {
    /// The collection a path segment names (exact case, as Graph routes).
    pub fn parse(surface: Surface, name: &str) -> Option<Set> {
        SETS.iter()
            .map(|&(kind, what)| Set {
                surface,
                kind,
                what,
            })
            .find(|s| s.name() == name)
    }

    pub fn name(self) -> &'static str {
        use EntitySet::*;
        use Kind::*;
        match (self.surface, self.kind, self.what) {
            (Surface::DirectoryRole, Eligibility, Requests) => "roleEligibilityScheduleRequests",
            (Surface::DirectoryRole, Assignment, Requests) => "roleAssignmentScheduleRequests",
            (Surface::DirectoryRole, Eligibility, Schedules) => "roleEligibilitySchedules",
            (Surface::DirectoryRole, Assignment, Schedules) => "roleAssignmentSchedules",
            (Surface::DirectoryRole, Eligibility, Instances) => "roleEligibilityScheduleInstances",
            (Surface::DirectoryRole, Assignment, Instances) => "roleAssignmentScheduleInstances",
            (Surface::Group, Eligibility, Requests) => "eligibilityScheduleRequests",
            (Surface::Group, Assignment, Requests) => "assignmentScheduleRequests",
            (Surface::Group, Eligibility, Schedules) => "eligibilitySchedules",
            (Surface::Group, Assignment, Schedules) => "assignmentSchedules",
            (Surface::Group, Eligibility, Instances) => "eligibilityScheduleInstances",
            (Surface::Group, Assignment, Instances) => "assignmentScheduleInstances",
        }
    }

    pub fn type_name(self) -> &'static str {
        use EntitySet::*;
        use Kind::*;
        match (self.surface, self.kind, self.what) {
            (Surface::DirectoryRole, Eligibility, Requests) => {
                "unifiedRoleEligibilityScheduleRequest"
            }
            (Surface::DirectoryRole, Assignment, Requests) => {
                "unifiedRoleAssignmentScheduleRequest"
            }
            (Surface::DirectoryRole, Eligibility, Schedules) => "unifiedRoleEligibilitySchedule",
            (Surface::DirectoryRole, Assignment, Schedules) => "unifiedRoleAssignmentSchedule",
            (Surface::DirectoryRole, Eligibility, Instances) => {
                "unifiedRoleEligibilityScheduleInstance"
            }
            (Surface::DirectoryRole, Assignment, Instances) => {
                "unifiedRoleAssignmentScheduleInstance"
            }
            (Surface::Group, Eligibility, Requests) => {
                "privilegedAccessGroupEligibilityScheduleRequest"
            }
            (Surface::Group, Assignment, Requests) => {
                "privilegedAccessGroupAssignmentScheduleRequest"
            }
            (Surface::Group, Eligibility, Schedules) => "privilegedAccessGroupEligibilitySchedule",
            (Surface::Group, Assignment, Schedules) => "privilegedAccessGroupAssignmentSchedule",
            (Surface::Group, Eligibility, Instances) => {
                "privilegedAccessGroupEligibilityScheduleInstance"
            }
            (Surface::Group, Assignment, Instances) => {
                "privilegedAccessGroupAssignmentScheduleInstance"
            }
        }
    }

    fn grants(self) -> Grants {
        Grants {
            surface: self.surface,
            kind: self.kind,
        }
    }

    /// `…$metadata#<surface path>/<set>`.
    pub fn context(self) -> String {
        format!("{METADATA}{}/{}", self.surface.path(), self.name())
    }

    fn filterable(self) -> &'static [&'static str] {
        match (self.surface, self.what) {
            (Surface::DirectoryRole, EntitySet::Requests) => REQUEST_FILTER,
            (Surface::DirectoryRole, EntitySet::Schedules) => SCHEDULE_FILTER,
            (Surface::DirectoryRole, EntitySet::Instances) => INSTANCE_FILTER,
            (Surface::Group, EntitySet::Requests) => GROUP_REQUEST_FILTER,
            (Surface::Group, EntitySet::Schedules) => GROUP_SCHEDULE_FILTER,
            (Surface::Group, EntitySet::Instances) => GROUP_INSTANCE_FILTER,
        }
    }
}

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
// graph-pim-groups.md §2.2–2.4; groupId and accessId are filterable in
// practice (the required filters and the examples use them).
const GROUP_REQUEST_FILTER: &[&str] = &[
    "id",
    "principalId",
    "groupId",
    "accessId",
    "status",
    "targetScheduleId",
    "action",
    "isValidationOnly",
    "createdBy/user/id",
];
const GROUP_SCHEDULE_FILTER: &[&str] = &[
    "id",
    "principalId",
    "groupId",
    "accessId",
    "status",
    "memberType",
    "assignmentType",
    "createdUsing",
];
const GROUP_INSTANCE_FILTER: &[&str] = &[
    "id",
    "principalId",
    "groupId",
    "accessId",
    "memberType",
    "assignmentType",
    "assignmentScheduleId",
    "eligibilityScheduleId",
    "startDateTime",
    "endDateTime",
];

/// What a handler of the grant collections needs besides the store.
pub(super) struct Env<'a> {
    pub shared: &'a Shared,
    pub call: &'a IncomingCall<'a>,
    pub q: &'a Query,
    pub link: &'a Link<'a>,
    pub now: DateTime<Utc>,
}

/// A listing narrowed to one principal's grants or requests.
#[derive(Clone, Copy)]
struct Mine<'a> {
    principal: &'a str,
    /// A `filterByCurrentUser` result (typed items, a `Collection(…)`
    /// context), not a plain list.
    function: bool,
}

/// Route a call on one of the six collections of a surface.
pub(super) fn route(
    store: &mut Store,
    env: &Env<'_>,
    set: Set,
    rest: &[&str],
) -> ApiResult<GraphResponse> {
    let (shared, call, q, link, now) = (env.shared, env.call, env.q, env.link, env.now);
    let m = call.method;
    if set.what == EntitySet::Requests {
        store.purge_requests(now - shared.request_retention);
    }
    store.purge_schedules(now - shared.expired_schedule_retention);
    match (set.what, m, rest) {
        (EntitySet::Requests, "POST", []) => {
            q.only(&[])?;
            let body = parse_body(call.body)?;
            if let Some(window) = shared.faults.new_object_delay() {
                pim::check_replicated(store, &body, now, window)?;
            }
            let delay = shared.faults.replication_delay();
            let mut entity = pim::create_request(
                store,
                set.grants(),
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
            if wrote
                && set.surface == Surface::Group
                && let Some(g) = entity.get("groupId").and_then(Value::as_str)
            {
                store.onboard(g);
            }
            with_context(&mut entity, &format!("{}/$entity", set.context()));
            let mut r = GraphResponse::created(entity);
            r.wrote = wrote;
            Ok(r)
        }
        (EntitySet::Requests, "POST", [id, "cancel"]) => {
            q.only(&[])?;
            pim::cancel_request(store, set.grants(), id, now, shared.cancel)?;
            Ok(GraphResponse::no_content(true))
        }
        (_, "GET", []) => {
            let mine = match set.surface {
                Surface::Group => group_list_scope(set, q, call.caller)?,
                Surface::DirectoryRole => None,
            };
            list_pim(store, set, q, link, mine, now)
        }
        (_, "GET", [func]) if func.starts_with("filterByCurrentUser") => {
            let on = parse_function_arg(func, "filterByCurrentUser", "on")?;
            let me = call.caller.object_id.as_str();
            match on.as_str() {
                "principal" => list_pim(
                    store,
                    set,
                    q,
                    link,
                    Some(Mine {
                        principal: me,
                        function: true,
                    }),
                    now,
                ),
                "approver" | "createdBy" if set.what == EntitySet::Requests => {
                    let items: Vec<Value> = if on == "approver" {
                        match set.kind {
                            Kind::Assignment => selfservice::awaiting(store, set.surface, me, now),
                            // Eligibility changes wait for administrators, not approvers.
                            Kind::Eligibility => Vec::new(),
                        }
                    } else {
                        store
                            .requests
                            .iter()
                            .filter(|r| {
                                r.surface == set.surface
                                    && r.kind == set.kind
                                    && r.body
                                        .pointer("/createdBy/user/id")
                                        .and_then(Value::as_str)
                                        .is_some_and(|c| c.eq_ignore_ascii_case(me))
                            })
                            .map(|r| r.body.clone())
                            .collect()
                    };
                    let typed = set.surface == Surface::Group;
                    let items = items
                        .into_iter()
                        .map(|mut v| {
                            if typed {
                                with_type(&mut v, set.type_name());
                            }
                            Cow::Owned(v)
                        })
                        .collect();
                    let spec = Listing {
                        context: if typed {
                            format!("{METADATA}Collection({})", set.type_name())
                        } else {
                            set.context()
                        },
                        entity: set.type_name(),
                        filterable: set.filterable(),
                        ordered: &[],
                    };
                    list(items, &spec, q, link, link.page, |item, e| {
                        expand_pim(store, set, item, e, now)
                    })
                }
                other => Err(ApiError::bad_request(format!(
                    "The value '{other}' is not valid for parameter 'on' of filterByCurrentUser."
                ))),
            }
        }
        (_, "GET", [id]) => get_pim(store, set, id, q, now),
        (_, "GET" | "POST" | "PATCH" | "DELETE" | "PUT", _) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::no_route(m, call.path)),
    }
}

/// Which rows a group list may show: five collections require a filter
/// naming a group or principal; eligibility requests require it of
/// app-only callers only, and show a signed-in user without one their
/// own requests (graph-pim-groups.md §1.2).
fn group_list_scope<'a>(set: Set, q: &Query, caller: &'a Caller) -> ApiResult<Option<Mine<'a>>> {
    let own_by_default = set.what == EntitySet::Requests
        && set.kind == Kind::Eligibility
        && caller.app_id.is_none()
        && q.filter.is_none();
    if own_by_default {
        return Ok(Some(Mine {
            principal: &caller.object_id,
            function: false,
        }));
    }
    groups::require_filter(q)?;
    Ok(None)
}

/// The index a schedule or instance property is looked up in, for `$filter`.
fn schedule_key(set: Set, prop: &str) -> Option<Key> {
    let surface = set.surface;
    if prop == "principalId" {
        return Some(Key::Principal);
    }
    if prop == surface.role_key() {
        return Some(Key::Role);
    }
    if prop == surface.scope_key() {
        return Some(Key::Scope);
    }
    match set.what {
        EntitySet::Schedules if prop == "id" => Some(Key::Id),
        EntitySet::Instances if prop == "id" || prop == "roleAssignmentOriginId" => {
            Some(Key::Instance)
        }
        // An instance names its schedule by the schedule's id.
        EntitySet::Instances
            if [Kind::Assignment, Kind::Eligibility]
                .iter()
                .any(|k| surface.schedule_ref_key(*k) == prop) =>
        {
            Some(Key::Id)
        }
        _ => None,
    }
}

fn pim_items<'a>(
    store: &'a Store,
    set: Set,
    now: DateTime<Utc>,
    filter: Option<&Expr>,
    only_principal: Option<&str>,
) -> Vec<Cow<'a, Value>> {
    if set.what == EntitySet::Requests {
        return store
            .requests
            .iter()
            .filter(|r| r.surface == set.surface && r.kind == set.kind)
            .map(|r| Cow::Borrowed(&r.body))
            .collect();
    }
    // Read only the schedules the filter (or the caller) names, when an
    // index can say which: rendering is most of the cost of a list. The
    // filter is still evaluated on each, by `list`.
    let schedules = &store.schedules;
    let by_filter = filter.and_then(|f| {
        candidates(f, &|p: &str, v: &str| {
            schedule_key(set, p).map(|k| schedules.keyed(k, v))
        })
    });
    let by_principal = only_principal.map(|p| schedules.keyed(Key::Principal, &fold(p)).to_vec());
    let seqs = match (by_filter, by_principal) {
        (Some(a), Some(b)) => Some(if a.len() <= b.len() { a } else { b }),
        (a, b) => a.or(b),
    };
    let picked: Vec<&ScheduleRec> = match &seqs {
        Some(seqs) => schedules
            .positions(seqs)
            .map(|i| &schedules[i])
            .filter(|s| s.surface == set.surface && s.kind == set.kind && s.is_visible())
            .collect(),
        None => store.visible_schedules(set.surface, set.kind).collect(),
    };
    match set.what {
        EntitySet::Instances => picked
            .into_iter()
            .filter(|s| s.is_active(now))
            .map(|s| Cow::Owned(s.instance_json()))
            .collect(),
        _ => picked
            .into_iter()
            .map(|s| Cow::Owned(s.to_json(now)))
            .collect(),
    }
}

fn list_pim(
    store: &Store,
    set: Set,
    q: &Query,
    link: &Link<'_>,
    mine: Option<Mine<'_>>,
    now: DateTime<Utc>,
) -> ApiResult<GraphResponse> {
    if q.filter.is_none() && mine.is_none() && set.what != EntitySet::Requests {
        return list_pim_unfiltered(store, set, q, link, now);
    }
    let only_principal = mine.map(|m| m.principal);
    let mut items = pim_items(store, set, now, q.filter.as_ref(), only_principal);
    // Directory roles type the items of their schedule and instance
    // functions only; groups type every function's (the group examples).
    let function = mine.is_some_and(|m| m.function)
        && (set.what != EntitySet::Requests || set.surface == Surface::Group);
    if let Some(p) = only_principal {
        items.retain(|i| {
            i.get("principalId")
                .and_then(Value::as_str)
                .is_some_and(|x| x.eq_ignore_ascii_case(p))
        });
        if function {
            let t = format!("#microsoft.graph.{}", set.type_name());
            for i in &mut items {
                with_type(i.to_mut(), &t);
            }
        }
    }
    let context = if function {
        format!("{METADATA}Collection({})", set.type_name())
    } else {
        set.context()
    };
    let spec = Listing {
        context,
        entity: set.type_name(),
        filterable: set.filterable(),
        ordered: &["startDateTime", "endDateTime"],
    };
    list(items, &spec, q, link, link.page, |item, e| {
        expand_pim(store, set, item, e, now)
    })
}

/// Schedules or instances without a filter: only the page asked for is
/// rendered, so reading a tenant of 50,000 schedules page by page renders
/// each once, not once per page.
fn list_pim_unfiltered(
    store: &Store,
    set: Set,
    q: &Query,
    link: &Link<'_>,
    now: DateTime<Utc>,
) -> ApiResult<GraphResponse> {
    let schedules = &store.schedules;
    let listed = || {
        schedules
            .listed(set.surface, set.kind)
            .map(|i| &schedules[i])
            .filter(|s| set.what != EntitySet::Instances || s.is_active(now))
    };
    let total = listed().count();
    let (start, end) = page_window(q, link.page, total);
    let page = listed().skip(start).take(end - start);
    let spec = Listing {
        context: set.context(),
        entity: set.type_name(),
        filterable: &[],
        ordered: &[],
    };
    // What most reads ask for (a whole tenant's schedules, page by page):
    // written straight from the store, as `list_page` would write it.
    if q.select.is_empty() && q.expand.is_empty() {
        let items = page
            .map(|s| {
                J::Obj(match set.what {
                    EntitySet::Instances => s.instance_obj(),
                    _ => s.obj(now),
                })
            })
            .collect();
        return Ok(encoded_page(items, total, end, &spec, q, link));
    }
    let page = page
        .map(|s| {
            Cow::Owned(match set.what {
                EntitySet::Instances => s.instance_json(),
                _ => s.to_json(now),
            })
        })
        .collect();
    list_page(page, total, end, &spec, q, link, |item, e| {
        expand_pim(store, set, item, e, now)
    })
}

fn with_type(v: &mut Value, t: &str) {
    let t = if t.starts_with('#') {
        t.to_string()
    } else {
        format!("#microsoft.graph.{t}")
    };
    if let Some(o) = v.as_object_mut() {
        let mut m = Map::new();
        m.insert("@odata.type".into(), json!(t));
        m.extend(std::mem::take(o));
        *o = m;
    }
}

fn get_pim(
    store: &Store,
    set: Set,
    id: &str,
    q: &Query,
    now: DateTime<Utc>,
) -> ApiResult<GraphResponse> {
    q.only(&["$select", "$expand"])?;
    let (surface, kind) = (set.surface, set.kind);
    let found = match set.what {
        EntitySet::Requests => store
            .requests
            .iter()
            .find(|r| r.is(surface, kind, id))
            .map(|r| r.body.clone()),
        EntitySet::Schedules => store
            .schedules
            .find_keyed(Key::Id, id, |s| {
                s.surface == surface
                    && s.kind == kind
                    && s.is_visible()
                    && s.id.eq_ignore_ascii_case(id)
            })
            .map(|s| s.to_json(now)),
        EntitySet::Instances => store
            .schedules
            .find_keyed(Key::Instance, id, |s| {
                s.surface == surface
                    && s.kind == kind
                    && s.is_visible()
                    && s.is_active(now)
                    && s.instance_id().eq_ignore_ascii_case(id)
            })
            .map(|s| s.instance_json()),
    };
    let mut item = found.ok_or_else(|| match set.what {
        EntitySet::Requests => ApiError::request_not_found(),
        _ => ApiError::not_found(format!("No {} with id '{id}' was found.", set.type_name())),
    })?;
    for e in &q.expand {
        expand_pim(store, set, &mut item, e, now)?;
    }
    apply_select(&mut item, &q.select, &q.expand);
    let ctx = format!(
        "{}{}/$entity",
        set.context(),
        context_projection(&q.select, &q.expand)
    );
    with_context(&mut item, &ctx);
    Ok(GraphResponse::ok(item))
}

fn expand_pim(
    store: &Store,
    set: Set,
    item: &mut Value,
    e: &ExpandItem,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let (surface, what) = (set.surface, set.what);
    let get = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
    let mut v = match (surface, e.name.as_str()) {
        (_, "principal") => get("principalId")
            .and_then(|p| store.directory_object(&p))
            .unwrap_or(Value::Null),
        (Surface::DirectoryRole, "roleDefinition") => get("roleDefinitionId")
            .and_then(|r| store.role(&r).map(|r| r.to_json()))
            .unwrap_or(Value::Null),
        (Surface::DirectoryRole, "directoryScope") => match get("directoryScopeId").as_deref() {
            // Graph answers the tenant scope as an object whose id is `/`.
            Some("/") => json!({ "id": "/" }),
            None => Value::Null,
            Some(s) => store
                .directory_object(s.rsplit('/').next().unwrap_or(s))
                .unwrap_or(Value::Null),
        },
        (Surface::DirectoryRole, "appScope") => Value::Null,
        (Surface::Group, "group") => get("groupId")
            .and_then(|g| store.directory_object(&g))
            .unwrap_or(Value::Null),
        (_, "activatedUsing") if set.kind == Kind::Assignment => {
            let schedule_id = match what {
                EntitySet::Instances => get(surface.schedule_ref_key(Kind::Assignment)),
                EntitySet::Requests => get("targetScheduleId"),
                EntitySet::Schedules => get("id"),
            };
            let find = |id: &str, kind: Kind| {
                store.schedules.find_keyed(Key::Id, id, |s| {
                    s.surface == surface && s.kind == kind && s.id == id
                })
            };
            schedule_id
                .and_then(|id| find(&id, Kind::Assignment))
                .and_then(|s| s.activated_using.clone())
                .and_then(|e| find(&e, Kind::Eligibility))
                .map(|s| match what {
                    EntitySet::Instances => s.instance_json(),
                    _ => s.to_json(now),
                })
                .unwrap_or(Value::Null)
        }
        (_, "targetSchedule") if what == EntitySet::Requests => get("targetScheduleId")
            .and_then(|t| {
                store
                    .schedules
                    .find_keyed(Key::Id, &t, |s| {
                        s.surface == surface && s.kind == set.kind && s.id == t
                    })
                    .map(|s| s.to_json(now))
            })
            .unwrap_or(Value::Null),
        (_, other) => {
            return Err(ApiError::bad_request(format!(
                "Could not find a property named '{other}' on type 'microsoft.graph.{}'.",
                set.type_name()
            )));
        }
    };
    if !e.expand.is_empty() {
        return Err(ApiError::bad_request(format!(
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
