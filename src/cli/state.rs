//! `pim state`: list, show, forget and unlock what the state records.

use super::args::*;
use super::*;
use crate::state;

pub(super) fn parse_address(text: &str) -> anyhow::Result<crate::model::Address> {
    crate::model::Address::parse(text).ok_or_else(|| {
        anyhow::anyhow!("{text:?} is not an address; write eligibility.NAME, assignment.NAME[\"KEY\"] or policy[\"ROLE\"]")
    })
}

pub(super) fn state_command(
    cmd: StateCommand,
    auth: crate::graph::AuthMethod,
) -> anyhow::Result<Exit> {
    let config = match &cmd {
        StateCommand::List(c) => c,
        StateCommand::Show { config, .. }
        | StateCommand::Rm { config, .. }
        | StateCommand::Unlock { config, .. } => config,
    };
    let Some(desired) = load_config(config) else {
        return Ok(Exit::Error);
    };
    runtime()?.block_on(async {
        let backend = run::backend(&desired, auth)?;
        match &cmd {
            StateCommand::List(_) => {
                let state = backend.load().await?;
                out!("{}", crate::render::state_list(state.as_ref()))?;
            }
            StateCommand::Show { address, .. } => {
                let address = parse_address(address)?;
                let r = state::resource(backend.as_ref(), &address).await?;
                outln!("{}", crate::render::resource_json(&r)?)?;
            }
            StateCommand::Rm { address, .. } => {
                let address = parse_address(address)?;
                let lock = backend.lock("state rm").await?;
                let result = async {
                    state::forget(backend.as_ref(), &lock, &address).await?;
                    outln!("{}", crate::render::forgotten_line(&address))
                }
                .await;
                lock.release().await?;
                result?;
            }
            StateCommand::Unlock { id, .. } => {
                let info = backend.force_unlock(id).await?;
                outln!("{}", crate::render::lock_broken_line(&info))?;
            }
        }
        Ok(Exit::Ok)
    })
}
