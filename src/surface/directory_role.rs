//! Entra directory roles: a role definition (built-in by name or template
//! id, or a custom role the configuration declares) at the directory or an
//! administrative unit, through `/roleManagement/directory`.

use std::collections::HashSet;

use async_trait::async_trait;

use super::{Clients, Interest, Surface, SurfaceRead, TargetProblem, Writers};
use crate::graph::{GrantFilter, GraphError};
use crate::model::{
    Address, AssignmentKind, BlockKind, Caseless, ObjectId, RoleRef, RuleId, RuleSet, RuleValue,
    ScheduleRequest, Scope, SurfaceKind, builtin_roles, closest_builtin_roles,
};
use crate::snapshot::{AdministrativeUnit, Current, Grant, PolicyKey, RoleDefinition};

/// Roles treated as tier 0 unless `tenant { tier0_roles = […] }` says
/// otherwise: those that can take over the tenant or its security controls.
pub const DEFAULT_TIER0: &[&str] = &[
    "Global Administrator",
    "Privileged Role Administrator",
    "Privileged Authentication Administrator",
    "Security Administrator",
    "Conditional Access Administrator",
    "Hybrid Identity Administrator",
    "Application Administrator",
    "Cloud Application Administrator",
    "Authentication Policy Administrator",
    "Domain Name Administrator",
    "Partner Tier2 Support",
    "External Identity Provider Administrator",
];

/// The directory-role surface.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectoryRoles;

#[async_trait]
impl Surface for DirectoryRoles {
    fn kind(&self) -> SurfaceKind {
        SurfaceKind::DirectoryRole
    }

    fn role_attribute(&self) -> &'static str {
        "role"
    }

    fn scope_attribute(&self) -> &'static str {
        "scope"
    }

    /// A built-in role (named as Entra names it, whatever the case, or by
    /// template id), or a custom role that a `role` block declares; an
    /// unknown name comes with the closest built-in ones.
    fn parse_role(&self, name: &str, custom: &HashSet<Caseless>) -> Result<RoleRef, TargetProblem> {
        let r = RoleRef::parse(name);
        if let Some(b) = r.builtin() {
            return Ok(RoleRef::Name(b.display_name.clone()));
        }
        if custom.contains(&Caseless::new(name.trim())) {
            return Ok(r);
        }
        if let RoleRef::Id(id) = &r {
            return Err(TargetProblem {
                message: format!("no built-in role has the id {id}"),
                hint: Some(format!(
                    "for a custom role, declare it: role \"{id}\" {{ custom = true }}"
                )),
            });
        }
        let close = closest_builtin_roles(name, 3);
        let mut hint = String::new();
        if !close.is_empty() {
            let quoted: Vec<String> = close.iter().map(|c| format!("\"{c}\"")).collect();
            hint = format!("did you mean {}? ", quoted.join(", "));
        }
        hint.push_str(&format!(
            "A custom role must be declared: role \"{name}\" {{ custom = true }}"
        ));
        Err(TargetProblem {
            message: format!("unknown role \"{name}\""),
            hint: Some(hint),
        })
    }

    fn parse_scope(&self, text: Option<&str>) -> Result<Scope, TargetProblem> {
        let Some(text) = text else {
            return Ok(Scope::Directory);
        };
        match text.parse::<Scope>() {
            Ok(Scope::Group(g)) => Err(TargetProblem {
                message: format!("{text:?} is a group, not a directory scope"),
                hint: Some(format!(
                    "to grant membership of the group, write group = \"group:{g}\" (and access = \"member\" or \"owner\") instead of role and scope"
                )),
            }),
            Ok(Scope::Azure(_)) => Err(TargetProblem {
                message: format!("{text:?} is an Azure scope, not a directory scope"),
                hint: Some(
                    "to grant an Azure role there, write azure_role = \"<Azure role>\" instead of role"
                        .into(),
                ),
            }),
            Ok(s) => Ok(s),
            Err(e) => Err(TargetProblem {
                message: e.to_string(),
                hint: Some(e.hint().to_string()),
            }),
        }
    }

    /// The label is the role; its policy is the directory's.
    fn parse_label(
        &self,
        label: &str,
        role: Option<&str>,
        custom: &HashSet<Caseless>,
    ) -> Result<(RoleRef, Scope), TargetProblem> {
        if role.is_some() {
            return Err(TargetProblem {
                message: "access applies to groups only".into(),
                hint: Some(
                    "label the block \"group:<name>\" for a group's policy, or remove access"
                        .into(),
                ),
            });
        }
        Ok((self.parse_role(label, custom)?, Scope::Directory))
    }

    fn role_name(&self, current: &Current, role_id: &str) -> String {
        if let Some(r) = current.roles.get(role_id) {
            return r.display_name.clone();
        }
        RoleRef::Id(role_id.to_string())
            .builtin()
            .map_or_else(|| role_id.to_string(), |b| b.display_name.clone())
    }

    fn scope_name(&self, current: &Current, scope_id: &str) -> String {
        match scope_id.strip_prefix("/administrativeUnits/") {
            Some(id) => match current.administrative_units.get(id) {
                Some(au) => format!("/administrativeUnits/{}", au.display_name),
                None => scope_id.to_string(),
            },
            None => scope_id.to_string(),
        }
    }

    fn role_block_address(&self, kind: BlockKind, role: &RoleRef, _scope: &Scope) -> Address {
        Address::new(kind, role.to_string())
    }

    fn default_rules(&self) -> RuleSet {
        crate::graph::convert::default_rule_set()
    }

    fn default_tier0(&self) -> &'static [&'static str] {
        DEFAULT_TIER0
    }

    /// Whole collections at the largest page size and every policy with its
    /// rules in one expanded list, all at once.
    async fn read(
        &self,
        clients: Clients<'_>,
        interest: Interest<'_>,
    ) -> Result<SurfaceRead, GraphError> {
        let graph = clients.graph;
        let policy_roles = interest.policy_roles;
        let all = GrantFilter::default();
        let (eligible, active, policies, roles) = futures::try_join!(
            graph.grants_seen(AssignmentKind::Eligible, &all, clients.seen),
            graph.grants_seen(AssignmentKind::Active, &all, clients.seen),
            async {
                match policy_roles {
                    Some([]) => Ok(Vec::new()),
                    ids => graph.policies(ids).await,
                }
            },
            graph.role_definitions(),
        )?;
        let mut grants = eligible;
        grants.extend(active);
        // Built-in roles are known offline; Graph's list, read after them,
        // has the last word.
        let mut all_roles: Vec<RoleDefinition> = builtin_roles()
            .iter()
            .map(|b| RoleDefinition {
                id: ObjectId::new(b.id.as_str()),
                display_name: b.display_name.clone(),
                is_builtin: true,
            })
            .collect();
        all_roles.extend(roles);
        Ok(SurfaceRead {
            grants,
            policies,
            roles: all_roles,
        })
    }

    /// Administrative units are listed whole, once, and only when a grant
    /// is scoped to one.
    async fn scope_names(
        &self,
        clients: Clients<'_>,
        grants: &[Grant],
    ) -> Result<Vec<AdministrativeUnit>, GraphError> {
        if grants
            .iter()
            .any(|g| g.scope_id.starts_with("/administrativeUnits/"))
        {
            clients.graph.administrative_units().await
        } else {
            Ok(Vec::new())
        }
    }

    async fn update_rule(
        &self,
        to: Writers<'_>,
        _key: &PolicyKey,
        policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<String, GraphError> {
        to.graph.update_rule(policy_id, rule, value).await?;
        Ok(policy_id.to_string())
    }

    async fn find_schedule(
        &self,
        to: Writers<'_>,
        r: &ScheduleRequest,
    ) -> Result<Option<String>, GraphError> {
        super::direct_schedule(to, r).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_built_in_by_name_or_id_or_declared_custom() {
        let s = DirectoryRoles;
        let none = HashSet::new();
        assert_eq!(
            s.parse_role("global administrator", &none),
            Ok(RoleRef::Name("Global Administrator".into()))
        );
        assert_eq!(
            s.parse_role("62e90394-69f5-4237-9190-012177145e10", &none),
            Ok(RoleRef::Name("Global Administrator".into()))
        );
        let custom: HashSet<Caseless> = [Caseless::new("Helpdesk Tier 1")].into();
        assert_eq!(
            s.parse_role("Helpdesk Tier 1", &custom),
            Ok(RoleRef::Name("Helpdesk Tier 1".into()))
        );
        let unknown = s.parse_role("Global Admin", &none).unwrap_err();
        assert_eq!(unknown.message, "unknown role \"Global Admin\"");
        assert!(
            unknown
                .hint
                .is_some_and(|h| h.contains("\"Global Administrator\""))
        );
        let id = s
            .parse_role("00000000-0000-0000-0000-000000000001", &none)
            .unwrap_err();
        assert_eq!(
            id.message,
            "no built-in role has the id 00000000-0000-0000-0000-000000000001"
        );
    }

    #[test]
    fn scopes_are_the_directory_or_a_unit() {
        let s = DirectoryRoles;
        assert_eq!(s.parse_scope(None), Ok(Scope::Directory));
        assert_eq!(s.parse_scope(Some("/")), Ok(Scope::Directory));
        assert_eq!(
            s.parse_scope(Some("/administrativeUnits/Paris")),
            Ok(Scope::AdministrativeUnit("Paris".into()))
        );
        let bad = s.parse_scope(Some("/tenants/x")).unwrap_err();
        assert!(
            bad.hint
                .is_some_and(|h| h.contains("/administrativeUnits/"))
        );
        // An Azure scope is another surface's.
        let azure = s.parse_scope(Some("/subscriptions/x")).unwrap_err();
        assert!(azure.hint.is_some_and(|h| h.contains("azure_role")));
    }

    #[test]
    fn every_default_tier0_role_is_a_built_in_role() {
        for name in DirectoryRoles.default_tier0() {
            assert!(
                crate::model::find_builtin_role(name).is_some(),
                "{name} is not a built-in role"
            );
        }
        assert_eq!(DirectoryRoles.default_rules().rules.len(), 17);
    }
}
