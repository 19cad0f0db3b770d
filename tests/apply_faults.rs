//! Apply through the Graph client against an emulator that fails a fifth of
//! the requests with 503 or 504, throttles with 429 and `Retry-After`, and
//! drops some connections after the write took effect: the run
//! still converges, with no grant lost or made twice, and a new plan has
//! nothing left to do. The faults are seeded, so a failure replays.

use crate::support::apply_common;
use crate::support::graph_common;

use std::sync::Arc;

use apply_common::Sizes;
use pim::apply::Quiet;
use pim::cli::run::{self, Session};
use pim::config::LoadOptions;
use pim::emulator::{Emulator, Faults};
use pim::pipeline::{self, BackendSink, PipelineError, Planned};
use pim::plan::PlanOptions;
use pim::state::{Backend, LocalBackend};

const SIZES: Sizes = Sizes {
    kept: 10,
    updated: 15,
    removed: 10,
    created: 40,
    policies: 2,
};

async fn plan(session: &Session, desired: &pim::config::Desired, backend: &dyn Backend) -> Planned {
    let mut opts = PlanOptions::at(chrono::Utc::now());
    opts.max_removals = usize::MAX;
    match pipeline::make_plan(session.graph.as_ref(), desired, backend, &opts).await {
        Ok(p) => p,
        Err(PipelineError::Invalid(d)) => panic!("{d}"),
        Err(e) => panic!("{:#}", anyhow::Error::from(e)),
    }
}

/// Applies `planned` as `pim apply` does, saving state under `lock`.
async fn apply(
    session: &Session,
    planned: Planned,
    backend: &Arc<dyn Backend>,
    lock: &Arc<pim::state::Lock>,
) -> (pim::apply::ApplyReport, pim::state::StateFile) {
    pim::apply::apply(
        &planned.plan,
        session.graph.clone(),
        planned.state.expect("the scenario's state"),
        Arc::new(BackendSink {
            backend: backend.clone(),
            lock: lock.clone(),
        }),
        Arc::new(Quiet),
        session.graph.parallelism(),
    )
    .await
}

fn session(emu: &Emulator) -> Session {
    Session::new(graph_common::client_with_token(emu))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_through_server_errors_throttling_and_dropped_connections() {
    let dir = std::env::temp_dir().join(format!("pim-apply-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    apply_common::write_config(&dir, SIZES, "");
    LocalBackend::new(dir.join("pim.state.json"))
        .save(&apply_common::state(SIZES))
        .unwrap();
    let desired = pim::config::load(&dir, &LoadOptions::at(chrono::Utc::now()))
        .unwrap_or_else(|e| panic!("{}", e.diagnostics()));

    let emu = graph_common::emulator(
        apply_common::tenant(SIZES),
        Faults {
            error_rate: 0.2,
            throttle_per_second: Some(20),
            // Writes go twenty to a $batch, so there are few write calls to
            // drop: a rate high enough that some are.
            reset_rate: 0.25,
            // Every dropped write is dropped after it took effect: the case
            // where resending blindly would grant twice.
            reset_after_write_share: 1.0,
            rng_seed: 20261201,
            ..Faults::default()
        },
    )
    .await;
    let session = session(&emu);
    let backend = run::backend(&desired, pim::graph::AuthMethod::Auto).unwrap();
    let lock = Arc::new(backend.lock("apply").await.unwrap());

    let planned = plan(&session, &desired, &backend).await;
    let s = planned.plan.summary;
    assert_eq!(
        (s.create, s.update, s.remove, s.update_rules),
        (SIZES.created, SIZES.updated, SIZES.removed, SIZES.policies),
        "{s:?}"
    );
    let (report, state) = apply(&session, planned, &backend, &lock).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(report.done.len(), SIZES.changes());

    let stats = emu.stats();
    let by_status = &stats["byStatus"];
    for status in ["503", "504", "429", "reset-after-write"] {
        assert!(
            by_status[status].as_u64().unwrap_or(0) > 0,
            "the emulator injected {status}: {stats}"
        );
    }
    assert!(
        session.graph.stats().retries() > 0,
        "{:?}",
        session.graph.stats()
    );

    let tenant = emu.snapshot();
    apply_common::assert_converged(&tenant, &state, SIZES);
    let saved = LocalBackend::new(dir.join("pim.state.json"))
        .load()
        .unwrap()
        .unwrap();
    assert_eq!(saved, state, "the last save is the final state");

    let again = plan(&session, &desired, &backend).await;
    assert!(
        !again.plan.summary.has_changes(),
        "a new plan has nothing to do: {:#?}",
        again.plan.changes
    );
    drop(again);
    if let Ok(lock) = Arc::try_unwrap(lock) {
        lock.release().await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Graph purges schedule requests (about 45 days after creation): apply must
/// not need one after it took effect. Here every request is gone at once,
/// so a write whose answer was lost cannot be read back; resending meets
/// the grant it made (`RoleAssignmentExists`, or already removed) and the
/// run still converges with nothing made twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_when_the_requests_are_gone() {
    const SMALL: Sizes = Sizes {
        kept: 4,
        updated: 6,
        removed: 6,
        created: 20,
        policies: 1,
    };
    let dir = std::env::temp_dir().join(format!("pim-apply-purged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    apply_common::write_config(&dir, SMALL, "");
    LocalBackend::new(dir.join("pim.state.json"))
        .save(&apply_common::state(SMALL))
        .unwrap();
    let desired = pim::config::load(&dir, &LoadOptions::at(chrono::Utc::now()))
        .unwrap_or_else(|e| panic!("{}", e.diagnostics()));
    let emu = Emulator::start(pim::emulator::EmulatorConfig {
        seed: Some(apply_common::tenant(SMALL)),
        faults: Faults {
            // Writes travel twenty to a $batch, so few calls carry them:
            // a rate this high still drops the answer of some.
            reset_rate: 0.3,
            reset_after_write_share: 1.0,
            rng_seed: 451,
            ..Faults::default()
        },
        // Purged as soon as made: the request of a lost answer is never there.
        request_retention: chrono::TimeDelta::zero(),
        ..pim::emulator::EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    let session = session(&emu);
    let backend = run::backend(&desired, pim::graph::AuthMethod::Auto).unwrap();
    let lock = Arc::new(backend.lock("apply").await.unwrap());

    let planned = plan(&session, &desired, &backend).await;
    let (report, state) = apply(&session, planned, &backend, &lock).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(report.done.len(), SMALL.changes());
    let stats = emu.stats();
    assert!(
        stats["byStatus"]["reset-after-write"].as_u64().unwrap_or(0) > 0,
        "the emulator dropped answers to writes: {stats}"
    );
    assert_eq!(
        session.graph.stats().reconciled(),
        0,
        "no request was left to read back"
    );
    apply_common::assert_converged(&emu.snapshot(), &state, SMALL);

    let again = plan(&session, &desired, &backend).await;
    assert!(
        !again.plan.summary.has_changes(),
        "a new plan has nothing to do: {:#?}",
        again.plan.changes
    );
    drop(again);
    if let Ok(lock) = Arc::try_unwrap(lock) {
        lock.release().await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
