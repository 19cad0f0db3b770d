//! The state file: what pim manages, by address, with the Graph ids and the
//! attributes last applied. This module owns the format and its edits by
//! address; where the file lives (local disk, Azure Blob) and how it is
//! locked are [`Backend`]s.

mod azure;
mod edit;
mod local;

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use azure::{
    AzureAuth, AzureBackend, AzureError, AzureLock, AzureSettings, LeaseTiming, STORAGE_SCOPE,
    Secret,
};
pub use edit::{ResourceError, adopt, forget, resource};
pub use local::{LocalBackend, LocalLock, LockInfo};

use crate::config::StateSettings;
use crate::model::{Address, AssignmentKind, ObjectId, SurfaceKind};

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
    #[error(
        "local state is locked by the operating system and freed when pim exits; there is \
         nothing to break"
    )]
    NothingToBreak,
    #[error(transparent)]
    Azure(#[from] AzureError),
}

/// Where the state lives and how it is locked: what the commands hold,
/// whichever backend the `state` block names.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Where the state is, for messages: a path or a blob URL.
    fn describe(&self) -> String;

    /// Reads the state; `None` when there is none yet.
    async fn load(&self) -> Result<Option<StateFile>, StateError>;

    /// Takes the lock for the whole run, or fails at once naming the holder.
    async fn lock(&self, operation: &str) -> Result<Lock, StateError>;

    /// Writes the state under `lock`, which this backend gave.
    async fn save(&self, lock: &Lock, state: &StateFile) -> Result<(), StateError>;

    /// Breaks a lock whose holder is gone, given the id the lock error
    /// named; returns who held it.
    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError>;
}

/// A shared backend is one, so commands can pass theirs on as it is.
#[async_trait]
impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn describe(&self) -> String {
        (**self).describe()
    }

    async fn load(&self) -> Result<Option<StateFile>, StateError> {
        (**self).load().await
    }

    async fn lock(&self, operation: &str) -> Result<Lock, StateError> {
        (**self).lock(operation).await
    }

    async fn save(&self, lock: &Lock, state: &StateFile) -> Result<(), StateError> {
        (**self).save(lock, state).await
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        (**self).force_unlock(id).await
    }
}

/// A lock as its backend holds it, inside a [`Lock`].
#[async_trait]
pub trait HeldLock: Any + Send + Sync {
    fn info(&self) -> &LockInfo;

    async fn release(self: Box<Self>) -> Result<(), StateError>;
}

/// A held lock on the state, released by [`Lock::release`] or, less
/// gracefully, when dropped.
pub struct Lock(Box<dyn HeldLock>);

impl Lock {
    pub fn new(held: impl HeldLock) -> Self {
        Lock(Box::new(held))
    }

    /// Who holds it: this process.
    pub fn info(&self) -> &LockInfo {
        self.0.info()
    }

    pub async fn release(self) -> Result<(), StateError> {
        self.0.release().await
    }

    /// The backend's own kind of lock, for its `save` to use.
    pub fn downcast_ref<T: HeldLock>(&self) -> Option<&T> {
        let held: &dyn Any = self.0.as_ref();
        held.downcast_ref()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lock").field(self.info()).finish()
    }
}

/// What opening a backend takes besides the `state` block.
#[derive(Clone, Default)]
pub struct OpenOptions {
    /// The environment, as a map: where Blob state finds its key
    /// (`AZURE_STORAGE_KEY`, `ARM_ACCESS_KEY`), SAS token
    /// (`AZURE_STORAGE_SAS_TOKEN`) and `PIM_STORAGE_ENDPOINT`.
    pub env: HashMap<String, String>,
    /// Entra ID sign-in for Blob state, used when neither a key nor a SAS
    /// token is set.
    pub sign_in: Option<Arc<dyn crate::graph::TokenSource>>,
    /// A PEM file of extra trusted roots for the Blob endpoint.
    pub ca_cert: Option<PathBuf>,
}

/// The backend the `state` block names.
pub fn open(
    settings: &StateSettings,
    options: OpenOptions,
) -> Result<Arc<dyn Backend>, StateError> {
    Ok(match settings {
        StateSettings::Local { path } => Arc::new(LocalBackend::new(path.clone())),
        StateSettings::AzureRm {
            account,
            container,
            blob,
            endpoint,
        } => {
            let mut settings = AzureSettings::from_vars(
                account,
                container,
                blob,
                endpoint.clone(),
                options.sign_in,
                &options.env,
            )?;
            if let Some(path) = options.ca_cert {
                let pem = std::fs::read_to_string(&path)
                    .map_err(|source| StateError::Io { path, source })?;
                settings.ca_pem = Some(pem);
            }
            Arc::new(AzureBackend::new(settings)?)
        }
    })
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

/// The largest serial a state may have: 2^53 - 1, the largest integer every
/// JSON reader holds exactly.
const MAX_SERIAL: u64 = (1 << 53) - 1;

/// One managed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub address: Address,
    #[serde(default, skip_serializing_if = "SurfaceKind::is_directory_role")]
    pub surface: SurfaceKind,
    /// `None` for policy resources.
    pub kind: Option<AssignmentKind>,
    /// Graph ids, for grants: the schedule and the request that made it.
    pub schedule_id: Option<String>,
    pub request_id: Option<String>,
    pub principal_id: ObjectId,
    pub role_id: ObjectId,
    pub scope_id: String,
    /// What was last applied, for drift reports.
    #[serde(default)]
    pub attributes: serde_json::Value,
}

impl Resource {
    /// A grant of the tenant pim takes on as `address` (an import or an
    /// export), with its end as the tenant has it beside `attributes`, so
    /// that drift tells a later change by.
    pub fn of_grant(
        address: Address,
        grant: &crate::snapshot::Grant,
        mut attributes: serde_json::Value,
    ) -> Resource {
        attributes["end"] = serde_json::json!(grant.end());
        Resource {
            surface: grant.surface,
            address,
            kind: Some(grant.kind),
            schedule_id: Some(grant.schedule_id.clone()),
            request_id: grant.created_using.clone(),
            principal_id: grant.principal_id.clone(),
            role_id: grant.role_id.clone(),
            scope_id: grant.scope_id.clone(),
            attributes,
        }
    }

    /// The end pim recorded for a grant when it last applied it:
    /// `Some(None)` when permanent; `None` when the state does not say (a
    /// state an older pim wrote).
    pub fn applied_end(&self) -> Option<Option<chrono::DateTime<chrono::Utc>>> {
        match self.attributes.get("end")? {
            serde_json::Value::Null => Some(None),
            serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| Some(t.with_timezone(&chrono::Utc))),
            _ => None,
        }
    }

    /// A policy pim manages, with the settings last applied to it.
    pub fn policy(
        address: Address,
        key: &crate::snapshot::PolicyKey,
        policy_id: &str,
        settings: impl IntoIterator<Item = (String, String)>,
    ) -> Resource {
        Resource {
            surface: key.surface,
            address,
            kind: None,
            schedule_id: None,
            request_id: None,
            principal_id: ObjectId::default(),
            role_id: key.role_id.clone(),
            scope_id: key.scope_id.clone(),
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
    /// Drift findings that are not news: holders the tenant had when pim
    /// last applied, and findings acknowledged since (`pim drift
    /// --acknowledge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledged: Vec<Acknowledged>,
}

/// One drift finding pim need not report as new again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    /// The finding's key: what it grants or changed, never a display name.
    pub finding: String,
    /// How the finding read, for whoever reads the state.
    pub what: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub by: AcknowledgedBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcknowledgedBy {
    /// Held when pim last applied.
    Apply,
    /// `pim drift --acknowledge`.
    Acknowledge,
}

impl StateFile {
    pub fn new(lineage: String) -> Self {
        StateFile {
            version: STATE_VERSION,
            serial: 0,
            lineage,
            resources: Vec::new(),
            acknowledged: Vec::new(),
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
        // pim bumps the serial once per write: one beyond what JSON readers
        // hold exactly was not written by it, and would wrap.
        if s.serial > MAX_SERIAL {
            return Err(format!("serial {} is beyond any pim wrote", s.serial));
        }
        if s.lineage.trim().is_empty() {
            return Err("it has no lineage".into());
        }
        let mut seen = std::collections::HashSet::with_capacity(s.resources.len());
        if let Some(r) = s.resources.iter().find(|r| !seen.insert(&r.address)) {
            return Err(format!("{} is recorded twice", r.address));
        }
        Ok(s)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// Whether a grant's end is the one pim recorded (`Resource::applied_end`):
/// within two minutes, since Graph moves a start in the past to the time it
/// processed the request.
pub fn same_end(
    a: Option<chrono::DateTime<chrono::Utc>>,
    b: Option<chrono::DateTime<chrono::Utc>>,
) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).num_seconds().abs() <= 120,
        _ => false,
    }
}

/// Whether a value state recorded as last applied (a grant's `duration`, a
/// rule setting's value) says what `value` says. Durations are lengths, as
/// Graph stores them, so `PT24H` is `P1D`; and a duration in years, months or
/// weeks that an earlier pim recorded reads as the days pim now asks for
/// (`P1Y` as `P365D`), so following that advice is not a change. Anything
/// else compares by its text.
pub fn same_recorded(recorded: &str, value: &str) -> bool {
    use crate::model::IsoDuration;
    recorded == value
        || matches!(
            (IsoDuration::parse_recorded(recorded), IsoDuration::parse_recorded(value)),
            (Ok(a), Ok(b)) if a == b
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_compare_durations_by_length() {
        for (recorded, value) in [
            ("PT24H", "P1D"),
            ("PT90M", "PT1H30M"),
            ("P1Y", "P365D"),
            ("P2W", "P14D"),
            ("permanent", "permanent"),
            ("true", "true"),
        ] {
            assert!(same_recorded(recorded, value), "{recorded} {value}");
        }
        for (recorded, value) in [
            ("PT24H", "P2D"),
            ("P1Y", "P366D"),
            ("permanent", "P90D"),
            ("2027-01-01T00:00:00Z", "P90D"),
            ("true", "false"),
        ] {
            assert!(!same_recorded(recorded, value), "{recorded} {value}");
        }
    }

    fn with(f: impl FnOnce(&mut serde_json::Value)) -> Result<StateFile, String> {
        let mut v = serde_json::json!({
            "version": STATE_VERSION,
            "serial": 3,
            "lineage": "7d1c",
            "resources": [
                {"address": "eligibility.a", "kind": "eligible", "schedule_id": "s1", "request_id": null,
                 "principal_id": "p", "role_id": "r", "scope_id": "/"},
                {"address": "eligibility.b", "kind": "eligible", "schedule_id": "s2", "request_id": null,
                 "principal_id": "p", "role_id": "r", "scope_id": "/"}
            ]
        });
        f(&mut v);
        StateFile::from_json(&serde_json::to_vec(&v).unwrap())
    }

    #[tokio::test]
    async fn open_gives_the_backend_the_block_names_behind_one_trait() {
        let dir = std::env::temp_dir().join(format!("pim-state-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pim.state.json");
        let local = open(
            &StateSettings::Local { path: path.clone() },
            OpenOptions::default(),
        )
        .unwrap();
        assert_eq!(local.describe(), path.display().to_string());
        let lock = local.lock("apply").await.unwrap();
        assert_eq!(lock.info().operation, "apply");
        local
            .save(&lock, &StateFile::new("l".into()))
            .await
            .unwrap();
        assert_eq!(local.load().await.unwrap().unwrap().lineage, "l");
        let err = local.force_unlock(&lock.info().id).await.unwrap_err();
        assert!(err.to_string().contains("nothing to break"), "{err}");
        lock.release().await.unwrap();
        assert!(!dir.join("pim.state.json.lock").exists(), "released");

        // The Azure backend writes only under its own lease.
        let mut settings = AzureSettings::new(
            "devstoreaccount1",
            "pim",
            "pim.state.json",
            AzureAuth::Sas(Secret::new("sv=1&sig=x")),
        );
        settings.endpoint = Some("http://127.0.0.1:1/devstoreaccount1".into());
        let azure: Arc<dyn Backend> = Arc::new(AzureBackend::new(settings).unwrap());
        let foreign = local.lock("apply").await.unwrap();
        let err = azure.save(&foreign, &StateFile::new("l".into())).await;
        assert!(err.unwrap_err().to_string().contains("lease"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn states_pim_never_writes_are_refused() {
        assert!(with(|_| {}).is_ok());
        let max = with(|v| v["serial"] = u64::MAX.into()).unwrap_err();
        assert!(max.contains("beyond any pim wrote"), "{max}");
        assert!(with(|v| v["serial"] = MAX_SERIAL.into()).is_ok());
        let empty = with(|v| v["lineage"] = " ".into()).unwrap_err();
        assert_eq!(empty, "it has no lineage");
        let twice = with(|v| v["resources"][1]["address"] = "eligibility.a".into()).unwrap_err();
        assert_eq!(twice, "eligibility.a is recorded twice");
    }
}
