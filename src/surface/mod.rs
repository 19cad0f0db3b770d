//! The seam between pim's stages and the kinds of privileged access PIM
//! governs. A surface owns what differs between them: how a target is
//! written in configuration and checked offline, how the tenant's grants,
//! policies and names are read, which calls change them, its default rules
//! and tier-0 roles, and the addresses of its blocks. The stages ask the
//! surface a grant names ([`get`]) and otherwise work on the neutral model.
//!
//! Adding a surface is a module implementing [`Surface`], a
//! [`SurfaceKind`] for it, and a line in [`get`]. The trait is shaped for
//! the two to come:
//! - PIM for Groups: the role is `member` or `owner` access, the scope a
//!   group; its schedules are listed per group
//!   (`/identityGovernance/privilegedAccess/group/…?$filter=groupId eq`),
//!   and each group has one policy per access, found through
//!   `roleManagementPolicyAssignments` and re-read after the first write
//!   onboards the group.
//! - Azure resource roles: the role is a role definition, the scope an
//!   Azure scope its children inherit (listed with `atScope()`, inherited
//!   grants skipped); requests are PUT by a client-chosen name to ARM, and
//!   a policy is PATCHed whole. Its calls go to an ARM client beside the
//!   Graph one in [`Clients`].

mod directory_role;

use std::collections::HashSet;

use async_trait::async_trait;

pub use directory_role::{DEFAULT_TIER0, DirectoryRoles};

use crate::graph::{Graph, GraphError, GraphWrite, RequestOutcome};
use crate::model::{
    Address, BlockKind, Caseless, ObjectId, RoleRef, RuleId, RuleSet, RuleValue, ScheduleRequest,
    Scope, SurfaceKind,
};
use crate::snapshot::{AdministrativeUnit, Current, Grant, Policy, RoleDefinition};

/// The services a surface reads the tenant through.
#[derive(Clone, Copy)]
pub struct Clients<'a> {
    pub graph: &'a dyn Graph,
}

/// The services a surface changes the tenant through: the write ports
/// apply drives (and reads back what a write made).
#[derive(Clone, Copy)]
pub struct Writers<'a> {
    pub graph: &'a dyn GraphWrite,
}

/// Why a target written in configuration is not one: said at the
/// attribute that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetProblem {
    pub message: String,
    pub hint: Option<String>,
}

/// What a surface holds in the tenant, read in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SurfaceRead {
    pub grants: Vec<Grant>,
    pub policies: Vec<Policy>,
    /// Role definitions: those known offline, then the tenant's.
    pub roles: Vec<RoleDefinition>,
}

/// One kind of privileged access PIM governs. See the module docs.
#[async_trait]
pub trait Surface: Send + Sync {
    fn kind(&self) -> SurfaceKind;

    /// The attribute of an `eligibility` or `assignment` block that names
    /// what is granted (`role` for directory roles).
    fn role_attribute(&self) -> &'static str;

    /// The attribute that names where, when it may be left out.
    fn scope_attribute(&self) -> &'static str;

    /// The role as configuration writes it, checked offline: `custom`
    /// holds the names of roles declared custom.
    fn parse_role(&self, text: &str, custom: &HashSet<Caseless>) -> Result<RoleRef, TargetProblem>;

    /// The scope as configuration writes it; `None` when it is left out.
    fn parse_scope(&self, text: Option<&str>) -> Result<Scope, TargetProblem>;

    /// How plans show a role: by its name in the tenant or offline, else
    /// by its id.
    fn role_name(&self, current: &Current, role_id: &str) -> String;

    /// How plans show a scope: by the names the tenant gives it.
    fn scope_name(&self, current: &Current, scope_id: &str) -> String;

    /// The address of a block named by a role: a `policy` or `role` block.
    fn role_block_address(&self, kind: BlockKind, role: &RoleRef) -> Address;

    /// The rules of a policy nobody has changed.
    fn default_rules(&self) -> RuleSet;

    /// The roles that can take over what the surface governs, by name:
    /// guarded unless the configuration names its own.
    fn default_tier0(&self) -> &'static [&'static str];

    /// The tenant's grants of both kinds, the policies of `policy_roles`
    /// (every role's when `None`) and the role definitions. Never one call
    /// per object.
    async fn read(
        &self,
        clients: Clients<'_>,
        policy_roles: Option<&[ObjectId]>,
    ) -> Result<SurfaceRead, GraphError>;

    /// The names of the scopes `grants` name, when they are not known
    /// offline (administrative units for directory roles).
    async fn scope_names(
        &self,
        clients: Clients<'_>,
        grants: &[Grant],
    ) -> Result<Vec<AdministrativeUnit>, GraphError>;

    /// Sends one schedule request, as it is.
    async fn submit(
        &self,
        to: Writers<'_>,
        request: &ScheduleRequest,
    ) -> Result<RequestOutcome, GraphError>;

    /// Replaces one rule of a policy.
    async fn update_rule(
        &self,
        to: Writers<'_>,
        policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<(), GraphError>;

    /// The id of the schedule that now holds what `request` names (granted
    /// to the principal itself, not activated), if any: how a re-run
    /// learns the id of what already exists.
    async fn find_schedule(
        &self,
        to: Writers<'_>,
        request: &ScheduleRequest,
    ) -> Result<Option<String>, GraphError>;
}

static DIRECTORY_ROLES: DirectoryRoles = DirectoryRoles;

/// The surface of `kind`.
pub fn get(kind: SurfaceKind) -> &'static dyn Surface {
    match kind {
        SurfaceKind::DirectoryRole => &DIRECTORY_ROLES,
    }
}

/// Every surface, in the order plans list them.
pub fn all() -> impl Iterator<Item = &'static dyn Surface> {
    SurfaceKind::ALL.iter().map(|k| get(*k))
}

/// The surface an `eligibility` or `assignment` block writes a target for:
/// the one whose role attribute it sets, directory roles when none.
pub fn for_block(has_attribute: impl Fn(&str) -> bool) -> &'static dyn Surface {
    all()
        .find(|s| has_attribute(s.role_attribute()))
        .unwrap_or_else(|| get(SurfaceKind::DirectoryRole))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_surface_is_registered_under_its_own_kind() {
        for kind in SurfaceKind::ALL {
            assert_eq!(get(*kind).kind(), *kind);
        }
        assert_eq!(all().count(), SurfaceKind::ALL.len());
    }

    #[test]
    fn a_block_belongs_to_the_surface_whose_role_attribute_it_sets() {
        assert_eq!(
            for_block(|a| a == "role").kind(),
            SurfaceKind::DirectoryRole
        );
        // A block with no target yet is reported as a directory role's,
        // whose `role` is required.
        assert_eq!(for_block(|_| false).kind(), SurfaceKind::DirectoryRole);
    }
}
