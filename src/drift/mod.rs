//! Drift: what changed in the tenant outside of pim, by role, and whether
//! it is news. Built from a plan (which already knows what differs and
//! why), the snapshot (who holds what, since when, through which request)
//! and the state (what pim last applied, and the findings that are not
//! news: holders seen when pim last applied, and findings acknowledged).
//! Reading only: drift never changes the tenant. Who made a change and why
//! is read from Graph's requests afterwards (`who`); `render` shows it.

mod who;

pub use who::attribute;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::model::{AssignmentKind, ObjectId};
use crate::plan::{Action, Plan, Reason, Step};
use crate::snapshot::{Current, Grant};
use crate::state::{Acknowledged, AcknowledgedBy, Resource, StateFile};

/// The drift report's format; `schemas/drift.schema.json` describes it.
pub const DRIFT_FORMAT_VERSION: u32 = 2;

/// What the configuration says about holders it does not declare.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Role ids whose undeclared holders apply removes: always news.
    pub exclusive_roles: HashSet<ObjectId>,
    /// By role id: the holders a `role` block's `known_holders` accepts.
    pub accepted: HashMap<ObjectId, Accepted>,
}

/// One `known_holders` attribute.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    /// `["*"]`: every holder of the role.
    pub any: bool,
    pub principals: HashSet<ObjectId>,
    /// Where it is written (`roles.pim.hcl:12:3`).
    pub at: String,
}

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingType {
    /// A holder that configuration and state do not know.
    HolderAdded,
    /// A managed grant removed outside pim.
    GrantRemoved,
    /// A managed grant whose schedule changed outside pim.
    GrantChanged,
    /// A policy setting changed outside pim since pim applied it.
    PolicyChanged,
}

/// Who made a change and why, as Graph's request for it says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangedBy {
    pub at: Option<DateTime<Utc>>,
    /// The user or application that made the request.
    pub by: Option<String>,
    pub justification: Option<String>,
    /// `ticketSystem ticketNumber`.
    pub ticket: Option<String>,
    pub request_id: Option<String>,
}

/// One thing that changed outside pim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What `--acknowledge` records: what it grants or changed, by id.
    pub key: String,
    #[serde(rename = "type")]
    pub what: FindingType,
    /// Not seen by pim before, nor acknowledged, nor accepted: what makes
    /// drift exit 2.
    pub new: bool,
    /// Why a finding that is not new is known.
    pub known: Option<String>,
    /// The managed grant or policy; the `role` block for exclusive holders.
    pub address: Option<String>,
    pub kind: Option<AssignmentKind>,
    pub principal: Option<String>,
    pub scope: Option<String>,
    pub rule: Option<String>,
    pub setting: Option<String>,
    /// As pim applied it (empty for a holder pim never knew).
    pub before: BTreeMap<String, String>,
    /// As the tenant has it now (empty for what was removed).
    pub after: BTreeMap<String, String>,
    /// Holder of an exclusive role: never known, whatever was acknowledged.
    pub exclusive: bool,
    /// The next apply removes it.
    pub will_be_removed: bool,
    pub schedule_id: Option<String>,
    pub changed_by: Option<ChangedBy>,
    /// What it grants, for finding the request that changed it.
    #[serde(skip)]
    pub subject: Option<crate::plan::Subject>,
    /// The request that made the tenant's schedule (`createdUsing`).
    #[serde(skip)]
    pub request_id: Option<String>,
}

/// A managed grant that ends within the renewal window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiring {
    pub address: String,
    pub kind: AssignmentKind,
    pub principal: String,
    pub end: DateTime<Utc>,
    /// A rolling `duration` the next apply renews; else a fixed `expires`
    /// that ends then.
    pub renewed: bool,
}

/// Everything that drifted for one role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoleDrift {
    pub findings: Vec<Finding>,
    pub expiring: Vec<Expiring>,
}

impl RoleDrift {
    fn is_empty(&self) -> bool {
        self.findings.is_empty() && self.expiring.is_empty()
    }
}

/// How many findings there are of each standing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub new: usize,
    pub known: usize,
    pub expiring: usize,
}

/// The drift report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    pub format_version: u32,
    pub checked_at: DateTime<Utc>,
    /// Some finding is new.
    pub has_drift: bool,
    pub counts: Counts,
    /// By role display name.
    pub roles: BTreeMap<String, RoleDrift>,
}

impl DriftReport {
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.roles.values().flat_map(|d| &d.findings)
    }

    fn findings_mut(&mut self) -> impl Iterator<Item = &mut Finding> {
        self.roles.values_mut().flat_map(|d| &mut d.findings)
    }

    /// What `--acknowledge` records: every new finding but the holders of
    /// exclusive roles, with those acknowledged before and still found.
    pub fn acknowledge(&self, state: &StateFile, now: DateTime<Utc>) -> Vec<Acknowledged> {
        let found: HashSet<&str> = self.findings().map(|f| f.key.as_str()).collect();
        let mut out: Vec<Acknowledged> = state
            .acknowledged
            .iter()
            .filter(|a| found.contains(a.finding.as_str()))
            .cloned()
            .collect();
        out.extend(
            self.findings()
                .filter(|f| f.new && !f.exclusive)
                .map(|f| Acknowledged {
                    finding: f.key.clone(),
                    what: f.summary(),
                    at: now,
                    by: AcknowledgedBy::Acknowledge,
                }),
        );
        out.sort_by(|a, b| a.finding.cmp(&b.finding));
        out.dedup_by(|a, b| a.finding == b.finding);
        out
    }
}

impl Finding {
    /// A finding with nothing but its key, type and standing (`why` it is
    /// known, if it is).
    fn new(key: String, what: FindingType, why: Option<String>) -> Finding {
        Finding {
            key,
            what,
            new: why.is_none(),
            known: why,
            address: None,
            kind: None,
            principal: None,
            scope: None,
            rule: None,
            setting: None,
            before: BTreeMap::new(),
            after: BTreeMap::new(),
            exclusive: false,
            will_be_removed: false,
            schedule_id: None,
            changed_by: None,
            subject: None,
            request_id: None,
        }
    }

    /// One line for the state: `holder_added eligible user:frank@… at /`.
    fn summary(&self) -> String {
        let mut parts: Vec<String> = vec![
            serde_json::to_value(self.what)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        ];
        parts.extend(self.address.clone());
        parts.extend(self.kind.map(|k| k.to_string()));
        parts.extend(self.principal.clone());
        parts.extend(self.scope.as_ref().map(|s| format!("at {s}")));
        parts.extend(self.setting.clone());
        parts.join(" ")
    }
}

/// The key of a holder: what it grants, whatever id Graph gives it.
pub fn holder_key(g: &Grant) -> String {
    key_of(g.surface, g.kind, &g.principal_id, &g.role_id, &g.scope_id)
}

fn key_of(
    surface: crate::model::SurfaceKind,
    kind: AssignmentKind,
    principal: &ObjectId,
    role: &ObjectId,
    scope: &str,
) -> String {
    format!(
        "holder:{}:{kind}:{principal}:{role}:{}",
        surface.as_str(),
        scope.to_ascii_lowercase()
    )
}

fn grant_key(address: &str, after: &BTreeMap<String, String>) -> String {
    if after.is_empty() {
        return format!("grant:{address}:removed");
    }
    let now: Vec<String> = ["start", "end"]
        .iter()
        .filter_map(|k| after.get(*k).map(|v| format!("{k}={v}")))
        .collect();
    format!("grant:{address}:{}", now.join(","))
}

fn attrs(a: &Option<Vec<crate::plan::Attr>>) -> BTreeMap<String, String> {
    a.iter()
        .flatten()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect()
}

fn show_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "permanent".to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// The managed grants of the state, found in the tenant by schedule id or
/// by what they grant.
struct Managed<'a> {
    by_id: HashMap<&'a str, &'a Grant>,
    by_key: HashMap<String, &'a Grant>,
}

impl<'a> Managed<'a> {
    fn new(current: &'a Current) -> Self {
        let grants = current.grants.iter().filter(|g| g.is_manageable());
        Managed {
            by_id: grants
                .clone()
                .map(|g| (g.schedule_id.as_str(), g))
                .collect(),
            by_key: grants.map(|g| (holder_key(g), g)).collect(),
        }
    }

    fn find(&self, r: &Resource) -> Option<&'a Grant> {
        let kind = r.kind?;
        r.schedule_id
            .as_deref()
            .and_then(|id| self.by_id.get(id))
            .or_else(|| {
                self.by_key.get(&key_of(
                    r.surface,
                    kind,
                    &r.principal_id,
                    &r.role_id,
                    &r.scope_id,
                ))
            })
            .copied()
    }
}

/// Builds the report. `plan` was made against `current` and `state`.
pub fn report(
    plan: &Plan,
    current: &Current,
    state: Option<&StateFile>,
    known: &Known,
) -> DriftReport {
    let now = plan.created_at;
    let mut roles: BTreeMap<String, RoleDrift> = BTreeMap::new();
    let by_id: HashMap<&str, &Grant> = current
        .grants
        .iter()
        .map(|g| (g.schedule_id.as_str(), g))
        .collect();
    let acknowledged: HashMap<&str, &Acknowledged> = state
        .map(|s| {
            s.acknowledged
                .iter()
                .map(|a| (a.finding.as_str(), a))
                .collect()
        })
        .unwrap_or_default();
    let standing = |key: &str| -> Option<String> {
        acknowledged.get(key).map(|a| match a.by {
            AcknowledgedBy::Apply => {
                format!("held when pim applied on {}", a.at.format("%Y-%m-%d"))
            }
            AcknowledgedBy::Acknowledge => {
                format!("acknowledged on {}", a.at.format("%Y-%m-%d"))
            }
        })
    };
    let principal_name = |id: &ObjectId| {
        current
            .principals
            .get(id)
            .map_or_else(|| id.to_string(), |p| p.reference())
    };
    let holder = |g: &Grant, exclusive: bool, will_be_removed: bool, address: Option<String>| {
        let key = holder_key(g);
        let accepted = known.accepted.get(&g.role_id).and_then(|a| {
            (a.any || a.principals.contains(&g.principal_id))
                .then(|| format!("accepted by known_holders at {}", a.at))
        });
        let why = if exclusive {
            None
        } else {
            accepted.or_else(|| standing(&key))
        };
        let surface = crate::surface::get(g.surface);
        let mut after = BTreeMap::new();
        after.insert("principal".to_string(), principal_name(&g.principal_id));
        after.insert(
            surface.scope_attribute().to_string(),
            surface.scope_name(current, &g.scope_id),
        );
        if let Some(s) = g.start {
            after.insert("start".into(), show_time(Some(s)));
        }
        after.insert("end".into(), show_time(g.end()));
        Finding {
            address,
            kind: Some(g.kind),
            principal: after.get("principal").cloned(),
            scope: after.get(surface.scope_attribute()).cloned(),
            after,
            exclusive,
            will_be_removed,
            schedule_id: Some(g.schedule_id.clone()),
            subject: Some(subject_of(g)),
            request_id: g.created_using.clone(),
            ..Finding::new(key, FindingType::HolderAdded, why)
        }
    };
    let role_name = |g: &Grant| crate::surface::get(g.surface).role_name(current, &g.role_id);

    // Holders nothing declares or manages, left as they are.
    for u in &plan.unmanaged {
        let Some(g) = by_id.get(u.schedule_id.as_str()) else {
            continue;
        };
        roles
            .entry(u.role.clone())
            .or_default()
            .findings
            .push(holder(g, false, false, None));
    }

    // Schedules the plan touches, and how.
    let mut touched: HashSet<&str> = HashSet::new();
    let mut changed_addresses: HashSet<String> = HashSet::new();
    for c in &plan.changes {
        if let Step::Grant {
            schedule_id: Some(id),
            ..
        } = &c.step
        {
            touched.insert(id);
        }
        let entry = roles.entry(c.role.clone()).or_default();
        match (c.action, c.reason) {
            (Action::Remove, Reason::Exclusive) => {
                let Step::Grant {
                    schedule_id: Some(id),
                    ..
                } = &c.step
                else {
                    continue;
                };
                if let Some(g) = by_id.get(id.as_str()) {
                    entry
                        .findings
                        .push(holder(g, true, true, Some(c.address.to_string())));
                }
            }
            (Action::Create, Reason::Drift) => {
                let before = attrs(&c.after);
                let address = c.address.to_string();
                changed_addresses.insert(address.clone());
                entry.findings.push(managed_finding(
                    &address,
                    FindingType::GrantRemoved,
                    before,
                    BTreeMap::new(),
                    &c.step,
                    &by_id,
                    &standing,
                ));
            }
            (Action::Update, Reason::Drift) => {
                let address = c.address.to_string();
                changed_addresses.insert(address.clone());
                // As pim applied it, where the state says; else as declared.
                let mut before = attrs(&c.after);
                if let Some(end) = state
                    .and_then(|s| s.get(&c.address))
                    .and_then(Resource::applied_end)
                {
                    before.insert("end".into(), show_time(end));
                }
                entry.findings.push(managed_finding(
                    &address,
                    FindingType::GrantChanged,
                    before,
                    attrs(&c.before),
                    &c.step,
                    &by_id,
                    &standing,
                ));
            }
            (Action::Renew, _) => {
                let before = attrs(&c.before);
                let Step::Grant { subject, .. } = &c.step else {
                    continue;
                };
                let end = before
                    .get("end")
                    .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
                    .map(|t| t.with_timezone(&Utc));
                if let Some(end) = end {
                    entry.expiring.push(Expiring {
                        address: c.address.to_string(),
                        kind: subject.kind,
                        principal: before.get("principal").cloned().unwrap_or_default(),
                        end,
                        renewed: true,
                    });
                }
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
                    if !last.is_some_and(|l| crate::state::same_recorded(l, &s.after)) {
                        continue;
                    }
                    let key = format!("policy:{}:{}={}", c.address, s.setting, s.before);
                    let why = standing(&key);
                    entry.findings.push(Finding {
                        address: Some(c.address.to_string()),
                        rule: Some(s.rule.to_string()),
                        setting: Some(s.setting.clone()),
                        before: BTreeMap::from([("value".to_string(), s.after.clone())]),
                        after: BTreeMap::from([("value".to_string(), s.before.clone())]),
                        ..Finding::new(key, FindingType::PolicyChanged, why)
                    });
                }
            }
            _ => {}
        }
    }

    // Managed grants against what pim last applied: a change the plan
    // takes as in step (a rolling grant shortened, say) is still a change.
    let managed = Managed::new(current);
    let window = plan
        .basis
        .renew_within
        .and_then(|w| w.add_to(now))
        .unwrap_or(now + Duration::days(14));
    let renewed: HashSet<String> = roles
        .values()
        .flat_map(|d| d.expiring.iter().map(|e| e.address.clone()))
        .collect();
    let mut in_state: HashSet<&str> = HashSet::new();
    for r in state.map(|s| s.resources.as_slice()).unwrap_or_default() {
        let Some(g) = managed.find(r) else { continue };
        in_state.insert(g.schedule_id.as_str());
        let address = r.address.to_string();
        let entry = roles.entry(role_name(g)).or_default();
        if let Some(end) = r.applied_end()
            && !crate::state::same_end(end, g.end())
            && !changed_addresses.contains(&address)
        {
            let mut before = BTreeMap::from([("end".to_string(), show_time(end))]);
            let mut after = BTreeMap::from([("end".to_string(), show_time(g.end()))]);
            let principal = principal_name(&g.principal_id);
            before.insert("principal".into(), principal.clone());
            after.insert("principal".into(), principal);
            let key = grant_key(&address, &after);
            let why = standing(&key);
            entry.findings.push(Finding {
                address: Some(address.clone()),
                kind: Some(g.kind),
                principal: after.get("principal").cloned(),
                before,
                after,
                schedule_id: Some(g.schedule_id.clone()),
                subject: Some(subject_of(g)),
                request_id: g.created_using.clone(),
                ..Finding::new(key, FindingType::GrantChanged, why)
            });
        }
        if let Some(end) = g.end()
            && end > now
            && end <= window
            && !renewed.contains(&address)
        {
            entry.expiring.push(Expiring {
                address,
                kind: g.kind,
                principal: principal_name(&g.principal_id),
                end,
                renewed: false,
            });
        }
    }

    // Holders of exclusive roles the plan leaves for now (too young for
    // Graph to remove, or kept by a guard): drift still sees them.
    let unmanaged: HashSet<&str> = plan
        .unmanaged
        .iter()
        .map(|u| u.schedule_id.as_str())
        .collect();
    for g in current.grants.iter().filter(|g| {
        g.is_manageable()
            && known.exclusive_roles.contains(&g.role_id)
            && !touched.contains(g.schedule_id.as_str())
            && !in_state.contains(g.schedule_id.as_str())
            && !unmanaged.contains(g.schedule_id.as_str())
    }) {
        // Declared grants in step are in state; a declared one pim has yet
        // to adopt is in the plan.
        roles
            .entry(role_name(g))
            .or_default()
            .findings
            .push(holder(g, true, false, None));
    }

    roles.retain(|_, d| !d.is_empty());
    for d in roles.values_mut() {
        d.findings.sort_by(|a, b| {
            (!a.new, a.what, &a.address, &a.principal, a.kind).cmp(&(
                !b.new,
                b.what,
                &b.address,
                &b.principal,
                b.kind,
            ))
        });
        d.expiring
            .sort_by(|a, b| (a.end, &a.address).cmp(&(b.end, &b.address)));
    }
    let mut counts = Counts::default();
    for d in roles.values() {
        for f in &d.findings {
            if f.new {
                counts.new += 1;
            } else {
                counts.known += 1;
            }
        }
        counts.expiring += d.expiring.len();
    }
    DriftReport {
        format_version: DRIFT_FORMAT_VERSION,
        checked_at: plan.created_at,
        has_drift: counts.new > 0,
        counts,
        roles,
    }
}

/// A managed grant the plan found changed or removed.
fn managed_finding(
    address: &str,
    what: FindingType,
    before: BTreeMap<String, String>,
    after: BTreeMap<String, String>,
    step: &Step,
    by_id: &HashMap<&str, &Grant>,
    standing: &dyn Fn(&str) -> Option<String>,
) -> Finding {
    let key = grant_key(address, &after);
    let why = standing(&key);
    let (subject, schedule_id) = match step {
        Step::Grant {
            subject,
            schedule_id,
            ..
        } => (Some(subject.clone()), schedule_id.clone()),
        Step::Rules(_) => (None, None),
    };
    let request_id = schedule_id
        .as_deref()
        .and_then(|id| by_id.get(id))
        .and_then(|g| g.created_using.clone());
    Finding {
        address: Some(address.to_string()),
        kind: subject.as_ref().map(|s| s.kind),
        principal: before
            .get("principal")
            .or_else(|| after.get("principal"))
            .cloned(),
        before,
        after,
        schedule_id,
        subject,
        request_id,
        ..Finding::new(key, what, why)
    }
}

fn subject_of(g: &Grant) -> crate::plan::Subject {
    crate::plan::Subject {
        surface: g.surface,
        kind: g.kind,
        principal_id: g.principal_id.clone(),
        role_id: g.role_id.clone(),
        scope_id: g.scope_id.clone(),
    }
}

/// The holders `pim apply` records as seen: every holder finding the plan
/// leaves in place, but those of exclusive roles. Acknowledgements of them
/// are kept as they were.
pub fn seen_at_apply(
    report: &DriftReport,
    state: &StateFile,
    now: DateTime<Utc>,
) -> Vec<Acknowledged> {
    let before: HashMap<&str, &Acknowledged> = state
        .acknowledged
        .iter()
        .map(|a| (a.finding.as_str(), a))
        .collect();
    let mut out: Vec<Acknowledged> = report
        .findings()
        .filter(|f| f.what == FindingType::HolderAdded && !f.exclusive)
        .map(|f| match before.get(f.key.as_str()) {
            Some(a) => (*a).clone(),
            None => Acknowledged {
                finding: f.key.clone(),
                what: f.summary(),
                at: now,
                by: AcknowledgedBy::Apply,
            },
        })
        .collect();
    out.sort_by(|a, b| a.finding.cmp(&b.finding));
    out.dedup_by(|a, b| a.finding == b.finding);
    out
}
