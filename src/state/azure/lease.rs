//! The lock: a blob lease for a bounded time (60 s by default), renewed in
//! the background so a pim that dies frees the state within a minute, with
//! the holder named in the blob's metadata for whoever finds it locked.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use super::AzureError;
use super::backend::{AzureBackend, Inner, Seen, is_blank};
use super::client::{BlobRequest, etag};
use crate::state::{LockInfo, StateError};

/// The metadata entry naming the lock holder (base64 JSON of a [`LockInfo`]).
pub(super) const LOCK_METADATA: &str = "x-ms-meta-pimlock";

/// Renewal progress, shared with the renewal task.
#[derive(Default)]
pub(super) struct RenewStatus {
    renewals: AtomicU64,
    lost: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// A held lease on the state blob. Renewed in the background until
/// [`AzureLock::release`] is awaited; dropping it unreleased releases it too,
/// blocking the dropping thread for at most a few seconds, so prefer
/// `release().await`.
pub struct AzureLock {
    pub info: LockInfo,
    pub(super) inner: Arc<Inner>,
    renewer: Option<tokio::task::JoinHandle<()>>,
    status: Arc<RenewStatus>,
    released: bool,
}

impl fmt::Debug for AzureLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureLock")
            .field("location", &self.inner.blob.location)
            .field("info", &self.info)
            .field("renewals", &self.renewals())
            .finish()
    }
}

impl AzureLock {
    /// A lease just taken and claimed; starts renewing it.
    pub(super) fn held(inner: Arc<Inner>, info: LockInfo) -> Self {
        let status = Arc::new(RenewStatus::default());
        let renewer = tokio::spawn(renew_loop(inner.clone(), info.id.clone(), status.clone()));
        AzureLock {
            info,
            inner,
            renewer: Some(renewer),
            status,
            released: false,
        }
    }

    /// The lock id, which is also the lease id: what `pim state unlock` takes.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// How many renewals succeeded so far.
    pub fn renewals(&self) -> u64 {
        self.status.renewals.load(Ordering::Relaxed)
    }

    /// Whether the service said the lease is gone (broken or expired).
    pub fn is_lost(&self) -> bool {
        self.status.lost.load(Ordering::Relaxed)
    }

    /// The last renewal failure, if any.
    pub fn last_renewal_error(&self) -> Option<String> {
        self.status.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Stops renewing, clears the holder from the metadata and releases the
    /// lease.
    pub async fn release(mut self) -> Result<(), StateError> {
        self.released = true;
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        release(&self.inner, &self.inner.blob.client, &self.info.id).await
    }
}

impl Drop for AzureLock {
    fn drop(&mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        if self.released {
            return;
        }
        // Not awaited: release from a thread of its own with its own runtime
        // and client (the caller's runtime may be shutting down), waiting a
        // bounded time so the lease is normally gone before pim exits.
        let inner = self.inner.clone();
        let id = self.info.id.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("pim-lease-release".into())
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|rt| {
                        let client = inner.blob.new_client().map_err(|e| e.to_string())?;
                        rt.block_on(release(&inner, &client, &id))
                            .map_err(|e| e.to_string())
                    });
                let _ = tx.send(result);
            });
        if spawned.is_ok() {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("could not release the state lease: {e}"),
                Err(_) => tracing::warn!("gave up waiting for the state lease to be released"),
            }
        }
    }
}

impl AzureBackend {
    /// Takes the lease or fails at once naming the holder, and keeps it
    /// renewed until the lock is released. Creates an empty placeholder blob
    /// when there is none, since only an existing blob can be leased.
    pub async fn lock(&self, operation: &str) -> Result<AzureLock, StateError> {
        let inner = &self.inner;
        let blob = &inner.blob;
        let id = uuid::Uuid::new_v4().to_string();
        let mut created = false;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let call = BlobRequest::new("lock", Method::PUT, &blob.blob_url)
                .query("comp", "lease")
                .header("x-ms-lease-action", "acquire")
                .header(
                    "x-ms-lease-duration",
                    inner.timing.duration.as_secs().to_string(),
                )
                .header("x-ms-proposed-lease-id", id.clone());
            let resp = blob.send(&blob.client, call).await?;
            if resp.status().is_success() {
                break;
            }
            let f = blob.failure(resp).await;
            match f.code() {
                "LeaseAlreadyPresent" => {
                    let holder = blob.head().await.ok().and_then(|h| holder(&h));
                    return Err(StateError::Locked {
                        path: PathBuf::from(&blob.location),
                        holder: holder.map(|h| format!("{h} (lock id {})", h.id)),
                    });
                }
                "BlobNotFound" if attempts < 3 => {
                    created |= self.create_placeholder().await?;
                }
                _ => return Err(f.into_error(blob, "lock").into()),
            }
        }

        let info = LockInfo {
            id: id.clone(),
            owner: crate::state::owner(),
            pid: std::process::id(),
            operation: operation.to_string(),
            created: Utc::now(),
        };
        if let Err(e) = self.claim(&info, created).await {
            let _ = release(inner, &blob.client, &id).await;
            return Err(e);
        }
        Ok(AzureLock::held(inner.clone(), info))
    }

    /// Writes the holder into the metadata of a freshly leased blob, and
    /// checks that the blob still holds what pim last read.
    async fn claim(&self, info: &LockInfo, created: bool) -> Result<(), StateError> {
        let inner = &self.inner;
        let blob = &inner.blob;
        let stale = || {
            StateError::from(AzureError::Stale {
                location: blob.location.clone(),
            })
        };
        let mut seen = inner.seen();
        if seen == Seen::Absent && !created {
            // Read as missing, but someone made it since: unless it is an
            // empty placeholder, the read is stale.
            let (etag, bytes) = self.fetch().await?;
            if !is_blank(&bytes) {
                return Err(stale());
            }
            seen = Seen::of(etag, &bytes);
        }
        for _ in 0..3 {
            let mut call = BlobRequest::new("lock", Method::PUT, &blob.blob_url)
                .query("comp", "metadata")
                .header("x-ms-lease-id", info.id.clone())
                .header(LOCK_METADATA, encode_info(info));
            if let Seen::Read { etag, .. } = &seen {
                call = call.header("If-Match", etag.clone());
            }
            let resp = blob.send(&blob.client, call).await?;
            if resp.status().is_success() {
                let new = match (etag(resp.headers()), &seen) {
                    (Some(etag), Seen::Read { digest, .. }) => Seen::Read {
                        etag,
                        digest: *digest,
                    },
                    _ => Seen::Unknown,
                };
                inner.set_seen(new);
                return Ok(());
            }
            let f = blob.failure(resp).await;
            if f.code() != "ConditionNotMet" {
                return Err(f.into_error(blob, "lock").into());
            }
            // Changed since read: in content, or only in another run's lock
            // metadata?
            let Seen::Read { digest, .. } = &seen else {
                return Err(stale());
            };
            let (etag, bytes) = self.fetch().await?;
            let now = Seen::of(etag, &bytes);
            match &now {
                Seen::Read { digest: d, .. } if d == digest => seen = now,
                _ => return Err(stale()),
            }
        }
        Err(stale())
    }

    /// Whether the blob is leased with the metadata naming lock `id`
    /// (`true` when that cannot be told, so the caller's error stands).
    pub(super) async fn held_by(&self, id: &str) -> bool {
        let Ok(h) = self.inner.blob.head().await else {
            return true;
        };
        is_leased(&h) && holder(&h).is_some_and(|i| i.id == id)
    }

    /// `pim state unlock ID`: breaks the lease if `id` is the holder's lock
    /// id, and returns who held it.
    pub async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let blob = &self.inner.blob;
        let not_locked = || {
            StateError::from(AzureError::NotLocked {
                location: blob.location.clone(),
            })
        };
        let h = match blob.head().await {
            Ok(h) => h,
            Err(StateError::Azure(AzureError::Http { status: 404, .. })) => {
                return Err(not_locked());
            }
            Err(e) => return Err(e),
        };
        if !is_leased(&h) {
            return Err(not_locked());
        }
        let holder = match holder(&h) {
            Some(info) if info.id == id.trim() => info,
            other => {
                return Err(AzureError::UnlockMismatch {
                    location: blob.location.clone(),
                    given: id.to_string(),
                    holder_id: other.as_ref().map_or("(none)".into(), |i| i.id.clone()),
                    holder: other.map_or_else(
                        || "the lease was not taken by pim".into(),
                        |i| format!("held by {i}"),
                    ),
                }
                .into());
            }
        };
        // Conditional on the ETag read above: a lock taken since rewrites
        // the metadata, and must not be broken on the strength of this one.
        let mut call = BlobRequest::new("unlock", Method::PUT, &blob.blob_url)
            .query("comp", "lease")
            .header("x-ms-lease-action", "break")
            .header("x-ms-lease-break-period", "0");
        if let Some(e) = etag(&h) {
            call = call.header("If-Match", e);
        }
        blob.send_ok(&blob.client, call).await?;
        // The holder's name stays in the metadata: the lease state, not
        // the metadata, says whether it is locked, the next lock rewrites it,
        // and clearing it would change the ETag, turning the old holder's
        // next write into a misleading "stale" error instead of "lease lost".
        Ok(holder)
    }
}

/// Clears the holder and releases the lease.
pub(super) async fn release(
    inner: &Inner,
    client: &reqwest::Client,
    id: &str,
) -> Result<(), StateError> {
    let blob = &inner.blob;
    // Conditional on the lease: never clears a later holder's name.
    let call = BlobRequest::new("unlock", Method::PUT, &blob.blob_url)
        .query("comp", "metadata")
        .header("x-ms-lease-id", id.to_string());
    let resp = blob.send_ok(client, call).await?;
    if let (Some(etag), Seen::Read { digest, .. }) = (etag(resp.headers()), inner.seen()) {
        // Only a metadata change: what was read is still current.
        inner.set_seen(Seen::Read { etag, digest });
    }
    let call = BlobRequest::new("unlock", Method::PUT, &blob.blob_url)
        .query("comp", "lease")
        .header("x-ms-lease-action", "release")
        .header("x-ms-lease-id", id.to_string());
    blob.send_ok(client, call).await?;
    Ok(())
}

/// Renews the lease every `renew_every` until aborted or the lease is lost.
/// A failed renewal is retried at the next tick: the lease outlives a few.
async fn renew_loop(inner: Arc<Inner>, id: String, status: Arc<RenewStatus>) {
    let blob = &inner.blob;
    let mut ticker = tokio::time::interval(inner.timing.renew_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let call = BlobRequest::new("renew the lock", Method::PUT, &blob.blob_url)
            .query("comp", "lease")
            .header("x-ms-lease-action", "renew")
            .header("x-ms-lease-id", id.clone());
        let err = match blob.send(&blob.client, call).await {
            Ok(resp) if resp.status().is_success() => {
                status.renewals.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Ok(resp) => {
                let f = blob.failure(resp).await;
                // 409 LeaseIdMismatchWithLeaseOperation and the like: the
                // lease is someone else's now; renewing again won't help.
                let gone = f.status == StatusCode::CONFLICT || f.status == StatusCode::NOT_FOUND;
                let e = f.into_error(blob, "renew the lock").to_string();
                (e, gone)
            }
            Err(e) => (e.to_string(), false),
        };
        tracing::warn!("could not renew the state lock: {}", err.0);
        if let Ok(mut last) = status.last_error.lock() {
            *last = Some(err.0);
        }
        if err.1 {
            status.lost.store(true, Ordering::Relaxed);
            return;
        }
    }
}

/// Whether the properties say the blob is leased.
pub(super) fn is_leased(h: &HeaderMap) -> bool {
    h.get("x-ms-lease-state")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == "leased")
}

/// The holder the properties name, if any.
pub(super) fn holder(h: &HeaderMap) -> Option<LockInfo> {
    h.get(LOCK_METADATA)
        .and_then(|v| v.to_str().ok())
        .and_then(decode_info)
}

/// Metadata values are ASCII header values; the owner may not be.
pub(super) fn encode_info(info: &LockInfo) -> String {
    STANDARD.encode(serde_json::to_vec(info).unwrap_or_default())
}

fn decode_info(value: &str) -> Option<LockInfo> {
    let bytes = STANDARD.decode(value.trim()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_info_survives_metadata_encoding() {
        let info = LockInfo {
            id: "id".into(),
            owner: "zoë@host".into(),
            pid: 7,
            operation: "apply".into(),
            created: Utc::now(),
        };
        let enc = encode_info(&info);
        assert!(enc.is_ascii());
        assert_eq!(decode_info(&enc), Some(info));
    }
}
