//! Apply benchmark: 1,000 creates against the in-process emulator with 20 ms
//! latency per request, through the same wiring as `pim apply` (plan from
//! Graph and the local state, the state locked, and saved as steps end).
//! Prints the wall time and the Graph requests the emulator served, next to
//! the lower bound: one schedule request per create, plus the reads no plan
//! can do without (the name lookups, 20 to a `$batch`; both schedule lists;
//! the policies; the role definitions).
//!
//! `cargo run --release --example bench_apply [-- GRANTS [PARALLELISM]]`

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

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let grants: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let parallelism: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
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
    let dir = std::env::temp_dir().join(format!("pim-bench-apply-{}", std::process::id()));
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
        parallelism,
        ..GraphSettings::default()
    };
    let token = emu.mint_token("00000000-0000-0000-0000-0000000000aa", false);
    let session = Session::new(HttpGraph::with_token_source(
        settings,
        Arc::new(StaticToken(token)),
    )?);
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
    let apply_requests = served(&emu) - plan_requests;

    // The reads a plan cannot do without: the lookups, two schedule lists,
    // the policies of the roles (one $batch for up to three), the role
    // definitions.
    let lookups = users.div_ceil(pim::graph::page_size::BATCH) as u64;
    let bound_reads = lookups + 2 + 1 + 1;
    let bound = creates as u64 + bound_reads;
    let total = plan_requests + apply_requests;
    println!("grants {grants}, parallelism {parallelism}, emulator latency 20 ms");
    println!(
        "plan:  {plan_wall:>7.2} s  {plan_requests:>6} requests (bound {bound_reads})  {creates} creates planned"
    );
    println!(
        "apply: {apply_wall:>7.2} s  {apply_requests:>6} requests (bound {creates})  {} done, {} failed",
        report.done.len(),
        report.failed.len(),
    );
    println!(
        "state: {} saves taking {:.2} s in all, final serial {}, {} resources",
        sink.saves.load(Ordering::Relaxed),
        sink.micros.load(Ordering::Relaxed) as f64 / 1e6,
        state.serial,
        state.resources.len()
    );
    println!(
        "total: {:>7.2} s  {total:>6} requests, bound {bound}, ratio {:.3}",
        plan_wall + apply_wall,
        total as f64 / bound as f64
    );
    drop(sink);
    if let Ok(lock) = Arc::try_unwrap(lock) {
        lock.release().await?;
    }
    emu.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    if !report.succeeded() {
        return Err(format!("apply failed: {:?}", report.failed.first()).into());
    }
    Ok(())
}
