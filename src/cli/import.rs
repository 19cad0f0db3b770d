//! `pim import`: take an existing schedule under management.

use super::args::*;
use super::state::parse_address;
use super::*;
use crate::config;
use crate::pipeline::{self, PipelineError};
use crate::state::{Backend, Lock, StateFile};

pub(super) fn import_command(args: &ImportArgs) -> anyhow::Result<Exit> {
    let Some(desired) = load_config(&args.config) else {
        return Ok(Exit::Error);
    };
    let address = parse_address(&args.address)?;
    let declared = desired
        .eligibilities
        .iter()
        .chain(&desired.assignments)
        .find(|d| d.address == address)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{address} is not declared in {}; declare it first",
                args.config.dir.display()
            )
        })?;
    runtime()?.block_on(async {
        // The lock first: what is read of the tenant must not race an apply.
        let backend = run::backend(&desired, args.tenant.auth)?;
        let lock = backend.lock("import").await?;
        let result = import_locked(args, &desired, declared, backend.as_ref(), &lock).await;
        lock.release().await?;
        result
    })
}

pub(super) async fn import_locked(
    args: &ImportArgs,
    desired: &config::Desired,
    declared: &config::Declared<crate::model::Assignment>,
    backend: &dyn Backend,
    lock: &Lock,
) -> anyhow::Result<Exit> {
    let address = &declared.address;
    let parallelism = args.tenant.parallelism.map(usize::from);
    let session = run::connect(desired, args.tenant.auth, parallelism, true).await?;
    let (resolved, current) = match pipeline::read(session.graph.as_ref(), desired).await {
        Ok(x) => x,
        Err(PipelineError::Invalid(d)) => {
            print_failure(&d, Format::Text)?;
            return Ok(Exit::Error);
        }
        Err(e) => return Err(e.into()),
    };
    let grant = current
        .grants
        .iter()
        .find(|g| g.schedule_id.eq_ignore_ascii_case(&args.schedule_id))
        .ok_or_else(|| anyhow::anyhow!("the tenant has no schedule {}", args.schedule_id))?;
    let a = &declared.item;
    let want = (
        a.kind,
        resolved
            .principal(&a.principal)
            .map(|p| p.to_ascii_lowercase()),
        resolved.role(&a.role).map(|r| r.to_ascii_lowercase()),
        resolved.scope(&a.scope),
    );
    let have = (
        grant.kind,
        Some(grant.principal_id.to_ascii_lowercase()),
        Some(grant.role_id.to_ascii_lowercase()),
        Some(grant.scope_id.clone()),
    );
    if want != have {
        anyhow::bail!(
            "schedule {} is not what {address} declares (kind, principal, role and scope must match)",
            grant.schedule_id
        );
    }
    let mut state = backend.load().await?.unwrap_or_else(StateFile::new_lineage);
    if state.get(address).is_some() {
        anyhow::bail!("{address} is already managed; remove it with pim state rm first");
    }
    state.resources.push(crate::state::Resource {
        address: address.clone(),
        kind: Some(grant.kind),
        schedule_id: Some(grant.schedule_id.clone()),
        request_id: grant.created_using.clone(),
        principal_id: grant.principal_id.clone(),
        role_id: grant.role_id.clone(),
        scope_id: grant.scope_id.clone(),
        attributes: serde_json::json!({ "imported": true }),
    });
    state.resources.sort_by_key(|r| r.address.to_string());
    state.serial += 1;
    backend.save(lock, &state).await?;
    outln!(
        "Imported {} as {}.",
        escape::text(&grant.schedule_id),
        shown(address)
    )?;
    Ok(Exit::Ok)
}
