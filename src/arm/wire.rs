//! ARM's JSON as `Microsoft.Authorization` 2020-10-01 writes it: the
//! `{id, name, type, properties}` envelope, lists as `{value, nextLink}`,
//! CloudError. Read leniently (every field optional, unknown ones
//! ignored: enums are `modelAsString`, new values may appear); written in
//! camelCase. Nothing here leaves `crate::arm`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One page of a list.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(default)]
    pub next_link: Option<String>,
}

/// An ARM resource.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Resource<P> {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub properties: P,
}

/// `CloudError` (arm-pim.md §9.2); real ARM may add `target`, `details`,
/// `additionalInfo`: read as far as they go, never required.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CloudError {
    #[serde(default)]
    pub error: CloudErrorBody,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CloudErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: Vec<CloudErrorBody>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Expiration {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TicketInfo {
    #[serde(default)]
    pub ticket_number: Option<String>,
    #[serde(default)]
    pub ticket_system: Option<String>,
}

/// Properties of a schedule or an instance, of either kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleProperties {
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub role_definition_id: Option<String>,
    #[serde(default)]
    pub principal_id: Option<String>,
    #[serde(default)]
    pub principal_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
    #[serde(default)]
    pub member_type: Option<String>,
    #[serde(default)]
    pub assignment_type: Option<String>,
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub condition_version: Option<String>,
    #[serde(default)]
    pub linked_role_eligibility_schedule_id: Option<String>,
    /// Schedules: the request that made them.
    #[serde(default)]
    pub role_eligibility_schedule_request_id: Option<String>,
    #[serde(default)]
    pub role_assignment_schedule_request_id: Option<String>,
    /// Instances: the schedule they come from (`roleEligibilityScheduleId`
    /// or `roleAssignmentScheduleId`).
    #[serde(default)]
    pub role_eligibility_schedule_id: Option<String>,
    #[serde(default)]
    pub role_assignment_schedule_id: Option<String>,
}

/// Properties of a schedule request, as sent and as answered.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestProperties {
    /// Read-only: the request's scope.
    #[serde(default, skip_serializing)]
    pub scope: Option<String>,
    #[serde(default)]
    pub principal_id: Option<String>,
    #[serde(default)]
    pub role_definition_id: Option<String>,
    #[serde(default)]
    pub request_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_info: Option<ScheduleInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_info: Option<TicketInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_role_eligibility_schedule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_role_eligibility_schedule_instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_role_assignment_schedule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_role_assignment_schedule_instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_role_eligibility_schedule_id: Option<String>,
    // Read-only below.
    #[serde(default, skip_serializing)]
    pub principal_type: Option<String>,
    #[serde(default, skip_serializing)]
    pub status: Option<String>,
    #[serde(default, skip_serializing)]
    pub approval_id: Option<String>,
    #[serde(default, skip_serializing)]
    pub created_on: Option<String>,
}

/// Properties of a role management policy. Rules stay JSON here and are
/// read by `convert`, one `ruleType` at a time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolicyProperties {
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub last_modified_date_time: Option<String>,
    #[serde(default)]
    pub rules: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolicyAssignmentProperties {
    #[serde(default)]
    pub role_definition_id: Option<String>,
    #[serde(default)]
    pub policy_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoleDefinitionProperties {
    #[serde(default)]
    pub role_name: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub assignable_scopes: Option<Vec<String>>,
}

/// An approval (2021-01-01-preview): its stages inline, under `stages`
/// (or `steps`, as one spec revision names them).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApprovalProperties {
    #[serde(default, alias = "steps")]
    pub stages: Vec<Resource<StageProperties>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageProperties {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub assigned_to_me: Option<bool>,
    #[serde(default)]
    pub review_result: Option<String>,
}
