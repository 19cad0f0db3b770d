//! The command line's vocabulary: every command and flag, defined once,
//! with the help text users read.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[cfg(feature = "emulator")]
use super::emulator;
use super::selfservice;
use crate::config::LoadOptions;

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
    pub(super) command: Command,
    /// Colour the output: auto (on a terminal, unless NO_COLOR is set; always with CLICOLOR_FORCE or FORCE_COLOR), always or never.
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub(super) color: super::colour::ColorChoice,
}

#[derive(Debug, Subcommand)]
pub(super) enum Command {
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
        after_help = "Exit status: 0 nothing new, 2 new drift, 1 error; with --acknowledge, 0 once recorded.\n\nExamples:\n  pim drift -C examples/contoso --format json > drift.json\n  pim drift -C examples/contoso --acknowledge"
    )]
    Drift(DriftArgs),
    /// Run the baseline hardening checks against configuration and tenant.
    #[command(
        after_help = "Exit status: 0 no findings (or findings without --strict), 1 with --strict when there are findings or on error.\n\nExamples:\n  pim check -C examples/contoso --strict\n  pim check --offline --strict    # the checks that need only the configuration, without signing in"
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
        after_help = "Examples:\n  pim export --out pim --role \"Global Administrator\"\n  pim plan -C pim    # shows no changes\n  pim export --out pim --azure-scope /subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34"
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
    /// Activation requests waiting for your approval.
    #[command(
        after_help = "Exit status: 0 on success, 1 on error.\n\nExample:\n  pim approvals --format json"
    )]
    Approvals(selfservice::ApprovalsArgs),
    /// Approve an activation request waiting for you (PIM for Groups; Azure roles with --azure-approvals-preview; Graph v1.0 cannot decide directory roles').
    #[command(
        after_help = "Exit status: 0 approved, 1 error (not waiting for you, decided by another approver, or a directory role's request).\n\nExample:\n  pim approve 6f2a… --justification \"On call for INC0042\""
    )]
    Approve(selfservice::DecideArgs),
    /// Deny an activation request waiting for you (PIM for Groups; Azure roles with --azure-approvals-preview).
    #[command(
        after_help = "Exit status: 0 denied, 1 error.\n\nExample:\n  pim deny 6f2a… --justification \"No change ticket\""
    )]
    Deny(selfservice::DecideArgs),
    /// Serve a local, stateful Microsoft Graph PIM emulator.
    #[command(
        after_help = "Example:\n  pim emulator --seed examples/contoso/tenant.json --cert-out ca.pem\n  curl --cacert ca.pem -H \"Authorization: Bearer $(…)\" https://127.0.0.1:8443/v1.0/roleManagement/directory/roleDefinitions"
    )]
    #[cfg(feature = "emulator")]
    Emulator(emulator::EmulatorArgs),
}

/// Where the configuration is and what its variables are.
#[derive(Debug, Args)]
pub(super) struct ConfigArgs {
    /// Directory holding the *.pim.hcl files.
    #[arg(short = 'C', long = "dir", value_name = "DIR", default_value = ".")]
    pub(super) dir: PathBuf,
    /// Set a variable: --var name=value (HCL literals such as ["a"] or true are parsed; anything else is a string).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub(super) vars: Vec<(String, String)>,
    /// Read variables from a file of name = value lines (HCL, or JSON when it ends in .json).
    #[arg(long = "var-file", value_name = "FILE")]
    pub(super) var_files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct FmtArgs {
    /// Directory holding the *.pim.hcl files.
    #[arg(short = 'C', long = "dir", value_name = "DIR", default_value = ".")]
    pub(super) dir: PathBuf,
    /// Change nothing; list the files that are not formatted and exit 3 if there are any.
    #[arg(long)]
    pub(super) check: bool,
}

/// How output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Format {
    /// Human-readable text, coloured on a terminal (see --color).
    Text,
    /// JSON as documented in schemas/.
    Json,
    /// Markdown, for pull-request comments.
    Markdown,
}

/// How to reach the tenant.
#[derive(Debug, Args)]
pub(super) struct TenantArgs {
    /// How to sign in: auto, client-secret, workload-identity, managed-identity or azure-cli.
    #[arg(long, value_name = "METHOD", default_value = "auto", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<crate::graph::AuthMethod>()))]
    pub(super) auth: crate::graph::AuthMethod,
    /// Graph requests in flight at once (default 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(super) parallelism: Option<u16>,
}

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    #[command(flatten)]
    pub(super) config: ConfigArgs,
    #[command(flatten)]
    pub(super) tenant: TenantArgs,
    /// Save the plan to FILE for `pim apply FILE` and `pim show FILE`.
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: Format,
    /// Exit 2 when there are changes (0 when there are none, 1 on error).
    #[arg(long)]
    pub(super) detailed_exitcode: bool,
    /// Renew grants that end within this ISO 8601 duration (default: the tenant block's renew_within, else P14D).
    #[arg(long, value_name = "DURATION")]
    pub(super) renew_within: Option<crate::model::IsoDuration>,
    /// Refuse plans that remove more grants than this.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(super) max_removals: usize,
    /// Treat baseline check findings as errors.
    #[arg(long)]
    pub(super) strict: bool,
}

#[derive(Debug, Args)]
pub(super) struct ApplyArgs {
    #[command(flatten)]
    pub(super) config: ConfigArgs,
    #[command(flatten)]
    pub(super) tenant: TenantArgs,
    /// A plan saved with `pim plan --out FILE`; refused if the configuration, state or tenant changed since.
    #[arg(value_name = "PLANFILE")]
    pub(super) plan: Option<PathBuf>,
    /// Apply without asking for confirmation (required when not on a terminal).
    #[arg(long)]
    pub(super) auto_approve: bool,
    /// Refuse plans that remove more grants than this (when planning now).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(super) max_removals: usize,
}

#[derive(Debug, Args)]
pub(super) struct DriftArgs {
    #[command(flatten)]
    pub(super) config: ConfigArgs,
    #[command(flatten)]
    pub(super) tenant: TenantArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: Format,
    /// Record the new findings in the state as known: later runs report
    /// them as known until they change (holders of exclusive roles stay drift).
    #[arg(long)]
    pub(super) acknowledge: bool,
}

#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    #[command(flatten)]
    pub(super) config: ConfigArgs,
    #[command(flatten)]
    pub(super) tenant: TenantArgs,
    /// Exit 1 when there are findings.
    #[arg(long)]
    pub(super) strict: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: Format,
    /// Run only the checks that need the configuration alone: no sign-in,
    /// no emulator, no state; the checks skipped are named by code.
    #[arg(long, conflicts_with = "parallelism")]
    pub(super) offline: bool,
}

#[derive(Debug, Args)]
pub(super) struct StateArgs {
    /// How to sign in to Azure Storage for azurerm state without a key or SAS token: auto, client-secret, workload-identity, managed-identity or azure-cli.
    #[arg(long, global = true, value_name = "METHOD", default_value = "auto", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<crate::graph::AuthMethod>()))]
    pub(super) auth: crate::graph::AuthMethod,
    #[command(subcommand)]
    pub(super) command: StateCommand,
}

#[derive(Debug, Subcommand)]
pub(super) enum StateCommand {
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
pub(super) struct ImportArgs {
    #[command(flatten)]
    pub(super) config: ConfigArgs,
    #[command(flatten)]
    pub(super) tenant: TenantArgs,
    /// A declared eligibility or assignment address.
    pub(super) address: String,
    /// The id of the tenant's schedule to adopt.
    pub(super) schedule_id: String,
}

#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    #[command(flatten)]
    pub(super) tenant: TenantArgs,
    /// Directory to write the *.pim.hcl files and pim.state.json into (must not hold configuration yet).
    #[arg(long, value_name = "DIR")]
    pub(super) out: PathBuf,
    /// Take the connection settings (the tenant block) from the configuration in DIR.
    #[arg(long, value_name = "DIR")]
    pub(super) from: Option<PathBuf>,
    /// Export only this role (repeatable); all roles with grants by default.
    #[arg(long = "role", value_name = "NAME")]
    pub(super) roles: Vec<String>,
    /// Export the Azure role grants made at this ARM scope, and the policies of the roles held
    /// there (repeatable). ARM cannot list a tenant's scopes: none is exported unless named here
    /// or governed by the configuration of --from.
    #[arg(long = "azure-scope", value_name = "SCOPE")]
    pub(super) azure_scopes: Vec<String>,
    /// Write every policy setting, not only those that differ from Microsoft's defaults.
    #[arg(long)]
    pub(super) all_policy_settings: bool,
    /// Declare every time-bound grant with a rolling duration (its length in whole days),
    /// not only those whose request asked for one; others get an expiry date rounded up to midnight.
    #[arg(long)]
    pub(super) durations: bool,
}

#[derive(Debug, Args)]
pub(super) struct ShowArgs {
    /// A plan saved with `pim plan --out FILE`.
    #[arg(value_name = "PLANFILE")]
    pub(super) file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: Format,
}

pub(super) fn parse_var(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))?;
    if name.trim().is_empty() {
        return Err(format!("no variable name in {s:?}"));
    }
    Ok((name.trim().to_string(), value.to_string()))
}

impl ConfigArgs {
    pub(super) fn load_options(&self) -> LoadOptions {
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
