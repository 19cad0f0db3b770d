//! The decision for one declared grant: what the tenant and the state hold
//! of it make it a create, an adoption, an update, a renewal or nothing;
//! and every end it sends is checked against the role's policy.

use chrono::{DateTime, Duration, Utc};

use super::ctx::{Ctx, EXTEND_WINDOW_DAYS, MIN_GRANT_MINUTES, TOLERANCE_SECONDS, close, records};
use super::{
    Action, Attr, Change, Reason, RequestAction, Resolved, ScheduleRequest, Step, Subject,
};
use crate::config::{Declared, Origin};
use crate::model::{
    Assignment, AssignmentKind, EnablementFactor, Expiration, ObjectId, RuleId, RuleSet, RuleValue,
    Schedule,
};
use crate::snapshot::Grant;
use crate::state::Resource;

/// What the tenant and the state hold of a declared grant.
#[derive(Clone, Copy)]
pub(super) struct Found<'a> {
    /// The tenant's grant with the same kind, principal, role and scope.
    pub(super) have: Option<&'a Grant>,
    /// The state's entry at the declaration's address.
    pub(super) managed: Option<&'a Resource>,
}

/// Decides what to do with one declared grant, given what exists of it and
/// its role's effective rules: `None` when there is nothing to do (it is in
/// step, or its fixed end has passed). Problems go to `ctx`; `role` names
/// the role for the change, asked only when there is one.
pub(super) fn decide(
    ctx: &mut Ctx<'_>,
    d: &Declared<Assignment>,
    ids: &ResolvedGrant,
    found: Found<'_>,
    rules: Option<&RuleSet>,
    role: impl FnOnce(&Ctx<'_>) -> String,
) -> Option<Change> {
    let now = ctx.opts.now;
    let Found { have, managed } = found;
    if let Expiration::At(t) = d.item.schedule.expiration
        && t <= now
    {
        passed_expiry(ctx, d, t, have.is_some(), managed.is_some());
        return None;
    }
    let last_duration = managed
        .and_then(|m| m.attributes.get("duration"))
        .and_then(|v| v.as_str());
    let matches = have.is_some_and(|g| {
        schedule_matches(&d.item.schedule, g, last_duration, now)
            && same_condition(d.item.condition.as_deref(), g.condition.as_deref())
    });
    let in_state = match (managed, have) {
        (Some(m), Some(g)) => records(m, g),
        _ => false,
    };
    // Changed outside pim since pim applied it, the configuration saying
    // what it said then: put back, even where a rolling duration would take
    // the grant as in step (shortened, say).
    let changed_outside = in_state
        && managed.zip(have).is_some_and(|(m, g)| {
            same_declaration(m, &d.item)
                && m.applied_end()
                    .is_some_and(|end| !crate::state::same_end(end, g.end()))
        });
    let recorded = in_state
        && managed
            .zip(have)
            .is_some_and(|(m, g)| recorded_end_stands(m, &d.item, g));
    let matches = (matches || recorded) && !changed_outside;
    let expiring = have.is_some_and(|g| expiring(ctx, &d.item, g));
    // Most declared grants of a routine run are in step: decided before
    // building anything a change would show.
    if in_state && matches && !expiring {
        return None;
    }
    let role = role(ctx);
    let base = ScheduleRequest {
        surface: d.item.surface,
        kind: d.item.kind,
        action: RequestAction::AdminAssign,
        principal_id: ids.principal_id.clone(),
        role_id: ids.role_id.clone(),
        scope_id: ids.scope_id.clone(),
        schedule: Some(d.item.schedule.clone()),
        justification: d.item.justification.clone(),
        ticket: d.item.ticket.clone(),
        condition: d.item.condition.clone(),
    };
    let Some(g) = have else {
        return Some(create(ctx, d, base, managed.is_some(), rules, role));
    };
    let e = Existing {
        d,
        ids,
        g,
        managed,
        rules,
        role,
        base,
        matches,
        last_duration,
    };
    e.decide(ctx, in_state)
}

/// An Azure role grant's condition, as declared and as ARM holds it: the
/// same text but for surrounding space (ARM keeps it as sent).
fn same_condition(declared: Option<&str>, held: Option<&str>) -> bool {
    fn norm(c: Option<&str>) -> Option<&str> {
        c.map(str::trim).filter(|c| !c.is_empty())
    }
    norm(declared) == norm(held)
}

/// A rolling duration whose grant ends within the renewal window.
fn expiring(ctx: &Ctx<'_>, a: &Assignment, g: &Grant) -> bool {
    let opts = ctx.opts;
    match (&a.schedule.expiration, g.end()) {
        (Expiration::After(_), Some(end)) => {
            opts.renew_within.add_to(opts.now).is_some_and(|w| end <= w)
        }
        _ => false,
    }
}

fn subject(r: &ScheduleRequest) -> Subject {
    Subject {
        surface: r.surface,
        kind: r.kind,
        principal_id: r.principal_id.clone(),
        role_id: r.role_id.clone(),
        scope_id: r.scope_id.clone(),
    }
}

/// A grant the tenant does not have. One the state records was removed
/// outside pim.
fn create(
    ctx: &mut Ctx<'_>,
    d: &Declared<Assignment>,
    base: ScheduleRequest,
    managed: bool,
    rules: Option<&RuleSet>,
    role: String,
) -> Change {
    check_grant(ctx, d, rules, &role, &d.item.schedule);
    Change {
        address: d.address.clone(),
        action: Action::Create,
        reason: if managed {
            Reason::Drift
        } else {
            Reason::Declared
        },
        role,
        before: None,
        after: Some(ctx.desired_attrs(&d.item, None, None, None)),
        origin: Some(d.origin.block.clone()),
        step: Step::Grant {
            subject: subject(&base),
            schedule_id: None,
            declared: Some(declared_expiration(&d.item)),
            requests: vec![base],
        },
    }
}

/// A declared grant the tenant has.
struct Existing<'a> {
    d: &'a Declared<Assignment>,
    ids: &'a ResolvedGrant,
    g: &'a Grant,
    managed: Option<&'a Resource>,
    rules: Option<&'a RuleSet>,
    role: String,
    base: ScheduleRequest,
    /// The tenant's schedule is the declared one.
    matches: bool,
    last_duration: Option<&'a str>,
}

impl Existing<'_> {
    fn decide(self, ctx: &mut Ctx<'_>, in_state: bool) -> Option<Change> {
        let (d, g) = (self.d, self.g);
        let (update, updated) = self.update(ctx);
        let unchanged =
            existing_attrs(ctx.desired_attrs(&d.item, Some(self.ids), g.start, g.end()));
        let renewal = if self.matches {
            self.renewal(ctx)
        } else {
            None
        };
        let update_schedule = update.schedule.clone().unwrap_or(Schedule {
            start: None,
            expiration: Expiration::Permanent,
        });
        if !in_state {
            let (reason, requests, after) = match (self.matches, renewal) {
                (true, None) => (Reason::Declared, vec![], unchanged),
                (true, Some((req, after))) => (Reason::Expiring, vec![req], after),
                (false, _) => {
                    check_grant(ctx, d, self.rules, &self.role, &update_schedule);
                    (Reason::Declared, vec![update], updated)
                }
            };
            return Some(self.change(ctx, Action::Adopt, reason, after, requests));
        }
        if !self.matches {
            check_grant(ctx, d, self.rules, &self.role, &update_schedule);
            // Config unchanged since the last apply means someone else changed the tenant.
            let reason = if self.last_duration.is_some()
                && self.managed.is_some_and(|m| same_declaration(m, &d.item))
            {
                Reason::Drift
            } else {
                Reason::Declared
            };
            return Some(self.change(ctx, Action::Update, reason, updated, vec![update]));
        }
        let (req, after) = renewal?;
        Some(self.change(ctx, Action::Renew, Reason::Expiring, after, vec![req]))
    }

    /// The update that gives the grant the declared schedule, and how it
    /// reads. It keeps the grant's start and sends a fixed end, so what the
    /// plan shows is what Graph stores (it clamps past starts). A rolling
    /// duration counts from now (or a declared start still to come), never
    /// from when the grant began: see the README's table.
    fn update(&self, ctx: &Ctx<'_>) -> (ScheduleRequest, Vec<Attr>) {
        let (d, now) = (self.d, ctx.opts.now);
        let start = d.item.schedule.start.or(self.g.start);
        let new_end = match &d.item.schedule.expiration {
            Expiration::Permanent => None,
            Expiration::At(t) => Some(*t),
            Expiration::After(dur) => dur.add_to(d.item.schedule.start.map_or(now, |s| s.max(now))),
        };
        let request = ScheduleRequest {
            action: RequestAction::AdminUpdate,
            schedule: Some(Schedule {
                start,
                expiration: new_end.map_or(Expiration::Permanent, Expiration::At),
            }),
            ..self.base.clone()
        };
        let after = existing_attrs(ctx.desired_attrs(&d.item, Some(self.ids), start, new_end));
        (request, after)
    }

    /// A rolling duration that ends within the window is renewed, from now:
    /// by an extension in Graph's last 14 days, by an update before.
    fn renewal(&self, ctx: &mut Ctx<'_>) -> Option<(ScheduleRequest, Vec<Attr>)> {
        let now = ctx.opts.now;
        let (Expiration::After(dur), Some(end)) = (&self.d.item.schedule.expiration, self.g.end())
        else {
            return None;
        };
        if !expiring(ctx, &self.d.item, self.g) {
            return None;
        }
        let new_end = dur.add_to(now);
        let action = if end - now <= Duration::days(EXTEND_WINDOW_DAYS) {
            RequestAction::AdminExtend
        } else {
            RequestAction::AdminUpdate
        };
        let schedule = Schedule {
            start: self.g.start,
            expiration: new_end.map_or(Expiration::After(*dur), Expiration::At),
        };
        check_grant(ctx, self.d, self.rules, &self.role, &schedule);
        let after =
            existing_attrs(ctx.desired_attrs(&self.d.item, Some(self.ids), self.g.start, new_end));
        let request = ScheduleRequest {
            action,
            schedule: Some(schedule),
            ..self.base.clone()
        };
        Some((request, after))
    }

    fn change(
        &self,
        ctx: &Ctx<'_>,
        action: Action,
        reason: Reason,
        after: Vec<Attr>,
        requests: Vec<ScheduleRequest>,
    ) -> Change {
        Change {
            address: self.d.address.clone(),
            action,
            reason,
            role: self.role.clone(),
            before: Some(ctx.current_attrs(self.g)),
            after: Some(after),
            origin: Some(self.d.origin.block.clone()),
            step: Step::Grant {
                subject: subject(&self.base),
                schedule_id: Some(self.g.schedule_id.clone()),
                declared: Some(declared_expiration(&self.d.item)),
                requests,
            },
        }
    }
}

/// The justification goes with requests, not schedules: an existing grant
/// has none to compare, so it is not shown as a change.
fn existing_attrs(mut v: Vec<Attr>) -> Vec<Attr> {
    v.retain(|a| a.name != "justification");
    v
}

/// Whether the tenant's grant already has the declared schedule. A
/// `duration` is a rolling length: a time-bound grant whose remaining time
/// does not exceed it is in step (renewal keeps it there).
pub(super) fn schedule_matches(
    want: &Schedule,
    have: &Grant,
    last_applied_duration: Option<&str>,
    now: DateTime<Utc>,
) -> bool {
    if let (Some(ws), Some(hs)) = (want.start, have.start)
        && !close(ws, hs)
    {
        return false;
    }
    match (&want.expiration, have.end()) {
        (Expiration::Permanent, None) => true,
        (Expiration::Permanent, Some(_)) | (_, None) => false,
        (Expiration::At(t), Some(end)) => close(*t, end),
        (Expiration::After(d), Some(end)) => {
            if let Some(last) = last_applied_duration
                && !crate::state::same_recorded(last, &d.to_string())
            {
                return false;
            }
            let slack = Duration::seconds(TOLERANCE_SECONDS);
            d.add_to(now).is_some_and(|limit| end <= limit + slack)
        }
    }
}

/// A fixed `expires` that state records as standing for the grant's end
/// as the tenant has it, though the two differ: an export writes an end
/// rounded up to a whole day and records the declaration with the exact
/// end. In step while neither the declaration nor the tenant's end has
/// moved since; a changed `expires` is an update, a changed end drift.
pub(super) fn recorded_end_stands(m: &Resource, a: &Assignment, g: &Grant) -> bool {
    let Expiration::At(_) = a.schedule.expiration else {
        return false;
    };
    let start_agrees = match (a.schedule.start, g.start) {
        (None, _) => true,
        (Some(want), Some(have)) => close(want, have),
        (Some(_), None) => false,
    };
    start_agrees
        && g.end().is_some()
        && same_declaration(m, a)
        && m.applied_end()
            .is_some_and(|end| crate::state::same_end(end, g.end()))
}

/// How a declaration says its grant ends, as state records it.
pub(crate) fn declared_expiration(a: &Assignment) -> String {
    match &a.schedule.expiration {
        Expiration::Permanent => "permanent".to_string(),
        Expiration::After(d) => d.to_string(),
        Expiration::At(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }
}

pub(super) fn same_declaration(m: &crate::state::Resource, a: &Assignment) -> bool {
    m.attributes
        .get("duration")
        .and_then(|v| v.as_str())
        .is_some_and(|last| crate::state::same_recorded(last, &declared_expiration(a)))
}

/// Resolves a declared grant's principal, role and scope to ids, reporting
/// what cannot be resolved at its line.
pub(super) fn resolve_grant(
    ctx: &mut Ctx<'_>,
    d: &Declared<Assignment>,
    resolved: &Resolved,
) -> Option<ResolvedGrant> {
    let a = &d.item;
    let principal = resolved.principal(&a.principal);
    let role = resolved.role(&a.role);
    let scope = resolved.scope(&a.scope);
    if resolved.names_reported {
        return Some(ResolvedGrant {
            principal_id: principal?,
            role_id: role?,
            scope_id: scope?,
        });
    }
    if principal.is_none() {
        ctx.error(
            Some(d.origin.attribute("principal")),
            format!("{} was not found in the tenant", a.principal),
            None,
        );
    }
    let surface = crate::surface::get(a.surface);
    if role.is_none() {
        ctx.error(
            Some(d.origin.attribute(surface.role_attribute())),
            format!("role \"{}\" was not found in the tenant", a.role),
            None,
        );
    }
    if scope.is_none() {
        ctx.error(
            Some(d.origin.attribute(surface.scope_attribute())),
            format!("scope {} was not found in the tenant", a.scope),
            None,
        );
    }
    Some(ResolvedGrant {
        principal_id: principal?,
        role_id: role?,
        scope_id: scope?,
    })
}

/// The ids a declared grant resolves to.
pub(super) struct ResolvedGrant {
    pub(super) principal_id: ObjectId,
    pub(super) role_id: ObjectId,
    pub(super) scope_id: String,
}

/// A passed `expires` is how a grant ends: no error for one that exists
/// (Graph ends it) or that state still records (it is forgotten), but
/// nothing is created that has already ended.
pub(super) fn passed_expiry(
    ctx: &mut Ctx<'_>,
    d: &Declared<Assignment>,
    at: DateTime<Utc>,
    exists: bool,
    managed: bool,
) {
    let when = Ctx::show_time(at);
    if exists {
        ctx.warnings.push(format!(
            "{}: expires {when} has passed; the grant is left as it is until Graph ends it (remove the block once it has)",
            d.address
        ));
    } else if managed {
        ctx.warnings.push(format!(
            "{}: expires {when} has passed and the grant has ended; it is forgotten (remove the block)",
            d.address
        ));
    } else {
        ctx.error(
            Some(d.origin.attribute("expires")),
            format!(
                "expires {when} has passed: pim will not create a grant that has already ended"
            ),
            Some(format!(
                "it is now {}; remove the block, or pick a later date or a duration",
                Ctx::show_time(ctx.opts.now)
            )),
        );
    }
}

/// Checks a grant against its role's effective policy, as Graph would the
/// request that `sent` is the schedule of, so a violation is an error at
/// the line that causes it. Also refuses an end that is past or too close.
pub(super) fn check_grant(
    ctx: &mut Ctx<'_>,
    d: &Declared<Assignment>,
    rules: Option<&RuleSet>,
    role: &str,
    sent: &Schedule,
) {
    let a = &d.item;
    let attr_name = match a.schedule.expiration {
        Expiration::At(_) => "expires",
        Expiration::After(_) => "duration",
        Expiration::Permanent => "permanent",
    };
    let now = ctx.opts.now;
    // Graph clamps a past start to now, so the length it checks and the
    // earliest end both count from there.
    let from = sent.start.map_or(now, |s| s.max(now));
    let end = match &sent.expiration {
        Expiration::Permanent => None,
        Expiration::At(t) => Some(*t),
        Expiration::After(dur) => dur.add_to(from),
    };
    if let Some(end) = end
        && end < now + Duration::minutes(MIN_GRANT_MINUTES)
    {
        let when = if end <= now {
            "in the past"
        } else {
            "less than five minutes from now"
        };
        ctx.error(
            Some(d.origin.attribute(attr_name)),
            format!(
                "{} would end at {}, {when}: Graph requires a grant to last at least {MIN_GRANT_MINUTES} minutes",
                d.address,
                Ctx::show_time(end)
            ),
            Some("pick a later date or a longer duration".into()),
        );
        return;
    }
    let Some(rules) = rules else { return };
    let (exp_rule, enable_rule, what) = match a.kind {
        AssignmentKind::Eligible => (
            RuleId::ExpirationAdminEligibility,
            RuleId::EnablementAdminEligibility,
            "eligibility",
        ),
        AssignmentKind::Active => (
            RuleId::ExpirationAdminAssignment,
            RuleId::EnablementAdminAssignment,
            "active assignment",
        ),
    };
    let origin: &Origin = &d.origin;
    if let Some((required, max)) = rules.expiration(exp_rule) {
        if end.is_none() && required {
            ctx.error(
                Some(origin.attribute("permanent")),
                format!("policy of \"{role}\" forbids permanent {what} ({exp_rule})"),
                Some(format!(
                    "set duration or expires, or allow_permanent = true in the policy of \"{role}\""
                )),
            );
        } else if let (true, Some(max), Some(end)) = (required, max, end) {
            // Like Graph, the maximum binds only while expiration is required:
            // a policy that allows permanent grants allows any length.
            if (end - from).num_seconds() > max.as_seconds() + TOLERANCE_SECONDS {
                ctx.error(
                    Some(origin.attribute(attr_name)),
                    format!(
                        "policy of \"{role}\" allows {what} of at most {max} ({exp_rule}); this one would last until {}",
                        Ctx::show_time(end)
                    ),
                    Some(format!(
                        "shorten it, or raise max_duration in the policy of \"{role}\""
                    )),
                );
            }
        }
    }
    let factors = rules.factors(enable_rule);
    if factors.contains(&EnablementFactor::Justification)
        && a.justification
            .as_deref()
            .is_none_or(|j| j.trim().is_empty())
    {
        ctx.error(
            Some(&origin.block),
            format!("policy of \"{role}\" requires a justification for {what} ({enable_rule})"),
            Some("add justification = \"…\" to the block".into()),
        );
    }
    if factors.contains(&EnablementFactor::Ticketing) && a.ticket.is_none() {
        ctx.error(
            Some(&origin.block),
            format!("policy of \"{role}\" requires ticket information for {what} ({enable_rule})"),
            Some("add ticket = \"SYSTEM:NUMBER\" to the block".into()),
        );
    }
    if factors.contains(&EnablementFactor::MultiFactorAuthentication) {
        ctx.warnings.push(format!(
            "{}: policy of \"{role}\" requires MFA for {what} ({enable_rule}); an app-only identity cannot satisfy it",
            d.address
        ));
    }
    if let Some(RuleValue::Approval(_)) = rules.get(RuleId::ApprovalEndUserAssignment) {
        // Approval governs activation, not admin assignment: nothing to check here.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IsoDuration, SurfaceKind};
    use crate::snapshot::{ActiveType, Current, MemberType};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
    }

    fn declared(text: &str) -> Declared<Assignment> {
        let files = vec![(std::path::PathBuf::from("t.pim.hcl"), text.to_string())];
        let d = crate::config::load_sources(
            std::path::Path::new("."),
            files,
            &crate::config::LoadOptions::at(now()),
        )
        .unwrap_or_else(|e| panic!("{}", e.diagnostics()));
        d.eligibilities[0].clone()
    }

    fn grant(began_days_ago: i64, lasts_days: Option<i64>) -> Grant {
        let start = now() - Duration::days(began_days_ago);
        Grant {
            surface: SurfaceKind::DirectoryRole,
            kind: AssignmentKind::Eligible,
            schedule_id: "s1".into(),
            principal_id: "p1".into(),
            role_id: "r1".into(),
            scope_id: "/".into(),
            start: Some(start),
            expiration: lasts_days.map_or(Expiration::Permanent, |d| {
                Expiration::At(start + Duration::days(d))
            }),
            member_type: MemberType::Direct,
            active_type: None::<ActiveType>,
            created_using: None,
            created: Some(start),
            status: "Provisioned".into(),
            condition: None,
        }
    }

    fn managed(duration: &str) -> Resource {
        Resource {
            surface: SurfaceKind::DirectoryRole,
            address: crate::model::Address::parse("eligibility.a").unwrap(),
            kind: Some(AssignmentKind::Eligible),
            schedule_id: Some("s1".into()),
            request_id: None,
            principal_id: "p1".into(),
            role_id: "r1".into(),
            scope_id: "/".into(),
            attributes: serde_json::json!({ "duration": duration }),
        }
    }

    /// A row of the decision's table: its name, the tenant's grant (began
    /// days ago, lasting days), the state's declared duration, the declared
    /// duration, and the decision.
    type Row = (
        &'static str,
        Option<(i64, Option<i64>)>,
        Option<&'static str>,
        &'static str,
        Option<(Action, Reason, Option<RequestAction>)>,
    );

    /// The decision's table: what exists of a grant declared with a rolling
    /// duration, and what is decided.
    const ROWS: [Row; 9] = [
        (
            "absent",
            None,
            None,
            "P30D",
            Some((
                Action::Create,
                Reason::Declared,
                Some(RequestAction::AdminAssign),
            )),
        ),
        (
            "absent but managed",
            None,
            Some("P30D"),
            "P30D",
            Some((
                Action::Create,
                Reason::Drift,
                Some(RequestAction::AdminAssign),
            )),
        ),
        (
            "unmanaged, within the duration",
            Some((10, Some(40))),
            None,
            "P30D",
            Some((Action::Adopt, Reason::Declared, None)),
        ),
        (
            "unmanaged, longer",
            Some((45, Some(400))),
            None,
            "P30D",
            Some((
                Action::Adopt,
                Reason::Declared,
                Some(RequestAction::AdminUpdate),
            )),
        ),
        (
            "unmanaged, ending soon",
            Some((80, Some(85))),
            None,
            "P90D",
            Some((
                Action::Adopt,
                Reason::Expiring,
                Some(RequestAction::AdminExtend),
            )),
        ),
        (
            "managed, in step",
            Some((10, Some(40))),
            Some("P30D"),
            "P30D",
            None,
        ),
        (
            "managed, ending soon",
            Some((80, Some(85))),
            Some("P90D"),
            "P90D",
            Some((
                Action::Renew,
                Reason::Expiring,
                Some(RequestAction::AdminExtend),
            )),
        ),
        (
            "managed, declaration changed",
            Some((45, Some(135))),
            Some("P90D"),
            "P30D",
            Some((
                Action::Update,
                Reason::Declared,
                Some(RequestAction::AdminUpdate),
            )),
        ),
        (
            "managed, changed outside pim",
            Some((45, Some(400))),
            Some("P30D"),
            "P30D",
            Some((
                Action::Update,
                Reason::Drift,
                Some(RequestAction::AdminUpdate),
            )),
        ),
    ];

    #[test]
    fn decisions_for_one_declared_grant() {
        let current = Current::default();
        let mut opts = super::super::PlanOptions::at(now());
        opts.renew_within = IsoDuration::days(14);
        let ids = ResolvedGrant {
            principal_id: "p1".into(),
            role_id: "r1".into(),
            scope_id: "/".into(),
        };
        for (name, have, state, duration, want) in ROWS {
            let mut ctx = Ctx::new(&current, &opts);
            let d = declared(&format!(
                "eligibility \"a\" {{\n  principal = \"user:a@contoso.com\"\n  role = \"Global Reader\"\n  duration = \"{duration}\"\n}}\n"
            ));
            let g = have.map(|(b, l)| grant(b, l));
            let m = state.map(managed);
            let found = Found {
                have: g.as_ref(),
                managed: m.as_ref(),
            };
            let got = decide(&mut ctx, &d, &ids, found, None, |_| "Global Reader".into());
            let got = got.map(|c| {
                let first = match &c.step {
                    Step::Grant { requests, .. } => requests.first().map(|r| r.action),
                    Step::Rules(_) => None,
                };
                (c.action, c.reason, first)
            });
            assert_eq!(got, want, "{name}");
            assert!(!ctx.diags.has_errors(), "{name}: {}", ctx.diags);
        }
    }
}
