//! The tenant's state while the emulator runs: the store and its rendered
//! indexes, timestamps, the two kinds of grant and the surfaces they are
//! made on; what it holds is in the modules below (seeding, schedules,
//! policies, principals, groups, objects created at run time, and the
//! Azure resource roles of `arm`).

pub(crate) mod arm;
mod created;
mod groups;
mod index;
mod policies;
mod principals;
mod schedules;
mod seed;
mod surface;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::tenant::{AdministrativeUnitSeed, Application, Group, ServicePrincipal, User};
pub(crate) use groups::Review;
pub(crate) use index::{AU_FILTER, GROUP_FILTER, SP_FILTER, USER_FILTER, ValueIndex};
pub(crate) use policies::PolicyScope;
pub(crate) use policies::{PolicyRec, RoleRec, merge, normalize_rule};
pub(crate) use principals::PrincipalType;
pub(crate) use schedules::{Exp, Key, ScheduleRec, Schedules};
pub(crate) use seed::parse_access;
pub(crate) use surface::{Surface, pascal};

/// Graph's timestamp rendering (`2026-12-01T10:00:00Z`, or milliseconds
/// when there are any: `2022-04-11T11:50:06.343Z`). Never more digits: the
/// SDKs' parsers (.NET's among them) accept at most seven.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_millis() == 0 {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

pub(crate) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Eligible (`…eligibility…`) or active (`…assignment…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Eligibility,
    Assignment,
}

/// The grants one collection holds: a surface's eligible or active ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Grants {
    pub surface: Surface,
    pub kind: Kind,
}

/// A schedule request as Graph answers it (`body`), and the collection it
/// belongs to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestRec {
    pub surface: Surface,
    pub kind: Kind,
    pub body: Value,
}

impl RequestRec {
    pub fn new(surface: Surface, kind: Kind, body: Value) -> Self {
        RequestRec {
            surface,
            kind,
            body,
        }
    }

    /// A string property of the entity; `""` when absent.
    pub fn str(&self, key: &str) -> &str {
        self.body.get(key).and_then(Value::as_str).unwrap_or("")
    }

    pub fn id(&self) -> &str {
        self.str("id")
    }

    pub fn status(&self) -> &str {
        self.str("status")
    }

    pub fn principal(&self) -> &str {
        self.str("principalId")
    }

    pub fn role(&self) -> &str {
        self.str(self.surface.role_key())
    }

    pub fn scope(&self) -> &str {
        self.str(self.surface.scope_key())
    }

    /// Whether this is the request `id` names, in this collection.
    pub fn is(&self, surface: Surface, kind: Kind, id: &str) -> bool {
        self.surface == surface && self.kind == kind && self.id().eq_ignore_ascii_case(id)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub tenant_id: String,
    pub domains: Vec<String>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub service_principals: Vec<ServicePrincipal>,
    pub administrative_units: Vec<AdministrativeUnitSeed>,
    pub applications: Vec<Application>,
    pub roles: Vec<RoleRec>,
    pub policies: Vec<PolicyRec>,
    pub schedules: Schedules,
    pub requests: Vec<RequestRec>,
    /// Groups PIM has onboarded (lower-case ids): their policy ids changed
    /// when it did (graph-pim-groups.md §3.4).
    pub onboarded: std::collections::HashSet<String>,
    /// Decisions made through the approvals API, by lower-case approval id:
    /// who decided, when and why, which the request itself does not say.
    pub reviews: std::collections::HashMap<String, Review>,
    /// When each principal or custom role added at run time was created
    /// (lower-case id, the emulator's clock); seeded objects are not here.
    pub created: std::collections::HashMap<String, DateTime<Utc>>,
    /// Graph renderings of the read-only collections, made once: listing
    /// them is the hot path and rendering per request dominated its cost.
    pub rendered: Rendered,
    /// Azure resource roles (the ARM paths).
    pub arm: arm::ArmStore,
}

impl Store {
    /// Forget schedule requests created at `cutoff` or before: Graph keeps a
    /// request as an audit record for a while (about 45 days, observed),
    /// while the schedule it made lives on. A request whose creation time
    /// cannot be read is kept.
    pub fn purge_requests(&mut self, cutoff: DateTime<Utc>) {
        self.requests.retain(|r| {
            r.body
                .get("createdDateTime")
                .and_then(Value::as_str)
                .and_then(parse_ts)
                .is_none_or(|created| created > cutoff)
        });
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Rendered {
    pub users: Vec<Value>,
    pub groups: Vec<Value>,
    pub service_principals: Vec<Value>,
    pub administrative_units: Vec<Value>,
    pub roles: Vec<Value>,
    /// Users by lower-case id and user principal name, to position in
    /// `users`: `GET /users/{id | upn}` is how clients resolve names, once
    /// per declared principal.
    pub user_keys: std::collections::HashMap<String, usize>,
    /// `$filter` indexes of the four directory collections above.
    pub user_index: ValueIndex,
    pub group_index: ValueIndex,
    pub sp_index: ValueIndex,
    pub au_index: ValueIndex,
}

impl Rendered {
    /// Index the collections as rendered: seeding does it once, and each
    /// object added later is indexed as it is rendered.
    pub fn index(&mut self) {
        self.user_index = ValueIndex::new(USER_FILTER, &self.users);
        self.group_index = ValueIndex::new(GROUP_FILTER, &self.groups);
        self.sp_index = ValueIndex::new(SP_FILTER, &self.service_principals);
        self.au_index = ValueIndex::new(AU_FILTER, &self.administrative_units);
    }
}

#[cfg(test)]
mod timestamp_tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    #[test]
    fn timestamps_have_at_most_millisecond_precision() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        assert_eq!(ts(t), "2026-12-01T10:00:00Z");
        assert_eq!(
            ts(t + TimeDelta::nanoseconds(356_737_148)),
            "2026-12-01T10:00:00.356Z"
        );
        assert_eq!(ts(t + TimeDelta::nanoseconds(999)), "2026-12-01T10:00:00Z");
    }
}
