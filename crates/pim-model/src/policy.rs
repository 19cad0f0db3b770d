//! Policy rules (role settings): the 17 fixed rules of a directory role's
//! PIM policy, and the settings a `policy` block may override.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Caseless, IsoDuration, ObjectId, PrincipalRef};

/// The fixed rule ids of a directory-role policy. The id determines the
/// rule's type and target, so a rule is never addressed any other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RuleId {
    #[serde(rename = "Expiration_EndUser_Assignment")]
    ExpirationEndUserAssignment,
    #[serde(rename = "Enablement_EndUser_Assignment")]
    EnablementEndUserAssignment,
    #[serde(rename = "AuthenticationContext_EndUser_Assignment")]
    AuthenticationContextEndUserAssignment,
    #[serde(rename = "Approval_EndUser_Assignment")]
    ApprovalEndUserAssignment,
    #[serde(rename = "Expiration_Admin_Eligibility")]
    ExpirationAdminEligibility,
    #[serde(rename = "Expiration_Admin_Assignment")]
    ExpirationAdminAssignment,
    #[serde(rename = "Enablement_Admin_Assignment")]
    EnablementAdminAssignment,
    #[serde(rename = "Enablement_Admin_Eligibility")]
    EnablementAdminEligibility,
    #[serde(rename = "Notification_Admin_Admin_Eligibility")]
    NotificationAdminAdminEligibility,
    #[serde(rename = "Notification_Requestor_Admin_Eligibility")]
    NotificationRequestorAdminEligibility,
    #[serde(rename = "Notification_Approver_Admin_Eligibility")]
    NotificationApproverAdminEligibility,
    #[serde(rename = "Notification_Admin_Admin_Assignment")]
    NotificationAdminAdminAssignment,
    #[serde(rename = "Notification_Requestor_Admin_Assignment")]
    NotificationRequestorAdminAssignment,
    #[serde(rename = "Notification_Approver_Admin_Assignment")]
    NotificationApproverAdminAssignment,
    #[serde(rename = "Notification_Admin_EndUser_Assignment")]
    NotificationAdminEndUserAssignment,
    #[serde(rename = "Notification_Requestor_EndUser_Assignment")]
    NotificationRequestorEndUserAssignment,
    #[serde(rename = "Notification_Approver_EndUser_Assignment")]
    NotificationApproverEndUserAssignment,
}

impl RuleId {
    pub const ALL: [RuleId; 17] = [
        RuleId::ExpirationEndUserAssignment,
        RuleId::EnablementEndUserAssignment,
        RuleId::AuthenticationContextEndUserAssignment,
        RuleId::ApprovalEndUserAssignment,
        RuleId::ExpirationAdminEligibility,
        RuleId::ExpirationAdminAssignment,
        RuleId::EnablementAdminAssignment,
        RuleId::EnablementAdminEligibility,
        RuleId::NotificationAdminAdminEligibility,
        RuleId::NotificationRequestorAdminEligibility,
        RuleId::NotificationApproverAdminEligibility,
        RuleId::NotificationAdminAdminAssignment,
        RuleId::NotificationRequestorAdminAssignment,
        RuleId::NotificationApproverAdminAssignment,
        RuleId::NotificationAdminEndUserAssignment,
        RuleId::NotificationRequestorEndUserAssignment,
        RuleId::NotificationApproverEndUserAssignment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::ExpirationEndUserAssignment => "Expiration_EndUser_Assignment",
            RuleId::EnablementEndUserAssignment => "Enablement_EndUser_Assignment",
            RuleId::AuthenticationContextEndUserAssignment => {
                "AuthenticationContext_EndUser_Assignment"
            }
            RuleId::ApprovalEndUserAssignment => "Approval_EndUser_Assignment",
            RuleId::ExpirationAdminEligibility => "Expiration_Admin_Eligibility",
            RuleId::ExpirationAdminAssignment => "Expiration_Admin_Assignment",
            RuleId::EnablementAdminAssignment => "Enablement_Admin_Assignment",
            RuleId::EnablementAdminEligibility => "Enablement_Admin_Eligibility",
            RuleId::NotificationAdminAdminEligibility => "Notification_Admin_Admin_Eligibility",
            RuleId::NotificationRequestorAdminEligibility => {
                "Notification_Requestor_Admin_Eligibility"
            }
            RuleId::NotificationApproverAdminEligibility => {
                "Notification_Approver_Admin_Eligibility"
            }
            RuleId::NotificationAdminAdminAssignment => "Notification_Admin_Admin_Assignment",
            RuleId::NotificationRequestorAdminAssignment => {
                "Notification_Requestor_Admin_Assignment"
            }
            RuleId::NotificationApproverAdminAssignment => "Notification_Approver_Admin_Assignment",
            RuleId::NotificationAdminEndUserAssignment => "Notification_Admin_EndUser_Assignment",
            RuleId::NotificationRequestorEndUserAssignment => {
                "Notification_Requestor_EndUser_Assignment"
            }
            RuleId::NotificationApproverEndUserAssignment => {
                "Notification_Approver_EndUser_Assignment"
            }
        }
    }

    pub fn parse(s: &str) -> Option<RuleId> {
        RuleId::ALL
            .into_iter()
            .find(|r| Caseless::same(r.as_str(), s))
    }

    /// The `@odata.type` Graph requires on this rule.
    pub fn odata_type(self) -> &'static str {
        let kind = self.as_str().split('_').next().unwrap_or_default();
        match kind {
            "Expiration" => "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
            "Enablement" => "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
            "Approval" => "#microsoft.graph.unifiedRoleManagementPolicyApprovalRule",
            "AuthenticationContext" => {
                "#microsoft.graph.unifiedRoleManagementPolicyAuthenticationContextRule"
            }
            _ => "#microsoft.graph.unifiedRoleManagementPolicyNotificationRule",
        }
    }

    /// `(caller, level)` of the rule's target, as Graph spells them.
    pub fn target(self) -> (&'static str, &'static str) {
        let parts: Vec<&str> = self.as_str().split('_').collect();
        let n = parts.len();
        let caller = if parts[n - 2] == "EndUser" {
            "EndUser"
        } else {
            "Admin"
        };
        let level = if parts[n - 1] == "Eligibility" {
            "Eligibility"
        } else {
            "Assignment"
        };
        (caller, level)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The default rules of a directory role that was never changed, as Graph
/// returns them (`GET …/rules`): the emulator's seed and the planner's
/// reference for "differs from Microsoft's defaults".
pub fn default_rules_json() -> &'static str {
    include_str!("default_policy_rules.json")
}

/// Microsoft's default rules of a PIM for Groups policy, member or owner
/// (the docs show only the owner policy's; the member policy's are assumed
/// the same: UNVERIFIED), in the same shape as [`default_rules_json`].
pub fn default_group_rules_json() -> &'static str {
    include_str!("default_group_policy_rules.json")
}

/// A best guess at the rules of an Azure role's policy nobody has changed,
/// in ARM's wire shape (`ruleType`, PascalCase). UNVERIFIED: no source
/// publishes ARM's defaults (see the file's `evidence`); pim reads the real
/// policy and uses this only where none was read.
pub fn default_azure_rules_json() -> &'static str {
    include_str!("default_azure_policy_rules.json")
}

/// Settings of the `activation` block: what a holder of an eligibility must
/// do to activate it. `None` leaves the tenant's value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationRules {
    pub max_duration: Option<IsoDuration>,
    pub require_mfa: Option<bool>,
    pub require_justification: Option<bool>,
    pub require_ticket: Option<bool>,
    /// Conditional Access authentication context id (`c1` …); `Some("")`
    /// turns the requirement off.
    pub authentication_context: Option<String>,
    pub approval: Option<Approval>,
}

/// Approval of activations. A declared `approval` block requires approval
/// unless it says `required = false`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub required: bool,
    pub approvers: Vec<PrincipalRef>,
    pub require_for_extension: Option<bool>,
}

/// The `eligibility` block: limits on eligible assignments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EligibilityRules {
    pub allow_permanent: Option<bool>,
    pub max_duration: Option<IsoDuration>,
}

/// The `active_assignment` block: limits on active assignments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentRules {
    pub allow_permanent: Option<bool>,
    pub max_duration: Option<IsoDuration>,
    pub require_mfa: Option<bool>,
    pub require_justification: Option<bool>,
}

/// Which e-mail a `notification` block configures. Each is one of the nine
/// notification rules of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationEvent {
    /// Admins are alerted when someone is made eligible.
    EligibilityAssigned,
    /// The principal is told they were made eligible.
    EligibilityAssignee,
    /// Approvers are asked to approve an eligibility renewal or extension.
    EligibilityApproval,
    /// Admins are alerted when someone is assigned the role actively.
    AssignmentAssigned,
    AssignmentAssignee,
    AssignmentApproval,
    /// Admins are alerted when someone activates the role.
    Activation,
    /// The principal is told their activation went through.
    ActivationRequestor,
    /// Approvers are asked to approve an activation.
    ActivationApproval,
}

impl NotificationEvent {
    pub const ALL: [NotificationEvent; 9] = [
        NotificationEvent::EligibilityAssigned,
        NotificationEvent::EligibilityAssignee,
        NotificationEvent::EligibilityApproval,
        NotificationEvent::AssignmentAssigned,
        NotificationEvent::AssignmentAssignee,
        NotificationEvent::AssignmentApproval,
        NotificationEvent::Activation,
        NotificationEvent::ActivationRequestor,
        NotificationEvent::ActivationApproval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationEvent::EligibilityAssigned => "eligibility_assigned",
            NotificationEvent::EligibilityAssignee => "eligibility_assignee",
            NotificationEvent::EligibilityApproval => "eligibility_approval",
            NotificationEvent::AssignmentAssigned => "assignment_assigned",
            NotificationEvent::AssignmentAssignee => "assignment_assignee",
            NotificationEvent::AssignmentApproval => "assignment_approval",
            NotificationEvent::Activation => "activation",
            NotificationEvent::ActivationRequestor => "activation_requestor",
            NotificationEvent::ActivationApproval => "activation_approval",
        }
    }

    pub fn parse(s: &str) -> Option<NotificationEvent> {
        NotificationEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }

    pub fn rule_id(self) -> RuleId {
        match self {
            NotificationEvent::EligibilityAssigned => RuleId::NotificationAdminAdminEligibility,
            NotificationEvent::EligibilityAssignee => RuleId::NotificationRequestorAdminEligibility,
            NotificationEvent::EligibilityApproval => RuleId::NotificationApproverAdminEligibility,
            NotificationEvent::AssignmentAssigned => RuleId::NotificationAdminAdminAssignment,
            NotificationEvent::AssignmentAssignee => RuleId::NotificationRequestorAdminAssignment,
            NotificationEvent::AssignmentApproval => RuleId::NotificationApproverAdminAssignment,
            NotificationEvent::Activation => RuleId::NotificationAdminEndUserAssignment,
            NotificationEvent::ActivationRequestor => {
                RuleId::NotificationRequestorEndUserAssignment
            }
            NotificationEvent::ActivationApproval => RuleId::NotificationApproverEndUserAssignment,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationLevel {
    All,
    Critical,
    None,
}

impl NotificationLevel {
    pub fn parse(s: &str) -> Option<NotificationLevel> {
        match Caseless::ascii(s).as_str() {
            "all" => Some(NotificationLevel::All),
            "critical" => Some(NotificationLevel::Critical),
            "none" => Some(NotificationLevel::None),
            _ => None,
        }
    }
}

/// One `notification` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRules {
    pub event: NotificationEvent,
    pub recipients: Option<Vec<String>>,
    pub default_recipients: Option<bool>,
    pub level: Option<NotificationLevel>,
}

/// Everything a `policy` block says about one role. Only what is `Some` (or
/// listed) is managed; the rest stays as the tenant has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRules {
    pub activation: ActivationRules,
    pub eligibility: EligibilityRules,
    pub active_assignment: AssignmentRules,
    pub notifications: Vec<NotificationRules>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_match_the_default_policy() {
        let v: serde_json::Value = serde_json::from_str(default_rules_json()).unwrap();
        let rules = v["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 17);
        for rule in rules {
            let id = RuleId::parse(rule["id"].as_str().unwrap()).unwrap();
            assert_eq!(rule["@odata.type"], id.odata_type(), "{id}");
            let (caller, level) = id.target();
            assert_eq!(rule["target"]["caller"], caller, "{id}");
            assert_eq!(rule["target"]["level"], level, "{id}");
        }
        for e in NotificationEvent::ALL {
            assert_eq!(NotificationEvent::parse(e.as_str()), Some(e));
            assert!(e.rule_id().as_str().starts_with("Notification_"));
        }
    }
}

/// Factors `Enablement_*` rules can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EnablementFactor {
    MultiFactorAuthentication,
    Justification,
    Ticketing,
}

impl EnablementFactor {
    pub fn as_str(self) -> &'static str {
        match self {
            EnablementFactor::MultiFactorAuthentication => "MultiFactorAuthentication",
            EnablementFactor::Justification => "Justification",
            EnablementFactor::Ticketing => "Ticketing",
        }
    }

    pub fn parse(s: &str) -> Option<EnablementFactor> {
        [
            EnablementFactor::MultiFactorAuthentication,
            EnablementFactor::Justification,
            EnablementFactor::Ticketing,
        ]
        .into_iter()
        .find(|f| Caseless::same(f.as_str(), s))
    }
}

/// An approver of activations, by object id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Approver {
    User {
        id: ObjectId,
        description: Option<String>,
    },
    Group {
        id: ObjectId,
        description: Option<String>,
    },
}

impl Approver {
    pub fn id(&self) -> &ObjectId {
        match self {
            Approver::User { id, .. } | Approver::Group { id, .. } => id,
        }
    }
}

/// One stage of an approval (`unifiedApprovalStage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalStage {
    pub timeout_days: u32,
    pub approver_justification_required: bool,
    pub escalation_enabled: bool,
    pub escalation_minutes: u32,
    pub primary_approvers: Vec<Approver>,
    pub escalation_approvers: Vec<Approver>,
}

/// The value of `Approval_EndUser_Assignment` (`approvalSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalSetting {
    pub required: bool,
    pub required_for_extension: bool,
    pub requestor_justification_required: bool,
    /// `SingleStage`, `Serial`, `Parallel` or `NoApproval`, as Graph spells it.
    pub mode: String,
    pub stages: Vec<ApprovalStage>,
}

/// The value of one policy rule as the tenant has it. The rule's type and
/// target follow from its id, so they are not stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuleValue {
    Expiration {
        required: bool,
        max: Option<IsoDuration>,
    },
    Enablement {
        factors: Vec<EnablementFactor>,
    },
    Approval(ApprovalSetting),
    AuthenticationContext {
        enabled: bool,
        claim: Option<String>,
    },
    Notification {
        level: NotificationLevel,
        default_recipients: bool,
        recipients: Vec<String>,
    },
}

/// All rules of one role's policy, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    pub rules: std::collections::BTreeMap<RuleId, RuleValue>,
}

impl RuleSet {
    pub fn get(&self, id: RuleId) -> Option<&RuleValue> {
        self.rules.get(&id)
    }

    /// `(isExpirationRequired, maximumDuration)` of an expiration rule.
    pub fn expiration(&self, id: RuleId) -> Option<(bool, Option<IsoDuration>)> {
        match self.rules.get(&id)? {
            RuleValue::Expiration { required, max } => Some((*required, *max)),
            _ => None,
        }
    }

    /// The factors an enablement rule requires (empty when absent).
    pub fn factors(&self, id: RuleId) -> &[EnablementFactor] {
        match self.rules.get(&id) {
            Some(RuleValue::Enablement { factors }) => factors,
            _ => &[],
        }
    }

    pub fn approval(&self) -> Option<&ApprovalSetting> {
        match self.rules.get(&RuleId::ApprovalEndUserAssignment)? {
            RuleValue::Approval(a) => Some(a),
            _ => None,
        }
    }
}
