//! The seam between pim's stages and the kinds of privileged access PIM
//! governs. A surface owns what differs between them: how a target is
//! written in configuration and checked offline, how the tenant's grants,
//! policies and names are read, which calls change them, its default rules
//! and tier-0 roles, and the addresses of its blocks. The stages ask the
//! surface a grant names ([`get`]) and otherwise work on the neutral model.
//!
//! Adding a surface is a module implementing [`Surface`], a
//! [`SurfaceKind`] for it, and a line in [`get`]. Three are built:
//! - directory roles (`directory_role`): a role definition at `/` or an
//!   administrative unit, everything read in whole collections;
//! - PIM for Groups (`group`): the role is `member` or `owner` access, the
//!   scope a group; schedules are listed per group, and each group has one
//!   policy per access;
//! - Azure resource roles (`azure_role`): a role definition at an ARM scope
//!   its children inherit (listed with `atScope()`, inherited grants shown
//!   and never managed there); requests are PUT by a client-chosen name to
//!   ARM, and a policy, one per role and scope, is PATCHed. Its calls go to
//!   the ARM client beside the Graph one ([`Clients::arm`]).

mod azure_role;
mod directory_role;
mod group;

use std::collections::HashSet;

use async_trait::async_trait;

pub use azure_role::{
    AZURE_TIER0, AzureRoles, azure_role_name, role_definition_id, scope_id as azure_scope_id,
    subscription_named,
};
pub(crate) use azure_role::{
    active_type as azure_active_type, arm_request as azure_request, outcome as azure_outcome,
};
pub use directory_role::{DEFAULT_TIER0, DirectoryRoles};
pub use group::{GROUP_ACCESS, Groups};

use crate::arm::Arm;
use crate::graph::{Graph, GraphError, GraphWrite, RequestOutcome, SeenGrants};
use crate::model::{
    Address, BlockKind, Caseless, ObjectId, RoleRef, RuleId, RuleSet, RuleValue, ScheduleRequest,
    Scope, SurfaceKind,
};
use crate::snapshot::{AdministrativeUnit, Current, Grant, Policy, PolicyKey, RoleDefinition};

/// The services a surface reads the tenant through.
#[derive(Clone, Copy)]
pub struct Clients<'a> {
    pub graph: &'a dyn Graph,
    /// Azure Resource Manager, when pim has a client for it.
    pub arm: Option<&'a dyn Arm>,
    /// Shown grants as they are read, before the read is over
    /// ([`Graph::grants_seen`]): the snapshot names their holders meanwhile.
    pub seen: SeenGrants<'a>,
}

/// The services a surface changes the tenant through: the write ports
/// apply drives (and reads back what a write made).
#[derive(Clone, Copy)]
pub struct Writers<'a> {
    pub graph: &'a dyn GraphWrite,
    pub arm: Option<&'a dyn Arm>,
}

/// Why a target written in configuration is not one: said at the
/// attribute that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetProblem {
    pub message: String,
    pub hint: Option<String>,
}

/// What of a surface the configuration governs, so that the read is only
/// of that: `None` reads everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Interest<'a> {
    /// Roles whose policies are needed (directory roles).
    pub policy_roles: Option<&'a [ObjectId]>,
    /// Scopes to read (groups: their object ids; Azure roles: ARM scopes).
    pub scopes: Option<&'a [ObjectId]>,
    /// Roles at scopes whose policies to read, for a surface that reads
    /// them one by one (Azure roles).
    pub targets: &'a [PolicyKey],
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
    /// what is granted (`role` for directory roles, `access` for groups).
    fn role_attribute(&self) -> &'static str;

    /// The attribute that names where (`scope`; `group` for groups).
    fn scope_attribute(&self) -> &'static str;

    /// The attribute whose presence makes a block this surface's.
    fn marker_attribute(&self) -> &'static str {
        self.role_attribute()
    }

    /// The role a block may leave out (groups: `member`); `None` when the
    /// role attribute is required.
    fn default_role(&self) -> Option<&'static str> {
        None
    }

    /// How the label of this surface's `policy` and `role` blocks begins
    /// (`group:`); `None` for the surface whose labels are role names.
    fn label_prefix(&self) -> Option<&'static str> {
        None
    }

    /// The attribute of a `policy` or `role` block that completes what its
    /// label names (`access` of a group, `scope` of an Azure role); `None`
    /// when the label says it all.
    fn label_attribute(&self) -> Option<&'static str> {
        None
    }

    /// The role and scope a `policy` or `role` block's label names, with
    /// the value of the block's [`Surface::label_attribute`], if set.
    fn parse_label(
        &self,
        label: &str,
        attribute: Option<&str>,
        custom: &HashSet<Caseless>,
    ) -> Result<(RoleRef, Scope), TargetProblem>;

    /// The object a scope id names, when it is a directory object that
    /// plans show by its name (a group), read with the principals.
    fn scope_object(&self, _scope_id: &str) -> Option<ObjectId> {
        None
    }

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

    /// How plans show what a policy governs: the role (a directory role's
    /// policy is the same at every scope).
    fn policy_name(&self, current: &Current, role_id: &str, _scope_id: &str) -> String {
        self.role_name(current, role_id)
    }

    /// The scope of the policy that governs a grant at `scope_id`.
    fn policy_scope<'s>(&self, _scope_id: &'s str) -> &'s str {
        "/"
    }

    /// The address of a block named by a role: a `policy` or `role` block.
    fn role_block_address(&self, kind: BlockKind, role: &RoleRef, scope: &Scope) -> Address;

    /// The rules of a policy nobody has changed.
    fn default_rules(&self) -> RuleSet;

    /// The roles that can take over what the surface governs, by name:
    /// guarded unless the configuration names its own.
    fn default_tier0(&self) -> &'static [&'static str];

    /// The tenant's grants of both kinds and the policies the `interest`
    /// names (all when `None`), and the role definitions. Never one call
    /// per object.
    async fn read(
        &self,
        clients: Clients<'_>,
        interest: Interest<'_>,
    ) -> Result<SurfaceRead, GraphError>;

    /// The names of the scopes `grants` name, when they are not known
    /// offline (administrative units for directory roles); none by default
    /// (a group is named with the principals, see `scope_object`).
    async fn scope_names(
        &self,
        _clients: Clients<'_>,
        _grants: &[Grant],
    ) -> Result<Vec<AdministrativeUnit>, GraphError> {
        Ok(Vec::new())
    }

    /// Sends one schedule request, as it is: to Graph, whose client writes
    /// it to the collection of the request's surface.
    async fn submit(
        &self,
        to: Writers<'_>,
        request: &ScheduleRequest,
    ) -> Result<RequestOutcome, GraphError> {
        to.graph.create_request(request).await
    }

    /// Replaces one rule of the policy `policy_id`, which governs `key`
    /// (the id read at plan time: a surface whose ids change finds it
    /// again). Returns the id of the policy it patched.
    async fn update_rule(
        &self,
        to: Writers<'_>,
        key: &PolicyKey,
        policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<String, GraphError>;

    /// The id of the schedule that now holds what `request` names (granted
    /// to the principal itself, not activated), if any: how a re-run
    /// learns the id of what already exists.
    async fn find_schedule(
        &self,
        to: Writers<'_>,
        request: &ScheduleRequest,
    ) -> Result<Option<String>, GraphError>;
}

/// The schedule a surface's grant is held under: only a direct grant
/// counts, and no activation (those are not what a request made). A tuple
/// has one schedule in effect and may still list ended ones beside it: the
/// one in effect ends last.
async fn direct_schedule(
    to: Writers<'_>,
    r: &ScheduleRequest,
) -> Result<Option<String>, GraphError> {
    let filter = crate::graph::GrantFilter {
        surface: r.surface,
        principal_id: Some(r.principal_id.clone()),
        role_id: Some(r.role_id.clone()),
        scope_id: Some(r.scope_id.clone()),
    };
    let grants = to.graph.grants(r.kind, &filter).await?;
    Ok(grants
        .into_iter()
        .filter(Grant::is_manageable)
        .max_by_key(|g| g.end().map_or((1, None), |e| (0, Some(e))))
        .map(|g| g.schedule_id))
}

static DIRECTORY_ROLES: DirectoryRoles = DirectoryRoles;
static GROUPS: Groups = Groups;
static AZURE_ROLES: AzureRoles = AzureRoles;

/// The surface of `kind`.
pub fn get(kind: SurfaceKind) -> &'static dyn Surface {
    match kind {
        SurfaceKind::DirectoryRole => &DIRECTORY_ROLES,
        SurfaceKind::Group => &GROUPS,
        SurfaceKind::AzureRole => &AZURE_ROLES,
    }
}

/// Every surface, in the order plans list them.
pub fn all() -> impl Iterator<Item = &'static dyn Surface> {
    SurfaceKind::ALL.iter().map(|k| get(*k))
}

/// The surface an `eligibility` or `assignment` block writes a target for:
/// the one whose marker attribute it sets, directory roles when none.
pub fn for_block(has_attribute: impl Fn(&str) -> bool) -> &'static dyn Surface {
    all()
        .filter(|s| s.kind() != SurfaceKind::DirectoryRole)
        .find(|s| has_attribute(s.marker_attribute()))
        .unwrap_or_else(|| get(SurfaceKind::DirectoryRole))
}

/// The surface a `policy` or `role` block's label names: the one whose
/// label prefix it has, directory roles otherwise.
pub fn for_label(label: &str) -> &'static dyn Surface {
    all()
        .find(|s| {
            s.label_prefix()
                .is_some_and(|p| label.trim_start().starts_with(p))
        })
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
        assert_eq!(for_block(|a| a == "group").kind(), SurfaceKind::Group);
        assert_eq!(
            for_block(|a| a == "azure_role" || a == "scope").kind(),
            SurfaceKind::AzureRole
        );
        // `role` and `group` together: the group's, which then refuses `role`.
        assert_eq!(
            for_block(|a| a == "group" || a == "role").kind(),
            SurfaceKind::Group
        );
        // A block with no target yet is reported as a directory role's,
        // whose `role` is required.
        assert_eq!(for_block(|_| false).kind(), SurfaceKind::DirectoryRole);
    }

    #[test]
    fn a_label_belongs_to_the_surface_whose_prefix_it_has() {
        assert_eq!(for_label("group:Tier0 Admins").kind(), SurfaceKind::Group);
        assert_eq!(for_label("azure:Owner").kind(), SurfaceKind::AzureRole);
        assert_eq!(
            for_label("Global Administrator").kind(),
            SurfaceKind::DirectoryRole
        );
    }
}
