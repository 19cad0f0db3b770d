//! `pim drift`: what changed in the tenant outside pim, and `--acknowledge`
//! to take the new findings as known.

use super::args::*;
use super::*;
use crate::drift::DriftReport;
use crate::pipeline::Planned;

pub(super) fn drift_command(args: &DriftArgs) -> anyhow::Result<Exit> {
    let (format, acknowledge, auth) = (args.format, args.acknowledge, args.tenant.auth);
    plan_quietly(
        &args.config,
        &args.tenant,
        format,
        async move |desired, planned, opts, session| {
            let mut report = planned.drift(desired);
            if acknowledge {
                return acknowledge_findings(desired, &planned, &report, opts.now, auth).await;
            }
            for problem in
                crate::drift::attribute(session.graph.as_ref(), &mut report, &planned.current).await
            {
                errln!("warning: {problem}");
            }
            match format {
                Format::Text => out!(
                    "{}",
                    crate::render::drift_text(&report, colour::stdout().colour)
                )?,
                Format::Markdown => out!("{}", crate::render::drift_markdown(&report))?,
                Format::Json => outln!("{}", serde_json::to_string_pretty(&report)?)?,
            }
            Ok(if report.has_drift {
                Exit::Drift
            } else {
                Exit::Ok
            })
        },
    )
}

/// Records the report's new findings as known, under the state's lock, if
/// the state is still the one the report was made against.
async fn acknowledge_findings(
    desired: &config::Desired,
    planned: &Planned,
    report: &DriftReport,
    now: chrono::DateTime<chrono::Utc>,
    auth: crate::graph::AuthMethod,
) -> anyhow::Result<Exit> {
    let backend = run::backend(desired, auth)?;
    let lock = backend.lock("drift --acknowledge").await?;
    let result = async {
        let mut state = backend
            .load()
            .await?
            .unwrap_or_else(crate::state::StateFile::new_lineage);
        if let Some(read) = &planned.state
            && (read.lineage != state.lineage || read.serial != state.serial)
        {
            anyhow::bail!(
                "the state changed while drift read the tenant (an apply ran?): run pim drift --acknowledge again"
            );
        }
        let acknowledged = report.acknowledge(&state, now);
        let new: Vec<_> = report.findings().filter(|f| f.new && !f.exclusive).collect();
        let exclusive = report.findings().filter(|f| f.new && f.exclusive).count();
        if acknowledged != state.acknowledged {
            state.acknowledged = acknowledged;
            state.serial += 1;
            backend.save(&lock, &state).await?;
        }
        outln!(
            "Acknowledged {} new finding{}: pim drift reports {} as known until {} change{}.",
            new.len(),
            if new.len() == 1 { "" } else { "s" },
            if new.len() == 1 { "it" } else { "them" },
            if new.len() == 1 { "it" } else { "they" },
            if new.len() == 1 { "s" } else { "" },
        )?;
        if exclusive > 0 {
            outln!(
                "{exclusive} holder{} of exclusive roles {} still drift: declare {}, or apply to remove {}.",
                if exclusive == 1 { "" } else { "s" },
                if exclusive == 1 { "is" } else { "are" },
                if exclusive == 1 { "it" } else { "them" },
                if exclusive == 1 { "it" } else { "them" },
            )?;
        }
        Ok(Exit::Ok)
    }
    .await;
    let released = lock.release().await;
    let code = result?;
    released?;
    Ok(code)
}
