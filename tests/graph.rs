//! The Graph client, name resolution, the snapshot, apply and self-service
//! against the emulator in-process, the client against hostile servers, and
//! the ARM client (`arm_client`) against the emulator's ARM endpoints.

#[path = "support/mod.rs"]
mod support;

#[path = "apply_faults.rs"]
mod apply_faults;
#[path = "arm_client.rs"]
mod arm_client;
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
