//! `pim check`: the baseline findings of configuration and tenant.

use super::args::*;
use super::*;

pub(super) fn check_command(args: &CheckArgs) -> anyhow::Result<Exit> {
    let (format, strict) = (args.format, args.strict);
    plan_quietly(
        &args.config,
        &args.tenant,
        format,
        async move |desired, planned, opts, _session| {
            let findings = planned.baseline(desired, opts);
            if format == Format::Json {
                outln!("{}", crate::render::findings_json(&findings)?)?;
            } else {
                out!("{}", crate::render::findings_text(&findings, strict))?;
            }
            Ok(if strict && !findings.is_empty() {
                Exit::Error
            } else {
                Exit::Ok
            })
        },
    )
}
