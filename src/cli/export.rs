//! `pim export`: an existing tenant written as configuration and state.

use super::args::*;
use super::*;
use crate::config;
use crate::export::{self, ExportOptions};

pub(super) fn export_command(args: &ExportArgs) -> anyhow::Result<Exit> {
    let source = match &args.from {
        Some(dir) => match load_config(&ConfigArgs {
            dir: dir.clone(),
            vars: Vec::new(),
            var_files: Vec::new(),
        }) {
            Some(d) => d,
            None => return Ok(Exit::Error),
        },
        None => config::load_sources(
            &args.out,
            vec![(args.out.join("export.pim.hcl"), String::new())],
            &LoadOptions::at(chrono::Utc::now()),
        )
        .map_err(|e| anyhow::anyhow!("{}", e.diagnostics()))?,
    };
    export::ensure_empty(&args.out, source.tenant.emulator.as_deref())?;
    let azure = export::azure_interest(&source, &args.azure_scopes)?;
    let opts = ExportOptions {
        roles: args.roles.clone(),
        all_policy_settings: args.all_policy_settings,
        durations: args.durations,
        tenant_block: export::tenant_block(&source.tenant),
        tier0_roles: source
            .tenant
            .tier0_roles
            .as_ref()
            .map(|roles| roles.iter().map(ToString::to_string).collect()),
        now: chrono::Utc::now(),
        azure,
    };
    runtime()?.block_on(async {
        let session = run::connect(
            &source,
            args.tenant.auth,
            args.tenant.parallelism.map(usize::from),
            true,
        )
        .await?;
        let out = export::export_to(session.graph.as_ref(), &opts, &args.out).await?;
        run::copy_emulated_tenant(&source, &args.out)?;
        export::copy_seed(&source.tenant, &args.out)?;
        outln!("{}", crate::render::exported_line(&out, &args.out))?;
        Ok(Exit::Ok)
    })
}
