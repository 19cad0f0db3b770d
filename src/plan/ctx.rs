//! What the planner's stages share: the run's context (the tenant, the
//! options, diagnostics and warnings, how things are named), and the keys
//! that make two grants the same grant.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use foldhash::fast::FixedState;

use super::grant::ResolvedGrant;
use super::{Attr, PlanOptions};
use crate::config::{Diagnostic, Diagnostics, Location};
use crate::model::{Assignment, AssignmentKind, Expiration, RoleRef, SurfaceKind};
use crate::snapshot::{Current, Grant};
use crate::state::Resource;

/// How far two instants may be apart and still be the same end or start:
/// Graph rounds and clamps request times.
pub(super) const TOLERANCE_SECONDS: i64 = 120;

/// The youngest a grant can be and still be removed.
pub(super) const MIN_GRANT_MINUTES: i64 = 5;

/// Graph lets an admin extend a grant only in its last 14 days; earlier,
/// a renewal is an update.
pub(super) const EXTEND_WINDOW_DAYS: i64 = 14;

/// Hash maps and sets of the diff: its keys are ids, not attacker-chosen,
/// and a fixed seed keeps runs alike.
pub(super) type Map<K, V> = HashMap<K, V, FixedState>;
pub(super) type Set<K> = HashSet<K, FixedState>;

/// What makes two grants the same grant: surface, kind, principal, role,
/// scope. Ids are `ObjectId`s, lower case from the start, so they compare
/// as they are.
pub(super) type Key<'a> = (SurfaceKind, AssignmentKind, &'a str, &'a str, &'a str);

pub(super) fn key<'a>(
    surface: SurfaceKind,
    kind: AssignmentKind,
    principal: &'a str,
    role: &'a str,
    scope: &'a str,
) -> Key<'a> {
    (surface, kind, principal, role, scope)
}

pub(super) fn grant_key(g: &Grant) -> Key<'_> {
    key(g.surface, g.kind, &g.principal_id, &g.role_id, &g.scope_id)
}

/// What a state entry grants; `None` for policies.
pub(super) fn resource_key(r: &Resource) -> Option<Key<'_>> {
    Some(key(
        r.surface,
        r.kind?,
        &r.principal_id,
        &r.role_id,
        &r.scope_id,
    ))
}

/// Whether a state entry records this grant: by schedule id, or by what it
/// grants, since Graph may give a changed schedule a new id.
pub(super) fn records(r: &Resource, g: &Grant) -> bool {
    r.schedule_id.as_deref() == Some(g.schedule_id.as_str())
        || resource_key(r) == Some(grant_key(g))
}

pub(super) struct Ctx<'a> {
    pub(super) current: &'a Current,
    pub(super) opts: &'a PlanOptions,
    pub(super) diags: Diagnostics,
    pub(super) warnings: Vec<String>,
    /// `current.principals` hashed, built on first use: naming every
    /// unmanaged grant through the ordered map costs more than building it.
    principals: std::cell::OnceCell<Map<&'a str, &'a crate::snapshot::Principal>>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(current: &'a Current, opts: &'a PlanOptions) -> Self {
        Ctx {
            current,
            opts,
            diags: Diagnostics::default(),
            warnings: Vec::new(),
            principals: std::cell::OnceCell::new(),
        }
    }

    pub(super) fn error(&mut self, at: Option<&Location>, msg: String, hint: Option<String>) {
        let mut d = Diagnostic::error(msg);
        if let Some(at) = at {
            d = d.at_location(at);
        }
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.diags.push(d);
    }

    pub(super) fn role_name(&self, surface: SurfaceKind, role_id: &str) -> String {
        crate::surface::get(surface).role_name(self.current, role_id)
    }

    /// What a change is about, as plans head it: the role, or a group's
    /// access (`member of group:Tier0 Admins`).
    pub(super) fn target_name(
        &self,
        surface: SurfaceKind,
        role_id: &str,
        scope_id: &str,
    ) -> String {
        crate::surface::get(surface).policy_name(self.current, role_id, scope_id)
    }

    pub(super) fn principal_name(&self, id: &str) -> String {
        let principals = self.principals.get_or_init(|| {
            let all = &self.current.principals;
            let mut map = Map::with_capacity_and_hasher(all.len(), FixedState::default());
            map.extend(all.iter().map(|(id, p)| (id.as_str(), p)));
            map
        });
        principals
            .get(id)
            .map_or_else(|| id.to_string(), |p| p.reference())
    }

    pub(super) fn scope_name(&self, surface: SurfaceKind, scope_id: &str) -> String {
        crate::surface::get(surface).scope_name(self.current, scope_id)
    }

    pub(super) fn show_time(t: DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    pub(super) fn current_attrs(&self, g: &Grant) -> Vec<Attr> {
        let surface = crate::surface::get(g.surface);
        let mut v = vec![
            attr("principal", self.principal_name(&g.principal_id)),
            attr(
                surface.role_attribute(),
                surface.role_name(self.current, &g.role_id),
            ),
            attr(
                surface.scope_attribute(),
                surface.scope_name(self.current, &g.scope_id),
            ),
        ];
        if let Some(s) = g.start {
            v.push(attr("start", Self::show_time(s)));
        }
        v.push(attr(
            "end",
            g.end()
                .map_or_else(|| "permanent".to_string(), Self::show_time),
        ));
        if let Some(c) = &g.condition {
            v.push(attr("condition", c.clone()));
        }
        v
    }

    /// The attributes a grant will have: `start` and `end` as they will be
    /// when known, else as declared. Of a grant that exists (`ids`), names
    /// are the tenant's: a UPN declared in another case, or a role by its
    /// id, is the same object and no change.
    pub(super) fn desired_attrs(
        &self,
        a: &Assignment,
        ids: Option<&ResolvedGrant>,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Vec<Attr> {
        let surface = crate::surface::get(a.surface);
        let (role, scope) = (surface.role_attribute(), surface.scope_attribute());
        let mut v = match ids {
            Some(ids) => vec![
                attr("principal", self.principal_name(&ids.principal_id)),
                attr(role, surface.role_name(self.current, &ids.role_id)),
                attr(scope, surface.scope_name(self.current, &ids.scope_id)),
            ],
            None => vec![
                attr("principal", a.principal.to_string()),
                attr(
                    role,
                    match &a.role {
                        RoleRef::Id(id) => surface.role_name(self.current, id),
                        RoleRef::Name(_) if a.surface == SurfaceKind::AzureRole => {
                            crate::surface::azure_role_name(&a.role).to_string()
                        }
                        RoleRef::Name(n) => n.clone(),
                    },
                ),
                attr(scope, a.scope.to_string()),
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
        if let Some(c) = &a.condition {
            v.push(attr("condition", c.clone()));
        }
        v
    }
}

pub(super) fn attr(name: &str, value: String) -> Attr {
    Attr {
        name: name.to_string(),
        value,
    }
}

pub(super) fn close(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_seconds().abs() <= TOLERANCE_SECONDS
}
