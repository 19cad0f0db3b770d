//! The domain shared by every stage: surfaces, principals, roles, scopes,
//! schedules, assignments, policy rules, addresses, and the clock they are
//! read against. No I/O and no wire formats live here; `graph` and
//! `emulator` convert Graph JSON to and from these types.

mod address;
mod assignment;
mod caseless;
mod clock;
mod duration;
mod id;
mod policy;
mod principal;
mod role;
mod schedule;
mod scope;
mod surface;

pub use address::{Address, BlockKind};
pub use assignment::{
    Assignment, AssignmentKind, MAX_JUSTIFICATION_CHARS, RequestAction, ScheduleRequest, Ticket,
};
pub use caseless::Caseless;
pub use clock::{Clock, SystemClock};
pub use duration::{DurationError, IsoDuration};
pub use id::ObjectId;
pub use policy::{
    ActivationRules, Approval, ApprovalSetting, ApprovalStage, Approver, AssignmentRules,
    EligibilityRules, EnablementFactor, NotificationEvent, NotificationLevel, NotificationRules,
    PolicyRules, RuleId, RuleSet, RuleValue, default_azure_rules_json, default_group_rules_json,
    default_rules_json,
};
pub use principal::{PrincipalError, PrincipalKind, PrincipalRef, is_guid};
pub use role::{
    BuiltinRole, RoleRef, azure_builtin_roles, builtin_roles, closest_azure_roles,
    closest_builtin_roles, closest_names, find_azure_role, find_builtin_role,
};
pub use schedule::{Expiration, Schedule};
pub use scope::{Scope, ScopeError, is_azure_scope};
pub use surface::SurfaceKind;
