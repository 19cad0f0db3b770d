//! Ending an activation early (`selfDeactivate`) and asking the
//! administrators to extend an expiring grant (`selfExtend`) or renew an
//! expired one (`selfRenew`), each checked first against what Graph allows.

use chrono::{DateTime, Utc};

use crate::graph::{Graph, Me, ScheduleRequest};
use crate::model::{
    AssignmentKind, Clock, Expiration, IsoDuration, RequestAction, RuleId, Schedule, Ticket,
};
use crate::snapshot::{ActiveType, Grant, MemberType};

use super::activate::policy_rules;
use super::{Problem, SelfServiceError, Target};

/// A checked deactivation, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deactivation {
    pub target: Target,
    pub request: ScheduleRequest,
    /// When the activation started: Graph refuses to end it in its first
    /// five minutes (`ActiveDurationTooShort`).
    pub activated: Option<DateTime<Utc>>,
}

/// Graph refuses to end an activation sooner than this after its start.
const MIN_ACTIVE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Check that there is an activation of the caller's to end, and that its
/// first five minutes are over.
pub async fn check_deactivation(
    graph: &dyn Graph,
    clock: &dyn Clock,
    me: &Me,
    target: &Target,
    justification: Option<String>,
) -> Result<Deactivation, SelfServiceError> {
    let mine = super::held(graph, target, AssignmentKind::Active).await?;
    let activation = mine
        .iter()
        .find(|i| i.active_type == Some(ActiveType::Activated));
    let Some(activation) = activation else {
        let problem = if mine.is_empty() {
            Problem::new("it is not active").hint("see pim my roles")
        } else {
            Problem::new("it was assigned to you by an administrator, not activated")
                .hint("only an administrator can remove an assignment")
        };
        return Err(SelfServiceError::Refused {
            subject: target.subject(),
            problems: vec![problem],
        });
    };
    // Graph's clock is the one that counts; a few seconds' skew means at
    // worst Graph's own ActiveDurationTooShort, reported with the same time.
    if let Some(start) = activation.start
        && clock.now() < start + MIN_ACTIVE
    {
        return Err(SelfServiceError::TooSoon {
            subject: target.subject(),
            activated: start,
            from: start + MIN_ACTIVE,
        });
    }
    Ok(Deactivation {
        target: target.clone(),
        request: ScheduleRequest {
            surface: target.surface,
            kind: AssignmentKind::Active,
            action: RequestAction::SelfDeactivate,
            principal_id: me.id.clone(),
            role_id: target.role_id.clone(),
            scope_id: target.scope_id.clone(),
            schedule: None,
            justification,
            ticket: None,
            condition: None,
        },
        activated: activation.start,
    })
}

/// What the person asks the administrators for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionRequest {
    pub target: Target,
    /// Eligibility or active assignment; found out when only one fits.
    pub kind: Option<AssignmentKind>,
    /// How long the grant should last from now; defaults to the most the
    /// role allows.
    pub duration: Option<IsoDuration>,
    pub justification: Option<String>,
    pub ticket: Option<Ticket>,
}

/// A checked extension or renewal, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub target: Target,
    pub request: ScheduleRequest,
    pub duration: IsoDuration,
    /// The grant's current end (extensions only).
    pub ends: Option<DateTime<Utc>>,
    pub notes: Vec<String>,
}

fn kind_word(k: AssignmentKind) -> &'static str {
    match k {
        AssignmentKind::Eligible => "eligibility",
        AssignmentKind::Active => "active assignment",
    }
}

/// A grant an administrator made (not an activation), held directly.
fn extendable(g: &Grant, target: &Target) -> bool {
    target.matches(&g.role_id, &g.scope_id)
        && g.member_type == MemberType::Direct
        && g.active_type != Some(ActiveType::Activated)
}

/// Check a `selfExtend` (`renew == false`) or `selfRenew` request.
pub async fn check_extension(
    graph: &dyn Graph,
    clock: &dyn Clock,
    me: &Me,
    ask: &ExtensionRequest,
    renew: bool,
) -> Result<Extension, SelfServiceError> {
    let t = &ask.target;
    let refuse = |problems: Vec<Problem>| SelfServiceError::Refused {
        subject: t.subject(),
        problems,
    };
    let mut held: Vec<Grant> = Vec::new();
    for kind in [AssignmentKind::Eligible, AssignmentKind::Active] {
        if ask.kind.is_none_or(|k| k == kind) {
            held.extend(
                super::held_grants(graph, t, kind)
                    .await?
                    .into_iter()
                    .filter(|g| extendable(g, t)),
            );
        }
    }
    let now = clock.now();
    let (kind, ends) = if renew {
        if let Some(g) = held.iter().find(|g| !g.has_ended(now)) {
            return Err(refuse(vec![
                Problem::new(format!("your {} has not expired", kind_word(g.kind)))
                    .hint("ask for more time with pim extend instead"),
            ]));
        }
        // Graph lists an ended grant for a while, and finds it by its tuple
        // after that.
        let ended = held.first().map(|g| g.kind);
        (ask.kind.or(ended).unwrap_or(AssignmentKind::Eligible), None)
    } else {
        held.retain(|g| !g.has_ended(now));
        let g = match held.as_slice() {
            [] => {
                return Err(refuse(vec![
                    Problem::new("you hold no eligibility or assignment of it to extend").hint(
                        "activations end on their own (activate again); expired grants are renewed with pim renew",
                    ),
                ]));
            }
            [g] => g,
            _ => {
                return Err(refuse(vec![
                    Problem::new("you hold both an eligibility and an active assignment of it")
                        .hint("choose one with --kind eligible or --kind active"),
                ]));
            }
        };
        let Some(end) = g.end() else {
            return Err(refuse(vec![
                Problem::new(format!("your {} does not expire", kind_word(g.kind)))
                    .hint("there is nothing to extend"),
            ]));
        };
        (g.kind, Some(end))
    };

    let mut notes = Vec::new();
    let rule = match kind {
        AssignmentKind::Eligible => RuleId::ExpirationAdminEligibility,
        AssignmentKind::Active => RuleId::ExpirationAdminAssignment,
    };
    let rules = policy_rules(graph, t.surface, &t.role_id, &t.scope_id, &mut notes)
        .await?
        .unwrap_or_default();
    let (required, max) = rules.expiration(rule).unwrap_or((false, None));
    let duration = match (ask.duration, max) {
        (Some(d), _) => d,
        (None, Some(m)) => m,
        (None, None) => IsoDuration::days(90),
    };
    let mut problems = Vec::new();
    if let Some(m) = max.filter(|_| required)
        && duration.as_seconds() > m.as_seconds()
    {
        problems.push(
            Problem::new(format!("{duration} is longer than the {m} the role allows"))
                .rule(rule.as_str())
                .hint(format!("ask for --duration {m} or less")),
        );
    }
    let justification = ask
        .justification
        .as_deref()
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .map(str::to_string);
    if justification.is_none() {
        problems.push(
            Problem::new("the administrators who decide need a justification")
                .rule("JustificationRule")
                .hint("say why with --justification TEXT"),
        );
    }
    if !problems.is_empty() {
        return Err(refuse(problems));
    }
    Ok(Extension {
        target: t.clone(),
        request: ScheduleRequest {
            surface: t.surface,
            kind,
            action: if renew {
                RequestAction::SelfRenew
            } else {
                RequestAction::SelfExtend
            },
            principal_id: me.id.clone(),
            role_id: t.role_id.clone(),
            scope_id: t.scope_id.clone(),
            schedule: Some(Schedule {
                start: Some(now),
                expiration: Expiration::After(duration),
            }),
            justification,
            ticket: ask.ticket.clone(),
            condition: None,
        },
        duration,
        ends,
        notes,
    })
}
