//! The library's stages on their own: configuration, planning, apply
//! against a fake tenant, drift, baseline checks and the JSON schemas.

#[path = "support/mod.rs"]
mod support;

#[path = "apply.rs"]
mod apply;
#[path = "check.rs"]
mod check;
#[path = "config.rs"]
mod config;
#[path = "config_fuzz.rs"]
mod config_fuzz;
#[path = "drift.rs"]
mod drift;
#[path = "plan.rs"]
mod plan;
#[path = "plan_azure.rs"]
mod plan_azure;
#[path = "plan_groups.rs"]
mod plan_groups;
#[path = "plan_guards.rs"]
mod plan_guards;
#[path = "plan_render.rs"]
mod plan_render;
#[path = "schema.rs"]
mod schema;
