//! `pim` run as a user would: plan, apply, drift, check, self-service,
//! crashes, remote state on Azurite, and the CI files that run it.

#[path = "support/mod.rs"]
mod support;

#[path = "cli_apply.rs"]
mod cli_apply;
#[path = "cli_azure.rs"]
mod cli_azure;
#[path = "cli_check.rs"]
mod cli_check;
#[path = "cli_crash.rs"]
mod cli_crash;
#[path = "cli_drift.rs"]
mod cli_drift;
#[path = "cli_durations.rs"]
mod cli_durations;
#[path = "cli_export.rs"]
mod cli_export;
#[path = "cli_export_azure.rs"]
mod cli_export_azure;
#[path = "cli_plan.rs"]
mod cli_plan;
#[path = "cli_selfservice.rs"]
mod cli_selfservice;
#[path = "cli_workflows.rs"]
mod cli_workflows;
#[path = "state_azure.rs"]
mod state_azure;
