//! Apply's calls to Graph: requests go out as they are planned (with a
//! default justification, which Graph's policies often require), and a
//! failure reads as Graph's code, message and request id.

use crate::graph::{GrantFilter, GraphError, GraphWrite, RequestOutcome};
use crate::model::ScheduleRequest;
use crate::snapshot::{ActiveType, MemberType};

/// Sent when the configuration gives no justification.
pub const DEFAULT_JUSTIFICATION: &str = "Managed by pim";

/// Graph's error code, or the kind of failure when Graph gave none.
pub(super) fn code(e: &GraphError) -> String {
    if e.code.is_empty() {
        format!("{:?}", e.kind)
    } else {
        e.code.clone()
    }
}

/// `code: message (request-id …)`: what a step's failure says.
pub(super) fn describe(e: &GraphError) -> String {
    let request_id = e
        .request_id
        .as_deref()
        .map(|r| format!(" (request-id {r})"))
        .unwrap_or_default();
    format!("{}: {}{request_id}", code(e), e.message)
}

pub(super) async fn send<G: GraphWrite + ?Sized>(
    graph: &G,
    r: &ScheduleRequest,
) -> Result<RequestOutcome, GraphError> {
    if r.justification.is_some() {
        return graph.create_request(r).await;
    }
    let justified = ScheduleRequest {
        justification: Some(DEFAULT_JUSTIFICATION.into()),
        ..r.clone()
    };
    graph.create_request(&justified).await
}

/// The schedule that now holds (kind, principal, role, scope), if any: how
/// an idempotent re-run learns the id of what already exists. Only a direct
/// grant counts, and no activation: those are not what a request made.
pub(super) async fn find_schedule<G: GraphWrite + ?Sized>(
    graph: &G,
    r: &ScheduleRequest,
) -> Result<Option<String>, GraphError> {
    let filter = GrantFilter {
        principal_id: Some(r.principal_id.clone()),
        role_id: Some(r.role_id.clone()),
        scope_id: Some(r.scope_id.clone()),
    };
    let grants = graph.grants(r.kind, &filter).await?;
    Ok(grants
        .into_iter()
        .find(|g| {
            g.member_type == MemberType::Direct && g.active_type != Some(ActiveType::Activated)
        })
        .map(|g| g.schedule_id))
}
