//! Approvals of Azure role activations (the preview API,
//! api-version 2021-01-01-preview): `roleAssignmentApprovals` made from
//! activation requests waiting for approval, their one stage, and the
//! decision that provisions or denies the request. An approval's stage is
//! named by the approval's id (UNVERIFIED: the examples show another GUID,
//! and a stage `name` that differs from its own id).

use serde_json::{Value, json};

use super::requests::{approvers, parse_sched};
use super::schedules::{groups_of, not_found};
use super::{ArmResponse, Call, cloud_error, get_ci, no_route, page, parse_body, str_ci, under};
use crate::error::ApiResult;
use crate::store::arm::{ArmRequest, ArmSchedule, derived_name, instance_name, role_guid};
use crate::store::{Kind, Store, parse_ts, ts};

const TYPE: &str = "Microsoft.Authorization/roleAssignmentApprovals";

/// The approval GUID of a request waiting (or once waiting) for one.
fn approval_of(r: &ArmRequest) -> Option<String> {
    let id = r.str("approvalId");
    (r.kind == Kind::Assignment && !id.is_empty()).then(|| role_guid(id))
}

fn is_approver(
    store: &Store,
    r: &ArmRequest,
    caller: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    let groups = groups_of(store, caller, now);
    approvers(store, r)
        .iter()
        .any(|a| a.eq_ignore_ascii_case(caller) || groups.iter().any(|g| g.eq_ignore_ascii_case(a)))
}

fn stage_json(store: &Store, call: &Call<'_>, r: &ArmRequest, approval: &str) -> Value {
    let prefix = under(
        &store.arm.scopes[call.scope].id,
        &format!("roleAssignmentApprovals/{approval}"),
    );
    let me = call.caller.object_id.as_str();
    let review = r.review.clone().unwrap_or(Value::Null);
    let status = match (r.str("status"), &review) {
        (_, Value::Object(_)) => "Completed",
        ("PendingApproval", _) => "InProgress",
        // Canceled or timed out before anyone decided.
        _ => "Completed",
    };
    json!({
        "id": format!("{prefix}/stages/{approval}"),
        "type": format!("{TYPE}/stages"),
        "name": approval,
        "properties": {
            "displayName": "Approval stage",
            "assignedToMe": is_approver(store, r, me, call.now),
            "status": status,
            "reviewedBy": review.get("reviewedBy").cloned().unwrap_or(Value::Null),
            "reviewedDateTime": review.get("reviewedDateTime").cloned().unwrap_or(Value::Null),
            "reviewResult": review.get("reviewResult").cloned().unwrap_or(json!("NotReviewed")),
            "justification": review.get("justification").cloned().unwrap_or(json!("")),
        },
    })
}

fn approval_json(store: &Store, call: &Call<'_>, r: &ArmRequest, approval: &str) -> Value {
    json!({
        "id": under(&store.arm.scopes[call.scope].id, &format!("roleAssignmentApprovals/{approval}")),
        "type": TYPE,
        "name": approval,
        "properties": { "stages": [stage_json(store, call, r, approval)] },
    })
}

/// The request an approval belongs to, if the call's scope is at or above it.
fn find(store: &Store, call: &Call<'_>, approval: &str) -> Option<usize> {
    store.arm.requests.iter().position(|r| {
        approval_of(r).is_some_and(|a| a.eq_ignore_ascii_case(approval))
            && store
                .arm
                .find_scope(&r.scope)
                .is_some_and(|rs| store.arm.is_at_or_above(call.scope, rs))
    })
}

pub(super) fn route(
    store: &mut Store,
    call: &Call<'_>,
    child: Option<&str>,
) -> ApiResult<ArmResponse> {
    let stages = call.action.map(|a| a.eq_ignore_ascii_case("stages"));
    if stages == Some(false) {
        return Err(no_route(call.method, call.path));
    }
    let Some(approval) = call.name else {
        if call.method != "GET" {
            return Err(no_route(call.method, call.path));
        }
        return list(store, call);
    };
    let i = find(store, call, approval)
        .ok_or_else(|| not_found("RoleAssignmentApprovals", approval))?;
    let approval = approval.to_ascii_lowercase();
    match (call.method, stages, child) {
        ("GET", None, None) => Ok(ArmResponse::ok(approval_json(
            store,
            call,
            &store.arm.requests[i],
            &approval,
        ))),
        ("GET", Some(true), None) => {
            let items = vec![stage_json(store, call, &store.arm.requests[i], &approval)];
            Ok(page(call, items))
        }
        (m, Some(true), Some(stage)) => {
            if !stage.eq_ignore_ascii_case(&approval) {
                return Err(not_found("RoleAssignmentApprovalStages", stage));
            }
            match m {
                "GET" => Ok(ArmResponse::ok(stage_json(
                    store,
                    call,
                    &store.arm.requests[i],
                    &approval,
                ))),
                "PATCH" | "PUT" => decide(store, call, i, &approval),
                _ => Err(no_route(call.method, call.path)),
            }
        }
        _ => Err(no_route(call.method, call.path)),
    }
}

fn list(store: &Store, call: &Call<'_>) -> ApiResult<ArmResponse> {
    let me = call.caller.object_id.to_ascii_lowercase();
    let filter = call
        .query
        .filter
        .as_deref()
        .map(|f| f.trim().to_ascii_lowercase().replace(' ', ""));
    let keep = |r: &ArmRequest| -> ApiResult<bool> {
        Ok(match filter.as_deref() {
            None | Some("") => true,
            Some("asapprover()") => {
                r.str("status") == "PendingApproval" && is_approver(store, r, &me, call.now)
            }
            Some("ascreatedby()") => r.str("requestorId").eq_ignore_ascii_case(&me),
            Some("astarget()") => r.str("principalId").eq_ignore_ascii_case(&me),
            Some(_) => {
                return Err(cloud_error(
                    400,
                    "InvalidFilter",
                    format!(
                        "The filter '{}' is not supported.",
                        call.query.filter.as_deref().unwrap_or("")
                    ),
                ));
            }
        })
    };
    let mut items = Vec::new();
    for r in &store.arm.requests {
        let Some(a) = approval_of(r) else { continue };
        let below = store
            .arm
            .find_scope(&r.scope)
            .is_some_and(|rs| store.arm.is_at_or_above(call.scope, rs));
        if below && keep(r)? {
            items.push(approval_json(store, call, r, &a));
        }
    }
    Ok(page(call, items))
}

/// Record an approver's decision: the first one resolves the request [doc].
fn decide(store: &mut Store, call: &Call<'_>, i: usize, approval: &str) -> ApiResult<ArmResponse> {
    let body = parse_body(call.body)?;
    // The docs show the body with and without `properties`.
    let props = get_ci(&body, "properties").cloned().unwrap_or(body);
    let result = match str_ci(&props, "reviewResult") {
        Some(r) if r.eq_ignore_ascii_case("Approve") => "Approve",
        Some(r) if r.eq_ignore_ascii_case("Deny") => "Deny",
        other => {
            return Err(cloud_error(
                400,
                "InvalidRequestContent",
                format!("reviewResult must be Approve or Deny, not {other:?}."),
            ));
        }
    };
    let me = call.caller.object_id.to_ascii_lowercase();
    let r = &store.arm.requests[i];
    if !is_approver(store, r, &me, call.now) {
        return Err(cloud_error(
            403,
            "AuthorizationFailed",
            format!("The client '{me}' is not an approver of the approval '{approval}'."),
        ));
    }
    if r.str("status") != "PendingApproval" || r.review.is_some() {
        // UNVERIFIED: the answer to a decision on a completed stage.
        return Err(cloud_error(
            400,
            "ApprovalStageCompleted",
            format!("The approval '{approval}' has no stage in progress."),
        ));
    }
    let (principal_type, name, upn) = match store.user_by_id(&me) {
        Some(u) => (
            "user",
            Some(u.display_name.clone()),
            Some(u.user_principal_name.clone()),
        ),
        None => ("servicePrincipal", call.caller.display_name.clone(), None),
    };
    let review = json!({
        "reviewedBy": { "principalType": principal_type, "principalId": me, "principalName": name, "userPrincipalName": upn },
        "reviewedDateTime": ts(call.now),
        "reviewResult": result,
        "justification": str_ci(&props, "justification").unwrap_or(""),
    });
    let schedule = match result {
        "Approve" => Some(activation(r, call.now)?),
        _ => None,
    };
    let r = &mut store.arm.requests[i];
    r.review = Some(review);
    r.props["status"] = json!(if result == "Approve" {
        "Provisioned"
    } else {
        "Denied"
    });
    if let Some(s) = schedule {
        r.props["targetRoleAssignmentScheduleId"] = json!(s.name);
        store.arm.schedules.push(s);
    }
    let answer = stage_json(store, call, &store.arm.requests[i], approval);
    Ok(ArmResponse {
        status: 200,
        body: Some(answer),
        wrote: true,
    })
}

/// The activation an approved request starts: as long as asked, from now
/// if its start has passed while it waited.
fn activation(r: &ArmRequest, now: chrono::DateTime<chrono::Utc>) -> ApiResult<ArmSchedule> {
    let sched = parse_sched(&r.props, now)?;
    let start = sched.start.max(now);
    let end = sched.end.map(|e| e + (start - sched.start));
    let name = derived_name(&format!("schedule/{}", r.name));
    let created = r
        .props
        .get("createdOn")
        .and_then(Value::as_str)
        .and_then(parse_ts)
        .unwrap_or(now);
    let opt = |k: &str| r.props.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(ArmSchedule {
        kind: Kind::Assignment,
        instance: instance_name(&name, start),
        name,
        scope: r.scope.clone(),
        role: role_guid(r.str("roleDefinitionId")),
        principal: r.str("principalId").to_ascii_lowercase(),
        principal_type: r.str("principalType").to_string(),
        start,
        end,
        request: Some(r.name.clone()),
        assignment_type: Some("Activated".into()),
        linked: opt("linkedRoleEligibilityScheduleId"),
        condition: opt("condition"),
        condition_version: opt("conditionVersion"),
        created,
        updated: now,
    })
}
