//! The Azure Resource Manager client for PIM for Azure resource roles
//! (`Microsoft.Authorization`, api-version 2020-10-01): sign-in through the
//! Graph client's credential with ARM's own scope, `api-version` on every
//! call, `nextLink` paging kept on the endpoint, retries, ARM's request
//! limits (a token bucket per subscription, honouring the
//! `x-ms-ratelimit-remaining-*` headers), CloudError mapped onto
//! [`GraphError`], and ARM's wire types, converted at the edge into the
//! plain structs below. Not for deciding what to change, nor for naming
//! roles offline: those are the Azure role surface's.
//!
//! The rest of pim talks to ARM through the object-safe [`Arm`] trait, so a
//! planner or a test can use a fake; [`HttpArm`] is the real one.
//!
//! ```no_run
//! # async fn demo(graph: &pim::graph::HttpGraph, settings: &pim::graph::GraphSettings) -> Result<(), pim::graph::GraphError> {
//! use std::collections::HashMap;
//! use pim::arm::{Arm, ArmSettings, HttpArm};
//! use pim::model::AssignmentKind;
//! let env: HashMap<String, String> = std::env::vars().collect();
//! let arm = HttpArm::sharing(ArmSettings::from_env(settings, &env)?, graph)?;
//! for s in arm.schedules(AssignmentKind::Eligible, "/subscriptions/11111111-1111-4111-8111-111111111111").await? {
//!     println!("{} {} {}", s.principal_id, s.role_definition_id, if s.inherited { "(inherited)" } else { "" });
//! }
//! # Ok(()) }
//! ```

// As in `graph`: `GraphError` is large and rare.
#![allow(clippy::result_large_err)]

pub mod convert;
mod error;
mod http;
mod rate;
mod scope;
mod settings;
mod wire;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use error::permission_for;
pub use http::{ArmStats, HttpArm};
pub use rate::{BucketKey, Operation};
pub use scope::{normalize_scope, role_guid, same_scope};
pub use settings::{
    APPROVALS_API_VERSION, ARM_SCOPE, ArmRates, ArmSettings, Collection, DEFAULT_ARM_URL,
    PIM_API_VERSION, RateLimit,
};

use crate::graph::GraphError;
use crate::model::{AssignmentKind, ObjectId, RequestAction, RuleSet, Schedule, Ticket};
use crate::snapshot::MemberType;

/// An eligibility or active assignment schedule (or, from
/// [`Arm::my_instances`], an instance: what is in force now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmSchedule {
    pub kind: AssignmentKind,
    /// The full resource id.
    pub id: String,
    /// The last segment of `id` (a GUID for schedules).
    pub name: String,
    /// Where the grant lives (`properties.scope`), normalised.
    pub scope: String,
    /// A full role definition id (`/subscriptions/…/roleDefinitions/{guid}`).
    pub role_definition_id: String,
    pub principal_id: ObjectId,
    /// `User`, `Group`, `ServicePrincipal`, …
    pub principal_type: Option<String>,
    /// As ARM says it: `Direct`, `Inherited` or `Group`.
    pub member_type: MemberType,
    /// The grant lives above the scope it was listed at (a management
    /// group's or subscription's grant seen from below): shown, never to
    /// be changed there.
    pub inherited: bool,
    pub start: Option<DateTime<Utc>>,
    /// `None` when permanent.
    pub end: Option<DateTime<Utc>>,
    pub status: Option<String>,
    /// Active ones: `Assigned` or `Activated`.
    pub assignment_type: Option<String>,
    pub condition: Option<String>,
    pub condition_version: Option<String>,
    pub linked_eligibility_schedule_id: Option<String>,
    /// Instances: the schedule they come from.
    pub schedule_id: Option<String>,
    /// Schedules: the full id of the request that made them
    /// (`role…ScheduleRequestId`), when ARM names one.
    pub request_id: Option<String>,
}

/// A role management policy and, when its assignment was read with it,
/// the role it governs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmPolicy {
    /// The full resource id. Its name changes when the policy is updated
    /// (observed by terraform-provider-azurerm): resolve it again before
    /// each PATCH rather than keeping it.
    pub id: String,
    pub name: String,
    pub scope: String,
    /// From the policy assignment; `None` for a policy read alone (the
    /// policy's own properties do not name its role).
    pub role_definition_id: Option<String>,
    pub rules: RuleSet,
    pub last_modified: Option<DateTime<Utc>>,
}

/// A role definition (`roleDefinitions`, read with 2022-04-01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmRoleDefinition {
    pub id: String,
    /// The role's GUID.
    pub name: String,
    pub role_name: String,
    /// `BuiltInRole` or `CustomRole`.
    pub kind: Option<String>,
    pub assignable_scopes: Vec<String>,
}

/// A subscription the signed-in identity can see (`GET /subscriptions`,
/// Microsoft.Resources): how a subscription named by its display name is
/// found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmSubscription {
    /// `/subscriptions/{id}`.
    pub id: String,
    pub subscription_id: String,
    pub display_name: String,
    /// `Enabled`, `Disabled`, `Warned`, …
    pub state: Option<String>,
}

/// A schedule request to send. [`ArmRequest::new`] gives it a fresh GUID
/// name: one per intent, never reused for another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmRequest {
    pub kind: AssignmentKind,
    pub scope: String,
    pub name: String,
    pub action: RequestAction,
    pub principal_id: ObjectId,
    pub role_definition_id: String,
    /// `None` for removals and deactivations.
    pub schedule: Option<Schedule>,
    pub justification: Option<String>,
    pub ticket: Option<Ticket>,
    pub condition: Option<String>,
    pub condition_version: Option<String>,
    /// The schedule an update, extension or renewal changes.
    pub target_schedule_id: Option<String>,
    /// Activations: the eligibility schedule they use.
    pub linked_eligibility_schedule_id: Option<String>,
}

impl ArmRequest {
    pub fn new(
        kind: AssignmentKind,
        scope: impl Into<String>,
        action: RequestAction,
        principal_id: ObjectId,
        role_definition_id: impl Into<String>,
    ) -> Self {
        ArmRequest {
            kind,
            scope: scope.into(),
            name: uuid::Uuid::new_v4().to_string(),
            action,
            principal_id,
            role_definition_id: role_definition_id.into(),
            schedule: None,
            justification: None,
            ticket: None,
            condition: None,
            condition_version: None,
            target_schedule_id: None,
            linked_eligibility_schedule_id: None,
        }
    }
}

/// What ARM made of a schedule request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmRequestOutcome {
    pub kind: AssignmentKind,
    pub id: String,
    pub name: String,
    pub scope: String,
    pub action: Option<RequestAction>,
    /// `Provisioned`, `PendingApproval`, `Canceled`, …
    pub status: String,
    pub principal_id: ObjectId,
    pub principal_type: Option<String>,
    pub role_definition_id: String,
    pub approval_id: Option<String>,
    pub target_schedule_id: Option<String>,
    pub schedule: Option<Schedule>,
    pub justification: Option<String>,
    pub created: Option<DateTime<Utc>>,
    /// The answer to the PUT was lost and the outcome was read back by
    /// GET of the same name instead of sending again.
    pub reconciled: bool,
}

/// An approval of an activation request, as ARM's preview API has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmApproval {
    pub id: String,
    pub stages: Vec<ArmApprovalStage>,
}

/// One stage of an approval, as the signed-in user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmApprovalStage {
    /// The full id, `…/roleAssignmentApprovals/{id}/stages/{stage}`: the
    /// stage's `name` may differ from its last segment (arm-pim.md §12).
    pub id: String,
    /// `InProgress`, `Completed`, …
    pub status: String,
    pub assigned_to_me: bool,
    /// `Approve`, `Deny`, `NotReviewed`.
    pub review_result: Option<String>,
}

fn unsupported(op: &str, what: &str) -> GraphError {
    GraphError {
        service: crate::graph::Service::Arm,
        ..GraphError::new(
            crate::graph::ErrorKind::Config,
            op,
            format!("this ARM client has no approvals ({what})"),
        )
    }
}

/// ARM's PIM for Azure resource roles as pim uses it.
#[async_trait]
pub trait Arm: Send + Sync {
    /// The eligibility (or active assignment) schedules at `scope`
    /// (`$filter=atScope()`), all pages: those at the scope itself and,
    /// marked `inherited`, those above it.
    async fn schedules(
        &self,
        kind: AssignmentKind,
        scope: &str,
    ) -> Result<Vec<ArmSchedule>, GraphError>;

    /// [`Arm::schedules`] of several scopes, read at the same time (within
    /// the client's parallelism), in the order of `scopes`.
    async fn schedules_at(
        &self,
        kind: AssignmentKind,
        scopes: &[String],
    ) -> Result<Vec<Vec<ArmSchedule>>, GraphError> {
        futures::future::try_join_all(scopes.iter().map(|s| self.schedules(kind, s))).await
    }

    /// The signed-in principal's instances (`$filter=asTarget()`) at
    /// `scope`, or across every scope when `None`.
    async fn my_instances(
        &self,
        kind: AssignmentKind,
        scope: Option<&str>,
    ) -> Result<Vec<ArmSchedule>, GraphError>;

    /// Every subscription the signed-in identity can see, all pages. None
    /// by default: a fake that names no subscription need not list them.
    async fn subscriptions(&self) -> Result<Vec<ArmSubscription>, GraphError> {
        Ok(Vec::new())
    }

    /// The schedule requests listed at `scope` made for the signed-in
    /// principal (`$filter=asTarget()`), or waiting for their approval
    /// (`asApprover()`). None by default: a fake that holds no requests
    /// need not say so.
    async fn my_requests(
        &self,
        _kind: AssignmentKind,
        _scope: &str,
        _party: crate::graph::RequestParty,
    ) -> Result<Vec<ArmRequestOutcome>, GraphError> {
        Ok(Vec::new())
    }

    /// An activation's approval by its id (`approvalId`), with its stages
    /// (api-version 2021-01-01-preview).
    async fn approval(&self, approval_id: &str) -> Result<ArmApproval, GraphError> {
        Err(unsupported("read an approval", approval_id))
    }

    /// Approve or deny one stage of an approval, by the stage's full id
    /// (api-version 2021-01-01-preview).
    async fn decide_stage(
        &self,
        stage_id: &str,
        _approve: bool,
        _justification: &str,
    ) -> Result<(), GraphError> {
        Err(unsupported("decide an approval stage", stage_id))
    }

    /// Role definitions at `scope` named `role_name` (`roleName eq`).
    async fn role_definitions(
        &self,
        scope: &str,
        role_name: &str,
    ) -> Result<Vec<ArmRoleDefinition>, GraphError>;

    /// Every policy at `scope`, joined with its policy assignment to name
    /// its role.
    async fn policies(&self, scope: &str) -> Result<Vec<ArmPolicy>, GraphError>;

    /// The policy of one role at `scope`, found through its policy
    /// assignment (`roleDefinitionId eq`); `None` when ARM lists none.
    async fn policy_for_role(
        &self,
        scope: &str,
        role_definition_id: &str,
    ) -> Result<Option<ArmPolicy>, GraphError>;

    /// One policy by its full id.
    async fn policy(&self, policy_id: &str) -> Result<ArmPolicy, GraphError>;

    /// PATCH the named rules of a policy, each sent whole; answers the
    /// policy as ARM now has it.
    async fn update_policy(
        &self,
        policy_id: &str,
        rules: &RuleSet,
    ) -> Result<ArmPolicy, GraphError>;

    /// PUT a schedule request under its name. Sent once: when the answer
    /// is lost, the request is read back by name before anything is resent.
    /// PATCH the policy of one role at `scope`, found again through its
    /// assignment first: its name may have changed since it was read
    /// (arm-pim.md §6.1, observed). `NotFound` when ARM lists none.
    async fn update_role_policy(
        &self,
        scope: &str,
        role_definition_id: &str,
        rules: &RuleSet,
    ) -> Result<ArmPolicy, GraphError> {
        let policy = self
            .policy_for_role(scope, role_definition_id)
            .await?
            .ok_or_else(|| GraphError {
                service: crate::graph::Service::Arm,
                ..GraphError::new(
                    crate::graph::ErrorKind::NotFound,
                    "find a role's policy",
                    format!("ARM lists no policy of {role_definition_id} at {scope:?}"),
                )
            })?;
        let mut updated = self.update_policy(&policy.id, rules).await?;
        updated.role_definition_id = Some(role_definition_id.to_string());
        Ok(updated)
    }

    async fn create_request(&self, request: &ArmRequest) -> Result<ArmRequestOutcome, GraphError>;

    async fn get_request(
        &self,
        kind: AssignmentKind,
        scope: &str,
        name: &str,
    ) -> Result<ArmRequestOutcome, GraphError>;

    /// Cancel a request still pending (`POST …/cancel`).
    async fn cancel_request(
        &self,
        kind: AssignmentKind,
        scope: &str,
        name: &str,
    ) -> Result<(), GraphError>;
}
