//! PIM for Groups approvals: `…/group/assignmentApprovals/{id}`, its
//! `stages` and the stage PATCH an approver decides with. An approval is a
//! view of an activation request that waited for approval (its id is the
//! request's); its one stage is derived from the request's status and the
//! decision recorded when it was made.

use serde_json::{Value, json};

use super::grants::Env;
use super::{GraphResponse, METADATA, parse_body, with_context};
use crate::error::{ApiError, ApiResult};
use crate::odata::apply_select;
use crate::selfservice::{Decider, Decision, approves, decide};
use crate::store::{Kind, RequestRec, Store, Surface, ts};
use pim_model::RuleId;

fn base() -> String {
    format!("{METADATA}{}/assignmentApprovals", Surface::Group.path())
}

/// UNVERIFIED: the docs give the statuses (404, 403, 409) but no codes or
/// messages for the approval calls; Graph's generic codes stand in.
fn approval_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("No approval with id '{id}' was found."))
}

fn denied(message: &str) -> ApiError {
    ApiError::new(403, "Authorization_RequestDenied", message)
}

/// The group activation request whose approval `id` names.
fn request<'s>(store: &'s Store, id: &str) -> ApiResult<&'s RequestRec> {
    store
        .requests
        .iter()
        .find(|r| {
            r.surface == Surface::Group
                && r.kind == Kind::Assignment
                && r.str("approvalId").eq_ignore_ascii_case(id)
        })
        .ok_or_else(|| approval_not_found(id))
}

/// The approval's one stage. Its id is the approval's (as observed for
/// groups; UNVERIFIED), so a client that reads the stage id from the
/// approval always finds it.
fn stage_json(
    store: &Store,
    r: &RequestRec,
    caller: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let approval_id = r.str("approvalId");
    let review = store.reviews.get(&approval_id.to_ascii_lowercase());
    let (status, result) = match (r.status(), review) {
        ("PendingApproval", _) => ("InProgress", "NotReviewed"),
        (_, Some(rv)) => ("Completed", if rv.approve { "Approve" } else { "Deny" }),
        ("Denied", None) => ("Completed", "Deny"),
        // Withdrawn before anyone decided (UNVERIFIED what Graph shows).
        ("Canceled", None) => ("Completed", "NotReviewed"),
        (_, None) => ("Completed", "Approve"),
    };
    let mine = !r.principal().eq_ignore_ascii_case(caller) && approves(store, r, caller, now);
    json!({
        "id": approval_id,
        "displayName": null,
        "reviewedDateTime": review.map(|rv| ts(rv.at)),
        "reviewResult": result,
        "status": status,
        "assignedToMe": mine,
        "justification": review.and_then(|rv| rv.justification.clone()).unwrap_or_default(),
        "reviewedBy": review.map(|rv| json!({ "id": rv.by_id, "displayName": rv.by_name })),
    })
}

/// Whether the policy's (first) approval stage asks approvers for a justification.
fn approver_justification_required(store: &Store, r: &RequestRec) -> bool {
    store
        .policy_for(r.surface, r.role(), r.scope())
        .and_then(|p| p.rule(RuleId::ApprovalEndUserAssignment))
        .and_then(|rule| rule.pointer("/setting/approvalStages/0/isApproverJustificationRequired"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

pub(super) fn route(store: &mut Store, env: &Env<'_>, rest: &[&str]) -> ApiResult<GraphResponse> {
    let (call, q, now) = (env.call, env.q, env.now);
    let me = call.caller.object_id.as_str();
    match (call.method, rest) {
        ("GET", [id]) => {
            q.only(&["$select", "$expand"])?;
            if let Some(e) = q.expand.iter().find(|e| e.name != "stages") {
                return Err(ApiError::bad_request(format!(
                    "Could not find a property named '{}' on type 'microsoft.graph.approval'.",
                    e.name
                )));
            }
            let r = request(store, id)?;
            let mut v =
                json!({ "id": r.str("approvalId"), "stages": [stage_json(store, r, me, now)] });
            apply_select(&mut v, &q.select, &q.expand);
            with_context(&mut v, &format!("{}/$entity", base()));
            Ok(GraphResponse::ok(v))
        }
        ("GET", [id, "stages"]) => {
            q.only(&["$select"])?;
            let r = request(store, id)?;
            let mut stage = stage_json(store, r, me, now);
            apply_select(&mut stage, &q.select, &[]);
            Ok(GraphResponse::ok(json!({
                "@odata.context": format!("{}('{}')/stages", base(), r.str("approvalId")),
                "value": [stage],
            })))
        }
        ("GET", [id, "stages", stage_id]) => {
            q.only(&["$select"])?;
            let r = request(store, id)?;
            if !r.str("approvalId").eq_ignore_ascii_case(stage_id) {
                return Err(ApiError::not_found(format!(
                    "No approval stage with id '{stage_id}' was found."
                )));
            }
            let mut stage = stage_json(store, r, me, now);
            apply_select(&mut stage, &q.select, &[]);
            with_context(
                &mut stage,
                &format!("{}('{}')/stages/$entity", base(), r.str("approvalId")),
            );
            Ok(GraphResponse::ok(stage))
        }
        ("PATCH", [id, "stages", stage_id]) => {
            q.only(&[])?;
            let body = parse_body(call.body)?;
            let decision = match body.get("reviewResult").and_then(Value::as_str) {
                Some(d) if d.eq_ignore_ascii_case("Approve") => Decision::Approve,
                Some(d) if d.eq_ignore_ascii_case("Deny") => Decision::Deny,
                _ => {
                    return Err(ApiError::bad_request(
                        "reviewResult is required: Approve or Deny.",
                    ));
                }
            };
            let justification = body
                .get("justification")
                .and_then(Value::as_str)
                .filter(|j| !j.trim().is_empty());
            let r = request(store, id)?;
            if !r.str("approvalId").eq_ignore_ascii_case(stage_id) {
                return Err(ApiError::not_found(format!(
                    "No approval stage with id '{stage_id}' was found."
                )));
            }
            if r.principal().eq_ignore_ascii_case(me) {
                return Err(denied("A requestor cannot approve their own request."));
            }
            if !approves(store, r, me, now) {
                return Err(denied(
                    "The signed-in user is not an approver of this request.",
                ));
            }
            if r.status() != "PendingApproval" {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "The approval stage was already completed: the request is {}.",
                        r.status()
                    ),
                ));
            }
            if justification.is_none() && approver_justification_required(store, r) {
                return Err(ApiError::bad_request(
                    "A justification is required to decide this approval.",
                ));
            }
            let request_id = r.id().to_string();
            let by = Decider {
                approver: Some(me),
                justification,
            };
            decide(store, &request_id, decision, by, now)?;
            Ok(GraphResponse::no_content(true))
        }
        ("GET", _) | ("PATCH", _) => Err(ApiError::no_route(call.method, call.path)),
        _ => Err(ApiError::method_not_allowed()),
    }
}
