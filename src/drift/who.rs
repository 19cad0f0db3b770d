//! Who made each new change and why: the schedule request behind it, as
//! Graph keeps it (`createdBy`, `justification`, `ticketInfo`, its time).
//! A grant's request is the one that made its schedule (`createdUsing`); a
//! removal's is the newest `adminRemove` of what it granted. Graph purges
//! requests after about 45 days, so an older change has no one to name.
//! Policies have no requests (Graph records only a last modifier), so their
//! findings name no one.

use std::collections::HashSet;

use futures::StreamExt as _;

use super::{ChangedBy, DriftReport, FindingType};
use crate::graph::{GrantFilter, Graph, GraphError, RequestOutcome};
use crate::model::ObjectId;
use crate::snapshot::Current;

/// New findings whose request is looked up at most: each is a Graph call.
pub const MAX_LOOKUPS: usize = 100;

/// Calls in flight at once.
const CONCURRENCY: usize = 8;

/// Fills in who made each new finding's change, for the first
/// [`MAX_LOOKUPS`]. Returns what could not be read (a failed read leaves
/// the finding as it was: drift reports without it).
pub async fn attribute(
    graph: &dyn Graph,
    report: &mut DriftReport,
    current: &Current,
) -> Vec<String> {
    let wanted: Vec<(usize, KindedLookup)> = report
        .findings()
        .enumerate()
        .filter(|(_, f)| f.new)
        .filter_map(|(i, f)| {
            let subject = f.subject.as_ref()?;
            // An Azure grant's requests are ARM's, which Graph cannot read.
            if subject.surface == crate::model::SurfaceKind::AzureRole {
                return None;
            }
            let lookup = match (f.what, &f.request_id) {
                (FindingType::GrantRemoved, _) => Lookup::Removal(GrantFilter {
                    surface: subject.surface,
                    principal_id: Some(subject.principal_id.clone()),
                    role_id: Some(subject.role_id.clone()),
                    scope_id: Some(subject.scope_id.clone()),
                }),
                (_, Some(id)) => Lookup::Request(id.clone()),
                _ => return None,
            };
            Some((i, Lookup::with_kind(lookup, subject.surface, subject.kind)))
        })
        .take(MAX_LOOKUPS)
        .collect();
    let found: Vec<(usize, Result<Option<RequestOutcome>, GraphError>)> = futures::stream::iter(
        wanted
            .into_iter()
            .map(|(i, l)| async move { (i, l.read(graph).await) }),
    )
    .buffer_unordered(CONCURRENCY)
    .collect()
    .await;

    let mut problems = Vec::new();
    let mut outcomes: Vec<(usize, RequestOutcome)> = Vec::new();
    for (i, r) in found {
        match r {
            Ok(Some(o)) => outcomes.push((i, o)),
            Ok(None) => {}
            Err(e) if e.status == Some(404) => {}
            Err(e) => problems.push(format!("who made a change could not be read: {e}")),
        }
    }
    // Name the requesters in one call.
    let unknown: Vec<ObjectId> = outcomes
        .iter()
        .filter_map(|(_, o)| o.created_by.clone())
        .filter(|id| !current.principals.contains_key(id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let named = if unknown.is_empty() {
        Vec::new()
    } else {
        match graph.principals_by_ids(&unknown).await {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("who made a change could not be named: {e}"));
                Vec::new()
            }
        }
    };
    let name = |id: &ObjectId| {
        current
            .principals
            .get(id)
            .or_else(|| named.iter().find(|p| p.id == *id))
            .map_or_else(|| id.to_string(), |p| p.reference())
    };
    let mut findings: Vec<_> = report.findings_mut().collect();
    for (i, o) in outcomes {
        let Some(f) = findings.get_mut(i) else {
            continue;
        };
        f.changed_by = Some(ChangedBy {
            at: o.created,
            by: o.created_by.as_ref().map(&name),
            justification: o.justification.filter(|j| !j.trim().is_empty()),
            ticket: o.ticket.and_then(|t| {
                let s = [t.system, Some(t.number)]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                (!s.is_empty()).then_some(s)
            }),
            request_id: Some(o.request_id),
        });
    }
    problems
}

enum Lookup {
    /// The request that made the schedule.
    Request(String),
    /// The newest removal of what the filter names.
    Removal(GrantFilter),
}

struct KindedLookup {
    lookup: Lookup,
    surface: crate::model::SurfaceKind,
    kind: crate::model::AssignmentKind,
}

impl Lookup {
    fn with_kind(
        lookup: Lookup,
        surface: crate::model::SurfaceKind,
        kind: crate::model::AssignmentKind,
    ) -> KindedLookup {
        KindedLookup {
            lookup,
            surface,
            kind,
        }
    }
}

impl KindedLookup {
    async fn read(&self, graph: &dyn Graph) -> Result<Option<RequestOutcome>, GraphError> {
        match &self.lookup {
            Lookup::Request(id) => graph
                .get_request(self.surface, self.kind, id)
                .await
                .map(Some),
            Lookup::Removal(filter) => Ok(graph
                .list_requests(self.kind, filter)
                .await?
                .into_iter()
                .filter(|r| r.action.eq_ignore_ascii_case("adminRemove"))
                .max_by_key(|r| r.created)),
        }
    }
}
