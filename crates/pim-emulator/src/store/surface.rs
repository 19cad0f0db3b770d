//! The PIM surfaces the emulator serves and how each names a grant's target
//! on the wire: a directory role (`roleDefinitionId`) at a directory scope
//! (`directoryScopeId`), or a group's `member`/`owner` access (`accessId`)
//! in a group (`groupId`). Everything else about a grant is shared.

use std::borrow::Cow;

use super::Kind;

/// Entra directory roles (`roleManagement/directory`) or PIM for Groups
/// (`identityGovernance/privilegedAccess/group`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Surface {
    DirectoryRole,
    Group,
}

impl Surface {
    /// The path of the surface's collections under `/v1.0/`.
    pub fn path(self) -> &'static str {
        match self {
            Surface::DirectoryRole => "roleManagement/directory",
            Surface::Group => "identityGovernance/privilegedAccess/group",
        }
    }

    /// The property naming what is granted.
    pub fn role_key(self) -> &'static str {
        match self {
            Surface::DirectoryRole => "roleDefinitionId",
            Surface::Group => "accessId",
        }
    }

    /// The property naming where it is granted.
    pub fn scope_key(self) -> &'static str {
        match self {
            Surface::DirectoryRole => "directoryScopeId",
            Surface::Group => "groupId",
        }
    }

    /// The property by which an instance names its schedule.
    pub fn schedule_ref_key(self, kind: Kind) -> &'static str {
        match (self, kind) {
            (Surface::DirectoryRole, Kind::Assignment) => "roleAssignmentScheduleId",
            (Surface::DirectoryRole, Kind::Eligibility) => "roleEligibilityScheduleId",
            (Surface::Group, Kind::Assignment) => "assignmentScheduleId",
            (Surface::Group, Kind::Eligibility) => "eligibilityScheduleId",
        }
    }

    /// The id of the schedule a request makes. Directory roles give it the
    /// request's id; groups `<groupId>_<accessId>_<requestId>`, as the
    /// create examples show (other group examples show bare GUIDs: the id
    /// is opaque to clients either way).
    pub fn schedule_id(self, role: &str, scope: &str, request_id: &str) -> String {
        match self {
            Surface::DirectoryRole => request_id.to_string(),
            Surface::Group => format!("{scope}_{role}_{request_id}"),
        }
    }

    /// The `approvalId` of a request that waits for approval. Groups use the
    /// request's own id (the approvals API takes it, and the list example
    /// shows `approvalId == id`); directory roles have no approvals API and
    /// show another GUID.
    pub fn approval_id(self, request_id: &str) -> String {
        match self {
            Surface::DirectoryRole => uuid::Uuid::new_v4().to_string(),
            Surface::Group => request_id.to_string(),
        }
    }

    /// An enum member as the surface writes it: directory roles in the
    /// PascalCase Graph returns for them (`Assigned`, `Direct`), groups in
    /// the CSDL's camelCase (`assigned`, `direct`), which the group docs'
    /// examples mix with PascalCase.
    pub fn enum_value(self, stored: &str) -> Cow<'_, str> {
        match self {
            Surface::DirectoryRole => Cow::Borrowed(stored),
            Surface::Group => {
                let mut chars = stored.chars();
                Cow::Owned(match chars.next() {
                    Some(first) => first.to_lowercase().chain(chars).collect(),
                    None => String::new(),
                })
            }
        }
    }
}

/// An enum member read case-insensitively, stored in PascalCase (how the
/// schedules hold `assignmentType` and `memberType` for every surface).
pub(crate) fn pascal(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_write_enums_in_camel_case_and_name_schedules_by_group_and_access() {
        assert_eq!(Surface::Group.enum_value("Assigned"), "assigned");
        assert_eq!(Surface::DirectoryRole.enum_value("Assigned"), "Assigned");
        assert_eq!(pascal("direct"), "Direct");
        assert_eq!(
            Surface::Group.schedule_id("member", "g1", "r1"),
            "g1_member_r1"
        );
        assert_eq!(Surface::DirectoryRole.schedule_id("x", "/", "r1"), "r1");
        assert_eq!(Surface::Group.approval_id("r1"), "r1");
    }
}
