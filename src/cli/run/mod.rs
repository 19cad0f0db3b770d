//! Wiring the stages together for the commands that talk to a tenant:
//! load the configuration, connect (to Graph, or to the embedded emulator
//! the example's `tenant { emulator = … }` names), resolve names, read the
//! tenant and the state, and plan. Public so that end-to-end tests and the
//! benchmarks drive exactly what the commands do.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::anyhow;

use crate::config::{Desired, Diagnostics};
use crate::graph::resolve::{self, Resolution};
use crate::graph::{AuthMethod, GraphSettings, HttpGraph};
use crate::model::{RoleRef, Scope};
use crate::plan::{self, Basis, Plan, PlanOptions, Resolved};
use crate::snapshot::{self, Current, ReadOptions};
use crate::state::StateFile;

mod saved;
mod state;

pub use saved::{SavedPlanError, replan_saved};
pub use state::{Backend, Lock, Sink, backend, lock, save, unlock};

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
