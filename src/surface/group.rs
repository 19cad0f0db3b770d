//! PIM for Groups: `member` or `owner` access to a group, eligible or
//! active, through `/identityGovernance/privilegedAccess/group`. The model's
//! role is the access (Graph's `accessId`), its scope the group's object id
//! (`groupId`); each group has one policy per access, found through its
//! policy assignments (`scopeType eq 'Group'`).
//!
//! Graph lists a group's schedules only when asked for one group (or one
//! principal), so the read is one list per governed group, packed twenty to
//! a `$batch`, and never of groups the configuration does not govern.

use std::collections::HashSet;

use async_trait::async_trait;

use super::{Clients, Interest, Surface, SurfaceRead, TargetProblem, Writers};
use crate::graph::{ErrorKind, GraphError};
use crate::model::{
    Address, AssignmentKind, BlockKind, Caseless, ObjectId, RoleRef, RuleId, RuleSet, RuleValue,
    ScheduleRequest, Scope, SurfaceKind,
};
use crate::snapshot::{Current, PolicyKey, RoleDefinition};

/// The two kinds of access to a group PIM governs, as Graph's `accessId`.
pub const GROUP_ACCESS: &[&str] = &["member", "owner"];

/// The PIM for Groups surface.
#[derive(Debug, Clone, Copy, Default)]
pub struct Groups;

#[async_trait]
impl Surface for Groups {
    fn kind(&self) -> SurfaceKind {
        SurfaceKind::Group
    }

    fn role_attribute(&self) -> &'static str {
        "access"
    }

    fn scope_attribute(&self) -> &'static str {
        "group"
    }

    fn marker_attribute(&self) -> &'static str {
        "group"
    }

    fn default_role(&self) -> Option<&'static str> {
        Some("member")
    }

    fn label_prefix(&self) -> Option<&'static str> {
        Some("group:")
    }

    fn label_attribute(&self) -> Option<&'static str> {
        Some("access")
    }

    /// `member` or `owner`, whatever the case. Kept as an id: it is Graph's
    /// `accessId`, and can then never be taken for a role's display name.
    fn parse_role(
        &self,
        text: &str,
        _custom: &HashSet<Caseless>,
    ) -> Result<RoleRef, TargetProblem> {
        let t = text.trim().to_ascii_lowercase();
        if GROUP_ACCESS.contains(&t.as_str()) {
            return Ok(RoleRef::Id(t));
        }
        Err(TargetProblem {
            message: format!("unknown access {text:?}"),
            hint: Some(
                crate::model::closest_names(&t, GROUP_ACCESS.iter().copied(), 1, 0.5)
                    .first()
                    .map_or_else(
                        || "access is \"member\" or \"owner\"".to_string(),
                        |c| format!("did you mean \"{c}\"? access is \"member\" or \"owner\""),
                    ),
            ),
        })
    }

    /// `group:Display Name`, or the group's object id.
    fn parse_scope(&self, text: Option<&str>) -> Result<Scope, TargetProblem> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(TargetProblem {
                message: "group is empty".into(),
                hint: Some("name the group as \"group:<display name>\" or by its object id".into()),
            });
        };
        let name = text.strip_prefix("group:").unwrap_or(text).trim();
        if name.is_empty() {
            return Err(TargetProblem {
                message: format!("{text:?} names no group"),
                hint: Some("write \"group:<display name>\" or the group's object id".into()),
            });
        }
        if name.starts_with('/') || name.contains(':') && !text.starts_with("group:") {
            return Err(TargetProblem {
                message: format!("{text:?} is not a group"),
                hint: Some(
                    "name the group as \"group:<display name>\" or by its object id; \
                     directory roles take role and scope instead"
                        .into(),
                ),
            });
        }
        Ok(Scope::Group(name.to_string()))
    }

    /// `group:<name>` labels a group; its access is the block's `access`.
    fn parse_label(
        &self,
        label: &str,
        role: Option<&str>,
        custom: &HashSet<Caseless>,
    ) -> Result<(RoleRef, Scope), TargetProblem> {
        let scope = self.parse_scope(Some(label))?;
        let role = self.parse_role(role.unwrap_or("member"), custom)?;
        Ok((role, scope))
    }

    fn scope_object(&self, scope_id: &str) -> Option<ObjectId> {
        Some(ObjectId::new(scope_id))
    }

    fn role_name(&self, _current: &Current, role_id: &str) -> String {
        role_id.to_string()
    }

    /// `group:<display name>` when the group was read, else its id.
    fn scope_name(&self, current: &Current, scope_id: &str) -> String {
        match current.principals.get(scope_id) {
            Some(p) => format!("group:{}", p.display_name),
            None => format!("group:{scope_id}"),
        }
    }

    /// `member of group:Tier0 Admins`.
    fn policy_name(&self, current: &Current, role_id: &str, scope_id: &str) -> String {
        format!("{role_id} of {}", self.scope_name(current, scope_id))
    }

    /// Each group's access has its own policy.
    fn policy_scope<'s>(&self, scope_id: &'s str) -> &'s str {
        scope_id
    }

    /// `policy["group:Tier0 Admins"]["member"]`: one block per access.
    fn role_block_address(&self, kind: BlockKind, role: &RoleRef, scope: &Scope) -> Address {
        let group = match scope {
            Scope::Group(g) => g.as_str(),
            _ => "",
        };
        Address::new(kind, format!("group:{group}")).with_key(role.to_string())
    }

    fn default_rules(&self) -> RuleSet {
        crate::graph::convert::default_group_rule_set()
    }

    /// A group's tier is that of the roles it holds, which the checks work
    /// out from the directory roles' grants; no group is tier 0 by name.
    fn default_tier0(&self) -> &'static [&'static str] {
        &[]
    }

    /// Schedules of both kinds and the two policies of every governed
    /// group, each a filtered list per group, all at once.
    async fn read(
        &self,
        clients: Clients<'_>,
        interest: Interest<'_>,
    ) -> Result<SurfaceRead, GraphError> {
        let graph = clients.graph;
        let listed;
        let groups: &[ObjectId] = match interest.scopes {
            Some(s) => s,
            None => {
                listed = graph.pim_groups().await?;
                &listed
            }
        };
        let roles = GROUP_ACCESS
            .iter()
            .map(|a| RoleDefinition {
                id: ObjectId::new(*a),
                display_name: (*a).to_string(),
                is_builtin: true,
            })
            .collect();
        if groups.is_empty() {
            return Ok(SurfaceRead {
                roles,
                ..SurfaceRead::default()
            });
        }
        let (eligible, active, policies) = futures::try_join!(
            graph.group_grants(AssignmentKind::Eligible, groups),
            graph.group_grants(AssignmentKind::Active, groups),
            graph.group_policies(groups),
        )?;
        let mut grants = eligible;
        grants.extend(active);
        Ok(SurfaceRead {
            grants,
            policies,
            roles,
        })
    }

    /// A group's rules are patched as a role's are, at the same endpoint.
    /// The first write for a group PIM did not govern yet (a request, or
    /// another rule) gives its policies new ids: a policy gone since the
    /// plan is looked up again by group and access, and patched once more.
    async fn update_rule(
        &self,
        to: Writers<'_>,
        key: &PolicyKey,
        policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<String, GraphError> {
        match to.graph.update_rule(policy_id, rule, value).await {
            Ok(()) => Ok(policy_id.to_string()),
            Err(e) if e.kind == ErrorKind::NotFound => {
                match to
                    .graph
                    .group_policy_id(&key.scope_id, &key.role_id)
                    .await?
                {
                    Some(id) if id != policy_id => {
                        to.graph.update_rule(&id, rule, value).await?;
                        Ok(id)
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
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
    fn access_is_member_or_owner() {
        let s = Groups;
        let none = HashSet::new();
        assert_eq!(
            s.parse_role("Owner", &none),
            Ok(RoleRef::Id("owner".into()))
        );
        let bad = s.parse_role("memebr", &none).unwrap_err();
        assert_eq!(bad.message, "unknown access \"memebr\"");
        assert!(bad.hint.is_some_and(|h| h.contains("\"member\"")));
    }

    #[test]
    fn a_group_is_named_by_display_name_or_id() {
        let s = Groups;
        assert_eq!(
            s.parse_scope(Some("group:Tier0 Admins")),
            Ok(Scope::Group("Tier0 Admins".into()))
        );
        assert_eq!(
            s.parse_scope(Some("fb0a86eb-9bf8-5088-b1c9-b5d90238ee55")),
            Ok(Scope::Group("fb0a86eb-9bf8-5088-b1c9-b5d90238ee55".into()))
        );
        assert!(s.parse_scope(Some("/administrativeUnits/Paris")).is_err());
        assert!(s.parse_scope(Some("user:alice@contoso.com")).is_err());
        assert!(s.parse_scope(Some("group:")).is_err());
        assert!(s.parse_scope(None).is_err());
    }

    #[test]
    fn each_access_of_a_group_has_its_own_block_address() {
        let s = Groups;
        let scope = Scope::Group("Tier0 Admins".into());
        let a = s.role_block_address(BlockKind::Policy, &RoleRef::Id("owner".into()), &scope);
        assert_eq!(a.to_string(), "policy[\"group:Tier0 Admins\"][\"owner\"]");
        assert_eq!(s.default_rules().rules.len(), 17);
    }
}
