//! A grant of a role to a principal: eligible or active.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Caseless, ObjectId, PrincipalRef, RoleRef, Schedule, Scope, SurfaceKind};

/// The longest justification pim sends. UNVERIFIED: Graph documents no
/// limit for `justification`; the Entra admin center's PIM forms take at
/// most 500 characters, so a longer one would not be readable there. It is
/// refused before sending rather than passed on.
pub const MAX_JUSTIFICATION_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentKind {
    /// May activate the role when needed (`roleEligibilitySchedule`).
    Eligible,
    /// Holds the role now (`roleAssignmentSchedule`).
    Active,
}

impl AssignmentKind {
    /// The configuration block that declares this kind.
    pub fn block_name(self) -> &'static str {
        match self {
            AssignmentKind::Eligible => "eligibility",
            AssignmentKind::Active => "assignment",
        }
    }
}

impl fmt::Display for AssignmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AssignmentKind::Eligible => "eligible",
            AssignmentKind::Active => "active",
        })
    }
}

/// Ticket information carried by a schedule request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ticket {
    pub system: Option<String>,
    pub number: String,
}

/// One eligibility or active assignment of a role to a principal at a
/// scope, on one surface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Assignment {
    #[serde(default, skip_serializing_if = "SurfaceKind::is_directory_role")]
    pub surface: SurfaceKind,
    pub kind: AssignmentKind,
    pub principal: PrincipalRef,
    pub role: RoleRef,
    pub scope: Scope,
    pub schedule: Schedule,
    pub justification: Option<String>,
    pub ticket: Option<Ticket>,
    /// An ABAC condition (Azure roles only): the grant holds only where it
    /// is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

impl Assignment {
    /// What makes two grants the same grant: at most one schedule exists
    /// per surface, kind, principal, role and scope.
    pub fn identity(&self) -> (SurfaceKind, AssignmentKind, PrincipalRef, &RoleRef, &Scope) {
        (
            self.surface,
            self.kind,
            self.principal.normalized(),
            &self.role,
            &self.scope,
        )
    }
}

/// The `action` of a schedule request, as Graph spells it: the admin actions
/// the planner decides, and the self actions a principal asks for about
/// their own grants; the Graph client sends either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RequestAction {
    AdminAssign,
    AdminUpdate,
    AdminRemove,
    AdminExtend,
    AdminRenew,
    SelfActivate,
    SelfDeactivate,
    SelfExtend,
    SelfRenew,
}

impl RequestAction {
    pub const ALL: [RequestAction; 9] = [
        RequestAction::AdminAssign,
        RequestAction::AdminUpdate,
        RequestAction::AdminRemove,
        RequestAction::AdminExtend,
        RequestAction::AdminRenew,
        RequestAction::SelfActivate,
        RequestAction::SelfDeactivate,
        RequestAction::SelfExtend,
        RequestAction::SelfRenew,
    ];

    /// The action Graph's `action` names, in any case.
    pub fn parse(s: &str) -> Option<RequestAction> {
        RequestAction::ALL
            .into_iter()
            .find(|a| Caseless::same(a.as_str(), s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestAction::AdminAssign => "adminAssign",
            RequestAction::AdminUpdate => "adminUpdate",
            RequestAction::AdminRemove => "adminRemove",
            RequestAction::AdminExtend => "adminExtend",
            RequestAction::AdminRenew => "adminRenew",
            RequestAction::SelfActivate => "selfActivate",
            RequestAction::SelfDeactivate => "selfDeactivate",
            RequestAction::SelfExtend => "selfExtend",
            RequestAction::SelfRenew => "selfRenew",
        }
    }

    /// Removals and deactivations name a grant, not a schedule.
    pub fn sends_schedule(self) -> bool {
        !matches!(
            self,
            RequestAction::AdminRemove | RequestAction::SelfDeactivate
        )
    }
}

/// An admin schedule request with every name resolved to an id: what the
/// planner decides, apply carries and the Graph client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRequest {
    #[serde(default, skip_serializing_if = "SurfaceKind::is_directory_role")]
    pub surface: SurfaceKind,
    pub kind: AssignmentKind,
    pub action: RequestAction,
    pub principal_id: ObjectId,
    pub role_id: ObjectId,
    /// Where, as the surface writes it: `/` or `/administrativeUnits/{id}`
    /// for directory roles.
    pub scope_id: String,
    /// `None` for removals (never sent with `AdminRemove`).
    pub schedule: Option<Schedule>,
    pub justification: Option<String>,
    pub ticket: Option<Ticket>,
    /// An ABAC condition (Azure roles only), sent with version `2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}
