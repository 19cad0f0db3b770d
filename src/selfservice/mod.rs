//! What a principal may do with their own roles: activate an eligibility,
//! end an activation early, ask for an extension or a renewal, and list what
//! they hold and what they asked for, on every surface (Azure roles through
//! the ARM client beside the Graph one). Every request is checked against
//! the role's policy before it is sent; the service's answer is read into
//! an outcome. Not for administrators' changes to other people's grants:
//! those are the planner's.

mod activate;
mod approvals;
mod azure;
mod change;
mod detail;
mod error;
mod names;
mod requests;
mod roles;

pub use activate::{
    Activation, ActivationRequest, WaitOptions, check_activation, wait_until_active,
};
pub use approvals::{ApprovalSources, decide, decide_in, waiting, waiting_in};
pub use azure::{is_arm_scope, resolve_azure_target};
pub use change::{Deactivation, Extension, ExtensionRequest, check_deactivation, check_extension};
pub use detail::{ApprovalDetail, RequestDetail, StageDetail, show_request};
pub use error::{Problem, SelfServiceError};

/// The surface self-service acts on: directory roles (PIM for Groups
/// is planned and applied, but not yet activated from here).
const DR: crate::model::SurfaceKind = crate::model::SurfaceKind::DirectoryRole;

pub use names::{Held, Target, resolve_group_target, resolve_held_target, resolve_target};
pub use requests::{RequestFilter, RequestRow, cancel, list_requests, render_requests_text};
pub use roles::{HeldRole, MyRoles, PrincipalInfo, my_roles, render_my_roles_text};

/// The surfaces self-service serves through Graph. Azure roles are served
/// through the ARM client beside it (`azure`), where one is.
pub(crate) const SURFACES: &[crate::model::SurfaceKind] = &[
    crate::model::SurfaceKind::DirectoryRole,
    crate::model::SurfaceKind::Group,
];

use crate::graph::{Graph, Instance, RequestOutcome, RequestParty, ScheduleRequest};
use crate::model::{AssignmentKind, Expiration, SurfaceKind};
use crate::snapshot::Grant;

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

/// Send a checked self-service request (to Graph, or to ARM for an Azure
/// role); a refusal comes back as [`SelfServiceError::Rejected`] with a
/// hint for its code.
pub async fn submit(
    graph: &dyn Graph,
    request: &ScheduleRequest,
) -> Result<RequestOutcome, SelfServiceError> {
    if request.surface == SurfaceKind::AzureRole {
        return azure::submit(graph, request, None).await;
    }
    graph
        .create_request(request)
        .await
        .map_err(|e| SelfServiceError::rejected(request.action, e))
}

/// [`submit`] a checked activation; an Azure role's names the eligibility
/// schedule it uses (`linkedRoleEligibilityScheduleId`).
pub async fn submit_activation(
    graph: &dyn Graph,
    activation: &Activation,
) -> Result<RequestOutcome, SelfServiceError> {
    if activation.request.surface == SurfaceKind::AzureRole {
        return azure::submit(
            graph,
            &activation.request,
            activation.linked_eligibility.as_deref(),
        )
        .await;
    }
    submit(graph, &activation.request).await
}

/// The caller's instances of `kind` that hold `t` (for an Azure role, an
/// eligibility made above the scope holds there too).
pub(crate) async fn held(
    graph: &dyn Graph,
    t: &Target,
    kind: AssignmentKind,
) -> Result<Vec<Instance>, SelfServiceError> {
    if t.surface == SurfaceKind::AzureRole {
        return azure::held_at(graph, t, kind).await;
    }
    Ok(graph
        .my_instances(t.surface, kind)
        .await?
        .into_iter()
        .filter(|i| t.matches(&i.role_id, &i.scope_id))
        .collect())
}

/// Every instance of the caller's of `kind` on `surface`.
pub(crate) async fn my_instances(
    graph: &dyn Graph,
    surface: SurfaceKind,
    kind: AssignmentKind,
) -> Result<Vec<Instance>, SelfServiceError> {
    if surface == SurfaceKind::AzureRole {
        return azure::my_instances(graph, kind).await;
    }
    Ok(graph.my_instances(surface, kind).await?)
}

/// The caller's own schedules of `kind` that hold `t`, those that start
/// later or have ended included. ARM lists a user's schedules only with
/// the instances in force (pim reads no tenant-wide list of them), so an
/// Azure role's are its instances at the scope.
pub(crate) async fn held_grants(
    graph: &dyn Graph,
    t: &Target,
    kind: AssignmentKind,
) -> Result<Vec<Grant>, SelfServiceError> {
    if t.surface == SurfaceKind::AzureRole {
        return Ok(held(graph, t, kind)
            .await?
            .into_iter()
            .map(|i| grant_of(i, kind))
            .collect());
    }
    Ok(graph
        .my_grants(t.surface, kind)
        .await?
        .into_iter()
        .filter(|g| t.matches(&g.role_id, &g.scope_id))
        .collect())
}

/// An instance as the grant it is held under: in force, so provisioned.
fn grant_of(i: Instance, kind: AssignmentKind) -> Grant {
    Grant {
        surface: i.surface,
        kind,
        schedule_id: i.schedule_id.unwrap_or(i.id),
        principal_id: i.principal_id,
        role_id: i.role_id,
        scope_id: i.scope_id,
        start: i.start,
        expiration: i.end.map_or(Expiration::Permanent, Expiration::At),
        member_type: i.member_type,
        active_type: i.active_type,
        created_using: None,
        created: None,
        status: "Provisioned".to_string(),
        condition: None,
    }
}

/// The caller's requests of `kind` that could be about `t` (an Azure
/// role's: those ARM lists at its scope).
pub(crate) async fn requests_about(
    graph: &dyn Graph,
    t: &Target,
    kind: AssignmentKind,
) -> Result<Vec<RequestOutcome>, SelfServiceError> {
    if t.surface == SurfaceKind::AzureRole {
        return azure::my_requests(graph, kind, std::slice::from_ref(&t.scope_id)).await;
    }
    Ok(graph
        .my_requests(t.surface, kind, RequestParty::Principal)
        .await?)
}

/// The caller's requests of both kinds on every surface: Azure roles'
/// where they hold one now (`azure_held`, their Azure instances), when pim
/// has an ARM client.
pub(crate) async fn all_my_requests(
    graph: &dyn Graph,
    kinds: &[AssignmentKind],
    azure_held: Option<&[Instance]>,
) -> Result<Vec<RequestOutcome>, SelfServiceError> {
    let mut all = Vec::new();
    for kind in kinds {
        for surface in SURFACES {
            all.extend(
                graph
                    .my_requests(*surface, *kind, RequestParty::Principal)
                    .await?,
            );
        }
    }
    if graph.arm().is_none() {
        return Ok(all);
    }
    let held = match azure_held {
        Some(h) => h.to_vec(),
        None => {
            let mut h = azure_instances(graph, AssignmentKind::Eligible).await?;
            h.extend(azure_instances(graph, AssignmentKind::Active).await?);
            h
        }
    };
    let scopes = azure::scopes_of(&held);
    for kind in kinds {
        all.extend(azure::my_requests(graph, *kind, &scopes).await?);
    }
    Ok(all)
}

/// The caller's Azure role instances of `kind`; none without an ARM
/// client, or when ARM refuses this sign-in (someone who holds directory
/// roles only need not have consented to ARM to list them).
pub(crate) async fn azure_instances(
    graph: &dyn Graph,
    kind: AssignmentKind,
) -> Result<Vec<Instance>, SelfServiceError> {
    if graph.arm().is_none() {
        return Ok(Vec::new());
    }
    match azure::my_instances(graph, kind).await {
        Ok(list) => Ok(list),
        Err(SelfServiceError::Graph(e))
            if matches!(
                e.kind,
                crate::graph::ErrorKind::Auth
                    | crate::graph::ErrorKind::Unauthorized
                    | crate::graph::ErrorKind::Forbidden
            ) =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// A submitted request of the caller's, read again.
pub(crate) async fn reread(
    graph: &dyn Graph,
    r: &RequestOutcome,
) -> Result<RequestOutcome, SelfServiceError> {
    if r.surface == SurfaceKind::AzureRole {
        return azure::reread(graph, r).await;
    }
    Ok(graph.get_request(r.surface, r.kind, &r.request_id).await?)
}
