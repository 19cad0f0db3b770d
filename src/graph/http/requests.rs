//! Schedule requests: creating them (reconciling, not resending, when the
//! outcome is unknown), reading them back, and cancelling them.

use std::sync::atomic::Ordering;

use chrono::Utc;
use percent_encoding::utf8_percent_encode;
use reqwest::Method;

use super::HttpGraph;
use super::query::{SEGMENT, collection, grant_filter, query};
use super::send::Call;
use crate::graph::convert::{expiration_from_wire, parse_time, schedule_to_wire};
use crate::graph::error::{ErrorKind, GraphError};
use crate::graph::wire::{NewScheduleRequest, TicketInfo, UnifiedRoleAssignmentScheduleRequest};
use crate::graph::{GrantFilter, RequestOutcome, RequestParty, ScheduleRequest, page_size};
use crate::model::{AssignmentKind, Schedule, SurfaceKind, Ticket};
use crate::model::{Caseless, ObjectId};

impl HttpGraph {
    pub(super) async fn send_request(
        &self,
        request: &ScheduleRequest,
    ) -> Result<RequestOutcome, GraphError> {
        let op = format!("POST {}", collection(request.surface, request.kind, true)?);
        let mut resends = 0u32;
        loop {
            // Graph's clock and ours may differ a little; a minute of slack
            // still cannot match a request of an earlier run of pim.
            let sent_after = Utc::now() - chrono::TimeDelta::seconds(60);
            match self.post_request(request).await {
                Err(e) if e.kind == ErrorKind::OutcomeUnknown => {
                    tracing::warn!(operation = %op, "connection lost after sending; checking whether the request took effect: {e}");
                    let found =
                        self.find_sent(request, sent_after)
                            .await
                            .map_err(|re| GraphError {
                                kind: ErrorKind::OutcomeUnknown,
                                message: format!("{}; checking failed too: {re}", e.message),
                                ..e.clone()
                            })?;
                    if let Some(mut o) = found {
                        self.stats.reconciled.fetch_add(1, Ordering::Relaxed);
                        o.reconciled = true;
                        return Ok(o);
                    }
                    // It never arrived: sending again cannot duplicate it.
                    resends += 1;
                    if resends >= self.backoff.policy().max_attempts {
                        return Err(e);
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.clock.sleep(self.backoff.delay(resends, None)).await;
                }
                other => return other,
            }
        }
    }

    pub(super) async fn read_request(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
        id: &str,
    ) -> Result<RequestOutcome, GraphError> {
        let path = format!(
            "{}/{}",
            collection(surface, kind, true)?,
            utf8_percent_encode(id, SEGMENT)
        );
        let w: UnifiedRoleAssignmentScheduleRequest = self.get_json(&path).await?;
        Ok(outcome(kind, w, false))
    }

    pub(super) async fn read_requests(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<RequestOutcome>, GraphError> {
        let mut q = vec![("$top", page_size::REQUESTS.to_string())];
        if let Some(f) = grant_filter(filter) {
            q.push(("$filter", f));
        }
        let path = format!("{}{}", collection(filter.surface, kind, true)?, query(&q));
        let all: Vec<UnifiedRoleAssignmentScheduleRequest> = self.get_all(&path).await?;
        Ok(all.into_iter().map(|w| outcome(kind, w, false)).collect())
    }

    pub(super) async fn read_my_requests(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
        party: RequestParty,
    ) -> Result<Vec<RequestOutcome>, GraphError> {
        let path = format!(
            "{}/filterByCurrentUser(on='{}')",
            collection(surface, kind, true)?,
            party.as_str()
        );
        let all: Vec<UnifiedRoleAssignmentScheduleRequest> = self.get_all(&path).await?;
        Ok(all.into_iter().map(|w| outcome(kind, w, false)).collect())
    }

    pub(super) async fn send_cancel(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
        id: &str,
    ) -> Result<(), GraphError> {
        let call = Call {
            method: Method::POST,
            url: self.url(&format!(
                "{}/{}/cancel",
                collection(surface, kind, true)?,
                utf8_percent_encode(id, SEGMENT)
            )),
            body: None,
            // A second cancel is refused (no longer cancelable): never resend blindly.
            idempotent: false,
            retry_replication: false,
            batchable: false,
        };
        self.execute(&call).await.map(|_| ())
    }

    async fn post_request(&self, request: &ScheduleRequest) -> Result<RequestOutcome, GraphError> {
        let group = request.surface == SurfaceKind::Group;
        let (role, scope) = (
            Some(request.role_id.to_string()),
            Some(request.scope_id.clone()),
        );
        let body = NewScheduleRequest {
            action: request.action.as_str().to_string(),
            principal_id: request.principal_id.to_string(),
            role_definition_id: role.clone().filter(|_| !group),
            directory_scope_id: scope.clone().filter(|_| !group),
            access_id: role.filter(|_| group),
            group_id: scope.filter(|_| group),
            justification: request.justification.clone(),
            schedule_info: request
                .schedule
                .as_ref()
                .filter(|_| request.action.sends_schedule())
                .map(|s| schedule_to_wire(s, Utc::now())),
            ticket_info: request.ticket.as_ref().map(|t| TicketInfo {
                ticket_number: Some(t.number.clone()),
                ticket_system: t.system.clone(),
            }),
        };
        let call = Call {
            method: Method::POST,
            url: self.url(&collection(request.surface, request.kind, true)?),
            body: Some(
                serde_json::to_value(&body)
                    .map_err(|e| GraphError::decode("encode request", e.to_string()))?,
            ),
            idempotent: false,
            retry_replication: true,
            batchable: true,
        };
        let op = call.operation(&self.root);
        let wire: UnifiedRoleAssignmentScheduleRequest = self.execute(&call).await?.decode(&op)?;
        Ok(outcome(request.kind, wire, false))
    }

    /// After a broken connection: did the request take effect? Looks for a
    /// request of the same action, principal, role, scope and justification
    /// made since just before it was sent.
    async fn find_sent(
        &self,
        request: &ScheduleRequest,
        sent_after: chrono::DateTime<Utc>,
    ) -> Result<Option<RequestOutcome>, GraphError> {
        let filter = GrantFilter {
            surface: request.surface,
            principal_id: Some(request.principal_id.clone()),
            role_id: Some(request.role_id.clone()),
            scope_id: Some(request.scope_id.clone()),
        };
        let found = self.read_requests(request.kind, &filter).await?;
        Ok(found
            .into_iter()
            .filter(|o| {
                Caseless::same(&o.action, request.action.as_str())
                    && o.justification == request.justification
                    && o.created.is_none_or(|c| c >= sent_after)
            })
            .max_by_key(|o| o.created))
    }
}

fn outcome(
    kind: AssignmentKind,
    w: UnifiedRoleAssignmentScheduleRequest,
    reconciled: bool,
) -> RequestOutcome {
    let schedule = w.schedule_info.as_ref().and_then(|info| {
        Some(Schedule {
            start: info.start_date_time.as_deref().and_then(parse_time),
            expiration: expiration_from_wire(info.expiration.as_ref()).ok()?,
        })
    });
    let ticket = w.ticket_info.as_ref().and_then(|t| {
        Some(Ticket {
            number: t.ticket_number.clone().filter(|n| !n.is_empty())?,
            system: t.ticket_system.clone(),
        })
    });
    let created_by = w.created_by.as_ref().and_then(|c| {
        c.user
            .as_ref()
            .or(c.application.as_ref())
            .and_then(|i| i.id.as_ref())
            .map(ObjectId::new)
    });
    let (surface, role_id, scope_id) = crate::graph::convert::target(
        w.role_definition_id,
        w.directory_scope_id,
        w.app_scope_id,
        w.group_id,
        w.access_id,
    );
    RequestOutcome {
        surface,
        schedule,
        ticket,
        created_by,
        completed: w.completed_date_time.as_deref().and_then(parse_time),
        kind,
        request_id: w.id,
        status: w.status,
        action: w.action.unwrap_or_default(),
        principal_id: ObjectId::new(w.principal_id),
        role_id,
        scope_id,
        target_schedule_id: w.target_schedule_id,
        justification: w.justification,
        created: w.created_date_time.as_deref().and_then(parse_time),
        approval_id: w.approval_id,
        reconciled,
    }
}
