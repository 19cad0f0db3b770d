//! PIM for Groups read benchmark: a configuration governing 100 and 1,000
//! groups (one declared member each, three members held in the tenant),
//! planned against the in-process emulator with 20 ms latency per request.
//! Prints the requests the emulator served against their lower bound:
//!
//! - names: every user and group name once, 15 names to a `$filter=… in`
//!   and 20 of those to a `$batch`;
//! - groups: per group one eligibility list, one assignment list and one
//!   policy read (Graph lists a group's schedules only when asked for that
//!   group), 20 to a `$batch`;
//! - the directory roles' two lists, their role definitions, and the
//!   `getByIds` calls that name the holders (1,000 ids a call).
//!
//! `cargo run --release --example bench_groups [-- 100 1000]`

use std::time::Instant;

use pim::emulator::{Group, GroupScheduleSeed, Tenant, User};

const MEMBERS: usize = 3;

fn user_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

fn group_id(i: usize) -> String {
    format!("00000000-0000-4000-9000-{i:012x}")
}

/// `n` groups, each with `MEMBERS` eligible members of its own, and the
/// configuration that declares the first member of each.
fn tenant(n: usize) -> (Tenant, String) {
    let mut t = Tenant::empty();
    let mut config = String::new();
    for g in 0..n {
        t.groups.push(Group {
            id: group_id(g),
            display_name: format!("Group {g}"),
            ..Group::default()
        });
        for m in 0..MEMBERS {
            let u = g * MEMBERS + m;
            t.users.push(User {
                id: user_id(u),
                display_name: format!("User {u}"),
                user_principal_name: format!("user{u}@contoso.com"),
                ..User::default()
            });
            t.group_eligibility_schedules.push(GroupScheduleSeed {
                principal: user_id(u),
                group: group_id(g),
                access: "member".into(),
                start: Some("2026-11-01T00:00:00Z".into()),
                end: Some("2027-04-01T00:00:00Z".into()),
                created_using: Some(format!("00000000-0000-4000-a000-{u:012x}")),
                ..GroupScheduleSeed::default()
            });
        }
        config.push_str(&format!(
            "eligibility \"g{g}\" {{\n  principal = \"user:user{}@contoso.com\"\n  group = \"group:Group {g}\"\n  expires = \"2027-04-01T00:00:00Z\"\n}}\n",
            g * MEMBERS
        ));
    }
    (t, config)
}

#[path = "support/emulated.rs"]
mod emulated;
#[path = "support/memory.rs"]
mod memory;
use memory::peak_rss_mib;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = {
        let args: Vec<usize> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if args.is_empty() {
            vec![100, 1_000]
        } else {
            args
        }
    };
    println!(
        "{:>7} {:>9} {:>6} {:>6} {:>8} {:>9} {:>7}",
        "groups", "requests", "bound", "ratio", "wall_s", "peak_MiB", "grants"
    );
    for n in sizes {
        let (seed, config) = tenant(n);
        let (emu, graph) = emulated::start(seed).await?;
        let now = chrono::Utc::now();
        let desired = pim::config::load_sources(
            std::path::Path::new("."),
            vec![(std::path::PathBuf::from("groups.pim.hcl"), config)],
            &pim::config::LoadOptions::at(now),
        )
        .map_err(|e| e.diagnostics().to_string())?;
        let before = emulated::requests(&emu);
        let t0 = Instant::now();
        let (_, current) = pim::pipeline::read(&graph, &desired, now)
            .await
            .map_err(|e| e.to_string())?;
        let wall = t0.elapsed().as_secs_f64();
        let requests = emulated::requests(&emu) - before;
        // Names: n users and n groups looked up. Groups: three reads each.
        // Directory roles: two lists and the role definitions. The holders
        // not named by the lookups, by getByIds.
        let unnamed = n * (MEMBERS - 1);
        let lookups = 2 * n.div_ceil(15);
        let bound = lookups.div_ceil(20) + (3 * n).div_ceil(20) + 3 + unnamed.div_ceil(1000);
        println!(
            "{:>7} {:>9} {:>6} {:>6.2} {:>8.2} {:>9.1} {:>7}",
            n,
            requests,
            bound,
            requests as f64 / bound as f64,
            wall,
            peak_rss_mib(),
            current.grants.len()
        );
        if std::env::var_os("PIM_BENCH_ROUTES").is_some() {
            println!("{}", emu.stats()["byRoute"]);
        }
        drop(emu);
    }
    Ok(())
}
