//! `pim requests`: schedule requests (the caller's own, or all the tenant's
//! for administrators), narrowed by principal, role, kind, status and age;
//! finding one by its id or the start of it; canceling one still waiting.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::graph::{ErrorKind, GrantFilter, Graph, RequestOutcome};
use crate::model::{AssignmentKind, Caseless, SurfaceKind};

use super::names::{DisplayNames, resolve_principal, resolve_role};
use super::roles::table;
use super::{SelfServiceError, Status};

/// One request, for people and for `--format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRow {
    pub id: String,
    /// `directory_role` or `group` (PIM for Groups: `role` is the access,
    /// `scope` the group).
    pub surface: SurfaceKind,
    /// `eligible` or `active`: whether it is about an eligibility or an
    /// active assignment (the words of `plan` and `my roles`).
    pub kind: AssignmentKind,
    pub action: String,
    pub status: String,
    /// As configuration writes it: `user:alice@contoso.com`, `group:…`.
    pub principal: String,
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

pub(crate) fn row(names: &DisplayNames, r: &RequestOutcome) -> RequestRow {
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
        surface: r.surface,
        role: names.role(&r.role_id),
        scope: names.scope(&r.scope_id),
        principal: names.principal(&r.principal_id),
        id: r.request_id.clone(),
        kind: r.kind,
        action: r.action.clone(),
        status: r.status.clone(),
        principal_id: r.principal_id.to_string(),
        role_id: r.role_id.to_string(),
        scope_id: r.scope_id.clone(),
        created: r.created,
        start,
        expiration,
        justification: r.justification.clone(),
        ticket: r.ticket.as_ref().map(|t| match &t.system {
            Some(s) => format!("{s}:{}", t.number),
            None => t.number.clone(),
        }),
        approval_id: r.approval_id.clone(),
    }
}

/// Names for the roles, scopes and principals of these requests.
pub(crate) async fn names_for(
    graph: &dyn Graph,
    requests: &[RequestOutcome],
) -> Result<DisplayNames, SelfServiceError> {
    let mut names = DisplayNames::load(
        graph,
        requests.iter().map(|r| r.role_id.as_str()),
        requests.iter().map(|r| r.scope_id.as_str()),
    )
    .await?;
    names
        .load_principals(
            graph,
            requests
                .iter()
                .flat_map(|r| std::iter::once(&r.principal_id).chain(r.created_by.as_ref())),
        )
        .await?;
    Ok(names)
}

/// Which requests `pim requests` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// The caller's own (`filterByCurrentUser`), else every request the
    /// tenant keeps (administrators).
    pub mine: bool,
    pub status: Option<String>,
    /// As `--principal` takes it: `user:UPN`, a UPN, `group:Name`, an id.
    pub principal: Option<String>,
    /// A role's display name or id.
    pub role: Option<String>,
    pub kind: Option<AssignmentKind>,
    /// Made at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Requests of both kinds, newest first, as `filter` narrows them: the
/// principal and role server-side (tenant-wide lists), the rest here.
pub async fn list_requests(
    graph: &dyn Graph,
    filter: &RequestFilter,
) -> Result<Vec<RequestRow>, SelfServiceError> {
    let principal_id = match &filter.principal {
        Some(p) => Some(resolve_principal(graph, p).await?),
        None => None,
    };
    let role_id = match &filter.role {
        Some(r) => Some(resolve_role(graph, r).await?.0),
        None => None,
    };
    let server = GrantFilter {
        surface: SurfaceKind::DirectoryRole,
        principal_id: principal_id.clone(),
        role_id: role_id.clone(),
        scope_id: None,
    };
    let mut all = Vec::new();
    for kind in [AssignmentKind::Active, AssignmentKind::Eligible] {
        if filter.kind.is_some_and(|k| k != kind) {
            continue;
        }
        if filter.mine {
            all.extend(super::all_my_requests(graph, &[kind], None).await?);
        } else {
            // A group's requests list only group by group: the tenant-wide
            // list is the directory roles'.
            all.extend(graph.list_requests(kind, &server).await?);
        }
    }
    all.retain(|r| {
        filter
            .status
            .as_deref()
            .is_none_or(|s| Caseless::same(&r.status, s))
            && principal_id.as_ref().is_none_or(|p| r.principal_id == *p)
            && role_id.as_ref().is_none_or(|id| r.role_id == *id)
            && filter
                .since
                .is_none_or(|t| r.created.is_some_and(|c| c >= t))
    });
    let names = names_for(graph, &all).await?;
    let mut rows: Vec<RequestRow> = all.iter().map(|r| row(&names, r)).collect();
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
                r.principal.clone(),
                r.kind.to_string(),
                r.action.clone(),
                r.role.clone(),
                r.scope.clone(),
                r.expiration.clone().unwrap_or_default(),
                r.status.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "CREATED",
            "PRINCIPAL",
            "KIND",
            "ACTION",
            "ROLE",
            "SCOPE",
            "FOR",
            "STATUS",
        ],
        &cells,
    )
}

/// The request `given` names: a whole id (either kind), or the start of
/// one among the caller's requests and, when none of theirs matches, the
/// tenant's (if the caller may list them). More than one match is an error
/// listing them.
pub(crate) async fn find_request(
    graph: &dyn Graph,
    given: &str,
) -> Result<RequestOutcome, SelfServiceError> {
    // People copy ids as the README writes them: `6f2a…`.
    let id = given.trim().trim_end_matches(['…', '.']).trim();
    if id.is_empty() {
        return Err(SelfServiceError::NoSuchRequest(given.to_string()));
    }
    if let Some(r) = super::azure::get_request_by_id(graph, id).await? {
        return Ok(r);
    }
    if super::azure::parse_request_id(id).is_some() {
        return Err(SelfServiceError::NoSuchRequest(id.to_string()));
    }
    if super::names::is_guid(id) {
        for surface in super::SURFACES {
            for kind in [AssignmentKind::Active, AssignmentKind::Eligible] {
                match graph.get_request(*surface, kind, id).await {
                    Ok(r) => return Ok(r),
                    Err(e) if e.kind == ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        // Not Graph's: an Azure request's name, found among the caller's.
    }
    let prefix = Caseless::ascii(id);
    let starts = |r: &RequestOutcome| {
        Caseless::ascii(&r.request_id)
            .as_str()
            .starts_with(prefix.as_str())
    };
    let mut found: Vec<RequestOutcome> = super::all_my_requests(
        graph,
        &[AssignmentKind::Active, AssignmentKind::Eligible],
        None,
    )
    .await?
    .into_iter()
    .filter(starts)
    .collect();
    if found.is_empty() {
        for kind in [AssignmentKind::Active, AssignmentKind::Eligible] {
            match graph.list_requests(kind, &GrantFilter::default()).await {
                Ok(list) => found.extend(list.into_iter().filter(starts)),
                // Not an administrator: their own requests were all there was.
                Err(e) if matches!(e.kind, ErrorKind::Forbidden | ErrorKind::Unauthorized) => {
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    match found.len() {
        0 => Err(SelfServiceError::NoSuchRequest(id.to_string())),
        1 => Ok(found.remove(0)),
        _ => {
            let names = names_for(graph, &found).await?;
            let mut matches: Vec<String> = found
                .iter()
                .map(|r| {
                    let row = row(&names, r);
                    format!(
                        "{} ({} {} at {}, {})",
                        row.id, row.action, row.role, row.scope, row.status
                    )
                })
                .collect();
            matches.sort();
            Err(SelfServiceError::AmbiguousRequest {
                prefix: id.to_string(),
                matches,
            })
        }
    }
}

/// Cancel a request still waiting (for approval, an administrator, or its
/// start), named by its id or the start of it. Whether it may be canceled
/// is Graph's call (a 400 when it may not). Returns the request as it was
/// before.
pub async fn cancel(graph: &dyn Graph, id: &str) -> Result<RequestRow, SelfServiceError> {
    let found = find_request(graph, id).await?;
    let canceled = match found.surface {
        SurfaceKind::AzureRole => super::azure::cancel(graph, &found).await,
        s => graph.cancel_request(s, found.kind, &found.request_id).await,
    };
    canceled.map_err(SelfServiceError::cancel_rejected)?;
    let names = names_for(graph, std::slice::from_ref(&found)).await?;
    Ok(row(&names, &found))
}

/// Whether a request still waits for someone or something.
pub(crate) fn is_waiting(status: &str) -> bool {
    matches!(
        Status::from_graph(status),
        Status::PendingApproval | Status::PendingAdminDecision
    ) || Caseless::ascii(status).as_str().starts_with("pending")
}
