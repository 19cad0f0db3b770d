//! `pim check`: the baseline findings of configuration and tenant.

use super::args::*;
use super::*;

pub(super) fn check_command(args: &CheckArgs) -> anyhow::Result<Exit> {
    let (format, strict) = (args.format, args.strict);
    plan_quietly(
        &args.config,
        &args.tenant,
        format,
        async move |desired, planned, opts| {
            let effective =
                crate::plan::effective_policies(desired, &planned.current, &planned.resolved, opts);
            let names = |id: &str| {
                planned
                    .current
                    .roles
                    .get(id)
                    .map_or_else(|| id.to_string(), |r| r.display_name.clone())
            };
            let findings = crate::check::baseline(
                desired,
                &planned.resolved,
                &effective,
                &planned.plan.unmanaged,
                &names,
            );
            if format == Format::Json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "findings": findings }))?
                )?;
            } else if findings.is_empty() {
                outln!("No findings: the configuration meets the baseline.")?;
            } else {
                let label = if strict { "error" } else { "warning" };
                for f in &findings {
                    outln!("{label}: {f}")?;
                }
                outln!(
                    "\n{} finding{}.",
                    findings.len(),
                    if findings.len() == 1 { "" } else { "s" }
                )?;
            }
            Ok(if strict && !findings.is_empty() {
                Exit::Error
            } else {
                Exit::Ok
            })
        },
    )
}
