//! Role management policies: their assignments with the rules expanded,
//! and the patch of one rule.

use percent_encoding::utf8_percent_encode;
use reqwest::Method;

use super::query::{SEGMENT, odata_string, query};
use super::send::Call;
use super::{HttpGraph, convert_err};
use crate::graph::convert::{rule_set_from_wire, rule_to_wire};
use crate::graph::error::GraphError;
use crate::graph::wire::{Page, UnifiedRoleManagementPolicyAssignment};
use crate::model::{ObjectId, RuleId, RuleValue, SurfaceKind};
use crate::snapshot::Policy;

impl HttpGraph {
    pub(super) async fn read_policies(
        &self,
        role_ids: Option<&[ObjectId]>,
    ) -> Result<Vec<Policy>, GraphError> {
        const SCOPE: &str = "scopeId eq '/' and scopeType eq 'DirectoryRole'";
        const EXPAND: &str = "policy($expand=rules)";
        let op = "GET /policies/roleManagementPolicyAssignments";
        let assignments: Vec<UnifiedRoleManagementPolicyAssignment> = match role_ids {
            // A few roles: one filtered read each, all in one $batch.
            Some(ids) if ids.len() <= 3 => {
                let paths: Vec<String> = ids
                    .iter()
                    .map(|id| {
                        format!(
                            "/policies/roleManagementPolicyAssignments{}",
                            query(&[
                                (
                                    "$filter",
                                    format!("{SCOPE} and roleDefinitionId eq {}", odata_string(id))
                                ),
                                ("$expand", EXPAND.to_string()),
                            ])
                        )
                    })
                    .collect();
                let mut all = Vec::new();
                for r in self.batch_get(&paths).await? {
                    let page: Page<UnifiedRoleManagementPolicyAssignment> =
                        serde_json::from_value(r?)
                            .map_err(|e| GraphError::decode(op, e.to_string()))?;
                    all.extend(page.value);
                }
                all
            }
            // Many roles: the whole list at once is fewer calls than one per
            // role. No `$top`: the docs list only `$filter`, `$select` and
            // `$expand` here, so the pages are the server's, followed by
            // `@odata.nextLink`.
            _ => {
                let path = format!(
                    "/policies/roleManagementPolicyAssignments{}",
                    query(&[
                        ("$filter", SCOPE.to_string()),
                        ("$expand", EXPAND.to_string()),
                    ])
                );
                self.get_all(&path).await?
            }
        };
        let wanted: Option<std::collections::BTreeSet<&ObjectId>> =
            role_ids.map(|ids| ids.iter().collect());
        let mut out = Vec::new();
        for a in assignments {
            let role = ObjectId::new(a.role_definition_id);
            if wanted.as_ref().is_some_and(|w| !w.contains(&role)) {
                continue;
            }
            let rules = match &a.policy {
                Some(p) => rule_set_from_wire(&p.rules).map_err(convert_err(op))?,
                None => return Err(GraphError::decode(op, "policy was not expanded")),
            };
            out.push(Policy {
                surface: SurfaceKind::DirectoryRole,
                policy_id: a.policy_id,
                role_id: role,
                scope_id: "/".into(),
                rules,
            });
        }
        Ok(out)
    }

    /// Each group's two policies (member and owner), with their rules: one
    /// filtered read of its policy assignments per group, 20 groups to a
    /// `$batch`. Graph requires the scope filter; the ids a group's policies
    /// have change when PIM first governs the group, so they are never
    /// kept between reads.
    pub(super) async fn read_group_policies(
        &self,
        groups: &[ObjectId],
    ) -> Result<Vec<Policy>, GraphError> {
        let op = "GET /policies/roleManagementPolicyAssignments";
        let paths: Vec<String> = groups
            .iter()
            .map(|g| {
                format!(
                    "/policies/roleManagementPolicyAssignments{}",
                    query(&[
                        (
                            "$filter",
                            format!("scopeId eq {} and scopeType eq 'Group'", odata_string(g))
                        ),
                        ("$expand", "policy($expand=rules)".to_string()),
                    ])
                )
            })
            .collect();
        let mut out = Vec::new();
        for page in self
            .batch_get_all::<UnifiedRoleManagementPolicyAssignment>(&paths)
            .await?
        {
            for a in page? {
                let rules = match &a.policy {
                    Some(p) => rule_set_from_wire(&p.rules).map_err(convert_err(op))?,
                    None => return Err(GraphError::decode(op, "policy was not expanded")),
                };
                out.push(Policy {
                    surface: SurfaceKind::Group,
                    policy_id: a.policy_id,
                    role_id: ObjectId::new(a.role_definition_id),
                    scope_id: ObjectId::new(a.scope_id).into_string(),
                    rules,
                });
            }
        }
        Ok(out)
    }

    pub(super) async fn patch_rule(
        &self,
        policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<(), GraphError> {
        let wire = rule_to_wire(rule, value).ok_or_else(|| {
            GraphError::config(format!("a {value:?} value does not fit policy rule {rule}"))
        })?;
        let call = Call {
            method: Method::PATCH,
            url: self.url(&format!(
                "/policies/roleManagementPolicies/{}/rules/{}",
                utf8_percent_encode(policy_id, SEGMENT),
                rule.as_str()
            )),
            body: Some(
                serde_json::to_value(&wire)
                    .map_err(|e| GraphError::decode("encode rule", e.to_string()))?,
            ),
            // The whole rule is sent: applying it twice leaves the same rule.
            idempotent: true,
            retry_replication: false,
            batchable: true,
        };
        // v1.0 answers 204, newer revisions 200 with the rule: both are success.
        self.execute(&call).await.map(|_| ())
    }
}
