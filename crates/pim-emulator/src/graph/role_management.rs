//! `roleManagement/directory`: the schedule requests, schedules and
//! instances of both kinds, with their `$expand`s, and the role definitions.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::listing::{Listing, list, list_page, no_expand, page_window};
use super::{EntitySet, GraphResponse, Link, METADATA, with_context};
use crate::error::{ApiError, ApiResult};
use crate::odata::{ExpandItem, Expr, Query, apply_select, candidates, context_projection, fold};
use crate::store::{Key, Kind, ScheduleRec, Store};

pub(super) const REQUEST_FILTER: &[&str] = &[
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

fn set_name(kind: Kind, what: EntitySet) -> &'static str {
    match what {
        EntitySet::Requests => kind.requests_set(),
        EntitySet::Schedules => kind.schedules_set(),
        EntitySet::Instances => kind.instances_set(),
    }
}

pub(super) fn type_name(kind: Kind, what: EntitySet) -> &'static str {
    match what {
        EntitySet::Requests => kind.request_type(),
        EntitySet::Schedules => kind.schedule_type(),
        EntitySet::Instances => kind.instance_type(),
    }
}

/// The index a schedule or instance property is looked up in, for `$filter`.
fn schedule_key(what: EntitySet, prop: &str) -> Option<Key> {
    match (what, prop) {
        (_, "principalId") => Some(Key::Principal),
        (_, "roleDefinitionId") => Some(Key::Role),
        (_, "directoryScopeId") => Some(Key::Scope),
        (EntitySet::Schedules, "id") => Some(Key::Id),
        (EntitySet::Instances, "id" | "roleAssignmentOriginId") => Some(Key::Instance),
        // An instance names its schedule by the schedule's id.
        (EntitySet::Instances, "roleAssignmentScheduleId" | "roleEligibilityScheduleId") => {
            Some(Key::Id)
        }
        _ => None,
    }
}

fn pim_items<'a>(
    store: &'a Store,
    kind: Kind,
    what: EntitySet,
    now: chrono::DateTime<chrono::Utc>,
    filter: Option<&Expr>,
    only_principal: Option<&str>,
) -> Vec<Cow<'a, Value>> {
    if what == EntitySet::Requests {
        return store
            .requests
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, v)| Cow::Borrowed(v))
            .collect();
    }
    // Read only the schedules the filter (or the caller) names, when an
    // index can say which: rendering is most of the cost of a list. The
    // filter is still evaluated on each, by `list`.
    let schedules = &store.schedules;
    let by_filter = filter.and_then(|f| {
        candidates(f, &|p: &str, v: &str| {
            schedule_key(what, p).map(|k| schedules.keyed(k, v))
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
            .filter(|s| s.kind == kind && s.is_visible())
            .collect(),
        None => store.visible_schedules(kind).collect(),
    };
    match what {
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

pub(super) fn list_pim(
    store: &Store,
    kind: Kind,
    what: EntitySet,
    q: &Query,
    link: &Link<'_>,
    only_principal: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<GraphResponse> {
    let set = set_name(kind, what);
    if q.filter.is_none() && only_principal.is_none() && what != EntitySet::Requests {
        return list_pim_unfiltered(store, kind, what, q, link, now);
    }
    let mut items = pim_items(store, kind, what, now, q.filter.as_ref(), only_principal);
    let function_result = only_principal.is_some() && what != EntitySet::Requests;
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
        EntitySet::Requests => REQUEST_FILTER,
        EntitySet::Schedules => SCHEDULE_FILTER,
        EntitySet::Instances => INSTANCE_FILTER,
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
    what: EntitySet,
    q: &Query,
    link: &Link<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<GraphResponse> {
    let recs: Vec<&ScheduleRec> = store
        .visible_schedules(kind)
        .filter(|s| what != EntitySet::Instances || s.is_active(now))
        .collect();
    let (start, end) = page_window(q, link.page, recs.len());
    let page = recs[start..end]
        .iter()
        .map(|s| {
            Cow::Owned(match what {
                EntitySet::Instances => s.instance_json(),
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

pub(super) fn get_pim(
    store: &Store,
    kind: Kind,
    what: EntitySet,
    id: &str,
    q: &Query,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<GraphResponse> {
    q.only(&["$select", "$expand"])?;
    let set = set_name(kind, what);
    let found = match what {
        EntitySet::Requests => store
            .requests
            .iter()
            .find(|(k, r)| {
                *k == kind
                    && r.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(id))
            })
            .map(|(_, v)| v.clone()),
        EntitySet::Schedules => store
            .schedules
            .find_keyed(Key::Id, id, |s| {
                s.kind == kind && s.is_visible() && s.id.eq_ignore_ascii_case(id)
            })
            .map(|s| s.to_json(now)),
        EntitySet::Instances => store
            .schedules
            .find_keyed(Key::Instance, id, |s| {
                s.kind == kind
                    && s.is_visible()
                    && s.is_active(now)
                    && s.instance_id().eq_ignore_ascii_case(id)
            })
            .map(|s| s.instance_json()),
    };
    let mut item = found.ok_or_else(|| match what {
        EntitySet::Requests => ApiError::request_not_found(),
        _ => ApiError::not_found(format!(
            "No {} with id '{id}' was found.",
            type_name(kind, what)
        )),
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

pub(super) fn expand_pim(
    store: &Store,
    kind: Kind,
    what: EntitySet,
    item: &mut Value,
    e: &ExpandItem,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<()> {
    let get = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
    let mut v = match e.name.as_str() {
        "principal" => get("principalId")
            .and_then(|p| store.directory_object(&p))
            .unwrap_or(Value::Null),
        "roleDefinition" => get("roleDefinitionId")
            .and_then(|r| store.role(&r).map(|r| r.to_json()))
            .unwrap_or(Value::Null),
        "directoryScope" => match get("directoryScopeId").as_deref() {
            // Graph answers the tenant scope as an object whose id is `/`.
            Some("/") => json!({ "id": "/" }),
            None => Value::Null,
            Some(s) => store
                .directory_object(s.rsplit('/').next().unwrap_or(s))
                .unwrap_or(Value::Null),
        },
        "appScope" => Value::Null,
        "activatedUsing" if kind == Kind::Assignment => {
            let schedule_id = match what {
                EntitySet::Instances => get("roleAssignmentScheduleId"),
                EntitySet::Requests => get("targetScheduleId"),
                EntitySet::Schedules => get("id"),
            };
            schedule_id
                .and_then(|id| {
                    store
                        .schedules
                        .find_keyed(Key::Id, &id, |s| s.kind == Kind::Assignment && s.id == id)
                })
                .and_then(|s| s.activated_using.clone())
                .and_then(|e| {
                    store
                        .schedules
                        .find_keyed(Key::Id, &e, |s| s.kind == Kind::Eligibility && s.id == e)
                })
                .map(|s| match what {
                    EntitySet::Instances => s.instance_json(),
                    _ => s.to_json(now),
                })
                .unwrap_or(Value::Null)
        }
        "targetSchedule" if what == EntitySet::Requests => get("targetScheduleId")
            .and_then(|t| {
                store
                    .schedules
                    .find_keyed(Key::Id, &t, |s| s.kind == kind && s.id == t)
                    .map(|s| s.to_json(now))
            })
            .unwrap_or(Value::Null),
        other => {
            return Err(ApiError::bad_request(format!(
                "Could not find a property named '{other}' on type 'microsoft.graph.{}'.",
                type_name(kind, what)
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

pub(super) fn role_definitions(
    store: &Store,
    m: &str,
    rest: &[&str],
    q: &Query,
    link: &Link<'_>,
) -> ApiResult<GraphResponse> {
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
                ApiError::not_found(format!("No role definition with id '{id}'."))
            })?;
            let mut v = r.to_json();
            apply_select(&mut v, &q.select, &[]);
            with_context(
                &mut v,
                &format!("{METADATA}roleManagement/directory/roleDefinitions/$entity"),
            );
            Ok(GraphResponse::ok(v))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
