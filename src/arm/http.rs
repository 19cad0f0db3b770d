//! `HttpArm`: the [`Arm`] trait over HTTPS. One call is a token (ARM's
//! scope, from the shared credential), a token from ARM's bucket for its
//! subscription, a slot of the read/write concurrency limit, the exchange,
//! and retries on 429/5xx honouring `Retry-After`; lists follow `nextLink`
//! only on the endpoint. The pieces are the Graph client's (`TokenCache`,
//! `Backoff`, `Limiter`, `ApiRoot`, TLS), put together for ARM's wire.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::convert::{
    request_from_wire, request_to_wire, rule_set_from_wire, rule_to_wire, schedule_from_wire,
};
use super::error::from_response;
use super::rate::{BucketKey, Buckets, Operation};
use super::scope::{normalize_scope, same_scope};
use super::settings::{ARM_SCOPE, ArmSettings, Collection};
use super::wire::{
    ApprovalProperties, Page, PolicyAssignmentProperties, PolicyProperties, RequestProperties,
    Resource, RoleDefinitionProperties, ScheduleProperties,
};
use super::{
    Arm, ArmApproval, ArmApprovalStage, ArmPolicy, ArmRequest, ArmRequestOutcome,
    ArmRoleDefinition, ArmSchedule, ArmSubscription,
};
use crate::graph::convert::parse_time;
use crate::graph::link::{ApiRoot, redirect_policy};
use crate::graph::retry::after_transport_failure;
use crate::graph::{
    AzureCredential, Backoff, ErrorKind, GraphError, HttpGraph, Limiter, ReadLimits, Service,
    Signal, Timer, TokenCache, TokenSource, body_excerpt, client_config, excerpt,
    parse_retry_after, read_capped, root_cause,
};
use crate::model::{AssignmentKind, RuleSet, SystemClock};

/// Bytes of an error answer read: CloudErrors are well under 1 KiB.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Times a PUT whose answer was lost, and which a GET then did not find,
/// is sent again under the same name.
const MAX_RESENDS: u32 = 3;

/// What `$filter` values keep literally: ARM's functions and quotes.
const FILTER: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'(')
    .remove(b')')
    .remove(b'\'');

/// Counters of what the client sent, for tests and the benchmark.
#[derive(Debug, Default)]
pub struct ArmStats {
    /// HTTP exchanges attempted (retries included, token requests excluded).
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// Answers of 429.
    pub throttled: AtomicU64,
    /// Writes whose outcome was read back after their answer was lost.
    pub reconciled: AtomicU64,
    /// Milliseconds calls waited for ARM's buckets before being sent.
    pub paced_ms: AtomicU64,
}

impl ArmStats {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
    pub fn reconciled(&self) -> u64 {
        self.reconciled.load(Ordering::Relaxed)
    }
    pub fn paced(&self) -> Duration {
        Duration::from_millis(self.paced_ms.load(Ordering::Relaxed))
    }
}

/// ARM over HTTPS.
pub struct HttpArm {
    client: reqwest::Client,
    api_root: ApiRoot,
    /// The endpoint as written in URLs, without a trailing slash.
    root: String,
    limits: ReadLimits,
    tokens: TokenCache,
    limiter: Limiter,
    buckets: Buckets,
    backoff: Backoff,
    clock: Arc<dyn Timer>,
    stats: Arc<ArmStats>,
}

/// One logical call.
struct Call {
    method: Method,
    url: String,
    body: Option<Value>,
    /// Safe to resend when the outcome is unknown.
    idempotent: bool,
    /// Retry `SubjectNotFound` (a principal created moments ago).
    retry_subject: bool,
}

impl Call {
    fn get(url: String) -> Self {
        Call {
            method: Method::GET,
            url,
            body: None,
            idempotent: true,
            retry_subject: false,
        }
    }
}

struct Response {
    status: u16,
    retry_after: Option<Duration>,
    request_id: Option<String>,
    content_type: Option<String>,
    location: Option<String>,
    body: bytes::Bytes,
}

struct Transport {
    error: GraphError,
    maybe_sent: bool,
    retryable: bool,
}

fn arm(e: GraphError) -> GraphError {
    GraphError {
        service: Service::Arm,
        ..e
    }
}

fn arm_error(kind: ErrorKind, op: impl Into<String>, message: impl Into<String>) -> GraphError {
    arm(GraphError::new(kind, op, message))
}

impl HttpArm {
    /// A client signing in with the credential the settings choose (its
    /// own; [`HttpArm::sharing`] uses a Graph client's).
    pub fn new(settings: ArmSettings) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        let credential = AzureCredential::new(&settings.connection, &client)?;
        Self::assemble(settings, client, Arc::new(credential))
    }

    /// A client taking tokens from `source` (tests, or a token obtained elsewhere).
    pub fn with_token_source(
        settings: ArmSettings,
        source: Arc<dyn TokenSource>,
    ) -> Result<Self, GraphError> {
        let client = Self::http_client(&settings)?;
        Self::assemble(settings, client, source)
    }

    /// A client signing in with `graph`'s credential, for ARM's scope: one
    /// sign-in, two resources.
    pub fn sharing(settings: ArmSettings, graph: &HttpGraph) -> Result<Self, GraphError> {
        Self::with_token_source(settings, graph.token_source())
    }

    /// Replace the clock of retry waits and of ARM's buckets (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Timer>) -> Self {
        self.clock = clock;
        self
    }

    pub fn stats(&self) -> &ArmStats {
        &self.stats
    }

    fn http_client(settings: &ArmSettings) -> Result<reqwest::Client, GraphError> {
        settings.validate()?;
        let c = &settings.connection;
        let mut pem: Vec<u8> = Vec::new();
        if let Some(path) = &c.ca_cert {
            pem = std::fs::read(path).map_err(|e| {
                arm(GraphError::config(format!(
                    "cannot read the CA certificate {}: {e}",
                    path.display()
                )))
            })?;
        }
        if let Some(text) = &c.ca_pem {
            pem.push(b'\n');
            pem.extend_from_slice(text.as_bytes());
        }
        let tls = client_config((!pem.is_empty()).then_some(pem.as_slice())).map_err(arm)?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(redirect_policy(
                ApiRoot::parse(settings.root()).map_err(arm)?,
            ))
            .timeout(c.request_timeout)
            .connect_timeout(c.connect_timeout)
            .pool_max_idle_per_host(c.parallelism.max(1) * 2)
            .user_agent(concat!("pim/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                arm(GraphError::config(format!(
                    "cannot build the HTTP client: {}",
                    root_cause(&e)
                )))
            })
    }

    fn assemble(
        settings: ArmSettings,
        client: reqwest::Client,
        source: Arc<dyn TokenSource>,
    ) -> Result<Self, GraphError> {
        let api_root = ApiRoot::parse(settings.root()).map_err(arm)?;
        Ok(HttpArm {
            client,
            root: api_root.as_str().to_string(),
            api_root,
            limits: settings.connection.limits.clone(),
            tokens: TokenCache::new(source).for_scope(ARM_SCOPE),
            limiter: Limiter::new(settings.connection.parallelism, true),
            buckets: Buckets::new(settings.rates.clone()),
            backoff: Backoff::new(settings.connection.retry.clone()),
            clock: Arc::new(SystemClock),
            stats: Arc::new(ArmStats::default()),
        })
    }

    /// `{root}{scope}/providers/Microsoft.Authorization/{collection}[/{name}[/{action}]]?api-version=…[&$filter=…]`.
    fn url(
        &self,
        scope: &str,
        collection: Collection,
        name: Option<&str>,
        action: Option<&str>,
        filter: Option<&str>,
    ) -> Result<String, GraphError> {
        let scope = normalize_scope(scope)?;
        let mut url = format!(
            "{}{scope}/providers/Microsoft.Authorization/{}",
            self.root,
            collection.segment()
        );
        if let Some(n) = name {
            url.push('/');
            url.push_str(&path_segment(n)?);
        }
        if let Some(a) = action {
            url.push('/');
            url.push_str(a);
        }
        url.push_str("?api-version=");
        url.push_str(collection.api_version());
        if let Some(f) = filter {
            url.push_str("&$filter=");
            url.extend(utf8_percent_encode(f, FILTER));
        }
        Ok(url)
    }

    /// A full resource id (a policy's) as a URL under the endpoint.
    fn id_url(&self, id: &str, collection: Collection) -> Result<String, GraphError> {
        let marker = format!(
            "/providers/microsoft.authorization/{}/",
            collection.segment().to_ascii_lowercase()
        );
        let lower = id.to_ascii_lowercase();
        let at = lower.rfind(&marker).ok_or_else(|| {
            arm_error(
                ErrorKind::Config,
                "read an ARM id",
                format!(
                    "{:?} is not the id of one of ARM's {}",
                    excerpt(id, 200),
                    collection.segment()
                ),
            )
        })?;
        let name = &id[at + marker.len()..];
        self.url(
            &id[..at],
            collection,
            Some(name.trim_end_matches('/')),
            None,
            None,
        )
    }

    fn operation(&self, call: &Call) -> String {
        self.operation_on(call.method.as_str(), &call.url)
    }

    /// `GET /subscriptions/…/roleManagementPolicies/…`: the method and the
    /// path below the endpoint, without the query.
    fn operation_on(&self, method: &str, url: &str) -> String {
        let path = url.strip_prefix(&self.root).unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        format!("{method} {path}")
    }

    /// One exchange, with its token, its bucket and its slot.
    async fn attempt(
        &self,
        call: &Call,
        op: &str,
        client_request_id: &str,
    ) -> Result<Response, Transport> {
        let token = self.tokens.get().await.map_err(|error| Transport {
            error: arm(error),
            maybe_sent: false,
            retryable: false,
        })?;
        let path = call.url.strip_prefix(&self.root).unwrap_or(&call.url);
        let key = BucketKey::of(&call.method, path);
        let waited = self.buckets.take(&key, self.clock.as_ref()).await;
        if !waited.is_zero() {
            self.stats
                .paced_ms
                .fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
        }
        let permit = self.limiter.acquire(self.clock.as_ref()).await;
        let epoch = permit.epoch;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .client
            .request(call.method.clone(), &call.url)
            .bearer_auth(token)
            .header("x-ms-client-request-id", client_request_id)
            .header("Accept", "application/json");
        if let Some(b) = &call.body {
            req = req.json(b);
        } else if call.method != Method::GET {
            // ARM wants a length on a bodiless POST (`cancel`).
            req = req.header("Content-Length", "0");
        }
        let transport = |e: reqwest::Error, sent: bool| {
            let (kind, maybe_sent) = if e.is_connect() {
                (ErrorKind::Connect, false)
            } else if e.is_timeout() {
                (ErrorKind::Timeout, true)
            } else {
                (ErrorKind::Network, sent)
            };
            Transport {
                error: arm_error(kind, op, root_cause(&e))
                    .with_client_request_id(Some(client_request_id.to_string())),
                maybe_sent,
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
        let request_id = header("x-ms-request-id");
        let content_type = header("content-type");
        let location = header("location");
        for op_kind in [Operation::Read, Operation::Write, Operation::Delete] {
            for sub in [key.subscription.clone(), None] {
                let k = BucketKey {
                    subscription: sub,
                    operation: op_kind,
                };
                if let Some(n) = header(&k.header()).and_then(|v| v.trim().parse::<u64>().ok()) {
                    self.buckets.observe(&k, n, self.clock.as_ref());
                }
            }
        }
        let success = (200..300).contains(&status);
        let limit = if success {
            self.limits.max_response_bytes
        } else {
            MAX_ERROR_BODY_BYTES
        };
        let too_large = |what: String| Transport {
            error: arm_error(
                ErrorKind::TooLarge,
                op,
                format!(
                    "{what}; pim reads at most {} bytes of one answer",
                    self.limits.max_response_bytes
                ),
            ),
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
        if cut && success {
            return Err(too_large(format!("it runs past {limit} bytes")));
        }
        drop(permit);
        let signal = match status {
            429 => Signal::Throttled(retry_after),
            200..300 => Signal::Success,
            _ => Signal::Neutral,
        };
        self.limiter.observe(epoch, signal, self.clock.as_ref());
        Ok(Response {
            status,
            retry_after,
            request_id,
            content_type,
            location,
            body,
        })
    }

    /// A call with retries. A non-idempotent call whose request may have
    /// reached ARM comes back as `OutcomeUnknown`, never resent here.
    async fn execute(&self, call: &Call) -> Result<Response, GraphError> {
        let first = self.clock.now();
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let op = self.operation(call);
        let mut attempt = 0u32;
        let mut token_renewed = false;
        loop {
            attempt += 1;
            let mut replicating = false;
            let (retry_after, error) = match self.attempt(call, &op, &client_request_id).await {
                Ok(r) if (200..300).contains(&r.status) => return Ok(r),
                Ok(r) if (300..400).contains(&r.status) && r.location.is_some() => {
                    let target = r.location.as_deref().unwrap_or_default();
                    let to = match Url::parse(&call.url).and_then(|f| f.join(target)) {
                        Ok(u) => self.api_root.describe(&u),
                        Err(_) => format!("{:?}", excerpt(target, 200)),
                    };
                    return Err(arm_error(
                        ErrorKind::UntrustedUrl,
                        &op,
                        format!(
                            "it redirects ({}) to {to}, away from the ARM endpoint {}; pim follows redirects only there",
                            r.status, self.root
                        ),
                    ));
                }
                Ok(r) => {
                    if r.status == 429 {
                        self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let error = from_response(
                        &op,
                        r.status,
                        &r.body,
                        r.content_type.as_deref(),
                        r.request_id.clone(),
                    )
                    .with_client_request_id(Some(client_request_id.clone()));
                    match r.status {
                        401 if !token_renewed => {
                            // A revoked or expired token: one fresh try.
                            token_renewed = true;
                            self.tokens.invalidate().await;
                            attempt -= 1;
                            continue;
                        }
                        504 if !call.idempotent => {
                            return Err(GraphError {
                                kind: ErrorKind::OutcomeUnknown,
                                ..error
                            });
                        }
                        429 | 502 | 503 | 504 => (r.retry_after, error),
                        400 | 404 if call.retry_subject && error.code == "SubjectNotFound" => {
                            replicating = true;
                            (None, error)
                        }
                        _ => return Err(error),
                    }
                }
                Err(Transport {
                    error,
                    maybe_sent,
                    retryable,
                }) => (
                    None,
                    after_transport_failure(error, maybe_sent, retryable, call.idempotent)?,
                ),
            };
            let (wait, error) = self.backoff.next_wait(
                &op,
                error,
                attempt,
                first,
                self.clock.now(),
                retry_after,
                replicating,
            )?;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                operation = %op,
                attempt,
                wait_ms = wait.as_millis() as u64,
                status = ?error.status,
                request_id = ?error.request_id,
                "retrying ARM call: {error}"
            );
            self.clock.sleep(wait).await;
        }
    }

    fn decode<T: DeserializeOwned>(&self, op: &str, r: &Response) -> Result<T, GraphError> {
        serde_json::from_slice(&r.body).map_err(|e| {
            if serde_json::from_slice::<serde::de::IgnoredAny>(&r.body).is_ok() {
                arm(GraphError::decode(op, e.to_string()))
            } else {
                arm_error(
                    ErrorKind::Decode,
                    op,
                    format!(
                        "the answer is not JSON ({}, {} bytes): {}",
                        r.content_type
                            .as_deref()
                            .map_or("no content type".into(), |c| excerpt(c, 100)),
                        r.body.len(),
                        body_excerpt(&r.body, 300)
                    ),
                )
            }
        })
    }

    async fn get_json<T: DeserializeOwned>(&self, url: String) -> Result<T, GraphError> {
        let call = Call::get(url);
        let op = self.operation(&call);
        let r = self.execute(&call).await?;
        self.decode(&op, &r)
    }

    /// Every item of a list, following `nextLink` as ARM gives it (it
    /// carries api-version and filter) but only on the endpoint's scheme,
    /// host and port, each link once, at most `max_pages` pages.
    async fn get_all<T: DeserializeOwned>(&self, first: String) -> Result<Vec<T>, GraphError> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let call = Call::get(url);
            let op = self.operation(&call);
            let r = self.execute(&call).await?;
            let page: Page<T> = self.decode(&op, &r)?;
            out.extend(page.value);
            seen.insert(call.url.clone());
            let Some(link) = page.next_link.filter(|l| !l.trim().is_empty()) else {
                break;
            };
            let from =
                Url::parse(&call.url).map_err(|e| arm(GraphError::decode(&op, e.to_string())))?;
            let url = self.api_root.follow(&link, &from).map_err(|to| {
                arm_error(
                    ErrorKind::UntrustedUrl,
                    &op,
                    format!(
                        "its nextLink leads to {to}, away from the ARM endpoint {}; pim follows links only there",
                        self.root
                    ),
                )
            })?;
            if seen.len() >= self.limits.max_pages {
                return Err(arm_error(
                    ErrorKind::Paging,
                    &op,
                    format!(
                        "{} pages and still a nextLink; pim reads at most {} pages of one list",
                        seen.len(),
                        self.limits.max_pages
                    ),
                ));
            }
            if seen.contains(url.as_str()) {
                return Err(arm_error(
                    ErrorKind::Paging,
                    &op,
                    format!(
                        "nextLink goes back to a page already read (after {} pages)",
                        seen.len()
                    ),
                ));
            }
            next = Some(url.to_string());
        }
        Ok(out)
    }

    async fn read_policy(&self, policy_id: &str) -> Result<ArmPolicy, GraphError> {
        let url = self.id_url(policy_id, Collection::Policies)?;
        let op = self.operation_on("GET", &url);
        let r: Resource<PolicyProperties> = self.get_json(url).await?;
        policy_from_wire(&op, r, None)
    }

    async fn read_request(
        &self,
        kind: AssignmentKind,
        scope: &str,
        name: &str,
    ) -> Result<ArmRequestOutcome, GraphError> {
        let url = self.url(scope, requests(kind), Some(name), None, None)?;
        let op = self.operation_on("GET", &url);
        let r: Resource<RequestProperties> = self.get_json(url).await?;
        request_from_wire(kind, r).map_err(|e| arm(GraphError::decode(op, e.0)))
    }
}

fn schedules(kind: AssignmentKind) -> Collection {
    match kind {
        AssignmentKind::Eligible => Collection::EligibilitySchedules,
        AssignmentKind::Active => Collection::AssignmentSchedules,
    }
}

fn instances(kind: AssignmentKind) -> Collection {
    match kind {
        AssignmentKind::Eligible => Collection::EligibilityInstances,
        AssignmentKind::Active => Collection::AssignmentInstances,
    }
}

fn requests(kind: AssignmentKind) -> Collection {
    match kind {
        AssignmentKind::Eligible => Collection::EligibilityRequests,
        AssignmentKind::Active => Collection::AssignmentRequests,
    }
}

/// A name that is one path segment and nothing more.
fn path_segment(name: &str) -> Result<String, GraphError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name != "."
        && name != "..";
    if ok {
        Ok(name.to_string())
    } else {
        Err(arm_error(
            ErrorKind::Config,
            "name an ARM resource",
            format!("{:?} is not a resource name ARM takes", excerpt(name, 100)),
        ))
    }
}

/// `'…'` for `$filter`, a quote inside doubled.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn policy_from_wire(
    op: &str,
    r: Resource<PolicyProperties>,
    role_definition_id: Option<String>,
) -> Result<ArmPolicy, GraphError> {
    let id = r.id.unwrap_or_default();
    let p = r.properties;
    let rules = rule_set_from_wire(p.rules.as_deref().unwrap_or_default())
        .map_err(|e| arm(GraphError::decode(op, e.0)))?;
    Ok(ArmPolicy {
        name: r
            .name
            .unwrap_or_else(|| id.rsplit('/').next().unwrap_or_default().to_string()),
        scope: p
            .scope
            .as_deref()
            .map(|s| normalize_scope(s).unwrap_or_else(|_| s.to_string()))
            .unwrap_or_default(),
        id,
        role_definition_id,
        rules,
        last_modified: p.last_modified_date_time.as_deref().and_then(parse_time),
    })
}

#[async_trait]
impl Arm for HttpArm {
    async fn schedules(
        &self,
        kind: AssignmentKind,
        scope: &str,
    ) -> Result<Vec<ArmSchedule>, GraphError> {
        let at = normalize_scope(scope)?;
        // `atScope()` is "at or above the scope" in the spec and "only the
        // specified scope" in the REST sample (UNVERIFIED which holds):
        // each item's own scope decides `inherited`, so either reads right.
        let url = self.url(&at, schedules(kind), None, None, Some("atScope()"))?;
        let op = format!(
            "GET {at}/providers/Microsoft.Authorization/{}",
            schedules(kind).segment()
        );
        let items: Vec<Resource<ScheduleProperties>> = self.get_all(url).await?;
        items
            .into_iter()
            .map(|r| {
                schedule_from_wire(kind, r, Some(&at))
                    .map_err(|e| arm(GraphError::decode(&op, e.0)))
            })
            .collect()
    }

    async fn my_instances(
        &self,
        kind: AssignmentKind,
        scope: Option<&str>,
    ) -> Result<Vec<ArmSchedule>, GraphError> {
        let at = normalize_scope(scope.unwrap_or("/"))?;
        let url = self.url(&at, instances(kind), None, None, Some("asTarget()"))?;
        let op = format!(
            "GET {at}/providers/Microsoft.Authorization/{}",
            instances(kind).segment()
        );
        let items: Vec<Resource<ScheduleProperties>> = self.get_all(url).await?;
        items
            .into_iter()
            .map(|r| {
                schedule_from_wire(kind, r, scope.map(|_| at.as_str()))
                    .map_err(|e| arm(GraphError::decode(&op, e.0)))
            })
            .collect()
    }

    async fn subscriptions(&self) -> Result<Vec<ArmSubscription>, GraphError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire {
            #[serde(default)]
            id: Option<String>,
            #[serde(default)]
            subscription_id: Option<String>,
            #[serde(default)]
            display_name: Option<String>,
            #[serde(default)]
            state: Option<String>,
        }
        let url = format!(
            "{}/subscriptions?api-version={}",
            self.root,
            super::settings::SUBSCRIPTIONS_API_VERSION
        );
        let items: Vec<Wire> = self.get_all(url).await?;
        Ok(items
            .into_iter()
            .filter_map(|w| {
                let subscription_id = w.subscription_id.or_else(|| {
                    w.id.as_deref()
                        .and_then(|i| i.rsplit('/').next())
                        .map(str::to_string)
                })?;
                Some(ArmSubscription {
                    id: w
                        .id
                        .unwrap_or_else(|| format!("/subscriptions/{subscription_id}")),
                    display_name: w.display_name.unwrap_or_default(),
                    subscription_id,
                    state: w.state,
                })
            })
            .collect())
    }

    async fn my_requests(
        &self,
        kind: AssignmentKind,
        scope: &str,
        party: crate::graph::RequestParty,
    ) -> Result<Vec<ArmRequestOutcome>, GraphError> {
        let filter = match party {
            crate::graph::RequestParty::Principal => "asTarget()",
            crate::graph::RequestParty::Approver => "asApprover()",
        };
        let url = self.url(scope, requests(kind), None, None, Some(filter))?;
        let op = self.operation_on("GET", &url);
        let items: Vec<Resource<RequestProperties>> = self.get_all(url).await?;
        items
            .into_iter()
            .map(|r| request_from_wire(kind, r).map_err(|e| arm(GraphError::decode(&op, e.0))))
            .collect()
    }

    async fn approval(&self, approval_id: &str) -> Result<ArmApproval, GraphError> {
        let url = self.id_url(approval_id, Collection::Approvals)?;
        let op = self.operation_on("GET", &url);
        let r: Resource<ApprovalProperties> = self.get_json(url).await?;
        let stages = r
            .properties
            .stages
            .into_iter()
            .map(|s| {
                let id = s
                    .id
                    .ok_or_else(|| arm(GraphError::decode(&op, "an approval stage has no id")))?;
                Ok(ArmApprovalStage {
                    id,
                    status: s.properties.status.unwrap_or_default(),
                    assigned_to_me: s.properties.assigned_to_me.unwrap_or(false),
                    review_result: s.properties.review_result,
                })
            })
            .collect::<Result<_, GraphError>>()?;
        Ok(ArmApproval {
            id: r.id.unwrap_or_else(|| approval_id.to_string()),
            stages,
        })
    }

    async fn decide_stage(
        &self,
        stage_id: &str,
        approve: bool,
        justification: &str,
    ) -> Result<(), GraphError> {
        // `{approval id}/stages/{stage}`: the approval's URL, then the stage.
        let lower = stage_id.to_ascii_lowercase();
        let at = lower.rfind("/stages/").ok_or_else(|| {
            arm_error(
                ErrorKind::Config,
                "decide an approval stage",
                format!("{:?} is not an approval stage's id", excerpt(stage_id, 200)),
            )
        })?;
        let approval_url = self.id_url(&stage_id[..at], Collection::Approvals)?;
        let stage = path_segment(stage_id[at + "/stages/".len()..].trim_end_matches('/'))?;
        let url = match approval_url.split_once('?') {
            Some((path, query)) => format!("{path}/stages/{stage}?{query}"),
            None => format!("{approval_url}/stages/{stage}"),
        };
        let call = Call {
            method: Method::PATCH,
            url,
            body: Some(serde_json::json!({ "properties": {
                "reviewResult": if approve { "Approve" } else { "Deny" },
                "justification": justification,
            }})),
            // A second decision on a completed stage is refused, not repeated.
            idempotent: false,
            retry_subject: false,
        };
        self.execute(&call).await.map(|_| ())
    }

    async fn role_definitions(
        &self,
        scope: &str,
        role_name: &str,
    ) -> Result<Vec<ArmRoleDefinition>, GraphError> {
        let filter = format!("roleName eq {}", quoted(role_name));
        let url = self.url(
            scope,
            Collection::RoleDefinitions,
            None,
            None,
            Some(&filter),
        )?;
        let items: Vec<Resource<RoleDefinitionProperties>> = self.get_all(url).await?;
        Ok(items
            .into_iter()
            .map(|r| {
                let id = r.id.unwrap_or_default();
                ArmRoleDefinition {
                    name: r
                        .name
                        .unwrap_or_else(|| id.rsplit('/').next().unwrap_or_default().to_string()),
                    id,
                    role_name: r.properties.role_name.unwrap_or_default(),
                    kind: r.properties.kind,
                    assignable_scopes: r.properties.assignable_scopes.unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn policies(&self, scope: &str) -> Result<Vec<ArmPolicy>, GraphError> {
        let policies_url = self.url(scope, Collection::Policies, None, None, None)?;
        let assignments_url = self.url(scope, Collection::PolicyAssignments, None, None, None)?;
        let op = self.operation_on("GET", &policies_url);
        let (policies, assignments): (
            Vec<Resource<PolicyProperties>>,
            Vec<Resource<PolicyAssignmentProperties>>,
        ) = futures::try_join!(self.get_all(policies_url), self.get_all(assignments_url))?;
        policies
            .into_iter()
            .map(|p| {
                let id = p.id.clone().unwrap_or_default();
                let name = p.name.clone().unwrap_or_default();
                // Joined by the policy's id, or its name where the ids differ
                // by the subscription alias.
                let role = assignments.iter().find_map(|a| {
                    let pid = a.properties.policy_id.as_deref()?;
                    let same = same_scope(pid, &id)
                        || (!name.is_empty()
                            && pid
                                .rsplit('/')
                                .next()
                                .is_some_and(|n| n.eq_ignore_ascii_case(&name)));
                    same.then(|| a.properties.role_definition_id.clone())
                        .flatten()
                });
                policy_from_wire(&op, p, role)
            })
            .collect()
    }

    async fn policy_for_role(
        &self,
        scope: &str,
        role_definition_id: &str,
    ) -> Result<Option<ArmPolicy>, GraphError> {
        let filter = format!("roleDefinitionId eq {}", quoted(role_definition_id));
        let url = self.url(
            scope,
            Collection::PolicyAssignments,
            None,
            None,
            Some(&filter),
        )?;
        let assignments: Vec<Resource<PolicyAssignmentProperties>> = self.get_all(url).await?;
        let Some(policy_id) = assignments.into_iter().find_map(|a| a.properties.policy_id) else {
            return Ok(None);
        };
        let mut policy = self.read_policy(&policy_id).await?;
        policy.role_definition_id = Some(role_definition_id.to_string());
        Ok(Some(policy))
    }

    async fn policy(&self, policy_id: &str) -> Result<ArmPolicy, GraphError> {
        self.read_policy(policy_id).await
    }

    async fn update_policy(
        &self,
        policy_id: &str,
        rules: &RuleSet,
    ) -> Result<ArmPolicy, GraphError> {
        let url = self.id_url(policy_id, Collection::Policies)?;
        let op = self.operation_on("PATCH", &url);
        let wire: Vec<Value> = rules
            .rules
            .iter()
            .map(|(id, value)| {
                rule_to_wire(*id, value).ok_or_else(|| {
                    arm_error(
                        ErrorKind::Config,
                        &op,
                        format!("the value given for rule {id} is not of its type"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let call = Call {
            method: Method::PATCH,
            url,
            body: Some(serde_json::json!({ "properties": { "rules": wire } })),
            // The same rules sent twice leave the policy as once.
            idempotent: true,
            retry_subject: false,
        };
        let r = self.execute(&call).await?;
        let policy: Resource<PolicyProperties> = self.decode(&op, &r)?;
        policy_from_wire(&op, policy, None)
    }

    async fn create_request(&self, request: &ArmRequest) -> Result<ArmRequestOutcome, GraphError> {
        if uuid::Uuid::parse_str(&request.name).is_err() {
            return Err(arm_error(
                ErrorKind::Config,
                "send an ARM schedule request",
                format!(
                    "its name {:?} is not a GUID (ArmRequest::new makes one)",
                    excerpt(&request.name, 100)
                ),
            ));
        }
        let kind = request.kind;
        let url = self.url(
            &request.scope,
            requests(kind),
            Some(&request.name),
            None,
            None,
        )?;
        let call = Call {
            method: Method::PUT,
            url,
            body: Some(request_to_wire(request, self.clock.now())),
            idempotent: false,
            retry_subject: true,
        };
        let op = self.operation(&call);
        let mut last: Option<GraphError> = None;
        for _ in 0..MAX_RESENDS {
            match self.execute(&call).await {
                Ok(r) => {
                    let answer: Resource<RequestProperties> = self.decode(&op, &r)?;
                    return request_from_wire(kind, answer)
                        .map_err(|e| arm(GraphError::decode(&op, e.0)));
                }
                Err(e) if e.kind == ErrorKind::OutcomeUnknown => {
                    // Whether it arrived is read back by name before
                    // anything is sent again.
                    match self.read_request(kind, &request.scope, &request.name).await {
                        Ok(mut found) => {
                            self.stats.reconciled.fetch_add(1, Ordering::Relaxed);
                            found.reconciled = true;
                            return Ok(found);
                        }
                        // Not there: it never reached ARM, so the same name
                        // is free. (What ARM does with a re-PUT of a name it
                        // holds is UNVERIFIED; pim never relies on it.)
                        Err(g) if g.kind == ErrorKind::NotFound => {
                            tracing::info!(operation = %op, "the request never reached ARM; sending it again under the same name");
                            last = Some(e);
                        }
                        Err(g) => {
                            return Err(GraphError {
                                message: format!("{}; reading it back failed too: {g}", e.message),
                                ..e
                            });
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| arm_error(ErrorKind::OutcomeUnknown, &op, "no answer")))
    }

    async fn get_request(
        &self,
        kind: AssignmentKind,
        scope: &str,
        name: &str,
    ) -> Result<ArmRequestOutcome, GraphError> {
        self.read_request(kind, scope, name).await
    }

    async fn cancel_request(
        &self,
        kind: AssignmentKind,
        scope: &str,
        name: &str,
    ) -> Result<(), GraphError> {
        let url = self.url(scope, requests(kind), Some(name), Some("cancel"), None)?;
        let call = Call {
            method: Method::POST,
            url,
            body: None,
            idempotent: false,
            retry_subject: false,
        };
        match self.execute(&call).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::OutcomeUnknown => {
                let found = self.read_request(kind, scope, name).await?;
                if found.status.eq_ignore_ascii_case("Canceled") {
                    self.stats.reconciled.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_names_are_written_safely() {
        assert_eq!(quoted("O'Brien Operator"), "'O''Brien Operator'");
        let encoded: String = utf8_percent_encode("roleName eq 'A&B'", FILTER).collect();
        assert_eq!(encoded, "roleName%20eq%20'A%26B'");
        assert!(path_segment("0f6c8d1e-6a3b-4c55-9d1f-2b7a9e4c1d20").is_ok());
        for bad in ["", "..", "a/b", "a?b", "a b"] {
            assert!(path_segment(bad).is_err(), "{bad}");
        }
    }
}
