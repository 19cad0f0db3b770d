//! Wiring the stages together for the commands that talk to a tenant:
//! load the configuration, connect (to Graph, or to the embedded emulator
//! the example's `tenant { emulator = … }` names), resolve names, read the
//! tenant and the state, and plan.

use std::collections::HashMap;

use anyhow::{Context as _, anyhow};

use crate::config::{Desired, Diagnostics, StateSettings};
use crate::emulator::{Emulator, EmulatorConfig, Tenant};
use crate::graph::resolve::{self, Resolution, ResolveError};
use crate::graph::{AuthMethod, Credentials, GraphSettings, HttpGraph, SecretString};
use crate::model::{RoleRef, Scope};
use crate::plan::{self, Basis, Plan, PlanOptions, Resolved};
use crate::snapshot::{self, Current, ReadOptions};
use crate::state::{AzureBackend, AzureSettings, LocalBackend, StateFile};

/// A connection to the tenant, and the emulator behind it when embedded.
pub struct Session {
    pub graph: HttpGraph,
    /// Kept alive for as long as the session.
    _emulator: Option<Emulator>,
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
) -> anyhow::Result<Session> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let embedded = desired
        .tenant
        .emulator
        .as_ref()
        .filter(|_| !env.contains_key("PIM_GRAPH_URL"));
    let (mut settings, emulator) = match embedded {
        Some(seed_path) => {
            let seed = Tenant::from_file(seed_path)
                .with_context(|| format!("reading the emulator seed {}", seed_path.display()))?;
            let emu = Emulator::start(EmulatorConfig {
                seed: Some(seed),
                data_file: Some(desired.dir.join(".pim-emulator.json")),
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
    let graph = HttpGraph::new(settings)?;
    Ok(Session {
        graph,
        _emulator: emulator,
    })
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
    let resolution = match resolve::resolve(&session.graph, desired).await {
        Ok(r) => r,
        Err(ResolveError::Invalid(d)) => return Err(Failure::Diagnostics(d)),
        Err(ResolveError::Graph(e)) => return Err(Failure::Other(anyhow!(e))),
    };
    let resolved = to_resolved(&resolution);
    let roles = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .map(|d| &d.item.role)
        .chain(desired.policies.iter().map(|p| &p.item.role))
        .chain(desired.roles.iter().map(|r| &r.item.role))
        .filter_map(|r| resolved.role(r));
    let current = snapshot::read(&session.graph, &ReadOptions::roles(roles))
        .await
        .map_err(|e| anyhow!(e))?;
    Ok((resolved, current))
}

/// Where the configuration keeps its state.
pub enum Backend {
    Local(LocalBackend),
    Azure(Box<AzureBackend>),
}

pub fn backend(desired: &Desired) -> anyhow::Result<Backend> {
    Ok(match &desired.state {
        StateSettings::Local { path } => Backend::Local(LocalBackend::new(path.clone())),
        StateSettings::AzureRm {
            account,
            container,
            blob,
        } => {
            let settings = AzureSettings::from_env(account, container, blob, None)?;
            Backend::Azure(Box::new(AzureBackend::new(settings)?))
        }
    })
}

pub async fn load_state(backend: &Backend) -> anyhow::Result<Option<StateFile>> {
    Ok(match backend {
        Backend::Local(b) => b.load()?,
        Backend::Azure(b) => b.load().await?,
    })
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
    let (resolved, current) = read_tenant(session, desired).await?;
    let state = load_state(backend).await?;
    let basis = Basis {
        config_hash: desired.config_hash.clone(),
        state_lineage: state.as_ref().map(|s| s.lineage.clone()),
        state_serial: state.as_ref().map(|s| s.serial),
        snapshot_fingerprint: current.fingerprint(),
    };
    match plan::plan(desired, &current, &resolved, state.as_ref(), basis, opts) {
        Ok(plan) => Ok(Planned {
            plan,
            current,
            resolved,
            state,
        }),
        Err(plan::PlanError::Invalid(d)) => Err(Failure::Diagnostics(d)),
    }
}
