//! Azure role schedule requests (`roleEligibilityScheduleRequests`,
//! `roleAssignmentScheduleRequests`): PUT under a client-chosen name with
//! the admin and self-service request types, idempotent by name; get,
//! list, `cancel` and `validate`; the checks against the (scope, role)
//! policy, and what each request does to the schedules.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::filter::Filter;
use super::schedules::{Lens, expanded, groups_of, not_found, role_definition_id};
use super::{ArmResponse, Call, cloud_error, get_ci, no_route, page, parse_body, str_ci, under};
use crate::Caller;
use crate::error::{ApiError, ApiResult};
use crate::pim::{MIN_GRANT, active_duration_too_short, does_not_exist, exists, policy_error};
use crate::store::arm::{
    ArmRequest, ArmSchedule, derived_name, fold_scope, instance_name, principal_type_wire,
    role_guid,
};
use crate::store::{Kind, Store, parse_ts, ts};
use pim_model::IsoDuration;

const REQUEST_TYPES: [&str; 9] = [
    "AdminAssign",
    "AdminRemove",
    "AdminUpdate",
    "AdminExtend",
    "AdminRenew",
    "SelfActivate",
    "SelfDeactivate",
    "SelfExtend",
    "SelfRenew",
];

/// Statuses a request can still be canceled in. UNVERIFIED beyond
/// "Cancels a pending … request" [spec].
const PENDING: [&str; 5] = [
    "PendingApproval",
    "PendingApprovalProvisioning",
    "PendingAdminDecision",
    "PendingEvaluation",
    "PendingScheduleCreation",
];

fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Eligibility => "RoleEligibilityScheduleRequests",
        Kind::Assignment => "RoleAssignmentScheduleRequests",
    }
}

/// `targetRoleEligibilityScheduleId` or `targetRoleAssignmentScheduleId`.
fn target_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Eligibility => "targetRoleEligibilityScheduleId",
        Kind::Assignment => "targetRoleAssignmentScheduleId",
    }
}

fn instance_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Eligibility => "targetRoleEligibilityScheduleInstanceId",
        Kind::Assignment => "targetRoleAssignmentScheduleInstanceId",
    }
}

pub(super) fn route(store: &mut Store, call: &Call<'_>, kind: Kind) -> ApiResult<ArmResponse> {
    let action = call.action.map(str::to_ascii_lowercase);
    match (call.method, call.name, action.as_deref()) {
        ("PUT", Some(name), None) => create(store, call, kind, name, false),
        ("POST", Some(name), Some("validate")) => create(store, call, kind, name, true),
        ("POST", Some(name), Some("cancel")) => cancel(store, kind, name),
        ("GET", Some(name), None) => {
            let r =
                find(store, call, kind, name).ok_or_else(|| not_found(type_name(kind), name))?;
            Ok(ArmResponse::ok(request_json(store, r)))
        }
        ("GET", None, None) => list(store, call, kind),
        _ => Err(no_route(call.method, call.path)),
    }
}

/// A request by name, if it lies on the URL scope's line (at, above or
/// below it: UNVERIFIED how strictly ARM ties a request to its scope).
fn find<'a>(store: &'a Store, call: &Call<'_>, kind: Kind, name: &str) -> Option<&'a ArmRequest> {
    let related = |scope: &str| {
        store.arm.find_scope(scope).is_some_and(|i| {
            store.arm.is_at_or_above(i, call.scope) || store.arm.is_at_or_above(call.scope, i)
        })
    };
    store
        .arm
        .requests
        .iter()
        .find(|r| r.kind == kind && r.name.eq_ignore_ascii_case(name) && related(&r.scope))
}

pub(super) fn request_json(store: &Store, r: &ArmRequest) -> Value {
    let mut props = r.props.clone();
    let ex = expanded(
        store,
        &r.scope,
        &role_guid(r.str("roleDefinitionId")),
        r.str("principalId"),
        r.str("principalType"),
    );
    if let Some(o) = props.as_object_mut() {
        o.insert("expandedProperties".into(), ex);
    }
    let tname = type_name(r.kind);
    json!({
        "properties": props,
        "name": r.name,
        "id": under(&r.scope, &format!("{tname}/{}", r.name)),
        "type": format!("Microsoft.Authorization/{tname}"),
    })
}

fn list(store: &Store, call: &Call<'_>, kind: Kind) -> ApiResult<ArmResponse> {
    let filter = Filter::parse(call.query.filter.as_deref())?;
    let caller = call.caller.object_id.to_ascii_lowercase();
    let approver_groups = groups_of(store, &caller, call.now);
    let lens = Lens::new(store, call, filter.clone());
    let items = store
        .arm
        .requests
        .iter()
        .filter(|r| r.kind == kind)
        .filter(|r| {
            lens.member_type(
                store,
                &r.scope,
                r.str("principalId"),
                &role_guid(r.str("roleDefinitionId")),
            )
            .is_some()
        })
        .filter(|r| {
            filter
                .status
                .as_deref()
                .is_none_or(|s| r.str("status").eq_ignore_ascii_case(s))
        })
        .filter(|r| {
            filter
                .requestor
                .as_deref()
                .is_none_or(|q| r.str("requestorId").eq_ignore_ascii_case(q))
        })
        .filter(|r| !filter.as_requestor || r.str("requestorId").eq_ignore_ascii_case(&caller))
        .filter(|r| {
            !filter.as_approver
                || (r.str("status") == "PendingApproval"
                    && approvers(store, r).iter().any(|a| {
                        a.eq_ignore_ascii_case(&caller)
                            || approver_groups.iter().any(|g| g.eq_ignore_ascii_case(a))
                    }))
        })
        .map(|r| request_json(store, r))
        .collect();
    Ok(page(call, items))
}

/// Object ids of the primary approvers of the policy a request answers to.
pub(super) fn approvers(store: &Store, r: &ArmRequest) -> Vec<String> {
    let role = role_guid(r.str("roleDefinitionId"));
    let fs = fold_scope(&r.scope);
    store
        .arm
        .policies
        .iter()
        .find(|p| p.role == role && fold_scope(&p.scope) == fs)
        .and_then(|p| rule(&p.rules, "Approval_EndUser_Assignment").cloned())
        .and_then(|a| {
            a.pointer("/setting/approvalStages/0/primaryApprovers")
                .cloned()
        })
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.get("id").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn cancel(store: &mut Store, kind: Kind, name: &str) -> ApiResult<ArmResponse> {
    let r = store
        .arm
        .requests
        .iter_mut()
        .find(|r| r.kind == kind && r.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| not_found(type_name(kind), name))?;
    if !PENDING.contains(&r.str("status")) {
        // UNVERIFIED: what ARM answers for a request that is not pending.
        return Err(cloud_error(
            400,
            "RequestCannotBeCancelled",
            format!(
                "The request '{name}' is in status '{}' and cannot be canceled: only pending requests can.",
                r.str("status")
            ),
        ));
    }
    r.props["status"] = json!("Canceled");
    Ok(ArmResponse {
        status: 200,
        body: None,
        wrote: true,
    })
}

/// What the client sent, in the shape compared on a repeated PUT: the
/// settable properties, camelCase, roles by GUID, absent = `null`.
pub(crate) fn input_of(props: &Value) -> Value {
    let s = |k: &str| str_ci(props, k).map(str::to_string);
    let info = get_ci(props, "scheduleInfo")
        .cloned()
        .unwrap_or(Value::Null);
    let exp = get_ci(&info, "expiration").cloned().unwrap_or(Value::Null);
    let ticket = get_ci(props, "ticketInfo").cloned().unwrap_or(Value::Null);
    let ticket_number = str_ci(&ticket, "ticketNumber").filter(|t| !t.is_empty());
    let ticket_system = str_ci(&ticket, "ticketSystem").filter(|t| !t.is_empty());
    let linked = s("linkedRoleEligibilityScheduleId").map(|l| role_guid(&l));
    json!({
        "principalId": s("principalId").map(|p| p.to_ascii_lowercase()),
        "roleDefinitionId": s("roleDefinitionId").map(|r| role_guid(&r)),
        "requestType": s("requestType").map(|t| t.to_ascii_lowercase()),
        "startDateTime": str_ci(&info, "startDateTime").and_then(parse_ts).map(ts),
        "expiration": {
            "type": str_ci(&exp, "type").map(|t| t.to_ascii_lowercase()),
            "endDateTime": str_ci(&exp, "endDateTime").and_then(parse_ts).map(ts),
            "duration": str_ci(&exp, "duration"),
        },
        "justification": s("justification").filter(|j| !j.is_empty()),
        "ticketInfo": if ticket_number.is_none() && ticket_system.is_none() {
            Value::Null
        } else {
            json!({ "ticketNumber": ticket_number, "ticketSystem": ticket_system })
        },
        "condition": s("condition"),
        "conditionVersion": s("conditionVersion"),
        "linkedRoleEligibilityScheduleId": linked,
    })
}

/// The same request again: a start left out (filled in with the time of
/// the first PUT) matches any.
fn same_input(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let keys = a.keys().chain(b.keys());
    keys.into_iter().all(|k| {
        let (x, y) = (
            a.get(k).unwrap_or(&Value::Null),
            b.get(k).unwrap_or(&Value::Null),
        );
        x == y || (k == "startDateTime" && (x.is_null() || y.is_null()))
    })
}

pub(super) fn rule<'a>(rules: &'a [Value], id: &str) -> Option<&'a Value> {
    rules
        .iter()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
}

/// A request's schedule: start, and end (`None`: no expiration).
pub(super) struct Sched {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// What `scheduleInfo` echoes.
    json: Value,
}

fn bad(message: impl Into<String>) -> ApiError {
    // UNVERIFIED: ARM's code for a malformed request body property.
    cloud_error(400, "InvalidRequestContent", message)
}

pub(super) fn parse_sched(props: &Value, now: DateTime<Utc>) -> ApiResult<Sched> {
    let info = get_ci(props, "scheduleInfo")
        .cloned()
        .unwrap_or(Value::Null);
    let exp = get_ci(&info, "expiration").cloned().unwrap_or(Value::Null);
    let start_text = str_ci(&info, "startDateTime");
    let start = match start_text {
        Some(t) => parse_ts(t).ok_or_else(|| {
            bad(format!(
                "The value '{t}' of 'startDateTime' is not a date-time."
            ))
        })?,
        None => now,
    };
    let kind = str_ci(&exp, "type").unwrap_or("NoExpiration");
    let duration = str_ci(&exp, "duration");
    let end_text = str_ci(&exp, "endDateTime");
    let (canonical, end) = match kind.to_ascii_lowercase().as_str() {
        "noexpiration" => ("NoExpiration", None),
        "afterduration" => {
            let d = duration
                .ok_or_else(|| bad("'expiration.duration' is required with type AfterDuration."))?;
            let d: IsoDuration = d.parse().map_err(|_| {
                bad(format!(
                    "The value '{d}' of 'duration' is not an ISO 8601 duration."
                ))
            })?;
            (
                "AfterDuration",
                Some(
                    d.add_to(start)
                        .ok_or_else(|| bad("The duration is too long."))?,
                ),
            )
        }
        "afterdatetime" => {
            let e = end_text.ok_or_else(|| {
                bad("'expiration.endDateTime' is required with type AfterDateTime.")
            })?;
            let e = parse_ts(e).ok_or_else(|| {
                bad(format!(
                    "The value '{e}' of 'endDateTime' is not a date-time."
                ))
            })?;
            ("AfterDateTime", Some(e))
        }
        other => {
            return Err(bad(format!(
                "The value '{other}' of 'expiration.type' is not one of NoExpiration, AfterDuration, AfterDateTime."
            )));
        }
    };
    if end.is_some_and(|e| e <= start) {
        return Err(bad("The schedule must end after it starts."));
    }
    Ok(Sched {
        start,
        end,
        json: json!({
            "startDateTime": start_text.map(str::to_string).unwrap_or_else(|| ts(now)),
            "expiration": { "type": canonical, "endDateTime": end_text, "duration": duration },
        }),
    })
}

/// Names of the rules a request breaks.
fn policy_failures(
    rules: &[Value],
    expiration: &str,
    enablement: &str,
    always_time_bound: bool,
    sched: &Sched,
    props: &Value,
    caller: &Caller,
) -> Vec<&'static str> {
    let mut failed = Vec::new();
    if let Some(r) = rule(rules, expiration) {
        let required = always_time_bound
            || r.get("isExpirationRequired")
                .and_then(Value::as_bool)
                .unwrap_or(true);
        let max = r
            .get("maximumDuration")
            .and_then(Value::as_str)
            .and_then(|m| m.parse::<IsoDuration>().ok());
        let too_long = match (sched.end, max) {
            (Some(end), Some(max)) => (end - sched.start).num_seconds() > max.as_seconds(),
            _ => false,
        };
        if required && (sched.end.is_none() || too_long) {
            failed.push("ExpirationRule");
        }
    }
    let enabled: Vec<&str> = rule(rules, enablement)
        .and_then(|r| r.get("enabledRules"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let has = |k: &str| enabled.iter().any(|e| e.eq_ignore_ascii_case(k));
    if has("Justification") && str_ci(props, "justification").is_none_or(|j| j.trim().is_empty()) {
        failed.push("JustificationRule");
    }
    let ticket = get_ci(props, "ticketInfo").cloned().unwrap_or(Value::Null);
    if has("Ticketing") && str_ci(&ticket, "ticketNumber").is_none_or(|t| t.trim().is_empty()) {
        failed.push("TicketingRule");
    }
    if has("MultiFactorAuthentication") && !caller.mfa {
        failed.push("MfaRule");
    }
    failed
}

fn forbidden(caller: &Caller, kind: Kind, scope: &str) -> ApiError {
    let id = &caller.object_id;
    let action = match kind {
        Kind::Eligibility => "roleEligibilityScheduleRequests",
        Kind::Assignment => "roleAssignmentScheduleRequests",
    };
    cloud_error(
        403,
        "AuthorizationFailed",
        format!(
            "The client '{id}' with object id '{id}' does not have authorization to perform action 'Microsoft.Authorization/{action}/write' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
        ),
    )
}

fn create(
    store: &mut Store,
    call: &Call<'_>,
    kind: Kind,
    name: &str,
    validate_only: bool,
) -> ApiResult<ArmResponse> {
    let body = parse_body(call.body)?;
    let props = get_ci(&body, "properties")
        .filter(|p| p.is_object())
        .cloned()
        .ok_or_else(|| bad("The request content must have 'properties'."))?;
    if Uuid::parse_str(name).is_err() {
        // UNVERIFIED: ARM's code for a request name that is not a GUID.
        return Err(cloud_error(
            400,
            "InvalidRoleAssignmentRequestName",
            format!("The role assignment request name '{name}' is not valid. It must be a GUID."),
        ));
    }
    for key in ["principalId", "roleDefinitionId", "requestType"] {
        if str_ci(&props, key).is_none_or(|v| v.trim().is_empty()) {
            return Err(bad(format!("The property '{key}' is required.")));
        }
    }
    let asked = str_ci(&props, "requestType").unwrap_or("");
    let request_type = REQUEST_TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(asked))
        .copied()
        .ok_or_else(|| {
            bad(format!(
                "The request type '{asked}' is not one of {}.",
                REQUEST_TYPES.join(", ")
            ))
        })?;
    if kind == Kind::Eligibility && matches!(request_type, "SelfActivate" | "SelfDeactivate") {
        return Err(bad(format!(
            "The request type '{request_type}' is not supported for role eligibility schedule requests."
        )));
    }
    let input = input_of(&props);
    if !validate_only
        && let Some(old) = store
            .arm
            .requests
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    {
        // UNVERIFIED: re-PUT of a name. The same body gets the same
        // answer; another one ARM's generic conflict.
        if old.kind == kind && same_input(&old.input, &input) {
            return Ok(ArmResponse {
                status: 201,
                body: Some(request_json(store, old)),
                wrote: false,
            });
        }
        return Err(cloud_error(
            409,
            "Conflict",
            format!("A schedule request named '{name}' already exists with other properties."),
        ));
    }

    let scope = store.arm.scopes[call.scope].clone();
    if scope.kind == crate::store::arm::ScopeKind::Tenant {
        return Err(no_route(call.method, call.path));
    }
    let role_id = role_guid(str_ci(&props, "roleDefinitionId").unwrap_or(""));
    let role = store.arm.role(&role_id).cloned();
    if !role.is_some_and(|r| store.arm.role_usable_at(&r, call.scope)) {
        return Err(cloud_error(
            400,
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{role_id}' does not exist."),
        ));
    }
    let principal = str_ci(&props, "principalId")
        .unwrap_or("")
        .to_ascii_lowercase();
    // UNVERIFIED for an object that never existed (observed for new ones).
    let ptype = store.principal_type(&principal).ok_or_else(|| {
        cloud_error(
            400,
            "SubjectNotFound",
            format!("The subject '{principal}' is not found."),
        )
    })?;
    let ptype = principal_type_wire(ptype);
    // [obs] a principal made seconds ago is not known to PIM yet.
    if call
        .new_object_delay
        .is_some_and(|window| store.created_within(&principal, call.now, window))
    {
        return Err(cloud_error(
            400,
            "SubjectNotFound",
            format!("The subject '{principal}' is not found."),
        ));
    }
    let sched = parse_sched(&props, call.now)?;
    let caller = call.caller;
    let fs = fold_scope(&scope.id);
    let same = |s: &ArmSchedule| {
        s.kind == kind
            && s.role == role_id
            && s.principal.eq_ignore_ascii_case(&principal)
            && fold_scope(&s.scope) == fs
    };
    let now = call.now;
    let is_self = request_type.starts_with("Self");
    if !is_self {
        super::authorize_write(store, call, "Microsoft.Authorization/roleAssignments/write")?;
    }
    if is_self && !caller.object_id.eq_ignore_ascii_case(&principal) {
        return Err(forbidden(caller, kind, &scope.id));
    }
    let pi = store.arm.policy_index(&scope.id, &role_id);
    let rules = store.arm.policies[pi].rules.clone();
    let level = match kind {
        Kind::Eligibility => "Eligibility",
        Kind::Assignment => "Assignment",
    };
    let admin_rules = |sched: &Sched| {
        policy_failures(
            &rules,
            &format!("Expiration_Admin_{level}"),
            &format!("Enablement_Admin_{level}"),
            false,
            sched,
            &props,
            caller,
        )
    };
    let current = store
        .arm
        .schedules
        .iter()
        .position(|s| same(s) && s.is_current(now));
    let target_named = str_ci(&props, target_key(kind)).map(role_guid);
    let mut status = if sched.start <= now {
        "Provisioned"
    } else {
        "ScheduleCreated"
    };
    let mut approval_id = Value::Null;
    let mut linked: Option<String> = None;
    // What the request does once answered: a new schedule, a change, a removal.
    enum Effect {
        None,
        Add(Box<ArmSchedule>),
        Change(usize),
        Remove(usize),
    }
    let new_schedule = |linked: Option<String>, assignment_type: &str| {
        let sname = derived_name(&format!("schedule/{name}"));
        ArmSchedule {
            kind,
            instance: instance_name(&sname, sched.start),
            name: sname,
            scope: scope.id.clone(),
            role: role_id.clone(),
            principal: principal.clone(),
            principal_type: ptype.to_string(),
            start: sched.start,
            end: sched.end,
            request: Some(name.to_ascii_lowercase()),
            assignment_type: (kind == Kind::Assignment).then(|| assignment_type.to_string()),
            linked,
            condition: str_ci(&props, "condition").map(str::to_string),
            condition_version: str_ci(&props, "conditionVersion").map(str::to_string),
            created: now,
            updated: now,
        }
    };
    let effect = match request_type {
        "AdminAssign" => {
            if current.is_some() {
                return Err(exists());
            }
            let failed = admin_rules(&sched);
            if !failed.is_empty() {
                return Err(policy_error(&failed));
            }
            Effect::Add(Box::new(new_schedule(None, "Assigned")))
        }
        "AdminUpdate" | "AdminExtend" | "AdminRenew" => {
            let found = store.arm.schedules.iter().position(|s| {
                same(s)
                    && (request_type == "AdminRenew" || s.is_current(now))
                    && target_named.as_deref().is_none_or(|t| s.name == t)
            });
            let i = found.ok_or_else(does_not_exist)?;
            let failed = admin_rules(&sched);
            if !failed.is_empty() {
                return Err(policy_error(&failed));
            }
            Effect::Change(i)
        }
        "AdminRemove" => {
            let i = current.ok_or_else(does_not_exist)?;
            if store.arm.schedules[i].start + MIN_GRANT > now {
                return Err(active_duration_too_short());
            }
            status = "Revoked";
            Effect::Remove(i)
        }
        "SelfActivate" => {
            let wanted = str_ci(&props, "linkedRoleEligibilityScheduleId").map(role_guid);
            let groups = groups_of(store, &principal, now);
            let eligible = store.arm.schedules.iter().find(|e| {
                e.kind == Kind::Eligibility
                    && e.role == role_id
                    && e.is_active(now)
                    && (e.principal.eq_ignore_ascii_case(&principal)
                        || groups.iter().any(|g| g.eq_ignore_ascii_case(&e.principal)))
                    && store
                        .arm
                        .find_scope(&e.scope)
                        .is_some_and(|es| store.arm.is_at_or_above(es, call.scope))
                    && wanted.as_deref().is_none_or(|w| e.name == w)
            });
            let Some(eligible) = eligible else {
                return Err(policy_error(&["EligibilityRule"]));
            };
            linked = Some(eligible.name.clone());
            if current.is_some_and(|i| store.arm.schedules[i].is_active(now)) {
                return Err(exists());
            }
            if store.arm.requests.iter().any(|r| {
                r.kind == kind
                    && PENDING.contains(&r.str("status"))
                    && r.str("principalId").eq_ignore_ascii_case(&principal)
                    && role_guid(r.str("roleDefinitionId")) == role_id
                    && fold_scope(&r.scope) == fs
            }) {
                // UNVERIFIED message (the code is observed).
                return Err(cloud_error(
                    400,
                    "RoleAssignmentRequestExists",
                    "A role assignment request with the same principal, role and scope is pending.",
                ));
            }
            let failed = policy_failures(
                &rules,
                "Expiration_EndUser_Assignment",
                "Enablement_EndUser_Assignment",
                true,
                &sched,
                &props,
                caller,
            );
            if !failed.is_empty() {
                return Err(policy_error(&failed));
            }
            let approval = rule(&rules, "Approval_EndUser_Assignment")
                .and_then(|a| a.pointer("/setting/isApprovalRequired"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if approval {
                status = "PendingApproval";
                approval_id = json!(format!(
                    "/providers/Microsoft.Authorization/roleAssignmentApprovals/{}",
                    derived_name(&format!("approval/{name}"))
                ));
                Effect::None
            } else {
                Effect::Add(Box::new(new_schedule(linked.clone(), "Activated")))
            }
        }
        "SelfDeactivate" => {
            let i = current
                .filter(|&i| store.arm.schedules[i].is_active(now))
                .ok_or_else(does_not_exist)?;
            // [obs] deactivating an activation younger than 5 minutes fails.
            if store.arm.schedules[i].start + MIN_GRANT > now {
                return Err(active_duration_too_short());
            }
            status = "Revoked";
            Effect::Remove(i)
        }
        // SelfExtend / SelfRenew: UNVERIFIED; they wait for an
        // administrator, as in Graph, and change nothing until then.
        _ => {
            let renew = request_type == "SelfRenew";
            if !store
                .arm
                .schedules
                .iter()
                .any(|s| same(s) && (renew || s.is_current(now)))
            {
                return Err(does_not_exist());
            }
            status = "PendingAdminDecision";
            Effect::None
        }
    };
    let target = match &effect {
        Effect::Add(s) => Some(s.name.clone()),
        Effect::Change(i) | Effect::Remove(i) => Some(store.arm.schedules[*i].name.clone()),
        Effect::None => target_named.clone(),
    };
    let ticket = get_ci(&props, "ticketInfo").cloned().unwrap_or(Value::Null);
    let mut out = json!({
        target_key(kind): target,
        instance_key(kind): str_ci(&props, instance_key(kind)),
        "scope": scope.id,
        "roleDefinitionId": role_definition_id(&scope, &role_id),
        "principalId": principal,
        "principalType": ptype,
        "requestType": request_type,
        "status": status,
        "approvalId": approval_id,
        "scheduleInfo": sched.json,
        "ticketInfo": {
            "ticketNumber": str_ci(&ticket, "ticketNumber"),
            "ticketSystem": str_ci(&ticket, "ticketSystem"),
        },
        "justification": str_ci(&props, "justification"),
        "requestorId": caller.object_id,
        "createdOn": ts(now),
        "condition": str_ci(&props, "condition"),
        "conditionVersion": str_ci(&props, "conditionVersion"),
    });
    if kind == Kind::Assignment {
        out["linkedRoleEligibilityScheduleId"] = json!(
            linked
                .or_else(|| str_ci(&props, "linkedRoleEligibilityScheduleId").map(str::to_string))
        );
    }
    let rec = ArmRequest {
        kind,
        name: name.to_ascii_lowercase(),
        scope: scope.id.clone(),
        input,
        props: out,
        review: None,
    };
    let answer = request_json(store, &rec);
    if validate_only {
        return Ok(ArmResponse::ok(answer));
    }
    match effect {
        Effect::None => {}
        Effect::Add(s) => store.arm.schedules.push(*s),
        Effect::Change(i) => {
            let s = &mut store.arm.schedules[i];
            s.start = sched.start;
            s.end = sched.end;
            s.instance = instance_name(&s.name, sched.start);
            s.updated = now;
            s.request = Some(rec.name.clone());
            if let Some(c) = str_ci(&props, "condition") {
                s.condition = Some(c.to_string());
            }
        }
        Effect::Remove(i) => {
            let gone = store.arm.schedules.remove(i);
            // Ending an eligibility ends what was activated from it (UNVERIFIED).
            if gone.kind == Kind::Eligibility {
                store.arm.schedules.retain(|s| {
                    s.linked.as_deref() != Some(gone.name.as_str()) || s.kind != Kind::Assignment
                });
            }
        }
    }
    store.arm.requests.push(rec);
    Ok(ArmResponse {
        status: 201,
        body: Some(answer),
        wrote: true,
    })
}
