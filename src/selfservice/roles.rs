//! `pim my roles`: the caller's eligible and active roles, with scope,
//! start, end and time left, from their own schedules and instances, and
//! their requests still waiting.

use chrono::{DateTime, SubsecRound as _, Utc};
use serde::Serialize;

use crate::graph::{Graph, Instance, Me};
use crate::model::{AssignmentKind, Clock, SurfaceKind};
use crate::render::escape::text;
use crate::snapshot::{ActiveType, MemberType};

use super::SelfServiceError;
use super::error::human;
use super::names::DisplayNames;
use super::requests::{RequestRow, is_waiting, row};

/// Who the roles belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalInfo {
    pub id: String,
    pub display_name: String,
    pub user_principal_name: Option<String>,
}

/// One role held, now or from a later start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldRole {
    /// `directory_role`, `group` (PIM for Groups: `role` is the access,
    /// `scope` the group) or `azure_role` (`scope` the ARM scope).
    pub surface: SurfaceKind,
    pub role: String,
    pub role_id: String,
    pub scope: String,
    pub scope_id: String,
    /// Active roles: `activated` (by the person) or `assigned` (by an
    /// administrator), Graph's `assignmentType`; `null` for eligibilities.
    pub assignment_type: Option<&'static str>,
    /// `direct`, `group` or `inherited`: Graph's `memberType`.
    pub member_type: &'static str,
    /// False for a grant that starts later.
    pub in_effect: bool,
    pub start: Option<DateTime<Utc>>,
    /// `None` when permanent.
    pub end: Option<DateTime<Utc>>,
    pub time_left_seconds: Option<i64>,
    /// `3h 59m`, `89d 23h`, or `permanent`.
    pub time_left: String,
}

/// `pim my roles --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MyRoles {
    pub principal: PrincipalInfo,
    pub as_of: DateTime<Utc>,
    pub eligible: Vec<HeldRole>,
    pub active: Vec<HeldRole>,
    /// Requests of the caller's still waiting (for approval, an
    /// administrator, or provisioning), newest first.
    pub pending: Vec<RequestRow>,
}

fn member(m: MemberType) -> &'static str {
    match m {
        MemberType::Direct => "direct",
        MemberType::Group => "group",
        MemberType::Inherited => "inherited",
    }
}

fn held(names: &DisplayNames, now: DateTime<Utc>, i: &Instance, in_effect: bool) -> HeldRole {
    let left = i.end.map(|e| (e - now).num_seconds().max(0));
    HeldRole {
        surface: i.surface,
        role: names.role(&i.role_id),
        role_id: i.role_id.to_string(),
        scope: names.scope(&i.scope_id),
        scope_id: i.scope_id.clone(),
        assignment_type: i.active_type.map(|t| match t {
            ActiveType::Activated => "activated",
            ActiveType::Assigned => "assigned",
        }),
        member_type: member(i.member_type),
        in_effect,
        start: i.start,
        end: i.end,
        time_left_seconds: left.filter(|_| in_effect),
        time_left: match (in_effect, left) {
            (false, _) => "not started".to_string(),
            (true, Some(s)) => human(s),
            (true, None) => "permanent".to_string(),
        },
    }
}

/// The caller's roles: instances (in effect now) and schedules that start
/// later, eligible and active, sorted by role and scope.
pub async fn my_roles(
    graph: &dyn Graph,
    clock: &dyn Clock,
    me: &Me,
) -> Result<MyRoles, SelfServiceError> {
    let now = clock.now();
    let mut lists: Vec<(AssignmentKind, Vec<(Instance, bool)>)> = Vec::new();
    for kind in [AssignmentKind::Eligible, AssignmentKind::Active] {
        let mut items: Vec<(Instance, bool)> = Vec::new();
        let mut grants = Vec::new();
        // Directory roles, then the groups whose membership or ownership
        // the caller holds.
        for surface in super::SURFACES {
            items.extend(
                graph
                    .my_instances(*surface, kind)
                    .await?
                    .into_iter()
                    .map(|i| (i, true)),
            );
            grants.extend(graph.my_grants(*surface, kind).await?);
        }
        // Azure roles, when pim has an ARM client: what is in force now,
        // across every scope (ARM lists no later-starting schedules of the
        // caller's without a scope to ask at).
        items.extend(
            super::azure_instances(graph, kind)
                .await?
                .into_iter()
                .map(|i| (i, true)),
        );
        for g in grants {
            let shown = items
                .iter()
                .any(|(i, _)| i.schedule_id.as_deref() == Some(g.schedule_id.as_str()));
            if !shown && g.start.is_some_and(|s| s > now) {
                items.push((
                    Instance {
                        surface: g.surface,
                        kind,
                        id: g.schedule_id.clone(),
                        end: g.end(),
                        principal_id: g.principal_id,
                        role_id: g.role_id,
                        scope_id: g.scope_id,
                        start: g.start,
                        member_type: g.member_type,
                        active_type: g.active_type,
                        schedule_id: Some(g.schedule_id),
                    },
                    false,
                ));
            }
        }
        lists.push((kind, items));
    }
    let azure_held: Vec<Instance> = lists
        .iter()
        .flat_map(|(_, l)| l.iter().map(|(i, _)| i))
        .filter(|i| i.surface == SurfaceKind::AzureRole)
        .cloned()
        .collect();
    let mut waiting = super::all_my_requests(
        graph,
        &[AssignmentKind::Active, AssignmentKind::Eligible],
        Some(&azure_held),
    )
    .await?;
    waiting.retain(|r| is_waiting(&r.status));
    let all = lists.iter().flat_map(|(_, l)| l.iter().map(|(i, _)| i));
    let mut names = DisplayNames::load(
        graph,
        all.clone()
            .map(|i| i.role_id.as_str())
            .chain(waiting.iter().map(|r| r.role_id.as_str())),
        all.map(|i| i.scope_id.as_str())
            .chain(waiting.iter().map(|r| r.scope_id.as_str())),
    )
    .await?;
    if !waiting.is_empty() {
        names.load_principals(graph, [&me.id]).await?;
    }
    let mut pending: Vec<RequestRow> = waiting.iter().map(|r| row(&names, r)).collect();
    pending.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    let mut out = MyRoles {
        principal: PrincipalInfo {
            id: me.id.to_string(),
            display_name: me.display_name.clone(),
            user_principal_name: me.user_principal_name.clone(),
        },
        as_of: now.trunc_subsecs(0),
        eligible: Vec::new(),
        active: Vec::new(),
        pending,
    };
    for (kind, items) in lists {
        let mut rows: Vec<HeldRole> = items
            .iter()
            .map(|(i, in_effect)| held(&names, now, i, *in_effect))
            .collect();
        rows.sort_by(|a, b| (&a.role, &a.scope, a.start).cmp(&(&b.role, &b.scope, b.start)));
        match kind {
            AssignmentKind::Eligible => out.eligible = rows,
            AssignmentKind::Active => out.active = rows,
        }
    }
    Ok(out)
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_string(),
        |t| t.format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// A plain table of rows; the last column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    // Cells hold the tenant's names: escaped before they are measured.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| text(c).into_owned()).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::from("  ");
        for (i, c) in cells.into_iter().enumerate() {
            if i == last {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// `pim my roles` as text.
pub fn render_my_roles_text(r: &MyRoles) -> String {
    let who = match &r.principal.user_principal_name {
        Some(upn) => format!("{} <{upn}>", r.principal.display_name),
        None => r.principal.display_name.clone(),
    };
    let who = text(&who);
    let mut out = format!(
        "Roles of {who}, as of {} UTC\n",
        r.as_of.format("%Y-%m-%d %H:%M")
    );
    for (title, rows) in [("Eligible", &r.eligible), ("Active", &r.active)] {
        out.push('\n');
        if rows.is_empty() {
            out.push_str(&format!("{title}: none\n"));
            continue;
        }
        out.push_str(&format!("{title}:\n"));
        let active = title == "Active";
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|h| {
                let mut row = vec![
                    h.role.clone(),
                    h.scope.clone(),
                    when(h.start),
                    when(h.end),
                    h.time_left.clone(),
                ];
                if active {
                    row.push(h.assignment_type.unwrap_or("-").to_string());
                }
                row.push(h.member_type.to_string());
                row
            })
            .collect();
        // The words of the JSON: TYPE is `assignment_type`, MEMBER `member_type`.
        let header: &[&str] = if active {
            &["ROLE", "SCOPE", "START", "END", "LEFT", "TYPE", "MEMBER"]
        } else {
            &["ROLE", "SCOPE", "START", "END", "LEFT", "MEMBER"]
        };
        out.push_str(&table(header, &cells));
    }
    out.push('\n');
    if r.pending.is_empty() {
        out.push_str("Pending requests: none\n");
        return out;
    }
    out.push_str("Pending requests:\n");
    let cells: Vec<Vec<String>> = r
        .pending
        .iter()
        .map(|p| {
            vec![
                p.id.clone(),
                when(p.created),
                p.kind.to_string(),
                p.action.clone(),
                p.role.clone(),
                p.scope.clone(),
                p.expiration.clone().unwrap_or_default(),
                p.status.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "ID", "CREATED", "KIND", "ACTION", "ROLE", "SCOPE", "FOR", "STATUS",
        ],
        &cells,
    ));
    out
}
