//! `pim requests`: schedule requests (the caller's own, or all the tenant's
//! for administrators), and canceling one that is still waiting.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::graph::{ErrorKind, GrantFilter, Graph, RequestOutcome, RequestParty};
use crate::model::AssignmentKind;

use super::SelfServiceError;
use super::names::DisplayNames;
use super::roles::table;

/// One request, for people and for `--format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRow {
    pub id: String,
    /// `eligible` or `active`: which collection it belongs to.
    pub kind: AssignmentKind,
    pub action: String,
    pub status: String,
    pub principal_id: String,
    pub role: String,
    pub role_id: String,
    pub scope: String,
    pub scope_id: String,
    pub created: Option<DateTime<Utc>>,
    pub start: Option<DateTime<Utc>>,
    /// The requested length or end, as Graph holds it (`PT2H`, an end time).
    pub expiration: Option<String>,
    pub justification: Option<String>,
    pub ticket: Option<String>,
    pub approval_id: Option<String>,
}

fn row(names: &DisplayNames, r: RequestOutcome) -> RequestRow {
    use crate::model::Expiration;
    let (start, expiration) = match &r.schedule {
        Some(s) => (
            s.start,
            Some(match &s.expiration {
                Expiration::Permanent => "permanent".to_string(),
                Expiration::After(d) => d.to_string(),
                Expiration::At(t) => format!("until {}", t.format("%Y-%m-%d %H:%M")),
            }),
        ),
        None => (None, None),
    };
    RequestRow {
        role: names.role(&r.role_id),
        scope: names.scope(&r.scope_id),
        id: r.request_id,
        kind: r.kind,
        action: r.action,
        status: r.status,
        principal_id: r.principal_id.into_string(),
        role_id: r.role_id.into_string(),
        scope_id: r.scope_id,
        created: r.created,
        start,
        expiration,
        justification: r.justification,
        ticket: r.ticket.map(|t| match t.system {
            Some(s) => format!("{s}:{}", t.number),
            None => t.number,
        }),
        approval_id: r.approval_id,
    }
}

/// Requests of both kinds, newest first: the caller's own (`mine`, through
/// `filterByCurrentUser`) or every request the tenant keeps (administrators),
/// narrowed to one `status` when given.
pub async fn list_requests(
    graph: &dyn Graph,
    mine: bool,
    status: Option<&str>,
) -> Result<Vec<RequestRow>, SelfServiceError> {
    let mut all = Vec::new();
    for kind in [AssignmentKind::Active, AssignmentKind::Eligible] {
        all.extend(if mine {
            graph.my_requests(kind, RequestParty::Principal).await?
        } else {
            graph.list_requests(kind, &GrantFilter::default()).await?
        });
    }
    if let Some(s) = status {
        all.retain(|r| crate::model::Caseless::same(&r.status, s));
    }
    let names = DisplayNames::load(
        graph,
        all.iter().map(|r| r.role_id.as_str()),
        all.iter().map(|r| r.scope_id.as_str()),
    )
    .await?;
    let mut rows: Vec<RequestRow> = all.into_iter().map(|r| row(&names, r)).collect();
    rows.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    Ok(rows)
}

/// `pim requests` as text.
pub fn render_requests_text(rows: &[RequestRow]) -> String {
    if rows.is_empty() {
        return "No requests.\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.created
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
                r.action.clone(),
                r.role.clone(),
                r.scope.clone(),
                r.expiration.clone().unwrap_or_default(),
                r.status.clone(),
            ]
        })
        .collect();
    table(
        &["ID", "CREATED", "ACTION", "ROLE", "SCOPE", "FOR", "STATUS"],
        &cells,
    )
}

/// Cancel a request still waiting (for approval, an administrator, or its
/// start), among active-assignment requests first, then eligibility ones.
/// Whether it may be canceled is Graph's call (a 400 when it may not).
/// Returns the request as it was before.
pub async fn cancel(graph: &dyn Graph, id: &str) -> Result<RequestRow, SelfServiceError> {
    for kind in [AssignmentKind::Active, AssignmentKind::Eligible] {
        let found = match graph.get_request(kind, id).await {
            Ok(r) => r,
            Err(e) if e.kind == ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        graph
            .cancel_request(kind, id)
            .await
            .map_err(SelfServiceError::cancel_rejected)?;
        let names =
            DisplayNames::load(graph, [found.role_id.as_str()], [found.scope_id.as_str()]).await?;
        return Ok(row(&names, found));
    }
    Err(SelfServiceError::NoSuchRequest(id.to_string()))
}
