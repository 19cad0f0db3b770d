//! Snapshot benchmark: tenants of 1k, 10k and 50k schedules in the
//! in-process emulator with 20 ms latency per request; prints the requests
//! the emulator served, wall time and peak memory next to the lower bound
//! (pages at the largest page size + the policy page + role definitions +
//! getByIds calls).
//!
//! `cargo run --release --example bench_snapshot [-- 1000 10000 50000]`

use std::time::Instant;

use pim::snapshot::{ReadOptions, read};

#[path = "support/synthetic.rs"]
mod synthetic;
use synthetic::tenant;

#[path = "support/emulated.rs"]
mod emulated;
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
        let (emu, graph) = emulated::start(seed).await?;
        let before = emulated::requests(&emu);
        let t0 = Instant::now();
        // Directory roles only: bench_groups measures the groups.
        let options =
            ReadOptions::all(chrono::Utc::now()).with_scopes(pim::model::SurfaceKind::Group, []);
        let current = read(&graph, &options).await?;
        let wall = t0.elapsed().as_secs_f64();
        let requests = emulated::requests(&emu) - before;
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
