//! PIM for Groups approvals: an activation request's approval and its
//! stages, and an approver's decision on one stage. Graph v1.0 has these
//! for groups only (`/identityGovernance/privilegedAccess/group/assignmentApprovals`);
//! they take a user's token, never an application's.

use percent_encoding::utf8_percent_encode;
use reqwest::Method;
use serde::Deserialize;

use super::HttpGraph;
use super::query::SEGMENT;
use super::send::Call;
use crate::graph::convert::parse_time;
use crate::graph::error::GraphError;
use crate::graph::{Approval, ApprovalStage};
use crate::model::ObjectId;

const APPROVALS: &str = "/identityGovernance/privilegedAccess/group/assignmentApprovals";

/// `approval` as Graph returns it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct WireApproval {
    id: String,
    stages: Vec<WireStage>,
}

/// `approvalStage`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct WireStage {
    id: String,
    status: Option<String>,
    review_result: Option<String>,
    assigned_to_me: Option<bool>,
    justification: Option<String>,
    reviewed_date_time: Option<String>,
    reviewed_by: Option<WireIdentity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct WireIdentity {
    id: Option<String>,
    display_name: Option<String>,
}

impl HttpGraph {
    pub(super) async fn read_group_approval(&self, id: &str) -> Result<Approval, GraphError> {
        let path = format!("{APPROVALS}/{}", utf8_percent_encode(id, SEGMENT));
        let w: WireApproval = self.get_json(&path).await?;
        Ok(Approval {
            id: w.id,
            stages: w
                .stages
                .into_iter()
                .map(|s| ApprovalStage {
                    id: s.id,
                    status: s.status.unwrap_or_default(),
                    review_result: s.review_result.unwrap_or_default(),
                    assigned_to_me: s.assigned_to_me.unwrap_or(false),
                    justification: s.justification.filter(|j| !j.is_empty()),
                    reviewed: s.reviewed_date_time.as_deref().and_then(parse_time),
                    reviewed_by: s.reviewed_by.and_then(|r| {
                        r.display_name
                            .or_else(|| r.id.map(|i| ObjectId::new(i).into_string()))
                    }),
                })
                .collect(),
        })
    }

    pub(super) async fn send_stage_decision(
        &self,
        approval_id: &str,
        stage_id: &str,
        approve: bool,
        justification: &str,
    ) -> Result<(), GraphError> {
        let call = Call {
            method: Method::PATCH,
            url: self.url(&format!(
                "{APPROVALS}/{}/stages/{}",
                utf8_percent_encode(approval_id, SEGMENT),
                utf8_percent_encode(stage_id, SEGMENT)
            )),
            body: Some(serde_json::json!({
                "reviewResult": if approve { "Approve" } else { "Deny" },
                "justification": justification,
            })),
            // A second decision is refused (409): never resent blindly.
            idempotent: false,
            retry_replication: false,
            batchable: false,
        };
        self.execute(&call).await.map(|_| ())
    }
}
