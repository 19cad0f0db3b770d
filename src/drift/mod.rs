//! Drift: what changed in the tenant outside of pim, by role. Built from a
//! plan (which already knows what differs and why), the snapshot (who holds
//! what, since when, through which request) and the state (what pim last
//! applied). Reading only: drift never changes the tenant.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::AssignmentKind;
use crate::plan::{Action, Plan, Reason, Step};
use crate::render::escape::{self, text};
use crate::snapshot::Current;
use crate::state::StateFile;

/// A holder that configuration and state do not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddedHolder {
    pub kind: AssignmentKind,
    pub principal: String,
    pub scope: String,
    pub since: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// The schedule request that made it, when Graph says.
    pub request_id: Option<String>,
    pub schedule_id: String,
    /// The role is exclusive: the next apply removes it.
    pub will_be_removed: bool,
}

/// A managed grant changed or removed outside of pim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedGrant {
    pub address: String,
    pub what: String,
    pub before: BTreeMap<String, String>,
    pub after: BTreeMap<String, String>,
}

/// A policy setting changed outside of pim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedSetting {
    pub rule: String,
    pub setting: String,
    /// What pim last applied.
    pub applied: String,
    /// What the tenant has now.
    pub now: String,
}

/// A managed grant that ends within the renewal window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiring {
    pub address: String,
    pub principal: String,
    pub end: String,
}

/// Everything that drifted for one role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoleDrift {
    pub added: Vec<AddedHolder>,
    pub changed: Vec<ChangedGrant>,
    pub policy: Vec<ChangedSetting>,
    pub expiring: Vec<Expiring>,
}

impl RoleDrift {
    fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.changed.is_empty()
            && self.policy.is_empty()
            && self.expiring.is_empty()
    }
}

/// The drift report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    pub format_version: u32,
    pub checked_at: DateTime<Utc>,
    pub has_drift: bool,
    /// By role display name.
    pub roles: BTreeMap<String, RoleDrift>,
}

fn attrs(a: &Option<Vec<crate::plan::Attr>>) -> BTreeMap<String, String> {
    a.iter()
        .flatten()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect()
}

/// Builds the report.
pub fn report(plan: &Plan, current: &Current, state: Option<&StateFile>) -> DriftReport {
    let mut roles: BTreeMap<String, RoleDrift> = BTreeMap::new();
    // By schedule id: a tenant has tens of thousands of unmanaged grants.
    let mut by_id: std::collections::HashMap<&str, &crate::snapshot::Grant> =
        std::collections::HashMap::with_capacity(current.grants.len());
    for g in &current.grants {
        by_id.entry(g.schedule_id.as_str()).or_insert(g);
    }
    let grant = |id: &str| by_id.get(id).copied();

    for u in &plan.unmanaged {
        let g = grant(&u.schedule_id);
        roles
            .entry(u.role.clone())
            .or_default()
            .added
            .push(AddedHolder {
                kind: u.kind,
                principal: u.principal.clone(),
                scope: u.scope.clone(),
                since: g.and_then(|g| g.created.or(g.start)),
                end: u.end,
                request_id: g.and_then(|g| g.created_using.clone()),
                schedule_id: u.schedule_id.clone(),
                will_be_removed: false,
            });
    }
    for c in &plan.changes {
        let entry = roles.entry(c.role.clone()).or_default();
        match (c.action, c.reason) {
            (Action::Remove, Reason::Exclusive) => {
                let before = attrs(&c.before);
                let Step::Grant {
                    schedule_id: Some(id),
                    subject,
                    ..
                } = &c.step
                else {
                    continue;
                };
                let g = grant(id);
                entry.added.push(AddedHolder {
                    kind: subject.kind,
                    principal: before.get("principal").cloned().unwrap_or_default(),
                    scope: before
                        .get(crate::surface::get(subject.surface).scope_attribute())
                        .cloned()
                        .unwrap_or_default(),
                    since: g.and_then(|g| g.created.or(g.start)),
                    end: g.and_then(|g| g.end()),
                    request_id: g.and_then(|g| g.created_using.clone()),
                    schedule_id: id.clone(),
                    will_be_removed: true,
                });
            }
            (Action::Create, Reason::Drift) => entry.changed.push(ChangedGrant {
                address: c.address.to_string(),
                what: "removed outside of pim".into(),
                before: BTreeMap::new(),
                after: attrs(&c.after),
            }),
            (Action::Update, Reason::Drift) => entry.changed.push(ChangedGrant {
                address: c.address.to_string(),
                what: "schedule changed outside of pim".into(),
                before: attrs(&c.before),
                after: attrs(&c.after),
            }),
            (Action::Renew, _) => {
                let after = attrs(&c.before);
                entry.expiring.push(Expiring {
                    address: c.address.to_string(),
                    principal: after.get("principal").cloned().unwrap_or_default(),
                    end: after.get("end").cloned().unwrap_or_default(),
                });
            }
            (Action::UpdateRules, _) => {
                let Step::Rules(patch) = &c.step else {
                    continue;
                };
                let applied = state
                    .and_then(|s| s.get(&c.address))
                    .and_then(|r| r.attributes.get("settings"))
                    .and_then(|v| v.as_array())
                    .cloned()
                    .unwrap_or_default();
                for s in &patch.settings {
                    // Drift only where the configuration still says what pim applied.
                    let last = applied
                        .iter()
                        .find(|a| a["setting"] == s.setting.as_str())
                        .and_then(|a| a["value"].as_str());
                    if last.is_some_and(|l| crate::state::same_recorded(l, &s.after)) {
                        entry.policy.push(ChangedSetting {
                            rule: s.rule.to_string(),
                            setting: s.setting.clone(),
                            applied: s.after.clone(),
                            now: s.before.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    roles.retain(|_, d| !d.is_empty());
    for d in roles.values_mut() {
        d.added
            .sort_by(|a, b| (&a.principal, a.kind).cmp(&(&b.principal, b.kind)));
    }
    DriftReport {
        format_version: 1,
        checked_at: plan.created_at,
        has_drift: !roles.is_empty(),
        roles,
    }
}

/// The report as text, role by role.
pub fn render_text(r: &DriftReport) -> String {
    use std::fmt::Write as _;
    if !r.has_drift {
        return "No drift: the tenant matches the configuration and state.\n".into();
    }
    let day = |t: &Option<DateTime<Utc>>| {
        t.map_or_else(|| "?".into(), |t| t.format("%Y-%m-%d").to_string())
    };
    let mut out = String::new();
    for (role, d) in &r.roles {
        let _ = writeln!(out, "{}:", text(role));
        for a in &d.added {
            let end = a.end.map_or_else(
                || "permanent".to_string(),
                |t| format!("until {}", t.format("%Y-%m-%d")),
            );
            let via = a
                .request_id
                .as_deref()
                .map(|id| format!(", request {}", text(id)))
                .unwrap_or_default();
            let fate = if a.will_be_removed {
                " (exclusive role: apply removes it)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  + {} {} at {} since {}, {end}{via}{fate}",
                a.kind,
                text(&a.principal),
                text(&a.scope),
                day(&a.since)
            );
        }
        for c in &d.changed {
            let _ = writeln!(out, "  ~ {} {}", text(&c.address), c.what);
            for (k, v) in &c.after {
                match c.before.get(k) {
                    Some(b) if b != v => {
                        let _ =
                            writeln!(out, "      {}: {} (declared {})", text(k), text(b), text(v));
                    }
                    _ => {}
                }
            }
        }
        for p in &d.policy {
            let _ = writeln!(
                out,
                "  ~ {}: {} (pim applied {}) [{}]",
                text(&p.setting),
                text(&p.now),
                text(&p.applied),
                text(&p.rule)
            );
        }
        for e in &d.expiring {
            let _ = writeln!(
                out,
                "  ⟳ {} ({}) ends {}",
                text(&e.address),
                text(&e.principal),
                text(&e.end)
            );
        }
        out.push('\n');
    }
    let n: usize = r
        .roles
        .values()
        .map(|d| d.added.len() + d.changed.len() + d.policy.len() + d.expiring.len())
        .sum();
    let _ = writeln!(
        out,
        "Drift: {n} finding{} in {} role{}.",
        if n == 1 { "" } else { "s" },
        r.roles.len(),
        if r.roles.len() == 1 { "" } else { "s" }
    );
    out
}

/// The report as Markdown for an issue or a chat message.
pub fn render_markdown(r: &DriftReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("### pim drift\n\n");
    if !r.has_drift {
        out.push_str("No drift: the tenant matches the configuration and state.\n");
        return out;
    }
    out.push_str("| Role | Added outside pim | Changed outside pim | Policy settings changed | Expiring |\n|---|---|---|---|---|\n");
    for (role, d) in &r.roles {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            escape::markdown(role),
            d.added.len(),
            d.changed.len(),
            d.policy.len(),
            d.expiring.len()
        );
    }
    // render_text escapes every value, and the fence outlasts any
    // backticks left in them.
    let body = render_text(r);
    let fence = escape::fence(&body);
    let _ = write!(out, "\n{fence}\n{body}{fence}\n");
    out
}
