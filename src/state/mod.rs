//! The state file: what pim manages, by address, with the Graph ids and the
//! attributes last applied. This module owns the format; where the file
//! lives (local disk, Azure Blob) and how it is locked are its backends.

mod azure;
mod local;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use azure::{
    AzureAuth, AzureBackend, AzureError, AzureLock, AzureSettings, BoxError, LeaseTiming,
    STORAGE_SCOPE, Secret, TokenFuture, TokenSource,
};
pub use local::{LocalBackend, LocalLock, LockInfo};

use crate::model::{Address, AssignmentKind};

/// Why state could not be read, written or locked.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid pim state file: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("the state {path} is locked by {}", holder.as_deref().unwrap_or("another pim process"))]
    Locked {
        path: PathBuf,
        holder: Option<String>,
    },
    #[error(transparent)]
    Azure(#[from] AzureError),
}

/// Who takes a lock, as `user@host`, for whoever finds the state locked.
pub(crate) fn owner() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// The version of the state format this build writes.
pub const STATE_VERSION: u32 = 1;

/// One managed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub address: Address,
    /// `None` for policy resources.
    pub kind: Option<AssignmentKind>,
    /// Graph ids, for grants: the schedule and the request that made it.
    pub schedule_id: Option<String>,
    pub request_id: Option<String>,
    pub principal_id: String,
    pub role_id: String,
    pub scope_id: String,
    /// What was last applied, for drift reports.
    #[serde(default)]
    pub attributes: serde_json::Value,
}

impl Resource {
    /// A policy pim manages, with the settings last applied to it.
    pub fn policy(
        address: Address,
        role_id: &str,
        policy_id: &str,
        settings: impl IntoIterator<Item = (String, String)>,
    ) -> Resource {
        Resource {
            address,
            kind: None,
            schedule_id: None,
            request_id: None,
            principal_id: String::new(),
            role_id: role_id.to_string(),
            scope_id: "/".into(),
            attributes: serde_json::json!({
                "policy_id": policy_id,
                "settings": settings
                    .into_iter()
                    .map(|(setting, value)| serde_json::json!({ "setting": setting, "value": value }))
                    .collect::<Vec<_>>(),
            }),
        }
    }
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    /// Bumped on every write.
    pub serial: u64,
    /// Fixed when the state is created; a plan made against another lineage
    /// is refused.
    pub lineage: String,
    pub resources: Vec<Resource>,
}

impl StateFile {
    pub fn new(lineage: String) -> Self {
        StateFile {
            version: STATE_VERSION,
            serial: 0,
            lineage,
            resources: Vec::new(),
        }
    }

    pub fn get(&self, address: &Address) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.address == address)
    }

    /// Parses a state file, refusing versions this build does not know.
    pub fn from_json(bytes: &[u8]) -> Result<StateFile, String> {
        let s: StateFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if s.version != STATE_VERSION {
            return Err(format!(
                "state format {} is not supported (this pim writes {STATE_VERSION})",
                s.version
            ));
        }
        Ok(s)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}
