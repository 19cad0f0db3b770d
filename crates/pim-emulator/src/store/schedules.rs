//! Granted schedules (eligible and active): how they end, when they are
//! active or visible, and their schedule and instance renderings.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Kind, Store, ts};
use pim_model::IsoDuration;

/// How a schedule ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Exp {
    Never,
    At(DateTime<Utc>),
    After(IsoDuration),
}

impl Exp {
    pub fn to_json(&self) -> Value {
        match self {
            Exp::Never => json!({ "type": "noExpiration", "endDateTime": null, "duration": null }),
            Exp::At(t) => {
                json!({ "type": "afterDateTime", "endDateTime": ts(*t), "duration": null })
            }
            // Graph keeps a TimeSpan, not the text it was sent: `PT24H` comes
            // back as `P1D`.
            Exp::After(d) => json!({
                "type": "afterDuration",
                "endDateTime": null,
                "duration": d.canonical().to_string()
            }),
        }
    }

    pub fn end(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Exp::Never => None,
            Exp::At(t) => Some(*t),
            // An overflowing duration is as good as permanent.
            Exp::After(d) => d.add_to(start),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ScheduleRec {
    pub id: String,
    pub kind: Kind,
    pub principal_id: String,
    pub role_id: String,
    pub scope: String,
    pub created_using: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub modified: Option<String>,
    pub assignment_type: String,
    pub member_type: String,
    /// Activations: the eligibility schedule they were made from.
    pub activated_using: Option<String>,
    pub start: DateTime<Utc>,
    pub exp: Exp,
    /// Replication delay: hidden from reads until then.
    pub visible_after: Option<Instant>,
}

impl ScheduleRec {
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.exp.end(self.start)
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.end().is_some_and(|e| e <= now)
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && !self.is_expired(now)
    }

    pub fn is_visible(&self) -> bool {
        self.visible_after.is_none_or(|t| Instant::now() >= t)
    }

    pub fn same_tuple(&self, kind: Kind, principal: &str, role: &str, scope: &str) -> bool {
        self.kind == kind
            && self.principal_id.eq_ignore_ascii_case(principal)
            && self.role_id.eq_ignore_ascii_case(role)
            && self.scope.eq_ignore_ascii_case(scope)
    }

    pub fn schedule_info(&self) -> Value {
        json!({ "startDateTime": ts(self.start), "recurrence": null, "expiration": self.exp.to_json() })
    }

    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        let mut v = json!({
            "id": self.id,
            "principalId": self.principal_id,
            "roleDefinitionId": self.role_id,
            "directoryScopeId": self.scope,
            "appScopeId": null,
            "createdUsing": self.created_using,
            "createdDateTime": self.created.map(ts),
            "modifiedDateTime": self.modified,
            "status": if self.start > now { "Granted" } else { "Provisioned" },
        });
        let obj = v.as_object_mut().map(|o| {
            if self.kind == Kind::Assignment {
                o.insert("assignmentType".into(), json!(self.assignment_type));
            }
            o.insert("memberType".into(), json!(self.member_type));
            o.insert("scheduleInfo".into(), self.schedule_info());
        });
        debug_assert!(obj.is_some());
        v
    }

    /// Opaque instance id, stable for the schedule (Graph's are not GUIDs either).
    pub fn instance_id(&self) -> String {
        let compact: String = self.id.chars().filter(|c| *c != '-').collect();
        match self.kind {
            Kind::Eligibility => format!("{compact}-1-e"),
            Kind::Assignment => format!("{compact}-1"),
        }
    }

    pub fn instance_json(&self) -> Value {
        let id = self.instance_id();
        let start = if self.created_using.is_none() && self.end().is_none() {
            None
        } else {
            Some(ts(self.start))
        };
        let mut v = json!({
            "id": id,
            "principalId": self.principal_id,
            "roleDefinitionId": self.role_id,
            "directoryScopeId": self.scope,
            "appScopeId": null,
            "startDateTime": start,
            "endDateTime": self.end().map(ts),
        });
        if let Some(o) = v.as_object_mut() {
            match self.kind {
                Kind::Assignment => {
                    o.insert("assignmentType".into(), json!(self.assignment_type));
                    o.insert("memberType".into(), json!(self.member_type));
                    o.insert("roleAssignmentOriginId".into(), json!(id));
                    o.insert("roleAssignmentScheduleId".into(), json!(self.id));
                }
                Kind::Eligibility => {
                    o.insert("memberType".into(), json!(self.member_type));
                    o.insert("roleEligibilityScheduleId".into(), json!(self.id));
                }
            }
        }
        v
    }
}

impl Store {
    /// Schedules visible to reads now (replicated), ended ones included:
    /// Entra lists an ended schedule until [`Store::purge_schedules`]
    /// forgets it.
    pub fn visible_schedules(&self, kind: Kind) -> impl Iterator<Item = &ScheduleRec> {
        self.schedules
            .iter()
            .filter(move |s| s.kind == kind && s.is_visible())
    }

    /// Forget schedules that ended at `cutoff` or before.
    pub fn purge_schedules(&mut self, cutoff: DateTime<Utc>) {
        self.schedules
            .retain(|s| s.end().is_none_or(|e| e > cutoff));
    }
}
