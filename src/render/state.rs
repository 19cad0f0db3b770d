//! What the commands that change state outside a plan report: `pim state`,
//! `pim import`, `pim export`, and the upkeep `pim apply` writes down.

use std::path::Path;

use super::escape;
use crate::export::Export;
use crate::model::Address;
use crate::plan::Upkeep;
use crate::state::{LockInfo, Resource, StateFile};

fn shown(x: &impl std::fmt::Display) -> String {
    escape::text(&x.to_string()).into_owned()
}

/// Every address the state records, one a line; nothing when there is no
/// state yet.
pub fn state_list(state: Option<&StateFile>) -> String {
    let mut out = String::new();
    for r in state.map(|s| s.resources.as_slice()).unwrap_or_default() {
        out.push_str(&shown(&r.address));
        out.push('\n');
    }
    out
}

/// One resource of the state, as JSON.
pub fn resource_json(r: &Resource) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(r)
}

pub fn forgotten_line(address: &Address) -> String {
    format!(
        "Removed {} from the state; the tenant was not changed.",
        shown(address)
    )
}

pub fn lock_broken_line(info: &LockInfo) -> String {
    format!("Broke the lock held by {info}.")
}

pub fn imported_line(r: &Resource) -> String {
    format!(
        "Imported {} as {}.",
        escape::text(r.schedule_id.as_deref().unwrap_or_default()),
        shown(&r.address)
    )
}

/// What upkeep wrote down, one line each, without a final line break.
pub fn upkeep_text(upkeep: &Upkeep) -> String {
    let forgotten = upkeep.forget.iter().map(|a| {
        format!(
            "{}: forgotten (no longer declared, and nothing of it left to manage)",
            shown(a)
        )
    });
    let recorded = upkeep.record.iter().map(|r| {
        format!(
            "{}: recorded (the tenant has it as declared)",
            shown(&r.address)
        )
    });
    let reissued = upkeep.reissued.iter().map(|r| {
        format!(
            "{}: recorded under schedule {} (Graph gave the grant a new id{})",
            shown(&r.address),
            escape::text(&r.schedule_id),
            r.was
                .as_deref()
                .map(|w| format!("; it was {}", escape::text(w)))
                .unwrap_or_default()
        )
    });
    let seen = upkeep.acknowledged.iter().map(|a| {
        format!(
            "drift: {} the tenant has now recorded as known; pim drift reports what changes from here",
            match a.len() {
                1 => "1 holder".to_string(),
                n => format!("{n} holders"),
            }
        )
    });
    forgotten
        .chain(recorded)
        .chain(reissued)
        .chain(seen)
        .collect::<Vec<_>>()
        .join("\n")
}

/// What an export wrote, and how to check it.
pub fn exported_line(out: &Export, dir: &Path) -> String {
    format!(
        "Exported {} grants in {} files to {}. Check it with: pim plan -C {}",
        out.state.resources.len(),
        out.files.len(),
        dir.display(),
        dir.display()
    )
}
