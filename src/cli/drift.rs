//! `pim drift`: what changed in the tenant outside pim.

use super::args::*;
use super::*;

pub(super) fn drift_command(args: &DriftArgs) -> anyhow::Result<Exit> {
    let format = args.format;
    plan_quietly(
        &args.config,
        &args.tenant,
        format,
        async move |_desired, planned, _opts| {
            let report = planned.drift();
            match format {
                Format::Text => out!("{}", crate::drift::render_text(&report))?,
                Format::Markdown => out!("{}", crate::drift::render_markdown(&report))?,
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
