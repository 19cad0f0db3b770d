//! Graph's JSON, named as Graph names it. These types never leave `graph`:
//! `convert` turns them into `model` and `snapshot` types at the edge.
//! Reading is lenient (unknown keys ignored, absent keys defaulted) because
//! Graph adds properties over time; writing sends exactly what Graph expects.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One page of a collection.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// `expirationPattern`. `type` is compared without regard to case: the docs
/// send `NoExpiration`, the service answers `noExpiration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationPattern {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// `requestSchedule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub expiration: Option<ExpirationPattern>,
}

/// `ticketInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketInfo {
    #[serde(default)]
    pub ticket_number: Option<String>,
    #[serde(default)]
    pub ticket_system: Option<String>,
}

/// `unifiedRoleEligibilitySchedule`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnifiedRoleEligibilitySchedule {
    pub id: String,
    pub principal_id: String,
    pub role_definition_id: String,
    /// PIM for Groups: the group, and `member` or `owner` (`accessId`),
    /// in place of the role definition and directory scope.
    pub group_id: Option<String>,
    pub access_id: Option<String>,
    pub directory_scope_id: Option<String>,
    pub app_scope_id: Option<String>,
    pub created_using: Option<String>,
    pub created_date_time: Option<String>,
    pub modified_date_time: Option<String>,
    pub status: Option<String>,
    pub member_type: Option<String>,
    pub schedule_info: Option<RequestSchedule>,
}

/// `unifiedRoleAssignmentSchedule`: an eligibility schedule plus `assignmentType`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnifiedRoleAssignmentSchedule {
    pub id: String,
    pub principal_id: String,
    pub role_definition_id: String,
    /// PIM for Groups: the group, and `member` or `owner` (`accessId`),
    /// in place of the role definition and directory scope.
    pub group_id: Option<String>,
    pub access_id: Option<String>,
    pub directory_scope_id: Option<String>,
    pub app_scope_id: Option<String>,
    pub created_using: Option<String>,
    pub created_date_time: Option<String>,
    pub modified_date_time: Option<String>,
    pub status: Option<String>,
    pub assignment_type: Option<String>,
    pub member_type: Option<String>,
    pub schedule_info: Option<RequestSchedule>,
}

/// `unifiedRoleAssignmentScheduleInstance` and
/// `unifiedRoleEligibilityScheduleInstance` (what is in effect now), read
/// into one type: the assignment-only keys are absent on eligibility ones.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnifiedRoleScheduleInstance {
    pub id: String,
    pub principal_id: String,
    pub role_definition_id: String,
    pub directory_scope_id: Option<String>,
    pub app_scope_id: Option<String>,
    pub start_date_time: Option<String>,
    pub end_date_time: Option<String>,
    pub assignment_type: Option<String>,
    pub member_type: Option<String>,
    pub role_assignment_schedule_id: Option<String>,
    pub role_eligibility_schedule_id: Option<String>,
    /// PIM for Groups: the group, the access, and the schedule.
    pub group_id: Option<String>,
    pub access_id: Option<String>,
    pub assignment_schedule_id: Option<String>,
    pub eligibility_schedule_id: Option<String>,
}

/// `identitySet` (`createdBy` of a request): who made it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IdentitySet {
    pub user: Option<Identity>,
    pub application: Option<Identity>,
}

/// `identity`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Identity {
    pub id: Option<String>,
    pub display_name: Option<String>,
}

/// The body of a new `unifiedRoleAssignmentScheduleRequest` or
/// `unifiedRoleEligibilityScheduleRequest` (the two have the same writable
/// properties).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewScheduleRequest {
    pub action: String,
    pub principal_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_definition_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_scope_id: Option<String>,
    /// PIM for Groups, in place of the two above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_info: Option<RequestSchedule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_info: Option<TicketInfo>,
}

/// `unifiedRoleAssignmentScheduleRequest` as Graph returns it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnifiedRoleAssignmentScheduleRequest {
    pub id: String,
    pub status: String,
    pub action: Option<String>,
    pub principal_id: String,
    pub role_definition_id: String,
    /// PIM for Groups: the group, and `member` or `owner` (`accessId`),
    /// in place of the role definition and directory scope.
    pub group_id: Option<String>,
    pub access_id: Option<String>,
    pub directory_scope_id: Option<String>,
    pub app_scope_id: Option<String>,
    pub justification: Option<String>,
    pub target_schedule_id: Option<String>,
    pub created_date_time: Option<String>,
    pub completed_date_time: Option<String>,
    pub approval_id: Option<String>,
    pub is_validation_only: Option<bool>,
    pub schedule_info: Option<RequestSchedule>,
    pub ticket_info: Option<TicketInfo>,
    pub created_by: Option<IdentitySet>,
}

/// `unifiedRoleEligibilityScheduleRequest`: the same shape on the wire.
pub type UnifiedRoleEligibilityScheduleRequest = UnifiedRoleAssignmentScheduleRequest;

/// `unifiedRoleManagementPolicyRuleTarget`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedRoleManagementPolicyRuleTarget {
    pub caller: String,
    pub operations: Vec<String>,
    pub level: String,
    #[serde(default)]
    pub inheritable_settings: Vec<String>,
    #[serde(default)]
    pub enforced_settings: Vec<String>,
}

/// `unifiedRoleManagementPolicyRule`: the five concrete types, told apart by
/// `@odata.type`, which Graph requires on PATCH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@odata.type")]
pub enum UnifiedRoleManagementPolicyRule {
    #[serde(
        rename = "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
        rename_all = "camelCase"
    )]
    Expiration {
        id: String,
        #[serde(default)]
        is_expiration_required: bool,
        #[serde(default)]
        maximum_duration: Option<String>,
        target: UnifiedRoleManagementPolicyRuleTarget,
    },
    #[serde(
        rename = "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
        rename_all = "camelCase"
    )]
    Enablement {
        id: String,
        #[serde(default)]
        enabled_rules: Vec<String>,
        target: UnifiedRoleManagementPolicyRuleTarget,
    },
    #[serde(
        rename = "#microsoft.graph.unifiedRoleManagementPolicyApprovalRule",
        rename_all = "camelCase"
    )]
    Approval {
        id: String,
        setting: ApprovalSettings,
        target: UnifiedRoleManagementPolicyRuleTarget,
    },
    #[serde(
        rename = "#microsoft.graph.unifiedRoleManagementPolicyAuthenticationContextRule",
        rename_all = "camelCase"
    )]
    AuthenticationContext {
        id: String,
        #[serde(default)]
        is_enabled: bool,
        #[serde(default)]
        claim_value: Option<String>,
        target: UnifiedRoleManagementPolicyRuleTarget,
    },
    #[serde(
        rename = "#microsoft.graph.unifiedRoleManagementPolicyNotificationRule",
        rename_all = "camelCase"
    )]
    Notification {
        id: String,
        #[serde(default = "email")]
        notification_type: String,
        recipient_type: String,
        notification_level: String,
        #[serde(default)]
        is_default_recipients_enabled: bool,
        #[serde(default)]
        notification_recipients: Vec<String>,
        target: UnifiedRoleManagementPolicyRuleTarget,
    },
}

fn email() -> String {
    "Email".to_string()
}

impl UnifiedRoleManagementPolicyRule {
    pub fn id(&self) -> &str {
        match self {
            UnifiedRoleManagementPolicyRule::Expiration { id, .. }
            | UnifiedRoleManagementPolicyRule::Enablement { id, .. }
            | UnifiedRoleManagementPolicyRule::Approval { id, .. }
            | UnifiedRoleManagementPolicyRule::AuthenticationContext { id, .. }
            | UnifiedRoleManagementPolicyRule::Notification { id, .. } => id,
        }
    }
}

/// `approvalSettings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalSettings {
    #[serde(default)]
    pub is_approval_required: bool,
    #[serde(default)]
    pub is_approval_required_for_extension: bool,
    #[serde(default)]
    pub is_requestor_justification_required: bool,
    #[serde(default)]
    pub approval_mode: String,
    #[serde(default)]
    pub approval_stages: Vec<UnifiedApprovalStage>,
}

/// `unifiedApprovalStage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedApprovalStage {
    #[serde(default)]
    pub approval_stage_time_out_in_days: u32,
    #[serde(default)]
    pub is_approver_justification_required: bool,
    #[serde(default)]
    pub escalation_time_in_minutes: u32,
    #[serde(default)]
    pub is_escalation_enabled: bool,
    #[serde(default)]
    pub primary_approvers: Vec<SubjectSet>,
    #[serde(default)]
    pub escalation_approvers: Vec<SubjectSet>,
}

/// An approver (`subjectSet`): PIM uses single users and group members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@odata.type")]
pub enum SubjectSet {
    #[serde(rename = "#microsoft.graph.singleUser", rename_all = "camelCase")]
    SingleUser {
        // The beta shape says `id`; v1.0 says `userId`. Read both.
        #[serde(alias = "id")]
        user_id: String,
        #[serde(default)]
        description: Option<String>,
    },
    #[serde(rename = "#microsoft.graph.groupMembers", rename_all = "camelCase")]
    GroupMembers {
        #[serde(alias = "id")]
        group_id: String,
        #[serde(default)]
        description: Option<String>,
    },
}

/// `unifiedRoleManagementPolicy` (rules only with `$expand=rules`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnifiedRoleManagementPolicy {
    pub id: String,
    pub scope_id: String,
    pub scope_type: String,
    /// Kept raw so one unknown rule cannot hide the others.
    pub rules: Vec<Value>,
}

/// `unifiedRoleManagementPolicyAssignment` (policy only with `$expand=policy`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnifiedRoleManagementPolicyAssignment {
    pub id: String,
    pub policy_id: String,
    pub scope_id: String,
    pub scope_type: String,
    pub role_definition_id: String,
    pub policy: Option<UnifiedRoleManagementPolicy>,
}

/// `unifiedRoleDefinition` (the parts pim reads).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnifiedRoleDefinition {
    pub id: String,
    pub display_name: String,
    pub is_built_in: bool,
    pub is_enabled: Option<bool>,
    pub template_id: Option<String>,
}

/// `user`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserObject {
    pub id: String,
    pub display_name: Option<String>,
    pub user_principal_name: Option<String>,
}

/// `group`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupObject {
    pub id: String,
    pub display_name: Option<String>,
    pub is_assignable_to_role: Option<bool>,
}

/// `servicePrincipal`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServicePrincipalObject {
    pub id: String,
    pub display_name: Option<String>,
    pub app_id: Option<String>,
}

/// `administrativeUnit`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AdministrativeUnitObject {
    pub id: String,
    pub display_name: Option<String>,
}

/// A polymorphic `directoryObject` as `getByIds` returns it, read flat: the
/// type is one field beside the others, since an internally tagged enum
/// buffers every object before reading it, and a large tenant's holders
/// are tens of thousands of them. Fields of another type are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DirectoryObject {
    /// `#microsoft.graph.user`, `…group`, `…servicePrincipal`, ….
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
    pub id: String,
    pub display_name: Option<String>,
    /// Users.
    pub user_principal_name: Option<String>,
    /// Service principals.
    pub app_id: Option<String>,
    /// Groups.
    pub is_assignable_to_role: Option<bool>,
}

/// The body of `POST /directoryObjects/getByIds`.
#[derive(Debug, Clone, Serialize)]
pub struct GetByIds<'a> {
    pub ids: &'a [crate::model::ObjectId],
    pub types: &'a [&'a str],
}

/// One request of a `$batch`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequestItem {
    pub id: String,
    pub method: String,
    /// Relative to the version root: `/users/alice@contoso.com`.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchRequest {
    pub requests: Vec<BatchRequestItem>,
}

/// One answer of a `$batch`, in any order.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchResponseItem {
    pub id: String,
    pub status: u16,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, Value>,
    #[serde(default)]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BatchResponse {
    #[serde(default)]
    pub responses: Vec<BatchResponseItem>,
}

/// Graph's error envelope: `{"error": {code, message, innerError}}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ODataError {
    #[serde(default)]
    pub error: ODataErrorBody,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ODataErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub inner_error: Option<InnerError>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InnerError {
    #[serde(rename = "request-id", default)]
    pub request_id: Option<String>,
    #[serde(rename = "client-request-id", default)]
    pub client_request_id: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
}
