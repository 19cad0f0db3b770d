//! `pim plan`: plan, show, save, and say how to apply what was saved.

use std::path::Path;

use super::args::*;
use super::*;

pub(super) fn plan_command(args: &PlanArgs) -> anyhow::Result<Exit> {
    let Some(desired) = load_config(&args.config) else {
        return Ok(Exit::Error);
    };
    let mut opts = crate::plan::PlanOptions::at(chrono::Utc::now());
    if let Some(r) = args.renew_within.or(desired.tenant.renew_within) {
        opts.renew_within = r;
    }
    opts.max_removals = args.max_removals;
    let rt = runtime()?;
    let exit = rt.block_on(async {
        let session = run::connect(
            &desired,
            args.tenant.auth,
            args.tenant.parallelism.map(usize::from),
            // A saved plan is applied later: the emulated tenant must stay put.
            args.out.is_some(),
        )
        .await?;
        let backend = run::backend(&desired, args.tenant.auth)?;
        let mut planned =
            match crate::pipeline::make_plan(session.graph.as_ref(), &desired, &backend, &opts)
                .await
            {
                Ok(p) => p,
                Err(PipelineError::Invalid(d)) => {
                    print_failure(&d, args.format)?;
                    return Ok(Exit::Error);
                }
                Err(e) => return Err(e.into()),
            };
        let findings = planned.add_baseline(&desired, &opts);
        let exit = show_plan(args, &planned.plan, findings.len());
        leave_for_exit(planned);
        exit
    });
    leave_for_exit(desired);
    exit
}

/// Prints (and saves) the plan; the exit it calls for.
fn show_plan(args: &PlanArgs, plan: &crate::plan::Plan, findings: usize) -> anyhow::Result<Exit> {
    // A refused plan is shown in full for review, never saved to apply.
    let refused = !plan.refusals.is_empty();
    if let Some(out) = args.out.as_ref().filter(|_| !refused) {
        crate::plan::planfile::write(out, plan)?;
    }
    out!("{}", render_plan(plan, args.format))?;
    if refused {
        print_refusals(plan);
        return Ok(Exit::Error);
    }
    if let Some(out) = &args.out {
        errln!(
            "Saved the plan to {}. Apply it with: {}",
            out.display(),
            apply_command_line(args, out)
        );
    }
    if args.strict && findings > 0 {
        errln!("error: {findings} baseline finding(s) with --strict");
        return Ok(Exit::Error);
    }
    Ok(if args.detailed_exitcode && plan.summary.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// Leaves a value the command is done with to the end of the process, not
/// freed: `pim plan` ends right after, and freeing a large tenant's
/// snapshot and plan one allocation at a time took about 50 ms of its wall
/// time at 50,000 schedules (bench_run), for memory the exit returns anyway.
fn leave_for_exit<T>(value: T) {
    std::mem::forget(value);
}

/// The `pim apply` that takes the plan just saved, to run from the same
/// directory: the configuration is planned again and compared, so it needs
/// the same directory and variables, and the same sign-in.
pub(super) fn apply_command_line(args: &PlanArgs, out: &Path) -> String {
    let mut words = vec!["pim".to_string(), "apply".to_string()];
    if args.config.dir != Path::new(".") {
        words.push("-C".into());
        words.push(shell_quote(&args.config.dir.to_string_lossy()));
    }
    for (name, value) in &args.config.vars {
        words.push("--var".into());
        words.push(shell_quote(&format!("{name}={value}")));
    }
    for file in &args.config.var_files {
        words.push("--var-file".into());
        words.push(shell_quote(&file.to_string_lossy()));
    }
    if args.tenant.auth != crate::graph::AuthMethod::Auto {
        words.push("--auth".into());
        words.push(args.tenant.auth.as_str().into());
    }
    words.push(shell_quote(&out.to_string_lossy()));
    words.join(" ")
}

/// `s` as one word for a POSIX shell.
pub(super) fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("plan.bin"), "plan.bin");
        assert_eq!(shell_quote("../pim/prod-1"), "../pim/prod-1");
        assert_eq!(shell_quote("my plans/p.bin"), "'my plans/p.bin'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            shell_quote("approvers=[\"group:PIM Approvers\"]"),
            "'approvers=[\"group:PIM Approvers\"]'"
        );
    }

    #[test]
    fn the_apply_hint_repeats_what_the_plan_depends_on() {
        let cli = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Plan(p)) => p,
            other => panic!("{other:?}"),
        };
        let hint = |args: &[&str]| {
            let p = cli(args);
            apply_command_line(&p, p.out.as_deref().unwrap_or(Path::new("")))
        };
        assert_eq!(
            hint(&["pim", "plan", "--out", "plan.bin"]),
            "pim apply plan.bin"
        );
        assert_eq!(
            hint(&["pim", "plan", "-C", "./", "--out", "plan.bin"]),
            "pim apply plan.bin"
        );
        assert_eq!(
            hint(&[
                "pim",
                "plan",
                "-C",
                "tenants/prod east",
                "--var",
                "approvers=[\"group:A\"]",
                "--var-file",
                "prod.vars",
                "--auth",
                "azure-cli",
                "--out",
                "out/plan.bin",
            ]),
            "pim apply -C 'tenants/prod east' --var 'approvers=[\"group:A\"]' --var-file prod.vars --auth azure-cli out/plan.bin"
        );
    }
}
