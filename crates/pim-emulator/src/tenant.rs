//! The seed / data-file format: a tenant's directory objects, custom roles,
//! policy overrides, schedules and requests of directory roles and of PIM
//! for Groups as JSON (schema in `schemas/tenant.schema.json`), and the
//! optional `azure` section for Azure resource roles (ARM). Loading
//! resolves names and relative times.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::EmulatorError;
use pim_model::IsoDuration;

/// The tenant id used when no seed is given.
pub const DEFAULT_TENANT_ID: &str = "8f6d1e0a-6c2b-4d7e-9a51-3c0b2f4e7a10";

/// A whole tenant as the emulator loads and persists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    #[serde(default, rename = "$schema", skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Directory (tenant) GUID; also part of every policy id.
    pub tenant_id: String,
    /// Other names the token endpoint accepts for the tenant (`contoso.onmicrosoft.com`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<User>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_principals: Vec<ServicePrincipal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub administrative_units: Vec<AdministrativeUnitSeed>,
    /// App registrations allowed to get tokens. Empty: any client id and secret is accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<Application>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_roles: Vec<CustomRole>,
    /// Per-role changes to Microsoft's default policy rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicySeed>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eligibility_schedules: Vec<ScheduleSeed>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignment_schedules: Vec<ScheduleSeed>,
    /// Past schedule requests, as Graph returns them (wire JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eligibility_requests: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignment_requests: Vec<Value>,
    /// Per group and access, changes to the default rules of PIM for
    /// Groups; a group named here is onboarded to PIM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_policies: Vec<GroupPolicySeed>,
    /// Eligible group memberships and ownerships; a group named here is onboarded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_eligibility_schedules: Vec<GroupScheduleSeed>,
    /// Active group memberships and ownerships; a group named here is onboarded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_assignment_schedules: Vec<GroupScheduleSeed>,
    /// Past PIM for Groups requests, as Graph returns them (wire JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_eligibility_requests: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_assignment_requests: Vec<Value>,
    /// Fault injection to use when the emulator's own configuration asks for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<super::Faults>,
    /// Azure resource roles: the scope tree, custom Azure roles, schedules
    /// and policy overrides served under the ARM paths. Absent: ARM scopes
    /// are all unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureSeed>,
}

/// The ARM side of a tenant: management groups > subscriptions > resource
/// groups > resources, and what PIM holds on them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureSeed {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub management_groups: Vec<ManagementGroupSeed>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<SubscriptionSeed>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_groups: Vec<ResourceGroupSeed>,
    /// Resources by full id (`/subscriptions/…/resourceGroups/…/providers/…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceSeed>,
    /// Custom Azure role definitions; the built-in ones are always there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub role_definitions: Vec<AzureRoleSeed>,
    /// Per scope and role, changes to the default rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<AzurePolicySeed>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eligibility_schedules: Vec<AzureScheduleSeed>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignment_schedules: Vec<AzureScheduleSeed>,
    /// Past schedule requests as ARM returns them (`{properties, name}`);
    /// an `input` member keeps what the client sent, `review` the
    /// approver's decision of an approval-gated activation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eligibility_requests: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignment_requests: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagementGroupSeed {
    /// The group's name (the last segment of its id).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The parent management group's name; none: under the tenant root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionSeed {
    pub id: String,
    pub display_name: String,
    /// The management group it sits in; none: directly under the tenant root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_group: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceGroupSeed {
    /// Subscription id.
    pub subscription: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSeed {
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureRoleSeed {
    /// The role definition GUID.
    pub id: String,
    pub role_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Scopes where it can be granted (and below); `/` is everywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignable_scopes: Vec<String>,
}

/// Rules that differ from the defaults for one role at one scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzurePolicySeed {
    /// An ARM scope (`/subscriptions/…`).
    pub scope: String,
    /// Role definition GUID, full id or role name.
    pub role: String,
    /// The policy GUID; derived from scope and role when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Rules in ARM's shape; only the keys given replace the default rule's keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<String>,
    /// The policy assignment was deleted (`DELETE …/roleManagementPolicyAssignments/…`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub unassigned: bool,
}

/// One eligible or active Azure role grant. `principal` and times as in
/// [`ScheduleSeed`]; `role` a role definition GUID, full id or role name;
/// `scope` an ARM scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureScheduleSeed {
    /// The schedule's name (a GUID); made up when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The name of its instance while it is in force; made up when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    pub principal: String,
    pub role: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// With neither `end` nor `duration` the grant is permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Name of the request that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_using: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_on: Option<String>,
    /// `Assigned` (default) or `Activated`; active grants only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_type: Option<String>,
    /// Activations: the eligibility schedule's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_eligibility: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    pub id: String,
    pub display_name: String,
    pub user_principal_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub account_enabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub is_assignable_to_role: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// Object ids of members added outside PIM (the classic groups API);
    /// `/groups/{id}/members` lists them with the active PIM members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Object ids of owners added outside PIM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    /// `Unified` (Microsoft 365 group), `DynamicMembership`; empty for a
    /// security group. PIM for Groups refuses dynamic groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_types: Vec<String>,
    /// Synced from on-premises (PIM for Groups refuses it); `None` renders as Graph's `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises_sync_enabled: Option<bool>,
    /// Onboarded to PIM for Groups: its policies have their onboarded ids.
    /// Also true of a group that a group schedule or policy names.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pim_onboarded: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdministrativeUnitSeed {
    pub id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Application {
    pub app_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Accepted client secrets; empty accepts any secret (and any client assertion).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomRole {
    pub id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub is_enabled: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_resource_actions: Vec<String>,
}

/// Rules that differ from the defaults for one role (by id or display name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySeed {
    pub role: String,
    /// Full policy id (`DirectoryRole_<tenant>_<guid>`); derived from tenant and role when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Rules as Graph writes them; only the keys given replace the default rule's keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<String>,
}

/// One eligibility or active assignment schedule.
///
/// `principal` is an object id or `user:UPN`, `group:Display Name`, `sp:Name or appId`;
/// `role` a role definition id or display name; `scope` a directory scope id or
/// `/administrativeUnits/<display name>`. Times are RFC 3339 or relative to the
/// emulator's clock at load: `+P10D`, `-PT2H`, `now`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleSeed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub principal: String,
    pub role: String,
    #[serde(default = "root_scope")]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End time; with neither `end` nor `duration` the schedule is permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Id of the request that made it; `null` marks an assignment made outside PIM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_using: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_date_time: Option<String>,
    /// `Assigned` (default) or `Activated`; active assignments only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_type: Option<String>,
    /// `Direct` (default), `Group` or `Inherited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_type: Option<String>,
    /// Activations only: the eligibility schedule the activation was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_using: Option<String>,
}

/// Rules that differ from the defaults for one group's member or owner policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupPolicySeed {
    /// Group id or display name.
    pub group: String,
    /// `member` or `owner`.
    pub access: String,
    /// Full policy id (`Group_<groupId>_<guid>`); derived from tenant, group and access when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Rules as Graph writes them; only the keys given replace the default rule's keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<String>,
}

/// One eligible or active group membership or ownership: as
/// [`ScheduleSeed`], with `group` (id or display name) and `access`
/// (`member` or `owner`) in place of role and scope. Without
/// `createdUsing`, an active one is a membership made outside PIM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupScheduleSeed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub principal: String,
    pub group: String,
    pub access: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_using: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_date_time: Option<String>,
    /// `assigned` (default) or `activated`, in any case; active ones only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_type: Option<String>,
    /// `direct` (default) or `group`, in any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_using: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn root_scope() -> String {
    "/".to_string()
}

impl Tenant {
    /// An empty tenant: built-in roles with default policies, nothing else.
    pub fn empty() -> Self {
        Tenant {
            tenant_id: DEFAULT_TENANT_ID.to_string(),
            ..Tenant::default()
        }
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, EmulatorError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Tenant::from_json(&text).map_err(|source| EmulatorError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// A time in a seed: RFC 3339, `now`, or `+`/`-` an ISO 8601 duration from now.
pub(crate) fn resolve_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Some(rest) = t.strip_prefix('+') {
        let d: IsoDuration = rest.parse().map_err(|e| format!("{t:?}: {e}"))?;
        return d
            .add_to(now)
            .ok_or_else(|| format!("{t:?} is out of range"));
    }
    if let Some(rest) = t.strip_prefix('-') {
        let d: IsoDuration = rest.parse().map_err(|e| format!("{t:?}: {e}"))?;
        return chrono::TimeDelta::try_seconds(d.as_seconds())
            .and_then(|delta| now.checked_sub_signed(delta))
            .ok_or_else(|| format!("{t:?} is out of range"));
    }
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("{t:?} is not an RFC 3339 time or a relative time like +P10D: {e}"))
}
