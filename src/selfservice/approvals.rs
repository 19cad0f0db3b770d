//! What waits for the signed-in approver, and their decision on it. Graph
//! v1.0 decides PIM for Groups activations (`assignmentApprovals`, by the
//! stage assigned to the caller); a directory role's activation can be
//! listed but not decided there, so pim says where it can be. Azure role
//! activations are listed and decided through ARM's approvals API, a
//! preview (2021-01-01-preview), only when asked for.

use crate::graph::{ErrorKind, Graph, RequestOutcome, RequestParty};
use crate::model::{AssignmentKind, Caseless, SurfaceKind};

use super::SelfServiceError;
use super::requests::{RequestRow, is_waiting, names_for, row};

/// Which approvals pim reads: Graph's, and with `azure` ARM's too (its
/// approvals API is a preview: 2021-01-01-preview).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApprovalSources {
    pub azure: bool,
}

/// Every activation request waiting for the caller's approval, newest first.
pub async fn waiting(graph: &dyn Graph) -> Result<Vec<RequestRow>, SelfServiceError> {
    waiting_in(graph, ApprovalSources::default()).await
}

/// [`waiting`], from `sources`.
pub async fn waiting_in(
    graph: &dyn Graph,
    sources: ApprovalSources,
) -> Result<Vec<RequestRow>, SelfServiceError> {
    let pending = pending(graph, sources).await?;
    let names = names_for(graph, &pending).await?;
    let mut rows: Vec<RequestRow> = pending.iter().map(|r| row(&names, r)).collect();
    rows.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    Ok(rows)
}

async fn pending(
    graph: &dyn Graph,
    sources: ApprovalSources,
) -> Result<Vec<RequestOutcome>, SelfServiceError> {
    let mut out = Vec::new();
    if sources.azure {
        out.extend(
            super::azure::to_approve(graph)
                .await?
                .into_iter()
                .filter(|r| is_waiting(&r.status)),
        );
    }
    for surface in super::SURFACES {
        out.extend(
            graph
                .my_requests(*surface, AssignmentKind::Active, RequestParty::Approver)
                .await?
                .into_iter()
                .filter(|r| is_waiting(&r.status)),
        );
    }
    Ok(out)
}

/// Approve (or deny) the request `given` (its id, or the start of one)
/// among those waiting for the caller, at the stage assigned to them.
pub async fn decide(
    graph: &dyn Graph,
    given: &str,
    approve: bool,
    justification: &str,
) -> Result<RequestRow, SelfServiceError> {
    decide_in(
        graph,
        given,
        approve,
        justification,
        ApprovalSources::default(),
    )
    .await
}

/// [`decide`], among the requests of `sources`.
pub async fn decide_in(
    graph: &dyn Graph,
    given: &str,
    approve: bool,
    justification: &str,
    sources: ApprovalSources,
) -> Result<RequestRow, SelfServiceError> {
    let id = given.trim().trim_end_matches(['…', '.']).trim();
    let prefix = Caseless::ascii(id);
    let mut found: Vec<RequestOutcome> = pending(graph, sources)
        .await?
        .into_iter()
        .filter(|r| {
            !id.is_empty()
                && Caseless::ascii(&r.request_id)
                    .as_str()
                    .starts_with(prefix.as_str())
        })
        .collect();
    let request = match found.len() {
        0 => return Err(SelfServiceError::NotWaitingForYou(given.to_string())),
        1 => found.remove(0),
        _ => {
            return Err(SelfServiceError::AmbiguousRequest {
                prefix: id.to_string(),
                matches: found.iter().map(|r| r.request_id.clone()).collect(),
            });
        }
    };
    let names = names_for(graph, std::slice::from_ref(&request)).await?;
    let shown = row(&names, &request);
    if request.surface == SurfaceKind::AzureRole {
        super::azure::decide(graph, &request, approve, justification).await?;
        return Ok(shown);
    }
    if request.surface != SurfaceKind::Group {
        return Err(SelfServiceError::NoApprovalApi {
            request_id: request.request_id.clone(),
            subject: format!("{} at {}", shown.role, shown.scope),
        });
    }
    let approval = graph.group_approval(&request.request_id).await?;
    let Some(stage) = approval
        .stages
        .iter()
        .find(|s| s.assigned_to_me && Caseless::same(&s.status, "InProgress"))
    else {
        return Err(SelfServiceError::NotWaitingForYou(request.request_id));
    };
    match graph
        .decide_group_stage(&approval.id, &stage.id, approve, justification)
        .await
    {
        Ok(()) => Ok(shown),
        // Another approver of the stage decided first.
        Err(e) if e.status == Some(409) => Err(SelfServiceError::AlreadyDecided {
            request_id: request.request_id,
        }),
        Err(e) if e.kind == ErrorKind::Forbidden => {
            Err(SelfServiceError::NotWaitingForYou(request.request_id))
        }
        Err(e) => Err(e.into()),
    }
}
