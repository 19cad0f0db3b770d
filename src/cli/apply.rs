//! `pim apply`: plan (or take a saved plan), confirm, carry it out, report.

use std::sync::Arc;

use super::args::*;
use super::*;
use crate::config;

pub(super) fn confirm() -> anyhow::Result<bool> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to apply without confirmation: not on a terminal; review the plan and pass --auto-approve"
        );
    }
    out!("\nDo you want to perform these actions? Only 'yes' will be accepted: ")?;
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

pub(super) fn apply_command(args: &ApplyArgs) -> anyhow::Result<Exit> {
    let Some(desired) = load_config(&args.config) else {
        return Ok(Exit::Error);
    };
    let mut opts = crate::plan::PlanOptions::at(chrono::Utc::now());
    if let Some(r) = desired.tenant.renew_within {
        opts.renew_within = r;
    }
    opts.max_removals = args.max_removals;
    let rt = runtime()?;
    rt.block_on(async {
        // The lock comes first: a second run stops here, before it signs in
        // or starts anything.
        let backend = run::backend(&desired, args.tenant.auth)?;
        let lock = Arc::new(run::lock(&backend, "apply").await?);
        let result = apply_locked(args, &desired, &opts, &backend, &lock).await;
        let unlocked = match Arc::try_unwrap(lock) {
            Ok(lock) => run::unlock(lock).await,
            Err(_) => Ok(()),
        };
        let code = result?;
        unlocked?;
        Ok(code)
    })
}

/// `pim apply` once the state is locked.
pub(super) async fn apply_locked(
    args: &ApplyArgs,
    desired: &config::Desired,
    opts: &crate::plan::PlanOptions,
    backend: &Arc<run::Backend>,
    lock: &Arc<run::Lock>,
) -> anyhow::Result<Exit> {
    let session = run::connect(
        desired,
        args.tenant.auth,
        args.tenant.parallelism.map(usize::from),
        true,
    )
    .await?;
    let planned = match run::make_plan(&session, desired, backend, opts).await {
        Ok(p) => p,
        Err(run::Failure::Diagnostics(d)) => {
            print_failure(&d, Format::Text)?;
            return Ok(Exit::Error);
        }
        Err(run::Failure::Other(e)) => return Err(e),
    };
    let plan = match &args.plan {
        Some(file) => {
            let saved = crate::plan::planfile::read(file)?;
            match run::replan_saved(desired, &planned, &saved, opts) {
                Ok(Ok(plan)) => plan,
                Ok(Err(e)) => anyhow::bail!("{}: {e}", file.display()),
                Err(run::Failure::Diagnostics(d)) => {
                    print_failure(&d, Format::Text)?;
                    return Ok(Exit::Error);
                }
                Err(run::Failure::Other(e)) => return Err(e),
            }
        }
        None => planned.plan,
    };
    if !plan.refusals.is_empty() {
        out!("{}", render_plan(&plan, Format::Text))?;
        print_refusals(&plan);
        return Ok(Exit::Error);
    }
    let mut state = planned
        .state
        .unwrap_or_else(|| crate::state::StateFile::new(uuid::Uuid::new_v4().to_string()));
    let upkeep = crate::plan::upkeep(desired, &planned.current, &planned.resolved, &state, opts);
    if plan.summary.has_changes() && args.plan.is_none() {
        out!("{}", render_plan(&plan, Format::Text))?;
        if !args.auto_approve && !confirm()? {
            outln!("Apply cancelled.")?;
            return Ok(Exit::Error);
        }
    }
    // What an earlier run did but could not record any more, and the like:
    // nothing to send, only to write down.
    if !upkeep.is_empty() {
        upkeep.apply_to(&mut state);
        state.serial += 1;
        run::save(backend, lock, &state).await?;
        for a in &upkeep.forget {
            errln!(
                "{}: forgotten (no longer declared, and nothing of it left to manage)",
                shown(a)
            );
        }
        for r in &upkeep.record {
            errln!(
                "{}: recorded (the tenant has it as declared)",
                shown(&r.address)
            );
        }
    }
    if !plan.summary.has_changes() {
        outln!("{}", crate::render::summary_line(&plan.summary))?;
        return Ok(Exit::Ok);
    }
    let sink = Arc::new(run::Sink {
        backend: backend.clone(),
        lock: lock.clone(),
    });
    let reporter = Arc::new(progress::for_apply(plan.changes.len()));
    let parallelism = session.graph.parallelism();
    let (report, _state) = crate::apply::apply(
        &plan,
        session.graph.clone(),
        state,
        sink,
        reporter.clone(),
        parallelism,
    )
    .await;
    reporter.finish();
    out!("{}", crate::render::apply_report(&report, &plan))?;
    Ok(if report.succeeded() {
        Exit::Ok
    } else {
        Exit::Error
    })
}
