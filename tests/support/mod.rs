//! What the test binaries share, one module per concern: `common` (the
//! planner's small tenant), `apply_common` (an apply scenario against the
//! emulator), `graph_common` (an in-process emulator and a client signed in
//! to it), `hostile_common` (a Graph that misbehaves on purpose),
//! `cli_common` (running `pim` as a user would), `entra_common` (a token
//! endpoint and certificate authority for Azurite) and `http` (one request
//! read off a connection, for the hand-written servers). Each binary uses
//! some of them.
#![allow(dead_code)]

pub mod apply_common;
pub mod cli_common;
pub mod common;
pub mod entra_common;
pub mod graph_common;
pub mod hostile_common;
pub mod http;
