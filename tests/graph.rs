//! The Graph client, name resolution, the snapshot, apply and self-service
//! against the emulator in-process, and the client against hostile servers.

#[path = "support/mod.rs"]
mod support;

#[path = "apply_faults.rs"]
mod apply_faults;
#[path = "graph_batch.rs"]
mod graph_batch;
#[path = "graph_client.rs"]
mod graph_client;
#[path = "graph_groups.rs"]
mod graph_groups;
#[path = "graph_hostile.rs"]
mod graph_hostile;
#[path = "graph_resolve.rs"]
mod graph_resolve;
#[path = "graph_snapshot.rs"]
mod graph_snapshot;
#[path = "selfservice.rs"]
mod selfservice;
