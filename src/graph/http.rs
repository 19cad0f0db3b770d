//! `HttpGraph`: the `Graph` trait over HTTPS. One `reqwest::Client` (also
//! the token endpoint's transport), a semaphore capping requests in flight,
//! retries with `Retry-After` or jittered backoff, `@odata.nextLink` paging
//! at the largest page size, `$batch` packing of independent GETs, and
//! reconciliation instead of blind resending for writes whose outcome is
//! unknown. What the server says is not trusted: answers are read up to a
//! limit, and links and redirects are followed only within the Graph root.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use chrono::Utc;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{OnceCell, Semaphore};

use super::auth::{
    AzureCredential, EmulatorUser, SignIn, TokenCache, TokenSource, mfa_from_token,
    object_id_from_token,
};
use super::convert::{
    ConvertError, assignment_grant, eligibility_grant, expiration_from_wire, instance, parse_time,
    rule_set_from_wire, rule_to_wire, schedule_to_wire,
};
use super::error::{EXCERPT_CHARS, ErrorKind, GraphError, body_excerpt, excerpt};
use super::link::{ApiRoot, redirect_policy};
use super::retry::{Backoff, Clock, TokioClock, parse_retry_after};
use super::settings::{GraphSettings, ReadLimits};
use super::tls::client_config;
use super::wire::{
    self, BatchRequest, BatchRequestItem, BatchResponse, DirectoryObject, GetByIds,
    NewScheduleRequest, ODataError, Page, TicketInfo, UnifiedRoleAssignmentSchedule,
    UnifiedRoleAssignmentScheduleRequest, UnifiedRoleDefinition, UnifiedRoleEligibilitySchedule,
    UnifiedRoleManagementPolicyAssignment, UnifiedRoleScheduleInstance,
};
use super::{
    DirectoryEntry, EntryKind, GrantFilter, Graph, Instance, Lookup, Me, RequestOutcome,
    RequestParty, ScheduleRequest, page_size,
};
use crate::model::{AssignmentKind, PrincipalKind, RuleId, RuleValue, Schedule, Ticket};
use crate::snapshot::{AdministrativeUnit, Grant, Policy, Principal, RoleDefinition};

/// Characters left alone in query values and path segments: unreserved ones
/// plus the OData punctuation Graph's own examples leave unencoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b'@')
    .remove(b'$');
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `?k=v&…` with values percent-encoded.
fn query(pairs: &[(&str, String)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        s.push('=');
        s.push_str(&utf8_percent_encode(v, QUERY).to_string());
    }
    s
}

/// An OData string literal: quotes doubled.
pub fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn set_name(kind: AssignmentKind, requests: bool) -> &'static str {
    match (kind, requests) {
        (AssignmentKind::Eligible, false) => "roleEligibilitySchedules",
        (AssignmentKind::Active, false) => "roleAssignmentSchedules",
        (AssignmentKind::Eligible, true) => "roleEligibilityScheduleRequests",
        (AssignmentKind::Active, true) => "roleAssignmentScheduleRequests",
    }
}

fn grant_filter(f: &GrantFilter) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(p) = &f.principal_id {
        parts.push(format!("principalId eq {}", odata_string(p)));
    }
    if let Some(r) = &f.role_id {
        parts.push(format!("roleDefinitionId eq {}", odata_string(r)));
    }
    if let Some(s) = &f.scope_id {
        parts.push(format!("directoryScopeId eq {}", odata_string(s)));
    }
    (!parts.is_empty()).then(|| parts.join(" and "))
}

/// Counters of what the client sent, for tests and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP exchanges attempted (retries included, token requests excluded).
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub batches: AtomicU64,
    /// Writes whose outcome was read back after a broken connection.
    pub reconciled: AtomicU64,
}

impl Stats {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
    pub fn reconciled(&self) -> u64 {
        self.reconciled.load(Ordering::Relaxed)
    }
}

/// Microsoft Graph over HTTPS.
pub struct HttpGraph {
    client: reqwest::Client,
    /// The version root as written in URLs, without a trailing slash.
    root: String,
    api_root: ApiRoot,
    limits: ReadLimits,
    tenant_id: Option<String>,
    /// The application pim signs in as, when the settings name it.
    client_id: Option<String>,
    tokens: TokenCache,
    /// Who pim runs as, once known: asked at most once per client.
    caller: OnceCell<String>,
    limit: Arc<Semaphore>,
    parallelism: usize,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
    stats: Arc<Stats>,
}

/// One logical call.
struct Call {
    method: Method,
    url: String,
    body: Option<Value>,
    /// Safe to resend when the outcome is unknown.
    idempotent: bool,
    /// Retry `404 SubjectNotFound`/`RoleNotFound` (replication delay).
    retry_replication: bool,
}

impl Call {
    fn get(url: String) -> Self {
        Call {
            method: Method::GET,
            url,
            body: None,
            idempotent: true,
            retry_replication: false,
        }
    }

    fn operation(&self, root: &str) -> String {
        let path = self.url.strip_prefix(root).unwrap_or(&self.url);
        let path = path.split('?').next().unwrap_or(path);
        format!("{} {}", self.method, path)
    }
}

struct Response {
    status: u16,
    retry_after: Option<Duration>,
    request_id: Option<String>,
    content_type: Option<String>,
    /// A redirect's target, as sent (the client follows none that leave the root).
    location: Option<String>,
    body: bytes::Bytes,
}

impl Response {
    /// The body as JSON; an answer that is not JSON at all (an HTML page
    /// from a proxy) says so, with its content type and an excerpt.
    fn decode<T: DeserializeOwned>(&self, op: &str) -> Result<T, GraphError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            if serde_json::from_slice::<serde::de::IgnoredAny>(&self.body).is_ok() {
                return GraphError::decode(op, e.to_string());
            }
            GraphError::new(
                ErrorKind::Decode,
                op,
                format!(
                    "the answer is not JSON ({}): {}",
                    self.describe(),
                    body_excerpt(&self.body, EXCERPT_CHARS)
                ),
            )
        })
    }

    /// `200, text/html; charset=utf-8, 1234 bytes`.
    fn describe(&self) -> String {
        let ct = self
            .content_type
            .as_deref()
            .map_or_else(|| "no content type".to_string(), |c| excerpt(c, 100));
        format!("{}, {ct}, {} bytes", self.status, self.body.len())
    }
}

/// Bytes of an error answer pim reads: Graph's error envelopes are well
/// under 1 KiB, and only an excerpt of anything else is shown.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// The body, chunk by chunk, up to `limit` bytes; `true` when it went on
/// past them (the rest is never read).
pub(super) async fn read_capped(
    resp: &mut reqwest::Response,
    limit: usize,
) -> Result<(bytes::Bytes, bool), reqwest::Error> {
    // The announced length is only a hint: never trust it for an allocation.
    let hint = resp.content_length().unwrap_or(0).min(1 << 20) as usize;
    let mut buf = bytes::BytesMut::with_capacity(hint.min(limit));
    while let Some(chunk) = resp.chunk().await? {
        let room = limit - buf.len();
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            return Ok((buf.freeze(), true));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf.freeze(), false))
}

fn mib(bytes: usize) -> String {
    if bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{bytes} bytes")
    }
}

/// A transport failure and whether the request may have reached Graph.
struct Transport {
    error: GraphError,
    maybe_sent: bool,
    /// A broken connection or a timeout, worth another attempt; not an
    /// answer pim refuses to read.
    retryable: bool,
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msgs = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        msgs.push(s.to_string());
        cur = s.source();
    }
    // The innermost message names the real cause (DNS, refused, reset…);
    // the outer ones repeat the URL.
    let last = msgs.pop().unwrap_or_default();
    // rustls appends a link to its manual; the reason alone is the line people need.
    match last.find(": https://docs.rs/") {
        Some(i) => last[..i].to_string(),
        None => last,
    }
}

impl HttpGraph {
    /// A client signing in with the credential the settings choose.
    pub fn new(settings: GraphSettings) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        let credential = AzureCredential::new(&settings, &client)?;
        Self::assemble(settings, client, Arc::new(credential))
    }

    /// A client taking tokens from `source` (tests, or a token obtained elsewhere).
    pub fn with_token_source(
        settings: GraphSettings,
        source: Arc<dyn TokenSource>,
    ) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        Self::assemble(settings, client, source)
    }

    /// A client signed in as a seeded user of the pim emulator (`--as`):
    /// refused unless Graph and the authority are loopback addresses.
    pub fn for_emulator_user(
        settings: GraphSettings,
        username: &str,
        mfa: bool,
    ) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        let source = EmulatorUser::new(&settings, &client, username, mfa)?;
        Self::assemble(settings, client, Arc::new(source))
    }

    /// Replace the clock used for retry waits (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Requests this client keeps in flight at most.
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    /// The `reqwest::Client` both Graph and the token endpoint use: rustls
    /// (ring) with the system roots plus the extra CA of the settings.
    pub fn http_client(settings: &GraphSettings) -> Result<reqwest::Client, GraphError> {
        settings.validate()?;
        let mut pem: Vec<u8> = Vec::new();
        if let Some(path) = &settings.ca_cert {
            pem = std::fs::read(path).map_err(|e| {
                GraphError::config(format!(
                    "cannot read the CA certificate {}: {e}",
                    path.display()
                ))
            })?;
        }
        if let Some(text) = &settings.ca_pem {
            pem.push(b'\n');
            pem.extend_from_slice(text.as_bytes());
        }
        let tls = client_config((!pem.is_empty()).then_some(pem.as_slice()))?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(redirect_policy(ApiRoot::parse(settings.root())?))
            .timeout(settings.request_timeout)
            .connect_timeout(settings.connect_timeout)
            .pool_max_idle_per_host(settings.parallelism.max(1) * 2)
            .user_agent(concat!("pim/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                GraphError::config(format!("cannot build the HTTP client: {}", root_cause(&e)))
            })
    }

    fn assemble(
        settings: GraphSettings,
        client: reqwest::Client,
        source: Arc<dyn TokenSource>,
    ) -> Result<Self, GraphError> {
        let api_root = ApiRoot::parse(settings.root())?;
        Ok(HttpGraph {
            client,
            root: api_root.as_str().to_string(),
            api_root,
            limits: settings.limits.clone(),
            tenant_id: settings.tenant_id.clone(),
            client_id: settings.credentials.client_id.clone(),
            tokens: TokenCache::new(source),
            caller: OnceCell::new(),
            limit: Arc::new(Semaphore::new(settings.parallelism.max(1))),
            parallelism: settings.parallelism.max(1),
            backoff: Backoff::new(settings.retry.clone()),
            clock: Arc::new(TokioClock),
            stats: Arc::new(Stats::default()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }

    /// One HTTP exchange, holding a concurrency permit only while it runs.
    async fn attempt(&self, call: &Call, client_request_id: &str) -> Result<Response, Transport> {
        let token = self.tokens.get().await.map_err(|error| Transport {
            error,
            maybe_sent: false,
            retryable: false,
        })?;
        let _permit = self.limit.acquire().await.map_err(|_| Transport {
            error: GraphError::new(
                ErrorKind::Network,
                call.operation(&self.root),
                "client is shutting down",
            ),
            maybe_sent: false,
            retryable: false,
        })?;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .client
            .request(call.method.clone(), &call.url)
            .bearer_auth(token)
            .header("client-request-id", client_request_id)
            .header("Accept", "application/json");
        if let Some(b) = &call.body {
            req = req.json(b);
        }
        let op = || call.operation(&self.root);
        let transport = |e: reqwest::Error, sent: bool| {
            let (kind, maybe_sent) = if e.is_connect() {
                (ErrorKind::Connect, false)
            } else if e.is_timeout() {
                (ErrorKind::Timeout, true)
            } else {
                (ErrorKind::Network, sent)
            };
            Transport {
                error: GraphError::new(kind, op(), root_cause(&e))
                    .with_client_request_id(Some(client_request_id.to_string())),
                maybe_sent,
                // A redirect chain that never ends is no passing fault.
                retryable: !e.is_redirect(),
            }
        };
        let mut resp = req.send().await.map_err(|e| transport(e, true))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after =
            header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let request_id = header("request-id");
        let content_type = header("content-type");
        let location = header("location");
        let success = (200..300).contains(&status);
        let limit = if success {
            self.limits.max_response_bytes
        } else {
            MAX_ERROR_BODY_BYTES
        };
        let too_large = |what: String| Transport {
            error: GraphError::new(
                ErrorKind::TooLarge,
                op(),
                format!(
                    "{what}; pim reads at most {} of one answer",
                    mib(self.limits.max_response_bytes)
                ),
            )
            .with_client_request_id(Some(client_request_id.to_string())),
            maybe_sent: true,
            retryable: false,
        };
        if let Some(n) = resp
            .content_length()
            .filter(|n| success && *n > limit as u64)
        {
            return Err(too_large(format!("it announces {n} bytes")));
        }
        let (body, cut) = read_capped(&mut resp, limit)
            .await
            .map_err(|e| transport(e, true))?;
        // An error answer is only quoted: its first bytes are enough.
        if cut && success {
            return Err(too_large(format!("it runs past {}", mib(limit))));
        }
        Ok(Response {
            status,
            retry_after,
            request_id,
            content_type,
            location,
            body,
        })
    }

    /// Run a call with retries. A non-idempotent call whose request may
    /// have reached Graph comes back as `OutcomeUnknown`, never resent here.
    async fn execute(&self, call: &Call) -> Result<Response, GraphError> {
        let first = self.clock.now();
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let op = call.operation(&self.root);
        let mut attempt = 0u32;
        let mut token_renewed = false;
        loop {
            attempt += 1;
            let (retry_after, error) = match self.attempt(call, &client_request_id).await {
                Ok(r) if (200..300).contains(&r.status) => return Ok(r),
                Ok(r) if (300..400).contains(&r.status) && r.location.is_some() => {
                    return Err(self
                        .redirect_refused(&op, &call.url, &r)
                        .with_client_request_id(Some(client_request_id.clone())));
                }
                Ok(r) => {
                    let error = error_from_response(&op, &r)
                        .with_client_request_id(Some(client_request_id.clone()));
                    match r.status {
                        401 if !token_renewed => {
                            // A revoked or expired token: one fresh try.
                            token_renewed = true;
                            self.tokens.invalidate().await;
                            attempt -= 1;
                            continue;
                        }
                        // 504 means the gateway gave up waiting: a write may have happened.
                        504 if !call.idempotent => {
                            return Err(GraphError {
                                kind: ErrorKind::OutcomeUnknown,
                                ..error
                            });
                        }
                        429 | 502 | 503 | 504 => (r.retry_after, error),
                        404 if call.retry_replication && error.is_replication_delay() => {
                            (None, error)
                        }
                        _ => {
                            tracing::debug!(operation = %op, request_id = ?error.request_id, "{error}");
                            return Err(error);
                        }
                    }
                }
                Err(Transport {
                    error,
                    maybe_sent,
                    retryable,
                }) => {
                    if !retryable {
                        return Err(error);
                    }
                    if maybe_sent && !call.idempotent {
                        return Err(GraphError {
                            kind: ErrorKind::OutcomeUnknown,
                            ..error
                        });
                    }
                    (None, error)
                }
            };
            let wait = self.backoff.delay(attempt, retry_after);
            if !self
                .backoff
                .may_retry(attempt, first, self.clock.now(), wait)
            {
                tracing::warn!(operation = %op, attempts = attempt, request_id = ?error.request_id, "giving up: {error}");
                let kind = match error.status {
                    Some(429 | 502 | 503 | 504) => ErrorKind::Throttled,
                    _ => error.kind.clone(),
                };
                return Err(GraphError { kind, ..error });
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                operation = %op,
                attempt,
                wait_ms = wait.as_millis() as u64,
                status = ?error.status,
                request_id = ?error.request_id,
                "retrying Graph call: {error}"
            );
            self.clock.sleep(wait).await;
        }
    }

    /// A redirect the client did not follow (see [`redirect_policy`]).
    fn redirect_refused(&self, op: &str, from: &str, r: &Response) -> GraphError {
        let target = r.location.as_deref().unwrap_or_default();
        let to = match Url::parse(from).and_then(|f| f.join(target)) {
            Ok(u) => self.api_root.describe(&u),
            Err(_) => format!("{:?}", excerpt(target, EXCERPT_CHARS)),
        };
        GraphError {
            status: Some(r.status),
            request_id: r.request_id.as_deref().map(|id| excerpt(id, 100)),
            ..GraphError::new(
                ErrorKind::UntrustedUrl,
                op,
                format!(
                    "it redirects ({}) to {to}, outside the Graph root {}; pim follows redirects only within it",
                    r.status, self.root
                ),
            )
        }
    }

    /// A next link, checked before the token goes with it.
    fn next_url(&self, op: &str, link: &str, from: &str) -> Result<Url, GraphError> {
        let from = Url::parse(from).map_err(|e| GraphError::decode(op, e.to_string()))?;
        self.api_root.follow(link, &from).map_err(|to| {
            GraphError::new(
                ErrorKind::UntrustedUrl,
                op,
                format!(
                    "its @odata.nextLink leads to {to}, outside the Graph root {}; pim follows links only within it",
                    self.root
                ),
            )
        })
    }

    /// Who pim runs as. Entra's tokens are JWTs that say so (`oid`); a
    /// token that cannot be read is answered by Graph: `/me` for a user,
    /// the service principal of the client id for an application. When
    /// the source cannot tell which it is, `/me` first, and the service
    /// principal only when Graph answers 400 (its answer to an app-only
    /// token): a 403 or 404 may come with a delegated token, and the client
    /// application's service principal is then not the caller.
    async fn identify_caller(&self) -> Result<String, GraphError> {
        let token = self.tokens.get().await?;
        if let Some(oid) = object_id_from_token(&token) {
            return Ok(oid);
        }
        let found = match self.tokens.sign_in() {
            SignIn::User => self.my_id().await,
            SignIn::App => self.service_principal_id().await,
            SignIn::Unknown => match self.my_id().await {
                Err(e) if e.status == Some(400) => self.service_principal_id().await,
                other => other,
            },
        };
        found.map_err(|e| GraphError {
            operation: format!("{} (finding the identity pim runs as)", e.operation),
            ..e
        })
    }

    async fn my_id(&self) -> Result<String, GraphError> {
        let path = format!("/me{}", query(&[("$select", "id".into())]));
        self.object_id(&path).await
    }

    async fn service_principal_id(&self) -> Result<String, GraphError> {
        let app_id = self.client_id.as_deref().ok_or_else(|| {
            GraphError::config(
                "the token does not say which identity pim runs as, and without a client id \
                 (AZURE_CLIENT_ID) its service principal cannot be looked up",
            )
        })?;
        let path = format!(
            "/servicePrincipals(appId={}){}",
            utf8_percent_encode(&odata_string(app_id), SEGMENT),
            query(&[("$select", "id".into())])
        );
        self.object_id(&path).await
    }

    /// The `id` of the one object at `path`.
    async fn object_id(&self, path: &str) -> Result<String, GraphError> {
        #[derive(serde::Deserialize)]
        struct Id {
            id: String,
        }
        let found: Id = self.get_json(path).await?;
        Ok(found.id.to_ascii_lowercase())
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GraphError> {
        let call = Call::get(self.url(path));
        let op = call.operation(&self.root);
        self.execute(&call).await?.decode(&op)
    }

    /// Every schedule of `kind` the collection at `path` lists, as grants.
    async fn grants_at(
        &self,
        kind: AssignmentKind,
        path: &str,
        op: &str,
    ) -> Result<Vec<Grant>, GraphError> {
        match kind {
            AssignmentKind::Eligible => self
                .get_all::<UnifiedRoleEligibilitySchedule>(path)
                .await?
                .into_iter()
                .map(|s| eligibility_grant(s).map_err(convert_err(op)))
                .collect(),
            AssignmentKind::Active => self
                .get_all::<UnifiedRoleAssignmentSchedule>(path)
                .await?
                .into_iter()
                .map(|s| assignment_grant(s).map_err(convert_err(op)))
                .collect(),
        }
    }

    /// Every item of the collection at `path`, following `@odata.nextLink`
    /// within the Graph root, each link at most once, each page no larger
    /// than the `$top` in `path`, at most `max_pages` pages.
    async fn get_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, GraphError> {
        let first = Url::parse(&self.url(path))
            .map_err(|e| GraphError::config(format!("cannot build a Graph URL: {e}")))?;
        let top: Option<usize> = first
            .query_pairs()
            .find(|(k, _)| k == "$top")
            .and_then(|(_, v)| v.parse().ok());
        // Links compared as parsed, so spelling differences cannot hide a loop.
        let mut seen: HashSet<String> = HashSet::from([first.to_string()]);
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        while let Some(url) = next.take() {
            let call = Call::get(url);
            let op = call.operation(&self.root);
            let page: Page<T> = self.execute(&call).await?.decode(&op)?;
            if let Some(top) = top.filter(|t| page.value.len() > *t) {
                return Err(GraphError::new(
                    ErrorKind::Paging,
                    op,
                    format!(
                        "a page held {} items, more than the $top={top} pim asked for",
                        page.value.len()
                    ),
                ));
            }
            out.extend(page.value);
            let Some(link) = page.next_link else {
                break;
            };
            let url = self.next_url(&op, &link, &call.url)?;
            if seen.len() >= self.limits.max_pages {
                return Err(GraphError::new(
                    ErrorKind::Paging,
                    op,
                    format!(
                        "{} pages and still an @odata.nextLink; pim reads at most {} pages of one collection",
                        seen.len(),
                        self.limits.max_pages
                    ),
                ));
            }
            if !seen.insert(url.to_string()) {
                return Err(GraphError::new(
                    ErrorKind::Paging,
                    op,
                    format!(
                        "@odata.nextLink goes back to a page already read (after {} pages)",
                        seen.len()
                    ),
                ));
            }
            next = Some(url.to_string());
        }
        Ok(out)
    }

    /// Independent GETs (paths relative to the version root), packed 20 to a
    /// `$batch`, the batches sent concurrently. Inner 429/503/504 answers are
    /// retried in a later round after the longest `Retry-After`.
    async fn batch_get(
        &self,
        paths: &[String],
    ) -> Result<Vec<Result<Value, GraphError>>, GraphError> {
        let chunks: Vec<&[String]> = paths.chunks(page_size::BATCH).collect();
        let results =
            futures::future::join_all(chunks.iter().map(|chunk| self.batch_chunk(chunk))).await;
        let mut out = Vec::with_capacity(paths.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    async fn batch_chunk(
        &self,
        paths: &[String],
    ) -> Result<Vec<Result<Value, GraphError>>, GraphError> {
        let mut results: Vec<Option<Result<Value, GraphError>>> = vec![None; paths.len()];
        let first = self.clock.now();
        let mut round = 0u32;
        loop {
            round += 1;
            let pending: Vec<usize> = (0..paths.len()).filter(|i| results[*i].is_none()).collect();
            if pending.is_empty() {
                break;
            }
            let body = pack_batch(paths, &pending);
            let call = Call {
                method: Method::POST,
                url: self.url("/$batch"),
                body: Some(
                    serde_json::to_value(&body)
                        .map_err(|e| GraphError::decode("POST /$batch", e.to_string()))?,
                ),
                // Only GETs inside: resending is harmless.
                idempotent: true,
                retry_replication: false,
            };
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
            let parsed: BatchResponse = self.execute(&call).await?.decode("POST /$batch")?;
            let mut wait: Option<Duration> = None;
            let mut last_transient: BTreeMap<usize, GraphError> = BTreeMap::new();
            // Answers are matched to requests by id, once each: one missing
            // is a broken answer, not a passing fault to wait out.
            let mut unanswered: BTreeSet<usize> = pending.iter().copied().collect();
            for item in parsed.responses {
                let Some(i) = item
                    .id
                    .parse::<usize>()
                    .ok()
                    .filter(|i| unanswered.remove(i))
                else {
                    return Err(GraphError::decode(
                        "POST /$batch",
                        format!(
                            "the $batch answer held a response for request {:?}, which was not asked or was answered twice",
                            excerpt(&item.id, 40)
                        ),
                    ));
                };
                let op = format!("GET {}", paths[i].split('?').next().unwrap_or(&paths[i]));
                if (200..300).contains(&item.status) {
                    results[i] = Some(Ok(item.body.unwrap_or(Value::Null)));
                    continue;
                }
                let inner_request_id = item
                    .body
                    .as_ref()
                    .and_then(|b| b.pointer("/error/innerError/request-id"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| {
                        item.headers
                            .get("request-id")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    });
                let odata: ODataError = item
                    .body
                    .clone()
                    .and_then(|b| serde_json::from_value(b).ok())
                    .unwrap_or_default();
                let err = GraphError::from_status(
                    op,
                    item.status,
                    odata.error.code,
                    odata.error.message,
                    inner_request_id,
                );
                if matches!(item.status, 429 | 502 | 503 | 504) {
                    let ra = item
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                        .and_then(|(_, v)| {
                            v.as_str()
                                .map(str::to_string)
                                .or_else(|| v.as_f64().map(|f| f.to_string()))
                        })
                        .and_then(|v| parse_retry_after(&v, SystemTime::now()));
                    if let Some(ra) = ra {
                        wait = Some(wait.map_or(ra, |w| w.max(ra)));
                    }
                    last_transient.insert(i, err);
                } else {
                    results[i] = Some(Err(err));
                }
            }
            if let Some(&i) = unanswered.first() {
                let more = match unanswered.len() - 1 {
                    0 => String::new(),
                    n => format!(" (nor for {n} more)"),
                };
                return Err(GraphError::decode(
                    "POST /$batch",
                    format!(
                        "the $batch answer held no response for request {i} (GET {}){more}",
                        paths[i].split('?').next().unwrap_or(&paths[i])
                    ),
                ));
            }
            if results.iter().all(Option::is_some) {
                break;
            }
            let delay = self.backoff.delay(round, wait);
            if !self
                .backoff
                .may_retry(round, first, self.clock.now(), delay)
            {
                for (i, slot) in results.iter_mut().enumerate() {
                    if slot.is_none() {
                        let err = last_transient.remove(&i).unwrap_or_else(|| {
                            GraphError::decode(
                                format!("GET {}", paths[i].split('?').next().unwrap_or(&paths[i])),
                                "no answer in the $batch response",
                            )
                        });
                        *slot = Some(Err(GraphError {
                            kind: ErrorKind::Throttled,
                            ..err
                        }));
                    }
                }
                break;
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                round,
                pending = paths.len(),
                wait_ms = delay.as_millis() as u64,
                "retrying part of a $batch"
            );
            self.clock.sleep(delay).await;
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(GraphError::decode("POST /$batch", "missing answer"))))
            .collect())
    }

    async fn post_request(&self, request: &ScheduleRequest) -> Result<RequestOutcome, GraphError> {
        let body = NewScheduleRequest {
            action: request.action.as_str().to_string(),
            principal_id: request.principal_id.clone(),
            role_definition_id: request.role_id.clone(),
            directory_scope_id: request.scope_id.clone(),
            justification: request.justification.clone(),
            schedule_info: request
                .schedule
                .as_ref()
                .filter(|_| request.action.sends_schedule())
                .map(|s| schedule_to_wire(s, Utc::now())),
            ticket_info: request.ticket.as_ref().map(|t| TicketInfo {
                ticket_number: Some(t.number.clone()),
                ticket_system: t.system.clone(),
            }),
        };
        let call = Call {
            method: Method::POST,
            url: self.url(&format!(
                "/roleManagement/directory/{}",
                set_name(request.kind, true)
            )),
            body: Some(
                serde_json::to_value(&body)
                    .map_err(|e| GraphError::decode("encode request", e.to_string()))?,
            ),
            idempotent: false,
            retry_replication: true,
        };
        let op = call.operation(&self.root);
        let wire: UnifiedRoleAssignmentScheduleRequest = self.execute(&call).await?.decode(&op)?;
        Ok(outcome(request.kind, wire, false))
    }

    /// After a broken connection: did the request take effect? Looks for a
    /// request of the same action, principal, role, scope and justification
    /// made since just before it was sent.
    async fn find_sent(
        &self,
        request: &ScheduleRequest,
        sent_after: chrono::DateTime<Utc>,
    ) -> Result<Option<RequestOutcome>, GraphError> {
        let filter = GrantFilter {
            principal_id: Some(request.principal_id.clone()),
            role_id: Some(request.role_id.clone()),
            scope_id: Some(request.scope_id.clone()),
        };
        let found = self.list_requests(request.kind, &filter).await?;
        Ok(found
            .into_iter()
            .filter(|o| {
                o.action.eq_ignore_ascii_case(request.action.as_str())
                    && o.justification == request.justification
                    && o.created.is_none_or(|c| c >= sent_after)
            })
            .max_by_key(|o| o.created))
    }
}

fn pack_batch(paths: &[String], pending: &[usize]) -> BatchRequest {
    BatchRequest {
        requests: pending
            .iter()
            .map(|i| BatchRequestItem {
                id: i.to_string(),
                method: "GET".into(),
                url: paths[*i].clone(),
                headers: None,
                body: None,
            })
            .collect(),
    }
}

fn error_from_response(op: &str, r: &Response) -> GraphError {
    let odata: ODataError = serde_json::from_slice(&r.body).unwrap_or_default();
    let request_id = r.request_id.clone().or_else(|| {
        odata
            .error
            .inner_error
            .as_ref()
            .and_then(|i| i.request_id.clone())
    });
    let message = if odata.error.message.is_empty() && odata.error.code.is_empty() {
        // Content type first: the excerpt is what gets cut.
        format!(
            "({}) {}",
            r.content_type
                .as_deref()
                .map_or("no content type".into(), |c| excerpt(c, 100)),
            body_excerpt(&r.body, EXCERPT_CHARS)
        )
    } else {
        odata.error.message
    };
    GraphError::from_status(op, r.status, odata.error.code, message, request_id)
}

fn outcome(
    kind: AssignmentKind,
    w: UnifiedRoleAssignmentScheduleRequest,
    reconciled: bool,
) -> RequestOutcome {
    let schedule = w.schedule_info.as_ref().and_then(|info| {
        Some(Schedule {
            start: info.start_date_time.as_deref().and_then(parse_time),
            expiration: expiration_from_wire(info.expiration.as_ref()).ok()?,
        })
    });
    let ticket = w.ticket_info.as_ref().and_then(|t| {
        Some(Ticket {
            number: t.ticket_number.clone().filter(|n| !n.is_empty())?,
            system: t.ticket_system.clone(),
        })
    });
    let created_by = w.created_by.as_ref().and_then(|c| {
        c.user
            .as_ref()
            .or(c.application.as_ref())
            .and_then(|i| i.id.as_ref())
            .map(|id| id.to_ascii_lowercase())
    });
    RequestOutcome {
        schedule,
        ticket,
        created_by,
        completed: w.completed_date_time.as_deref().and_then(parse_time),
        kind,
        request_id: w.id,
        status: w.status,
        action: w.action.unwrap_or_default(),
        principal_id: w.principal_id.to_ascii_lowercase(),
        role_id: w.role_definition_id.to_ascii_lowercase(),
        scope_id: w.directory_scope_id.unwrap_or_else(|| "/".into()),
        target_schedule_id: w.target_schedule_id,
        justification: w.justification,
        created: w.created_date_time.as_deref().and_then(parse_time),
        approval_id: w.approval_id,
        reconciled,
    }
}

fn convert_err(op: &str) -> impl Fn(ConvertError) -> GraphError + '_ {
    move |e| GraphError::decode(op, e.0)
}

fn entry(kind: EntryKind, v: &Value) -> Option<DirectoryEntry> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(DirectoryEntry {
        id: s("id")?.to_ascii_lowercase(),
        kind,
        display_name: s("displayName").unwrap_or_default(),
        user_principal_name: s("userPrincipalName"),
        app_id: s("appId"),
        is_assignable_to_role: v.get("isAssignableToRole").and_then(Value::as_bool),
    })
}

fn lookup_path(q: &Lookup) -> (String, EntryKind, bool) {
    let filter_by = |set: &str, select: &str, prop: &str, value: &str| {
        format!(
            "/{set}{}",
            query(&[
                ("$filter", format!("{prop} eq {}", odata_string(value))),
                ("$select", select.to_string()),
            ])
        )
    };
    const USER: &str = "id,displayName,userPrincipalName";
    const GROUP: &str = "id,displayName,isAssignableToRole";
    const SP: &str = "id,displayName,appId";
    const AU: &str = "id,displayName";
    match q {
        Lookup::UserByUpn(upn) => {
            let path = if upn.starts_with('$') {
                // A UPN starting with `$` reads as a system query option after a slash.
                format!(
                    "/users({})",
                    utf8_percent_encode(&odata_string(upn), SEGMENT)
                )
            } else {
                format!("/users/{}", utf8_percent_encode(upn, SEGMENT))
            };
            (
                format!("{path}{}", query(&[("$select", USER.into())])),
                EntryKind::User,
                true,
            )
        }
        Lookup::GroupsByName(n) => (
            filter_by("groups", GROUP, "displayName", n),
            EntryKind::Group,
            false,
        ),
        Lookup::ServicePrincipalsByName(n) => (
            filter_by("servicePrincipals", SP, "displayName", n),
            EntryKind::ServicePrincipal,
            false,
        ),
        Lookup::ServicePrincipalByAppId(a) => (
            format!(
                "/servicePrincipals(appId={}){}",
                utf8_percent_encode(&odata_string(a), SEGMENT),
                query(&[("$select", SP.into())])
            ),
            EntryKind::ServicePrincipal,
            true,
        ),
        Lookup::AdministrativeUnitsByName(n) => (
            filter_by("directory/administrativeUnits", AU, "displayName", n),
            EntryKind::AdministrativeUnit,
            false,
        ),
        Lookup::StartingWith(kind, prefix) => {
            let (set, select, prop) = match kind {
                EntryKind::User => ("users", USER, "userPrincipalName"),
                EntryKind::Group => ("groups", GROUP, "displayName"),
                EntryKind::ServicePrincipal => ("servicePrincipals", SP, "displayName"),
                EntryKind::AdministrativeUnit => {
                    ("directory/administrativeUnits", AU, "displayName")
                }
            };
            (
                format!(
                    "/{set}{}",
                    query(&[
                        (
                            "$filter",
                            format!("startswith({prop},{})", odata_string(prefix))
                        ),
                        ("$select", select.to_string()),
                        ("$top", "25".to_string()),
                    ])
                ),
                *kind,
                false,
            )
        }
    }
}

#[async_trait]
impl Graph for HttpGraph {
    fn tenant_id(&self) -> Option<String> {
        self.tenant_id.clone()
    }

    async fn caller_id(&self) -> Result<String, GraphError> {
        self.caller
            .get_or_try_init(|| self.identify_caller())
            .await
            .cloned()
    }

    async fn grants(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<Grant>, GraphError> {
        let mut q = vec![("$top", page_size::SCHEDULES.to_string())];
        if let Some(f) = grant_filter(filter) {
            q.push(("$filter", f));
        }
        let path = format!(
            "/roleManagement/directory/{}{}",
            set_name(kind, false),
            query(&q)
        );
        let op = format!("GET /roleManagement/directory/{}", set_name(kind, false));
        self.grants_at(kind, &path, &op).await
    }

    async fn policies(&self, role_ids: Option<&[String]>) -> Result<Vec<Policy>, GraphError> {
        const SCOPE: &str = "scopeId eq '/' and scopeType eq 'DirectoryRole'";
        const EXPAND: &str = "policy($expand=rules)";
        let op = "GET /policies/roleManagementPolicyAssignments";
        let assignments: Vec<UnifiedRoleManagementPolicyAssignment> = match role_ids {
            // A few roles: one filtered read each, all in one $batch.
            Some(ids) if ids.len() <= 3 => {
                let paths: Vec<String> = ids
                    .iter()
                    .map(|id| {
                        format!(
                            "/policies/roleManagementPolicyAssignments{}",
                            query(&[
                                (
                                    "$filter",
                                    format!("{SCOPE} and roleDefinitionId eq {}", odata_string(id))
                                ),
                                ("$expand", EXPAND.to_string()),
                            ])
                        )
                    })
                    .collect();
                let mut all = Vec::new();
                for r in self.batch_get(&paths).await? {
                    let page: Page<UnifiedRoleManagementPolicyAssignment> =
                        serde_json::from_value(r?)
                            .map_err(|e| GraphError::decode(op, e.to_string()))?;
                    all.extend(page.value);
                }
                all
            }
            // Many roles: the whole list at once is fewer calls than one per role.
            _ => {
                let path = format!(
                    "/policies/roleManagementPolicyAssignments{}",
                    query(&[
                        ("$filter", SCOPE.to_string()),
                        ("$expand", EXPAND.to_string()),
                        ("$top", page_size::POLICY_ASSIGNMENTS.to_string()),
                    ])
                );
                self.get_all(&path).await?
            }
        };
        let wanted: Option<std::collections::BTreeSet<String>> =
            role_ids.map(|ids| ids.iter().map(|i| i.to_ascii_lowercase()).collect());
        let mut out = Vec::new();
        for a in assignments {
            let role = a.role_definition_id.to_ascii_lowercase();
            if wanted.as_ref().is_some_and(|w| !w.contains(&role)) {
                continue;
            }
            let rules = match &a.policy {
                Some(p) => rule_set_from_wire(&p.rules).map_err(convert_err(op))?,
                None => return Err(GraphError::decode(op, "policy was not expanded")),
            };
            out.push(Policy {
                policy_id: a.policy_id,
                role_id: role,
                rules,
            });
        }
        Ok(out)
    }

    async fn role_definitions(&self) -> Result<Vec<RoleDefinition>, GraphError> {
        let path = format!(
            "/roleManagement/directory/roleDefinitions{}",
            query(&[(
                "$select",
                "id,displayName,isBuiltIn,templateId,isEnabled".into()
            )])
        );
        let defs: Vec<UnifiedRoleDefinition> = self.get_all(&path).await?;
        Ok(defs
            .into_iter()
            .map(|d| RoleDefinition {
                id: d.id.to_ascii_lowercase(),
                display_name: d.display_name,
                is_builtin: d.is_built_in,
            })
            .collect())
    }

    async fn principals_by_ids(&self, ids: &[String]) -> Result<Vec<Principal>, GraphError> {
        const TYPES: [&str; 3] = ["user", "group", "servicePrincipal"];
        let calls = ids.chunks(page_size::GET_BY_IDS).map(|chunk| async move {
            let body = serde_json::to_value(GetByIds {
                ids: chunk,
                types: &TYPES,
            })
            .map_err(|e| GraphError::decode("POST /directoryObjects/getByIds", e.to_string()))?;
            let call = Call {
                method: Method::POST,
                url: self.url("/directoryObjects/getByIds"),
                body: Some(body),
                // A read, though it is a POST.
                idempotent: true,
                retry_replication: false,
            };
            let page: Page<Value> = self
                .execute(&call)
                .await?
                .decode("POST /directoryObjects/getByIds")?;
            Ok::<_, GraphError>(page.value)
        });
        let mut out = Vec::new();
        for r in futures::future::join_all(calls).await {
            for v in r? {
                let Ok(obj) = serde_json::from_value::<DirectoryObject>(v) else {
                    continue;
                };
                out.push(match obj {
                    DirectoryObject::User(u) => Principal {
                        id: u.id.to_ascii_lowercase(),
                        kind: PrincipalKind::User,
                        display_name: u.display_name.unwrap_or_default(),
                        user_principal_name: u.user_principal_name,
                        app_id: None,
                        is_assignable_to_role: None,
                    },
                    DirectoryObject::Group(g) => Principal {
                        id: g.id.to_ascii_lowercase(),
                        kind: PrincipalKind::Group,
                        display_name: g.display_name.unwrap_or_default(),
                        user_principal_name: None,
                        app_id: None,
                        is_assignable_to_role: g.is_assignable_to_role,
                    },
                    DirectoryObject::ServicePrincipal(s) => Principal {
                        id: s.id.to_ascii_lowercase(),
                        kind: PrincipalKind::ServicePrincipal,
                        display_name: s.display_name.unwrap_or_default(),
                        user_principal_name: None,
                        app_id: s.app_id,
                        is_assignable_to_role: None,
                    },
                    DirectoryObject::Other => continue,
                });
            }
        }
        Ok(out)
    }

    async fn administrative_units(&self) -> Result<Vec<AdministrativeUnit>, GraphError> {
        let path = format!(
            "/directory/administrativeUnits{}",
            query(&[
                ("$select", "id,displayName".into()),
                ("$top", page_size::DIRECTORY.to_string()),
            ])
        );
        let aus: Vec<wire::AdministrativeUnit> = self.get_all(&path).await?;
        Ok(aus
            .into_iter()
            .map(|a| AdministrativeUnit {
                id: a.id.to_ascii_lowercase(),
                display_name: a.display_name.unwrap_or_default(),
            })
            .collect())
    }

    async fn lookup(
        &self,
        queries: &[Lookup],
    ) -> Result<Vec<Result<Vec<DirectoryEntry>, GraphError>>, GraphError> {
        let plans: Vec<(String, EntryKind, bool)> = queries.iter().map(lookup_path).collect();
        let paths: Vec<String> = plans.iter().map(|p| p.0.clone()).collect();
        let answers = self.batch_get(&paths).await?;
        Ok(answers
            .into_iter()
            .zip(plans)
            .map(|(answer, (_, kind, single))| match answer {
                Ok(v) if single => Ok(entry(kind, &v).into_iter().collect()),
                Ok(v) => Ok(v
                    .get("value")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|x| entry(kind, x)).collect())
                    .unwrap_or_default()),
                Err(e) if single && e.kind == ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(e),
            })
            .collect())
    }

    async fn create_request(
        &self,
        request: &ScheduleRequest,
    ) -> Result<RequestOutcome, GraphError> {
        let op = format!(
            "POST /roleManagement/directory/{}",
            set_name(request.kind, true)
        );
        let mut resends = 0u32;
        loop {
            // Graph's clock and ours may differ a little; a minute of slack
            // still cannot match a request of an earlier run of pim.
            let sent_after = Utc::now() - chrono::TimeDelta::seconds(60);
            match self.post_request(request).await {
                Err(e) if e.kind == ErrorKind::OutcomeUnknown => {
                    tracing::warn!(operation = %op, "connection lost after sending; checking whether the request took effect: {e}");
                    let found =
                        self.find_sent(request, sent_after)
                            .await
                            .map_err(|re| GraphError {
                                kind: ErrorKind::OutcomeUnknown,
                                message: format!("{}; checking failed too: {re}", e.message),
                                ..e.clone()
                            })?;
                    if let Some(mut o) = found {
                        self.stats.reconciled.fetch_add(1, Ordering::Relaxed);
                        o.reconciled = true;
                        return Ok(o);
                    }
                    // It never arrived: sending again cannot duplicate it.
                    resends += 1;
                    if resends >= self.backoff.policy().max_attempts {
                        return Err(e);
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.clock.sleep(self.backoff.delay(resends, None)).await;
                }
                other => return other,
            }
        }
    }

    async fn get_request(
        &self,
        kind: AssignmentKind,
        id: &str,
    ) -> Result<RequestOutcome, GraphError> {
        let path = format!(
            "/roleManagement/directory/{}/{}",
            set_name(kind, true),
            utf8_percent_encode(id, SEGMENT)
        );
        let w: UnifiedRoleAssignmentScheduleRequest = self.get_json(&path).await?;
        Ok(outcome(kind, w, false))
    }

    async fn list_requests(
        &self,
        kind: AssignmentKind,
        filter: &GrantFilter,
    ) -> Result<Vec<RequestOutcome>, GraphError> {
        let mut q = vec![("$top", page_size::REQUESTS.to_string())];
        if let Some(f) = grant_filter(filter) {
            q.push(("$filter", f));
        }
        let path = format!(
            "/roleManagement/directory/{}{}",
            set_name(kind, true),
            query(&q)
        );
        let all: Vec<UnifiedRoleAssignmentScheduleRequest> = self.get_all(&path).await?;
        Ok(all.into_iter().map(|w| outcome(kind, w, false)).collect())
    }

    async fn update_rule(
        &self,
        policy_id: &str,
        rule: RuleId,
        value: &RuleValue,
    ) -> Result<(), GraphError> {
        let wire = rule_to_wire(rule, value).ok_or_else(|| {
            GraphError::config(format!("a {value:?} value does not fit policy rule {rule}"))
        })?;
        let call = Call {
            method: Method::PATCH,
            url: self.url(&format!(
                "/policies/roleManagementPolicies/{}/rules/{}",
                utf8_percent_encode(policy_id, SEGMENT),
                rule.as_str()
            )),
            body: Some(
                serde_json::to_value(&wire)
                    .map_err(|e| GraphError::decode("encode rule", e.to_string()))?,
            ),
            // The whole rule is sent: applying it twice leaves the same rule.
            idempotent: true,
            retry_replication: false,
        };
        // v1.0 answers 204, newer revisions 200 with the rule: both are success.
        self.execute(&call).await.map(|_| ())
    }

    async fn me(&self) -> Result<Me, GraphError> {
        let u: wire::User = self
            .get_json(&format!(
                "/me{}",
                query(&[("$select", "id,displayName,userPrincipalName".into())])
            ))
            .await?;
        Ok(Me {
            id: u.id.to_ascii_lowercase(),
            display_name: u.display_name.unwrap_or_default(),
            user_principal_name: u.user_principal_name,
        })
    }

    async fn token_has_mfa(&self) -> Result<Option<bool>, GraphError> {
        let token = self.tokens.get().await?;
        Ok(mfa_from_token(&token).or_else(|| self.tokens.source_mfa()))
    }

    async fn my_grants(&self, kind: AssignmentKind) -> Result<Vec<Grant>, GraphError> {
        let path = format!("/roleManagement/directory/{}/{MINE}", set_name(kind, false));
        let op = format!("GET {path}");
        self.grants_at(kind, &path, &op).await
    }

    async fn my_instances(&self, kind: AssignmentKind) -> Result<Vec<Instance>, GraphError> {
        let set = match kind {
            AssignmentKind::Eligible => "roleEligibilityScheduleInstances",
            AssignmentKind::Active => "roleAssignmentScheduleInstances",
        };
        let path = format!("/roleManagement/directory/{set}/{MINE}");
        Ok(self
            .get_all::<UnifiedRoleScheduleInstance>(&path)
            .await?
            .into_iter()
            .map(|i| instance(kind, i))
            .collect())
    }

    async fn my_requests(
        &self,
        kind: AssignmentKind,
        party: RequestParty,
    ) -> Result<Vec<RequestOutcome>, GraphError> {
        let path = format!(
            "/roleManagement/directory/{}/filterByCurrentUser(on='{}')",
            set_name(kind, true),
            party.as_str()
        );
        let all: Vec<UnifiedRoleAssignmentScheduleRequest> = self.get_all(&path).await?;
        Ok(all.into_iter().map(|w| outcome(kind, w, false)).collect())
    }

    async fn cancel_request(&self, kind: AssignmentKind, id: &str) -> Result<(), GraphError> {
        let call = Call {
            method: Method::POST,
            url: self.url(&format!(
                "/roleManagement/directory/{}/{}/cancel",
                set_name(kind, true),
                utf8_percent_encode(id, SEGMENT)
            )),
            body: None,
            // A second cancel is refused (no longer cancelable): never resend blindly.
            idempotent: false,
            retry_replication: false,
        };
        self.execute(&call).await.map(|_| ())
    }
}

/// `filterByCurrentUser` for the signed-in principal's own grants.
const MINE: &str = "filterByCurrentUser(on='principal')";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::retry::RetryPolicy;
    use crate::graph::retry::tests::FakeClock;
    use crate::graph::{GraphSettings, StaticToken};

    #[tokio::test]
    async fn retries_are_bounded_and_wait_on_the_injected_clock() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let settings = GraphSettings {
            graph_url: format!("http://127.0.0.1:{port}/v1.0"),
            retry: RetryPolicy {
                max_attempts: 4,
                ..RetryPolicy::default()
            },
            ..GraphSettings::default()
        };
        let clock = FakeClock::new();
        let graph = HttpGraph::with_token_source(settings, Arc::new(StaticToken("t".into())))
            .unwrap()
            .with_clock(Arc::new(clock.clone()));
        let e = graph.role_definitions().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Connect, "{e}");
        assert_eq!(graph.stats().requests(), 4);
        let slept = clock.slept.lock().unwrap().clone();
        assert_eq!(slept.len(), 3);
        // Exponential: each wait at least half of a doubling step.
        assert!(slept[2] >= Duration::from_millis(500), "{slept:?}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn encodes_filters_and_literals() {
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
        let q = query(&[("$filter", "displayName eq 'A & B'".into())]);
        assert_eq!(q, "?$filter=displayName%20eq%20'A%20%26%20B'");
        let (p, kind, single) = lookup_path(&Lookup::UserByUpn("a#EXT#@b.com".into()));
        assert!(p.starts_with("/users/a%23EXT%23@b.com?"), "{p}");
        assert_eq!((kind, single), (EntryKind::User, true));
        let (p, _, _) = lookup_path(&Lookup::ServicePrincipalByAppId("00000003-0000".into()));
        assert!(
            p.starts_with("/servicePrincipals(appId='00000003-0000')"),
            "{p}"
        );
        let f = grant_filter(&GrantFilter {
            principal_id: Some("p".into()),
            role_id: Some("r".into()),
            scope_id: Some("/".into()),
        });
        assert_eq!(
            f.as_deref(),
            Some("principalId eq 'p' and roleDefinitionId eq 'r' and directoryScopeId eq '/'")
        );
    }

    #[test]
    fn packs_batches_of_twenty_with_index_ids() {
        let paths: Vec<String> = (0..45).map(|i| format!("/users/u{i}@x.com")).collect();
        let chunks: Vec<&[String]> = paths.chunks(page_size::BATCH).collect();
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![20, 20, 5]
        );
        let b = pack_batch(chunks[2], &[0, 3]);
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["requests"][1]["id"], "3");
        assert_eq!(v["requests"][1]["method"], "GET");
        assert_eq!(v["requests"][1]["url"], "/users/u43@x.com");
        assert!(v["requests"][0].get("body").is_none());
    }
}
