//! The command line: `args` defines every command and flag, each command has
//! a file of its own (parse, call the library, render), and this module
//! holds what they share and the entry point.

use std::process::ExitCode;

use clap::Parser;

use crate::config::{self, LoadOptions};
use crate::pipeline::{PipelineError, Planned};
use crate::render::escape;

#[macro_use]
mod output;
mod colour;
#[cfg(feature = "emulator")]
pub mod emulator;
mod progress;
pub mod run;
mod selfservice;

mod apply;
mod args;
mod check;
mod drift;
mod exit;
mod export;
mod import;
mod offline;
mod plan;
mod state;

pub use args::Cli;
use args::*;
pub use exit::Exit;

fn render_plan(plan: &crate::plan::Plan, format: Format) -> String {
    match format {
        Format::Text => crate::render::plan_text(plan, colour::stdout().colour),
        Format::Markdown => crate::render::plan_markdown(plan),
        Format::Json => {
            let mut s =
                serde_json::to_string_pretty(&crate::render::plan_json(plan)).unwrap_or_default();
            s.push('\n');
            s
        }
    }
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
                errln!("{}\n", w.render(colour::stderr()));
            }
            Some(d)
        }
        Err(e) => {
            errln!("{}", e.diagnostics().render(colour::stderr()));
            None
        }
    }
}

fn print_failure(diags: &config::Diagnostics, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        let v = crate::render::plan_json_errors(diags);
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
    }
    errln!("{}", diags.render(colour::stderr()));
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
        errln!(
            "{}: {}",
            colour::stderr().error("error"),
            crate::render::refusal_text(r)
        );
    }
    errln!("\nThe plan is refused; nothing was saved or changed.");
}

/// Plans without printing: what drift and check start from.
fn plan_quietly(
    config: &ConfigArgs,
    tenant: &TenantArgs,
    format: Format,
    then: impl AsyncFnOnce(
        &config::Desired,
        Planned,
        &crate::plan::PlanOptions,
        &run::Session,
    ) -> anyhow::Result<Exit>,
) -> anyhow::Result<Exit> {
    let Some(desired) = load_config(config) else {
        return Ok(Exit::Error);
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
        match crate::pipeline::make_plan(session.graph.as_ref(), &desired, &backend, &opts).await {
            Ok(p) => then(&desired, p, &opts, &session).await,
            Err(PipelineError::Invalid(d)) => {
                print_failure(&d, format)?;
                Ok(Exit::Error)
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// Runs the command line and returns the process exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    colour::choose(cli.color);
    init_logging();
    let exit = match run(cli) {
        Ok(exit) => exit,
        Err(e) if output::is_stdout_closed(&e) => Exit::StdoutClosed,
        Err(e) => {
            // Errors quote addresses and Graph's messages; pim's own line
            // breaks stay.
            errln!(
                "{}: {}",
                colour::stderr().error("error"),
                escape::lines(&format!("{e:#}"))
            );
            Exit::Error
        }
    };
    exit.into()
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
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Exit::Ok,
        _ => Exit::Error,
    }
    .into()
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
        .with_ansi(colour::stderr().colour)
        .with_target(false)
        .without_time()
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Validate(args) => offline::validate(&args),
        Command::Fmt(args) => offline::fmt(&args.dir, args.check),
        Command::Plan(args) => plan::plan_command(&args),
        Command::Apply(args) => apply::apply_command(&args),
        Command::Drift(args) => drift::drift_command(&args),
        Command::Check(args) => check::check_command(&args),
        Command::State(args) => state::state_command(args.command, args.auth),
        Command::Import(args) => import::import_command(&args),
        Command::Export(args) => export::export_command(&args),
        Command::Show(args) => offline::show(&args),
        Command::Activate(args) => selfservice::activate(&args),
        Command::Deactivate(args) => selfservice::deactivate(&args),
        Command::Extend(args) => selfservice::extend(&args, false),
        Command::Renew(args) => selfservice::extend(&args, true),
        Command::My(cmd) => selfservice::my(&cmd),
        Command::Requests(args) => selfservice::requests(&args),
        Command::Approvals(args) => selfservice::approvals(&args),
        Command::Approve(args) => selfservice::decide(&args, true),
        Command::Deny(args) => selfservice::decide(&args, false),
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => emulator::run(args),
    }
}
