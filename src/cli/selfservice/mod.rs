//! The commands for people who hold roles: `pim activate`, `deactivate`,
//! `extend`, `renew`, `my roles` and `requests`, wired to
//! `crate::selfservice`. Exit status: 0 done (or submitted), 1 error,
//! 2 refused by the role's rules (nothing changed), 3 `--wait` timed out,
//! 4 the request was denied, failed or canceled.

use super::Exit;
use std::path::Path;
use std::time::Duration;

mod args;

use super::run::{self, EmulatorUser, Session};
use crate::config::{self, Desired, LoadOptions};
use crate::graph::{AuthMethod, Graph as _, RequestOutcome};
use crate::model::{AssignmentKind, IsoDuration, SystemClock, Ticket};
use crate::selfservice::{
    self, ActivationRequest, ExtensionRequest, SelfServiceError, Status, Target, WaitOptions,
};
pub use args::*;

fn std_duration(d: IsoDuration) -> Duration {
    Duration::from_secs(u64::try_from(d.approx_seconds()).unwrap_or(0))
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
                errln!("{}", e.diagnostics());
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
        .map(|user| EmulatorUser { user, mfa: p.mfa });
    run::connect_as(desired, p.auth, None, keep, user).await
}

/// Load, connect, run; errors of self-service become their exit status.
fn with_session<F>(p: &PersonArgs, keep: bool, body: F) -> anyhow::Result<Exit>
where
    F: AsyncFnOnce(&Session) -> Result<Exit, Failure>,
{
    let Some(desired) = tenant_config(&p.dir)? else {
        return Ok(Exit::Error);
    };
    super::runtime()?.block_on(async {
        let session = connect(p, &desired, keep).await?;
        match body(&session).await {
            Ok(code) => Ok(code),
            Err(Failure::SelfService(e)) => {
                errln!("error: {e}");
                Ok(exit_for(&e))
            }
            Err(Failure::Other(e)) => Err(e),
        }
    })
}

enum Failure {
    SelfService(Box<SelfServiceError>),
    Other(anyhow::Error),
}

impl From<SelfServiceError> for Failure {
    fn from(e: SelfServiceError) -> Self {
        Failure::SelfService(Box::new(e))
    }
}

impl From<crate::graph::GraphError> for Failure {
    fn from(e: crate::graph::GraphError) -> Self {
        Failure::SelfService(Box::new(e.into()))
    }
}

/// A write to stdout that failed, closed stdout included.
impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Other(e.into())
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

fn notes(list: &[String]) {
    for n in list {
        errln!("note: {n}");
    }
}

fn utc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What an accepted activation means, in one line.
fn activation_line(t: &Target, out: &RequestOutcome, approvers: Option<&[String]>) -> String {
    let now = chrono::Utc::now();
    let start = out.schedule.as_ref().and_then(|s| s.start);
    let end = out.schedule.as_ref().and_then(|s| s.end(now));
    match Status::from_graph(&out.status) {
        Status::Provisioned => format!(
            "Activated {}{}. Request {}.",
            t.subject(),
            end.map(|e| format!(" until {}", utc(e)))
                .unwrap_or_default(),
            out.request_id
        ),
        Status::Scheduled => format!(
            "Scheduled {}{}{}. Request {}.",
            t.subject(),
            start
                .map(|s| format!(" from {}", utc(s)))
                .unwrap_or_default(),
            end.map(|e| format!(" until {}", utc(e)))
                .unwrap_or_default(),
            out.request_id
        ),
        Status::PendingApproval => format!(
            "Requested {}: waiting for approval by {}. Request {}.\nFollow it with: pim requests --mine; cancel it with: pim requests cancel {}",
            t.subject(),
            approvers
                .filter(|a| !a.is_empty())
                .map_or_else(|| "the role's approvers".to_string(), |a| a.join(", ")),
            out.request_id,
            out.request_id
        ),
        _ => format!(
            "Sent the activation of {}: Graph says {}. Request {}.",
            t.subject(),
            out.status,
            out.request_id
        ),
    }
}

pub fn activate(a: &ActivateArgs) -> anyhow::Result<Exit> {
    with_session(&a.person, true, async |s: &Session| {
        let g = s.graph.as_ref();
        let clock = SystemClock;
        let target = selfservice::resolve_target(g, &a.target.role, &a.target.scope).await?;
        let me = g.me().await?;
        let ask = ActivationRequest {
            target: target.clone(),
            duration: a.duration,
            justification: a.justification.clone(),
            ticket: a.ticket.clone(),
        };
        let checked = selfservice::check_activation(g, &clock, &me, &ask).await?;
        notes(&checked.notes);
        let out = selfservice::submit(g, &checked.request).await?;
        outln!(
            "{}",
            activation_line(&target, &out, checked.approvers.as_deref())
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
        outln!("{}", activation_line(&target, &done, None))?;
        Ok(Exit::Ok)
    })
}

pub fn deactivate(a: &DeactivateArgs) -> anyhow::Result<Exit> {
    with_session(&a.person, true, async |s: &Session| {
        let g = s.graph.as_ref();
        let target = selfservice::resolve_target(g, &a.target.role, &a.target.scope).await?;
        let me = g.me().await?;
        let d = selfservice::check_deactivation(g, &me, &target, a.justification.clone()).await?;
        match selfservice::submit(g, &d.request).await {
            Ok(out) => {
                outln!(
                    "Deactivated {}. Request {}.",
                    target.subject(),
                    out.request_id
                )?;
                Ok(Exit::Ok)
            }
            Err(e) => {
                if e.graph_code() == Some("ActiveDurationTooShort")
                    && let Some(start) = d.activated
                {
                    errln!(
                        "note: it was activated at {}; it can be ended from {} on",
                        utc(start),
                        utc(start + chrono::TimeDelta::minutes(5))
                    );
                }
                Err(e.into())
            }
        }
    })
}

pub fn extend(a: &ExtendArgs, renew: bool) -> anyhow::Result<Exit> {
    with_session(&a.person, true, async |s: &Session| {
        let g = s.graph.as_ref();
        let target = selfservice::resolve_target(g, &a.target.role, &a.target.scope).await?;
        let me = g.me().await?;
        let ask = ExtensionRequest {
            target: target.clone(),
            kind: a.kind.map(|k| match k {
                KindArg::Eligible => AssignmentKind::Eligible,
                KindArg::Active => AssignmentKind::Active,
            }),
            duration: a.duration,
            justification: a.justification.clone(),
            ticket: a.ticket.clone(),
        };
        let x = selfservice::check_extension(g, &SystemClock, &me, &ask, renew).await?;
        notes(&x.notes);
        let out = selfservice::submit(g, &x.request).await?;
        let what = match x.request.kind {
            AssignmentKind::Eligible => "eligibility",
            AssignmentKind::Active => "active assignment",
        };
        let verb = if renew { "renew" } else { "extend" };
        match Status::from_graph(&out.status) {
            Status::PendingAdminDecision => outln!(
                "Asked the administrators to {verb} your {what} of {} for {}. Request {} is waiting for their decision.",
                target.subject(),
                x.duration,
                out.request_id
            )?,
            _ => outln!(
                "Sent: {verb} your {what} of {} for {}: Graph says {}. Request {}.",
                target.subject(),
                x.duration,
                out.status,
                out.request_id
            )?,
        }
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

pub fn requests(a: &RequestsArgs) -> anyhow::Result<Exit> {
    if let Some(RequestsCommand::Cancel { id, person }) = &a.command {
        return with_session(person, true, async |s: &Session| {
            let before = selfservice::cancel(s.graph.as_ref(), id).await?;
            outln!(
                "Canceled request {id} ({} of {} at {}, which was {}).",
                before.action,
                before.role,
                before.scope,
                before.status
            )?;
            Ok(Exit::Ok)
        });
    }
    with_session(&a.person, false, async |s: &Session| {
        let rows =
            selfservice::list_requests(s.graph.as_ref(), a.mine, a.status.as_deref()).await?;
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
