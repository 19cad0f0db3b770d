//! Azure resource role read benchmark: a configuration governing 10
//! subscriptions with 100 eligible grants each (Reader, one user a grant,
//! all declared as they are), planned against the in-process emulator with
//! 20 ms latency per request. Prints the ARM requests of the read against
//! their lower bound and the wall time of the whole plan:
//!
//! - per subscription, the eligibility and the assignment schedules listed
//!   with `atScope()` (the emulator pages ARM lists at 100, so one page
//!   each), and the Reader policy found through its policy assignment and
//!   read (two calls: ARM has no `$expand` of the policy);
//! - the Graph side (names, directory roles) is printed apart.
//!
//! `cargo run --release --example bench_azure [-- SUBSCRIPTIONS GRANTS_EACH]`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use pim::arm::{ArmSettings, HttpArm};
use pim::emulator::{AzureScheduleSeed, AzureSeed, SubscriptionSeed, Tenant, User};
use pim::graph::StaticToken;

#[path = "support/emulated.rs"]
mod emulated;
#[path = "support/memory.rs"]
mod memory;
use memory::peak_rss_mib;

const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
/// The emulator's ARM page size.
const PAGE: usize = 100;

fn user_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

fn sub_id(i: usize) -> String {
    format!("00000000-0000-4000-b000-{i:012x}")
}

/// `subs` subscriptions, `each` users eligible for Reader on every one,
/// and the configuration declaring every grant as it is.
fn tenant(subs: usize, each: usize) -> (Tenant, String) {
    let mut t = Tenant::empty();
    let mut azure = AzureSeed::default();
    let mut config = String::new();
    for u in 0..each {
        t.users.push(User {
            id: user_id(u),
            display_name: format!("User {u}"),
            user_principal_name: format!("user{u}@contoso.com"),
            ..User::default()
        });
    }
    for s in 0..subs {
        azure.subscriptions.push(SubscriptionSeed {
            id: sub_id(s),
            display_name: format!("Subscription {s}"),
            management_group: None,
        });
        for u in 0..each {
            azure.eligibility_schedules.push(AzureScheduleSeed {
                principal: user_id(u),
                role: READER.into(),
                scope: format!("/subscriptions/{}", sub_id(s)),
                start: Some("2026-11-01T00:00:00Z".into()),
                end: Some("2027-04-01T00:00:00Z".into()),
                ..AzureScheduleSeed::default()
            });
            config.push_str(&format!(
                "eligibility \"s{s}_u{u}\" {{\n  principal = \"user:user{u}@contoso.com\"\n  azure_role = \"Reader\"\n  scope = \"/subscriptions/{}\"\n  expires = \"2027-04-01T00:00:00Z\"\n}}\n",
                sub_id(s)
            ));
        }
    }
    t.azure = Some(azure);
    (t, config)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let subs = args.first().copied().unwrap_or(10);
    let each = args.get(1).copied().unwrap_or(100);
    let (seed, config) = tenant(subs, each);
    let (emu, graph) = emulated::start(seed).await?;
    let settings = pim::graph::GraphSettings {
        graph_url: emu.graph_url(),
        ca_pem: emu.ca_pem().map(str::to_string),
        ..pim::graph::GraphSettings::default()
    };
    let arm_settings = ArmSettings::for_emulator(&settings, &HashMap::new())?;
    let token = emu.mint_arm_token("00000000-0000-0000-0000-0000000000aa", false);
    let arm = Arc::new(HttpArm::with_token_source(
        arm_settings,
        Arc::new(StaticToken(token)),
    )?);
    let graph = graph.with_arm(arm.clone());
    let now = chrono::Utc::now();
    let desired = pim::config::load_sources(
        std::path::Path::new("."),
        vec![(std::path::PathBuf::from("azure.pim.hcl"), config)],
        &pim::config::LoadOptions::at(now),
    )
    .map_err(|e| e.diagnostics().to_string())?;
    let backend = pim::state::LocalBackend::new(
        std::env::temp_dir().join(format!("pim-bench-azure-{}.state.json", std::process::id())),
    );
    let before = emulated::requests(&emu);
    let t0 = Instant::now();
    let planned =
        pim::pipeline::make_plan(&graph, &desired, &backend, &pim::plan::PlanOptions::at(now))
            .await
            .map_err(|e| e.to_string())?;
    let wall = t0.elapsed().as_secs_f64();
    let all = emulated::requests(&emu) - before;
    let arm_requests = arm.stats().requests();
    let bound = subs * (2 * each.div_ceil(PAGE).max(1) + 2);
    println!(
        "{:>5} {:>7} {:>8} {:>6} {:>6} {:>9} {:>8} {:>9} {:>7}",
        "subs", "grants", "arm_req", "bound", "ratio", "graph_req", "wall_s", "peak_MiB", "adopts"
    );
    println!(
        "{:>5} {:>7} {:>8} {:>6} {:>6.2} {:>9} {:>8.2} {:>9.1} {:>7}",
        subs,
        subs * each,
        arm_requests,
        bound,
        arm_requests as f64 / bound as f64,
        all.saturating_sub(arm_requests),
        wall,
        peak_rss_mib(),
        planned.plan.summary.adopt
    );
    Ok(())
}
