//! Planning: the difference between what the configuration declares, what
//! the tenant holds and what the state says pim manages, as an ordered list
//! of changes, checked against each role's policy before anything is sent.

mod action;
mod ctx;
mod diff;
mod grant;
mod guard;
pub mod planfile;
mod policy;
mod removal;
mod rules;
mod unmanaged;
mod upkeep;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::model::{RequestAction, ScheduleRequest};
pub use action::{Action, Reason};
pub use diff::plan;
pub use guard::tier0_ids;
pub use policy::effective_policies;
pub use rules::{RulesError, SettingChange, desired_rules, diff_rules, named_rules, rule_settings};
pub use upkeep::{Reissued, Upkeep, upkeep};

use crate::config::{Diagnostics, Location};
use crate::model::{
    Address, AssignmentKind, Caseless, IsoDuration, ObjectId, PrincipalRef, RoleRef, RuleSet,
    Scope, SurfaceKind,
};

/// The version of the plan format (JSON and saved plans).
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// Names resolved to ids against the tenant, as the planner needs them.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// Principal references, normalised (`PrincipalRef::normalized`), to object ids.
    pub principals: HashMap<PrincipalRef, ObjectId>,
    /// Custom roles by display name (lower case) to role definition ids.
    /// Built-in roles resolve without the tenant.
    pub custom_roles: HashMap<Caseless, ObjectId>,
    /// Scopes to `directoryScopeId` values.
    pub scopes: HashMap<Scope, String>,
    /// Names that did not resolve were reported already (with candidates),
    /// so the planner does not report them again.
    pub names_reported: bool,
}

impl Resolved {
    pub fn principal(&self, p: &PrincipalRef) -> Option<ObjectId> {
        match (self.principals.get(&p.normalized()), p) {
            (Some(id), _) => Some(id.clone()),
            (None, PrincipalRef::ObjectId(id)) => Some(ObjectId::new(id.as_str())),
            (None, _) => None,
        }
    }

    pub fn role(&self, r: &RoleRef) -> Option<ObjectId> {
        if let Some(b) = r.builtin() {
            return Some(ObjectId::new(b.id.as_str()));
        }
        match r {
            RoleRef::Id(id) => Some(ObjectId::new(id.as_str())),
            RoleRef::Name(n) => self.custom_roles.get(&Caseless::new(n)).cloned(),
        }
    }

    /// What a `role` or `policy` block governs, as the policy key of its
    /// grants: a directory role at every scope, a group's access.
    pub fn block_key(
        &self,
        surface: SurfaceKind,
        role: &RoleRef,
        scope: &Scope,
    ) -> Option<crate::snapshot::PolicyKey> {
        let role_id = self.role(role)?;
        let scope_id = self.scope(scope)?;
        Some(crate::snapshot::PolicyKey::of_grant(
            surface, &role_id, &scope_id,
        ))
    }

    pub fn scope(&self, s: &Scope) -> Option<String> {
        match s {
            Scope::Directory => Some("/".into()),
            other => self.scopes.get(other).cloned(),
        }
    }
}

/// Settings of one planning run.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub now: DateTime<Utc>,
    /// Grants that end within this window are renewed.
    pub renew_within: IsoDuration,
    /// Refuse plans that remove more than this many grants.
    pub max_removals: usize,
}

impl PlanOptions {
    pub fn at(now: DateTime<Utc>) -> Self {
        PlanOptions {
            now,
            renew_within: IsoDuration::days(14),
            max_removals: 10,
        }
    }
}

/// One attribute of a grant as people read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attr {
    pub name: String,
    pub value: String,
}

/// Rule updates of one role's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulePatch {
    #[serde(default, skip_serializing_if = "SurfaceKind::is_directory_role")]
    pub surface: SurfaceKind,
    pub policy_id: String,
    pub role_id: ObjectId,
    /// Where the policy applies: `/`, or the group's id.
    #[serde(default = "root_scope", skip_serializing_if = "is_root_scope")]
    pub scope_id: String,
    /// The complete rules after the change, only those that change.
    pub rules: RuleSet,
    pub settings: Vec<SettingChange>,
}

/// Which grant a change is about, by ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "SurfaceKind::is_directory_role")]
    pub surface: SurfaceKind,
    pub kind: AssignmentKind,
    pub principal_id: ObjectId,
    pub role_id: ObjectId,
    pub scope_id: String,
}

fn root_scope() -> String {
    "/".into()
}

fn is_root_scope(s: &str) -> bool {
    s == "/"
}

impl RulePatch {
    pub fn key(&self) -> crate::snapshot::PolicyKey {
        crate::snapshot::PolicyKey::of_grant(self.surface, &self.role_id, &self.scope_id)
    }
}

impl Subject {
    /// The role block and policy that govern the grant.
    pub fn key(&self) -> crate::snapshot::PolicyKey {
        crate::snapshot::PolicyKey::of_grant(self.surface, &self.role_id, &self.scope_id)
    }
}

/// What apply does for a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    /// Send these requests (an adoption may send none) and record the
    /// schedule in state.
    Grant {
        subject: Subject,
        /// The schedule that exists today, if any.
        schedule_id: Option<String>,
        /// How the configuration says the grant ends (`P90D`, `permanent`
        /// or a date-time), recorded in state; `None` for removals.
        declared: Option<String>,
        requests: Vec<ScheduleRequest>,
    },
    Rules(RulePatch),
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    pub reason: Reason,
    /// The role's display name.
    pub role: String,
    pub before: Option<Vec<Attr>>,
    pub after: Option<Vec<Attr>>,
    /// Where the configuration declares it (none for undeclared holders).
    pub origin: Option<Location>,
    pub step: Step,
}

/// A grant in the tenant that nothing manages: shown, never touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmanaged {
    pub kind: AssignmentKind,
    pub principal: String,
    pub role: String,
    pub scope: String,
    pub end: Option<DateTime<Utc>>,
    pub schedule_id: String,
}

/// Counts by action, as the summary line says them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub adopt: usize,
    pub update: usize,
    pub renew: usize,
    pub remove: usize,
    pub update_rules: usize,
    pub no_op: usize,
    /// Of the adoptions, those whose schedule is also updated, and those
    /// also renewed: the grant changes even though pim only takes it over.
    #[serde(default)]
    pub adopt_update: usize,
    #[serde(default)]
    pub adopt_renew: usize,
}

impl Summary {
    pub fn has_changes(&self) -> bool {
        self.create + self.adopt + self.update + self.renew + self.remove + self.update_rules > 0
    }
}

/// Where the plan was made: a saved plan is applied only if these still hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basis {
    pub config_hash: String,
    pub state_lineage: Option<String>,
    pub state_serial: Option<u64>,
    pub snapshot_fingerprint: String,
    /// The renewal window the plan was made with: applying the saved plan
    /// plans again with it.
    #[serde(default)]
    pub renew_within: Option<IsoDuration>,
}

impl Basis {
    /// Which parts of a saved plan's basis no longer hold.
    pub fn stale_reasons(&self, now: &Basis) -> Vec<&'static str> {
        let mut why = Vec::new();
        if self.config_hash != now.config_hash {
            why.push("the configuration changed");
        }
        if self.state_lineage != now.state_lineage {
            why.push("the state is a different one (lineage)");
        } else if self.state_serial != now.state_serial {
            why.push("the state was written since (serial)");
        }
        if self.snapshot_fingerprint != now.snapshot_fingerprint {
            why.push("the tenant changed");
        }
        why
    }
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub created_at: DateTime<Utc>,
    pub basis: Basis,
    pub changes: Vec<Change>,
    pub unmanaged: Vec<Unmanaged>,
    pub summary: Summary,
    pub warnings: Vec<String>,
    /// Why the plan must not be applied as it is; shown with the plan in
    /// full, so that what is refused can still be reviewed.
    #[serde(default)]
    pub refusals: Vec<Refusal>,
}

/// A guard the plan trips: too many removals, a role left without holders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub message: String,
    /// The configuration line it is about, when there is one.
    pub origin: Option<Location>,
    pub hint: Option<String>,
}

impl Plan {
    /// The first way `other` differs from this plan, said for people; `None`
    /// when they are the same plan.
    pub fn first_difference(&self, other: &Plan) -> Option<String> {
        for (a, b) in self.changes.iter().zip(&other.changes) {
            if a.address != b.address {
                return Some(format!(
                    "it plans {} where the configuration plans {}",
                    b.address, a.address
                ));
            }
            if a != b {
                return Some(format!(
                    "its change to {} is not the one the configuration plans",
                    a.address
                ));
            }
        }
        if self.changes.len() != other.changes.len() {
            let (more, extra) = if other.changes.len() > self.changes.len() {
                ("more", &other.changes[self.changes.len()])
            } else {
                ("fewer", &self.changes[other.changes.len()])
            };
            return Some(format!(
                "it has {more} changes than the configuration plans (first: {})",
                extra.address
            ));
        }
        let parts: [(&str, bool); 6] = [
            ("its unmanaged grants", self.unmanaged == other.unmanaged),
            ("its summary", self.summary == other.summary),
            ("its warnings", self.warnings == other.warnings),
            ("its refusals", self.refusals == other.refusals),
            ("its basis", self.basis == other.basis),
            (
                "its time or format",
                self.created_at == other.created_at && self.format_version == other.format_version,
            ),
        ];
        parts
            .iter()
            .find(|(_, same)| !same)
            .map(|(what, _)| format!("{what} differ from what the configuration plans"))
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(at) = &self.origin {
            write!(f, "{at}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  = hint: {h}")?;
        }
        Ok(())
    }
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Invalid(Diagnostics),
}
