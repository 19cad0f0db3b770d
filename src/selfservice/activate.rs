//! Activating an eligibility: the checks Graph would make, done first
//! (eligibility, already active, a request already waiting, and the role's
//! `Expiration_EndUser_Assignment`, `Enablement_EndUser_Assignment` and
//! `Approval_EndUser_Assignment` rules), the `selfActivate` request, and
//! waiting until the activation is in effect.

use std::time::Duration;

use crate::graph::{ErrorKind, Graph, GraphError, Me, RequestOutcome, ScheduleRequest, Timer};
use crate::model::{
    Approver, AssignmentKind, Clock, EnablementFactor, Expiration, IsoDuration, ObjectId,
    PrincipalKind, RequestAction, RuleId, RuleSet, Schedule, SurfaceKind, Ticket,
};

use super::error::Human;
use super::names::DisplayNames;
use super::{Problem, SelfServiceError, Status, Target};

/// What the person asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRequest {
    pub target: Target,
    /// Defaults to the most the role allows.
    pub duration: Option<IsoDuration>,
    pub justification: Option<String>,
    pub ticket: Option<Ticket>,
}

/// A checked activation, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub target: Target,
    pub request: ScheduleRequest,
    pub duration: IsoDuration,
    /// The role's approvers, by name, when activations need approval.
    pub approvers: Option<Vec<String>>,
    /// Things Graph checks that pim could not (an MFA claim it cannot see…).
    pub notes: Vec<String>,
    /// Azure roles: the full id of the eligibility schedule the activation
    /// uses (at the scope, or inherited from above it).
    pub linked_eligibility: Option<String>,
}

/// Graph's default when a policy names no maximum.
const DEFAULT_MAX: IsoDuration = IsoDuration::hours(8);
const MIN_SECONDS: i64 = 300;

/// The role's policy, or `None` (with a note) when the caller may not read it.
pub(crate) async fn policy_rules(
    graph: &dyn Graph,
    surface: SurfaceKind,
    role_id: &str,
    scope_id: &str,
    notes: &mut Vec<String>,
) -> Result<Option<RuleSet>, GraphError> {
    let read = match surface {
        SurfaceKind::DirectoryRole => graph.policies(Some(&[ObjectId::new(role_id)])).await,
        SurfaceKind::Group => graph.group_policies(&[ObjectId::new(scope_id)]).await,
        SurfaceKind::AzureRole => match graph.arm() {
            Some(arm) => {
                let full = crate::surface::role_definition_id(scope_id, role_id);
                arm.policy_for_role(scope_id, &full).await.map(|p| {
                    p.map(|p| crate::snapshot::Policy {
                        surface,
                        policy_id: p.id,
                        role_id: ObjectId::new(role_id),
                        scope_id: scope_id.to_string(),
                        rules: p.rules,
                    })
                    .into_iter()
                    .collect()
                })
            }
            None => Ok(Vec::new()),
        },
    };
    match read {
        Ok(p) => Ok(p
            .into_iter()
            .find(|p| p.role_id == role_id)
            .map(|p| p.rules)),
        Err(e) if matches!(e.kind, ErrorKind::Forbidden | ErrorKind::Unauthorized) => {
            notes.push(format!(
                "the role's policy could not be read with this sign-in, so {} checks it alone",
                e.service.name()
            ));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Approvers by name: `PIM Approvers (group)`, `Carol White <carol@contoso.com>`;
/// the `requester` among them is marked, since Graph does not let anyone
/// approve their own request.
pub(crate) async fn approver_names(
    graph: &dyn Graph,
    approvers: &[&Approver],
    requester: Option<&ObjectId>,
) -> Vec<String> {
    let ids: Vec<ObjectId> = approvers.iter().map(|a| a.id().clone()).collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let found = graph.principals_by_ids(&ids).await.unwrap_or_default();
    approvers
        .iter()
        .map(|a| {
            let name = match found.iter().find(|p| p.id == *a.id()) {
                Some(p) if p.kind == PrincipalKind::Group => format!("{} (group)", p.display_name),
                Some(p) => match &p.user_principal_name {
                    Some(upn) => format!("{} <{upn}>", p.display_name),
                    None => p.display_name.clone(),
                },
                None => match a {
                    Approver::Group { id, .. } => format!("group {id}"),
                    Approver::User { id, .. } => format!("user {id}"),
                },
            };
            if requester == Some(a.id()) {
                format!("{name} (the requester, who cannot approve it)")
            } else {
                name
            }
        })
        .collect()
}

/// Check an activation against everything Graph will check, so a request
/// that cannot succeed is never sent.
pub async fn check_activation(
    graph: &dyn Graph,
    clock: &dyn Clock,
    me: &Me,
    ask: &ActivationRequest,
) -> Result<Activation, SelfServiceError> {
    let t = &ask.target;
    let refuse = |problems: Vec<Problem>| SelfServiceError::Refused {
        subject: t.subject(),
        problems,
    };
    let eligible_here = super::held(graph, t, AssignmentKind::Eligible).await?;
    if eligible_here.is_empty() {
        let eligible = super::my_instances(graph, t.surface, AssignmentKind::Eligible).await?;
        let now = clock.now();
        let schedules = super::held_grants(graph, t, AssignmentKind::Eligible).await?;
        let later = schedules
            .iter()
            .filter_map(|g| g.start)
            .find(|start| *start > now);
        // Graph lists an ended eligibility for up to 30 days.
        let ended = schedules
            .iter()
            .filter(|g| g.has_ended(now))
            .filter_map(|g| g.end())
            .max();
        let what = match (later, ended) {
            (Some(start), _) => format!(
                "your eligibility starts only at {}",
                start.format("%Y-%m-%d %H:%M UTC")
            ),
            (None, Some(end)) => format!(
                "your eligibility ended at {} (pim renew asks for it again)",
                end.format("%Y-%m-%d %H:%M UTC")
            ),
            (None, None) => "you are not eligible for it".to_string(),
        };
        let names = DisplayNames::load(
            graph,
            eligible.iter().map(|i| i.role_id.as_str()),
            eligible.iter().map(|i| i.scope_id.as_str()),
        )
        .await?;
        let mut held: Vec<String> = eligible
            .iter()
            .map(|i| names.subject(i.surface, &i.role_id, &i.scope_id))
            .collect();
        held.sort();
        let hint = if held.is_empty() {
            "you hold no eligibility now: ask an administrator".to_string()
        } else {
            format!("you may activate: {}", held.join(", "))
        };
        return Err(refuse(vec![
            Problem::new(what).rule("EligibilityRule").hint(hint),
        ]));
    }
    let active = super::held(graph, t, AssignmentKind::Active).await?;
    if let Some(a) = active.first() {
        let what = match a.end {
            Some(end) => format!(
                "it is already active until {}",
                end.format("%Y-%m-%d %H:%M UTC")
            ),
            None => "it is already active, permanently".to_string(),
        };
        return Err(refuse(vec![Problem::new(what).hint("see pim my roles")]));
    }
    let waiting = super::requests_about(graph, t, AssignmentKind::Active)
        .await?
        .into_iter()
        .find(|r| {
            crate::model::Caseless::same(&r.action, RequestAction::SelfActivate.as_str())
                && Status::from_graph(&r.status) == Status::PendingApproval
                && t.matches(&r.role_id, &r.scope_id)
        });
    if let Some(r) = waiting {
        return Err(refuse(vec![
            Problem::new(format!(
                "request {} for it is already waiting for approval",
                r.request_id
            ))
            .hint(format!(
                "wait for the approvers, or cancel it with pim requests cancel {}",
                r.request_id
            )),
        ]));
    }

    let mut notes = Vec::new();
    let rules = policy_rules(graph, t.surface, &t.role_id, &t.scope_id, &mut notes).await?;
    let rules = rules.unwrap_or_default();
    let mut problems = Vec::new();
    let max = rules
        .expiration(RuleId::ExpirationEndUserAssignment)
        .and_then(|(_, max)| max)
        .unwrap_or(DEFAULT_MAX);
    let duration = ask.duration.unwrap_or(max);
    let rule = RuleId::ExpirationEndUserAssignment.as_str();
    if duration.as_seconds() > max.as_seconds() {
        problems.push(
            Problem::new(format!(
                "{duration} is longer than the {max} the role allows"
            ))
            .rule(rule)
            .hint(format!("ask for --duration {max} or less")),
        );
    } else if duration.as_seconds() < MIN_SECONDS {
        problems.push(
            Problem::new(format!(
                "{duration} is shorter than the 5 minutes an activation lasts at least"
            ))
            .rule(rule)
            .hint("ask for --duration PT5M or more"),
        );
    }
    let factors = rules.factors(RuleId::EnablementEndUserAssignment);
    let enablement = RuleId::EnablementEndUserAssignment.as_str();
    let justification = ask
        .justification
        .as_deref()
        .map(str::trim)
        .filter(|j| !j.is_empty());
    let approval = rules.approval().filter(|a| a.required);
    if let Some(j) = justification
        && j.chars().count() > crate::model::MAX_JUSTIFICATION_CHARS
    {
        problems.push(
            Problem::new(format!(
                "the justification is {} characters long; pim sends at most {}",
                j.chars().count(),
                crate::model::MAX_JUSTIFICATION_CHARS
            ))
            .hint("say why in a sentence or two, and give the ticket with --ticket"),
        );
    }
    if justification.is_none() {
        if factors.contains(&EnablementFactor::Justification) {
            problems.push(
                Problem::new("a justification is required")
                    .rule(enablement)
                    .hint("say why with --justification TEXT"),
            );
        } else if approval.is_some_and(|a| a.requestor_justification_required) {
            problems.push(
                Problem::new("the approvers need a justification")
                    .rule(RuleId::ApprovalEndUserAssignment.as_str())
                    .hint("say why with --justification TEXT"),
            );
        }
    }
    if factors.contains(&EnablementFactor::Ticketing) && ask.ticket.is_none() {
        problems.push(
            Problem::new("a ticket is required")
                .rule(enablement)
                .hint("give it with --ticket SYSTEM:NUMBER"),
        );
    }
    if factors.contains(&EnablementFactor::MultiFactorAuthentication) {
        match graph.token_has_mfa().await? {
            Some(false) => problems.push(
                Problem::new("multi-factor authentication is required and this sign-in had none")
                    .rule(enablement)
                    .hint(
                        "sign in again with multi-factor authentication (az logout, then az login; against the emulator, --mfa)",
                    ),
            ),
            Some(true) => {}
            None => notes.push(
                "the role requires multi-factor authentication; Graph checks this sign-in".into(),
            ),
        }
    }
    if let Some(crate::model::RuleValue::AuthenticationContext {
        enabled: true,
        claim,
    }) = rules.get(RuleId::AuthenticationContextEndUserAssignment)
    {
        notes.push(format!(
            "the role requires Conditional Access authentication context {} (rule {}); if Graph refuses, sign in again satisfying it",
            claim.as_deref().unwrap_or("?"),
            RuleId::AuthenticationContextEndUserAssignment.as_str()
        ));
    }
    if !problems.is_empty() {
        return Err(refuse(problems));
    }
    let approvers = match approval {
        Some(a) => {
            // Graph never asks the requester to approve their own request.
            let (own, list): (Vec<&Approver>, Vec<&Approver>) = a
                .stages
                .iter()
                .flat_map(|s| s.primary_approvers.iter())
                .partition(|a| matches!(a, Approver::User { id, .. } if *id == me.id));
            if !own.is_empty() {
                notes.push(if list.is_empty() {
                    "you are the role's only approver, and no one may approve their own request: ask an administrator to name another".to_string()
                } else {
                    "you are one of the role's approvers; another one decides your request".to_string()
                });
            }
            Some(approver_names(graph, &list, Some(&me.id)).await)
        }
        None => None,
    };
    let request = ScheduleRequest {
        surface: t.surface,
        kind: AssignmentKind::Active,
        action: RequestAction::SelfActivate,
        principal_id: me.id.clone(),
        role_id: t.role_id.clone(),
        scope_id: t.scope_id.clone(),
        schedule: Some(Schedule {
            start: Some(clock.now()),
            expiration: Expiration::After(duration),
        }),
        justification: justification.map(str::to_string),
        ticket: ask.ticket.clone(),
        condition: None,
    };
    // The eligibility made at the scope itself, else the one inherited
    // from above it.
    let linked_eligibility = match t.surface {
        SurfaceKind::AzureRole => eligible_here
            .iter()
            .find(|i| crate::model::Caseless::same(&i.scope_id, &t.scope_id))
            .or(eligible_here.first())
            .and_then(super::azure::eligibility_schedule_id),
        _ => None,
    };
    Ok(Activation {
        target: t.clone(),
        request,
        duration,
        approvers,
        notes,
        linked_eligibility,
    })
}

/// How long and how often `--wait` polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOptions {
    pub timeout: Duration,
    pub interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(600),
            interval: Duration::from_secs(5),
        }
    }
}

/// Poll a submitted activation until it is in effect (its instance shows),
/// it is denied, fails or is canceled, or `timeout` passes.
pub async fn wait_until_active(
    graph: &dyn Graph,
    clock: &dyn Timer,
    submitted: &RequestOutcome,
    target: &Target,
    opts: WaitOptions,
) -> Result<RequestOutcome, SelfServiceError> {
    let started = clock.now();
    let timeout = chrono::TimeDelta::from_std(opts.timeout).unwrap_or(chrono::TimeDelta::MAX);
    loop {
        let now = super::reread(graph, submitted).await?;
        let status = Status::from_graph(&now.status);
        if status.is_dead_end() {
            return Err(SelfServiceError::Ended {
                request_id: now.request_id,
                status: now.status,
            });
        }
        if matches!(status, Status::Provisioned | Status::Scheduled) {
            let live = !super::held(graph, target, AssignmentKind::Active)
                .await?
                .is_empty();
            if live {
                return Ok(now);
            }
        }
        let waited = clock.now() - started;
        if waited >= timeout {
            return Err(SelfServiceError::TimedOut {
                request_id: now.request_id,
                status: now.status,
                waited: Human(waited.num_seconds()).to_string(),
            });
        }
        clock.sleep(opts.interval).await;
    }
}
