//! A local, stateful stand-in for the Microsoft Graph PIM endpoints pim uses
//! (directory role management and PIM for Groups with their admin and
//! self-service requests, policies, group approvals, principal lookups and
//! group members, `$batch`) and the Entra token endpoint, for tests, demos
//! and users' own CI, plus what Graph v1.0 has no endpoint for (deciding
//! directory-role approvals: `/_emulator/approve`). Not a general Graph.
//!
//! It also serves Azure Resource Manager's PIM for Azure resource roles
//! (`Microsoft.Authorization` schedule requests, schedules, instances,
//! policies and role definitions at management-group, subscription,
//! resource-group and resource scopes, api-version 2020-10-01) for the
//! tenant file's `azure` section, to ARM tokens only.
//!
//! Tests start it in-process:
//!
//! ```no_run
//! # async fn demo() -> Result<(), pim_emulator::EmulatorError> {
//! use pim_emulator::{Emulator, EmulatorConfig, Tenant};
//! let tenant = Tenant::from_file("examples/contoso/tenant.json")?;
//! let emu = Emulator::start(EmulatorConfig { seed: Some(tenant), ..EmulatorConfig::default() }).await?;
//! let token = emu.mint_token("00000000-0000-0000-0000-000000000001", true);
//! let url = format!("{}/v1.0/roleManagement/directory/roleEligibilitySchedules", emu.base_url());
//! # let _ = (token, url, emu.ca_pem());
//! emu.stop().await;
//! # Ok(()) }
//! ```

mod arm;
mod auth;
mod batch;
mod clock;
mod cpu;
mod error;
mod faults;
mod graph;
mod groups;
mod json;
mod odata;
mod permissions;
mod pim;
mod selfservice;
mod server;
mod store;
mod tenant;
mod tls;
mod token;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pim_model::Clock as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use arm::throttle::ArmLimits;
pub use auth::USER_GRANT;
pub use clock::EmulatorClock;
pub use error::EmulatorError;
pub use faults::Faults;
pub use permissions::Permissions;
pub use selfservice::Decision;
pub use tenant::{
    AdministrativeUnitSeed, Application, AzurePolicySeed, AzureRoleSeed, AzureScheduleSeed,
    AzureSeed, CustomRole, DEFAULT_TENANT_ID, Group, GroupPolicySeed, GroupScheduleSeed,
    ManagementGroupSeed, PolicySeed, ResourceGroupSeed, ResourceSeed, ScheduleSeed,
    ServicePrincipal, SubscriptionSeed, Tenant, User,
};
pub use token::{Audience, TokenFormat};

use faults::{Counters, FaultState};
use store::Store;
use token::{ClientAuth, Tokens};

/// How to run an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The tenant to start from (and to go back to on `/_emulator/reset`); `None` = built-in roles only.
    pub seed: Option<Tenant>,
    /// Serve HTTPS with a freshly made CA (see [`Emulator::ca_pem`]); `false` serves plain HTTP.
    pub tls: bool,
    /// Server page size of collections when the client gives no `$top`.
    pub page_size: usize,
    /// Faults to inject; when left at the default, the seed's `faults` (if any) apply.
    pub faults: Faults,
    pub clock: EmulatorClock,
    /// Persist the tenant here after every write (and load it at start if it exists).
    pub data_file: Option<PathBuf>,
    /// Whether tokens from the token endpoint carry an MFA claim (app tokens normally don't).
    pub tokens_have_mfa: bool,
    /// Answer a directory role's rule PATCH with 200 and the rule (newer
    /// beta behaviour) instead of v1.0's 204. A group policy's rule PATCH
    /// always answers 200 and the rule, as the newer v1.0 page shows.
    pub rule_patch_returns_body: bool,
    /// JWTs like Entra's, or opaque strings (a client must then ask Graph who it is).
    pub token_format: TokenFormat,
    /// How long a token is valid (`expires_in`), in real time: whole seconds.
    pub token_lifetime: Duration,
    /// Page size of the two policy collections; `None` answers each in one
    /// page. UNVERIFIED: no public trace shows Graph paging them (pim and
    /// other clients read ~130 directory-role policies in one response);
    /// set a size to make a client follow `@odata.nextLink` there.
    pub policy_page_size: Option<usize>,
    /// What `$top` on `policies/roleManagementPolicyAssignments` gets.
    pub policy_assignments_top: TopOption,
    /// How long a schedule stays listed after it ended. Entra keeps ended
    /// eligibilities and assignments visible "in an expired state" for up to
    /// 30 days, renewable with `adminRenew`; their instances end at once.
    /// Whether Graph's `status` then changes is UNVERIFIED: it stays as it was.
    pub expired_schedule_retention: chrono::TimeDelta,
    /// Which id a schedule has after `adminUpdate`, `adminExtend` or
    /// `adminRenew` changed it.
    pub schedule_ids: ScheduleIds,
    /// Which schedule requests `…/cancel` accepts, and how it refuses.
    pub cancel: CancelRule,
    /// How long after creation Graph keeps a schedule request: reads and
    /// cancels of an older one answer `404 RoleAssignmentRequestNotFound`.
    /// Observed as about 45 days (terraform-provider-azuread #1306, #1682,
    /// #1904); measured on the emulator's clock.
    pub request_retention: chrono::TimeDelta,
    /// What tokens allow: application permissions of app-only tokens and
    /// delegated scopes of users' tokens, in their `roles` / `scp` claims
    /// and checked per route (a missing one is a `403`, see `permissions`).
    /// The default grants what pim needs.
    pub permissions: Permissions,
    /// What a PATCH of an Azure role's policy does to its name.
    pub arm_policy_names: ArmPolicyNames,
    /// Who may make admin requests and change policies on the ARM side.
    pub arm_authorization: ArmAuthorization,
}

/// Whether ARM writes check Azure RBAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArmAuthorization {
    /// Any ARM token may make admin requests and change policies (seeds
    /// need not grant the client anything).
    #[default]
    Open,
    /// Admin requests, policy and policy-assignment writes need an active
    /// Owner, User Access Administrator or Role Based Access Control
    /// Administrator grant at the scope or above (the last one UNVERIFIED
    /// for PIM); others get `403 AuthorizationFailed`. Self-service needs
    /// only the eligibility, as in ARM.
    Rbac,
}

/// Whether an Azure role's policy keeps its name (GUID) when PATCHed.
/// UNVERIFIED either way: terraform-provider-azurerm says "the policy name
/// changes each time the policy is updated"; the spec examples keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArmPolicyNames {
    /// As the spec's PATCH examples answer.
    #[default]
    Kept,
    /// A new name on every PATCH (the old one is then unknown), to make a
    /// client look the policy up again before each change.
    Rotated,
}

/// How a collection whose documentation lists no `$top` answers one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopOption {
    /// Serve the page as if `$top` were not there (UNVERIFIED: what Graph
    /// is expected to do; the docs list only `$filter`, `$select`, `$expand`).
    #[default]
    Ignore,
    /// `400 Request_UnsupportedQuery` (UNVERIFIED: the other plausible answer).
    Reject,
}

/// What a change to a schedule does to its id. UNVERIFIED either way: the
/// docs do not say, and every documented example makes a new grant, whose
/// schedule takes the request's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScheduleIds {
    /// The changed schedule takes the id of the request that changed it,
    /// as a new one does; `targetScheduleId` names it.
    #[default]
    Reissued,
    /// The schedule keeps its id; `targetScheduleId` names it.
    Kept,
}

/// Which requests cancel accepts (graph-pim.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CancelRule {
    /// `Granted` (documented) and the statuses still waiting for a decision
    /// or a start (UNVERIFIED; the legacy PIM API allowed those); anything
    /// else is `400 RequestCannotBeCancelled`, the legacy API's code
    /// (UNVERIFIED for v1.0, whose docs give the status only).
    #[default]
    Waiting,
    /// Only `Granted`, as the v1.0 docs state; anything else a `400` with
    /// Graph's generic `BadRequest` code, since none is documented.
    GrantedOnly,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: None,
            tls: true,
            page_size: 100,
            faults: Faults::default(),
            clock: EmulatorClock::system(),
            data_file: None,
            tokens_have_mfa: false,
            rule_patch_returns_body: false,
            token_format: TokenFormat::Jwt,
            // What Entra's token endpoint says in `expires_in`.
            token_lifetime: Duration::from_secs(3599),
            policy_page_size: None,
            policy_assignments_top: TopOption::Ignore,
            expired_schedule_retention: chrono::TimeDelta::days(30),
            schedule_ids: ScheduleIds::Reissued,
            cancel: CancelRule::Waiting,
            request_retention: chrono::TimeDelta::days(45),
            permissions: Permissions::default(),
            arm_policy_names: ArmPolicyNames::Kept,
            arm_authorization: ArmAuthorization::Open,
        }
    }
}

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub object_id: String,
    /// The application, when it acts as itself (app-only token); `None`
    /// when a user signed in.
    pub app_id: Option<String>,
    pub mfa: bool,
    pub display_name: Option<String>,
    /// Users only.
    pub upn: Option<String>,
    /// What the token allows (its `roles` or `scp`); set when it is issued.
    pub permissions: Vec<String>,
}

/// State shared by every request of one emulator.
pub(crate) struct Shared {
    store: Mutex<Store>,
    seed: Tenant,
    pub clock: EmulatorClock,
    pub page_size: usize,
    pub base_url: String,
    pub tokens_have_mfa: bool,
    pub rule_patch_returns_body: bool,
    pub policy_page_size: Option<usize>,
    pub policy_assignments_top: TopOption,
    pub expired_schedule_retention: chrono::TimeDelta,
    pub schedule_ids: ScheduleIds,
    pub cancel: CancelRule,
    pub request_retention: chrono::TimeDelta,
    pub arm_policy_names: ArmPolicyNames,
    pub arm_authorization: ArmAuthorization,
    pub faults: FaultState,
    /// ARM's rate-limit buckets.
    pub arm_limits: arm::throttle::Buckets,
    data_file: Option<PathBuf>,
    /// Held from snapshot to rename, so concurrent writes neither share a
    /// temporary file nor put an older tenant over a newer one.
    persisting: Mutex<()>,
    tokens: Mutex<Tokens>,
    stats: Mutex<Counters>,
    /// Thread CPU spent handling Graph calls, in nanoseconds.
    handler_cpu: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not take the whole emulator down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// A bearer token for `caller` and its lifetime in seconds (`expires_in`).
    pub(crate) fn issue_token(
        &self,
        caller: &Caller,
        auth: ClientAuth,
        audience: Audience,
    ) -> (String, u64) {
        let tenant_id = self.lock_store().tenant_id.clone();
        let mut tokens = lock(&self.tokens);
        let token = tokens.issue(caller, auth, &tenant_id, token::unix_now(), audience);
        (token, tokens.lifetime())
    }

    pub(crate) fn caller(&self, token: &str, audience: Audience) -> Result<Caller, token::Invalid> {
        lock(&self.tokens).check(token, token::unix_now(), audience)
    }

    pub(crate) fn record(&self, route: &str, status: &str) {
        lock(&self.stats).record(route, status);
    }

    pub(crate) fn stats_json(&self) -> serde_json::Value {
        let mut v = lock(&self.stats).to_json();
        let handlers = self.handler_cpu.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9;
        if let Some(o) = v.as_object_mut() {
            o.insert("cpuSeconds".into(), cpu::process_seconds().into());
            o.insert(
                "handlerCpuSeconds".into(),
                cpu::thread_nanos().map(|_| handlers).into(),
            );
        }
        v
    }

    /// Run a Graph handler, charging its CPU to `handlerCpuSeconds`.
    pub(crate) fn charged<T>(&self, f: impl FnOnce() -> T) -> T {
        cpu::charged(&self.handler_cpu, f)
    }

    /// Decide a waiting request (see `selfservice::decide`) and persist.
    pub(crate) fn decide(
        &self,
        id: &str,
        decision: Decision,
        approver: Option<&str>,
    ) -> Result<serde_json::Value, error::ApiError> {
        let now = self.clock.now();
        let mut store = self.lock_store();
        store.purge_requests(now - self.request_retention);
        store.purge_schedules(now - self.expired_schedule_retention);
        let by = selfservice::Decider {
            approver,
            justification: None,
        };
        let req = selfservice::decide(&mut store, id, decision, by, now)?;
        drop(store);
        self.persist().map_err(|e| {
            error::ApiError::new(
                500,
                "InternalServerError",
                format!("The emulator could not save its data: {e}"),
            )
        })?;
        Ok(req)
    }

    pub(crate) fn reset(&self) -> Result<(), EmulatorError> {
        let fresh =
            Store::from_tenant(&self.seed, self.clock.now()).map_err(EmulatorError::Seed)?;
        *self.lock_store() = fresh;
        self.persist()
    }

    /// Write the tenant to the data file: temp file + rename, so a reader
    /// never sees half a file.
    pub(crate) fn persist(&self) -> Result<(), EmulatorError> {
        let Some(path) = &self.data_file else {
            return Ok(());
        };
        let _writing = lock(&self.persisting);
        let tenant = self.lock_store().to_tenant(self.seed.schema.clone());
        write_atomically(path, &tenant)
    }
}

fn write_atomically(path: &Path, tenant: &Tenant) -> Result<(), EmulatorError> {
    let err = |source| EmulatorError::Write {
        path: path.to_path_buf(),
        source,
    };
    let text = serde_json::to_vec_pretty(tenant).map_err(|e| err(std::io::Error::other(e)))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tenant.json".into());
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// A running emulator. Dropping it stops serving (the port is freed when the
/// runtime next polls); [`Emulator::stop`] waits for that.
pub struct Emulator {
    shared: Arc<Shared>,
    ca_pem: Option<String>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Bind, load the tenant (the data file if it exists, else the seed) and serve.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| EmulatorError::Bind {
                    addr: config.listen.to_string(),
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.listen.to_string(),
                source,
            })?;
        let (tls, ca_pem) = if config.tls {
            let m = tls::generate()?;
            (
                Some(tokio_rustls::TlsAcceptor::from(m.config)),
                Some(m.ca_pem),
            )
        } else {
            (None, None)
        };
        let scheme = if config.tls { "https" } else { "http" };
        let base_url = format!("{scheme}://{addr}");
        let seed = config.seed.clone().unwrap_or_else(Tenant::empty);
        let now = config.clock.now();
        let resumed = config.data_file.as_ref().filter(|p| p.exists());
        let initial = match resumed {
            Some(p) => Tenant::from_file(p)?,
            None => seed.clone(),
        };
        let store = Store::from_tenant(&initial, now).map_err(EmulatorError::Seed)?;
        let faults = match initial.faults.as_ref().or(seed.faults.as_ref()) {
            Some(seeded) if config.faults == Faults::default() => seeded.clone(),
            _ => config.faults.clone(),
        };
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            seed,
            clock: config.clock.clone(),
            page_size: config.page_size.max(1),
            base_url,
            tokens_have_mfa: config.tokens_have_mfa,
            rule_patch_returns_body: config.rule_patch_returns_body,
            policy_page_size: config.policy_page_size.map(|n| n.max(1)),
            policy_assignments_top: config.policy_assignments_top,
            expired_schedule_retention: config.expired_schedule_retention,
            schedule_ids: config.schedule_ids,
            cancel: config.cancel,
            request_retention: config.request_retention,
            arm_policy_names: config.arm_policy_names,
            arm_authorization: config.arm_authorization,
            faults: FaultState::new(faults),
            arm_limits: Default::default(),
            data_file: config.data_file.clone(),
            persisting: Mutex::new(()),
            tokens: Mutex::new(Tokens::new(
                config.token_format,
                config.token_lifetime.as_secs(),
                config.permissions.clone(),
            )?),
            stats: Mutex::new(Counters::default()),
            handler_cpu: std::sync::atomic::AtomicU64::new(0),
        });
        // A data file that exists already holds this tenant: rewriting it
        // would only race another process serving from it.
        if resumed.is_none() {
            shared.persist()?;
        }
        let (tx, rx) = oneshot::channel();
        let app = server::router(shared.clone());
        let task = tokio::spawn(server::serve(listener, tls, app, rx));
        tracing::info!(target: "pim::emulator", url = %shared.base_url, "emulator listening");
        Ok(Emulator {
            shared,
            ca_pem,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `https://127.0.0.1:PORT` (or `http://…` without TLS); Graph lives under `/v1.0`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// `base_url() + "/v1.0"`, what a Graph client uses as its root.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.shared.base_url)
    }

    /// What an ARM client uses in place of `https://management.azure.com`:
    /// ARM's paths (`/subscriptions/…`, `/providers/…`) live at the root.
    pub fn arm_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The authority host for azure_identity-style clients (same server).
    pub fn authority_host(&self) -> &str {
        &self.shared.base_url
    }

    pub fn tenant_id(&self) -> String {
        self.shared.lock_store().tenant_id.clone()
    }

    /// `{base}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.shared.base_url,
            self.tenant_id()
        )
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signed the server certificate; `None` without TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// A bearer token for `caller_object_id`, with or without the MFA claim
    /// (the `MfaRule` of policies checks it): app-only when the id is a
    /// seeded service principal's, else delegated (a seeded user, or an
    /// object the tenant does not hold).
    pub fn mint_token(&self, caller_object_id: &str, mfa: bool) -> String {
        self.mint(caller_object_id, mfa, Audience::Graph)
    }

    /// As [`Emulator::mint_token`], for Azure Resource Manager (the ARM
    /// routes refuse Graph tokens, and Graph refuses these).
    pub fn mint_arm_token(&self, caller_object_id: &str, mfa: bool) -> String {
        self.mint(caller_object_id, mfa, Audience::Arm)
    }

    fn mint(&self, caller_object_id: &str, mfa: bool, audience: Audience) -> String {
        let id = caller_object_id.to_ascii_lowercase();
        let caller = {
            let store = self.shared.lock_store();
            let sp = store.service_principal_by_id(&id);
            let user = store.user_by_id(&id);
            Caller {
                app_id: sp.map(|s| s.app_id.clone()),
                mfa,
                display_name: sp
                    .map(|s| s.display_name.clone())
                    .or_else(|| user.map(|u| u.display_name.clone())),
                upn: user.map(|u| u.user_principal_name.clone()),
                object_id: id,
                permissions: Vec::new(),
            }
        };
        let auth = match caller.app_id {
            Some(_) => ClientAuth::Secret,
            None => ClientAuth::Public,
        };
        self.shared.issue_token(&caller, auth, audience).0
    }

    pub fn clock(&self) -> &EmulatorClock {
        &self.shared.clock
    }

    /// The same document as `GET /_emulator/stats`: requests by route and
    /// status, `cpuSeconds` (the process's CPU, user and system, so an
    /// in-process client's too) and `handlerCpuSeconds` (thread CPU spent
    /// in Graph handlers, `$batch`es whole, persistence excluded); both
    /// `null` where the platform cannot tell.
    pub fn stats(&self) -> serde_json::Value {
        self.shared.stats_json()
    }

    /// Approve or deny a request waiting for approval (or for an
    /// administrator), by its `approvalId` or id, as `POST /_emulator/approve`
    /// does; `approver` (UPN or object id) must then be one of the role's
    /// approvers. Returns the request as Graph now shows it.
    pub fn decide(
        &self,
        id: &str,
        decision: Decision,
        approver: Option<&str>,
    ) -> Result<serde_json::Value, EmulatorError> {
        self.shared
            .decide(id, decision, approver)
            .map_err(|e| EmulatorError::Decision(format!("{}: {}", e.code, e.message)))
    }

    /// Create a user now, as an administrator would in Entra; with
    /// `Faults::new_object_delay_ms`, schedule requests naming it get `404
    /// SubjectNotFound` for that long.
    pub fn add_user(&self, user: User) -> Result<(), EmulatorError> {
        self.add(|store, now| store.add_user(user, now))
    }

    /// Create a group now (see [`Emulator::add_user`]).
    pub fn add_group(&self, group: Group) -> Result<(), EmulatorError> {
        self.add(|store, now| store.add_group(group, now))
    }

    /// Create a service principal now (see [`Emulator::add_user`]).
    pub fn add_service_principal(&self, sp: ServicePrincipal) -> Result<(), EmulatorError> {
        self.add(|store, now| store.add_service_principal(sp, now))
    }

    /// Create a custom role (with the default policy) now; with
    /// `Faults::new_object_delay_ms`, schedule requests for it get `404
    /// RoleNotFound` for that long.
    pub fn add_role(&self, role: CustomRole) -> Result<(), EmulatorError> {
        self.add(|store, now| store.add_role(role, now))
    }

    fn add(
        &self,
        f: impl FnOnce(&mut Store, chrono::DateTime<chrono::Utc>) -> Result<(), String>,
    ) -> Result<(), EmulatorError> {
        let now = self.shared.clock.now();
        f(&mut self.shared.lock_store(), now).map_err(EmulatorError::Seed)?;
        self.shared.persist()
    }

    /// Back to the seed (as `POST /_emulator/reset`).
    pub fn reset(&self) -> Result<(), EmulatorError> {
        self.shared.reset()
    }

    /// The current tenant in seed format (what the data file holds).
    pub fn snapshot(&self) -> Tenant {
        self.shared.lock_store().to_tenant(None)
    }

    /// Stop serving and wait until the listener is closed.
    pub async fn stop(mut self) {
        self.shutdown_now();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}
