//! `pim export`: an existing tenant written as configuration and state.

use super::args::*;
use super::*;
use crate::config;
use crate::model::ObjectId;

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
    if std::fs::read_dir(&args.out).is_ok_and(|mut d| {
        d.any(|e| {
            e.is_ok_and(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(config::FILE_SUFFIX)
                    || e.file_name() == "pim.state.json"
            })
        })
    }) {
        anyhow::bail!(
            "{} already holds configuration or state; export into an empty directory",
            args.out.display()
        );
    }
    let t = &source.tenant;
    let mut tenant_block: Vec<(String, String)> = Vec::new();
    let q = |s: &str| format!("{s:?}");
    if let Some(id) = &t.id {
        tenant_block.push(("id".into(), q(id)));
    }
    if let Some(e) = &t.emulator {
        tenant_block.push((
            "emulator".into(),
            q(&std::fs::canonicalize(e)
                .unwrap_or_else(|_| e.clone())
                .display()
                .to_string()),
        ));
    }
    for (k, v) in [
        ("graph_url", &t.graph_url),
        ("authority_host", &t.authority_host),
    ] {
        if let Some(v) = v {
            tenant_block.push((k.into(), q(v)));
        }
    }
    runtime()?.block_on(async {
        use crate::graph::Graph as _;
        let session = run::connect(
            &source,
            args.tenant.auth,
            args.tenant.parallelism.map(usize::from),
            true,
        )
        .await?;
        let mut current = crate::snapshot::read(
            session.graph.as_ref(),
            &crate::snapshot::ReadOptions::default(),
        )
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
        // Approvers are named like holders, so fetch any the snapshot did not need.
        let missing: Vec<ObjectId> = current
            .policies
            .values()
            .filter_map(|p| p.rules.approval())
            .flat_map(|a| {
                a.stages
                    .iter()
                    .flat_map(|s| s.primary_approvers.iter().map(|ap| ObjectId::new(ap.id())))
            })
            .filter(|id| !current.principals.contains_key(id))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            for p in session
                .graph
                .principals_by_ids(&missing)
                .await
                .map_err(|e| anyhow::anyhow!(e))?
            {
                current.principals.insert(p.id.clone(), p);
            }
        }
        let opts = crate::export::ExportOptions {
            roles: args.roles.clone(),
            all_policy_settings: args.all_policy_settings,
            tenant_block,
        };
        let out = crate::export::export(&current, &crate::graph::default_rule_set(), &opts);
        std::fs::create_dir_all(&args.out)?;
        for (name, text) in &out.files {
            std::fs::write(args.out.join(name), text)?;
        }
        crate::state::LocalBackend::new(args.out.join("pim.state.json")).save(&out.state)?;
        // An embedded emulator's tenant goes along, so the export manages the same tenant.
        let data = source.dir.join(".pim-emulator.json");
        if source.tenant.emulator.is_some() && data.exists() {
            std::fs::copy(&data, args.out.join(".pim-emulator.json"))?;
        }
        outln!(
            "Exported {} grants in {} files to {}. Check it with: pim plan -C {}",
            out.state.resources.len(),
            out.files.len(),
            args.out.display(),
            args.out.display()
        )?;
        Ok(Exit::Ok)
    })
}
