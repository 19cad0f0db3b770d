//! pim: Microsoft Entra ID Privileged Identity Management as code.
//!
//! The crate is a pipeline of stages, one module each (see README):
//! configuration is loaded into `Desired`, compared with the tenant and the
//! state, and the resulting plan is applied through Microsoft Graph.

pub mod apply;
pub mod check;
pub mod cli;
pub mod config;
pub mod drift;
pub mod emulator;
pub mod export;
pub mod graph;
pub mod model;
pub mod plan;
pub mod render;
pub mod selfservice;
pub mod snapshot;
pub mod state;
