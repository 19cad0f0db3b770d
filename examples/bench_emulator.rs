//! Throughput of the emulator on list endpoints: starts it in-process on the
//! contoso seed (plain HTTP, then TLS), drives it with a bounded number of
//! concurrent keep-alive clients for a fixed request count, prints requests/s.
//!
//! `cargo run --release --example bench_emulator -- [requests] [concurrency]`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use pim::emulator::{Emulator, EmulatorConfig, Tenant};

const PATHS: &[&str] = &[
    "/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=roleDefinitionId eq '62e90394-69f5-4237-9190-012177145e10'",
    "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances",
    "/v1.0/users?$filter=userPrincipalName eq 'alice@contoso.com'",
    "/v1.0/roleManagement/directory/roleDefinitions?$filter=displayName eq 'Helpdesk Administrator'",
    "/v1.0/users?$top=10&$select=id,userPrincipalName",
];

async fn run(tls: bool, total: usize, concurrency: usize) -> anyhow::Result<f64> {
    let seed = Tenant::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/contoso/tenant.json"
    ))?;
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        tls,
        ..EmulatorConfig::default()
    })
    .await?;
    // reqwest is built with `rustls-no-provider` (no aws-lc-rs): choose ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder().pool_max_idle_per_host(concurrency);
    if let Some(pem) = emu.ca_pem() {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes())?);
    }
    let client = builder.build()?;
    let token = emu.mint_token("00000000-0000-0000-0000-00000000b00b", false);
    let base = emu.base_url().to_string();
    // Warm up the connection pool (and TLS sessions) before timing.
    for _ in 0..concurrency {
        client
            .get(format!("{base}{}", PATHS[0]))
            .bearer_auth(&token)
            .send()
            .await?
            .bytes()
            .await?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, token, base, next) =
            (client.clone(), token.clone(), base.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, reqwest::Error>(());
                }
                let resp = client
                    .get(format!("{base}{}", PATHS[i % PATHS.len()]))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                assert!(resp.status().is_success(), "{}", resp.status());
                resp.bytes().await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    emu.stop().await;
    Ok(rate)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let total: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(50_000);
    let concurrency: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for tls in [false, true] {
        let rate = rt.block_on(run(tls, total, concurrency))?;
        println!(
            "{:<5} {total} requests, {concurrency} concurrent keep-alive clients: {rate:.0} requests/s",
            if tls { "https" } else { "http" }
        );
    }
    Ok(())
}
