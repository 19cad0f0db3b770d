//! What a principal may do with their own roles: activate an eligibility,
//! end an activation early, ask for an extension or a renewal, and list what
//! they hold and what they asked for. Every request is checked against the
//! role's policy before it is sent; Graph's answer is read into an outcome.
//! Not for administrators' changes to other people's grants: those are the
//! planner's.

mod activate;
mod approvals;
mod change;
mod detail;
mod error;
mod names;
mod requests;
mod roles;

pub use activate::{
    Activation, ActivationRequest, WaitOptions, check_activation, wait_until_active,
};
pub use approvals::{decide, waiting};
pub use change::{Deactivation, Extension, ExtensionRequest, check_deactivation, check_extension};
pub use detail::{ApprovalDetail, RequestDetail, StageDetail, show_request};
pub use error::{Problem, SelfServiceError};

/// The surface self-service acts on: directory roles (PIM for Groups
/// is planned and applied, but not yet activated from here).
const DR: crate::model::SurfaceKind = crate::model::SurfaceKind::DirectoryRole;

pub use names::{Held, Target, resolve_group_target, resolve_held_target, resolve_target};
pub use requests::{RequestFilter, RequestRow, cancel, list_requests, render_requests_text};
pub use roles::{HeldRole, MyRoles, PrincipalInfo, my_roles, render_my_roles_text};

/// The surfaces self-service serves, through Graph. Azure roles' own
/// (`pim activate --scope /subscriptions/…`) are not built yet.
pub(crate) const SURFACES: &[crate::model::SurfaceKind] = &[
    crate::model::SurfaceKind::DirectoryRole,
    crate::model::SurfaceKind::Group,
];

use crate::graph::{Graph, RequestOutcome, ScheduleRequest};

/// Where a request stands, from Graph's `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `Provisioned`: in effect.
    Provisioned,
    /// `Granted` / `ScheduleCreated`: accepted, takes effect at its start.
    Scheduled,
    /// `PendingApproval`: waiting for one of the role's approvers.
    PendingApproval,
    /// `PendingAdminDecision`: waiting for an administrator (extensions, renewals).
    PendingAdminDecision,
    /// `Revoked`: a deactivation or removal that took effect.
    Revoked,
    Denied,
    Failed,
    Canceled,
    /// Anything else Graph says (`PendingProvisioning`, …), verbatim.
    Other(String),
}

impl Status {
    pub fn from_graph(s: &str) -> Status {
        match crate::model::Caseless::ascii(s).as_str() {
            "provisioned" => Status::Provisioned,
            "granted" | "schedulecreated" => Status::Scheduled,
            "pendingapproval" => Status::PendingApproval,
            "pendingadmindecision" => Status::PendingAdminDecision,
            "revoked" => Status::Revoked,
            "denied" => Status::Denied,
            "failed" => Status::Failed,
            "canceled" | "cancelled" => Status::Canceled,
            _ => Status::Other(s.to_string()),
        }
    }

    /// The request will not take effect any more.
    pub fn is_dead_end(&self) -> bool {
        matches!(self, Status::Denied | Status::Failed | Status::Canceled)
    }
}

/// Send a checked self-service request; a refusal by Graph comes back as
/// [`SelfServiceError::Rejected`] with a hint for its code.
pub async fn submit(
    graph: &dyn Graph,
    request: &ScheduleRequest,
) -> Result<RequestOutcome, SelfServiceError> {
    graph
        .create_request(request)
        .await
        .map_err(|e| SelfServiceError::rejected(request.action, e))
}
