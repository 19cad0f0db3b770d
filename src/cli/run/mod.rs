//! What the commands that talk to a tenant connect to: Graph, or the
//! emulator the example's `tenant { emulator = … }` names, embedded in this
//! process; and the state backend the configuration names. Public so that
//! end-to-end tests and the benchmarks connect as the commands do.

use std::collections::HashMap;
use std::sync::Arc;

use crate::arm::{ArmSettings, HttpArm};
use crate::config::Desired;
use crate::graph::{AuthMethod, GraphSettings, HttpGraph};

mod state;

pub use state::backend;

/// Where the embedded emulator keeps what runs changed, beside the
/// configuration.
const EMULATOR_DATA: &str = ".pim-emulator.json";

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
pub struct SignInAs<'a> {
    pub user: &'a str,
    pub mfa: bool,
}

/// [`connect`], signed in as a seeded emulator user when `user` is given
/// (refused unless the tenant is an emulator on this machine).
#[allow(clippy::result_large_err)] // GraphError: large and rare, as in `graph`
pub async fn connect_as(
    desired: &Desired,
    auth: AuthMethod,
    parallelism: Option<usize>,
    keep: bool,
    user: Option<SignInAs<'_>>,
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
    let arm_settings = if emulator.is_some() {
        ArmSettings::for_emulator(&settings, &env)
    } else {
        ArmSettings::from_env(&settings, &env)
    };
    let graph = match user {
        Some(u) => HttpGraph::for_emulator_user(settings, u.user, u.mfa)?,
        None => HttpGraph::new(settings)?,
    };
    // ARM signs in with the same credential, for its own scope, and only
    // when a command reaches an Azure role: a bad ARM setting matters only
    // to a configuration that governs one.
    let graph = match arm_settings.and_then(|s| HttpArm::sharing(s, &graph)) {
        Ok(arm) => graph.with_arm(Arc::new(arm)),
        Err(e) if governs_azure(desired) => return Err(e.into()),
        Err(_) => graph,
    };
    Ok(Session {
        graph: Arc::new(graph),
        _emulator: emulator,
    })
}

/// Whether the configuration names an Azure role anywhere.
fn governs_azure(desired: &Desired) -> bool {
    let azure = crate::model::SurfaceKind::AzureRole;
    desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .any(|d| d.item.surface == azure)
        || desired.policies.iter().any(|p| p.item.surface == azure)
        || desired.roles.iter().any(|r| r.item.surface == azure)
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
    let data = desired.dir.join(EMULATOR_DATA);
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
        // ARM writes need an Azure role that may make them, as in ARM.
        arm_authorization: crate::emulator::ArmAuthorization::Rbac,
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

/// An embedded emulator's tenant, copied to `dir` along with an export of
/// it, so the export manages the same tenant.
pub fn copy_emulated_tenant(desired: &Desired, dir: &std::path::Path) -> std::io::Result<()> {
    let data = desired.dir.join(EMULATOR_DATA);
    if desired.tenant.emulator.is_some() && data.exists() {
        std::fs::copy(&data, dir.join(EMULATOR_DATA))?;
    }
    Ok(())
}
