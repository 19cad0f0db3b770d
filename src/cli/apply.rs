//! `pim apply`: plan (or take a saved plan), confirm, carry it out, report.

use std::sync::Arc;

use super::args::*;
use super::*;
use crate::config;
use crate::pipeline::{self, SavedPlanError};
use crate::state::{Backend, Lock, StateFile};

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
        let lock = Arc::new(backend.lock("apply").await?);
        let result = apply_locked(args, &desired, &opts, &backend, &lock).await;
        let unlocked = match Arc::try_unwrap(lock) {
            Ok(lock) => lock.release().await,
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
    backend: &Arc<dyn Backend>,
    lock: &Arc<Lock>,
) -> anyhow::Result<Exit> {
    let session = run::connect(
        desired,
        args.tenant.auth,
        args.tenant.parallelism.map(usize::from),
        true,
    )
    .await?;
    let mut planned =
        match pipeline::make_plan(session.graph.as_ref(), desired, backend, opts).await {
            Ok(p) => p,
            Err(PipelineError::Invalid(d)) => {
                print_failure(&d, Format::Text)?;
                return Ok(Exit::Error);
            }
            Err(e) => return Err(e.into()),
        };
    let replanned = match &args.plan {
        Some(file) => {
            let saved = crate::plan::planfile::read(file)?;
            match pipeline::replan_saved(desired, &planned, &saved, opts) {
                Ok(plan) => Some(plan),
                Err(SavedPlanError::Invalid(d)) => {
                    print_failure(&d, Format::Text)?;
                    return Ok(Exit::Error);
                }
                Err(e) => anyhow::bail!("{}: {e}", file.display()),
            }
        }
        None => None,
    };
    let mut state = planned.state.take().unwrap_or_else(StateFile::new_lineage);
    let upkeep = planned.upkeep(desired, &state, opts);
    let plan = replanned.unwrap_or(planned.plan);
    if !plan.refusals.is_empty() {
        out!("{}", render_plan(&plan, Format::Text))?;
        print_refusals(&plan);
        return Ok(Exit::Error);
    }
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
        pipeline::record_upkeep(backend.as_ref(), lock, &mut state, &upkeep).await?;
        errln!("{}", crate::render::upkeep_text(&upkeep));
    }
    if !plan.summary.has_changes() {
        outln!("{}", crate::render::summary_line(&plan.summary))?;
        return Ok(Exit::Ok);
    }
    let sink = Arc::new(pipeline::BackendSink {
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
    out!(
        "{}",
        crate::render::apply_report(&report, &plan, colour::stdout())
    )?;
    Ok(if report.succeeded() {
        Exit::Ok
    } else {
        Exit::Error
    })
}
