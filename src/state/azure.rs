//! The `azurerm` backend: the state JSON in one block blob, locked with a
//! blob lease for the whole run.
//!
//! The lease is taken for a bounded duration (60 s by default) and renewed
//! by a background task, so a pim that dies frees the state within a minute
//! instead of holding it forever. Who holds it is written into the blob's
//! metadata (`pimlock`, base64 JSON of a [`LockInfo`]) so a second pim can
//! name the holder. Every write carries the lease id and the ETag pim last
//! saw, so a writer that lost its lease, or raced another, fails instead of
//! overwriting.
//!
//! Plain `http` endpoints are accepted only on loopback, for Azurite.

mod sharedkey;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use super::{LockInfo, StateError, StateFile};

/// The OAuth scope of a token for Azure Storage.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// The Blob service REST version pim speaks (Azurite 3.35 accepts it).
const API_VERSION: &str = "2024-08-04";

/// The metadata entry naming the lock holder.
const LOCK_METADATA: &str = "x-ms-meta-pimlock";

/// Any error a token source may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What [`TokenSource::token`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<String, BoxError>> + Send + 'a>>;

/// Gives bearer tokens for Azure Storage (Entra ID auth), so the credential
/// chain the Graph client uses can be plugged in here. Called before every
/// request; caching is the source's business.
pub trait TokenSource: Send + Sync {
    fn token<'a>(&'a self, scope: &'a str) -> TokenFuture<'a>;
}

impl<F> TokenSource for F
where
    F: Fn(&str) -> TokenFuture<'static> + Send + Sync,
{
    fn token<'a>(&'a self, scope: &'a str) -> TokenFuture<'a> {
        self(scope)
    }
}

/// A credential that never shows in Debug output or errors.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How pim authenticates to the storage account.
#[derive(Clone)]
pub enum AzureAuth {
    /// The account key (base64, as the portal shows it).
    SharedKey(Secret),
    /// A SAS token (the query string, with or without the leading `?`).
    Sas(Secret),
    /// Entra ID bearer tokens for [`STORAGE_SCOPE`].
    Token(Arc<dyn TokenSource>),
}

impl fmt::Debug for AzureAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureAuth::SharedKey(_) => f.write_str("SharedKey(***)"),
            AzureAuth::Sas(_) => f.write_str("Sas(***)"),
            AzureAuth::Token(_) => f.write_str("Token(..)"),
        }
    }
}

impl AzureAuth {
    /// A key from `AZURE_STORAGE_KEY` or `ARM_ACCESS_KEY`, else a SAS token
    /// from `AZURE_STORAGE_SAS_TOKEN`, else `None` (use a token source).
    pub fn from_env() -> Option<AzureAuth> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(key) = var("AZURE_STORAGE_KEY").or_else(|| var("ARM_ACCESS_KEY")) {
            return Some(AzureAuth::SharedKey(Secret::new(key.trim())));
        }
        var("AZURE_STORAGE_SAS_TOKEN").map(|t| AzureAuth::Sas(Secret::new(t.trim())))
    }
}

/// How long a lease lasts and how often it is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// 15 to 60 seconds, the range the Blob service allows.
    pub duration: Duration,
    /// Shorter than `duration`, with room for a failed renewal or two.
    pub renew_every: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            duration: Duration::from_secs(60),
            renew_every: Duration::from_secs(20),
        }
    }
}

/// Where the state blob is and how to reach it.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    pub account: String,
    pub container: String,
    pub blob: String,
    /// `https://{account}.blob.core.windows.net` when `None`; Azurite is
    /// `http://127.0.0.1:PORT/devstoreaccount1`.
    pub endpoint: Option<String>,
    pub auth: AzureAuth,
    pub lease: LeaseTiming,
}

impl AzureSettings {
    pub fn new(
        account: impl Into<String>,
        container: impl Into<String>,
        blob: impl Into<String>,
        auth: AzureAuth,
    ) -> Self {
        AzureSettings {
            account: account.into(),
            container: container.into(),
            blob: blob.into(),
            endpoint: None,
            auth,
            lease: LeaseTiming::default(),
        }
    }

    /// Settings for the `state` block, with the credential from
    /// [`AzureAuth::from_env`], falling back to `token` (Entra ID) when no
    /// key or SAS is set. `PIM_STORAGE_ENDPOINT` overrides the endpoint the
    /// block gives, if any.
    pub fn from_env(
        account: impl Into<String>,
        container: impl Into<String>,
        blob: impl Into<String>,
        endpoint: Option<String>,
        token: Option<Arc<dyn TokenSource>>,
    ) -> Result<Self, StateError> {
        let auth = match (AzureAuth::from_env(), token) {
            (Some(a), _) => a,
            (None, Some(t)) => AzureAuth::Token(t),
            (None, None) => {
                return Err(AzureError::Config(
                    "no credential for the storage account: set AZURE_STORAGE_KEY (or \
                     ARM_ACCESS_KEY) or AZURE_STORAGE_SAS_TOKEN, or sign in to Entra ID"
                        .into(),
                )
                .into());
            }
        };
        let mut s = AzureSettings::new(account, container, blob, auth);
        s.endpoint = std::env::var("PIM_STORAGE_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .or(endpoint);
        Ok(s)
    }
}

/// Why the Azure backend failed. Never carries a credential: URLs are
/// shown without their query string and service messages are scrubbed.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error("azurerm state backend: {0}")]
    Config(String),
    /// Could not reach the service; `detail` is the whole cause chain
    /// (without the URL, which may carry a SAS token).
    #[error("{location}: {operation}: {detail}")]
    Transport {
        location: String,
        operation: &'static str,
        detail: String,
    },
    #[error("{location}: {operation} failed: HTTP {status}{}{}",
        code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
        message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Http {
        location: String,
        operation: &'static str,
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
    #[error("the container {container:?} does not exist in the storage account {account:?}")]
    ContainerNotFound { account: String, container: String },
    #[error(
        "{location} changed since pim last read it (another pim wrote it); nothing was \
         written: run the command again"
    )]
    Stale { location: String },
    #[error(
        "{location}: pim no longer holds the lease on the state ({code}); it was broken \
         or expired, perhaps by `pim state unlock`; nothing was written"
    )]
    LeaseLost { location: String, code: String },
    #[error("{location}: could not get a token for Azure Storage: {source}")]
    Token {
        location: String,
        #[source]
        source: BoxError,
    },
    #[error(
        "{location} is locked with id {holder_id}, not {given}: {holder}; nothing was unlocked"
    )]
    UnlockMismatch {
        location: String,
        given: String,
        holder_id: String,
        holder: String,
    },
    #[error("{location} is not locked")]
    NotLocked { location: String },
}

/// What pim last saw of the blob, for conditional writes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// Nothing read yet: writes are not conditional on content.
    Unknown,
    /// It did not exist.
    Absent,
    /// This version, with this content (SHA-256): the ETag also changes on
    /// metadata-only writes (every lock does one), so the content decides
    /// whether a read is really stale.
    Read { etag: String, digest: [u8; 32] },
}

struct Inner {
    client: reqwest::Client,
    tls: rustls::ClientConfig,
    loopback: bool,
    account: String,
    container: String,
    blob_url: Url,
    container_url: Url,
    /// The blob URL without query, for messages.
    location: String,
    auth: AzureAuth,
    /// The decoded account key, for Shared Key.
    key: Option<Vec<u8>>,
    timing: LeaseTiming,
    seen: Mutex<Seen>,
}

/// The state in a blob of an Azure Storage account.
#[derive(Clone)]
pub struct AzureBackend {
    inner: Arc<Inner>,
}

impl fmt::Debug for AzureBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureBackend")
            .field("location", &self.inner.location)
            .field("auth", &self.inner.auth)
            .finish()
    }
}

/// Renewal progress, shared with the renewal task.
#[derive(Default)]
struct RenewStatus {
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
    inner: Arc<Inner>,
    renewer: Option<tokio::task::JoinHandle<()>>,
    status: Arc<RenewStatus>,
    released: bool,
}

impl fmt::Debug for AzureLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureLock")
            .field("location", &self.inner.location)
            .field("info", &self.info)
            .field("renewals", &self.renewals())
            .finish()
    }
}

impl AzureLock {
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
        release(&self.inner, &self.inner.client, &self.info.id).await
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
                        let client =
                            build_client(&inner.tls, inner.loopback).map_err(|e| e.to_string())?;
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

/// One request to the Blob service, before authorization.
struct Call {
    operation: &'static str,
    method: Method,
    url: Url,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Call {
    fn new(operation: &'static str, method: Method, url: &Url) -> Self {
        Call {
            operation,
            method,
            url: url.clone(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn query(mut self, name: &str, value: &str) -> Self {
        self.url.query_pairs_mut().append_pair(name, value);
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A non-success answer: status and the service's error code.
struct Failure {
    status: StatusCode,
    code: Option<String>,
    message: Option<String>,
}

impl Failure {
    fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    fn into_error(self, inner: &Inner, operation: &'static str) -> AzureError {
        match self.code() {
            "ContainerNotFound" => AzureError::ContainerNotFound {
                account: inner.account.clone(),
                container: inner.container.clone(),
            },
            "ConditionNotMet" => AzureError::Stale {
                location: inner.location.clone(),
            },
            c if self.status == StatusCode::PRECONDITION_FAILED && c.starts_with("Lease") => {
                AzureError::LeaseLost {
                    location: inner.location.clone(),
                    code: c.to_string(),
                }
            }
            _ => AzureError::Http {
                location: inner.location.clone(),
                operation,
                status: self.status.as_u16(),
                code: self.code,
                message: self.message,
            },
        }
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
        } = settings;
        let config = |m: String| StateError::from(AzureError::Config(m));

        if account.len() < 3
            || account.len() > 24
            || !account
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(config(format!(
                "{account:?} is not a storage account name (3 to 24 lowercase letters and digits)"
            )));
        }
        if container.len() < 3
            || container.len() > 63
            || container.starts_with('-')
            || container.ends_with('-')
            || container.contains("--")
            || !container
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(config(format!(
                "{container:?} is not a container name (3 to 63 lowercase letters, digits \
                 and single hyphens)"
            )));
        }
        if blob.is_empty() || blob.len() > 1024 || blob.ends_with('/') {
            return Err(config(format!("{blob:?} is not a blob name")));
        }
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

        let endpoint =
            endpoint.unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
        let base = Url::parse(endpoint.trim_end_matches('/'))
            .map_err(|e| config(format!("the endpoint {endpoint:?} is not a URL: {e}")))?;
        if base.query().is_some() || base.fragment().is_some() || !base.username().is_empty() {
            return Err(config(format!(
                "the endpoint {} must not carry a query, fragment or user (give a SAS token \
                 through AZURE_STORAGE_SAS_TOKEN)",
                base.origin().ascii_serialization()
            )));
        }
        let loopback = match base.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        match base.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(config(format!(
                    "the endpoint {endpoint} is plain http: only https is allowed, except on \
                     loopback (Azurite)"
                )));
            }
            other => {
                return Err(config(format!(
                    "the endpoint {endpoint} has scheme {other:?}: use https"
                )));
            }
        }

        let mut container_url = base.clone();
        container_url
            .path_segments_mut()
            .map_err(|()| config(format!("the endpoint {endpoint} cannot take a path")))?
            .pop_if_empty()
            .push(&container);
        let mut blob_url = container_url.clone();
        blob_url
            .path_segments_mut()
            .map_err(|()| config(format!("the endpoint {endpoint} cannot take a path")))?
            .extend(blob.split('/'));
        let location = blob_url.to_string();

        let key = match &auth {
            AzureAuth::SharedKey(k) => {
                Some(STANDARD.decode(k.expose().trim()).map_err(|_| {
                    config("the storage account key is not valid base64".to_string())
                })?)
            }
            AzureAuth::Sas(t) => {
                let t = t.expose().trim_start_matches('?');
                if t.is_empty() || t.contains(['#', ' ']) {
                    return Err(config("the SAS token is not a query string".into()));
                }
                None
            }
            AzureAuth::Token(_) => None,
        };

        let tls = tls_config(base.scheme() == "https")?;
        let client = build_client(&tls, loopback)?;
        Ok(AzureBackend {
            inner: Arc::new(Inner {
                client,
                tls,
                loopback,
                account,
                container,
                blob_url,
                container_url,
                location,
                auth,
                key,
                timing: lease,
                seen: Mutex::new(Seen::Unknown),
            }),
        })
    }

    /// The blob's URL, for messages.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// Creates the container; `false` when it already existed. The backend
    /// itself never does this (like Terraform's): it is for setup and tests.
    pub async fn create_container(&self) -> Result<bool, StateError> {
        let inner = &self.inner;
        let call = Call::new("create container", Method::PUT, &inner.container_url)
            .query("restype", "container");
        let resp = send(inner, &inner.client, call).await?;
        if resp.status().is_success() {
            return Ok(true);
        }
        let f = failure(inner, resp).await;
        if f.code() == "ContainerAlreadyExists" {
            return Ok(false);
        }
        Err(f.into_error(inner, "create container").into())
    }

    /// Reads the state; `None` when there is none yet (no blob, or the empty
    /// placeholder a lock creates).
    pub async fn load(&self) -> Result<Option<StateFile>, StateError> {
        let inner = &self.inner;
        let resp = send(
            inner,
            &inner.client,
            Call::new("read", Method::GET, &inner.blob_url),
        )
        .await?;
        if !resp.status().is_success() {
            let f = failure(inner, resp).await;
            if f.code() == "BlobNotFound" {
                set_seen(inner, Seen::Absent);
                return Ok(None);
            }
            return Err(f.into_error(inner, "read").into());
        }
        let etag = etag(resp.headers());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport(inner, "read", e))?;
        set_seen(inner, read(etag, &bytes));
        if is_blank(&bytes) {
            return Ok(None);
        }
        StateFile::from_json(&bytes)
            .map(Some)
            .map_err(|reason| StateError::Corrupt {
                path: PathBuf::from(&inner.location),
                reason,
            })
    }

    /// Takes the lease or fails at once naming the holder, and keeps it
    /// renewed until the lock is released. Creates an empty placeholder blob
    /// when there is none, since only an existing blob can be leased.
    pub async fn lock(&self, operation: &str) -> Result<AzureLock, StateError> {
        let inner = &self.inner;
        let id = uuid::Uuid::new_v4().to_string();
        let mut created = false;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let call = Call::new("lock", Method::PUT, &inner.blob_url)
                .query("comp", "lease")
                .header("x-ms-lease-action", "acquire")
                .header(
                    "x-ms-lease-duration",
                    inner.timing.duration.as_secs().to_string(),
                )
                .header("x-ms-proposed-lease-id", id.clone());
            let resp = send(inner, &inner.client, call).await?;
            if resp.status().is_success() {
                break;
            }
            let f = failure(inner, resp).await;
            match f.code() {
                "LeaseAlreadyPresent" => {
                    let holder = self.holder().await.ok().flatten();
                    return Err(StateError::Locked {
                        path: PathBuf::from(&inner.location),
                        holder: holder.map(|h| format!("{h} (lock id {})", h.id)),
                    });
                }
                "BlobNotFound" if attempts < 3 => {
                    created |= self.create_placeholder().await?;
                }
                _ => return Err(f.into_error(inner, "lock").into()),
            }
        }

        let info = LockInfo {
            id: id.clone(),
            owner: super::owner(),
            pid: std::process::id(),
            operation: operation.to_string(),
            created: Utc::now(),
        };
        if let Err(e) = self.claim(&info, created).await {
            let _ = release(inner, &inner.client, &id).await;
            return Err(e);
        }

        let status = Arc::new(RenewStatus::default());
        let renewer = tokio::spawn(renew_loop(inner.clone(), id, status.clone()));
        Ok(AzureLock {
            info,
            inner: inner.clone(),
            renewer: Some(renewer),
            status,
            released: false,
        })
    }

    /// Writes the holder into the metadata of a freshly leased blob, and
    /// checks that the blob still holds what pim last read.
    async fn claim(&self, info: &LockInfo, created: bool) -> Result<(), StateError> {
        let inner = &self.inner;
        let stale = || {
            StateError::from(AzureError::Stale {
                location: inner.location.clone(),
            })
        };
        let mut seen = get_seen(inner);
        if seen == Seen::Absent && !created {
            // Read as missing, but someone made it since: unless it is an
            // empty placeholder, the read is stale.
            let (etag, bytes) = self.fetch().await?;
            if !is_blank(&bytes) {
                return Err(stale());
            }
            seen = read(etag, &bytes);
        }
        for _ in 0..3 {
            let mut call = Call::new("lock", Method::PUT, &inner.blob_url)
                .query("comp", "metadata")
                .header("x-ms-lease-id", info.id.clone())
                .header(LOCK_METADATA, encode_info(info));
            if let Seen::Read { etag, .. } = &seen {
                call = call.header("If-Match", etag.clone());
            }
            let resp = send(inner, &inner.client, call).await?;
            if resp.status().is_success() {
                let new = match (etag(resp.headers()), &seen) {
                    (Some(etag), Seen::Read { digest, .. }) => Seen::Read {
                        etag,
                        digest: *digest,
                    },
                    _ => Seen::Unknown,
                };
                set_seen(inner, new);
                return Ok(());
            }
            let f = failure(inner, resp).await;
            if f.code() != "ConditionNotMet" {
                return Err(f.into_error(inner, "lock").into());
            }
            // Changed since read: in content, or only in another run's lock
            // metadata?
            let Seen::Read { digest, .. } = &seen else {
                return Err(stale());
            };
            let (etag, bytes) = self.fetch().await?;
            let now = read(etag, &bytes);
            match &now {
                Seen::Read { digest: d, .. } if d == digest => seen = now,
                _ => return Err(stale()),
            }
        }
        Err(stale())
    }

    /// The blob's ETag and content.
    async fn fetch(&self) -> Result<(Option<String>, Vec<u8>), StateError> {
        let inner = &self.inner;
        let call = Call::new("read", Method::GET, &inner.blob_url);
        let resp = send_ok(inner, &inner.client, call).await?;
        let etag = etag(resp.headers());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport(inner, "read", e))?;
        Ok((etag, bytes.to_vec()))
    }

    /// An empty blob to lease; `false` when another pim made one first.
    async fn create_placeholder(&self) -> Result<bool, StateError> {
        let inner = &self.inner;
        let call = Call::new("create the state blob", Method::PUT, &inner.blob_url)
            .header("x-ms-blob-type", "BlockBlob")
            .header("Content-Type", "application/json")
            .header("If-None-Match", "*");
        let resp = send(inner, &inner.client, call).await?;
        if resp.status().is_success() {
            return Ok(true);
        }
        let f = failure(inner, resp).await;
        if f.status == StatusCode::CONFLICT || f.status == StatusCode::PRECONDITION_FAILED {
            return Ok(false);
        }
        Err(f.into_error(inner, "create the state blob").into())
    }

    /// Whether the blob is leased with the metadata naming lock `id`
    /// (`true` when that cannot be told, so the caller's error stands).
    async fn held_by(&self, id: &str) -> bool {
        let Ok(h) = head(&self.inner).await else {
            return true;
        };
        let leased = h
            .get("x-ms-lease-state")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| s == "leased");
        let holder = h
            .get(LOCK_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(decode_info);
        leased && holder.is_some_and(|i| i.id == id)
    }

    /// The holder named in the metadata, if any.
    async fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        let h = head(&self.inner).await?;
        Ok(h.get(LOCK_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(decode_info))
    }

    /// Writes the state under `lock`'s lease, only if the blob is unchanged
    /// since pim last read or wrote it.
    pub async fn save(&self, lock: &AzureLock, state: &StateFile) -> Result<(), StateError> {
        let inner = &self.inner;
        if lock.inner.location != inner.location {
            return Err(AzureError::Config(format!(
                "the lock is for {}, not {}",
                lock.inner.location, inner.location
            ))
            .into());
        }
        let mut call = Call::new("write", Method::PUT, &inner.blob_url)
            .header("x-ms-blob-type", "BlockBlob")
            .header("Content-Type", "application/json")
            .header("x-ms-lease-id", lock.info.id.clone())
            // Put Blob replaces metadata: keep naming the holder.
            .header(LOCK_METADATA, encode_info(&lock.info));
        match get_seen(inner) {
            Seen::Read { etag, .. } => call = call.header("If-Match", etag),
            Seen::Absent => call = call.header("If-None-Match", "*"),
            Seen::Unknown => {}
        }
        let body = state.to_json();
        let written = digest(&body);
        call.body = body;
        let resp = send(inner, &inner.client, call).await?;
        if !resp.status().is_success() {
            let f = failure(inner, resp).await;
            // The service checks the ETag before the lease; another run's
            // lock changes the ETag, so say which it really is.
            if f.code() == "ConditionNotMet" && !self.held_by(&lock.info.id).await {
                return Err(AzureError::LeaseLost {
                    location: inner.location.clone(),
                    code: "LeaseNotHeld".into(),
                }
                .into());
            }
            return Err(f.into_error(inner, "write").into());
        }
        set_seen(
            inner,
            etag(resp.headers()).map_or(Seen::Unknown, |etag| Seen::Read {
                etag,
                digest: written,
            }),
        );
        Ok(())
    }

    /// `pim state unlock ID`: breaks the lease if `id` is the holder's lock
    /// id, and returns who held it.
    pub async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let inner = &self.inner;
        let h = match head(inner).await {
            Ok(h) => h,
            Err(StateError::Azure(AzureError::Http { status: 404, .. })) => {
                return Err(AzureError::NotLocked {
                    location: inner.location.clone(),
                }
                .into());
            }
            Err(e) => return Err(e),
        };
        let leased = h
            .get("x-ms-lease-state")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| s == "leased");
        if !leased {
            return Err(AzureError::NotLocked {
                location: inner.location.clone(),
            }
            .into());
        }
        let holder = h
            .get(LOCK_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(decode_info);
        let holder = match holder {
            Some(info) if info.id == id.trim() => info,
            other => {
                return Err(AzureError::UnlockMismatch {
                    location: inner.location.clone(),
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
        let mut call = Call::new("unlock", Method::PUT, &inner.blob_url)
            .query("comp", "lease")
            .header("x-ms-lease-action", "break")
            .header("x-ms-lease-break-period", "0");
        if let Some(e) = etag(&h) {
            call = call.header("If-Match", e);
        }
        send_ok(inner, &inner.client, call).await?;
        // The holder's name stays in the metadata: the lease state, not
        // the metadata, says whether it is locked, the next lock rewrites it,
        // and clearing it would change the ETag, turning the old holder's
        // next write into a misleading "stale" error instead of "lease lost".
        Ok(holder)
    }
}

/// Properties of the blob (a HEAD has no body, so the error code comes
/// only from the `x-ms-error-code` header).
async fn head(inner: &Inner) -> Result<HeaderMap, StateError> {
    let call = Call::new("read properties", Method::HEAD, &inner.blob_url);
    let resp = send_ok(inner, &inner.client, call).await?;
    Ok(resp.headers().clone())
}

/// Clears the holder and releases the lease.
async fn release(inner: &Inner, client: &reqwest::Client, id: &str) -> Result<(), StateError> {
    // Conditional on the lease: never clears a later holder's name.
    let call = Call::new("unlock", Method::PUT, &inner.blob_url)
        .query("comp", "metadata")
        .header("x-ms-lease-id", id.to_string());
    let resp = send_ok(inner, client, call).await?;
    if let (Some(etag), Seen::Read { digest, .. }) = (etag(resp.headers()), get_seen(inner)) {
        // Only a metadata change: what was read is still current.
        set_seen(inner, Seen::Read { etag, digest });
    }
    let call = Call::new("unlock", Method::PUT, &inner.blob_url)
        .query("comp", "lease")
        .header("x-ms-lease-action", "release")
        .header("x-ms-lease-id", id.to_string());
    send_ok(inner, client, call).await?;
    Ok(())
}

/// Renews the lease every `renew_every` until aborted or the lease is lost.
/// A failed renewal is retried at the next tick: the lease outlives a few.
async fn renew_loop(inner: Arc<Inner>, id: String, status: Arc<RenewStatus>) {
    let mut ticker = tokio::time::interval(inner.timing.renew_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let call = Call::new("renew the lock", Method::PUT, &inner.blob_url)
            .query("comp", "lease")
            .header("x-ms-lease-action", "renew")
            .header("x-ms-lease-id", id.clone());
        let err = match send(&inner, &inner.client, call).await {
            Ok(resp) if resp.status().is_success() => {
                status.renewals.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Ok(resp) => {
                let f = failure(&inner, resp).await;
                // 409 LeaseIdMismatchWithLeaseOperation and the like: the
                // lease is someone else's now; renewing again won't help.
                let gone = f.status == StatusCode::CONFLICT || f.status == StatusCode::NOT_FOUND;
                let e = f.into_error(&inner, "renew the lock").to_string();
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

/// Authorizes and sends a call.
async fn send(
    inner: &Inner,
    client: &reqwest::Client,
    call: Call,
) -> Result<reqwest::Response, StateError> {
    let Call {
        operation,
        method,
        mut url,
        mut headers,
        body,
    } = call;
    headers.push(("x-ms-version", API_VERSION.to_string()));
    headers.push((
        "x-ms-date",
        Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
    ));
    let mut authorization = None;
    match &inner.auth {
        AzureAuth::SharedKey(_) => {
            let key = inner.key.as_deref().unwrap_or_default();
            let sts = sharedkey::string_to_sign(
                method.as_str(),
                &url,
                &inner.account,
                &headers,
                body.len(),
            );
            authorization = Some(sharedkey::authorization(&inner.account, key, &sts));
        }
        AzureAuth::Sas(token) => {
            let token = token.expose().trim_start_matches('?');
            let q = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{token}"),
                _ => token.to_string(),
            };
            url.set_query(Some(&q));
        }
        AzureAuth::Token(source) => {
            let t = source
                .token(STORAGE_SCOPE)
                .await
                .map_err(|source| AzureError::Token {
                    location: inner.location.clone(),
                    source,
                })?;
            authorization = Some(format!("Bearer {t}"));
        }
    }

    let mut map = HeaderMap::new();
    for (name, value) in &headers {
        let v = HeaderValue::from_str(value).map_err(|_| {
            AzureError::Config(format!("the value of the {name} header is not valid"))
        })?;
        map.insert(*name, v);
    }
    if let Some(a) = authorization {
        let mut v = HeaderValue::from_str(&a)
            .map_err(|_| AzureError::Config("the credential is not a valid header".into()))?;
        v.set_sensitive(true);
        map.insert(reqwest::header::AUTHORIZATION, v);
    }
    if !body.is_empty() || method == Method::PUT {
        // Sent even when zero so the signed length and the wire agree.
        map.insert(
            reqwest::header::CONTENT_LENGTH,
            HeaderValue::from(body.len()),
        );
    }
    let resp = client
        .request(method, url)
        .headers(map)
        .body(body)
        .send()
        .await
        .map_err(|e| transport(inner, operation, e))?;
    tracing::debug!(operation, status = resp.status().as_u16(), "azure blob");
    Ok(resp)
}

/// Sends a call that only success answers: any other answer is the error.
async fn send_ok(
    inner: &Inner,
    client: &reqwest::Client,
    call: Call,
) -> Result<reqwest::Response, StateError> {
    let operation = call.operation;
    let resp = send(inner, client, call).await?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    Err(failure(inner, resp)
        .await
        .into_error(inner, operation)
        .into())
}

fn transport(inner: &Inner, operation: &'static str, e: reqwest::Error) -> StateError {
    // The URL may carry a SAS token.
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        cause = c.source();
    }
    AzureError::Transport {
        location: inner.location.clone(),
        operation,
        detail: scrub(inner, &detail),
    }
    .into()
}

/// Reads the service's error code and message from a failed response.
async fn failure(inner: &Inner, resp: reqwest::Response) -> Failure {
    let status = resp.status();
    let mut code = resp
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.text().await.unwrap_or_default();
    if code.is_none() {
        code = xml_element(&body, "Code");
    }
    // Only the first line: the rest is request ids and, for auth failures,
    // the string that was signed.
    let message = xml_element(&body, "Message")
        .and_then(|m| m.lines().next().map(|l| scrub(inner, l.trim())))
        .filter(|m| !m.is_empty());
    Failure {
        status,
        code,
        message,
    }
}

fn xml_element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&close)?;
    Some(body[start..start + len].to_string())
}

/// Removes any credential a service message might echo.
fn scrub(inner: &Inner, text: &str) -> String {
    let mut out = text.to_string();
    let mut secrets: Vec<String> = Vec::new();
    match &inner.auth {
        AzureAuth::SharedKey(k) => secrets.push(k.expose().to_string()),
        AzureAuth::Sas(t) => {
            let t = t.expose().trim_start_matches('?');
            secrets.push(t.to_string());
            for (k, v) in url::form_urlencoded::parse(t.as_bytes()) {
                if k == "sig" {
                    secrets.push(v.into_owned());
                }
            }
            for part in t.split('&') {
                if let Some(sig) = part.strip_prefix("sig=") {
                    secrets.push(sig.to_string());
                }
            }
        }
        AzureAuth::Token(_) => {}
    }
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

fn etag(h: &HeaderMap) -> Option<String> {
    h.get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// A state blob with no state: no content, or the lock's placeholder.
fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

fn read(etag: Option<String>, bytes: &[u8]) -> Seen {
    match etag {
        Some(etag) => Seen::Read {
            etag,
            digest: digest(bytes),
        },
        None => Seen::Unknown,
    }
}

fn get_seen(inner: &Inner) -> Seen {
    inner
        .seen
        .lock()
        .map(|s| s.clone())
        .unwrap_or(Seen::Unknown)
}

fn set_seen(inner: &Inner, seen: Seen) {
    if let Ok(mut s) = inner.seen.lock() {
        *s = seen;
    }
}

/// Metadata values are ASCII header values; the owner may not be.
fn encode_info(info: &LockInfo) -> String {
    STANDARD.encode(serde_json::to_vec(info).unwrap_or_default())
}

fn decode_info(value: &str) -> Option<LockInfo> {
    let bytes = STANDARD.decode(value.trim()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// rustls with the ring provider; the system's roots for https endpoints,
/// none for loopback http (nothing to verify).
fn tls_config(https: bool) -> Result<rustls::ClientConfig, StateError> {
    let config = |m: String| StateError::from(AzureError::Config(m));
    let mut roots = rustls::RootCertStore::empty();
    if https {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A malformed system certificate is skipped, not fatal.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(config(
                "no trusted root certificates found on this system (install ca-certificates)"
                    .into(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

fn build_client(tls: &rustls::ClientConfig, loopback: bool) -> Result<reqwest::Client, StateError> {
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls.clone())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .https_only(!loopback);
    if loopback {
        // A proxy from the environment must not intercept the emulator.
        b = b.no_proxy();
    }
    b.build().map_err(|e| {
        AzureError::Config(format!(
            "could not set up the HTTP client: {}",
            e.without_url()
        ))
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
