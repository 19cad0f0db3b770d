//! Planning benchmark: 5,000 declared grants against a tenant of 50,000
//! schedules. Prints the time of the configuration load, of the diff itself
//! and the process's peak memory.
//!
//! cargo run --release --example bench_plan [-- DECLARED SCHEDULES]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use pim::config::{self, LoadOptions};
use pim::model::{AssignmentKind, Expiration, PrincipalKind, PrincipalRef, builtin_roles};
use pim::plan::{self, Basis, PlanOptions, Resolved};
use pim::snapshot::{Current, Grant, MemberType, Principal};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let declared: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let schedules: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let roles: Vec<_> = builtin_roles().iter().take(40).collect();

    // Half of the declared grants exist already; the tenant has many more.
    let mut hcl = String::new();
    let mut current = Current {
        tenant_id: "bench".into(),
        ..Current::default()
    };
    let mut resolved = Resolved::default();
    let mut principals = BTreeMap::new();
    for i in 0..schedules.max(declared) {
        let upn = format!("user{i:06}@contoso.com");
        let id = format!("00000000-0000-4000-8000-{i:012}");
        resolved
            .principals
            .insert(PrincipalRef::User(upn.clone()), id.clone());
        principals.insert(
            id.clone(),
            Principal {
                id,
                kind: PrincipalKind::User,
                display_name: upn.clone(),
                user_principal_name: Some(upn),
                app_id: None,
            },
        );
    }
    current.principals = principals;
    for i in 0..declared {
        let role = &roles[i % roles.len()].display_name;
        hcl.push_str(&format!(
            "eligibility \"g{i}\" {{\n  principal = \"user:user{i:06}@contoso.com\"\n  role = \"{role}\"\n  duration = \"P90D\"\n}}\n"
        ));
    }
    for i in 0..schedules {
        if i < declared && i % 2 == 1 {
            continue;
        }
        let role = &roles[i % roles.len()].id;
        current.grants.push(Grant {
            kind: AssignmentKind::Eligible,
            schedule_id: format!("s{i}"),
            principal_id: format!("00000000-0000-4000-8000-{i:012}"),
            role_id: role.clone(),
            scope_id: "/".into(),
            start: Some(now - Duration::days(10)),
            expiration: Expiration::At(now + Duration::days(80)),
            member_type: MemberType::Direct,
            active_type: None,
            created_using: None,
            created: None,
            status: "Provisioned".into(),
        });
    }

    let t = Instant::now();
    let desired = config::load_sources(
        Path::new("."),
        vec![(PathBuf::from("bench.pim.hcl"), hcl)],
        &LoadOptions::at(now),
    )
    .unwrap_or_else(|e| panic!("{}", e.diagnostics()));
    let load = t.elapsed();
    let basis = Basis {
        config_hash: desired.config_hash.clone(),
        state_lineage: None,
        state_serial: None,
        snapshot_fingerprint: String::new(),
    };
    let t = Instant::now();
    let p = plan::plan(
        &desired,
        &current,
        &resolved,
        None,
        basis,
        &PlanOptions::at(now),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let diff = t.elapsed();
    println!("declared grants:     {declared}");
    println!("tenant schedules:    {}", current.grants.len());
    println!("config load:         {:.1} ms", load.as_secs_f64() * 1e3);
    println!(
        "diff:                {:.1} ms  (goal: under 100 ms)",
        diff.as_secs_f64() * 1e3
    );
    println!(
        "changes:             {} ({} to create, {} to adopt), {} unmanaged",
        p.changes.len(),
        p.summary.create,
        p.summary.adopt,
        p.unmanaged.len()
    );
    println!(
        "peak memory:         {:.0} MB (goal: under 300 MB for the whole run)",
        peak_rss_mb()
    );
}
