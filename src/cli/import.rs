//! `pim import`: take an existing schedule under management.

use super::args::*;
use super::state::parse_address;
use super::*;
use crate::config;
use crate::import::{self, ImportError};
use crate::model::Assignment;
use crate::state::{Backend, Lock};

pub(super) fn import_command(args: &ImportArgs) -> anyhow::Result<Exit> {
    let Some(desired) = load_config(&args.config) else {
        return Ok(Exit::Error);
    };
    let address = parse_address(&args.address)?;
    let declared = import::declared(&desired, &address)?;
    runtime()?.block_on(async {
        // The lock first: what is read of the tenant must not race an apply.
        let backend = run::backend(&desired, args.tenant.auth)?;
        let lock = backend.lock("import").await?;
        let result = import_locked(args, &desired, declared, backend.as_ref(), &lock).await;
        lock.release().await?;
        result
    })
}

async fn import_locked(
    args: &ImportArgs,
    desired: &config::Desired,
    declared: &config::Declared<Assignment>,
    backend: &dyn Backend,
    lock: &Lock,
) -> anyhow::Result<Exit> {
    let parallelism = args.tenant.parallelism.map(usize::from);
    let session = run::connect(desired, args.tenant.auth, parallelism, true).await?;
    let graph = session.graph.as_ref();
    match import::import(
        graph,
        desired,
        declared,
        &args.schedule_id,
        backend,
        lock,
        chrono::Utc::now(),
    )
    .await
    {
        Ok(imported) => {
            outln!("{}", crate::render::imported_line(&imported))?;
            Ok(Exit::Ok)
        }
        Err(ImportError::Read(e)) => match *e {
            PipelineError::Invalid(d) => {
                print_failure(&d, Format::Text)?;
                Ok(Exit::Error)
            }
            e => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}
