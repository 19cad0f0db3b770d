//! `pim state`: list, show, forget and unlock what the state records.

use super::args::*;
use super::*;

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
                for r in run::load_state(&backend)
                    .await?
                    .map(|s| s.resources)
                    .unwrap_or_default()
                {
                    outln!("{}", shown(&r.address))?;
                }
            }
            StateCommand::Show { address, .. } => {
                let address = parse_address(address)?;
                let state = run::load_state(&backend)
                    .await?
                    .unwrap_or_else(|| crate::state::StateFile::new(String::new()));
                let r = state
                    .get(&address)
                    .ok_or_else(|| anyhow::anyhow!("{address} is not in the state"))?;
                outln!("{}", serde_json::to_string_pretty(r)?)?;
            }
            StateCommand::Rm { address, .. } => {
                let address = parse_address(address)?;
                let lock = run::lock(&backend, "state rm").await?;
                let result = async {
                    let mut state = run::load_state(&backend)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("there is no state yet"))?;
                    let before = state.resources.len();
                    state.resources.retain(|r| r.address != address);
                    if state.resources.len() == before {
                        anyhow::bail!("{address} is not in the state");
                    }
                    state.serial += 1;
                    run::save(&backend, &lock, &state).await?;
                    outln!(
                        "Removed {} from the state; the tenant was not changed.",
                        shown(&address)
                    )?;
                    Ok(())
                }
                .await;
                run::unlock(lock).await?;
                result?;
            }
            StateCommand::Unlock { id, .. } => {
                let info = backend.force_unlock(id).await?;
                outln!("Broke the lock held by {info}.")?;
            }
        }
        Ok(Exit::Ok)
    })
}
