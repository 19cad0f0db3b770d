//! `HttpGraph`: the `Graph` trait over HTTPS. The client and its making (TLS
//! with the extra CA, redirects kept within the root, the token cache, the
//! in-flight limit, the gathering of writes), and the trait impl handing
//! each call to its module.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::auth::{AzureCredential, EmulatorUser, TokenCache, TokenSource, mfa_from_token};
use super::convert::ConvertError;
use super::error::GraphError;
use super::link::{ApiRoot, redirect_policy};
use super::retry::{Backoff, Timer};
use super::settings::{GraphSettings, ReadLimits};
use super::tls::client_config;
use super::{
    Approval, DirectoryEntry, GrantFilter, Graph, GraphWrite, Instance, Lookup, Me, RequestOutcome,
    RequestParty, ScheduleRequest, SeenGrants, page_size,
};
use crate::model::{AssignmentKind, ObjectId, RuleId, RuleValue, SurfaceKind, SystemClock};
use crate::snapshot::{AdministrativeUnit, Grant, Policy, Principal, RoleDefinition};

mod approvals;
mod batch;
mod gather;
mod grants;
pub(crate) mod limiter;
mod lookup;
mod paging;
mod policies;
mod query;
mod requests;
mod send;

pub(crate) use send::{read_capped, root_cause};

/// Counters of what the client sent, for tests and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP exchanges attempted (retries included, token requests excluded).
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// `$batch` calls, of reads and of writes.
    pub batches: AtomicU64,
    /// Writes whose outcome was read back after a broken connection.
    pub reconciled: AtomicU64,
    /// Answers of 429, each request inside a `$batch` counted (a batch
    /// refused as a whole counts once per request in it).
    pub throttled: AtomicU64,
}

impl Stats {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
    pub fn reconciled(&self) -> u64 {
        self.reconciled.load(Ordering::Relaxed)
    }
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

/// Microsoft Graph over HTTPS.
pub struct HttpGraph {
    client: reqwest::Client,
    /// The version root as written in URLs, without a trailing slash.
    root: String,
    api_root: ApiRoot,
    limits: ReadLimits,
    tenant_id: Option<String>,
    /// The application pim signs in as, when the settings name it.
    client_id: Option<String>,
    tokens: TokenCache,
    /// Where `tokens` come from, shared with the ARM client (one
    /// credential, a token cache per resource).
    source: Arc<dyn TokenSource>,
    /// Who pim runs as, once known: asked at most once per client.
    caller: OnceCell<ObjectId>,
    /// The role definitions, once read: a run changes none, and both name
    /// resolution and the tenant read want them.
    role_definitions: OnceCell<Vec<RoleDefinition>>,
    /// Calls in flight: at most `parallelism`, fewer while Graph throttles.
    limiter: limiter::Limiter,
    parallelism: usize,
    gather: gather::Gather,
    gather_window: Duration,
    backoff: Backoff,
    clock: Arc<dyn Timer>,
    stats: Arc<Stats>,
    /// Azure Resource Manager, for Azure roles: a client of its own,
    /// reached through this one so that every stage has both.
    arm: Option<Arc<dyn crate::arm::Arm>>,
}

impl HttpGraph {
    /// A client signing in with the credential the settings choose.
    pub fn new(settings: GraphSettings) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        let credential = AzureCredential::new(&settings, &client)?;
        Self::assemble(settings, client, Arc::new(credential))
    }

    /// A client taking tokens from `source` (tests, or a token obtained elsewhere).
    pub fn with_token_source(
        settings: GraphSettings,
        source: Arc<dyn TokenSource>,
    ) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        Self::assemble(settings, client, source)
    }

    /// A client signed in as a seeded user of the pim emulator (`--as`):
    /// refused unless Graph and the authority are loopback addresses.
    pub fn for_emulator_user(
        settings: GraphSettings,
        username: &str,
        mfa: bool,
    ) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        let source = EmulatorUser::new(&settings, &client, username, mfa)?;
        Self::assemble(settings, client, Arc::new(source))
    }

    /// Replace the clock used for retry waits (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Timer>) -> Self {
        self.clock = clock;
        self
    }

    /// Keep `parallelism` calls in flight whatever Graph answers, instead
    /// of fewer while it throttles (benchmarks compare the two).
    pub fn with_fixed_parallelism(mut self) -> Self {
        self.limiter = limiter::Limiter::new(self.parallelism, false);
        self
    }

    /// How long a write waits for others to share its `$batch` (tests).
    pub fn with_gather_window(mut self, window: Duration) -> Self {
        self.gather_window = window;
        self
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The credential this client signs in with, for another resource's
    /// client (`crate::arm::HttpArm`) to ask it for tokens of its own scope.
    pub fn token_source(&self) -> Arc<dyn TokenSource> {
        self.source.clone()
    }

    /// Requests this client keeps in flight at most.
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    /// Requests this client lets into flight now: [`HttpGraph::parallelism`],
    /// less while Graph throttles.
    pub fn effective_parallelism(&self) -> usize {
        self.limiter.limit()
    }

    /// Times throttling made the client lower its parallelism.
    pub fn parallelism_cuts(&self) -> u64 {
        self.limiter.cuts()
    }

    /// The `reqwest::Client` both Graph and the token endpoint use: rustls
    /// (ring) with the system roots plus the extra CA of the settings.
    pub fn http_client(settings: &GraphSettings) -> Result<reqwest::Client, GraphError> {
        settings.validate()?;
        let mut pem: Vec<u8> = Vec::new();
        if let Some(path) = &settings.ca_cert {
            pem = std::fs::read(path).map_err(|e| {
                GraphError::config(format!(
                    "cannot read the CA certificate {}: {e}",
                    path.display()
                ))
            })?;
        }
        if let Some(text) = &settings.ca_pem {
            pem.push(b'\n');
            pem.extend_from_slice(text.as_bytes());
        }
        let tls = client_config((!pem.is_empty()).then_some(pem.as_slice()))?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(redirect_policy(ApiRoot::parse(settings.root())?))
            .timeout(settings.request_timeout)
            .connect_timeout(settings.connect_timeout)
            .pool_max_idle_per_host(settings.parallelism.max(1) * 2)
            .user_agent(concat!("pim/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                GraphError::config(format!("cannot build the HTTP client: {}", root_cause(&e)))
            })
    }

    fn assemble(
        settings: GraphSettings,
        client: reqwest::Client,
        source: Arc<dyn TokenSource>,
    ) -> Result<Self, GraphError> {
        let api_root = ApiRoot::parse(settings.root())?;
        Ok(HttpGraph {
            client,
            root: api_root.as_str().to_string(),
            api_root,
            limits: settings.limits.clone(),
            tenant_id: settings.tenant_id.clone(),
            client_id: settings.credentials.client_id.clone(),
            tokens: TokenCache::new(source.clone()),
            source,
            caller: OnceCell::new(),
            role_definitions: OnceCell::new(),
            limiter: limiter::Limiter::new(settings.parallelism, true),
            parallelism: settings.parallelism.max(1),
            gather: gather::Gather::default(),
            gather_window: gather::GATHER_WINDOW,
            backoff: Backoff::new(settings.retry.clone()),
            clock: Arc::new(SystemClock),
            stats: Arc::new(Stats::default()),
            arm: None,
        })
    }

    /// This client, with `arm` for what lives in Azure Resource Manager.
    pub fn with_arm(mut self, arm: Arc<dyn crate::arm::Arm>) -> Self {
        self.arm = Some(arm);
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }
}

fn convert_err(op: &str) -> impl Fn(ConvertError) -> GraphError + '_ {
    move |e| GraphError::decode(op, e.0)
}

#[async_trait]
impl GraphWrite for HttpGraph {
    async fn grants(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<Grant>, GraphError> {
        self.read_grants(kind, filter, &|_| {}).await
    }

    fn writes_per_call(&self) -> usize {
        page_size::BATCH
    }

    fn arm(&self) -> Option<&dyn crate::arm::Arm> {
        self.arm.as_deref()
    }

    async fn group_policy_id(
        &self,
        group_id: &str,
        access: &ObjectId,
    ) -> Result<Option<String>, GraphError> {
        Ok(self
            .read_group_policies(&[ObjectId::new(group_id)])
            .await?
            .into_iter()
            .find(|p| p.role_id == *access)
            .map(|p| p.policy_id))
    }

    async fn create_request(
        &self,
        request: &ScheduleRequest,
    ) -> Result<RequestOutcome, GraphError> {
        self.send_request(request).await
    }

    async fn update_rule(
        &self,
        policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<(), GraphError> {
        self.patch_rule(policy_id, rule, value).await
    }
}

#[async_trait]
impl Graph for HttpGraph {
    fn tenant_id(&self) -> Option<String> {
        self.tenant_id.clone()
    }

    async fn caller_id(&self) -> Result<ObjectId, GraphError> {
        self.caller
            .get_or_try_init(|| self.identify_caller())
            .await
            .cloned()
    }

    async fn grants_seen(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
        seen: SeenGrants<'_>,
    ) -> Result<Vec<Grant>, GraphError> {
        self.read_grants(kind, filter, seen).await
    }

    async fn policies(&self, role_ids: Option<&[ObjectId]>) -> Result<Vec<Policy>, GraphError> {
        self.read_policies(role_ids).await
    }

    async fn group_grants(
        &self,
        kind: AssignmentKind,
        groups: &[ObjectId],
    ) -> Result<Vec<Grant>, GraphError> {
        self.read_group_grants(kind, groups).await
    }

    async fn group_policies(&self, groups: &[ObjectId]) -> Result<Vec<Policy>, GraphError> {
        self.read_group_policies(groups).await
    }

    async fn pim_groups(&self) -> Result<Vec<ObjectId>, GraphError> {
        self.read_pim_groups().await
    }

    async fn role_definitions(&self) -> Result<Vec<RoleDefinition>, GraphError> {
        self.role_definitions
            .get_or_try_init(|| self.read_role_definitions())
            .await
            .cloned()
    }

    async fn principals_by_ids(&self, ids: &[ObjectId]) -> Result<Vec<Principal>, GraphError> {
        self.read_principals(ids).await
    }

    async fn administrative_units(&self) -> Result<Vec<AdministrativeUnit>, GraphError> {
        self.read_administrative_units().await
    }

    async fn lookup(
        &self,
        queries: &[Lookup],
    ) -> Result<Vec<Result<Vec<DirectoryEntry>, GraphError>>, GraphError> {
        self.look_up(queries).await
    }

    async fn get_request(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
        id: &str,
    ) -> Result<RequestOutcome, GraphError> {
        self.read_request(surface, kind, id).await
    }

    async fn list_requests(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<RequestOutcome>, GraphError> {
        self.read_requests(kind, filter).await
    }

    async fn me(&self) -> Result<Me, GraphError> {
        self.read_me().await
    }

    async fn token_has_mfa(&self) -> Result<Option<bool>, GraphError> {
        let token = self.tokens.get().await?;
        Ok(mfa_from_token(&token).or_else(|| self.tokens.source_mfa()))
    }

    async fn my_grants(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
    ) -> Result<Vec<Grant>, GraphError> {
        self.read_my_grants(surface, kind).await
    }

    async fn my_instances(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
    ) -> Result<Vec<Instance>, GraphError> {
        self.read_my_instances(surface, kind).await
    }

    async fn my_requests(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
        party: RequestParty,
    ) -> Result<Vec<RequestOutcome>, GraphError> {
        self.read_my_requests(surface, kind, party).await
    }

    async fn group_approval(&self, request_id: &str) -> Result<Approval, GraphError> {
        self.read_group_approval(request_id).await
    }

    async fn decide_group_stage(
        &self,
        approval_id: &str,
        stage_id: &str,
        approve: bool,
        justification: &str,
    ) -> Result<(), GraphError> {
        self.send_stage_decision(approval_id, stage_id, approve, justification)
            .await
    }

    async fn cancel_request(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
        id: &str,
    ) -> Result<(), GraphError> {
        self.send_cancel(surface, kind, id).await
    }
}
