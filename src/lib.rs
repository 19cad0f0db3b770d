//! pim: Microsoft Entra ID Privileged Identity Management as code.
//!
//! The crate is a pipeline of stages, one module each (see README):
//! configuration is loaded into `Desired`, compared with the tenant and the
//! state, and the resulting plan is applied through Microsoft Graph. The
//! domain (`model`) and the Graph emulator (`emulator`, a default feature)
//! are crates of their own, re-exported here under those names.

pub mod apply;
pub mod arm;
pub mod check;
pub mod cli;
pub mod config;
pub mod drift;
#[cfg(feature = "emulator")]
pub use pim_emulator as emulator;
pub mod export;
pub mod graph;
pub mod import;
pub use pim_model as model;
pub mod pipeline;
pub mod plan;
pub mod render;
pub mod selfservice;
pub mod snapshot;
pub mod state;
pub mod surface;
