//! ARM wire ⇄ pim's own values: policy rules (ARM's `ruleType`
//! discriminator and PascalCase enums) to and from the model's
//! `RuleValue`s, schedules and requests to the plain structs of
//! `crate::arm`, and schedule requests to the body a PUT sends.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::scope::{normalize_scope, same_scope};
use super::wire::{
    Expiration as WireExpiration, RequestProperties, Resource, ScheduleInfo, ScheduleProperties,
    TicketInfo,
};
use super::{ArmRequest, ArmRequestOutcome, ArmSchedule};
use crate::graph::convert::{ConvertError, format_time, parse_time};
use crate::model::{
    ApprovalSetting, ApprovalStage, Approver, AssignmentKind, Caseless, EnablementFactor,
    Expiration, IsoDuration, NotificationLevel, ObjectId, RequestAction, RuleId, RuleSet,
    RuleValue, Schedule,
};
use crate::snapshot::MemberType;

// ---------------------------------------------------------------- rules

/// ARM's `ruleType` of a rule id's kind (arm-pim.md §6.3).
pub fn rule_type(id: RuleId) -> &'static str {
    match id.as_str().split('_').next().unwrap_or_default() {
        "Expiration" => "RoleManagementPolicyExpirationRule",
        "Enablement" => "RoleManagementPolicyEnablementRule",
        "Approval" => "RoleManagementPolicyApprovalRule",
        "AuthenticationContext" => "RoleManagementPolicyAuthenticationContextRule",
        _ => "RoleManagementPolicyNotificationRule",
    }
}

fn err(id: &str, what: impl std::fmt::Display) -> ConvertError {
    ConvertError(format!("ARM policy rule {id}: {what}"))
}

fn bool_of(rule: &Value, key: &str, id: &str) -> Result<bool, ConvertError> {
    match rule.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(err(id, format!("{key} is {other}, not a boolean"))),
    }
}

fn strings_of(rule: &Value, key: &str, id: &str) -> Result<Vec<String>, ConvertError> {
    match rule.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| err(id, format!("{key} holds {v}, not a string")))
            })
            .collect(),
        Some(other) => Err(err(id, format!("{key} is {other}, not a list"))),
    }
}

fn u32_of(v: &Value, key: &str, id: &str) -> Result<u32, ConvertError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| err(id, format!("{key} is {n}, not a count"))),
    }
}

fn approvers_of(stage: &Value, key: &str, id: &str) -> Result<Vec<Approver>, ConvertError> {
    let Some(list) = stage.get(key).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| err(id, format!("{key} is not a list")))?;
    list.iter()
        .map(|a| {
            let oid = a
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| err(id, "an approver without an id"))?;
            let description = a
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
            // `userType` User | Group [spec]; `isBackup` has no place in
            // the model and is sent as false.
            let user_type = a.get("userType").and_then(Value::as_str).unwrap_or("User");
            Ok(if Caseless::same(user_type, "Group") {
                Approver::Group {
                    id: ObjectId::new(oid),
                    description,
                }
            } else {
                Approver::User {
                    id: ObjectId::new(oid),
                    description,
                }
            })
        })
        .collect()
}

fn approval_from_wire(setting: &Value, id: &str) -> Result<ApprovalSetting, ConvertError> {
    let stages = match setting.get("approvalStages") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(s)) => s.clone(),
        Some(_) => return Err(err(id, "approvalStages is not a list")),
    };
    let mode = setting
        .get("approvalMode")
        .and_then(Value::as_str)
        .unwrap_or("SingleStage");
    Ok(ApprovalSetting {
        required: bool_of(setting, "isApprovalRequired", id)?,
        required_for_extension: bool_of(setting, "isApprovalRequiredForExtension", id)?,
        requestor_justification_required: bool_of(setting, "isRequestorJustificationRequired", id)?,
        mode: approval_mode(mode).to_string(),
        stages: stages
            .iter()
            .map(|st| {
                Ok(ApprovalStage {
                    timeout_days: u32_of(st, "approvalStageTimeOutInDays", id)?,
                    approver_justification_required: bool_of(
                        st,
                        "isApproverJustificationRequired",
                        id,
                    )?,
                    escalation_enabled: bool_of(st, "isEscalationEnabled", id)?,
                    escalation_minutes: u32_of(st, "escalationTimeInMinutes", id)?,
                    primary_approvers: approvers_of(st, "primaryApprovers", id)?,
                    escalation_approvers: approvers_of(st, "escalationApprovers", id)?,
                })
            })
            .collect::<Result<_, ConvertError>>()?,
    })
}

/// The four modes in ARM's PascalCase, whatever case they came in; an
/// unknown one as it came (`modelAsString`).
fn approval_mode(mode: &str) -> &str {
    ["SingleStage", "Serial", "Parallel", "NoApproval"]
        .into_iter()
        .find(|m| Caseless::same(m, mode))
        .unwrap_or(mode)
}

/// One ARM rule as pim's typed value. An id pim does not know is an error
/// the caller may skip; a `ruleType` that does not fit the id is refused.
pub fn rule_from_wire(rule: &Value) -> Result<(RuleId, RuleValue), ConvertError> {
    let raw_id = rule.get("id").and_then(Value::as_str).unwrap_or_default();
    let id = RuleId::parse(raw_id)
        .ok_or_else(|| ConvertError(format!("unknown ARM policy rule id {raw_id:?}")))?;
    let name = id.as_str();
    let kind = rule
        .get("ruleType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !Caseless::same(kind, rule_type(id)) {
        return Err(err(
            name,
            format!(
                "ruleType {kind:?} does not fit it (expected {})",
                rule_type(id)
            ),
        ));
    }
    let value = match rule_type(id) {
        "RoleManagementPolicyExpirationRule" => RuleValue::Expiration {
            required: bool_of(rule, "isExpirationRequired", name)?,
            max: match rule.get("maximumDuration").and_then(Value::as_str) {
                None | Some("") => None,
                Some(d) => Some(
                    d.parse::<IsoDuration>()
                        .map_err(|e| err(name, format!("maximumDuration: {e}")))?,
                ),
            },
        },
        "RoleManagementPolicyEnablementRule" => {
            let mut factors = Vec::new();
            for r in strings_of(rule, "enabledRules", name)? {
                let f = EnablementFactor::parse(&r)
                    .ok_or_else(|| err(name, format!("unknown enabled rule {r:?}")))?;
                if !factors.contains(&f) {
                    factors.push(f);
                }
            }
            // No meaningful order on the wire; sorted, it compares stably.
            factors.sort();
            RuleValue::Enablement { factors }
        }
        "RoleManagementPolicyApprovalRule" => RuleValue::Approval(approval_from_wire(
            rule.get("setting").unwrap_or(&Value::Null),
            name,
        )?),
        "RoleManagementPolicyAuthenticationContextRule" => RuleValue::AuthenticationContext {
            enabled: bool_of(rule, "isEnabled", name)?,
            claim: rule
                .get("claimValue")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string),
        },
        _ => {
            let level = rule
                .get("notificationLevel")
                .and_then(Value::as_str)
                .unwrap_or_default();
            RuleValue::Notification {
                level: NotificationLevel::parse(level)
                    .ok_or_else(|| err(name, format!("unknown notificationLevel {level:?}")))?,
                default_recipients: bool_of(rule, "isDefaultRecipientsEnabled", name)?,
                recipients: strings_of(rule, "notificationRecipients", name)?,
            }
        }
    };
    Ok((id, value))
}

fn approvers_to_wire(list: &[Approver]) -> Value {
    if list.is_empty() {
        // As ARM itself answers an empty list.
        return Value::Null;
    }
    Value::Array(
        list.iter()
            .map(|a| {
                let (id, description, user_type) = match a {
                    Approver::User { id, description } => (id, description, "User"),
                    Approver::Group { id, description } => (id, description, "Group"),
                };
                json!({
                    "id": id.as_str(),
                    "description": description,
                    "isBackup": false,
                    "userType": user_type,
                })
            })
            .collect(),
    )
}

/// The complete rule ARM takes in a policy PATCH: `id`, `ruleType`, every
/// field of its type and the `target` its id fixes (arm-pim.md §6.4: merge
/// of partial rules is UNVERIFIED, so nothing is left out). `None` when
/// the value's type does not fit the id.
///
/// An expiration rule that does not require expiration is sent without
/// `maximumDuration`: EasyPIM #272 saw ARM refuse a maximum duration
/// together with permanent assignments allowed. What ARM keeps of the
/// omitted maximum is UNVERIFIED.
pub fn rule_to_wire(id: RuleId, value: &RuleValue) -> Option<Value> {
    let (caller, level) = id.target();
    let mut rule = json!({
        "id": id.as_str(),
        "ruleType": rule_type(id),
        "target": {
            "caller": caller,
            "operations": ["All"],
            "level": level,
            "targetObjects": null,
            "inheritableSettings": null,
            "enforcedSettings": null,
        },
    });
    let fields = match (rule_type(id), value) {
        ("RoleManagementPolicyExpirationRule", RuleValue::Expiration { required, max }) => {
            let mut f = json!({ "isExpirationRequired": required });
            if *required && let Some(d) = max {
                f["maximumDuration"] = json!(d.to_string());
            }
            f
        }
        ("RoleManagementPolicyEnablementRule", RuleValue::Enablement { factors }) => json!({
            "enabledRules": factors.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        }),
        ("RoleManagementPolicyApprovalRule", RuleValue::Approval(a)) => json!({
            "setting": {
                "isApprovalRequired": a.required,
                "isApprovalRequiredForExtension": a.required_for_extension,
                "isRequestorJustificationRequired": a.requestor_justification_required,
                "approvalMode": approval_mode(&a.mode),
                "approvalStages": a.stages.iter().map(|st| json!({
                    "approvalStageTimeOutInDays": st.timeout_days,
                    "isApproverJustificationRequired": st.approver_justification_required,
                    "escalationTimeInMinutes": st.escalation_minutes,
                    "primaryApprovers": approvers_to_wire(&st.primary_approvers),
                    "isEscalationEnabled": st.escalation_enabled,
                    "escalationApprovers": approvers_to_wire(&st.escalation_approvers),
                })).collect::<Vec<_>>(),
            },
        }),
        (
            "RoleManagementPolicyAuthenticationContextRule",
            RuleValue::AuthenticationContext { enabled, claim },
        ) => json!({
            "isEnabled": enabled,
            // ARM's own "off" value is the empty string.
            "claimValue": claim.clone().unwrap_or_default(),
        }),
        (
            "RoleManagementPolicyNotificationRule",
            RuleValue::Notification {
                level,
                default_recipients,
                recipients,
            },
        ) => json!({
            "notificationType": "Email",
            // Notification_<Recipient>_<Caller>_<Level>
            "recipientType": id.as_str().split('_').nth(1).unwrap_or("Admin"),
            "isDefaultRecipientsEnabled": default_recipients,
            "notificationLevel": format!("{level:?}"),
            "notificationRecipients": recipients,
        }),
        _ => return None,
    };
    if let (Some(r), Value::Object(f)) = (rule.as_object_mut(), fields) {
        r.extend(f);
    }
    Some(rule)
}

/// The rules of a policy as ARM lists them. Rules pim does not know are
/// skipped: ARM may add some, pim manages its 17.
pub fn rule_set_from_wire(rules: &[Value]) -> Result<RuleSet, ConvertError> {
    let mut set = RuleSet::default();
    for raw in rules {
        let id = raw.get("id").and_then(Value::as_str).unwrap_or_default();
        if RuleId::parse(id).is_none() {
            tracing::debug!(rule = id, "skipping an ARM policy rule pim does not manage");
            continue;
        }
        let (rid, value) = rule_from_wire(raw)?;
        set.rules.insert(rid, value);
    }
    Ok(set)
}

// ---------------------------------------------------------------- schedules

fn member_type(s: Option<&str>) -> MemberType {
    match s.map(Caseless::ascii).as_ref().map(Caseless::as_str) {
        Some("inherited") => MemberType::Inherited,
        Some("group") => MemberType::Group,
        _ => MemberType::Direct,
    }
}

fn time(s: Option<&str>, what: &str) -> Result<Option<DateTime<Utc>>, ConvertError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(t) => parse_time(t)
            .map(Some)
            .ok_or_else(|| ConvertError(format!("{what} {t:?} is not a time"))),
    }
}

fn last_segment(id: &str) -> String {
    id.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A schedule or instance listed at `listed_at`; `inherited` when it lives
/// elsewhere (above: `atScope()` shows what is at or above the scope).
pub(crate) fn schedule_from_wire(
    kind: AssignmentKind,
    r: Resource<ScheduleProperties>,
    listed_at: Option<&str>,
) -> Result<ArmSchedule, ConvertError> {
    let p = r.properties;
    let id = r.id.unwrap_or_default();
    let scope_raw = p
        .scope
        .ok_or_else(|| ConvertError(format!("schedule {id:?} has no scope")))?;
    let scope = normalize_scope(&scope_raw).map_err(|e| ConvertError(e.message))?;
    let principal = p
        .principal_id
        .ok_or_else(|| ConvertError(format!("schedule {id:?} has no principalId")))?;
    let role = p
        .role_definition_id
        .ok_or_else(|| ConvertError(format!("schedule {id:?} has no roleDefinitionId")))?;
    let member_type = member_type(p.member_type.as_deref());
    let inherited = match listed_at {
        Some(at) => !same_scope(&scope, at),
        None => member_type == MemberType::Inherited,
    };
    Ok(ArmSchedule {
        kind,
        name: r.name.unwrap_or_else(|| last_segment(&id)),
        id,
        scope,
        role_definition_id: role,
        principal_id: ObjectId::new(principal.to_ascii_lowercase()),
        principal_type: p.principal_type,
        member_type,
        inherited,
        start: time(p.start_date_time.as_deref(), "startDateTime")?,
        end: time(p.end_date_time.as_deref(), "endDateTime")?,
        status: p.status,
        assignment_type: p.assignment_type,
        condition: p.condition,
        condition_version: p.condition_version,
        linked_eligibility_schedule_id: p.linked_role_eligibility_schedule_id,
        schedule_id: p
            .role_eligibility_schedule_id
            .or(p.role_assignment_schedule_id),
        request_id: p
            .role_eligibility_schedule_request_id
            .or(p.role_assignment_schedule_request_id)
            .filter(|r| !r.trim().is_empty()),
    })
}

// ---------------------------------------------------------------- requests

/// `AdminAssign`: ARM's PascalCase of the model's action.
pub fn request_type(action: RequestAction) -> String {
    let s = action.as_str();
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

fn expiration_to_wire(e: &Expiration) -> WireExpiration {
    match e {
        Expiration::Permanent => WireExpiration {
            kind: Some("NoExpiration".into()),
            ..WireExpiration::default()
        },
        Expiration::At(t) => WireExpiration {
            kind: Some("AfterDateTime".into()),
            end_date_time: Some(format_time(*t)),
            ..WireExpiration::default()
        },
        Expiration::After(d) => WireExpiration {
            kind: Some("AfterDuration".into()),
            duration: Some(d.to_string()),
            ..WireExpiration::default()
        },
    }
}

fn expiration_from_wire(e: Option<&WireExpiration>) -> Result<Expiration, ConvertError> {
    let Some(e) = e else {
        return Ok(Expiration::Permanent);
    };
    match Caseless::ascii(e.kind.as_deref().unwrap_or("NoExpiration")).as_str() {
        "afterdatetime" => e
            .end_date_time
            .as_deref()
            .and_then(parse_time)
            .map(Expiration::At)
            .ok_or_else(|| ConvertError("AfterDateTime without a valid endDateTime".into())),
        "afterduration" => e
            .duration
            .as_deref()
            .and_then(|d| d.parse::<IsoDuration>().ok())
            .map(Expiration::After)
            .ok_or_else(|| ConvertError("AfterDuration without a valid duration".into())),
        "noexpiration" => Ok(Expiration::Permanent),
        other => Err(ConvertError(format!("unknown expiration type {other:?}"))),
    }
}

/// The body of a schedule request's PUT.
pub(crate) fn request_to_wire(r: &ArmRequest, now: DateTime<Utc>) -> Value {
    let schedule_info = r.schedule.as_ref().map(|s| ScheduleInfo {
        start_date_time: Some(format_time(s.start.unwrap_or(now))),
        expiration: Some(expiration_to_wire(&s.expiration)),
    });
    let (target_eligibility, target_assignment) = match r.kind {
        AssignmentKind::Eligible => (r.target_schedule_id.clone(), None),
        AssignmentKind::Active => (None, r.target_schedule_id.clone()),
    };
    let props = RequestProperties {
        principal_id: Some(r.principal_id.to_string()),
        role_definition_id: Some(r.role_definition_id.clone()),
        request_type: Some(request_type(r.action)),
        schedule_info,
        justification: r.justification.clone(),
        ticket_info: r.ticket.as_ref().map(|t| TicketInfo {
            ticket_number: Some(t.number.clone()),
            ticket_system: t.system.clone(),
        }),
        condition: r.condition.clone(),
        condition_version: r.condition_version.clone(),
        target_role_eligibility_schedule_id: target_eligibility,
        target_role_assignment_schedule_id: target_assignment,
        linked_role_eligibility_schedule_id: match r.kind {
            AssignmentKind::Active => r.linked_eligibility_schedule_id.clone(),
            AssignmentKind::Eligible => None,
        },
        ..RequestProperties::default()
    };
    json!({ "properties": props })
}

pub(crate) fn request_from_wire(
    kind: AssignmentKind,
    r: Resource<RequestProperties>,
) -> Result<ArmRequestOutcome, ConvertError> {
    let p = r.properties;
    let id = r.id.unwrap_or_default();
    let scope = match p.scope.as_deref() {
        Some(s) => normalize_scope(s).map_err(|e| ConvertError(e.message))?,
        None => String::new(),
    };
    let schedule = match &p.schedule_info {
        Some(info) if info.expiration.is_some() || info.start_date_time.is_some() => {
            Some(Schedule {
                start: time(info.start_date_time.as_deref(), "startDateTime")?,
                expiration: expiration_from_wire(info.expiration.as_ref())?,
            })
        }
        _ => None,
    };
    Ok(ArmRequestOutcome {
        kind,
        name: r.name.unwrap_or_else(|| last_segment(&id)),
        id,
        scope,
        action: p.request_type.as_deref().and_then(RequestAction::parse),
        status: p.status.unwrap_or_default(),
        principal_id: ObjectId::new(p.principal_id.unwrap_or_default().to_ascii_lowercase()),
        principal_type: p.principal_type,
        role_definition_id: p.role_definition_id.unwrap_or_default(),
        approval_id: p.approval_id,
        target_schedule_id: match kind {
            AssignmentKind::Eligible => p.target_role_eligibility_schedule_id,
            AssignmentKind::Active => p.target_role_assignment_schedule_id,
        },
        schedule,
        justification: p.justification,
        created: time(p.created_on.as_deref(), "createdOn")?,
        reconciled: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/crates/pim-emulator/tests/fixtures/arm/examples/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn fixture_rules() -> Vec<Value> {
        let v = fixture("get_roleManagementPolicy.json");
        v["response"]["body"]["properties"]["rules"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Drops what the model does not keep: `null` vs absent target
    /// members, `isBackup`, and the order of enabled rules.
    fn comparable(mut v: Value) -> Value {
        if let Some(stages) = v
            .pointer_mut("/setting/approvalStages")
            .and_then(Value::as_array_mut)
        {
            for st in stages {
                for key in ["primaryApprovers", "escalationApprovers"] {
                    if let Some(list) = st.get_mut(key).and_then(Value::as_array_mut) {
                        for a in list {
                            a.as_object_mut().unwrap().remove("isBackup");
                        }
                    }
                }
            }
        }
        if let Some(list) = v.get_mut("enabledRules").and_then(Value::as_array_mut) {
            list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
        if v.get("notificationRecipients") == Some(&Value::Null) {
            v["notificationRecipients"] = json!([]);
        }
        v
    }

    #[test]
    fn every_rule_of_the_fixture_reads_and_writes_back() {
        let rules = fixture_rules();
        assert_eq!(rules.len(), 17);
        let set = rule_set_from_wire(&rules).unwrap();
        assert_eq!(set.rules.len(), 17, "all 17 ids read");
        for raw in &rules {
            let (id, value) = rule_from_wire(raw).unwrap();
            let back = rule_to_wire(id, &value).unwrap();
            let mut want = comparable(raw.clone());
            if id == RuleId::ExpirationAdminAssignment {
                // isExpirationRequired false: the maximum is not sent.
                assert_eq!(raw["isExpirationRequired"], json!(false));
                assert!(back.get("maximumDuration").is_none(), "{back}");
                want.as_object_mut().unwrap().remove("maximumDuration");
            }
            assert_eq!(comparable(back.clone()), want, "{id}");
            // And the value survives the trip, but for that maximum.
            let (id2, again) = rule_from_wire(&back).unwrap();
            assert_eq!(id2, id);
            match (&value, &again) {
                (
                    RuleValue::Expiration {
                        required: false, ..
                    },
                    RuleValue::Expiration { max, .. },
                ) => {
                    assert_eq!(*max, None)
                }
                _ => assert_eq!(again, value, "{id}"),
            }
        }
    }

    #[test]
    fn the_fixture_values_are_read_as_arm_wrote_them() {
        let set = rule_set_from_wire(&fixture_rules()).unwrap();
        assert_eq!(
            set.expiration(RuleId::ExpirationEndUserAssignment),
            Some((true, Some("PT7H".parse().unwrap())))
        );
        assert_eq!(
            set.expiration(RuleId::ExpirationAdminAssignment),
            Some((false, Some("P90D".parse().unwrap())))
        );
        assert_eq!(
            set.factors(RuleId::EnablementEndUserAssignment),
            [
                EnablementFactor::MultiFactorAuthentication,
                EnablementFactor::Justification,
                EnablementFactor::Ticketing
            ]
        );
        let a = set.approval().unwrap();
        assert!(a.required && a.requestor_justification_required && !a.required_for_extension);
        assert_eq!(a.mode, "SingleStage");
        assert_eq!(a.stages[0].primary_approvers.len(), 2);
        assert!(matches!(
            a.stages[0].primary_approvers[0],
            Approver::Group { .. }
        ));
        assert_eq!(
            set.get(RuleId::NotificationApproverEndUserAssignment),
            Some(&RuleValue::Notification {
                level: NotificationLevel::Critical,
                default_recipients: true,
                recipients: vec![],
            })
        );
        assert_eq!(
            set.get(RuleId::AuthenticationContextEndUserAssignment),
            Some(&RuleValue::AuthenticationContext {
                enabled: false,
                claim: None
            })
        );
    }

    #[test]
    fn a_rule_type_that_does_not_fit_its_id_is_refused() {
        let mut rule = fixture_rules()
            .into_iter()
            .find(|r| r["id"] == "Expiration_Admin_Eligibility")
            .unwrap();
        rule["ruleType"] = json!("RoleManagementPolicyEnablementRule");
        let e = rule_from_wire(&rule).unwrap_err();
        assert!(e.0.contains("ruleType"), "{e}");
        // An unknown rule is skipped in a set, refused alone.
        let unknown = json!({"id": "Something_New", "ruleType": "RoleManagementPolicyRule"});
        assert!(rule_from_wire(&unknown).is_err());
        assert!(rule_set_from_wire(&[unknown]).unwrap().rules.is_empty());
        // A value of the wrong type for the id has no wire form.
        assert!(
            rule_to_wire(
                RuleId::ExpirationAdminEligibility,
                &RuleValue::Enablement { factors: vec![] }
            )
            .is_none()
        );
    }

    #[test]
    fn request_bodies_use_arms_casing_and_envelope() {
        let fx = fixture("create_roleEligibilityScheduleRequest_adminAssign.json");
        let sent = &fx["request"]["body"]["properties"];
        let mut r = ArmRequest::new(
            AssignmentKind::Eligible,
            "/subscriptions/s",
            RequestAction::AdminAssign,
            ObjectId::new(sent["principalId"].as_str().unwrap()),
            sent["roleDefinitionId"].as_str().unwrap(),
        );
        r.schedule = Some(Schedule {
            start: parse_time(sent["scheduleInfo"]["startDateTime"].as_str().unwrap()),
            expiration: Expiration::After("P365D".parse().unwrap()),
        });
        r.condition = sent["condition"].as_str().map(str::to_string);
        r.condition_version = Some("1.0".into());
        let body = request_to_wire(&r, Utc::now());
        let p = &body["properties"];
        assert_eq!(p["requestType"], "AdminAssign");
        assert_eq!(p["principalId"], sent["principalId"]);
        assert_eq!(p["roleDefinitionId"], sent["roleDefinitionId"]);
        assert_eq!(p["scheduleInfo"]["expiration"]["type"], "AfterDuration");
        assert_eq!(p["scheduleInfo"]["expiration"]["duration"], "P365D");
        assert_eq!(p["condition"], sent["condition"]);
        assert!(
            p.get("scope").is_none() && p.get("status").is_none(),
            "read-only ones stay out"
        );
        let answer: Resource<RequestProperties> =
            serde_json::from_value(fx["response"]["body"].clone()).unwrap();
        let out = request_from_wire(AssignmentKind::Eligible, answer).unwrap();
        assert_eq!(out.status, "Provisioned");
        assert_eq!(out.action, Some(RequestAction::AdminAssign));
        assert!(out.target_schedule_id.is_some());
        assert_eq!(
            out.schedule.unwrap().expiration,
            Expiration::After("P365D".parse().unwrap())
        );
    }

    #[test]
    fn schedules_listed_below_their_scope_are_inherited() {
        let fx = fixture("list_roleEligibilitySchedules_assignedTo.json");
        let item: Resource<ScheduleProperties> =
            serde_json::from_value(fx["response"]["body"]["value"][0].clone()).unwrap();
        let scope = item.properties.scope.clone().unwrap();
        let at_home =
            schedule_from_wire(AssignmentKind::Eligible, item.clone(), Some(&scope)).unwrap();
        assert!(!at_home.inherited);
        let below = format!("{scope}/resourceGroups/rg");
        let seen_below = schedule_from_wire(AssignmentKind::Eligible, item, Some(&below)).unwrap();
        assert!(seen_below.inherited);
        assert_eq!(seen_below.scope, at_home.scope);
    }
}
