//! The commands for people who hold roles: `pim activate`, `deactivate`,
//! `extend`, `renew`, `my roles` and `requests`, wired to
//! `crate::selfservice`. Exit status: 0 done (or submitted), 1 error,
//! 2 refused by the role's rules (nothing changed), 3 `--wait` timed out,
//! 4 the request was denied, failed or canceled.

use super::Exit;
use std::path::Path;
use std::time::Duration;

mod args;

use super::run::{self, Session, SignInAs};
use crate::config::{self, Desired, LoadOptions};
use crate::graph::{AuthMethod, Graph as _};
use crate::model::{AssignmentKind, IsoDuration, SystemClock, Ticket};
use crate::render;
use crate::selfservice::{
    self, ActivationRequest, ExtensionRequest, Held, RequestFilter, SelfServiceError, Status,
    WaitOptions,
};
pub use args::*;

fn std_duration(d: IsoDuration) -> Duration {
    Duration::from_secs(u64::try_from(d.as_seconds()).unwrap_or(0))
}

/// The configuration in `dir` when it has one (for its tenant block), else
/// an empty one: people activating roles rarely keep configuration.
fn tenant_config(dir: &Path) -> anyhow::Result<Option<Desired>> {
    let has_config = std::fs::read_dir(dir).is_ok_and(|mut d| {
        d.any(|e| {
            e.is_ok_and(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(config::FILE_SUFFIX)
            })
        })
    });
    let opts = LoadOptions::at(chrono::Utc::now());
    if has_config {
        return match config::load(dir, &opts) {
            Ok(d) => Ok(Some(d)),
            Err(e) => {
                errln!("{}", e.diagnostics().render(super::colour::stderr()));
                Ok(None)
            }
        };
    }
    config::load_sources(
        dir,
        vec![(dir.join("tenant.pim.hcl"), String::new())],
        &opts,
    )
    .map(Some)
    .map_err(|e| anyhow::anyhow!("{}", e.diagnostics()))
}

/// Connect as the person: `keep` persists the embedded emulator's tenant
/// for later runs (commands that change something).
async fn connect(p: &PersonArgs, desired: &Desired, keep: bool) -> anyhow::Result<Session> {
    if p.mfa && p.as_user.is_none() {
        anyhow::bail!(
            "--mfa applies only with --as (an emulator user); a real sign-in's MFA is whatever you did at az login"
        );
    }
    let user = p
        .as_user
        .as_deref()
        .map(|user| SignInAs { user, mfa: p.mfa });
    run::connect_as(desired, p.auth, None, keep, user).await
}

/// Load, connect, run; errors of self-service become their exit status.
fn with_session<F>(p: &PersonArgs, keep: bool, body: F) -> anyhow::Result<Exit>
where
    F: AsyncFnOnce(&Session) -> Result<Exit, SelfServiceFailure>,
{
    let Some(desired) = tenant_config(&p.dir)? else {
        return Ok(Exit::Error);
    };
    super::runtime()?.block_on(async {
        let session = connect(p, &desired, keep).await?;
        match body(&session).await {
            Ok(code) => Ok(code),
            Err(SelfServiceFailure::SelfService(e)) => {
                errln!("error: {e}");
                Ok(exit_for(&e))
            }
            Err(SelfServiceFailure::Other(e)) => Err(e),
        }
    })
}

/// Why a self-service command stopped: a refusal or error of self-service,
/// which becomes its exit status, or anything else.
enum SelfServiceFailure {
    SelfService(Box<SelfServiceError>),
    Other(anyhow::Error),
}

impl From<SelfServiceError> for SelfServiceFailure {
    fn from(e: SelfServiceError) -> Self {
        SelfServiceFailure::SelfService(Box::new(e))
    }
}

impl From<crate::graph::GraphError> for SelfServiceFailure {
    fn from(e: crate::graph::GraphError) -> Self {
        SelfServiceFailure::SelfService(Box::new(e.into()))
    }
}

/// A write to stdout that failed, closed stdout included.
impl From<anyhow::Error> for SelfServiceFailure {
    fn from(e: anyhow::Error) -> Self {
        SelfServiceFailure::Other(e)
    }
}

impl From<serde_json::Error> for SelfServiceFailure {
    fn from(e: serde_json::Error) -> Self {
        SelfServiceFailure::Other(e.into())
    }
}

fn exit_for(e: &SelfServiceError) -> Exit {
    match e {
        SelfServiceError::TimedOut { .. } => Exit::TimedOut,
        SelfServiceError::Ended { .. } => Exit::Denied,
        e if e.is_refusal() => Exit::Refused,
        _ => Exit::Error,
    }
}

/// The role and scope of a command: `--scope` as given, or the one scope
/// at which the caller holds the role.
async fn resolve(
    g: &dyn crate::graph::Graph,
    t: &RoleArgs,
    held: Held,
) -> Result<selfservice::Target, SelfServiceError> {
    match (&t.group, &t.role) {
        (Some(group), _) => selfservice::resolve_group_target(g, group, &t.access).await,
        (None, Some(role)) => {
            selfservice::resolve_held_target(g, chrono::Utc::now(), role, t.scope.as_deref(), held)
                .await
        }
        // clap requires one of the two.
        (None, None) => Err(SelfServiceError::UnknownGroup {
            what: "no role or group given".into(),
            hint: "name a role, or a group with --group".into(),
        }),
    }
}

impl KindArg {
    fn kind(self) -> AssignmentKind {
        match self {
            KindArg::Eligible => AssignmentKind::Eligible,
            KindArg::Active => AssignmentKind::Active,
        }
    }
}

fn notes(list: &[String]) {
    for n in list {
        errln!("{}: {n}", super::colour::stderr().note("note"));
    }
}

pub fn activate(a: &ActivateArgs) -> anyhow::Result<Exit> {
    with_session(&a.person, true, async |s: &Session| {
        let g = s.graph.as_ref();
        let clock = SystemClock;
        let held = Held {
            kind: Some(AssignmentKind::Eligible),
            ended: false,
        };
        let target = resolve(g, &a.target, held).await?;
        let me = g.me().await?;
        let ask = ActivationRequest {
            target: target.clone(),
            duration: a.duration,
            justification: a.justification.clone(),
            ticket: a.ticket.clone(),
        };
        let checked = selfservice::check_activation(g, &clock, &me, &ask).await?;
        notes(&checked.notes);
        let out = selfservice::submit_activation(g, &checked).await?;
        let approvers = checked.approvers.as_deref();
        outln!(
            "{}",
            render::activation_line(&target, &out, approvers, chrono::Utc::now())
        )?;
        if !a.wait || Status::from_graph(&out.status) == Status::Provisioned {
            return Ok(Exit::Ok);
        }
        errln!(
            "Waiting up to {} for {} to take effect…",
            a.timeout,
            target.subject()
        );
        let opts = WaitOptions {
            timeout: std_duration(a.timeout),
            interval: std_duration(a.poll_interval).max(Duration::from_millis(100)),
        };
        let done = selfservice::wait_until_active(g, &clock, &out, &target, opts).await?;
        outln!(
            "{}",
            render::activation_line(&target, &done, None, chrono::Utc::now())
        )?;
        Ok(Exit::Ok)
    })
}

pub fn deactivate(a: &DeactivateArgs) -> anyhow::Result<Exit> {
    with_session(&a.person, true, async |s: &Session| {
        let g = s.graph.as_ref();
        let held = Held {
            kind: Some(AssignmentKind::Active),
            ended: false,
        };
        let target = resolve(g, &a.target, held).await?;
        let me = g.me().await?;
        let d =
            selfservice::check_deactivation(g, &SystemClock, &me, &target, a.justification.clone())
                .await?;
        match selfservice::submit(g, &d.request).await {
            Ok(out) => {
                outln!("{}", render::deactivated_line(&target, &out))?;
                Ok(Exit::Ok)
            }
            Err(e) => {
                if e.graph_code() == Some("ActiveDurationTooShort")
                    && let Some(start) = d.activated
                {
                    errln!("{}", render::too_soon_note(start));
                }
                Err(e.into())
            }
        }
    })
}

pub fn extend(a: &ExtendArgs, renew: bool) -> anyhow::Result<Exit> {
    with_session(&a.person, true, async |s: &Session| {
        let g = s.graph.as_ref();
        let kind = a.kind.map(KindArg::kind);
        let held = Held { kind, ended: renew };
        let target = resolve(g, &a.target, held).await?;
        let me = g.me().await?;
        let ask = ExtensionRequest {
            target: target.clone(),
            kind,
            duration: a.duration,
            justification: a.justification.clone(),
            ticket: a.ticket.clone(),
        };
        let x = selfservice::check_extension(g, &SystemClock, &me, &ask, renew).await?;
        notes(&x.notes);
        let out = selfservice::submit(g, &x.request).await?;
        outln!("{}", render::extension_line(&target, &x, &out, renew))?;
        Ok(Exit::Ok)
    })
}

pub fn my(cmd: &MyCommand) -> anyhow::Result<Exit> {
    let MyCommand::Roles { format, person } = cmd;
    with_session(person, false, async |s: &Session| {
        let g = s.graph.as_ref();
        let me = g.me().await?;
        let roles = selfservice::my_roles(g, &SystemClock, &me).await?;
        match format {
            ListFormat::Text => out!("{}", selfservice::render_my_roles_text(&roles))?,
            ListFormat::Json => outln!("{}", serde_json::to_string_pretty(&roles)?)?,
        }
        Ok(Exit::Ok)
    })
}

pub fn approvals(a: &ApprovalsArgs) -> anyhow::Result<Exit> {
    with_session(&a.person, false, async |s: &Session| {
        let rows = selfservice::waiting_in(s.graph.as_ref(), a.azure.sources()).await?;
        match a.format {
            ListFormat::Text if rows.is_empty() => outln!("Nothing waits for your approval.")?,
            ListFormat::Text => out!("{}", selfservice::render_requests_text(&rows))?,
            ListFormat::Json => outln!("{}", serde_json::to_string_pretty(&rows)?)?,
        }
        Ok(Exit::Ok)
    })
}

pub fn decide(a: &DecideArgs, approve: bool) -> anyhow::Result<Exit> {
    with_session(&a.person, true, async |s: &Session| {
        let r = selfservice::decide_in(
            s.graph.as_ref(),
            &a.id,
            approve,
            &a.justification,
            a.azure.sources(),
        )
        .await?;
        // A group's access reads "member of group:…", a role "… at /".
        let of = if r.scope.starts_with("group:") {
            "of"
        } else {
            "at"
        };
        outln!(
            "{} request {}: {} for {}, {} {of} {}.",
            if approve { "Approved" } else { "Denied" },
            r.id,
            r.action,
            r.principal,
            r.role,
            r.scope
        )?;
        Ok(Exit::Ok)
    })
}

pub fn requests(a: &RequestsArgs) -> anyhow::Result<Exit> {
    match &a.command {
        Some(RequestsCommand::Cancel { id, person }) => {
            return with_session(person, true, async |s: &Session| {
                let before = selfservice::cancel(s.graph.as_ref(), id).await?;
                outln!("{}", render::canceled_line(&before))?;
                Ok(Exit::Ok)
            });
        }
        Some(RequestsCommand::Show { id, format, person }) => {
            return with_session(person, false, async |s: &Session| {
                let d = selfservice::show_request(s.graph.as_ref(), id).await?;
                match format {
                    ListFormat::Text => out!("{}", render::request_detail_text(&d))?,
                    ListFormat::Json => outln!("{}", serde_json::to_string_pretty(&d)?)?,
                }
                Ok(Exit::Ok)
            });
        }
        None => {}
    }
    let filter = RequestFilter {
        mine: a.mine,
        status: a.status.clone(),
        principal: a.principal.clone(),
        role: a.role.clone(),
        kind: a.kind.map(KindArg::kind),
        since: a.since.map(|s| s.at(chrono::Utc::now())),
    };
    with_session(&a.person, false, async |s: &Session| {
        let rows = selfservice::list_requests(s.graph.as_ref(), &filter).await?;
        match a.format {
            ListFormat::Text => out!("{}", selfservice::render_requests_text(&rows))?,
            ListFormat::Json => outln!("{}", serde_json::to_string_pretty(&rows)?)?,
        }
        Ok(Exit::Ok)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_read_system_and_number() {
        assert_eq!(
            parse_ticket("ServiceNow:INC0042"),
            Ok(Ticket {
                system: Some("ServiceNow".into()),
                number: "INC0042".into()
            })
        );
        assert_eq!(
            parse_ticket("INC0042"),
            Ok(Ticket {
                system: None,
                number: "INC0042".into()
            })
        );
        assert!(parse_ticket(" ").is_err());
    }
}
