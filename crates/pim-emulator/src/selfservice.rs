//! Self-service requests on every surface: a principal activating,
//! deactivating, extending or renewing their own grants, with Graph's rules
//! (eligibility, the EndUser policy rules, the five-minute rule), and the
//! decisions on the requests that wait for an approver or an administrator.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Caller;
use super::error::{ApiError, ApiResult};
use super::pim::{
    Answer, MIN_GRANT, Parsed, Rules, active_duration_too_short, does_not_exist, entity, exists,
    new_schedule, parse_schedule, policy_error, policy_failures,
};
use super::store::{Kind, PolicyRec, RequestRec, Review, Store, Surface, ts};
use pim_model::{RequestAction, RuleId};

/// What Graph answers when the signed-in identity asks for someone else.
fn not_for_others(action: RequestAction) -> ApiError {
    ApiError::new(
        403,
        "Authorization_RequestDenied",
        format!(
            "Insufficient privileges to complete the operation: '{}' acts for the signed-in user only; principalId must be the caller's object id.",
            action.as_str()
        ),
    )
}

fn pending_exists() -> ApiError {
    ApiError::new(
        400,
        "PendingRoleAssignmentRequest",
        "There already exists a pending request for this role assignment.",
    )
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A waiting request of the caller for the same grant.
fn pending(store: &Store, kind: Kind, p: &Parsed, status: &str) -> bool {
    store
        .requests
        .iter()
        .any(|r| r.status() == status && p.same_grant(r, kind))
}

/// A primary approver of a role's activations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrimaryApprover {
    User(String),
    Group(String),
}

/// `Approval_EndUser_Assignment` of a policy: `(isApprovalRequired,
/// isRequestorJustificationRequired, primary approvers of every stage)`.
fn approval(policy: Option<&PolicyRec>) -> (bool, bool, Vec<PrimaryApprover>) {
    let Some(setting) = policy
        .and_then(|p| p.rule(RuleId::ApprovalEndUserAssignment))
        .and_then(|r| r.get("setting"))
    else {
        return (false, false, Vec::new());
    };
    let flag = |k: &str| setting.get(k).and_then(Value::as_bool).unwrap_or(false);
    let approvers = setting
        .get("approvalStages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|stage| stage.get("primaryApprovers").and_then(Value::as_array))
        .flatten()
        .filter_map(|a| {
            let t = str_of(a, "@odata.type").to_ascii_lowercase();
            let id = |keys: [&str; 2]| {
                keys.iter()
                    .map(|k| str_of(a, k))
                    .find(|v| !v.is_empty())
                    .map(str::to_ascii_lowercase)
            };
            if t.ends_with("groupmembers") {
                id(["groupId", "id"]).map(PrimaryApprover::Group)
            } else if t.ends_with("singleuser") {
                id(["userId", "id"]).map(PrimaryApprover::User)
            } else {
                None
            }
        })
        .collect();
    (
        flag("isApprovalRequired"),
        flag("isRequestorJustificationRequired"),
        approvers,
    )
}

/// Whether `user_id` may approve activations under `policy` (directly or
/// as a member of an approver group, PIM members included).
pub(crate) fn is_approver(
    store: &Store,
    policy: Option<&PolicyRec>,
    user_id: &str,
    now: DateTime<Utc>,
) -> bool {
    approval(policy).2.iter().any(|a| match a {
        PrimaryApprover::User(id) => id.eq_ignore_ascii_case(user_id),
        PrimaryApprover::Group(gid) => store
            .group_principals(gid, "member", now)
            .iter()
            .any(|m| m.eq_ignore_ascii_case(user_id)),
    })
}

/// Whether `user_id` may approve the waiting request `r`.
pub(crate) fn approves(store: &Store, r: &RequestRec, user_id: &str, now: DateTime<Utc>) -> bool {
    let policy = store.policy_for(r.surface, r.role(), r.scope());
    is_approver(store, policy, user_id, now)
}

/// The live eligibility an activation is made from.
fn eligibility_id(store: &Store, p: &Parsed, now: DateTime<Utc>) -> Option<String> {
    store
        .visible_schedules(p.surface, Kind::Eligibility)
        .find(|s| p.names(s, Kind::Eligibility) && s.is_active(now))
        .map(|s| s.id.clone())
}

/// `selfActivate`, `selfDeactivate`, `selfExtend` and `selfRenew`.
pub(super) fn create_request(
    store: &mut Store,
    kind: Kind,
    p: &Parsed,
    body: &Value,
    caller: &Caller,
    now: DateTime<Utc>,
    replication_delay: Option<Duration>,
) -> ApiResult<Value> {
    if !p.principal.eq_ignore_ascii_case(&caller.object_id) {
        return Err(not_for_others(p.action));
    }
    match p.action {
        RequestAction::SelfActivate | RequestAction::SelfDeactivate
            if kind == Kind::Eligibility =>
        {
            let (eligibility, assignment) = match p.surface {
                Surface::DirectoryRole => (
                    "roleEligibilityScheduleRequests",
                    "roleAssignmentScheduleRequests",
                ),
                Surface::Group => ("eligibilityScheduleRequests", "assignmentScheduleRequests"),
            };
            Err(ApiError::bad_request(format!(
                "The action '{}' is not valid on {eligibility}; eligibilities are activated and deactivated through {assignment}.",
                p.action.as_str()
            )))
        }
        RequestAction::SelfActivate => activate(store, p, body, caller, now, replication_delay),
        RequestAction::SelfDeactivate => deactivate(store, p, body, caller, now),
        _ => extend(store, kind, p, body, caller, now),
    }
}

fn activate(
    store: &mut Store,
    p: &Parsed,
    body: &Value,
    caller: &Caller,
    now: DateTime<Utc>,
    replication_delay: Option<Duration>,
) -> ApiResult<Value> {
    let Some(r) = &p.requested else {
        return Err(ApiError::bad_request(
            "scheduleInfo is required for action 'selfActivate'.",
        ));
    };
    let active = store
        .schedules
        .iter()
        .any(|s| p.names(s, Kind::Assignment) && !s.is_expired(now));
    if active {
        return Err(exists());
    }
    if pending(store, Kind::Assignment, p, "PendingApproval") {
        return Err(pending_exists());
    }
    let eligibility = eligibility_id(store, p, now);
    let (needs_approval, approval_justification, _) = approval(p.policy(store));
    let rules = Rules {
        expiration: RuleId::ExpirationEndUserAssignment,
        enablement: Some(RuleId::EnablementEndUserAssignment),
        // Activations are always time-bound (Graph: at most the policy's maximum).
        time_bound: true,
        justification: needs_approval && approval_justification,
    };
    let mut failed = Vec::new();
    if eligibility.is_none() {
        failed.push("EligibilityRule");
    }
    failed.extend(policy_failures(p.policy(store), body, r, caller, &rules));
    if !failed.is_empty() {
        return Err(policy_error(&failed));
    }
    let id = Uuid::new_v4().to_string();
    let target = p.schedule_id(&id);
    if needs_approval {
        let approval_id = p.surface.approval_id(&id);
        let answer = Answer::waiting("PendingApproval", &target, r, &approval_id);
        let entity = entity(&id, p, body, caller, now, answer);
        if !p.validation_only {
            store
                .requests
                .push(RequestRec::new(p.surface, Kind::Assignment, entity.clone()));
        }
        return Ok(entity);
    }
    let entity = entity(&id, p, body, caller, now, Answer::granted(&target, r, now));
    if p.validation_only {
        return Ok(entity);
    }
    let mut s = new_schedule(&id, Kind::Assignment, p, r, now, replication_delay);
    s.assignment_type = "Activated".into();
    s.activated_using = eligibility;
    store.schedules.push(s);
    store
        .requests
        .push(RequestRec::new(p.surface, Kind::Assignment, entity.clone()));
    Ok(entity)
}

fn deactivate(
    store: &mut Store,
    p: &Parsed,
    body: &Value,
    caller: &Caller,
    now: DateTime<Utc>,
) -> ApiResult<Value> {
    let Some(i) = store.schedules.iter().position(|s| {
        p.names(s, Kind::Assignment)
            && s.assignment_type == "Activated"
            && s.member_type == "Direct"
            && !s.is_expired(now)
    }) else {
        return Err(does_not_exist());
    };
    if store.schedules[i].start + MIN_GRANT > now {
        return Err(active_duration_too_short());
    }
    let id = Uuid::new_v4().to_string();
    let entity = entity(&id, p, body, caller, now, Answer::revoked());
    if !p.validation_only {
        store.schedules.remove(i);
        store
            .requests
            .push(RequestRec::new(p.surface, Kind::Assignment, entity.clone()));
    }
    Ok(entity)
}

/// The grant a self extension or renewal is about: assigned by an
/// administrator (not an activation), directly, and live (extend) or
/// expired within the renewal window (renew).
fn extension_target(store: &Store, kind: Kind, p: &Parsed, now: DateTime<Utc>) -> Option<usize> {
    store.schedules.iter().position(|s| {
        p.names(s, kind)
            && s.member_type == "Direct"
            && s.assignment_type != "Activated"
            // Ended schedules are renewable for as long as Entra lists them.
            && (p.action == RequestAction::SelfRenew || !s.is_expired(now))
    })
}

/// `selfExtend` / `selfRenew`: the principal asks; an administrator decides
/// (status `PendingAdminDecision` until then).
fn extend(
    store: &mut Store,
    kind: Kind,
    p: &Parsed,
    body: &Value,
    caller: &Caller,
    now: DateTime<Utc>,
) -> ApiResult<Value> {
    let Some(r) = &p.requested else {
        return Err(ApiError::bad_request(format!(
            "scheduleInfo is required for action '{}'.",
            p.action.as_str()
        )));
    };
    let Some(i) = extension_target(store, kind, p, now) else {
        return Err(does_not_exist());
    };
    if p.action == RequestAction::SelfExtend && store.schedules[i].end().is_none() {
        return Err(ApiError::bad_request(
            "The Role assignment does not expire: there is nothing to extend.",
        ));
    }
    if pending(store, kind, p, "PendingAdminDecision") {
        return Err(pending_exists());
    }
    let rules = Rules {
        justification: true,
        enablement: None,
        ..Rules::admin(kind)
    };
    let failed = policy_failures(p.policy(store), body, r, caller, &rules);
    if !failed.is_empty() {
        return Err(policy_error(&failed));
    }
    let id = Uuid::new_v4().to_string();
    // Administrators decide these; there is no approval object, whatever the surface.
    let approval_id = Uuid::new_v4().to_string();
    let answer = Answer::waiting("PendingAdminDecision", &p.schedule_id(&id), r, &approval_id);
    let entity = entity(&id, p, body, caller, now, answer);
    if !p.validation_only {
        store
            .requests
            .push(RequestRec::new(p.surface, kind, entity.clone()));
    }
    Ok(entity)
}

/// A decision on a waiting request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

/// Who decides a waiting request, and why.
pub(crate) struct Decider<'a> {
    /// UPN or object id; `None` decides as the emulator itself.
    pub approver: Option<&'a str>,
    pub justification: Option<&'a str>,
}

/// Decide a request waiting for approval (`PendingApproval`, activations)
/// or for an administrator (`PendingAdminDecision`, extensions and
/// renewals), found by its `approvalId` or its own id. With an `approver`
/// (UPN or object id), an activation may only be decided by one of the
/// policy's approvers, never by the requestor. Returns the request.
pub(crate) fn decide(
    store: &mut Store,
    id: &str,
    decision: Decision,
    by: Decider<'_>,
    now: DateTime<Utc>,
) -> ApiResult<Value> {
    let Some(i) = store.requests.iter().position(|r| {
        r.str("approvalId").eq_ignore_ascii_case(id) || r.id().eq_ignore_ascii_case(id)
    }) else {
        return Err(ApiError::not_found(format!(
            "No request or approval with id '{id}' was found."
        )));
    };
    let rec = store.requests[i].clone();
    let status = rec.status();
    if status != "PendingApproval" && status != "PendingAdminDecision" {
        return Err(ApiError::bad_request(format!(
            "The request is {status}; only a request waiting for a decision can be approved or denied."
        )));
    }
    let principal = rec.principal().to_string();
    let mut review = None;
    if let Some(who) = by.approver {
        let user = store
            .users
            .iter()
            .find(|u| {
                u.id.eq_ignore_ascii_case(who) || u.user_principal_name.eq_ignore_ascii_case(who)
            })
            .map(|u| (u.id.clone(), u.display_name.clone()))
            .ok_or_else(|| ApiError::directory_object_not_found(who))?;
        if user.0.eq_ignore_ascii_case(&principal) {
            return Err(ApiError::new(
                403,
                "Authorization_RequestDenied",
                "A requestor cannot approve their own request.",
            ));
        }
        if status == "PendingApproval" && !approves(store, &rec, &user.0, now) {
            return Err(ApiError::new(
                403,
                "Authorization_RequestDenied",
                format!("{who} is not an approver of this request."),
            ));
        }
        review = Some(Review {
            approve: decision == Decision::Approve,
            by_id: user.0,
            by_name: Some(user.1),
            at: now,
            justification: by.justification.map(str::to_string),
        });
    }
    let approval_id = rec.str("approvalId").to_ascii_lowercase();
    if let Some(review) = review
        && !approval_id.is_empty()
    {
        store.reviews.insert(approval_id, review);
    }
    let kind = rec.kind;
    let mut req = rec.body.clone();
    if decision == Decision::Deny {
        req["status"] = json!("Denied");
        req["completedDateTime"] = json!(ts(now));
        store.requests[i].body = req.clone();
        return Ok(req);
    }
    let action = RequestAction::parse(rec.str("action")).unwrap_or(RequestAction::SelfActivate);
    let r = parse_schedule(req.get("scheduleInfo").unwrap_or(&Value::Null), now)?;
    let p = Parsed {
        surface: rec.surface,
        action,
        principal,
        role_id: rec.role().to_string(),
        scope: rec.scope().to_string(),
        validation_only: false,
        justification: None,
        ticket: Value::Null,
        requested: None,
    };
    let request_id = rec.id().to_string();
    let mut schedule = new_schedule(&request_id, kind, &p, &r, now, None);
    // Graph re-checks at decision time: the grant may have changed meanwhile.
    let ready = match action {
        RequestAction::SelfActivate => {
            let active = store
                .schedules
                .iter()
                .any(|s| p.names(s, Kind::Assignment) && !s.is_expired(now));
            match eligibility_id(store, &p, now) {
                Some(e) if !active => {
                    schedule.assignment_type = "Activated".into();
                    schedule.activated_using = Some(e);
                    true
                }
                _ => false,
            }
        }
        _ => match extension_target(store, kind, &p, now) {
            Some(old) => {
                store.schedules.remove(old);
                true
            }
            None => false,
        },
    };
    if ready {
        let answer = Answer::granted(&schedule.id, &r, now);
        req["status"] = json!(answer.status);
        req["completedDateTime"] = answer.completed;
        req["scheduleInfo"] = answer.schedule_info;
        store.schedules.push(schedule);
    } else {
        req["status"] = json!("Failed");
        req["completedDateTime"] = json!(ts(now));
    }
    store.requests[i].body = req.clone();
    Ok(req)
}

/// Requests of `surface` waiting for `user_id`'s approval
/// (`filterByCurrentUser(on='approver')`).
pub(crate) fn awaiting(
    store: &Store,
    surface: Surface,
    user_id: &str,
    now: DateTime<Utc>,
) -> Vec<Value> {
    store
        .requests
        .iter()
        .filter(|r| {
            r.surface == surface
                && r.kind == Kind::Assignment
                && r.status() == "PendingApproval"
                && !r.principal().eq_ignore_ascii_case(user_id)
                && approves(store, r, user_id, now)
        })
        .map(|r| r.body.clone())
        .collect()
}
