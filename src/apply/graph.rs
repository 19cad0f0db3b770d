//! Apply's calls, through the surface a step names: requests go out as
//! they are planned (with a default justification, which Graph's policies
//! often require), and a failure reads as Graph's code, message and
//! request id.

use crate::graph::{GraphError, RequestOutcome};
use crate::model::ScheduleRequest;
use crate::surface::{self, Writers};

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
    // What to grant, when a permission is missing.
    let grant = e
        .permission
        .as_deref()
        .map(|p| {
            format!(
                "; pim lacks the Graph permission {p}: grant it to the application pim signs in as and give admin consent"
            )
        })
        .unwrap_or_default();
    format!("{}: {}{grant}{request_id}", code(e), e.message)
}

pub(super) async fn send(
    to: Writers<'_>,
    r: &ScheduleRequest,
) -> Result<RequestOutcome, GraphError> {
    let surface = surface::get(r.surface);
    if r.justification.is_some() {
        return surface.submit(to, r).await;
    }
    let justified = ScheduleRequest {
        justification: Some(DEFAULT_JUSTIFICATION.into()),
        ..r.clone()
    };
    surface.submit(to, &justified).await
}

/// The schedule that now holds what `r` names, if any: how an idempotent
/// re-run learns the id of what already exists.
pub(super) async fn find_schedule(
    to: Writers<'_>,
    r: &ScheduleRequest,
) -> Result<Option<String>, GraphError> {
    surface::get(r.surface).find_schedule(to, r).await
}
