//! The command line: arguments, and wiring them to the library. Every flag
//! is defined once here, with the help text users read.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, LoadOptions};
use crate::render::escape;

#[macro_use]
mod output;
#[cfg(feature = "emulator")]
pub mod emulator;
mod progress;
pub mod run;
mod selfservice;

#[derive(Debug, Parser)]
#[command(
    name = "pim",
    version,
    about = "Entra ID Privileged Identity Management as code",
    long_about = "Declare who is eligible for which Entra directory role, who holds it actively, and the \
                  rules of each role, in HCL files kept in git; plan and apply the difference through \
                  Microsoft Graph.",
    after_help = "Examples:\n  pim validate -C examples/contoso\n  pim fmt --check -C examples/contoso"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration without contacting the tenant.
    #[command(
        after_help = "Exit status: 0 when valid, 1 when not.\n\nExample:\n  pim validate -C examples/contoso --var approvers='[\"group:PIM Approvers\"]'"
    )]
    Validate(ConfigArgs),
    /// Rewrite configuration files in the canonical format.
    #[command(
        after_help = "Exit status: 0 when done (or nothing to change), 3 with --check when a file would change, 1 on error.\n\nExample:\n  pim fmt --check -C examples/contoso"
    )]
    Fmt(FmtArgs),
    /// Compare the configuration with the tenant and show what apply would change.
    #[command(
        after_help = "Exit status: 0 on success, 1 on error; with --detailed-exitcode, 2 when there are changes.\n\nExamples:\n  pim plan -C examples/contoso\n  pim plan --format markdown --detailed-exitcode > plan.md\n  pim plan --out plan.bin && pim show plan.bin"
    )]
    Plan(PlanArgs),
    /// Carry out a plan: a saved one, or one made now and confirmed.
    #[command(
        after_help = "Exit status: 0 when every step succeeded, 1 otherwise.\n\nExamples:\n  pim apply -C examples/contoso\n  pim plan --out plan.bin && pim apply --auto-approve plan.bin"
    )]
    Apply(ApplyArgs),
    /// Report what changed in the tenant outside of pim; changes nothing.
    #[command(
        after_help = "Exit status: 0 no drift, 2 drift, 1 error.\n\nExample:\n  pim drift -C examples/contoso --format json > drift.json"
    )]
    Drift(DriftArgs),
    /// Run the baseline hardening checks against configuration and tenant.
    #[command(
        after_help = "Exit status: 0 no findings (or findings without --strict), 1 with --strict when there are findings or on error.\n\nExample:\n  pim check -C examples/contoso --strict"
    )]
    Check(CheckArgs),
    /// Inspect and edit the state: list, show, rm, unlock.
    State(StateArgs),
    /// Take an existing schedule under management at a declared address.
    #[command(
        after_help = "Example:\n  pim import -C examples/contoso 'eligibility.alice_ga' 9a052863-5fda-5235-a905-4d4beba2e028"
    )]
    Import(ImportArgs),
    /// Write an existing tenant's grants and policies as configuration, with a matching state.
    #[command(
        after_help = "Example:\n  pim export --out pim --role \"Global Administrator\"\n  pim plan -C pim    # shows no changes"
    )]
    Export(ExportArgs),
    /// Show a saved plan.
    #[command(after_help = "Example:\n  pim show plan.bin --format markdown")]
    Show(ShowArgs),
    /// Activate a role you are eligible for, checked against the role's rules first.
    #[command(
        after_help = "Exit status: 0 activated (or waiting for approval), 1 error, 2 refused by the role's rules (nothing sent, or Graph said no), 3 --wait timed out, 4 denied, failed or canceled.\n\nExamples:\n  pim activate \"Global Administrator\" --duration PT2H --justification \"INC0042: restore mail flow\"\n  pim activate \"User Administrator\" --scope \"/administrativeUnits/Paris Office\" --ticket ServiceNow:INC0042 --wait"
    )]
    Activate(selfservice::ActivateArgs),
    /// End one of your activations early (not within 5 minutes of its start).
    #[command(
        after_help = "Exit status: 0 deactivated, 1 error, 2 refused (ActiveDurationTooShort within 5 minutes of activation, or nothing active).\n\nExample:\n  pim deactivate \"Global Administrator\""
    )]
    Deactivate(selfservice::DeactivateArgs),
    /// Ask the administrators to extend your eligibility or assignment before it ends.
    #[command(
        after_help = "Exit status: 0 asked, 1 error, 2 refused.\n\nExample:\n  pim extend \"Security Reader\" --duration P90D --justification \"Still on the SOC rota\""
    )]
    Extend(selfservice::ExtendArgs),
    /// Ask the administrators to renew your eligibility or assignment after it ended.
    #[command(
        after_help = "Exit status: 0 asked, 1 error, 2 refused.\n\nExample:\n  pim renew \"Global Reader\" --justification \"Back from leave\""
    )]
    Renew(selfservice::ExtendArgs),
    /// What you hold.
    #[command(subcommand)]
    My(selfservice::MyCommand),
    /// Schedule requests (yours with --mine), and cancel one still waiting.
    #[command(
        after_help = "Exit status: 0 on success, 1 on error.\n\nExamples:\n  pim requests --mine --status PendingApproval\n  pim requests cancel 6f2a…"
    )]
    Requests(selfservice::RequestsArgs),
    /// Serve a local, stateful Microsoft Graph PIM emulator.
    #[command(
        after_help = "Example:\n  pim emulator --seed examples/contoso/tenant.json --cert-out ca.pem\n  curl --cacert ca.pem -H \"Authorization: Bearer $(…)\" https://127.0.0.1:8443/v1.0/roleManagement/directory/roleDefinitions"
    )]
    #[cfg(feature = "emulator")]
    Emulator(emulator::EmulatorArgs),
}

/// Where the configuration is and what its variables are.
#[derive(Debug, Args)]
struct ConfigArgs {
    /// Directory holding the *.pim.hcl files.
    #[arg(short = 'C', long = "dir", value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Set a variable: --var name=value (HCL literals such as ["a"] or true are parsed; anything else is a string).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// Read variables from a file of name = value lines (HCL, or JSON when it ends in .json).
    #[arg(long = "var-file", value_name = "FILE")]
    var_files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct FmtArgs {
    /// Directory holding the *.pim.hcl files.
    #[arg(short = 'C', long = "dir", value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Change nothing; list the files that are not formatted and exit 3 if there are any.
    #[arg(long)]
    check: bool,
}

/// How output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Human-readable text, coloured on a terminal unless NO_COLOR is set.
    Text,
    /// JSON as documented in schemas/.
    Json,
    /// Markdown, for pull-request comments.
    Markdown,
}

/// How to reach the tenant.
#[derive(Debug, Args)]
struct TenantArgs {
    /// How to sign in: auto, client-secret, workload-identity, managed-identity or azure-cli.
    #[arg(long, value_name = "METHOD", default_value = "auto", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<crate::graph::AuthMethod>()))]
    auth: crate::graph::AuthMethod,
    /// Graph requests in flight at once (default 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    parallelism: Option<u16>,
}

#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    tenant: TenantArgs,
    /// Save the plan to FILE for `pim apply FILE` and `pim show FILE`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 2 when there are changes (0 when there are none, 1 on error).
    #[arg(long)]
    detailed_exitcode: bool,
    /// Renew grants that end within this ISO 8601 duration (default: the tenant block's renew_within, else P14D).
    #[arg(long, value_name = "DURATION")]
    renew_within: Option<crate::model::IsoDuration>,
    /// Refuse plans that remove more grants than this.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_removals: usize,
    /// Treat baseline check findings as errors.
    #[arg(long)]
    strict: bool,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    tenant: TenantArgs,
    /// A plan saved with `pim plan --out FILE`; refused if the configuration, state or tenant changed since.
    #[arg(value_name = "PLANFILE")]
    plan: Option<PathBuf>,
    /// Apply without asking for confirmation (required when not on a terminal).
    #[arg(long)]
    auto_approve: bool,
    /// Refuse plans that remove more grants than this (when planning now).
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_removals: usize,
}

#[derive(Debug, Args)]
struct DriftArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    tenant: TenantArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    tenant: TenantArgs,
    /// Exit 1 when there are findings.
    #[arg(long)]
    strict: bool,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Debug, Args)]
struct StateArgs {
    /// How to sign in to Azure Storage for azurerm state without a key or SAS token: auto, client-secret, workload-identity, managed-identity or azure-cli.
    #[arg(long, global = true, value_name = "METHOD", default_value = "auto", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<crate::graph::AuthMethod>()))]
    auth: crate::graph::AuthMethod,
    #[command(subcommand)]
    command: StateCommand,
}

#[derive(Debug, Subcommand)]
enum StateCommand {
    /// List the addresses pim manages.
    List(ConfigArgs),
    /// Show what the state records for one address.
    Show {
        #[command(flatten)]
        config: ConfigArgs,
        /// The address, as in eligibility.alice_ga or policy["Global Administrator"].
        address: String,
    },
    /// Forget an address, without touching the tenant.
    Rm {
        #[command(flatten)]
        config: ConfigArgs,
        address: String,
    },
    /// Break a stale lock on remote (azurerm) state, given the lock id its error names.
    Unlock {
        #[command(flatten)]
        config: ConfigArgs,
        id: String,
    },
}

#[derive(Debug, Args)]
struct ImportArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    tenant: TenantArgs,
    /// A declared eligibility or assignment address.
    address: String,
    /// The id of the tenant's schedule to adopt.
    schedule_id: String,
}

#[derive(Debug, Args)]
struct ExportArgs {
    #[command(flatten)]
    tenant: TenantArgs,
    /// Directory to write the *.pim.hcl files and pim.state.json into (must not hold configuration yet).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Take the connection settings (the tenant block) from the configuration in DIR.
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// Export only this role (repeatable); all roles with grants by default.
    #[arg(long = "role", value_name = "NAME")]
    roles: Vec<String>,
    /// Write every policy setting, not only those that differ from Microsoft's defaults.
    #[arg(long)]
    all_policy_settings: bool,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// A plan saved with `pim plan --out FILE`.
    #[arg(value_name = "PLANFILE")]
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Colour only for a terminal, and never when NO_COLOR is set.
fn use_colour() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn render_plan(plan: &crate::plan::Plan, format: Format) -> String {
    match format {
        Format::Text => crate::render::plan_text(plan, use_colour()),
        Format::Markdown => crate::render::plan_markdown(plan),
        Format::Json => {
            let mut s =
                serde_json::to_string_pretty(&crate::render::plan_json(plan)).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

fn show(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let plan = crate::plan::planfile::read(&args.file)?;
    out!("{}", render_plan(&plan, args.format))?;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Loads the configuration, printing diagnostics; `None` when invalid.
fn load_config(args: &ConfigArgs) -> Option<config::Desired> {
    match config::load(&args.dir, &args.load_options()) {
        Ok(d) => {
            for w in d.warnings.warnings() {
                errln!("{w}\n");
            }
            Some(d)
        }
        Err(e) => {
            errln!("{}", e.diagnostics());
            None
        }
    }
}

fn print_failure(diags: &config::Diagnostics, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        let v = crate::render::plan_json_errors(diags);
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
    }
    errln!("{diags}");
    let n = diags.errors().count();
    errln!(
        "\n{n} error{} found; nothing was planned.",
        if n == 1 { "" } else { "s" }
    );
    Ok(())
}

/// An address or location for people to read, escaped.
fn shown(x: &impl std::fmt::Display) -> String {
    escape::text(&x.to_string()).into_owned()
}

fn print_refusals(plan: &crate::plan::Plan) {
    for r in &plan.refusals {
        errln!("error: {}", crate::render::refusal_text(r));
    }
    errln!("\nThe plan is refused; nothing was saved or changed.");
}

fn plan_command(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let Some(desired) = load_config(&args.config) else {
        return Ok(ExitCode::from(1));
    };
    let mut opts = crate::plan::PlanOptions::at(chrono::Utc::now());
    if let Some(r) = args.renew_within.or(desired.tenant.renew_within) {
        opts.renew_within = r;
    }
    opts.max_removals = args.max_removals;
    let rt = runtime()?;
    rt.block_on(async {
        let session = run::connect(
            &desired,
            args.tenant.auth,
            args.tenant.parallelism.map(usize::from),
            // A saved plan is applied later: the emulated tenant must stay put.
            args.out.is_some(),
        )
        .await?;
        let backend = run::backend(&desired, args.tenant.auth)?;
        let planned = match run::make_plan(&session, &desired, &backend, &opts).await {
            Ok(p) => p,
            Err(run::Failure::Diagnostics(d)) => {
                print_failure(&d, args.format)?;
                return Ok(ExitCode::from(1));
            }
            Err(run::Failure::Other(e)) => return Err(e),
        };
        let mut plan = planned.plan;
        let findings = run::add_baseline(
            &desired,
            &planned.current,
            &planned.resolved,
            &mut plan,
            &opts,
        );
        // A refused plan is shown in full for review, never saved to apply.
        let refused = !plan.refusals.is_empty();
        if let Some(out) = args.out.as_ref().filter(|_| !refused) {
            crate::plan::planfile::write(out, &plan)?;
        }
        out!("{}", render_plan(&plan, args.format))?;
        if refused {
            print_refusals(&plan);
            return Ok(ExitCode::from(1));
        }
        if let Some(out) = &args.out {
            errln!(
                "Saved the plan to {}. Apply it with: {}",
                out.display(),
                apply_command_line(args, out)
            );
        }
        if args.strict && !findings.is_empty() {
            errln!(
                "error: {} baseline finding(s) with --strict",
                findings.len()
            );
            return Ok(ExitCode::from(1));
        }
        Ok(if args.detailed_exitcode && plan.summary.has_changes() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// The `pim apply` that takes the plan just saved, to run from the same
/// directory: the configuration is planned again and compared, so it needs
/// the same directory and variables, and the same sign-in.
fn apply_command_line(args: &PlanArgs, out: &Path) -> String {
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
fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn confirm() -> anyhow::Result<bool> {
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

fn apply_command(args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let Some(desired) = load_config(&args.config) else {
        return Ok(ExitCode::from(1));
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
async fn apply_locked(
    args: &ApplyArgs,
    desired: &config::Desired,
    opts: &crate::plan::PlanOptions,
    backend: &Arc<run::Backend>,
    lock: &Arc<run::Lock>,
) -> anyhow::Result<ExitCode> {
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
            return Ok(ExitCode::from(1));
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
                    return Ok(ExitCode::from(1));
                }
                Err(run::Failure::Other(e)) => return Err(e),
            }
        }
        None => planned.plan,
    };
    if !plan.refusals.is_empty() {
        out!("{}", render_plan(&plan, Format::Text))?;
        print_refusals(&plan);
        return Ok(ExitCode::from(1));
    }
    let mut state = planned
        .state
        .unwrap_or_else(|| crate::state::StateFile::new(uuid::Uuid::new_v4().to_string()));
    let upkeep = crate::plan::upkeep(desired, &planned.current, &planned.resolved, &state, opts);
    if plan.summary.has_changes() && args.plan.is_none() {
        out!("{}", render_plan(&plan, Format::Text))?;
        if !args.auto_approve && !confirm()? {
            outln!("Apply cancelled.")?;
            return Ok(ExitCode::from(1));
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
        return Ok(ExitCode::SUCCESS);
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
    let outcome = if report.succeeded() {
        "complete"
    } else {
        "failed"
    };
    outln!(
        "\nApply {outcome}: {} done, {} failed, {} not started.",
        report.done.len(),
        report.failed.len(),
        report.not_started.len()
    )?;
    for (address, action, error) in &report.failed {
        outln!(
            "  failed: {} ({action}): {}",
            shown(address),
            escape::text(error)
        )?;
        // Graph's refusal names a rule; the reader needs the line that caused it.
        if let Some(at) = plan
            .changes
            .iter()
            .find(|c| &c.address == address)
            .and_then(|c| c.origin.as_ref())
        {
            outln!("    declared at {}", shown(at))?;
        }
    }
    for (address, action) in &report.not_started {
        outln!("  not started: {} ({action})", shown(address))?;
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Plans without printing: what drift and check start from.
fn plan_quietly(
    config: &ConfigArgs,
    tenant: &TenantArgs,
    format: Format,
    then: impl AsyncFnOnce(
        &config::Desired,
        run::Planned,
        &crate::plan::PlanOptions,
    ) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    let Some(desired) = load_config(config) else {
        return Ok(ExitCode::from(1));
    };
    let mut opts = crate::plan::PlanOptions::at(chrono::Utc::now());
    if let Some(r) = desired.tenant.renew_within {
        opts.renew_within = r;
    }
    // Drift and check report; the removal guard is apply's concern.
    opts.max_removals = usize::MAX;
    runtime()?.block_on(async {
        let session = run::connect(
            &desired,
            tenant.auth,
            tenant.parallelism.map(usize::from),
            false,
        )
        .await?;
        let backend = run::backend(&desired, tenant.auth)?;
        match run::make_plan(&session, &desired, &backend, &opts).await {
            Ok(p) => then(&desired, p, &opts).await,
            Err(run::Failure::Diagnostics(d)) => {
                print_failure(&d, format)?;
                Ok(ExitCode::from(1))
            }
            Err(run::Failure::Other(e)) => Err(e),
        }
    })
}

fn drift_command(args: &DriftArgs) -> anyhow::Result<ExitCode> {
    let format = args.format;
    plan_quietly(
        &args.config,
        &args.tenant,
        format,
        async move |_desired, planned, _opts| {
            let report =
                crate::drift::report(&planned.plan, &planned.current, planned.state.as_ref());
            match format {
                Format::Text => out!("{}", crate::drift::render_text(&report))?,
                Format::Markdown => out!("{}", crate::drift::render_markdown(&report))?,
                Format::Json => outln!("{}", serde_json::to_string_pretty(&report)?)?,
            }
            Ok(if report.has_drift {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        },
    )
}

fn check_command(args: &CheckArgs) -> anyhow::Result<ExitCode> {
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
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        },
    )
}

fn parse_address(text: &str) -> anyhow::Result<crate::model::Address> {
    crate::model::Address::parse(text).ok_or_else(|| {
        anyhow::anyhow!("{text:?} is not an address; write eligibility.NAME, assignment.NAME[\"KEY\"] or policy[\"ROLE\"]")
    })
}

fn state_command(cmd: StateCommand, auth: crate::graph::AuthMethod) -> anyhow::Result<ExitCode> {
    let config = match &cmd {
        StateCommand::List(c) => c,
        StateCommand::Show { config, .. }
        | StateCommand::Rm { config, .. }
        | StateCommand::Unlock { config, .. } => config,
    };
    let Some(desired) = load_config(config) else {
        return Ok(ExitCode::from(1));
    };
    runtime()?.block_on(async {
        let backend = run::backend(&desired, auth)?;
        match &cmd {
            StateCommand::List(_) => {
                for r in run::load_state(&backend)
                    .await?
                    .map(|s| s.resources)
                    .unwrap_or_default()
                {
                    outln!("{}", shown(&r.address))?;
                }
            }
            StateCommand::Show { address, .. } => {
                let address = parse_address(address)?;
                let state = run::load_state(&backend)
                    .await?
                    .unwrap_or_else(|| crate::state::StateFile::new(String::new()));
                let r = state
                    .get(&address)
                    .ok_or_else(|| anyhow::anyhow!("{address} is not in the state"))?;
                outln!("{}", serde_json::to_string_pretty(r)?)?;
            }
            StateCommand::Rm { address, .. } => {
                let address = parse_address(address)?;
                let lock = run::lock(&backend, "state rm").await?;
                let result = async {
                    let mut state = run::load_state(&backend)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("there is no state yet"))?;
                    let before = state.resources.len();
                    state.resources.retain(|r| r.address != address);
                    if state.resources.len() == before {
                        anyhow::bail!("{address} is not in the state");
                    }
                    state.serial += 1;
                    run::save(&backend, &lock, &state).await?;
                    outln!(
                        "Removed {} from the state; the tenant was not changed.",
                        shown(&address)
                    )?;
                    Ok(())
                }
                .await;
                run::unlock(lock).await?;
                result?;
            }
            StateCommand::Unlock { id, .. } => {
                let info = backend.force_unlock(id).await?;
                outln!("Broke the lock held by {info}.")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn import_command(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let Some(desired) = load_config(&args.config) else {
        return Ok(ExitCode::from(1));
    };
    let address = parse_address(&args.address)?;
    let declared = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .find(|d| d.address == address)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{address} is not declared in {}; declare it first",
                args.config.dir.display()
            )
        })?;
    runtime()?.block_on(async {
        // The lock first: what is read of the tenant must not race an apply.
        let backend = run::backend(&desired, args.tenant.auth)?;
        let lock = run::lock(&backend, "import").await?;
        let result = import_locked(args, &desired, declared, &backend, &lock).await;
        run::unlock(lock).await?;
        result
    })
}

async fn import_locked(
    args: &ImportArgs,
    desired: &config::Desired,
    declared: &config::Declared<crate::model::Assignment>,
    backend: &run::Backend,
    lock: &run::Lock,
) -> anyhow::Result<ExitCode> {
    let address = &declared.address;
    let parallelism = args.tenant.parallelism.map(usize::from);
    let session = run::connect(desired, args.tenant.auth, parallelism, true).await?;
    let (resolved, current) = match run::read_tenant(&session, desired).await {
        Ok(x) => x,
        Err(run::Failure::Diagnostics(d)) => {
            print_failure(&d, Format::Text)?;
            return Ok(ExitCode::from(1));
        }
        Err(run::Failure::Other(e)) => return Err(e),
    };
    let grant = current
        .grants
        .iter()
        .find(|g| g.schedule_id.eq_ignore_ascii_case(&args.schedule_id))
        .ok_or_else(|| anyhow::anyhow!("the tenant has no schedule {}", args.schedule_id))?;
    let a = &declared.item;
    let want = (
        a.kind,
        resolved
            .principal(&a.principal)
            .map(|p| p.to_ascii_lowercase()),
        resolved.role(&a.role).map(|r| r.to_ascii_lowercase()),
        resolved.scope(&a.scope),
    );
    let have = (
        grant.kind,
        Some(grant.principal_id.to_ascii_lowercase()),
        Some(grant.role_id.to_ascii_lowercase()),
        Some(grant.scope_id.clone()),
    );
    if want != have {
        anyhow::bail!(
            "schedule {} is not what {address} declares (kind, principal, role and scope must match)",
            grant.schedule_id
        );
    }
    let mut state = run::load_state(backend)
        .await?
        .unwrap_or_else(|| crate::state::StateFile::new(uuid::Uuid::new_v4().to_string()));
    if state.get(address).is_some() {
        anyhow::bail!("{address} is already managed; remove it with pim state rm first");
    }
    state.resources.push(crate::state::Resource {
        address: address.clone(),
        kind: Some(grant.kind),
        schedule_id: Some(grant.schedule_id.clone()),
        request_id: grant.created_using.clone(),
        principal_id: grant.principal_id.clone(),
        role_id: grant.role_id.clone(),
        scope_id: grant.scope_id.clone(),
        attributes: serde_json::json!({ "imported": true }),
    });
    state.resources.sort_by_key(|r| r.address.to_string());
    state.serial += 1;
    run::save(backend, lock, &state).await?;
    outln!(
        "Imported {} as {}.",
        escape::text(&grant.schedule_id),
        shown(address)
    )?;
    Ok(ExitCode::SUCCESS)
}

fn export_command(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let source = match &args.from {
        Some(dir) => match load_config(&ConfigArgs {
            dir: dir.clone(),
            vars: Vec::new(),
            var_files: Vec::new(),
        }) {
            Some(d) => d,
            None => return Ok(ExitCode::from(1)),
        },
        None => config::load_sources(
            &args.out,
            vec![(args.out.join("export.pim.hcl"), String::new())],
            &LoadOptions::at(chrono::Utc::now()),
        )
        .map_err(|e| anyhow::anyhow!("{}", e.diagnostics()))?,
    };
    if std::fs::read_dir(&args.out).is_ok_and(|mut d| {
        d.any(|e| {
            e.is_ok_and(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(config::FILE_SUFFIX)
                    || e.file_name() == "pim.state.json"
            })
        })
    }) {
        anyhow::bail!(
            "{} already holds configuration or state; export into an empty directory",
            args.out.display()
        );
    }
    let t = &source.tenant;
    let mut tenant_block: Vec<(String, String)> = Vec::new();
    let q = |s: &str| format!("{s:?}");
    if let Some(id) = &t.id {
        tenant_block.push(("id".into(), q(id)));
    }
    if let Some(e) = &t.emulator {
        tenant_block.push((
            "emulator".into(),
            q(&std::fs::canonicalize(e)
                .unwrap_or_else(|_| e.clone())
                .display()
                .to_string()),
        ));
    }
    for (k, v) in [
        ("graph_url", &t.graph_url),
        ("authority_host", &t.authority_host),
    ] {
        if let Some(v) = v {
            tenant_block.push((k.into(), q(v)));
        }
    }
    runtime()?.block_on(async {
        use crate::graph::Graph as _;
        let session = run::connect(
            &source,
            args.tenant.auth,
            args.tenant.parallelism.map(usize::from),
            true,
        )
        .await?;
        let mut current = crate::snapshot::read(
            session.graph.as_ref(),
            &crate::snapshot::ReadOptions::default(),
        )
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
        // Approvers are named like holders, so fetch any the snapshot did not need.
        let missing: Vec<String> = current
            .policies
            .values()
            .filter_map(|p| p.rules.approval())
            .flat_map(|a| {
                a.stages
                    .iter()
                    .flat_map(|s| s.primary_approvers.iter().map(|ap| ap.id().to_string()))
            })
            .filter(|id| !current.principals.contains_key(id))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            for p in session
                .graph
                .principals_by_ids(&missing)
                .await
                .map_err(|e| anyhow::anyhow!(e))?
            {
                current.principals.insert(p.id.clone(), p);
            }
        }
        let opts = crate::export::ExportOptions {
            roles: args.roles.clone(),
            all_policy_settings: args.all_policy_settings,
            tenant_block,
        };
        let out = crate::export::export(&current, &crate::graph::default_rule_set(), &opts);
        std::fs::create_dir_all(&args.out)?;
        for (name, text) in &out.files {
            std::fs::write(args.out.join(name), text)?;
        }
        crate::state::LocalBackend::new(args.out.join("pim.state.json")).save(&out.state)?;
        // An embedded emulator's tenant goes along, so the export manages the same tenant.
        let data = source.dir.join(".pim-emulator.json");
        if source.tenant.emulator.is_some() && data.exists() {
            std::fs::copy(&data, args.out.join(".pim-emulator.json"))?;
        }
        outln!(
            "Exported {} grants in {} files to {}. Check it with: pim plan -C {}",
            out.state.resources.len(),
            out.files.len(),
            args.out.display(),
            args.out.display()
        )?;
        Ok(ExitCode::SUCCESS)
    })
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))?;
    if name.trim().is_empty() {
        return Err(format!("no variable name in {s:?}"));
    }
    Ok((name.trim().to_string(), value.to_string()))
}

impl ConfigArgs {
    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            now: chrono::Utc::now(),
            vars: self.vars.clone(),
            var_files: self.var_files.clone(),
            env: std::env::vars()
                .filter(|(k, _)| k.starts_with("PIM_VAR_"))
                .collect(),
        }
    }
}

/// Runs the command line and returns the process exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(e) if output::is_stdout_closed(&e) => ExitCode::from(output::STDOUT_CLOSED),
        Err(e) => {
            // Errors quote addresses and Graph's messages; pim's own line
            // breaks stay.
            errln!("error: {}", escape::lines(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

/// Prints clap's help, version or usage error (help and version on stdout,
/// errors on stderr). Clap would exit 2 on an error, but 2 means changes,
/// drift or refused to pim's callers: an error must be 1, so a script
/// testing for 2 never takes a mistyped flag for a result.
fn usage(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    // Nothing better to do if the terminal is gone.
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

/// Diagnostics on stderr: warnings (retries given up, a connection lost after
/// a write, a lock not released) by default; `PIM_LOG=info|debug|trace` for
/// more, `PIM_LOG=off` for none. Tokens and secrets are never logged.
fn init_logging() {
    let level = match std::env::var("PIM_LOG").ok().as_deref().map(str::trim) {
        Some("off") => tracing_subscriber::filter::LevelFilter::OFF,
        Some("error") => tracing_subscriber::filter::LevelFilter::ERROR,
        Some("info") => tracing_subscriber::filter::LevelFilter::INFO,
        Some("debug") => tracing_subscriber::filter::LevelFilter::DEBUG,
        Some("trace") => tracing_subscriber::filter::LevelFilter::TRACE,
        _ => tracing_subscriber::filter::LevelFilter::WARN,
    };
    // A second initialisation (none in pim itself) is harmless: ignore it.
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate(&args),
        Command::Fmt(args) => fmt(&args.dir, args.check),
        Command::Plan(args) => plan_command(&args),
        Command::Apply(args) => apply_command(&args),
        Command::Drift(args) => drift_command(&args),
        Command::Check(args) => check_command(&args),
        Command::State(args) => state_command(args.command, args.auth),
        Command::Import(args) => import_command(&args),
        Command::Export(args) => export_command(&args),
        Command::Show(args) => show(&args),
        Command::Activate(args) => selfservice::activate(&args),
        Command::Deactivate(args) => selfservice::deactivate(&args),
        Command::Extend(args) => selfservice::extend(&args, false),
        Command::Renew(args) => selfservice::extend(&args, true),
        Command::My(cmd) => selfservice::my(&cmd),
        Command::Requests(args) => selfservice::requests(&args),
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => emulator::run(args),
    }
}

fn validate(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    match config::load(&args.dir, &args.load_options()) {
        Ok(desired) => {
            for w in desired.warnings.warnings() {
                errln!("{w}\n");
            }
            outln!("Valid: {}.", desired.summary())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let diags = e.diagnostics();
            errln!("{diags}");
            let n = diags.errors().count();
            errln!(
                "\n{n} error{} in {}",
                if n == 1 { "" } else { "s" },
                args.dir.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn fmt(dir: &Path, check: bool) -> anyhow::Result<ExitCode> {
    let changed = config::fmt::format_dir(dir, !check)
        .with_context(|| format!("formatting {}", dir.display()))?;
    for path in &changed {
        outln!("{}", shown(&path.display()))?;
    }
    Ok(if check && !changed.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
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
