//! The PIM surfaces: the kinds of privileged access PIM governs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One kind of privileged access PIM governs. Every grant, request, policy
/// and state entry names the surface it belongs to; what differs between
/// surfaces (how a target is written and resolved, its endpoints, rules and
/// defaults, its addresses) is behind pim's `surface::Surface` trait.
///
/// The rest of the model names a target the way Graph's policy assignments
/// name it on every surface: a `role` (what is granted: a role definition;
/// for groups, `member` or `owner` access) at a `scope` (where: the
/// directory or an administrative unit; a group; an Azure scope).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SurfaceKind {
    /// Entra directory roles (`/roleManagement/directory`).
    #[default]
    DirectoryRole,
    /// PIM for Groups: `member` or `owner` access to a group
    /// (`/identityGovernance/privilegedAccess/group`).
    Group,
    /// Azure resource roles: an Azure role definition at a management
    /// group, subscription, resource group or resource, through ARM's
    /// `Microsoft.Authorization` provider.
    AzureRole,
}

impl SurfaceKind {
    /// Every surface, in the order plans list them.
    pub const ALL: &'static [SurfaceKind] = &[
        SurfaceKind::DirectoryRole,
        SurfaceKind::Group,
        SurfaceKind::AzureRole,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SurfaceKind::DirectoryRole => "directory_role",
            SurfaceKind::Group => "group",
            SurfaceKind::AzureRole => "azure_role",
        }
    }

    /// Directory roles were pim's only surface before surfaces were named,
    /// so files written then carry no surface: it is left out for them, and
    /// their state, plans and snapshots read and write as they always did.
    pub fn is_directory_role(&self) -> bool {
        *self == SurfaceKind::DirectoryRole
    }
}

impl fmt::Display for SurfaceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SurfaceKind::DirectoryRole => "directory role",
            SurfaceKind::Group => "group",
            SurfaceKind::AzureRole => "Azure role",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_surface_round_trips_through_its_name() {
        for s in SurfaceKind::ALL {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<SurfaceKind>(&json).unwrap(), *s);
        }
        assert_eq!(SurfaceKind::default(), SurfaceKind::DirectoryRole);
    }
}
