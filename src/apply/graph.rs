//! The Graph client as apply's [`Target`]: requests go out as they are
//! planned (with a default justification, which Graph's policies often
//! require), errors keep Graph's code, message and request id.

use super::{RequestOutcome, Target, TargetError};
use crate::graph::{GrantFilter, Graph as _, GraphError, HttpGraph};
use crate::model::{RuleId, RuleValue, ScheduleRequest};
use crate::snapshot::{ActiveType, MemberType};

/// Sent when the configuration gives no justification.
pub const DEFAULT_JUSTIFICATION: &str = "Managed by pim";

fn target_error(e: GraphError) -> TargetError {
    TargetError {
        code: if e.code.is_empty() {
            format!("{:?}", e.kind)
        } else {
            e.code.clone()
        },
        message: e.message.clone(),
        request_id: e.request_id.clone(),
    }
}

impl Target for HttpGraph {
    async fn send(&self, r: &ScheduleRequest) -> Result<RequestOutcome, TargetError> {
        let justified;
        let request = if r.justification.is_some() {
            r
        } else {
            justified = ScheduleRequest {
                justification: Some(DEFAULT_JUSTIFICATION.into()),
                ..r.clone()
            };
            &justified
        };
        let out = self.create_request(request).await.map_err(target_error)?;
        Ok(RequestOutcome {
            status: out.status,
            request_id: out.request_id,
            schedule_id: out.target_schedule_id,
        })
    }

    async fn patch_rule(
        &self,
        policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<(), TargetError> {
        self.update_rule(policy_id, rule, value)
            .await
            .map_err(target_error)
    }

    async fn find_schedule(&self, r: &ScheduleRequest) -> Result<Option<String>, TargetError> {
        let filter = GrantFilter {
            principal_id: Some(r.principal_id.clone()),
            role_id: Some(r.role_id.clone()),
            scope_id: Some(r.scope_id.clone()),
        };
        let grants = self.grants(r.kind, &filter).await.map_err(target_error)?;
        Ok(grants
            .into_iter()
            .find(|g| {
                g.member_type == MemberType::Direct && g.active_type != Some(ActiveType::Activated)
            })
            .map(|g| g.schedule_id))
    }
}
