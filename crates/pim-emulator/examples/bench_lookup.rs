//! What resolving names costs the emulator: seeds a tenant of many users,
//! looks user principal names up as pim does (fifteen to a `$filter=… in
//! (…)`, twenty filters to a `$batch`), and prints the emulator's CPU
//! (`handlerCpuSeconds` and the process's `cpuSeconds` from
//! `/_emulator/stats`, before and after). Then the same filters made
//! unindexable (`… or id eq null`, which no object meets), for a tenth
//! as many lookups unless told, to show what reading every user costs.
//!
//! `cargo run --release -p pim-emulator --example bench_lookup -- [lookups] [users] [scanned lookups]`

use std::time::Instant;

use anyhow::{Context, ensure};
use pim_emulator::{Emulator, EmulatorConfig, Tenant, User};
use serde_json::{Value, json};

const IN_VALUES: usize = 15;
const BATCH: usize = 20;

fn upn(n: usize) -> String {
    format!("user{n:06}@contoso.com")
}

struct Cpu {
    handlers: f64,
    process: f64,
}

async fn cpu(http: &reqwest::Client, emu: &Emulator) -> anyhow::Result<Cpu> {
    let s: Value = http
        .get(format!("{}/_emulator/stats", emu.base_url()))
        .send()
        .await?
        .json()
        .await?;
    let f = |k: &str| s[k].as_f64().with_context(|| format!("{k} in {s}"));
    Ok(Cpu {
        handlers: f("handlerCpuSeconds")?,
        process: f("cpuSeconds")?,
    })
}

/// `lookups` filters of fifteen names each, twenty to a batch; returns how
/// many users were found.
async fn look_up(
    http: &reqwest::Client,
    emu: &Emulator,
    token: &str,
    users: usize,
    lookups: usize,
    scan: bool,
) -> anyhow::Result<usize> {
    let mut found = 0;
    let mut next = 0usize;
    let filters: Vec<String> = (0..lookups)
        .map(|_| {
            let names: Vec<String> = (0..IN_VALUES)
                .map(|_| {
                    // Spread over the tenant, in the case a configuration might use.
                    next = (next + 7_919) % users;
                    format!("'{}'", upn(next).to_uppercase())
                })
                .collect();
            let f = format!("userPrincipalName in ({})", names.join(","));
            if scan {
                format!("({f}) or id eq null")
            } else {
                f
            }
        })
        .collect();
    for chunk in filters.chunks(BATCH) {
        let requests: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, f)| {
                json!({
                    "id": i.to_string(),
                    "method": "GET",
                    "url": format!("/users?$filter={}&$select=id,userPrincipalName&$top=999",
                        percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC)),
                })
            })
            .collect();
        let r: Value = http
            .post(format!("{}/v1.0/$batch", emu.base_url()))
            .bearer_auth(token)
            .json(&json!({ "requests": requests }))
            .send()
            .await?
            .json()
            .await?;
        for resp in r["responses"].as_array().context("responses")? {
            ensure!(resp["status"] == 200, "{resp}");
            found += resp["body"]["value"].as_array().map_or(0, Vec::len);
        }
    }
    Ok(found)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let lookups: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5_000);
    let users: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(50_000);
    let scanned: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(lookups / 10);
    let mut tenant = Tenant::empty();
    tenant.users = (0..users)
        .map(|n| User {
            id: format!("a0000000-0000-4000-8000-{n:012}"),
            display_name: format!("User {n}"),
            user_principal_name: upn(n),
            ..User::default()
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let emu = Emulator::start(EmulatorConfig {
            seed: Some(tenant),
            tls: false,
            ..EmulatorConfig::default()
        })
        .await?;
        let token = emu.mint_token("00000000-0000-0000-0000-00000000b00b", false);
        // reqwest is built without a TLS provider of its own.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        for (scan, n) in [(false, lookups), (true, scanned)] {
            if n == 0 {
                continue;
            }
            let before = cpu(&http, &emu).await?;
            let started = Instant::now();
            let found = look_up(&http, &emu, &token, users, n, scan).await?;
            let wall = started.elapsed().as_secs_f64();
            let after = cpu(&http, &emu).await?;
            ensure!(found == n * IN_VALUES, "found {found} of {}", n * IN_VALUES);
            println!(
                "{:<7} {n} in-lookups of {IN_VALUES} names ({} names) among {users} users ({} $batch requests): \
                 {wall:.2} s wall, emulator handlers {:.3} -> {:.3} s CPU (+{:.3} s), \
                 process {:.2} -> {:.2} s CPU",
                if scan { "scanned" } else { "indexed" },
                n * IN_VALUES,
                n.div_ceil(BATCH),
                before.handlers,
                after.handlers,
                after.handlers - before.handlers,
                before.process,
                after.process,
            );
        }
        emu.stop().await;
        anyhow::Ok(())
    })
}
