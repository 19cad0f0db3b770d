//! `pim requests show`: one request in full: who asked for what and why,
//! who made it and when, where it stands, and its approval: the stages and
//! approvers the role's policy names, and what Graph says of the decision.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::graph::Graph;
use crate::model::{Approver, Caseless, ObjectId, RequestAction, SurfaceKind};

use super::activate::{approver_names, policy_rules};
use super::requests::{RequestRow, find_request, names_for, row};
use super::{SelfServiceError, Status};

/// One request, for `pim requests show` and its `--format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestDetail {
    #[serde(flatten)]
    pub request: RequestRow,
    /// When the schedule asked for ends, when it has an end.
    pub end: Option<DateTime<Utc>>,
    /// Who made the request, as configuration writes principals.
    pub created_by: Option<String>,
    pub created_by_id: Option<String>,
    /// When Graph settled it (in effect, denied, revoked…).
    pub completed: Option<DateTime<Utc>>,
    /// The schedule it made or changed.
    pub target_schedule_id: Option<String>,
    pub approval: Option<ApprovalDetail>,
}

/// A request's approval, as far as Graph v1.0 tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalDetail {
    pub id: String,
    /// `waiting`, `approved`, `denied`, `canceled`, `failed`, or Graph's status.
    pub state: String,
    /// When it was approved or denied (the request's `completedDateTime`).
    pub decided: Option<DateTime<Utc>>,
    /// The role's approval stages as its policy has them now; empty for
    /// extensions and renewals, which administrators decide.
    pub stages: Vec<StageDetail>,
    /// What pim cannot tell, and why.
    pub notes: Vec<String>,
}

/// One approval stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageDetail {
    /// `PIM Approvers (group)`, `Carol White <carol@contoso.com>`.
    pub approvers: Vec<String>,
    pub escalation_approvers: Vec<String>,
    pub timeout_days: u32,
    pub approver_justification_required: bool,
}

/// What Graph v1.0 says of a decision on a directory role request.
// Graph v1.0 has no approvals API for roleManagement/directory (only PIM
// for Groups has assignmentApprovals): the request's status and
// completedDateTime are all that is recorded of a decision.
const NO_REVIEWER: &str = "Graph v1.0 does not say who decided a directory role request, nor why: it has no approvals API for directory roles (see the tenant's audit log)";

/// What pim says of a decision on an Azure role request: ARM records the
/// reviewer in its approvals API (api-version 2021-01-01-preview), which
/// pim does not read.
const NO_ARM_REVIEWER: &str = "pim does not read who decided an Azure role request: ARM keeps it in its approvals API (roleAssignmentApprovals, 2021-01-01-preview)";

/// The request `id` (whole, or the start of one), with names for its ids
/// and its approval.
pub async fn show_request(graph: &dyn Graph, id: &str) -> Result<RequestDetail, SelfServiceError> {
    let r = find_request(graph, id).await?;
    let names = names_for(graph, std::slice::from_ref(&r)).await?;
    let end = r
        .schedule
        .as_ref()
        .and_then(|s| s.end(r.created.unwrap_or_else(Utc::now)));
    let approval = match &r.approval_id {
        Some(approval_id) => Some(approval(graph, &r, approval_id).await?),
        None => None,
    };
    Ok(RequestDetail {
        request: row(&names, &r),
        end,
        created_by: r.created_by.as_ref().map(|id| names.principal(id)),
        created_by_id: r.created_by.as_ref().map(ObjectId::to_string),
        completed: r.completed,
        target_schedule_id: r.target_schedule_id.clone(),
        approval,
    })
}

async fn approval(
    graph: &dyn Graph,
    r: &crate::graph::RequestOutcome,
    approval_id: &str,
) -> Result<ApprovalDetail, SelfServiceError> {
    let status = Status::from_graph(&r.status);
    let state = match status {
        Status::PendingApproval | Status::PendingAdminDecision => "waiting".to_string(),
        Status::Provisioned | Status::Scheduled => "approved".to_string(),
        Status::Revoked => "revoked".to_string(),
        Status::Denied => "denied".to_string(),
        Status::Canceled => "canceled".to_string(),
        Status::Failed => "failed".to_string(),
        Status::Other(ref s) => s.clone(),
    };
    let decided = match status {
        Status::Provisioned | Status::Scheduled | Status::Denied => r.completed,
        _ => None,
    };
    let mut notes = Vec::new();
    let mut stages = Vec::new();
    let activation = Caseless::same(&r.action, RequestAction::SelfActivate.as_str());
    if activation {
        let rules = policy_rules(graph, r.surface, &r.role_id, &r.scope_id, &mut notes).await?;
        let setting = rules.as_ref().and_then(|rules| rules.approval().cloned());
        for s in setting.map(|a| a.stages).unwrap_or_default() {
            let primary: Vec<&Approver> = s.primary_approvers.iter().collect();
            let escalation: Vec<&Approver> = s.escalation_approvers.iter().collect();
            stages.push(StageDetail {
                approvers: approver_names(graph, &primary, Some(&r.principal_id)).await,
                escalation_approvers: approver_names(graph, &escalation, Some(&r.principal_id))
                    .await,
                timeout_days: s.timeout_days,
                approver_justification_required: s.approver_justification_required,
            });
        }
        if rules.is_some() {
            notes.push("the stages are the role's policy as it is now".to_string());
        }
    } else {
        notes.push("an administrator decides extensions and renewals".to_string());
    }
    if decided.is_some() {
        notes.push(match r.surface {
            SurfaceKind::AzureRole => NO_ARM_REVIEWER.to_string(),
            _ => NO_REVIEWER.to_string(),
        });
    }
    Ok(ApprovalDetail {
        id: approval_id.to_string(),
        state,
        decided,
        stages,
        notes,
    })
}
