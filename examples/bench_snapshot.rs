//! Snapshot benchmark: tenants of 1k, 10k and 50k schedules in the
//! in-process emulator with 20 ms latency per request; prints the requests
//! the emulator served, wall time and peak memory next to the lower bound
//! (pages at the largest page size + the policy page + role definitions +
//! getByIds calls).
//!
//! `cargo run --release --example bench_snapshot [-- 1000 10000 50000]`

use std::sync::Arc;
use std::time::Instant;

use pim::emulator::{Emulator, EmulatorConfig, Faults};
use pim::graph::{GraphSettings, HttpGraph, StaticToken};
use pim::snapshot::{ReadOptions, read};

#[path = "support/synthetic.rs"]
mod synthetic;
use synthetic::tenant;

#[path = "support/memory.rs"]
mod memory;
use memory::peak_rss_mib;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = {
        let args: Vec<usize> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if args.is_empty() {
            vec![1_000, 10_000, 50_000]
        } else {
            args
        }
    };
    println!(
        "{:>8} {:>9} {:>7} {:>6} {:>9} {:>10} {:>9}",
        "schedules", "requests", "bound", "ratio", "wall_s", "peak_MiB", "grants"
    );
    for n in sizes {
        let (seed, eligible, active, users) = tenant(n);
        let emu = Emulator::start(EmulatorConfig {
            seed: Some(seed),
            faults: Faults {
                latency_ms: 20,
                ..Faults::default()
            },
            ..EmulatorConfig::default()
        })
        .await?;
        let settings = GraphSettings {
            graph_url: emu.graph_url(),
            tenant_id: Some(emu.tenant_id()),
            ca_pem: emu.ca_pem().map(str::to_string),
            ..GraphSettings::default()
        };
        let token = emu.mint_token("00000000-0000-0000-0000-0000000000aa", false);
        let graph = HttpGraph::with_token_source(settings, Arc::new(StaticToken(token)))?;
        let before = emu.stats()["total"].as_u64().unwrap_or(0);
        let t0 = Instant::now();
        // Directory roles only: bench_groups measures the groups.
        let options =
            ReadOptions::all(chrono::Utc::now()).with_scopes(pim::model::SurfaceKind::Group, []);
        let current = read(&graph, &options).await?;
        let wall = t0.elapsed().as_secs_f64();
        let requests = emu.stats()["total"].as_u64().unwrap_or(0) - before;
        let bound = eligible.div_ceil(999) + active.div_ceil(999) + 1 + 1 + users.div_ceil(1000);
        println!(
            "{:>8} {:>9} {:>7} {:>6.2} {:>9.2} {:>10.1} {:>9}",
            n,
            requests,
            bound,
            requests as f64 / bound as f64,
            wall,
            peak_rss_mib(),
            current.grants.len()
        );
        emu.stop().await;
    }
    Ok(())
}
