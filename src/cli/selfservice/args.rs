//! The self-service commands' arguments: who signs in, which role, and
//! what is asked for.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::*;

/// Who signs in, and where the tenant is.
#[derive(Debug, Args)]
pub struct PersonArgs {
    /// A directory whose *.pim.hcl tenant block names the tenant (or its emulator); without one, AZURE_TENANT_ID and PIM_GRAPH_URL do.
    #[arg(short = 'C', long = "dir", value_name = "DIR", default_value = ".")]
    pub(super) dir: PathBuf,
    /// How to sign in: auto, azure-cli (after az login, or az login --use-device-code without a browser), client-secret, workload-identity or managed-identity.
    #[arg(long, value_name = "METHOD", default_value = "auto", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<AuthMethod>()))]
    pub(super) auth: AuthMethod,
    /// Emulator only: act as this seeded user (UPN or object id). Refused against Microsoft Graph.
    #[arg(long = "as", value_name = "UPN", env = "PIM_EMULATOR_USER")]
    pub(super) as_user: Option<String>,
    /// Emulator only, with --as: the sign-in counts as multi-factor.
    #[arg(long, env = "PIM_EMULATOR_MFA")]
    pub(super) mfa: bool,
}

/// Which role, where; or which group.
#[derive(Debug, Args)]
pub struct RoleArgs {
    /// The role: display name (quoted) or role definition id; with an Azure --scope, a built-in Azure role's name (Owner, Contributor…) or role definition GUID.
    #[arg(
        value_name = "ROLE",
        required_unless_present = "group",
        conflicts_with = "group"
    )]
    pub(super) role: Option<String>,
    /// Where the role applies: / (the tenant), or an administrative unit by display name or id (with or without /administrativeUnits/ before it); for an Azure role, an ARM scope (/subscriptions/<id>, …/resourceGroups/<name>, a resource id, or /providers/Microsoft.Management/managementGroups/<id>). Default: the one scope at which you hold the role.
    #[arg(long, value_name = "SCOPE", conflicts_with = "group")]
    pub(super) scope: Option<String>,
    /// PIM for Groups, in place of ROLE: the group, by display name (quoted, group: before it or not) or object id.
    #[arg(long, value_name = "GROUP")]
    pub(super) group: Option<String>,
    /// With --group: the group's member (default) or owner access.
    #[arg(
        long,
        value_name = "ACCESS",
        default_value = "member",
        requires = "group"
    )]
    pub(super) access: String,
}

#[derive(Debug, Args)]
pub struct ActivateArgs {
    #[command(flatten)]
    pub(super) target: RoleArgs,
    /// How long, as an ISO 8601 duration such as PT2H; default: the most the role allows.
    #[arg(long, value_name = "DURATION")]
    pub(super) duration: Option<IsoDuration>,
    /// Why you need the role (most roles require it).
    #[arg(long, value_name = "TEXT")]
    pub(super) justification: Option<String>,
    /// The change or incident ticket, as SYSTEM:NUMBER (or NUMBER), when the role requires one.
    #[arg(long, value_name = "SYSTEM:NUMBER", value_parser = parse_ticket)]
    pub(super) ticket: Option<Ticket>,
    /// Wait until the role is in effect, or the request is denied, up to --timeout.
    #[arg(long)]
    pub(super) wait: bool,
    /// How long --wait waits, as an ISO 8601 duration.
    #[arg(long, value_name = "DURATION", default_value = "PT10M")]
    pub(super) timeout: IsoDuration,
    /// How often --wait asks Graph, as an ISO 8601 duration.
    #[arg(long, value_name = "DURATION", default_value = "PT5S")]
    pub(super) poll_interval: IsoDuration,
    #[command(flatten)]
    pub(super) person: PersonArgs,
}

#[derive(Debug, Args)]
pub struct DeactivateArgs {
    #[command(flatten)]
    pub(super) target: RoleArgs,
    /// Why you end it early (optional).
    #[arg(long, value_name = "TEXT")]
    pub(super) justification: Option<String>,
    #[command(flatten)]
    pub(super) person: PersonArgs,
}

/// Eligible or active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    Eligible,
    Active,
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    #[command(flatten)]
    pub(super) target: RoleArgs,
    /// Your eligibility or your active assignment (needed only when you hold both; renew defaults to eligible).
    #[arg(long, value_enum, value_name = "KIND")]
    pub(super) kind: Option<KindArg>,
    /// How long it should last from now, as an ISO 8601 duration such as P90D; default: the most the role allows.
    #[arg(long, value_name = "DURATION")]
    pub(super) duration: Option<IsoDuration>,
    /// Why you still need it: the administrators who decide read it.
    #[arg(long, value_name = "TEXT")]
    pub(super) justification: Option<String>,
    /// A ticket, as SYSTEM:NUMBER (or NUMBER).
    #[arg(long, value_name = "SYSTEM:NUMBER", value_parser = parse_ticket)]
    pub(super) ticket: Option<Ticket>,
    #[command(flatten)]
    pub(super) person: PersonArgs,
}

/// Output of the listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum MyCommand {
    /// Your eligible and active roles: scope, start, end and time left.
    #[command(
        after_help = "Exit status: 0 on success, 1 on error.\n\nExample:\n  pim my roles --format json"
    )]
    Roles {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
        #[command(flatten)]
        person: PersonArgs,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RequestsArgs {
    #[command(subcommand)]
    pub(super) command: Option<RequestsCommand>,
    /// Only your own requests (otherwise every request the tenant keeps, which needs an administrator).
    #[arg(long)]
    pub(super) mine: bool,
    /// Only requests with this status (PendingApproval, Provisioned, Denied, Canceled…).
    #[arg(long, value_name = "STATUS")]
    pub(super) status: Option<String>,
    /// Only requests for this principal: user:UPN (or a bare UPN), group:Name, sp:Name or appId, or an object id.
    #[arg(long, value_name = "PRINCIPAL")]
    pub(super) principal: Option<String>,
    /// Only requests for this role: display name (quoted) or role definition id.
    #[arg(long, value_name = "ROLE")]
    pub(super) role: Option<String>,
    /// Only requests about eligibilities (eligible) or active assignments (active).
    #[arg(long, value_enum, value_name = "KIND")]
    pub(super) kind: Option<KindArg>,
    /// Only requests made since then: an RFC 3339 time, a date (2026-12-01), or an ISO 8601 duration back from now (P7D).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub(super) since: Option<Since>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: ListFormat,
    #[command(flatten)]
    pub(super) person: PersonArgs,
}

#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: ListFormat,
    #[command(flatten)]
    pub(super) azure: AzureApprovalsArg,
    #[command(flatten)]
    pub(super) person: PersonArgs,
}

/// Azure role activations among the approvals: ARM's approvals API is a
/// preview, so reaching it is asked for.
#[derive(Debug, Args)]
pub struct AzureApprovalsArg {
    /// Also Azure resource role activations, through ARM's approvals API (api-version 2021-01-01-preview, a preview API).
    #[arg(long = "azure-approvals-preview")]
    pub(super) azure_approvals_preview: bool,
}

impl AzureApprovalsArg {
    pub(super) fn sources(&self) -> crate::selfservice::ApprovalSources {
        crate::selfservice::ApprovalSources {
            azure: self.azure_approvals_preview,
        }
    }
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The request id, as pim approvals shows it, or enough of its start to name one.
    pub(super) id: String,
    /// Why (Graph records it with the decision; most policies require it).
    #[arg(long, value_name = "TEXT")]
    pub(super) justification: String,
    #[command(flatten)]
    pub(super) azure: AzureApprovalsArg,
    #[command(flatten)]
    pub(super) person: PersonArgs,
}

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Cancel a request still waiting (for approval, an administrator, or its start).
    #[command(
        after_help = "Exit status: 0 canceled, 2 not cancelable (Graph refused it with a 400), 1 other errors.\n\nExample:\n  pim requests cancel 6f2a…"
    )]
    Cancel {
        /// The request id, as pim requests --mine shows it, or enough of its start to name one request.
        id: String,
        #[command(flatten)]
        person: PersonArgs,
    },
    /// One request in full: who asked for what and why, its schedule, who made it, its approval.
    #[command(
        after_help = "Exit status: 0 shown, 1 error (an unknown id, or a prefix that starts several).\n\nExample:\n  pim requests show 6f2a --format json"
    )]
    Show {
        /// The request id, or enough of its start to name one request (eligibility or assignment request).
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
        #[command(flatten)]
        person: PersonArgs,
    },
}

/// `--since`: a time, or how long ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    At(chrono::DateTime<chrono::Utc>),
    Ago(IsoDuration),
}

impl Since {
    pub(super) fn at(self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        match self {
            Since::At(t) => t,
            Since::Ago(d) => now - chrono::TimeDelta::seconds(d.as_seconds()),
        }
    }
}

pub(super) fn parse_since(s: &str) -> Result<Since, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(Since::At(t.with_timezone(&chrono::Utc)));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Since::At(d.and_time(chrono::NaiveTime::MIN).and_utc()));
    }
    s.parse::<IsoDuration>().map(Since::Ago).map_err(|_| {
        format!("{s:?} is neither a time (2026-12-01T09:00:00Z, 2026-12-01) nor an ISO 8601 duration (P7D, PT12H)")
    })
}

pub(super) fn parse_ticket(s: &str) -> Result<Ticket, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("a ticket needs a number: SYSTEM:NUMBER".into());
    }
    Ok(match s.split_once(':') {
        Some((system, number)) if !number.trim().is_empty() => Ticket {
            system: Some(system.trim().to_string()).filter(|x| !x.is_empty()),
            number: number.trim().to_string(),
        },
        _ => Ticket {
            system: None,
            number: s.to_string(),
        },
    })
}
