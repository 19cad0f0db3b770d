//! `pim emulator`: run the local Microsoft Graph PIM emulator as a server for
//! demos, manual testing and other tools' CI. Only argument handling lives
//! here; the emulator itself is `crate::emulator`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::Exit;

use anyhow::Context;

use crate::emulator::{Emulator, EmulatorClock, EmulatorConfig, Faults, Tenant};

/// Serve a local, stateful Microsoft Graph PIM emulator.
///
/// Example: pim emulator --seed examples/contoso/tenant.json --data /tmp/contoso.json --cert-out /tmp/emu-ca.pem
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,

    /// Tenant to start from: users, groups, roles, policies and schedules as JSON
    /// (format: schemas/tenant.schema.json). Without it the tenant has only the built-in roles.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,

    /// Keep the tenant in this file: loaded at start if it exists, rewritten after every change,
    /// so separate runs see each other's changes.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,

    /// Write the PEM of the emulator's certificate authority here, for clients to trust.
    #[arg(long, value_name = "FILE")]
    pub cert_out: Option<PathBuf>,

    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    pub no_tls: bool,

    /// Delay every Graph response by this many milliseconds.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,

    /// Add a random delay of up to this many milliseconds on top of --latency-ms.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub jitter_ms: u64,

    /// Answer this share of Graph requests (0.0 to 1.0) with a 503 or 504.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub fault_rate: f64,

    /// Drop this share of connections (0.0 to 1.0) without answering; for writes, about half
    /// are dropped after the change took effect.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub reset_rate: f64,

    /// Allow each client this many requests per second, then answer 429 with Retry-After.
    #[arg(long, value_name = "N")]
    pub throttle: Option<u32>,

    /// Hide new schedules from reads for this many milliseconds (replication delay).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub replication_delay_ms: u64,

    /// Items per page of collections when the client gives no $top.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub page_size: usize,

    /// Seed of the random faults, so a run can be repeated exactly.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed_rng: u64,

    /// Give tokens from the token endpoint an MFA claim (policies requiring MFA then pass).
    #[arg(long)]
    pub mfa: bool,
}

fn check_rate(name: &str, v: f64) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&v),
        "{name} must be between 0.0 and 1.0, not {v}"
    );
    Ok(())
}

/// Start the emulator and serve until Ctrl-C.
pub fn run(args: EmulatorArgs) -> anyhow::Result<Exit> {
    check_rate("--fault-rate", args.fault_rate)?;
    check_rate("--reset-rate", args.reset_rate)?;
    let seed = match &args.seed {
        Some(path) => Some(Tenant::from_file(path)?),
        None => None,
    };
    let config = EmulatorConfig {
        listen: args.listen,
        seed,
        tls: !args.no_tls,
        page_size: args.page_size,
        faults: Faults {
            latency_ms: args.latency_ms,
            jitter_ms: args.jitter_ms,
            throttle_per_second: args.throttle,
            error_rate: args.fault_rate,
            reset_rate: args.reset_rate,
            replication_delay_ms: args.replication_delay_ms,
            rng_seed: args.seed_rng,
            ..Faults::default()
        },
        clock: EmulatorClock::system(),
        // ARM writes need an Azure role that may make them, as in ARM.
        arm_authorization: crate::emulator::ArmAuthorization::Rbac,
        data_file: args.data.clone(),
        tokens_have_mfa: args.mfa,
        rule_patch_returns_body: false,
        ..EmulatorConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let emu = Emulator::start(config).await?;
        if let (Some(path), Some(pem)) = (&args.cert_out, emu.ca_pem()) {
            std::fs::write(path, pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        outln!("pim emulator listening on {}", emu.base_url())?;
        outln!("  graph:  {}", emu.graph_url())?;
        outln!("  token:  {}", emu.token_url())?;
        if let Some(path) = &args.cert_out {
            outln!("  CA:     {}", path.display())?;
        } else if args.no_tls {
            outln!("  plain HTTP (no TLS)")?;
        }
        outln!("Press Ctrl-C to stop.")?;
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        emu.stop().await;
        Ok(Exit::Ok)
    })
}
