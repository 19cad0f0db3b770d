//! Grant reads: eligibility and assignment schedules, everyone's or the
//! signed-in principal's own, and the instances active now.

use super::query::{grant_filter, query, set_name};
use super::{HttpGraph, convert_err};
use crate::graph::convert::{assignment_grant, eligibility_grant, instance};
use crate::graph::error::GraphError;
use crate::graph::wire::{
    UnifiedRoleAssignmentSchedule, UnifiedRoleEligibilitySchedule, UnifiedRoleScheduleInstance,
};
use crate::graph::{GrantFilter, Instance, page_size};
use crate::model::AssignmentKind;
use crate::snapshot::Grant;

impl HttpGraph {
    pub(super) async fn read_grants(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<Grant>, GraphError> {
        let mut q = vec![("$top", page_size::SCHEDULES.to_string())];
        if let Some(f) = grant_filter(filter) {
            q.push(("$filter", f));
        }
        let path = format!(
            "/roleManagement/directory/{}{}",
            set_name(kind, false),
            query(&q)
        );
        let op = format!("GET /roleManagement/directory/{}", set_name(kind, false));
        self.grants_at(kind, &path, &op).await
    }

    pub(super) async fn read_my_grants(
        &self,
        kind: AssignmentKind,
    ) -> Result<Vec<Grant>, GraphError> {
        let path = format!("/roleManagement/directory/{}/{MINE}", set_name(kind, false));
        let op = format!("GET {path}");
        self.grants_at(kind, &path, &op).await
    }

    pub(super) async fn read_my_instances(
        &self,
        kind: AssignmentKind,
    ) -> Result<Vec<Instance>, GraphError> {
        let set = match kind {
            AssignmentKind::Eligible => "roleEligibilityScheduleInstances",
            AssignmentKind::Active => "roleAssignmentScheduleInstances",
        };
        let path = format!("/roleManagement/directory/{set}/{MINE}");
        Ok(self
            .get_all::<UnifiedRoleScheduleInstance>(&path)
            .await?
            .into_iter()
            .map(|i| instance(kind, i))
            .collect())
    }

    /// Every schedule of `kind` the collection at `path` lists, as grants.
    async fn grants_at(
        &self,
        kind: AssignmentKind,
        path: &str,
        op: &str,
    ) -> Result<Vec<Grant>, GraphError> {
        match kind {
            AssignmentKind::Eligible => {
                self.get_all_as(path, |s: UnifiedRoleEligibilitySchedule| {
                    eligibility_grant(s).map_err(convert_err(op))
                })
                .await
            }
            AssignmentKind::Active => {
                self.get_all_as(path, |s: UnifiedRoleAssignmentSchedule| {
                    assignment_grant(s).map_err(convert_err(op))
                })
                .await
            }
        }
    }
}

/// `filterByCurrentUser` for the signed-in principal's own grants.
const MINE: &str = "filterByCurrentUser(on='principal')";
