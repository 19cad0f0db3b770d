//! Wiring the stages together for the commands that talk to a tenant:
//! load the configuration, connect (to Graph, or to the embedded emulator
//! the example's `tenant { emulator = … }` names), resolve names, read the
//! tenant and the state, and plan. Public so that end-to-end tests and the
//! benchmarks drive exactly what the commands do.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::anyhow;

use crate::config::{Desired, Diagnostics, StateSettings, TenantSettings};
use crate::graph::resolve::{self, Resolution};
use crate::graph::{AuthMethod, AzureCredential, GraphError, GraphSettings, HttpGraph, TokenCache};
use crate::model::{RoleRef, Scope};
use crate::plan::{self, Basis, Plan, PlanOptions, Resolved};
use crate::snapshot::{self, Current, ReadOptions};
use crate::state::{self, OpenOptions, StateFile};

/// A connection to the tenant, and the emulator behind it when embedded.
pub struct Session {
    pub graph: Arc<HttpGraph>,
    /// The embedded emulator, kept alive for as long as the session.
    _emulator: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Session {
    /// A session over a client made elsewhere (tests, benchmarks).
    pub fn new(graph: HttpGraph) -> Self {
        Session {
            graph: Arc::new(graph),
            _emulator: None,
        }
    }
}

/// Why a run could not produce a plan: bad names or policy violations
/// (diagnostics for the user), or anything else.
pub enum Failure {
    Diagnostics(Diagnostics),
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Other(e.into())
    }
}

/// Connects to the tenant the configuration names. A `tenant { emulator =
/// "seed.json" }` starts the emulator in this process, seeded from that
/// file (and from `.pim-emulator.json` beside the configuration, where an
/// earlier `apply` left its changes), unless `PIM_GRAPH_URL` points
/// elsewhere.
pub async fn connect(
    desired: &Desired,
    auth: AuthMethod,
    parallelism: Option<usize>,
    keep: bool,
) -> anyhow::Result<Session> {
    connect_as(desired, auth, parallelism, keep, None).await
}

/// A seeded user of the emulator to sign in as (`--as`, `--mfa`).
pub struct EmulatorUser<'a> {
    pub user: &'a str,
    pub mfa: bool,
}

/// [`connect`], signed in as a seeded emulator user when `user` is given
/// (refused unless the tenant is an emulator on this machine).
pub async fn connect_as(
    desired: &Desired,
    auth: AuthMethod,
    parallelism: Option<usize>,
    keep: bool,
    user: Option<EmulatorUser<'_>>,
) -> anyhow::Result<Session> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let embedded = desired
        .tenant
        .emulator
        .as_ref()
        .filter(|_| !env.contains_key("PIM_GRAPH_URL"));
    let (mut settings, emulator) = match embedded {
        Some(seed_path) => {
            let (settings, emu) = start_embedded(desired, seed_path, keep).await?;
            (settings, Some(emu))
        }
        None => (
            GraphSettings::from_tenant(&desired.tenant, &env, auth)?,
            None,
        ),
    };
    if let Some(p) = parallelism {
        settings.parallelism = p.max(1);
    }
    let graph = match user {
        Some(u) => HttpGraph::for_emulator_user(settings, u.user, u.mfa)?,
        None => HttpGraph::new(settings)?,
    };
    Ok(Session {
        graph: Arc::new(graph),
        _emulator: emulator,
    })
}

/// Starts the emulator a `tenant { emulator = … }` names, in this process.
/// A data file beside the configuration holds what earlier runs changed;
/// read-only runs start from it without writing it.
#[cfg(feature = "emulator")]
async fn start_embedded(
    desired: &Desired,
    seed_path: &std::path::Path,
    keep: bool,
) -> anyhow::Result<(GraphSettings, Box<dyn std::any::Any + Send + Sync>)> {
    use crate::emulator::{Emulator, EmulatorConfig, Tenant};
    use crate::graph::{Credentials, SecretString};
    use anyhow::Context as _;
    let data = desired.dir.join(".pim-emulator.json");
    let source = if !keep && data.exists() {
        data.clone()
    } else {
        seed_path.to_path_buf()
    };
    let seed = Tenant::from_file(&source)
        .with_context(|| format!("reading the emulator seed {}", source.display()))?;
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        data_file: keep.then_some(data),
        ..EmulatorConfig::default()
    })
    .await
    .context("starting the embedded emulator")?;
    let settings = GraphSettings {
        graph_url: emu.graph_url(),
        authority_host: emu.authority_host().to_string(),
        tenant_id: Some(emu.tenant_id()),
        ca_pem: emu.ca_pem().map(str::to_string),
        auth: AuthMethod::ClientSecret,
        credentials: Credentials {
            client_id: Some("pim".into()),
            client_secret: Some(SecretString::new("embedded-emulator")),
            ..Credentials::default()
        },
        ..GraphSettings::default()
    };
    Ok((settings, Box::new(emu)))
}

#[cfg(not(feature = "emulator"))]
async fn start_embedded(
    _desired: &Desired,
    seed_path: &std::path::Path,
    _keep: bool,
) -> anyhow::Result<(GraphSettings, Box<dyn std::any::Any + Send + Sync>)> {
    anyhow::bail!(
        "the tenant block names an emulator seed ({}), but this pim was built without the emulator; \
         remove `emulator` from the tenant block to plan a real tenant, or set PIM_GRAPH_URL",
        seed_path.display()
    )
}

/// The planner's view of resolved names.
pub fn to_resolved(r: &Resolution) -> Resolved {
    let mut out = Resolved::default();
    for (p, id) in &r.principals {
        out.principals.insert(p.normalized(), id.clone());
    }
    for (role, id) in &r.roles {
        if let RoleRef::Name(n) = role
            && role.builtin().is_none()
        {
            out.custom_roles.insert(n.to_lowercase(), id.clone());
        }
    }
    for (s, id) in &r.scopes {
        if *s != Scope::Directory {
            out.scopes.insert(s.clone(), id.clone());
        }
    }
    out
}

/// Names resolved and the tenant read.
pub async fn read_tenant(
    session: &Session,
    desired: &Desired,
) -> Result<(Resolved, Current), Failure> {
    let (resolved, current, mut diags) = read_tenant_all(session, desired).await?;
    if diags.has_errors() {
        diags.quote_from(&desired.sources);
        return Err(Failure::Diagnostics(diags));
    }
    Ok((resolved, current))
}

/// [`read_tenant`], going on past names that do not resolve (reported in
/// the diagnostics), so that a plan reports every problem at once.
async fn read_tenant_all(
    session: &Session,
    desired: &Desired,
) -> Result<(Resolved, Current, Diagnostics), Failure> {
    let names = resolve::Names::of(desired);
    let (resolution, diags) = resolve::resolve_all(session.graph.as_ref(), &names)
        .await
        .map_err(|e| Failure::Other(anyhow!(e)))?;
    let mut resolved = to_resolved(&resolution);
    resolved.names_reported = diags.has_errors();
    let roles = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .map(|d| &d.item.role)
        .chain(desired.policies.iter().map(|p| &p.item.role))
        .chain(desired.roles.iter().map(|r| &r.item.role))
        .filter_map(|r| resolved.role(r));
    let current = snapshot::read(session.graph.as_ref(), &ReadOptions::roles(roles))
        .await
        .map_err(|e| anyhow!(e))?;
    Ok((resolved, current, diags))
}

/// Where the configuration keeps its state, whichever backend that is.
pub type Backend = dyn crate::state::Backend;

pub use crate::state::Lock;

/// The backend the configuration's `state` block names. Blob state with
/// neither a key nor a SAS token signs in to Entra ID as Graph does, with
/// `auth`.
pub fn backend(desired: &Desired, auth: AuthMethod) -> anyhow::Result<Arc<Backend>> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let backend = open_backend(&desired.state, &desired.tenant, env, auth)?;
    tracing::debug!(state = %backend.describe(), "state backend");
    Ok(backend)
}

fn open_backend(
    settings: &StateSettings,
    tenant: &TenantSettings,
    env: HashMap<String, String>,
    auth: AuthMethod,
) -> Result<Arc<Backend>, state::StateError> {
    // The extra root Graph trusts (a TLS-inspecting proxy's) serves Blob
    // Storage too.
    let ca_cert = env
        .get("PIM_CA_CERT")
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
        .or_else(|| tenant.ca_cert.clone());
    let sign_in = StorageSignIn {
        tenant: tenant.clone(),
        env: env.clone(),
        auth,
        tokens: tokio::sync::OnceCell::new(),
    };
    state::open(
        settings,
        OpenOptions {
            env,
            sign_in: Some(Arc::new(sign_in)),
            ca_cert,
        },
    )
}

/// Entra ID sign-in for Blob state: the credential Graph would sign in with
/// (`--auth`, the environment, the tenant block), asking for Azure Storage
/// tokens. Made at the first request, so state that has a key or a SAS
/// token never needs one.
struct StorageSignIn {
    tenant: TenantSettings,
    env: HashMap<String, String>,
    auth: AuthMethod,
    tokens: tokio::sync::OnceCell<TokenCache>,
}

impl StorageSignIn {
    async fn tokens(&self) -> Result<&TokenCache, GraphError> {
        self.tokens
            .get_or_try_init(|| async {
                let settings = GraphSettings::from_tenant(&self.tenant, &self.env, self.auth)?;
                let client = HttpGraph::http_client(&settings)?;
                let credential =
                    AzureCredential::new(&settings, &client)?.for_scope(state::STORAGE_SCOPE);
                Ok(TokenCache::new(Arc::new(credential)))
            })
            .await
    }
}

impl state::TokenSource for StorageSignIn {
    fn token<'a>(&'a self, scope: &'a str) -> state::TokenFuture<'a> {
        Box::pin(async move {
            if scope != state::STORAGE_SCOPE {
                return Err(format!("signs in to Azure Storage only, not {scope}").into());
            }
            // The operation names Graph, which this is not: the message alone.
            let tokens = self.tokens().await.map_err(|e| e.message)?;
            Ok(tokens.get().await.map_err(|e| e.message)?)
        })
    }
}

pub async fn load_state(backend: &Backend) -> anyhow::Result<Option<StateFile>> {
    Ok(backend.load().await?)
}

/// Everything a plan was made from, for the commands that go on with it.
pub struct Planned {
    pub plan: Plan,
    pub current: Current,
    pub resolved: Resolved,
    /// The state the plan was made against; apply starts from it.
    #[allow(dead_code)]
    pub state: Option<StateFile>,
}

/// Plans `desired` against the tenant and the state.
pub async fn make_plan(
    session: &Session,
    desired: &Desired,
    backend: &Backend,
    opts: &PlanOptions,
) -> Result<Planned, Failure> {
    let (resolved, current, mut diags) = read_tenant_all(session, desired).await?;
    let state = load_state(backend).await?;
    let basis = Basis {
        config_hash: desired.config_hash.clone(),
        state_lineage: state.as_ref().map(|s| s.lineage.clone()),
        state_serial: state.as_ref().map(|s| s.serial),
        snapshot_fingerprint: current.fingerprint(),
        renew_within: Some(opts.renew_within),
    };
    diags.quote_from(&desired.sources);
    match plan::plan(desired, &current, &resolved, state.as_ref(), basis, opts) {
        Ok(_) if diags.has_errors() => Err(Failure::Diagnostics(diags)),
        Ok(plan) => Ok(Planned {
            plan,
            current,
            resolved,
            state,
        }),
        Err(plan::PlanError::Invalid(mut d)) => {
            d.quote_from(&desired.sources);
            diags.0.extend(d.0);
            diags.sort();
            Err(Failure::Diagnostics(diags))
        }
    }
}

/// The baseline findings of a plan, added to its warnings as `pim plan`
/// shows and saves them.
pub fn add_baseline(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    plan: &mut Plan,
    opts: &PlanOptions,
) -> Vec<crate::check::Finding> {
    let findings = baseline(desired, current, resolved, plan, opts);
    plan.warnings
        .extend(findings.iter().map(ToString::to_string));
    findings
}

/// The baseline findings of the configuration and the tenant, with the
/// policies as `plan` leaves them and the holders it leaves in place.
pub fn baseline(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    plan: &Plan,
    opts: &PlanOptions,
) -> Vec<crate::check::Finding> {
    let effective = plan::effective_policies(desired, current, resolved, opts);
    let names = |id: &str| {
        current
            .roles
            .get(id)
            .map_or_else(|| id.to_string(), |r| r.display_name.clone())
    };
    crate::check::baseline(desired, resolved, &effective, &plan.unmanaged, &names)
}

/// Why a saved plan is not applied.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("the saved plan is stale: {}; make a new one with pim plan", .0.join(", "))]
    Stale(Vec<&'static str>),
    #[error(
        "the saved plan is not what this configuration, state and tenant plan: {0}. It may have been edited; make a new one with pim plan and review it"
    )]
    Mismatch(String),
    #[error("the saved plan is too old: {0}; make a new one with pim plan")]
    Expired(String),
}

/// What applying a saved plan runs: the plan made again, from the
/// configuration, state and tenant of now, as of the moment the saved plan
/// was made (so time-bound ends come out the same), with today's safety
/// rails. The saved plan must be exactly that plan: a file that travelled
/// between jobs is checked against the source, never trusted. A plan whose
/// rails refuse it comes back as `Ok` with its refusals, for the caller to
/// show and refuse.
pub fn replan_saved(
    desired: &Desired,
    planned: &Planned,
    saved: &Plan,
    opts: &PlanOptions,
) -> Result<Result<Plan, SavedPlanError>, Failure> {
    let why = saved.basis.stale_reasons(&planned.plan.basis);
    if !why.is_empty() {
        return Ok(Err(SavedPlanError::Stale(why)));
    }
    let mut then = opts.clone();
    then.now = saved.created_at;
    if let Some(r) = saved.basis.renew_within {
        then.renew_within = r;
    }
    let basis = Basis {
        renew_within: Some(then.renew_within),
        ..planned.plan.basis.clone()
    };
    let state = planned.state.as_ref();
    let mut fresh = match plan::plan(
        desired,
        &planned.current,
        &planned.resolved,
        state,
        basis,
        &then,
    ) {
        Ok(p) => p,
        Err(plan::PlanError::Invalid(mut d)) => {
            d.quote_from(&desired.sources);
            return Err(Failure::Diagnostics(d));
        }
    };
    add_baseline(
        desired,
        &planned.current,
        &planned.resolved,
        &mut fresh,
        &then,
    );
    if !fresh.refusals.is_empty() {
        return Ok(Ok(fresh));
    }
    if let Some(diff) = fresh.first_difference(saved) {
        return Ok(Err(SavedPlanError::Mismatch(diff)));
    }
    // Ends were worked out when the plan was made: none may have come to pass.
    let soon = opts.now + chrono::Duration::minutes(5);
    for c in &fresh.changes {
        if let plan::Step::Grant { requests, .. } = &c.step {
            for r in requests {
                if let Some(crate::model::Expiration::At(end)) =
                    r.schedule.as_ref().map(|s| &s.expiration)
                    && *end <= soon
                {
                    return Ok(Err(SavedPlanError::Expired(format!(
                        "it would set {} to end at {end}, which has passed or is less than five minutes away",
                        c.address
                    ))));
                }
            }
        }
    }
    Ok(Ok(fresh))
}

pub async fn lock(backend: &Backend, operation: &str) -> anyhow::Result<Lock> {
    Ok(backend.lock(operation).await?)
}

pub async fn unlock(lock: Lock) -> anyhow::Result<()> {
    Ok(lock.release().await?)
}

/// Saves the state under the held lock.
pub async fn save(backend: &Backend, lock: &Lock, state: &StateFile) -> anyhow::Result<()> {
    Ok(backend.save(lock, state).await?)
}

/// Saves state through the backend after every step, under the held lock.
pub struct Sink {
    pub backend: Arc<Backend>,
    pub lock: Arc<Lock>,
}

impl crate::apply::StateSink for Sink {
    fn save(&self, state: &StateFile) -> Result<(), String> {
        // Apply saves from its blocking pool, where waiting is allowed.
        tokio::runtime::Handle::try_current()
            .map_err(|e| e.to_string())?
            .block_on(self.backend.save(&self.lock, state))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_state() -> StateSettings {
        StateSettings::AzureRm {
            account: "contosopimstate".into(),
            container: "pim".into(),
            blob: "pim.state.json".into(),
            // Never reached: the sign-in fails first.
            endpoint: Some("http://127.0.0.1:1/contosopimstate".into()),
        }
    }

    #[tokio::test]
    async fn blob_state_with_no_key_sas_or_credential_says_what_to_set() {
        let tenant = TenantSettings::default();
        let backend = open_backend(
            &blob_state(),
            &tenant,
            HashMap::new(),
            AuthMethod::ClientSecret,
        )
        .unwrap();
        let err = backend.load().await.unwrap_err();
        assert!(
            matches!(
                err,
                state::StateError::Azure(state::AzureError::Token { .. })
            ),
            "{err:?}"
        );
        let text = format!("{:#}", anyhow::Error::from(err));
        for what in [
            "could not get a token for Azure Storage",
            "client-secret authentication needs AZURE_TENANT_ID",
            "AZURE_STORAGE_KEY",
            "AZURE_STORAGE_SAS_TOKEN",
        ] {
            assert!(text.contains(what), "{text}");
        }
        assert_eq!(
            text.matches("needs AZURE_TENANT_ID").count(),
            1,
            "said once: {text}"
        );

        // A secret that is there but incomplete never shows.
        let env = HashMap::from([
            (
                "AZURE_TENANT_ID".to_string(),
                "contoso.onmicrosoft.com".to_string(),
            ),
            (
                "AZURE_CLIENT_SECRET".to_string(),
                "hunter2-secret".to_string(),
            ),
        ]);
        let backend = open_backend(&blob_state(), &tenant, env, AuthMethod::Auto).unwrap();
        let err = format!(
            "{:#}",
            anyhow::Error::from(backend.load().await.unwrap_err())
        );
        assert!(err.contains("AZURE_CLIENT_ID"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn a_key_or_sas_token_needs_no_sign_in() {
        let env = HashMap::from([(
            "AZURE_STORAGE_SAS_TOKEN".to_string(),
            "sv=2021-08-06&sig=abc".to_string(),
        )]);
        let tenant = TenantSettings::default();
        let backend = open_backend(&blob_state(), &tenant, env, AuthMethod::ClientSecret).unwrap();
        let err = backend.load().await.unwrap_err();
        // Nothing listens there: a connection error, not a sign-in one.
        assert!(
            matches!(
                err,
                state::StateError::Azure(state::AzureError::Transport { .. })
            ),
            "{err:?}"
        );
    }
}
