//! Grant reads: eligibility and assignment schedules, everyone's or the
//! signed-in principal's own, and the instances active now.

use super::query::{collection, grant_filter, instances, query};
use super::{HttpGraph, convert_err};
use crate::graph::convert::{assignment_grant, eligibility_grant, instance};
use crate::graph::error::GraphError;
use crate::graph::wire::{
    UnifiedRoleAssignmentSchedule, UnifiedRoleEligibilitySchedule, UnifiedRoleScheduleInstance,
};
use crate::graph::{GrantFilter, Instance, SeenGrants, page_size};
use crate::model::{AssignmentKind, SurfaceKind};
use crate::snapshot::Grant;

impl HttpGraph {
    pub(super) async fn read_grants(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
        seen: SeenGrants<'_>,
    ) -> Result<Vec<Grant>, GraphError> {
        let mut q = vec![("$top", page_size::SCHEDULES.to_string())];
        if let Some(f) = grant_filter(filter) {
            q.push(("$filter", f));
        }
        let set = collection(filter.surface, kind, false)?;
        let path = format!("{set}{}", query(&q));
        let op = format!("GET {set}");
        self.grants_at(kind, &path, &op, seen).await
    }

    pub(super) async fn read_my_grants(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
    ) -> Result<Vec<Grant>, GraphError> {
        let path = format!("{}/{MINE}", collection(surface, kind, false)?);
        let op = format!("GET {path}");
        self.grants_at(kind, &path, &op, &|_| {}).await
    }

    pub(super) async fn read_my_instances(
        &self,
        surface: SurfaceKind,
        kind: AssignmentKind,
    ) -> Result<Vec<Instance>, GraphError> {
        let path = format!("{}/{MINE}", instances(surface, kind)?);
        Ok(self
            .get_all::<UnifiedRoleScheduleInstance>(&path)
            .await?
            .into_iter()
            .map(|i| instance(kind, i))
            .collect())
    }

    /// Every schedule of `kind` of each group, read one list per group
    /// (Graph requires a `groupId` filter), 20 groups to a `$batch`.
    pub(super) async fn read_group_grants(
        &self,
        kind: AssignmentKind,
        groups: &[crate::model::ObjectId],
    ) -> Result<Vec<Grant>, GraphError> {
        let set = collection(SurfaceKind::Group, kind, false)?;
        let op = format!("GET {set}");
        let paths: Vec<String> = groups
            .iter()
            .map(|g| {
                let filter = GrantFilter {
                    surface: SurfaceKind::Group,
                    scope_id: Some(g.to_string()),
                    ..GrantFilter::default()
                };
                let mut q = vec![("$top", page_size::SCHEDULES.to_string())];
                q.extend(grant_filter(&filter).map(|f| ("$filter", f)));
                format!("{set}{}", query(&q))
            })
            .collect();
        let mut out = Vec::new();
        match kind {
            AssignmentKind::Eligible => {
                for page in self
                    .batch_get_all::<UnifiedRoleEligibilitySchedule>(&paths)
                    .await?
                {
                    for s in page? {
                        out.push(eligibility_grant(s).map_err(convert_err(&op))?);
                    }
                }
            }
            AssignmentKind::Active => {
                for page in self
                    .batch_get_all::<UnifiedRoleAssignmentSchedule>(&paths)
                    .await?
                {
                    for s in page? {
                        out.push(assignment_grant(s).map_err(convert_err(&op))?);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every schedule of `kind` the collection at `path` lists, as grants,
    /// each page shown to `seen` as it arrives.
    async fn grants_at(
        &self,
        kind: AssignmentKind,
        path: &str,
        op: &str,
        seen: SeenGrants<'_>,
    ) -> Result<Vec<Grant>, GraphError> {
        match kind {
            AssignmentKind::Eligible => {
                self.get_all_as(
                    path,
                    |s: UnifiedRoleEligibilitySchedule| {
                        eligibility_grant(s).map_err(convert_err(op))
                    },
                    seen,
                )
                .await
            }
            AssignmentKind::Active => {
                self.get_all_as(
                    path,
                    |s: UnifiedRoleAssignmentSchedule| assignment_grant(s).map_err(convert_err(op)),
                    seen,
                )
                .await
            }
        }
    }
}

/// `filterByCurrentUser` for the signed-in principal's own grants.
const MINE: &str = "filterByCurrentUser(on='principal')";

/// A group as [`HttpGraph::read_pim_groups`] reads it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct GroupKind {
    id: String,
    group_types: Vec<String>,
    on_premises_sync_enabled: Option<bool>,
}

impl HttpGraph {
    pub(super) async fn read_pim_groups(&self) -> Result<Vec<crate::model::ObjectId>, GraphError> {
        let path = format!(
            "/groups{}",
            query(&[
                ("$select", "id,groupTypes,onPremisesSyncEnabled".to_string()),
                ("$top", "999".to_string()),
            ])
        );
        let groups: Vec<GroupKind> = self.get_all(&path).await?;
        Ok(groups
            .into_iter()
            // PIM for Groups governs neither (Microsoft's PIM for Groups overview).
            .filter(|g| {
                !g.group_types
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
                    && g.on_premises_sync_enabled != Some(true)
            })
            .map(|g| crate::model::ObjectId::new(g.id))
            .collect())
    }
}
