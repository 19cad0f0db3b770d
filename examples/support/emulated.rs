//! An in-process emulator answering every request 20 ms later, and a Graph
//! client signed in to it: what the read benchmarks measure against.

use std::sync::Arc;

use pim::emulator::{Emulator, EmulatorConfig, Faults, Tenant};
use pim::graph::{GraphSettings, HttpGraph, StaticToken};

/// Starts the emulator seeded with `seed` and returns it with a client.
pub async fn start(seed: Tenant) -> Result<(Emulator, HttpGraph), Box<dyn std::error::Error>> {
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        faults: Faults {
            latency_ms: 20,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await?;
    let settings = GraphSettings {
        graph_url: emu.graph_url(),
        tenant_id: Some(emu.tenant_id()),
        ca_pem: emu.ca_pem().map(str::to_string),
        ..GraphSettings::default()
    };
    let token = emu.mint_token("00000000-0000-0000-0000-0000000000aa", false);
    let graph = HttpGraph::with_token_source(settings, Arc::new(StaticToken(token)))?;
    Ok((emu, graph))
}

/// Requests the emulator has answered so far.
pub fn requests(emu: &Emulator) -> u64 {
    emu.stats()["total"].as_u64().unwrap_or(0)
}
