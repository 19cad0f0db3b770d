//! Schedules and instances of Azure role grants: how an item shows at a
//! queried scope (`memberType` Direct / Inherited / Group), the lists with
//! their `$filter`, gets by name, and the JSON of each.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::filter::Filter;
use super::{ArmResponse, Call, cloud_error, no_route, page, under};
use crate::error::{ApiError, ApiResult};
use crate::store::arm::{ArmSchedule, ScopeRec};
use crate::store::{Kind, Store, ts};

/// Which grants a list at a scope shows, and to whom.
pub(super) struct Lens {
    pub at: usize,
    pub filter: Filter,
    /// The user `assignedTo()` / `asTarget()` names, and the groups they are in.
    target: Option<(String, Vec<String>)>,
}

impl Lens {
    pub fn new(store: &Store, call: &Call<'_>, filter: Filter) -> Lens {
        let who = match (&filter.assigned_to, filter.as_target) {
            (Some(u), _) => Some(u.clone()),
            (None, true) => Some(call.caller.object_id.to_ascii_lowercase()),
            (None, false) => None,
        };
        let target = who.map(|u| {
            let groups = groups_of(store, &u, call.now);
            (u, groups)
        });
        Lens {
            at: call.scope,
            filter,
            target,
        }
    }

    /// `memberType` of a grant at scope `scope` for `principal`, or `None`
    /// when this list does not show it. `atScope()` is "at or above the
    /// scope" as the spec says (the REST sample says "only the specified
    /// scope": UNVERIFIED which ARM does). With no `atScope()` the lists
    /// show grants at, above and below the scope, as the spec says of
    /// `principalId eq` (UNVERIFIED with no filter at all).
    pub fn member_type(
        &self,
        store: &Store,
        scope: &str,
        principal: &str,
        role: &str,
    ) -> Option<&'static str> {
        let si = store.arm.find_scope(scope)?;
        let above = store.arm.is_at_or_above(si, self.at) && si != self.at;
        let below = store.arm.is_at_or_above(self.at, si) && si != self.at;
        let shown = si == self.at || above || (below && !self.filter.at_scope);
        if !shown {
            return None;
        }
        if self.filter.role.as_deref().is_some_and(|r| r != role) {
            return None;
        }
        if self
            .filter
            .principal
            .as_deref()
            .is_some_and(|p| !p.eq_ignore_ascii_case(principal))
        {
            return None;
        }
        let mut via_group = false;
        if let Some((user, groups)) = &self.target
            && !user.eq_ignore_ascii_case(principal)
        {
            if !groups.iter().any(|g| g.eq_ignore_ascii_case(principal)) {
                return None;
            }
            via_group = true;
        }
        Some(if via_group {
            "Group"
        } else if above {
            "Inherited"
        } else {
            "Direct"
        })
    }
}

/// Groups `user` is a member of (outside PIM or through an active PIM for Groups grant).
pub(super) fn groups_of(store: &Store, user: &str, now: DateTime<Utc>) -> Vec<String> {
    store
        .groups
        .iter()
        .filter(|g| {
            store
                .group_principals(&g.id, "member", now)
                .iter()
                .any(|m| m.eq_ignore_ascii_case(user))
        })
        .map(|g| g.id.to_ascii_lowercase())
        .collect()
}

pub(super) fn type_name(kind: Kind, instance: bool) -> &'static str {
    match (kind, instance) {
        (Kind::Eligibility, false) => "RoleEligibilitySchedules",
        (Kind::Assignment, false) => "RoleAssignmentSchedules",
        (Kind::Eligibility, true) => "RoleEligibilityScheduleInstances",
        (Kind::Assignment, true) => "RoleAssignmentScheduleInstances",
    }
}

/// UNVERIFIED: the code ARM gives a name it does not hold; this follows
/// ARM's `{Type}NotFound` habit.
pub(super) fn not_found(type_name: &str, name: &str) -> ApiError {
    let singular = type_name.trim_end_matches('s');
    cloud_error(
        404,
        &format!("{singular}NotFound"),
        format!("The {singular} '{name}' could not be found."),
    )
}

pub(super) fn role_definition_id(scope: &ScopeRec, role: &str) -> String {
    // At a management group (or no scope) the tenant-level form (UNVERIFIED).
    match &scope.subscription {
        Some(sub) => {
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}")
        }
        None => format!("/providers/Microsoft.Authorization/roleDefinitions/{role}"),
    }
}

pub(super) fn scope_json(scope: &ScopeRec) -> Value {
    json!({ "id": scope.id, "displayName": scope.display_name, "type": scope.kind.wire() })
}

pub(super) fn role_json(store: &Store, scope: &ScopeRec, role: &str) -> Value {
    let r = store.arm.role(role);
    json!({
        "id": role_definition_id(scope, role),
        "displayName": r.map(|r| r.name.clone()),
        "type": if r.is_some_and(|r| !r.builtin) { "CustomRole" } else { "BuiltInRole" },
    })
}

pub(super) fn principal_json(store: &Store, id: &str, ptype: &str) -> Value {
    let (name, email) = if let Some(u) = store.user_by_id(id) {
        (
            Some(u.display_name.clone()),
            Some(
                u.mail
                    .clone()
                    .unwrap_or_else(|| u.user_principal_name.clone()),
            ),
        )
    } else if let Some(g) = store.group_by_id(id) {
        (Some(g.display_name.clone()), g.mail.clone())
    } else if let Some(s) = store.service_principal_by_id(id) {
        (Some(s.display_name.clone()), None)
    } else {
        (None, None)
    };
    json!({ "id": id, "displayName": name, "email": email, "type": ptype })
}

/// `expandedProperties` of a grant or request.
pub(super) fn expanded(
    store: &Store,
    scope: &str,
    role: &str,
    principal: &str,
    ptype: &str,
) -> Value {
    let Some(s) = store.arm.scope_of(scope) else {
        return Value::Null;
    };
    json!({
        "scope": scope_json(s),
        "roleDefinition": role_json(store, s, role),
        "principal": principal_json(store, principal, ptype),
    })
}

fn request_type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Eligibility => "RoleEligibilityScheduleRequests",
        Kind::Assignment => "RoleAssignmentScheduleRequests",
    }
}

pub(super) fn schedule_json(
    store: &Store,
    s: &ArmSchedule,
    member_type: &str,
    instance: bool,
) -> Value {
    let scope = store.arm.scope_of(&s.scope);
    let role_id = scope.map(|sc| role_definition_id(sc, &s.role));
    let name = if instance { &s.instance } else { &s.name };
    let tname = type_name(s.kind, instance);
    let mut p = json!({
        "scope": s.scope,
        "roleDefinitionId": role_id,
        "principalId": s.principal,
        "principalType": s.principal_type,
        "status": "Provisioned",
        "startDateTime": ts(s.start),
        "endDateTime": s.end.map(ts),
        "memberType": member_type,
        "createdOn": ts(s.created),
        "condition": s.condition,
        "conditionVersion": s.condition_version,
        "expandedProperties": expanded(store, &s.scope, &s.role, &s.principal, &s.principal_type),
    });
    let request_id = s
        .request
        .as_ref()
        .map(|r| under(&s.scope, &format!("{}/{r}", request_type_name(s.kind))));
    let schedule_id = under(
        &s.scope,
        &format!("{}/{}", type_name(s.kind, false), s.name),
    );
    let linked_instance = s.linked.as_ref().and_then(|l| {
        store
            .arm
            .schedules
            .iter()
            .find(|e| e.kind == Kind::Eligibility && e.name.eq_ignore_ascii_case(l))
            .map(|e| e.instance.clone())
    });
    let extra = match (s.kind, instance) {
        (Kind::Eligibility, false) => json!({
            "roleEligibilityScheduleRequestId": request_id,
            "updatedOn": ts(s.updated),
        }),
        (Kind::Assignment, false) => json!({
            "roleAssignmentScheduleRequestId": request_id,
            "linkedRoleEligibilityScheduleId": s.linked,
            "assignmentType": s.assignment_type,
            "updatedOn": ts(s.updated),
        }),
        (Kind::Eligibility, true) => json!({ "roleEligibilityScheduleId": schedule_id }),
        (Kind::Assignment, true) => json!({
            "roleAssignmentScheduleId": schedule_id,
            "originRoleAssignmentId": under(&s.scope, &format!("roleAssignments/{}", s.instance)),
            "linkedRoleEligibilityScheduleId": s.linked,
            "linkedRoleEligibilityScheduleInstanceId": linked_instance,
            "assignmentType": s.assignment_type,
        }),
    };
    if let (Some(o), Value::Object(e)) = (p.as_object_mut(), extra) {
        o.extend(e);
    }
    json!({
        "properties": p,
        "name": name,
        "id": under(&s.scope, &format!("{tname}/{name}")),
        "type": format!("Microsoft.Authorization/{tname}"),
    })
}

/// `GET …/role{Eligibility,Assignment}Schedule[Instance]s[/{name}]`.
pub(super) fn route(
    store: &mut Store,
    call: &Call<'_>,
    kind: Kind,
    instance: bool,
) -> ApiResult<ArmResponse> {
    if call.method != "GET" || call.action.is_some() {
        return Err(no_route(call.method, call.path));
    }
    let store = &*store;
    let listed = |s: &ArmSchedule| {
        s.kind == kind
            && if instance {
                s.is_active(call.now)
            } else {
                s.is_current(call.now)
            }
    };
    match call.name {
        Some(name) => {
            let lens = Lens::new(store, call, Filter::default());
            let found = store.arm.schedules.iter().find(|s| {
                listed(s)
                    && if instance {
                        s.instance.eq_ignore_ascii_case(name)
                    } else {
                        s.name.eq_ignore_ascii_case(name)
                    }
            });
            let s = found.ok_or_else(|| not_found(type_name(kind, instance), name))?;
            let mt = lens
                .member_type(store, &s.scope, &s.principal, &s.role)
                .ok_or_else(|| not_found(type_name(kind, instance), name))?;
            Ok(ArmResponse::ok(schedule_json(store, s, mt, instance)))
        }
        None => {
            let filter = Filter::parse(call.query.filter.as_deref())?;
            if filter.as_requestor || filter.as_approver || filter.requestor.is_some() {
                return Err(cloud_error(
                    400,
                    "InvalidFilter",
                    format!(
                        "The filter '{}' is not supported.",
                        call.query.filter.as_deref().unwrap_or("")
                    ),
                ));
            }
            let lens = Lens::new(store, call, filter);
            let items = store
                .arm
                .schedules
                .iter()
                .filter(|s| listed(s))
                .filter_map(|s| {
                    lens.member_type(store, &s.scope, &s.principal, &s.role)
                        .map(|mt| schedule_json(store, s, mt, instance))
                })
                .collect();
            Ok(page(call, items))
        }
    }
}

/// A classic role assignment: what an active grant is on the RBAC side
/// (`roleAssignmentScheduleInstances` and `roleAssignments` are 1:1 [doc]),
/// named after its instance as `originRoleAssignmentId` says.
fn role_assignment_json(store: &Store, s: &ArmSchedule) -> Value {
    let scope = store.arm.scope_of(&s.scope);
    json!({
        "id": under(&s.scope, &format!("roleAssignments/{}", s.instance)),
        "name": s.instance,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": scope.map(|sc| role_definition_id(sc, &s.role)),
            "principalId": s.principal,
            "principalType": s.principal_type,
            "scope": s.scope,
            "condition": s.condition,
            "conditionVersion": s.condition_version,
            "createdOn": ts(s.created),
            "updatedOn": ts(s.updated),
            "createdBy": null,
            "updatedBy": null,
            "delegatedManagedIdentityResourceId": null,
            "description": null,
        },
    })
}

/// `GET …/roleAssignments[/{name}]`: read-only, the active grants.
/// Writing classic assignments is not emulated (PIM writes go through
/// schedule requests).
pub(super) fn route_role_assignments(store: &mut Store, call: &Call<'_>) -> ApiResult<ArmResponse> {
    if call.method != "GET" || call.action.is_some() {
        return Err(no_route(call.method, call.path));
    }
    let store = &*store;
    let active = |s: &&ArmSchedule| s.kind == Kind::Assignment && s.is_active(call.now);
    match call.name {
        Some(name) => {
            let lens = Lens::new(store, call, Filter::default());
            let s = store
                .arm
                .schedules
                .iter()
                .filter(active)
                .find(|s| s.instance.eq_ignore_ascii_case(name))
                .filter(|s| {
                    lens.member_type(store, &s.scope, &s.principal, &s.role)
                        .is_some()
                })
                .ok_or_else(|| not_found("RoleAssignments", name))?;
            Ok(ArmResponse::ok(role_assignment_json(store, s)))
        }
        None => {
            let filter = Filter::parse(call.query.filter.as_deref())?;
            let lens = Lens::new(store, call, filter);
            let items = store
                .arm
                .schedules
                .iter()
                .filter(active)
                .filter(|s| {
                    lens.member_type(store, &s.scope, &s.principal, &s.role)
                        .is_some()
                })
                .map(|s| role_assignment_json(store, s))
                .collect();
            Ok(page(call, items))
        }
    }
}
