//! Planning benchmark: 5,000 declared grants against a tenant of 50,000
//! schedules, as on a routine run: half of the declared grants are managed
//! already, a quarter exist but are not in state, a quarter are new, and a
//! few managed grants are no longer declared. Prints the time of the
//! configuration load, of the diff itself and the process's peak memory.
//!
//! cargo run --release --example bench_plan [-- DECLARED SCHEDULES]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use pim::config::{self, LoadOptions};
use pim::model::{
    Address, AssignmentKind, BlockKind, Expiration, PrincipalKind, PrincipalRef, builtin_roles,
};
use pim::plan::{self, Basis, PlanOptions, Resolved};
use pim::snapshot::{Current, Grant, MemberType, Principal};
use pim::state::{Resource, StateFile};

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

    // Declared grant i: i % 4 == 0 is new, 1 exists unmanaged, 2 and 3 are
    // managed; the tenant has many more, of which REMOVED were managed.
    const REMOVED: usize = 10;
    let mut state = StateFile::new("bench".into());
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
            .insert(PrincipalRef::User(upn.clone()), id.clone().into());
        principals.insert(
            id.clone().into(),
            Principal {
                id: id.into(),
                kind: PrincipalKind::User,
                display_name: upn.clone(),
                user_principal_name: Some(upn),
                app_id: None,
                is_assignable_to_role: None,
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
        if i < declared && i % 4 == 0 {
            continue;
        }
        let role = &roles[i % roles.len()].id;
        let managed = if i < declared {
            (i % 4 >= 2).then(|| Address::new(BlockKind::Eligibility, format!("g{i}")))
        } else {
            (i < declared + REMOVED)
                .then(|| Address::new(BlockKind::Eligibility, format!("gone{i}")))
        };
        if let Some(address) = managed {
            state.resources.push(Resource {
                surface: pim::model::SurfaceKind::DirectoryRole,
                address,
                kind: Some(AssignmentKind::Eligible),
                schedule_id: Some(format!("s{i}")),
                request_id: None,
                principal_id: format!("00000000-0000-4000-8000-{i:012}").into(),
                role_id: role.clone().into(),
                scope_id: "/".into(),
                attributes: serde_json::json!({ "duration": "P90D" }),
            });
        }
        current.grants.push(Grant {
            surface: pim::model::SurfaceKind::DirectoryRole,
            kind: AssignmentKind::Eligible,
            schedule_id: format!("s{i}"),
            principal_id: format!("00000000-0000-4000-8000-{i:012}").into(),
            role_id: role.clone().into(),
            scope_id: "/".into(),
            start: Some(now - Duration::days(10)),
            expiration: Expiration::At(now + Duration::days(80)),
            member_type: MemberType::Direct,
            active_type: None,
            created_using: None,
            created: None,
            status: "Provisioned".into(),
            condition: None,
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
        state_lineage: Some(state.lineage.clone()),
        state_serial: Some(state.serial),
        snapshot_fingerprint: String::new(),
        renew_within: None,
    };
    // The fastest of a few runs: other work on the machine only adds time.
    let mut runs = Vec::new();
    let mut p = None;
    for _ in 0..7 {
        let t = Instant::now();
        let made = plan::plan(
            &desired,
            &current,
            &resolved,
            Some(&state),
            basis.clone(),
            &PlanOptions::at(now),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        runs.push(t.elapsed());
        p = Some(made);
    }
    let p = p.expect("at least one run");
    runs.sort();
    let (diff, median) = (runs[0], runs[runs.len() / 2]);
    println!("declared grants:     {declared}");
    println!("tenant schedules:    {}", current.grants.len());
    println!("config load:         {:.1} ms", load.as_secs_f64() * 1e3);
    println!(
        "diff:                {:.1} ms  (goal: under 100 ms; median of {} runs {:.1} ms)",
        diff.as_secs_f64() * 1e3,
        runs.len(),
        median.as_secs_f64() * 1e3
    );
    println!(
        "changes:             {} ({} to create, {} to adopt, {} to remove), {} unchanged, {} unmanaged",
        p.changes.len(),
        p.summary.create,
        p.summary.adopt,
        p.summary.remove,
        p.summary.no_op,
        p.unmanaged.len()
    );
    println!(
        "peak memory:         {:.0} MB (goal: under 300 MB for the whole run)",
        peak_rss_mb()
    );
}
