//! The backend: the state JSON in one block blob. Every write carries the
//! lease id and the ETag pim last saw, so a writer that lost its lease, or
//! raced another, fails instead of overwriting.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};

use super::AzureError;
use super::client::{Blob, BlobRequest, etag};
use super::lease::{AzureLock, LOCK_METADATA, encode_info};
use super::settings::{AzureSettings, LeaseTiming};
use crate::state::{Backend, HeldLock, Lock, LockInfo, StateError, StateFile};

/// What pim last saw of the blob, for conditional writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seen {
    /// Nothing read yet: writes are not conditional on content.
    Unknown,
    /// It did not exist.
    Absent,
    /// This version, with this content (SHA-256): the ETag also changes on
    /// metadata-only writes (every lock does one), so the content decides
    /// whether a read is really stale.
    Read { etag: String, digest: [u8; 32] },
}

impl Seen {
    /// What a read of this ETag and content saw.
    pub(super) fn of(etag: Option<String>, bytes: &[u8]) -> Seen {
        match etag {
            Some(etag) => Seen::Read {
                etag,
                digest: digest(bytes),
            },
            None => Seen::Unknown,
        }
    }
}

/// What a backend and its locks share.
pub(super) struct Inner {
    pub(super) blob: Blob,
    pub(super) timing: LeaseTiming,
    seen: Mutex<Seen>,
}

impl Inner {
    pub(super) fn seen(&self) -> Seen {
        self.seen.lock().map(|s| s.clone()).unwrap_or(Seen::Unknown)
    }

    pub(super) fn set_seen(&self, seen: Seen) {
        if let Ok(mut s) = self.seen.lock() {
            *s = seen;
        }
    }
}

/// The state in a blob of an Azure Storage account.
#[derive(Clone)]
pub struct AzureBackend {
    pub(super) inner: Arc<Inner>,
}

impl fmt::Debug for AzureBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureBackend")
            .field("location", &self.inner.blob.location)
            .field("auth", &self.inner.blob.auth)
            .finish()
    }
}

impl AzureBackend {
    pub fn new(settings: AzureSettings) -> Result<Self, StateError> {
        let AzureSettings {
            account,
            container,
            blob,
            endpoint,
            auth,
            lease,
            ca_pem,
        } = settings;
        let config = |m: String| StateError::from(AzureError::Config(m));
        let secs = lease.duration.as_secs();
        if !(15..=60).contains(&secs) || lease.duration.subsec_nanos() != 0 {
            return Err(config(
                "the lease duration must be a whole number of seconds from 15 to 60".into(),
            ));
        }
        if lease.renew_every.is_zero() || lease.renew_every >= lease.duration {
            return Err(config(
                "the lease must be renewed more often than it lasts".into(),
            ));
        }
        let blob = Blob::new(account, container, &blob, endpoint, auth, ca_pem.as_deref())?;
        Ok(AzureBackend {
            inner: Arc::new(Inner {
                blob,
                timing: lease,
                seen: Mutex::new(Seen::Unknown),
            }),
        })
    }

    /// The blob's URL, for messages.
    pub fn location(&self) -> &str {
        &self.inner.blob.location
    }

    /// Creates the container; `false` when it already existed. The backend
    /// itself never does this (like Terraform's): it is for setup and tests.
    pub async fn create_container(&self) -> Result<bool, StateError> {
        let blob = &self.inner.blob;
        let call = BlobRequest::new("create container", Method::PUT, &blob.container_url)
            .query("restype", "container");
        let resp = blob.send(&blob.client, call).await?;
        if resp.status().is_success() {
            return Ok(true);
        }
        let f = blob.failure(resp).await;
        if f.code() == "ContainerAlreadyExists" {
            return Ok(false);
        }
        Err(f.into_error(blob, "create container").into())
    }

    /// Reads the state; `None` when there is none yet (no blob, or the empty
    /// placeholder a lock creates).
    pub async fn load(&self) -> Result<Option<StateFile>, StateError> {
        let inner = &self.inner;
        let blob = &inner.blob;
        let resp = blob
            .send(
                &blob.client,
                BlobRequest::new("read", Method::GET, &blob.blob_url),
            )
            .await?;
        if !resp.status().is_success() {
            let f = blob.failure(resp).await;
            if f.code() == "BlobNotFound" {
                inner.set_seen(Seen::Absent);
                return Ok(None);
            }
            return Err(f.into_error(blob, "read").into());
        }
        let etag = etag(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| blob.transport("read", e))?;
        inner.set_seen(Seen::of(etag, &bytes));
        if is_blank(&bytes) {
            return Ok(None);
        }
        StateFile::from_json(&bytes)
            .map(Some)
            .map_err(|reason| StateError::Corrupt {
                path: PathBuf::from(&blob.location),
                reason,
            })
    }

    /// The blob's ETag and content.
    pub(super) async fn fetch(&self) -> Result<(Option<String>, Vec<u8>), StateError> {
        let blob = &self.inner.blob;
        let call = BlobRequest::new("read", Method::GET, &blob.blob_url);
        let resp = blob.send_ok(&blob.client, call).await?;
        let etag = etag(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| blob.transport("read", e))?;
        Ok((etag, bytes.to_vec()))
    }

    /// An empty blob to lease; `false` when another pim made one first.
    pub(super) async fn create_placeholder(&self) -> Result<bool, StateError> {
        let blob = &self.inner.blob;
        let call = BlobRequest::new("create the state blob", Method::PUT, &blob.blob_url)
            .header("x-ms-blob-type", "BlockBlob")
            .header("Content-Type", "application/json")
            .header("If-None-Match", "*");
        let resp = blob.send(&blob.client, call).await?;
        if resp.status().is_success() {
            return Ok(true);
        }
        let f = blob.failure(resp).await;
        if f.status == StatusCode::CONFLICT || f.status == StatusCode::PRECONDITION_FAILED {
            return Ok(false);
        }
        Err(f.into_error(blob, "create the state blob").into())
    }

    /// Writes the state under `lock`'s lease, only if the blob is unchanged
    /// since pim last read or wrote it.
    pub async fn save(&self, lock: &AzureLock, state: &StateFile) -> Result<(), StateError> {
        let inner = &self.inner;
        let blob = &inner.blob;
        if lock.inner.blob.location != blob.location {
            return Err(AzureError::Config(format!(
                "the lock is for {}, not {}",
                lock.inner.blob.location, blob.location
            ))
            .into());
        }
        let mut call = BlobRequest::new("write", Method::PUT, &blob.blob_url)
            .header("x-ms-blob-type", "BlockBlob")
            .header("Content-Type", "application/json")
            .header("x-ms-lease-id", lock.info.id.clone())
            // Put Blob replaces metadata: keep naming the holder.
            .header(LOCK_METADATA, encode_info(&lock.info));
        match inner.seen() {
            Seen::Read { etag, .. } => call = call.header("If-Match", etag),
            Seen::Absent => call = call.header("If-None-Match", "*"),
            Seen::Unknown => {}
        }
        let body = state.to_json();
        let written = digest(&body);
        call.body = body;
        let resp = blob.send(&blob.client, call).await?;
        if !resp.status().is_success() {
            let f = blob.failure(resp).await;
            // The service checks the ETag before the lease; another run's
            // lock changes the ETag, so say which it really is.
            if f.code() == "ConditionNotMet" && !self.held_by(&lock.info.id).await {
                return Err(AzureError::LeaseLost {
                    location: blob.location.clone(),
                    code: "LeaseNotHeld".into(),
                }
                .into());
            }
            return Err(f.into_error(blob, "write").into());
        }
        inner.set_seen(
            etag(resp.headers()).map_or(Seen::Unknown, |etag| Seen::Read {
                etag,
                digest: written,
            }),
        );
        Ok(())
    }
}

#[async_trait]
impl Backend for AzureBackend {
    fn describe(&self) -> String {
        self.location().to_string()
    }

    async fn load(&self) -> Result<Option<StateFile>, StateError> {
        AzureBackend::load(self).await
    }

    async fn lock(&self, operation: &str) -> Result<Lock, StateError> {
        AzureBackend::lock(self, operation).await.map(Lock::new)
    }

    async fn save(&self, lock: &Lock, state: &StateFile) -> Result<(), StateError> {
        let lease = lock.downcast_ref::<AzureLock>().ok_or_else(|| {
            AzureError::Config("a save needs the blob's lease, not another backend's lock".into())
        })?;
        AzureBackend::save(self, lease, state).await
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        AzureBackend::force_unlock(self, id).await
    }
}

#[async_trait]
impl HeldLock for AzureLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    async fn release(self: Box<Self>) -> Result<(), StateError> {
        AzureLock::release(*self).await
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// A state blob with no state: no content, or the lock's placeholder.
pub(super) fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::{AzureAuth, Secret};

    fn settings(endpoint: &str) -> AzureSettings {
        let mut s = AzureSettings::new(
            "devstoreaccount1",
            "pim-state",
            "pim.state.json",
            AzureAuth::SharedKey(Secret::new("c2VjcmV0LWtleS12YWx1ZQ==")),
        );
        s.endpoint = Some(endpoint.into());
        s
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:10000/devstoreaccount1",
            "http://localhost:10000/devstoreaccount1/",
            "http://[::1]:10000/devstoreaccount1",
            "https://acct.blob.core.windows.net",
        ] {
            AzureBackend::new(settings(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://acct.blob.core.windows.net",
            "http://10.0.0.1:10000/devstoreaccount1",
            "ftp://127.0.0.1/x",
        ] {
            let err = AzureBackend::new(settings(bad)).unwrap_err().to_string();
            assert!(err.contains("https"), "{bad}: {err}");
        }
    }

    #[test]
    fn blob_url_is_path_style_and_encoded() {
        let mut s = settings("http://127.0.0.1:10000/devstoreaccount1/");
        s.blob = "envs/prod state.json".into();
        let b = AzureBackend::new(s).unwrap();
        assert_eq!(
            b.location(),
            "http://127.0.0.1:10000/devstoreaccount1/pim-state/envs/prod%20state.json"
        );
        let b = AzureBackend::new(AzureSettings::new(
            "acct",
            "tfstate",
            "pim.state.json",
            AzureAuth::Sas(Secret::new("sv=1&sig=abc")),
        ))
        .unwrap();
        assert_eq!(
            b.location(),
            "https://acct.blob.core.windows.net/tfstate/pim.state.json"
        );
    }

    #[test]
    fn names_and_lease_timing_are_checked() {
        let mut s = settings("http://127.0.0.1:1/devstoreaccount1");
        s.container = "Bad_Name".into();
        assert!(AzureBackend::new(s).is_err());
        let mut s = settings("http://127.0.0.1:1/devstoreaccount1");
        s.lease.duration = Duration::from_secs(10);
        assert!(AzureBackend::new(s).is_err());
        let mut s = settings("http://127.0.0.1:1/devstoreaccount1");
        s.lease.renew_every = Duration::from_secs(60);
        assert!(AzureBackend::new(s).is_err());
    }

    #[test]
    fn a_bad_key_is_refused_without_showing_it() {
        let mut s = settings("http://127.0.0.1:1/devstoreaccount1");
        s.auth = AzureAuth::SharedKey(Secret::new("not base64 !!secretvalue"));
        let err = AzureBackend::new(s).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("secretvalue"));
    }
}
