//! `pim` run as a user would: plan, apply, self-service, crashes, and
//! remote state on Azurite.

#[path = "apply_common/mod.rs"]
mod apply_common;
#[path = "cli_common/mod.rs"]
mod cli_common;
#[path = "entra_common/mod.rs"]
mod entra_common;

#[path = "cli_apply.rs"]
mod cli_apply;
#[path = "cli_crash.rs"]
mod cli_crash;
#[path = "cli_plan.rs"]
mod cli_plan;
#[path = "cli_selfservice.rs"]
mod cli_selfservice;
#[path = "state_azure.rs"]
mod state_azure;
