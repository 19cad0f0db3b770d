//! PIM schedule requests: validation against the role's policy, the admin
//! actions (assign, update, extend, renew, remove), cancel, and what each
//! does to the schedules. Self-service actions are rejected until implemented.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Caller;
use super::error::{GraphError, GraphResult};
use super::store::{Exp, Kind, PrincipalType, ScheduleRec, Store, parse_ts, ts};
use crate::model::{IsoDuration, RuleId};

/// The request actions Graph defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    AdminAssign,
    AdminUpdate,
    AdminRemove,
    AdminExtend,
    AdminRenew,
    SelfActivate,
    SelfDeactivate,
    SelfExtend,
    SelfRenew,
}

impl Action {
    const ALL: [(Action, &'static str); 9] = [
        (Action::AdminAssign, "adminAssign"),
        (Action::AdminUpdate, "adminUpdate"),
        (Action::AdminRemove, "adminRemove"),
        (Action::AdminExtend, "adminExtend"),
        (Action::AdminRenew, "adminRenew"),
        (Action::SelfActivate, "selfActivate"),
        (Action::SelfDeactivate, "selfDeactivate"),
        (Action::SelfExtend, "selfExtend"),
        (Action::SelfRenew, "selfRenew"),
    ];

    fn parse(s: &str) -> Option<Action> {
        Action::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(a, _)| *a)
    }

    fn as_str(self) -> &'static str {
        Action::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknownFutureValue")
    }

    fn is_self(self) -> bool {
        matches!(
            self,
            Action::SelfActivate | Action::SelfDeactivate | Action::SelfExtend | Action::SelfRenew
        )
    }
}

const MIN_GRANT: TimeDelta = TimeDelta::minutes(5);

fn str_field<'a>(body: &'a Value, key: &str) -> GraphResult<Option<&'a str>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value for property '{key}': a string is expected."
        ))),
    }
}

fn required<'a>(body: &'a Value, key: &str) -> GraphResult<&'a str> {
    str_field(body, key)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| GraphError::bad_request(format!("The property '{key}' is required.")))
}

/// The requested schedule, start already clamped to now.
struct Requested {
    start: DateTime<Utc>,
    exp: Exp,
}

fn parse_schedule(info: &Value, now: DateTime<Utc>) -> GraphResult<Requested> {
    if !info.is_object() {
        return Err(GraphError::bad_request(
            "Invalid value for property 'scheduleInfo'.",
        ));
    }
    let start = match str_field(info, "startDateTime")? {
        Some(s) => parse_ts(s).ok_or_else(|| {
            GraphError::bad_request(format!(
                "Cannot convert the literal '{s}' to the expected type 'Edm.DateTimeOffset'."
            ))
        })?,
        None => now,
    };
    // Graph clamps a start in the past to the time it processes the request.
    let start = start.max(now);
    let exp_v = info.get("expiration").cloned().unwrap_or(Value::Null);
    let kind = str_field(&exp_v, "type")?
        .unwrap_or("noExpiration")
        .to_ascii_lowercase();
    let exp = match kind.as_str() {
        "noexpiration" | "notspecified" => Exp::Never,
        "afterdatetime" => {
            let end = str_field(&exp_v, "endDateTime")?.ok_or_else(|| {
                GraphError::bad_request(
                    "expiration.endDateTime is required with type afterDateTime.",
                )
            })?;
            Exp::At(parse_ts(end).ok_or_else(|| {
                GraphError::bad_request(format!(
                    "Cannot convert the literal '{end}' to the expected type 'Edm.DateTimeOffset'."
                ))
            })?)
        }
        "afterduration" => {
            let d = str_field(&exp_v, "duration")?.ok_or_else(|| {
                GraphError::bad_request("expiration.duration is required with type afterDuration.")
            })?;
            Exp::After(d.parse::<IsoDuration>().map_err(|_| {
                GraphError::bad_request(format!(
                    "Cannot convert the literal '{d}' to the expected type 'Edm.Duration'."
                ))
            })?)
        }
        other => {
            return Err(GraphError::bad_request(format!(
                "Requested value '{other}' was not found for property 'expiration.type'."
            )));
        }
    };
    Ok(Requested { start, exp })
}

/// Length of a time-bound request in seconds (None = permanent).
fn length_seconds(r: &Requested) -> Option<i64> {
    match &r.exp {
        Exp::Never => None,
        Exp::At(end) => Some((*end - r.start).num_seconds()),
        Exp::After(d) => Some(d.approx_seconds()),
    }
}

fn policy_failures(
    store: &Store,
    kind: Kind,
    role_id: &str,
    body: &Value,
    r: &Requested,
    caller: &Caller,
) -> Vec<&'static str> {
    let Some(policy) = store.policy_for_role(role_id) else {
        return Vec::new();
    };
    let (exp_rule, en_rule) = match kind {
        Kind::Eligibility => (
            RuleId::ExpirationAdminEligibility,
            RuleId::EnablementAdminEligibility,
        ),
        Kind::Assignment => (
            RuleId::ExpirationAdminAssignment,
            RuleId::EnablementAdminAssignment,
        ),
    };
    let mut failed = Vec::new();
    let (required, max) = policy.expiration(exp_rule);
    let expiration_ok = match length_seconds(r) {
        None => !required,
        // The documented examples assign for longer than maximumDuration while
        // expiration is optional: the cap only binds when expiration is required.
        Some(len) => {
            len >= MIN_GRANT.num_seconds()
                && !(required && max.is_some_and(|m| len > m.approx_seconds()))
        }
    };
    if !expiration_ok {
        failed.push("ExpirationRule");
    }
    let enabled = policy.enabled_rules(en_rule);
    let has = |name: &str| enabled.iter().any(|e| e.eq_ignore_ascii_case(name));
    let justification = body
        .get("justification")
        .and_then(Value::as_str)
        .unwrap_or("");
    if has("Justification") && justification.trim().is_empty() {
        failed.push("JustificationRule");
    }
    let ticket = body.get("ticketInfo");
    let ticket_number = ticket
        .and_then(|t| t.get("ticketNumber"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if has("Ticketing") && ticket_number.trim().is_empty() {
        failed.push("TicketingRule");
    }
    if has("MultiFactorAuthentication") && !caller.mfa {
        failed.push("MfaRule");
    }
    failed
}

fn policy_error(failed: &[&str]) -> GraphError {
    let list: Vec<String> = failed.iter().map(|f| format!("\"{f}\"")).collect();
    GraphError::new(
        400,
        "RoleAssignmentRequestPolicyValidationFailed",
        format!("The following policy rules failed: [{}]", list.join(",")),
    )
}

/// Handle `POST …/role{Eligibility,Assignment}ScheduleRequests`: returns the
/// request entity (without `@odata.context`).
pub(crate) fn create_request(
    store: &mut Store,
    kind: Kind,
    body: &Value,
    caller: &Caller,
    now: DateTime<Utc>,
    replication_delay: Option<Duration>,
) -> GraphResult<Value> {
    if !body.is_object() {
        return Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        ));
    }
    let action_text = required(body, "action")?;
    let action = Action::parse(action_text).ok_or_else(|| {
        GraphError::bad_request(format!(
            "Requested value '{action_text}' was not found for property 'action'."
        ))
    })?;
    if action.is_self() {
        return Err(GraphError::bad_request(format!(
            "The action '{}' is not supported by the pim emulator yet; only admin actions are.",
            action.as_str()
        )));
    }
    let principal = required(body, "principalId")?.to_ascii_lowercase();
    let role_in = required(body, "roleDefinitionId")?;
    if str_field(body, "appScopeId")?.is_some() {
        return Err(GraphError::bad_request(
            "appScopeId is not supported for directory roles here; use directoryScopeId.",
        ));
    }
    let scope_in = str_field(body, "directoryScopeId")?.ok_or_else(|| {
        GraphError::bad_request("Either directoryScopeId or appScopeId is required.")
    })?;
    let role_id = store
        .role(role_in)
        .map(|r| r.id.clone())
        .ok_or_else(|| GraphError::new(404, "RoleNotFound", "The role is not found."))?;
    let ptype = store
        .principal_type(&principal)
        .ok_or_else(|| GraphError::new(404, "SubjectNotFound", "The subject is not found."))?;
    match ptype {
        PrincipalType::ServicePrincipal if kind == Kind::Eligibility => {
            return Err(GraphError::bad_request(
                "Service principals can only have active assignments, not eligible ones.",
            ));
        }
        PrincipalType::Group { assignable: false } => {
            return Err(GraphError::bad_request(
                "Only role-assignable groups (isAssignableToRole) can be assigned a role.",
            ));
        }
        _ => {}
    }
    let scope = (scope_in == "/" || scope_in.starts_with('/'))
        .then(|| store.resolve_scope(scope_in))
        .flatten()
        .filter(|s| s == "/" || s.eq_ignore_ascii_case(scope_in))
        .ok_or_else(|| {
            GraphError::bad_request(format!("The directoryScopeId '{scope_in}' is invalid."))
        })?;
    let validation_only = match body.get("isValidationOnly") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(GraphError::bad_request(
                "Invalid value for property 'isValidationOnly'.",
            ));
        }
    };
    let justification = str_field(body, "justification")?.map(str::to_string);
    let ticket = body.get("ticketInfo").cloned().unwrap_or(Value::Null);
    let ticket_json = json!({
        "ticketNumber": ticket.get("ticketNumber").cloned().unwrap_or(Value::Null),
        "ticketSystem": ticket.get("ticketSystem").cloned().unwrap_or(Value::Null),
    });
    let requested = match (action, body.get("scheduleInfo")) {
        (Action::AdminRemove, _) => None,
        (_, None | Some(Value::Null)) => {
            return Err(GraphError::bad_request(format!(
                "scheduleInfo is required for action '{}'.",
                action.as_str()
            )));
        }
        (_, Some(info)) => Some(parse_schedule(info, now)?),
    };

    let existing = store.schedules.iter().position(|s| {
        s.same_tuple(kind, &principal, &role_id, &scope)
            && s.member_type == "Direct"
            && if action == Action::AdminRenew {
                store.renewable(s, now)
            } else {
                !s.is_expired(now)
            }
    });
    match (action, existing) {
        (Action::AdminAssign, Some(_)) => {
            return Err(GraphError::new(
                400,
                "RoleAssignmentExists",
                "The Role assignment already exists.",
            ));
        }
        (Action::AdminAssign, None) => {}
        (_, None) => {
            return Err(GraphError::new(
                400,
                "RoleAssignmentDoesNotExist",
                "The Role assignment does not exist.",
            ));
        }
        _ => {}
    }
    if let Some(r) = &requested {
        let failed = policy_failures(store, kind, &role_id, body, r, caller);
        if !failed.is_empty() {
            return Err(policy_error(&failed));
        }
    }
    if action == Action::AdminRemove
        && let Some(i) = existing
        && store.schedules[i].start + MIN_GRANT > now
    {
        return Err(GraphError::new(
            400,
            "ActiveDurationTooShort",
            "The Active duration is too short. Miniumum Required is 5 minutes.",
        ));
    }

    let id = Uuid::new_v4().to_string();
    let (status, completed, target, schedule_info) = match &requested {
        None => ("Revoked", Value::Null, Value::Null, Value::Null),
        Some(r) => {
            let (status, completed) = if r.start > now {
                ("Granted", ts(r.start))
            } else {
                ("Provisioned", ts(now))
            };
            let info = json!({ "startDateTime": ts(r.start), "recurrence": null, "expiration": r.exp.to_json() });
            (status, json!(completed), json!(id), info)
        }
    };
    let entity = json!({
        "id": id,
        "status": status,
        "createdDateTime": ts(now),
        "completedDateTime": completed,
        "approvalId": null,
        "customData": body.get("customData").cloned().unwrap_or(Value::Null),
        "action": action.as_str(),
        "principalId": principal,
        "roleDefinitionId": role_id,
        "directoryScopeId": scope,
        "appScopeId": null,
        "isValidationOnly": validation_only,
        "targetScheduleId": target,
        "justification": justification,
        "createdBy": { "application": null, "device": null, "user": { "displayName": null, "id": caller.object_id } },
        "scheduleInfo": schedule_info,
        "ticketInfo": ticket_json,
    });
    if validation_only {
        return Ok(entity);
    }

    if let Some(i) = existing {
        store.schedules.remove(i);
    }
    if let Some(r) = requested {
        store.schedules.push(ScheduleRec {
            id: id.clone(),
            kind,
            principal_id: principal,
            role_id,
            scope,
            created_using: Some(id.clone()),
            created: Some(now),
            modified: Some(ts(now)),
            assignment_type: "Assigned".into(),
            member_type: "Direct".into(),
            start: r.start,
            exp: r.exp,
            visible_after: replication_delay
                .filter(|d| !d.is_zero())
                .map(|d| Instant::now() + d),
        });
    }
    store.requests.push((kind, entity.clone()));
    Ok(entity)
}

/// `POST …/{id}/cancel`: only a request still waiting (Granted, PendingApproval) can be canceled.
pub(crate) fn cancel_request(
    store: &mut Store,
    kind: Kind,
    id: &str,
    now: DateTime<Utc>,
) -> GraphResult<()> {
    let Some((_, req)) = store.requests.iter_mut().find(|(k, r)| {
        *k == kind
            && r.get("id")
                .and_then(Value::as_str)
                .is_some_and(|x| x.eq_ignore_ascii_case(id))
    }) else {
        return Err(GraphError::not_found(format!(
            "The request '{id}' was not found."
        )));
    };
    let status = req
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if status != "Granted" && status != "PendingApproval" {
        return Err(GraphError::bad_request(format!(
            "The request cannot be canceled because its status is {status}."
        )));
    }
    req["status"] = json!("Canceled");
    let target = req
        .get("targetScheduleId")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(target) = target {
        store
            .schedules
            .retain(|s| !(s.kind == kind && s.id == target && s.start > now));
    }
    Ok(())
}
