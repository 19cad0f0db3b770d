//! A synthetic tenant for the benchmarks: `n` schedules over six built-in
//! roles, twelve per user (eligible and active for each role), a third of
//! them time-bound.

#![allow(dead_code)] // each benchmark takes the tenant it needs

use pim::emulator::{ScheduleSeed, Tenant, User};

pub const ROLES: [&str; 6] = [
    "62e90394-69f5-4237-9190-012177145e10",
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "194ae4cb-b126-40b2-bd5b-6091b380977d",
];

/// The tenant, with its counts of eligibilities, active assignments and users.
pub fn tenant(n: usize) -> (Tenant, usize, usize, usize) {
    let users = n.div_ceil(ROLES.len() * 2).max(1);
    let mut t = Tenant::empty();
    for i in 0..users {
        t.users.push(User {
            id: format!("00000000-0000-4000-8000-{i:012x}"),
            display_name: format!("User {i}"),
            user_principal_name: format!("user{i}@contoso.com"),
            ..User::default()
        });
    }
    for k in 0..n {
        let (user, rest) = (k % users, k / users);
        let seed = ScheduleSeed {
            principal: format!("00000000-0000-4000-8000-{user:012x}"),
            role: ROLES[rest % ROLES.len()].to_string(),
            scope: "/".into(),
            start: Some("2026-01-01T00:00:00Z".into()),
            end: (k % 3 == 0).then(|| "2030-01-01T00:00:00Z".to_string()),
            ..ScheduleSeed::default()
        };
        if rest / ROLES.len() == 0 {
            t.eligibility_schedules.push(seed);
        } else {
            t.assignment_schedules.push(seed);
        }
    }
    let (e, a) = (t.eligibility_schedules.len(), t.assignment_schedules.len());
    (t, e, a, users)
}

/// The tenant a large organisation has: `eligible` eligibilities and
/// `active` active assignments, each of its own user, spread over 60
/// built-in roles, a third of them time-bound. Returns it with its users'
/// principal names, in schedule order (eligibilities first).
pub fn one_user_each(eligible: usize, active: usize) -> (Tenant, Vec<String>) {
    let roles: Vec<&str> = pim::model::builtin_roles()
        .iter()
        .map(|r| r.id.as_str())
        .take(60)
        .collect();
    let mut t = Tenant::empty();
    let mut upns = Vec::with_capacity(eligible + active);
    for k in 0..eligible + active {
        let id = format!("00000000-0000-4000-8000-{k:012x}");
        let upn = format!("user{k}@contoso.com");
        t.users.push(User {
            id: id.clone(),
            display_name: format!("User {k}"),
            user_principal_name: upn.clone(),
            ..User::default()
        });
        upns.push(upn);
        let seed = ScheduleSeed {
            principal: id,
            role: roles[k % roles.len()].to_string(),
            scope: "/".into(),
            start: Some("2026-01-01T00:00:00Z".into()),
            end: (k % 3 == 0).then(|| "2030-01-01T00:00:00Z".to_string()),
            ..ScheduleSeed::default()
        };
        if k < eligible {
            t.eligibility_schedules.push(seed);
        } else {
            t.assignment_schedules.push(seed);
        }
    }
    (t, upns)
}
