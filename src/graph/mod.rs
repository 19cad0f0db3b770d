//! The Microsoft Graph client: authentication (`azure_identity`), TLS,
//! paging, retries, `$batch`, and the wire types, which stay in here and are
//! converted to `model` / `snapshot` types at the edge. Not for deciding
//! what to change: that is the planner's.
//!
//! The rest of pim talks to Graph through the object-safe [`Graph`] trait
//! (`&dyn Graph`, boxed futures via `async_trait`), and apply through the
//! part of it that writes, [`GraphWrite`], so the planner, apply and the
//! snapshot reader run unchanged against [`HttpGraph`] or a test fake.
//!
//! ```no_run
//! # async fn demo(tenant: &pim::config::TenantSettings) -> Result<(), pim::graph::GraphError> {
//! use std::collections::HashMap;
//! use pim::graph::{AuthMethod, Graph, GraphSettings, HttpGraph};
//! let env: HashMap<String, String> = std::env::vars().collect();
//! let settings = GraphSettings::from_tenant(tenant, &env, AuthMethod::Auto)?;
//! let graph = HttpGraph::new(settings)?;
//! let current = pim::snapshot::read(&graph, &pim::snapshot::ReadOptions::all(chrono::Utc::now())).await?;
//! println!("{} grants, fingerprint {}", current.grants.len(), current.fingerprint());
//! # Ok(()) }
//! ```

// `GraphError` carries what its one-line message needs (operation, code,
// message, request ids, permission); errors are rare and off the hot path,
// so boxing it would cost readability for nothing.
#![allow(clippy::result_large_err)]

mod auth;
pub(crate) use auth::is_loopback;
pub mod convert;
mod error;
mod http;
pub(crate) mod link;
pub mod resolve;
pub(crate) mod retry;
mod settings;
mod tls;
pub mod wire;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use auth::{
    AzureCredential, EmulatorUser, SignIn, StaticToken, Token, TokenCache, TokenSource,
    mfa_from_token, object_id_from_token,
};
pub use convert::default_rule_set;
pub(crate) use error::{EXCERPT_CHARS, body_excerpt, excerpt};
pub use error::{ErrorKind, GraphError, Service, failed_rules, permission_for};
pub(crate) use http::limiter::{Limiter, Signal};
pub use http::{HttpGraph, Stats};
pub(crate) use http::{read_capped, root_cause};
pub use retry::{Backoff, RetryPolicy, Timer, parse_retry_after};
pub use settings::{
    AuthMethod, Credentials, DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_URL, GRAPH_SCOPE, GraphSettings,
    ReadLimits, SecretString,
};
pub(crate) use settings::{check_url, non_empty};
pub use tls::client_config;

use crate::model::{AssignmentKind, ObjectId, RuleId, RuleValue, Schedule, SurfaceKind, Ticket};
pub use crate::model::{RequestAction, ScheduleRequest};
use crate::snapshot::{
    ActiveType, AdministrativeUnit, Grant, MemberType, Policy, Principal, RoleDefinition,
};

/// Page sizes (`$top`) per collection: the most each endpoint hands out in
/// one page, so a full read takes the fewest round trips. Graph documents
/// no maximum for PIM collections; 999 is the directory maximum and what
/// the emulator allows. Policy assignments take no `$top` (their docs list
/// none): their pages are the server's.
pub mod page_size {
    pub const SCHEDULES: usize = 999;
    pub const REQUESTS: usize = 999;
    pub const ROLE_DEFINITIONS: usize = 999;
    pub const DIRECTORY: usize = 999;
    /// `directoryObjects/getByIds` takes at most this many ids.
    pub const GET_BY_IDS: usize = 1000;
    /// Requests in one `$batch`.
    pub const BATCH: usize = 20;
}

/// Shown the grants of each page as it arrives ([`Graph::grants_seen`]).
/// An alias so that the slice stays any lifetime's (`async_trait` would
/// name it otherwise).
pub type SeenGrants<'a> = &'a (dyn Fn(&[Grant]) + Send + Sync);

/// What Graph made of a schedule request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOutcome {
    pub surface: SurfaceKind,
    pub kind: AssignmentKind,
    pub request_id: String,
    /// `Provisioned`, `Granted`, `PendingApproval`, `Revoked`, …
    pub status: String,
    pub action: String,
    pub principal_id: ObjectId,
    pub role_id: ObjectId,
    pub scope_id: String,
    /// The schedule the request made or changed (`null` for removals).
    pub target_schedule_id: Option<String>,
    pub justification: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub approval_id: Option<String>,
    /// The schedule asked for (`null` for removals and deactivations).
    pub schedule: Option<Schedule>,
    pub ticket: Option<Ticket>,
    /// Object id of the user (or application) that made the request.
    pub created_by: Option<ObjectId>,
    pub completed: Option<DateTime<Utc>>,
    /// True when the connection broke after sending and pim established
    /// the outcome by reading the request back instead of resending.
    pub reconciled: bool,
}

/// The signed-in user (`GET /me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub id: ObjectId,
    pub display_name: String,
    pub user_principal_name: Option<String>,
}

/// What is in effect now: one schedule instance (eligible or active).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub surface: SurfaceKind,
    pub kind: AssignmentKind,
    pub id: String,
    pub principal_id: ObjectId,
    pub role_id: ObjectId,
    pub scope_id: String,
    /// `None` for permanent assignments made outside PIM.
    pub start: Option<DateTime<Utc>>,
    /// `None` when permanent.
    pub end: Option<DateTime<Utc>>,
    pub member_type: MemberType,
    /// Active instances only.
    pub active_type: Option<ActiveType>,
    /// The schedule this instance comes from.
    pub schedule_id: Option<String>,
}

/// A request's approval (PIM for Groups): its stages, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: String,
    pub stages: Vec<ApprovalStage>,
}

/// One stage of an approval, as the signed-in user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalStage {
    pub id: String,
    /// `InProgress`, `Completed`, `Expired`, …
    pub status: String,
    /// `NotReviewed`, `Approve`, `Deny`.
    pub review_result: String,
    /// The signed-in user is among the stage's approvers.
    pub assigned_to_me: bool,
    pub justification: Option<String>,
    pub reviewed: Option<DateTime<Utc>>,
    pub reviewed_by: Option<String>,
}

/// Whose requests `filterByCurrentUser` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestParty {
    /// Requests for the signed-in principal.
    Principal,
    /// Requests waiting for the signed-in user's approval.
    Approver,
}

impl RequestParty {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestParty::Principal => "principal",
            RequestParty::Approver => "approver",
        }
    }
}

/// Narrows a list of schedules or requests server-side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    /// Whose collection: a group's lists must name a group or a principal.
    pub surface: SurfaceKind,
    pub principal_id: Option<ObjectId>,
    pub role_id: Option<ObjectId>,
    pub scope_id: Option<String>,
}

/// A directory object found by a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub id: ObjectId,
    pub kind: EntryKind,
    pub display_name: String,
    pub user_principal_name: Option<String>,
    pub app_id: Option<String>,
    /// Groups only: whether the group may hold Entra roles.
    pub is_assignable_to_role: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    User,
    Group,
    ServicePrincipal,
    AdministrativeUnit,
}

/// One name to look up. Each becomes one GET, packed into `$batch`es.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lookup {
    /// `GET /users/{upn}`.
    UserByUpn(String),
    /// `GET /groups?$filter=displayName eq '…'`.
    GroupsByName(String),
    /// `GET /servicePrincipals?$filter=displayName eq '…'`.
    ServicePrincipalsByName(String),
    /// `GET /servicePrincipals(appId='…')`.
    ServicePrincipalByAppId(ObjectId),
    /// `GET /directory/administrativeUnits?$filter=displayName eq '…'`.
    AdministrativeUnitsByName(String),
    /// Objects of a kind whose name starts with a prefix: suggestions for a
    /// name that found nothing.
    StartingWith(EntryKind, String),
}

/// What apply drives: the two writes, and the read that finds what a
/// write made (an idempotent re-run learns the id of what exists already).
/// Split out of [`Graph`] so apply's tests fake these three calls alone.
#[async_trait]
pub trait GraphWrite: Send + Sync {
    /// Every eligibility (or active assignment) schedule matching `filter`, all pages.
    async fn grants(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<Grant>, GraphError>;

    /// Submit a schedule request. Never resent blindly: if the connection
    /// breaks after sending, the outcome is read back (`reconciled`).
    async fn create_request(&self, request: &ScheduleRequest)
    -> Result<RequestOutcome, GraphError>;

    /// Replace one rule of a policy with `value` (the full rule is sent).
    async fn update_rule(
        &self,
        policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<(), GraphError>;

    /// The id a group's policy for `access` has now: it changes when PIM
    /// first governs the group. `None` when Graph lists none.
    async fn group_policy_id(
        &self,
        _group_id: &str,
        _access: &ObjectId,
    ) -> Result<Option<String>, GraphError> {
        Ok(None)
    }

    /// Writes one call to Graph carries at most: [`HttpGraph`] gathers the
    /// writes made at the same time into `$batch`es, so apply keeps enough
    /// steps going for them to fill each call its parallelism allows.
    fn writes_per_call(&self) -> usize {
        1
    }

    /// The ARM client beside this one, through which Azure role grants are
    /// read and written; `None` when pim was not given one.
    fn arm(&self) -> Option<&dyn crate::arm::Arm> {
        None
    }
}

/// Microsoft Graph as pim uses it. Implemented over HTTP by [`HttpGraph`].
#[async_trait]
pub trait Graph: GraphWrite {
    /// The tenant id (or domain) the client signs in to, if known.
    fn tenant_id(&self) -> Option<String>;

    /// The object id (lower case) of the identity pim runs as, from the
    /// token or, when it cannot be read, from Graph. Fails rather than
    /// guessing: exclusive roles would otherwise remove the caller's own
    /// grants.
    async fn caller_id(&self) -> Result<ObjectId, GraphError>;

    /// [`GraphWrite::grants`], each page's grants shown to `seen` as it
    /// arrives, so that a caller can start on them (name their holders)
    /// while the rest is read. By default `seen` is shown them all at the end.
    async fn grants_seen(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
        seen: SeenGrants<'_>,
    ) -> Result<Vec<Grant>, GraphError> {
        let grants = self.grants(kind, filter).await?;
        seen(&grants);
        Ok(grants)
    }

    /// The policies at scope `/` of the given roles (all roles when `None`).
    async fn policies(&self, role_ids: Option<&[ObjectId]>) -> Result<Vec<Policy>, GraphError>;

    /// Each group's eligibility (or active assignment) schedules, one
    /// filtered list per group, batched.
    async fn group_grants(
        &self,
        kind: AssignmentKind,
        groups: &[ObjectId],
    ) -> Result<Vec<Grant>, GraphError>;

    /// Each group's member and owner policies, with their rules, batched.
    async fn group_policies(&self, groups: &[ObjectId]) -> Result<Vec<Policy>, GraphError>;

    /// Every group PIM for Groups can govern: all but dynamic-membership
    /// groups and groups synced from on-premises.
    async fn pim_groups(&self) -> Result<Vec<ObjectId>, GraphError>;

    /// All role definitions, built-in and custom.
    async fn role_definitions(&self) -> Result<Vec<RoleDefinition>, GraphError>;

    /// Users, groups and service principals by object id; unknown ids are absent.
    async fn principals_by_ids(&self, ids: &[ObjectId]) -> Result<Vec<Principal>, GraphError>;

    /// Every administrative unit (id and display name), all pages.
    async fn administrative_units(&self) -> Result<Vec<AdministrativeUnit>, GraphError>;

    /// Look names up, one answer per query in the same order (`$batch`ed).
    /// A query that finds nothing answers `Ok(vec![])`.
    async fn lookup(
        &self,
        queries: &[Lookup],
    ) -> Result<Vec<Result<Vec<DirectoryEntry>, GraphError>>, GraphError>;

    async fn get_request(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
        id: &str,
    ) -> Result<RequestOutcome, GraphError>;

    async fn list_requests(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<RequestOutcome>, GraphError>;

    /// The signed-in user (`GET /me`); an application has none.
    async fn me(&self) -> Result<Me, GraphError>;

    /// Whether the token carries a multi-factor sign-in, when that can be
    /// told (the `amr` claim of a JWT; `None` for opaque tokens).
    async fn token_has_mfa(&self) -> Result<Option<bool>, GraphError>;

    /// The signed-in principal's own schedules, all pages
    /// (`filterByCurrentUser(on='principal')`; not those held through groups).
    async fn my_grants(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
    ) -> Result<Vec<Grant>, GraphError>;

    /// The signed-in principal's instances: what is in effect for them now.
    async fn my_instances(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
    ) -> Result<Vec<Instance>, GraphError>;

    /// Requests for the signed-in principal, or waiting for their approval.
    async fn my_requests(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
        party: RequestParty,
    ) -> Result<Vec<RequestOutcome>, GraphError>;

    /// The approval of a group activation request (`assignmentApprovals`).
    async fn group_approval(&self, request_id: &str) -> Result<Approval, GraphError>;

    /// Approve or deny one stage of a group activation's approval.
    async fn decide_group_stage(
        &self,
        approval_id: &str,
        stage_id: &str,
        approve: bool,
        justification: &str,
    ) -> Result<(), GraphError>;

    /// Cancel a request still waiting (for approval, or for its start).
    async fn cancel_request(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
        id: &str,
    ) -> Result<(), GraphError>;
}
