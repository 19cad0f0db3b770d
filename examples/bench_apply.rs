//! Apply benchmark: 1,000 creates against the in-process emulator with 20 ms
//! latency per request, through the same wiring as `pim apply` (plan from
//! Graph and the local state, the state locked, and saved as steps end).
//! Prints the wall time and the Graph requests the emulator served, next to
//! the lower bound: one `$batch` per 20 creates, plus the reads no plan can
//! do without (the name lookups, 15 to a filter and 20 filters to a
//! `$batch`; both schedule lists; the policies; the role definitions).
//!
//! With `--throttle[=N]` the emulator lets each client make N requests a
//! second (200 unless told; each request inside a `$batch` counts, as does
//! the batch) and answers 429 beyond; the same apply runs with a fixed
//! parallelism and with the client's adaptive one, and each prints its
//! 429s and wall time.
//!
//! `cargo run --release --example bench_apply [-- [--throttle[=N]] GRANTS [PARALLELISM]]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use pim::apply::{Quiet, StateSink};
use pim::cli::run::{self, Session};
use pim::config::{LoadOptions, StateSettings};
use pim::emulator::{Emulator, EmulatorConfig, Faults, Tenant, User};
use pim::graph::{AuthMethod, GraphSettings, HttpGraph, StaticToken};
use pim::pipeline::{self, BackendSink, PipelineError};
use pim::state::{Backend as _, StateFile};

const ROLES: [&str; 2] = ["Helpdesk Administrator", "User Administrator"];

/// Counts the saves apply asks for, and the time they take.
struct Counting {
    inner: BackendSink,
    saves: AtomicU64,
    micros: AtomicU64,
}

impl StateSink for Counting {
    fn save(&self, state: &StateFile) -> Result<(), String> {
        let t = Instant::now();
        let r = self.inner.save(state);
        self.saves.fetch_add(1, Ordering::Relaxed);
        self.micros
            .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
        r
    }
}

fn served(emu: &Emulator) -> u64 {
    emu.stats()["total"].as_u64().unwrap_or(0)
}

/// What one run measured.
struct Run {
    plan_wall: f64,
    plan_requests: u64,
    apply_wall: f64,
    apply_requests: u64,
    creates: usize,
    done: usize,
    failed: usize,
    saves: u64,
    save_secs: f64,
    serial: u64,
    resources: usize,
    /// 429s the client read, those inside a `$batch` each counted.
    throttled: u64,
    cuts: u64,
    lowest: usize,
}

/// The tenant's users and the configuration declaring `grants` eligibilities.
fn scenario(grants: usize) -> (Tenant, String) {
    let users = grants.div_ceil(ROLES.len());
    let mut seed = Tenant::empty();
    let mut hcl = String::new();
    for i in 0..users {
        let upn = format!("user{i:05}@contoso.com");
        seed.users.push(User {
            id: format!("00000000-0000-4000-8000-{i:012x}"),
            display_name: format!("User {i}"),
            user_principal_name: upn.clone(),
            ..User::default()
        });
        for (r, role) in ROLES.iter().enumerate() {
            if i * ROLES.len() + r < grants {
                hcl.push_str(&format!(
                    "eligibility \"u{i}_r{r}\" {{\n  principal = \"user:{upn}\"\n  role = \"{role}\"\n  duration = \"P180D\"\n}}\n"
                ));
            }
        }
    }
    (seed, hcl)
}

async fn run_once(
    grants: usize,
    parallelism: usize,
    faults: Faults,
    adaptive: bool,
) -> Result<Run, Box<dyn std::error::Error>> {
    let (seed, hcl) = scenario(grants);
    let dir = std::env::temp_dir().join(format!(
        "pim-bench-apply-{}-{}",
        std::process::id(),
        if adaptive { "aimd" } else { "fixed" }
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut desired = pim::config::load_sources(
        &dir,
        vec![(dir.join("bench.pim.hcl"), hcl)],
        &LoadOptions::at(chrono::Utc::now()),
    )
    .map_err(|e| e.diagnostics().to_string())?;
    desired.state = StateSettings::Local {
        path: dir.join("pim.state.json"),
    };

    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        faults,
        ..EmulatorConfig::default()
    })
    .await?;
    let settings = GraphSettings {
        graph_url: emu.graph_url(),
        tenant_id: Some(emu.tenant_id()),
        ca_pem: emu.ca_pem().map(str::to_string),
        parallelism,
        ..GraphSettings::default()
    };
    let token = emu.mint_token("00000000-0000-0000-0000-0000000000aa", false);
    let client = HttpGraph::with_token_source(settings, Arc::new(StaticToken(token)))?;
    let client = if adaptive {
        client
    } else {
        client.with_fixed_parallelism()
    };
    let session = Session::new(client);
    let backend = run::backend(&desired, AuthMethod::Auto)?;
    let lock = Arc::new(backend.lock("apply").await?);

    let t0 = Instant::now();
    let planned = match pipeline::make_plan(
        session.graph.as_ref(),
        &desired,
        &backend,
        &pim::plan::PlanOptions::at(chrono::Utc::now()),
    )
    .await
    {
        Ok(p) => p,
        Err(PipelineError::Invalid(d)) => return Err(d.to_string().into()),
        Err(e) => return Err(e.into()),
    };
    let plan_wall = t0.elapsed().as_secs_f64();
    let plan_requests = served(&emu);
    let creates = planned.plan.summary.create;

    let sink = Arc::new(Counting {
        inner: BackendSink {
            backend: backend.clone(),
            lock: lock.clone(),
        },
        saves: AtomicU64::new(0),
        micros: AtomicU64::new(0),
    });
    let throttled_before = session.graph.stats().throttled();
    let cuts_before = session.graph.parallelism_cuts();
    // The lowest parallelism the client came down to, sampled while apply runs.
    let lowest = Arc::new(AtomicU64::new(parallelism as u64));
    let watch = {
        let (graph, lowest) = (session.graph.clone(), lowest.clone());
        tokio::spawn(async move {
            loop {
                lowest.fetch_min(graph.effective_parallelism() as u64, Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    let t1 = Instant::now();
    let (report, state) = pim::apply::apply(
        &planned.plan,
        session.graph.clone(),
        StateFile::new(uuid::Uuid::new_v4().to_string()),
        sink.clone(),
        Arc::new(Quiet),
        parallelism,
    )
    .await;
    let apply_wall = t1.elapsed().as_secs_f64();
    watch.abort();
    let apply_requests = served(&emu) - plan_requests;
    let result = Run {
        plan_wall,
        plan_requests,
        apply_wall,
        apply_requests,
        creates,
        done: report.done.len(),
        failed: report.failed.len(),
        saves: sink.saves.load(Ordering::Relaxed),
        save_secs: sink.micros.load(Ordering::Relaxed) as f64 / 1e6,
        serial: state.serial,
        resources: state.resources.len(),
        throttled: session.graph.stats().throttled() - throttled_before,
        cuts: session.graph.parallelism_cuts() - cuts_before,
        lowest: lowest.load(Ordering::Relaxed) as usize,
    };
    drop(sink);
    if let Ok(lock) = Arc::try_unwrap(lock) {
        lock.release().await?;
    }
    emu.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    if !report.succeeded() {
        return Err(format!("apply failed: {:?}", report.failed.first()).into());
    }
    Ok(result)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut throttle: Option<u32> = None;
    let mut rest = Vec::new();
    for a in std::env::args().skip(1) {
        if a == "--throttle" {
            throttle = Some(200);
        } else if let Some(n) = a.strip_prefix("--throttle=") {
            throttle = Some(n.parse()?);
        } else {
            rest.push(a);
        }
    }
    let mut args = rest.into_iter();
    let grants: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let parallelism: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let users = grants.div_ceil(ROLES.len());
    let latency = Faults {
        latency_ms: 20,
        ..Faults::default()
    };

    if let Some(per_second) = throttle {
        println!(
            "grants {grants}, parallelism {parallelism}, emulator latency 20 ms, {per_second} requests a second per client"
        );
        for adaptive in [false, true] {
            let faults = Faults {
                throttle_per_second: Some(per_second),
                ..latency.clone()
            };
            let r = run_once(grants, parallelism, faults, adaptive).await?;
            println!(
                "{:<22} apply {:>6.2} s  {:>5} calls  {:>5} x 429  {} cuts, lowest {}  ({} done)",
                if adaptive {
                    "adaptive parallelism:"
                } else {
                    "fixed parallelism:"
                },
                r.apply_wall,
                r.apply_requests,
                r.throttled,
                r.cuts,
                r.lowest,
                r.done
            );
        }
        return Ok(());
    }

    let r = run_once(grants, parallelism, latency, true).await?;
    // The reads a plan cannot do without: the lookups, two schedule lists,
    // the policies of the roles (one $batch for up to three), the role
    // definitions; and one $batch per twenty creates.
    // Names go 15 to an `in` filter, 20 filters to a $batch.
    let lookups = users.div_ceil(15 * pim::graph::page_size::BATCH) as u64;
    let bound_reads = lookups + 2 + 1 + 1;
    let bound_writes = r.creates.div_ceil(pim::graph::page_size::BATCH) as u64;
    let bound = bound_writes + bound_reads;
    let total = r.plan_requests + r.apply_requests;
    println!("grants {grants}, parallelism {parallelism}, emulator latency 20 ms");
    println!(
        "plan:  {:>7.2} s  {:>6} requests (bound {bound_reads})  {} creates planned",
        r.plan_wall, r.plan_requests, r.creates
    );
    println!(
        "apply: {:>7.2} s  {:>6} requests (bound {bound_writes}: {} creates, 20 to a $batch)  {} done, {} failed",
        r.apply_wall, r.apply_requests, r.creates, r.done, r.failed,
    );
    println!(
        "state: {} saves taking {:.2} s in all, final serial {}, {} resources",
        r.saves, r.save_secs, r.serial, r.resources
    );
    println!(
        "total: {:>7.2} s  {total:>6} requests, bound {bound}, ratio {:.3}",
        r.plan_wall + r.apply_wall,
        total as f64 / bound as f64
    );
    Ok(())
}
