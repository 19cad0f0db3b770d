//! A scenario for applying against the emulator: a tenant whose older grants
//! pim manages, the state that says so, and a configuration that keeps some
//! of them, changes some, drops some, adds many and updates policy rules;
//! plus the checks that the tenant and the state hold exactly what the
//! configuration declares.

use std::collections::BTreeSet;
use std::path::Path;

use pim::emulator::{ScheduleSeed, Tenant, User};
use pim::model::{Address, AssignmentKind, find_builtin_role};
use pim::state::{Resource, StateFile};
use serde_json::json;

/// How many grants of each sort.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Managed and declared as they are.
    pub kept: usize,
    /// Managed, declared with another duration.
    pub updated: usize,
    /// Managed, no longer declared.
    pub removed: usize,
    /// Declared, not in the tenant yet.
    pub created: usize,
    /// Roles whose policy blocks change a rule.
    pub policies: usize,
}

impl Sizes {
    pub fn changes(&self) -> usize {
        self.updated + self.removed + self.created + self.policies
    }

    fn managed(&self) -> usize {
        self.kept + self.updated + self.removed
    }

    fn users(&self) -> usize {
        self.managed() + self.created
    }
}

pub const LINEAGE: &str = "6a3c1f0e-0000-4000-8000-00000000c0de";

/// Eligible grants alternate between these; every fifth grant is an active
/// assignment of Global Reader.
const ELIGIBLE_ROLES: [&str; 2] = ["Helpdesk Administrator", "User Administrator"];
const ACTIVE_ROLE: &str = "Global Reader";
const POLICY_ROLES: [&str; 3] = [
    "Helpdesk Administrator",
    "User Administrator",
    "Global Reader",
];

pub fn user_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

fn upn(i: usize) -> String {
    format!("user{i:04}@contoso.com")
}

fn kind(i: usize) -> AssignmentKind {
    if i % 5 == 4 {
        AssignmentKind::Active
    } else {
        AssignmentKind::Eligible
    }
}

fn role(i: usize) -> &'static str {
    match kind(i) {
        AssignmentKind::Active => ACTIVE_ROLE,
        AssignmentKind::Eligible => ELIGIBLE_ROLES[i % 2],
    }
}

pub fn role_id(name: &str) -> String {
    find_builtin_role(name)
        .map(|r| r.id.to_ascii_lowercase())
        .unwrap_or_else(|| panic!("{name} is a built-in role"))
}

fn address(i: usize) -> Address {
    let block = match kind(i) {
        AssignmentKind::Active => "assignment",
        AssignmentKind::Eligible => "eligibility",
    };
    Address::parse(&format!("{block}.g{i:04}")).expect("a valid address")
}

fn seeded_schedule_id(i: usize) -> String {
    format!("aaaaaaaa-0000-4000-8000-{i:012x}")
}

/// The tenant before the apply: users, and the managed grants, begun 30
/// days ago for 90 days (old enough to be removed).
pub fn tenant(s: Sizes) -> Tenant {
    let mut t = Tenant::empty();
    for i in 0..s.users() {
        t.users.push(User {
            id: user_id(i),
            display_name: format!("User {i}"),
            user_principal_name: upn(i),
            ..User::default()
        });
    }
    for i in 0..s.managed() {
        let seed = ScheduleSeed {
            id: Some(seeded_schedule_id(i)),
            principal: user_id(i),
            role: role_id(role(i)),
            scope: "/".into(),
            start: Some("-P30D".into()),
            end: Some("+P60D".into()),
            created_using: Some(seeded_schedule_id(i)),
            created_date_time: Some("-P30D".into()),
            ..ScheduleSeed::default()
        };
        match kind(i) {
            AssignmentKind::Eligible => t.eligibility_schedules.push(seed),
            AssignmentKind::Active => t.assignment_schedules.push(seed),
        }
    }
    t
}

/// The state before the apply: pim manages the seeded grants, as applied
/// with a duration of P90D.
pub fn state(s: Sizes) -> StateFile {
    let mut state = StateFile::new(LINEAGE.into());
    state.serial = 1;
    for i in 0..s.managed() {
        state.resources.push(Resource {
            surface: pim::model::SurfaceKind::DirectoryRole,
            address: address(i),
            kind: Some(kind(i)),
            schedule_id: Some(seeded_schedule_id(i)),
            request_id: Some(seeded_schedule_id(i)),
            principal_id: user_id(i).into(),
            role_id: role_id(role(i)).into(),
            scope_id: "/".into(),
            attributes: json!({ "duration": "P90D", "justification": null }),
        });
    }
    state.resources.sort_by_key(|r| r.address.to_string());
    state
}

fn declared(s: Sizes) -> impl Iterator<Item = usize> {
    (0..s.kept + s.updated).chain(s.managed()..s.users())
}

/// The configuration (without a `tenant` block: the environment or the
/// caller says where the tenant is).
pub fn config(s: Sizes) -> String {
    let mut hcl = String::new();
    for i in declared(s) {
        let duration = if i < s.kept {
            "P90D"
        } else if i < s.kept + s.updated {
            "P120D"
        } else {
            "P60D"
        };
        let block = match kind(i) {
            AssignmentKind::Active => "assignment",
            AssignmentKind::Eligible => "eligibility",
        };
        hcl.push_str(&format!(
            "{block} \"g{i:04}\" {{\n  principal     = \"user:{}\"\n  role          = \"{}\"\n  duration      = \"{duration}\"\n  justification = \"Scenario grant {i}\"\n}}\n\n",
            upn(i),
            role(i)
        ));
    }
    for r in POLICY_ROLES.iter().take(s.policies) {
        hcl.push_str(&format!(
            "policy \"{r}\" {{\n  activation {{\n    max_duration = \"PT2H\"\n  }}\n}}\n\n"
        ));
    }
    hcl
}

/// Writes the configuration into `dir`.
pub fn write_config(dir: &Path, s: Sizes, extra: &str) {
    std::fs::create_dir_all(dir).expect("the directory can be made");
    std::fs::write(
        dir.join("scenario.pim.hcl"),
        format!("{extra}{}", config(s)),
    )
    .expect("the configuration can be written");
}

/// (kind, principal, role, scope) of every declared grant, sorted, with
/// repeats (there must be none).
pub fn declared_grants(s: Sizes) -> Vec<(AssignmentKind, String, String, String)> {
    let mut v: Vec<_> = declared(s)
        .map(|i| (kind(i), user_id(i), role_id(role(i)), "/".to_string()))
        .collect();
    v.sort();
    v
}

/// The addresses the state must hold once applied: every declared grant
/// and policy.
pub fn declared_addresses(s: Sizes) -> BTreeSet<String> {
    declared(s)
        .map(|i| address(i).to_string())
        .chain(
            POLICY_ROLES
                .iter()
                .take(s.policies)
                .map(|r| format!("policy[\"{r}\"]")),
        )
        .collect()
}

/// Addresses the apply removes (their state entries may outlive the grant
/// by a step when a run is cut short).
pub fn removed_addresses(s: Sizes) -> BTreeSet<String> {
    (s.kept + s.updated..s.managed())
        .map(|i| address(i).to_string())
        .collect()
}

/// The tenant's direct grants, as `declared_grants` lists them, sorted,
/// repeats kept.
pub fn tenant_grants(t: &Tenant) -> Vec<(AssignmentKind, String, String, String)> {
    let mut v: Vec<_> = t
        .eligibility_schedules
        .iter()
        .map(|s| (AssignmentKind::Eligible, s))
        .chain(
            t.assignment_schedules
                .iter()
                .map(|s| (AssignmentKind::Active, s)),
        )
        .filter(|(_, s)| s.member_type.as_deref().is_none_or(|m| m == "Direct"))
        .map(|(k, s)| {
            (
                k,
                s.principal.to_ascii_lowercase(),
                s.role.to_ascii_lowercase(),
                s.scope.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Ids of the tenant's schedules.
pub fn schedule_ids(t: &Tenant) -> BTreeSet<String> {
    t.eligibility_schedules
        .iter()
        .chain(&t.assignment_schedules)
        .filter_map(|s| s.id.clone())
        .collect()
}

/// Ids of every schedule Graph ever confirmed: the seeded ones and the
/// targets of the requests it accepted.
pub fn confirmed_schedule_ids(t: &Tenant, s: Sizes) -> BTreeSet<String> {
    t.eligibility_requests
        .iter()
        .chain(&t.assignment_requests)
        .filter_map(|r| r.get("targetScheduleId").and_then(|v| v.as_str()))
        .map(str::to_string)
        .chain((0..s.managed()).map(seeded_schedule_id))
        .collect()
}

/// The tenant and the state hold exactly what the configuration declares:
/// no grant missing, none twice, none left over; every declared address in
/// the state, pointing at a schedule that exists.
pub fn assert_converged(t: &Tenant, state: &StateFile, s: Sizes) {
    let want = declared_grants(s);
    let have = tenant_grants(t);
    let missing: Vec<_> = want.iter().filter(|g| !have.contains(g)).collect();
    let extra: Vec<_> = have.iter().filter(|g| !want.contains(g)).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && have.len() == want.len(),
        "the tenant differs from the configuration: missing {missing:?}, not declared {extra:?}, {} grants for {} declared",
        have.len(),
        want.len()
    );
    let addresses: BTreeSet<String> = state
        .resources
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    let want = declared_addresses(s);
    let missing: Vec<_> = want.difference(&addresses).collect();
    let extra: Vec<_> = addresses.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the state differs from the configuration: missing {missing:?}, not declared {extra:?}"
    );
    let ids = schedule_ids(t);
    for r in &state.resources {
        if let Some(id) = &r.schedule_id {
            assert!(
                ids.contains(id),
                "{} points at {id}, not in the tenant",
                r.address
            );
        }
    }
}
