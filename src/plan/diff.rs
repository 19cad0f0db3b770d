//! The diff itself: grants by (kind, principal, role, scope), policies rule
//! by rule, removals of what state manages and exclusive roles forbid, the
//! policy check of every request, and the ordering and guards of the plan.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use foldhash::fast::FixedState;

use super::rules::{desired_rules, diff_rules, named_rules, rule_settings};
use super::{
    Action, Attr, Basis, Change, PLAN_FORMAT_VERSION, Plan, PlanError, PlanOptions, Reason,
    RequestAction, Resolved, RulePatch, ScheduleRequest, Step, Subject, Summary, Unmanaged,
};
use crate::config::{Declared, Desired, Diagnostic, Diagnostics, Location, Origin};
use crate::model::{
    Address, Approver, Assignment, AssignmentKind, BlockKind, EnablementFactor, Expiration,
    PrincipalKind, RuleId, RuleSet, RuleValue, Schedule,
};
use crate::snapshot::{ActiveType, Current, Grant, MemberType};
use crate::state::{Resource, StateFile};

/// How far two instants may be apart and still be the same end or start:
/// Graph rounds and clamps request times.
const TOLERANCE_SECONDS: i64 = 120;

/// The youngest a grant can be and still be removed.
const MIN_GRANT_MINUTES: i64 = 5;

/// Graph lets an admin extend a grant only in its last 14 days; earlier,
/// a renewal is an update.
const EXTEND_WINDOW_DAYS: i64 = 14;

/// A Graph object id, equal to another regardless of ASCII case, as Graph
/// compares them. Borrowed, so indexing a tenant of tens of thousands of
/// grants allocates nothing per grant.
#[derive(Debug, Clone, Copy)]
struct Id<'a>(&'a str);

impl PartialEq for Id<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Id<'_> {}

impl Hash for Id<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let bytes = self.0.as_bytes();
        // Graph writes ids in lower case: hash those as they are. (A fold,
        // not `any`, so the check is vectorised.)
        // Both ways write the same pieces, so equal ids hash alike.
        const PIECE: usize = 64;
        if !bytes
            .iter()
            .fold(false, |up, b| up | b.is_ascii_uppercase())
        {
            for chunk in bytes.chunks(PIECE) {
                state.write(chunk);
            }
            state.write_u8(0xff);
            return;
        }
        let mut buf = [0u8; PIECE];
        for chunk in bytes.chunks(PIECE) {
            let lower = &mut buf[..chunk.len()];
            lower.copy_from_slice(chunk);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
        state.write_u8(0xff);
    }
}

/// Hash maps and sets of the diff: its keys are ids, not attacker-chosen,
/// and a fixed seed keeps runs alike.
type Map<K, V> = HashMap<K, V, FixedState>;
type Set<K> = HashSet<K, FixedState>;

/// What makes two grants the same grant: kind, principal, role, scope.
type Key<'a> = (AssignmentKind, Id<'a>, Id<'a>, &'a str);

fn key<'a>(kind: AssignmentKind, principal: &'a str, role: &'a str, scope: &'a str) -> Key<'a> {
    (kind, Id(principal), Id(role), scope)
}

fn grant_key(g: &Grant) -> Key<'_> {
    key(g.kind, &g.principal_id, &g.role_id, &g.scope_id)
}

struct Ctx<'a> {
    current: &'a Current,
    opts: &'a PlanOptions,
    diags: Diagnostics,
    warnings: Vec<String>,
    /// `current.principals` hashed, built on first use: naming every
    /// unmanaged grant through the ordered map costs more than building it.
    principals: std::cell::OnceCell<Map<&'a str, &'a crate::snapshot::Principal>>,
}

impl<'a> Ctx<'a> {
    fn new(current: &'a Current, opts: &'a PlanOptions) -> Self {
        Ctx {
            current,
            opts,
            diags: Diagnostics::default(),
            warnings: Vec::new(),
            principals: std::cell::OnceCell::new(),
        }
    }

    fn error(&mut self, at: Option<&Location>, msg: String, hint: Option<String>) {
        let mut d = Diagnostic::error(msg);
        if let Some(at) = at {
            d = d.at_location(at);
        }
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.diags.push(d);
    }

    fn role_name(&self, role_id: &str) -> String {
        if let Some(r) = self.current.roles.get(role_id) {
            return r.display_name.clone();
        }
        crate::model::RoleRef::Id(role_id.to_string())
            .builtin()
            .map_or_else(|| role_id.to_string(), |b| b.display_name.clone())
    }

    fn principal_name(&self, id: &str) -> String {
        // Runs once per unmanaged grant: concatenation, not the formatter.
        let principals = self.principals.get_or_init(|| {
            let all = &self.current.principals;
            let mut map = Map::with_capacity_and_hasher(all.len(), FixedState::default());
            map.extend(all.iter().map(|(id, p)| (id.as_str(), p)));
            map
        });
        let (prefix, name) = match principals.get(id).copied() {
            Some(p) => match (p.kind, &p.user_principal_name) {
                (PrincipalKind::User, Some(upn)) => ("user:", upn),
                (PrincipalKind::User, None) => ("user:", &p.display_name),
                (PrincipalKind::Group, _) => ("group:", &p.display_name),
                (PrincipalKind::ServicePrincipal, _) => ("sp:", &p.display_name),
            },
            None => return id.to_string(),
        };
        let mut s = String::with_capacity(prefix.len() + name.len());
        s.push_str(prefix);
        s.push_str(name);
        s
    }

    fn scope_name(&self, scope_id: &str) -> String {
        match scope_id.strip_prefix("/administrativeUnits/") {
            Some(id) => match self.current.administrative_units.get(id) {
                Some(au) => format!("/administrativeUnits/{}", au.display_name),
                None => scope_id.to_string(),
            },
            None => scope_id.to_string(),
        }
    }

    fn show_time(t: DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    fn current_attrs(&self, g: &Grant) -> Vec<Attr> {
        let mut v = vec![
            attr("principal", self.principal_name(&g.principal_id)),
            attr("role", self.role_name(&g.role_id)),
            attr("scope", self.scope_name(&g.scope_id)),
        ];
        if let Some(s) = g.start {
            v.push(attr("start", Self::show_time(s)));
        }
        v.push(attr(
            "end",
            g.end()
                .map_or_else(|| "permanent".to_string(), Self::show_time),
        ));
        v
    }

    /// The attributes a grant will have: `start` and `end` as they will be
    /// when known, else as declared. Of a grant that exists (`ids`), names
    /// are the tenant's: a UPN declared in another case, or a role by its
    /// id, is the same object and no change.
    fn desired_attrs(
        &self,
        a: &Assignment,
        ids: Option<&ResolvedGrant>,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Vec<Attr> {
        let mut v = match ids {
            Some(ids) => vec![
                attr("principal", self.principal_name(&ids.principal_id)),
                attr("role", self.role_name(&ids.role_id)),
                attr("scope", self.scope_name(&ids.scope_id)),
            ],
            None => vec![
                attr("principal", a.principal.to_string()),
                attr("role", a.role.to_string()),
                attr("scope", a.scope.to_string()),
            ],
        };
        if let Some(s) = start.or(a.schedule.start) {
            v.push(attr("start", Self::show_time(s)));
        }
        let end = match (&a.schedule.expiration, end) {
            (Expiration::Permanent, _) => "permanent".to_string(),
            (_, Some(t)) => Self::show_time(t),
            (Expiration::After(d), None) => format!("{d} after apply"),
            (Expiration::At(t), None) => Self::show_time(*t),
        };
        v.push(attr("end", end));
        if let Some(j) = &a.justification {
            v.push(attr("justification", j.clone()));
        }
        v
    }
}

fn attr(name: &str, value: String) -> Attr {
    Attr {
        name: name.to_string(),
        value,
    }
}

/// Grants pim can manage: direct ones, and active ones an admin assigned
/// (activations come and go with their eligibility).
fn manageable(g: &Grant) -> bool {
    g.member_type == MemberType::Direct && g.active_type != Some(ActiveType::Activated)
}

fn close(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_seconds().abs() <= TOLERANCE_SECONDS
}

/// Whether the tenant's grant already has the declared schedule. A
/// `duration` is a rolling length: a time-bound grant whose remaining time
/// does not exceed it is in step (renewal keeps it there).
fn schedule_matches(
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
                && last != d.to_string()
            {
                return false;
            }
            let slack = Duration::seconds(TOLERANCE_SECONDS);
            d.add_to(now).is_some_and(|limit| end <= limit + slack)
        }
    }
}

/// Each role's policy as it will be once the configuration's rule updates
/// are applied, by lower-case role definition id.
pub fn effective_policies(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    opts: &PlanOptions,
) -> HashMap<String, RuleSet> {
    // Problems are the plan's to report; here they only leave the tenant's rules in place.
    policy_changes(&mut Ctx::new(current, opts), desired, resolved).0
}

/// The rule updates the configuration asks for, and each role's policy
/// once they are made (by lower-case role definition id).
fn policy_changes(
    ctx: &mut Ctx<'_>,
    desired: &Desired,
    resolved: &Resolved,
) -> (HashMap<String, RuleSet>, Vec<Change>) {
    let mut effective: HashMap<String, RuleSet> = ctx
        .current
        .policies
        .iter()
        .map(|(role, p)| (role.to_ascii_lowercase(), p.rules.clone()))
        .collect();
    let changes = desired
        .policies
        .iter()
        .filter_map(|p| policy_change(ctx, p, resolved, &mut effective))
        .collect();
    (effective, changes)
}

/// Builds the plan.
pub fn plan(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    state: Option<&StateFile>,
    basis: Basis,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let mut ctx = Ctx::new(current, opts);
    let mut changes: Vec<Change> = Vec::new();
    let mut no_op = 0;

    let n = current.grants.len();
    let mut index: Map<Key, &Grant> = Map::with_capacity_and_hasher(n, FixedState::default());
    let mut by_schedule: Map<&str, &Grant> =
        Map::with_capacity_and_hasher(n, FixedState::default());
    for g in current.grants.iter().filter(|g| manageable(g)) {
        index.insert(grant_key(g), g);
        by_schedule.insert(&g.schedule_id, g);
    }
    let managed: Map<&Address, &crate::state::Resource> = state
        .map(|s| s.resources.iter().map(|r| (&r.address, r)).collect())
        .unwrap_or_default();

    // Policies first: their result is what every grant is checked against.
    let (effective, rule_changes) = policy_changes(&mut ctx, desired, resolved);
    changes.extend(rule_changes);

    let grants: Vec<(&Declared<Assignment>, ResolvedGrant)> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .filter_map(|d| resolve_grant(&mut ctx, d, resolved).map(|r| (d, r)))
        .collect();
    let mut declared_keys: Set<Key> = Set::default();
    let mut first_of: Map<Key, &Declared<Assignment>> = Map::default();
    for (d, r) in &grants {
        let k = key(d.item.kind, &r.principal_id, &r.role_id, &r.scope_id);
        declared_keys.insert(k);
        match first_of.get(&k) {
            // Two spellings of one grant (a UPN and an object id, a role name
            // and its template id) would share one schedule and fight over it.
            Some(first) => ctx.error(
                Some(&d.origin.block),
                format!(
                    "{} declares the same grant as {} (declared at {}): the same principal, role and scope",
                    d.address, first.address, first.origin.block
                ),
                Some("declare each grant once; names are compared after resolving them".into()),
            ),
            None => {
                first_of.insert(k, d);
            }
        }
    }
    let mut matched: Set<&str> = Set::default();
    // By role id as written: a cache of display names.
    let mut role_names: Map<&str, String> = Map::default();
    for (d, ids) in &grants {
        let have = index
            .get(&key(
                d.item.kind,
                &ids.principal_id,
                &ids.role_id,
                &ids.scope_id,
            ))
            .copied();
        if let Some(g) = have {
            matched.insert(&g.schedule_id);
        }
        let managed = managed.get(&d.address).copied();
        if let Expiration::At(t) = d.item.schedule.expiration
            && t <= opts.now
        {
            passed_expiry(&mut ctx, d, t, have.is_some(), managed.is_some());
            no_op += usize::from(have.is_some());
            continue;
        }
        let in_state = match (managed, have) {
            (Some(m), Some(g)) => m.schedule_id.as_deref() == Some(g.schedule_id.as_str()),
            _ => false,
        };
        let last_duration = managed
            .and_then(|m| m.attributes.get("duration"))
            .and_then(|v| v.as_str());
        let matches =
            have.is_some_and(|g| schedule_matches(&d.item.schedule, g, last_duration, opts.now));
        let expiring = |g: &Grant| match (&d.item.schedule.expiration, g.end()) {
            (Expiration::After(_), Some(end)) => {
                opts.renew_within.add_to(opts.now).is_some_and(|w| end <= w)
            }
            _ => false,
        };
        // Most declared grants of a routine run are in step: count them
        // without building what a change would show.
        if in_state && matches && !have.is_some_and(expiring) {
            no_op += 1;
            continue;
        }
        let role = role_names
            .entry(&ids.role_id)
            .or_insert_with(|| ctx.role_name(&ids.role_id))
            .clone();
        let rules = effective.get(&ids.role_id.to_ascii_lowercase());
        let base = ScheduleRequest {
            kind: d.item.kind,
            action: RequestAction::AdminAssign,
            principal_id: ids.principal_id.clone(),
            role_id: ids.role_id.clone(),
            scope_id: ids.scope_id.clone(),
            schedule: Some(d.item.schedule.clone()),
            justification: d.item.justification.clone(),
            ticket: d.item.ticket.clone(),
        };
        let subject = Subject {
            kind: base.kind,
            principal_id: base.principal_id.clone(),
            role_id: base.role_id.clone(),
            scope_id: base.scope_id.clone(),
        };
        let declared = declared_expiration(&d.item);
        let Some(g) = have else {
            check_grant(&mut ctx, d, rules, &role, &d.item.schedule);
            let reason = if managed.is_some() {
                Reason::Drift
            } else {
                Reason::Declared
            };
            changes.push(Change {
                address: d.address.clone(),
                action: Action::Create,
                reason,
                role,
                before: None,
                after: Some(ctx.desired_attrs(&d.item, None, None, None)),
                origin: Some(d.origin.block.clone()),
                step: Step::Grant {
                    subject,
                    schedule_id: None,
                    declared: Some(declared),
                    requests: vec![base],
                },
            });
            continue;
        };
        // An update keeps the grant's start and sends a fixed end, so what
        // the plan shows is what Graph stores (it clamps past starts). A
        // rolling duration counts from now (or a declared start still to
        // come), never from when the grant began: see the README's table.
        let start = d.item.schedule.start.or(g.start);
        let new_end = match &d.item.schedule.expiration {
            Expiration::Permanent => None,
            Expiration::At(t) => Some(*t),
            Expiration::After(dur) => {
                let from = d.item.schedule.start.map_or(opts.now, |s| s.max(opts.now));
                dur.add_to(from)
            }
        };
        let new_schedule = Schedule {
            start,
            expiration: new_end.map_or(Expiration::Permanent, Expiration::At),
        };
        let update = ScheduleRequest {
            action: RequestAction::AdminUpdate,
            schedule: Some(new_schedule.clone()),
            ..base.clone()
        };
        let before = Some(ctx.current_attrs(g));
        // The justification goes with requests, not schedules: an existing
        // grant has none to compare, so it is not shown as a change.
        let existing = |mut v: Vec<Attr>| {
            v.retain(|a| a.name != "justification");
            v
        };
        let unchanged = existing(ctx.desired_attrs(&d.item, Some(ids), g.start, g.end()));
        let updated = existing(ctx.desired_attrs(&d.item, Some(ids), start, new_end));
        let update_schedule = new_schedule;
        let change = |action, reason, after, requests| Change {
            address: d.address.clone(),
            action,
            reason,
            role: role.clone(),
            before: before.clone(),
            after: Some(after),
            origin: Some(d.origin.block.clone()),
            step: Step::Grant {
                subject: subject.clone(),
                schedule_id: Some(g.schedule_id.clone()),
                declared: Some(declared.clone()),
                requests,
            },
        };
        // A rolling duration that ends within the window is renewed, from now.
        let renewal = match (&d.item.schedule.expiration, g.end()) {
            (Expiration::After(dur), Some(end))
                if matches && opts.renew_within.add_to(opts.now).is_some_and(|w| end <= w) =>
            {
                let new_end = dur.add_to(opts.now);
                let action = if end - opts.now <= Duration::days(EXTEND_WINDOW_DAYS) {
                    RequestAction::AdminExtend
                } else {
                    RequestAction::AdminUpdate
                };
                let schedule = Schedule {
                    start: g.start,
                    expiration: new_end.map_or(Expiration::After(*dur), Expiration::At),
                };
                check_grant(&mut ctx, d, rules, &role, &schedule);
                let req = ScheduleRequest {
                    action,
                    schedule: Some(schedule),
                    ..base.clone()
                };
                Some((
                    req,
                    existing(ctx.desired_attrs(&d.item, Some(ids), g.start, new_end)),
                ))
            }
            _ => None,
        };
        if !in_state {
            let (reason, requests, after) = match (matches, renewal) {
                (true, None) => (Reason::Declared, vec![], unchanged),
                (true, Some((req, after))) => (Reason::Expiring, vec![req], after),
                (false, _) => {
                    check_grant(&mut ctx, d, rules, &role, &update_schedule);
                    (Reason::Declared, vec![update], updated)
                }
            };
            changes.push(change(Action::Adopt, reason, after, requests));
            continue;
        }
        if !matches {
            check_grant(&mut ctx, d, rules, &role, &update_schedule);
            // Config unchanged since the last apply means someone else changed the tenant.
            let reason = if last_duration.is_some()
                && managed.is_some_and(|m| same_declaration(m, &d.item))
            {
                Reason::Drift
            } else {
                Reason::Declared
            };
            changes.push(change(Action::Update, reason, updated, vec![update]));
            continue;
        }
        if let Some((req, after)) = renewal {
            changes.push(change(Action::Renew, Reason::Expiring, after, vec![req]));
            continue;
        }
        changes.push(change(Action::NoOp, Reason::Declared, unchanged, vec![]));
    }

    // Managed grants that are no longer declared.
    let declared: Set<&Address> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .map(|d| &d.address)
        .collect();
    let mut removed: Set<&str> = Set::default();
    for r in state.map(|s| s.resources.as_slice()).unwrap_or_default() {
        let Some(kind) = r.kind else { continue };
        if declared.contains(&r.address) {
            continue;
        }
        let found = r
            .schedule_id
            .as_deref()
            .and_then(|id| by_schedule.get(id))
            .or_else(|| index.get(&key(kind, &r.principal_id, &r.role_id, &r.scope_id)))
            .copied();
        if let Some(g) = found {
            if declared_keys.contains(&grant_key(g)) {
                continue; // re-declared under another address: that address adopts it
            }
            if too_young(&mut ctx, &r.address, g) {
                continue;
            }
            removed.insert(&g.schedule_id);
            changes.push(removal(&ctx, r.address.clone(), g, Reason::NotDeclared));
        }
    }

    // Undeclared holders of exclusive roles.
    for role in desired.roles.iter().filter(|r| r.item.exclusive) {
        let Some(role_id) = resolved.role(&role.item.role) else {
            continue;
        };
        let mut holders: Vec<&Grant> = current
            .grants
            .iter()
            .filter(|g| manageable(g) && g.role_id.eq_ignore_ascii_case(&role_id))
            .filter(|g| {
                !matched.contains(g.schedule_id.as_str())
                    && !removed.contains(g.schedule_id.as_str())
            })
            .collect();
        holders.sort_by(|a, b| a.schedule_id.cmp(&b.schedule_id));
        for g in holders {
            let who = format!("{} {}", g.kind, ctx.principal_name(&g.principal_id));
            let address = Address::new(BlockKind::Role, role.address.name.clone()).with_key(who);
            if too_young(&mut ctx, &address, g) {
                removed.insert(&g.schedule_id);
                continue;
            }
            removed.insert(&g.schedule_id);
            let mut change = removal(&ctx, address, g, Reason::Exclusive);
            change.origin = Some(role.origin.block.clone());
            changes.push(change);
        }
    }

    // Whatever planned a removal, the guards see it.
    for id in
        super::guard::keep_protected(desired, resolved, current, &mut changes, &mut ctx.warnings)
    {
        removed.remove(id.as_str());
    }
    super::guard::warn_tier0_removals(desired, resolved, &changes, &mut ctx.warnings);
    let refusals = super::guard::refusals(
        desired,
        resolved,
        current,
        &changes,
        &|id| removed.contains(id),
        opts.max_removals,
        &|id| ctx.role_name(id),
    );

    let managed_ids: Set<&str> = state
        .map(|s| {
            s.resources
                .iter()
                .filter_map(|r| r.schedule_id.as_deref())
                .collect()
        })
        .unwrap_or_default();
    let mut scope_names: Map<&str, String> = Map::default();
    let unmanaged: Vec<Unmanaged> = current
        .grants
        .iter()
        .filter(|g| manageable(g))
        .filter(|g| {
            let id = g.schedule_id.as_str();
            !matched.contains(id) && !removed.contains(id) && !managed_ids.contains(id)
        })
        .map(|g| Unmanaged {
            kind: g.kind,
            principal: ctx.principal_name(&g.principal_id),
            role: role_names
                .entry(&g.role_id)
                .or_insert_with(|| ctx.role_name(&g.role_id))
                .clone(),
            scope: scope_names
                .entry(&g.scope_id)
                .or_insert_with(|| ctx.scope_name(&g.scope_id))
                .clone(),
            end: g.end(),
            schedule_id: g.schedule_id.clone(),
        })
        .collect();
    let unmanaged = sort_unmanaged(unmanaged);

    if ctx.diags.has_errors() {
        let mut d = ctx.diags;
        d.sort();
        return Err(PlanError::Invalid(d));
    }

    let mut summary = Summary {
        no_op,
        ..Summary::default()
    };
    for c in &changes {
        match c.action {
            Action::Create => summary.create += 1,
            Action::Adopt => {
                summary.adopt += 1;
                match (&c.step, c.reason) {
                    (Step::Grant { requests, .. }, _) if requests.is_empty() => {}
                    (_, Reason::Expiring) => summary.adopt_renew += 1,
                    _ => summary.adopt_update += 1,
                }
            }
            Action::Update => summary.update += 1,
            Action::Renew => summary.renew += 1,
            Action::Remove => summary.remove += 1,
            Action::UpdateRules => summary.update_rules += 1,
            Action::NoOp => summary.no_op += 1,
        }
    }
    changes.retain(|c| c.action != Action::NoOp);
    changes.sort_by_cached_key(|c| (c.action.phase(), c.address.to_string()));

    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        created_at: opts.now,
        basis,
        changes,
        unmanaged,
        summary,
        warnings: ctx.warnings,
        refusals,
    })
}

/// Orders unmanaged grants by role, principal, kind, scope and schedule.
/// Tenants have tens of thousands of them over a few dozen roles: roles are
/// compared by rank and indices are sorted, not the entries themselves.
fn sort_unmanaged(entries: Vec<Unmanaged>) -> Vec<Unmanaged> {
    let mut roles: Vec<&str> = entries.iter().map(|u| u.role.as_str()).collect();
    roles.sort_unstable();
    roles.dedup();
    let rank: Vec<usize> = entries
        .iter()
        .map(|u| roles.binary_search(&u.role.as_str()).unwrap_or(0))
        .collect();
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_unstable_by_key(|&i| rank[i]);
    for run in order.chunk_by_mut(|&a, &b| rank[a] == rank[b]) {
        run.sort_unstable_by(|&a, &b| {
            let (x, y) = (&entries[a], &entries[b]);
            (&x.principal, x.kind, &x.scope, &x.schedule_id).cmp(&(
                &y.principal,
                y.kind,
                &y.scope,
                &y.schedule_id,
            ))
        });
    }
    let mut slots: Vec<Option<Unmanaged>> = entries.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// What the state needs that no change of the plan gives it; apply sees to
/// it first. Both come of runs that stopped between Graph's answer and the
/// state write, and of changes made outside pim.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Upkeep {
    /// Entries with nothing left to manage: grants no longer declared and
    /// gone from the tenant, or declared under another address now (a
    /// renamed block, which adopts the grant), and policies no longer
    /// declared (their rules stay as the tenant has them).
    pub forget: Vec<Address>,
    /// Declared policies the tenant already has as declared but the state
    /// does not record: recorded with the settings their blocks name, so
    /// that drift in them is reported.
    pub record: Vec<Resource>,
}

impl Upkeep {
    pub fn is_empty(&self) -> bool {
        self.forget.is_empty() && self.record.is_empty()
    }

    /// `state` with the upkeep done (the serial is the caller's).
    pub fn apply_to(&self, state: &mut StateFile) {
        state
            .resources
            .retain(|r| !self.forget.contains(&r.address));
        state.resources.extend(self.record.iter().cloned());
        state.resources.sort_by_key(|r| r.address.to_string());
    }
}

pub fn upkeep(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    state: &StateFile,
    opts: &PlanOptions,
) -> Upkeep {
    Upkeep {
        forget: orphans(desired, current, resolved, state, opts.now),
        record: unrecorded_policies(desired, current, resolved, state, opts),
    }
}

fn unrecorded_policies(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    state: &StateFile,
    opts: &PlanOptions,
) -> Vec<Resource> {
    let mut ctx = Ctx::new(current, opts);
    let mut out = Vec::new();
    for p in desired
        .policies
        .iter()
        .filter(|p| state.get(&p.address).is_none())
    {
        // Problems are the plan's to report.
        let Some(t) = policy_target(&mut ctx, p, resolved) else {
            continue;
        };
        if t.after != t.current.rules {
            continue; // the plan updates it, and apply records it then
        }
        let name = |a: &Approver| approver_name(&ctx, resolved, a);
        let settings = rule_settings(&t.after, &named_rules(&p.item.rules), &name);
        out.push(Resource::policy(
            p.address.clone(),
            &t.role_id,
            &t.current.policy_id,
            settings.into_iter().map(|s| (s.setting, s.after)),
        ));
    }
    out
}

fn orphans(
    desired: &Desired,
    current: &Current,
    resolved: &Resolved,
    state: &StateFile,
    now: DateTime<Utc>,
) -> Vec<Address> {
    let passed = |d: &&Declared<Assignment>| matches!(d.item.schedule.expiration, Expiration::At(t) if t <= now);
    let ids_of: Vec<(AssignmentKind, [String; 3])> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .filter(|d| !passed(d))
        .filter_map(|d| {
            let a = &d.item;
            Some((
                a.kind,
                [
                    resolved.principal(&a.principal)?,
                    resolved.role(&a.role)?,
                    resolved.scope(&a.scope)?,
                ],
            ))
        })
        .collect();
    let declared_keys: Set<Key> = ids_of
        .iter()
        .map(|(kind, [p, r, s])| key(*kind, p, r, s))
        .collect();
    let declared: HashSet<&Address> = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .filter(|d| !passed(d))
        .map(|d| &d.address)
        .chain(desired.policies.iter().map(|p| &p.address))
        .collect();
    let present: HashSet<Key> = current
        .grants
        .iter()
        .filter(|g| manageable(g))
        .map(|g| key(g.kind, &g.principal_id, &g.role_id, &g.scope_id))
        .collect();
    let ids: HashSet<&str> = current
        .grants
        .iter()
        .filter(|g| manageable(g))
        .map(|g| g.schedule_id.as_str())
        .collect();
    state
        .resources
        .iter()
        .filter(|r| !declared.contains(&r.address))
        .filter(|r| match r.kind {
            None => r.address.kind == BlockKind::Policy,
            Some(kind) => {
                let k = key(kind, &r.principal_id, &r.role_id, &r.scope_id);
                declared_keys.contains(&k)
                    || (!r.schedule_id.as_deref().is_some_and(|id| ids.contains(id))
                        && !present.contains(&k))
            }
        })
        .map(|r| r.address.clone())
        .collect()
}

/// How a declaration says its grant ends, as state records it.
pub(crate) fn declared_expiration(a: &Assignment) -> String {
    match &a.schedule.expiration {
        Expiration::Permanent => "permanent".to_string(),
        Expiration::After(d) => d.to_string(),
        Expiration::At(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }
}

fn same_declaration(m: &crate::state::Resource, a: &Assignment) -> bool {
    m.attributes.get("duration").and_then(|v| v.as_str()) == Some(declared_expiration(a).as_str())
}

/// Graph refuses to end a grant in its first five minutes
/// (`ActiveDurationTooShort`): such a removal waits for a later run.
fn too_young(ctx: &mut Ctx<'_>, address: &Address, g: &Grant) -> bool {
    let Some(start) = g.start.or(g.created) else {
        return false;
    };
    if ctx.opts.now - start >= Duration::minutes(MIN_GRANT_MINUTES) {
        return false;
    }
    ctx.warnings.push(format!(
        "{address} began less than {MIN_GRANT_MINUTES} minutes ago, and Graph refuses to end a grant that young (ActiveDurationTooShort): it is kept for now, and a run after {} will remove it",
        Ctx::show_time(start + Duration::minutes(MIN_GRANT_MINUTES))
    ));
    true
}

fn removal(ctx: &Ctx<'_>, address: Address, g: &Grant, reason: Reason) -> Change {
    Change {
        address,
        action: Action::Remove,
        reason,
        role: ctx.role_name(&g.role_id),
        before: Some(ctx.current_attrs(g)),
        after: None,
        origin: None,
        step: Step::Grant {
            subject: Subject {
                kind: g.kind,
                principal_id: g.principal_id.clone(),
                role_id: g.role_id.clone(),
                scope_id: g.scope_id.clone(),
            },
            schedule_id: Some(g.schedule_id.clone()),
            declared: None,
            requests: vec![ScheduleRequest {
                kind: g.kind,
                action: RequestAction::AdminRemove,
                principal_id: g.principal_id.clone(),
                role_id: g.role_id.clone(),
                scope_id: g.scope_id.clone(),
                schedule: None,
                justification: Some(format!("Removed by pim: {}", reason.describe())),
                ticket: None,
            }],
        },
    }
}

/// Resolves a declared grant's principal, role and scope to ids, reporting
/// what cannot be resolved at its line.
fn resolve_grant(
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
    if role.is_none() {
        ctx.error(
            Some(d.origin.attribute("role")),
            format!("role \"{}\" was not found in the tenant", a.role),
            None,
        );
    }
    if scope.is_none() {
        ctx.error(
            Some(d.origin.attribute("scope")),
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
struct ResolvedGrant {
    principal_id: String,
    role_id: String,
    scope_id: String,
}

/// A declared policy worked out against the tenant: the rules it will have.
struct PolicyTarget<'c> {
    role_id: String,
    current: &'c crate::snapshot::Policy,
    after: RuleSet,
}

/// How an approver reads in a plan: as the tenant names it, else as the
/// configuration refers to it, else by id. Looked up per approver, since a
/// policy has a handful of approvers and a tenant tens of thousands of
/// principals.
fn approver_name(ctx: &Ctx<'_>, resolved: &Resolved, a: &Approver) -> String {
    let id = a.id();
    let principals = &ctx.current.principals;
    let known = principals
        .get_key_value(id)
        .map(|(k, _)| k)
        .or_else(|| principals.keys().find(|k| k.eq_ignore_ascii_case(id)));
    if let Some(k) = known {
        return ctx.principal_name(k);
    }
    resolved
        .principals
        .iter()
        .find(|(_, v)| v.eq_ignore_ascii_case(id))
        .map_or_else(|| id.to_string(), |(r, _)| r.to_string())
}

fn policy_target<'c>(
    ctx: &mut Ctx<'c>,
    p: &Declared<crate::config::Policy>,
    resolved: &Resolved,
) -> Option<PolicyTarget<'c>> {
    let at = Some(&p.origin.block);
    let Some(role_id) = resolved.role(&p.item.role) else {
        if !resolved.names_reported {
            ctx.error(
                at,
                format!("role \"{}\" was not found in the tenant", p.item.role),
                None,
            );
        }
        return None;
    };
    let all = ctx.current;
    let Some(current) = all.policies.get(&role_id).or_else(|| {
        all.policies
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&role_id))
            .map(|(_, v)| v)
    }) else {
        ctx.error(
            at,
            format!("the tenant has no PIM policy for role \"{}\"", p.item.role),
            None,
        );
        return None;
    };
    let mut approvers = Vec::new();
    if let Some(approval) = &p.item.rules.activation.approval {
        for a in &approval.approvers {
            let approvers_at = Some(p.origin.attribute("activation.approval.approvers"));
            let Some(id) = resolved.principal(a) else {
                if !resolved.names_reported {
                    ctx.error(
                        approvers_at,
                        format!("approver {a} was not found in the tenant"),
                        None,
                    );
                }
                continue;
            };
            let kind = a
                .kind()
                .or_else(|| ctx.current.principals.get(&id).map(|p| p.kind));
            match kind {
                Some(PrincipalKind::User) => approvers.push(Approver::User {
                    id: id.clone(),
                    description: Some(a.name().to_string()),
                }),
                Some(PrincipalKind::Group) => approvers.push(Approver::Group {
                    id: id.clone(),
                    description: Some(a.name().to_string()),
                }),
                _ => ctx.error(
                    approvers_at,
                    format!("{a} cannot approve activations: approvers are users or groups"),
                    Some("name users (user:UPN) or groups (group:Name) as approvers".into()),
                ),
            }
        }
    }
    let after = match desired_rules(&current.rules, &p.item.rules, &approvers) {
        Ok(r) => r,
        Err(e) => {
            ctx.error(at, format!("policy of \"{}\": {e}", p.item.role), None);
            return None;
        }
    };
    Some(PolicyTarget {
        role_id,
        current,
        after,
    })
}

fn policy_change(
    ctx: &mut Ctx<'_>,
    p: &Declared<crate::config::Policy>,
    resolved: &Resolved,
    effective: &mut HashMap<String, RuleSet>,
) -> Option<Change> {
    let t = policy_target(ctx, p, resolved)?;
    effective.insert(t.role_id.to_ascii_lowercase(), t.after.clone());
    let name = |a: &Approver| approver_name(ctx, resolved, a);
    let (role_id, current, after) = (t.role_id.clone(), t.current, t.after.clone());
    let settings = diff_rules(&current.rules, &after, &name);
    if settings.is_empty() {
        return None;
    }
    let changed: HashSet<RuleId> = settings.iter().map(|s| s.rule).collect();
    let rules = RuleSet {
        rules: after
            .rules
            .into_iter()
            .filter(|(id, _)| changed.contains(id))
            .collect(),
    };
    let before = settings
        .iter()
        .map(|s| attr(&s.setting, s.before.clone()))
        .collect();
    let after_attrs = settings
        .iter()
        .map(|s| attr(&s.setting, s.after.clone()))
        .collect();
    Some(Change {
        address: p.address.clone(),
        action: Action::UpdateRules,
        reason: Reason::Declared,
        role: ctx.role_name(&role_id),
        before: Some(before),
        after: Some(after_attrs),
        origin: Some(p.origin.block.clone()),
        step: Step::Rules(RulePatch {
            policy_id: current.policy_id.clone(),
            role_id,
            rules,
            settings,
        }),
    })
}

/// A passed `expires` is how a grant ends: no error for one that exists
/// (Graph ends it) or that state still records (it is forgotten), but
/// nothing is created that has already ended.
fn passed_expiry(
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
fn check_grant(
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
            if (end - from).num_seconds() > max.approx_seconds() + TOLERANCE_SECONDS {
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
    use std::hash::BuildHasher;

    #[test]
    fn ids_are_one_key_whatever_their_case() {
        let hasher = FixedState::default();
        let long = "62E90394-69F5-4237-9190-012177145E10".repeat(3);
        for (a, b) in [
            (
                "62e90394-69f5-4237-9190-012177145e10",
                "62E90394-69F5-4237-9190-012177145E10",
            ),
            ("abc", "ABC"),
            (long.as_str(), &long.to_ascii_lowercase()),
        ] {
            assert_eq!(Id(a), Id(b));
            assert_eq!(hasher.hash_one(Id(a)), hasher.hash_one(Id(b)), "{a} / {b}");
        }
        assert_ne!(Id("abc"), Id("abd"));
        assert_ne!(hasher.hash_one(Id("ab")), hasher.hash_one(Id("abc")));
    }
}
