//! One Graph call: an HTTP exchange with its token and concurrency permit,
//! retries with `Retry-After` or backoff, answers read up to a limit, and
//! error answers and refused redirects mapped to `GraphError`s.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::HttpGraph;
use super::limiter::Signal;
use crate::graph::error::{EXCERPT_CHARS, ErrorKind, GraphError, body_excerpt, excerpt};
use crate::graph::retry::{after_transport_failure, parse_retry_after};
use crate::graph::wire::ODataError;

/// One logical call.
#[derive(Clone)]
pub(super) struct Call {
    pub(super) method: Method,
    pub(super) url: String,
    pub(super) body: Option<Value>,
    /// Safe to resend when the outcome is unknown.
    pub(super) idempotent: bool,
    /// Retry `404 SubjectNotFound`/`RoleNotFound` (replication delay).
    pub(super) retry_replication: bool,
    /// May travel in a `$batch` with other calls made at the same time
    /// (see `gather`); each attempt still gets its own answer.
    pub(super) batchable: bool,
}

impl Call {
    pub(super) fn get(url: String) -> Self {
        Call {
            method: Method::GET,
            url,
            body: None,
            idempotent: true,
            retry_replication: false,
            batchable: false,
        }
    }

    pub(super) fn operation(&self, root: &str) -> String {
        let path = self.url.strip_prefix(root).unwrap_or(&self.url);
        let path = path.split('?').next().unwrap_or(path);
        format!("{} {}", self.method, path)
    }
}

#[derive(Clone)]
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) retry_after: Option<Duration>,
    pub(super) request_id: Option<String>,
    pub(super) content_type: Option<String>,
    /// A redirect's target, as sent (the client follows none that leave the root).
    pub(super) location: Option<String>,
    pub(super) body: bytes::Bytes,
    /// The limiter's epoch the exchange was sent in.
    pub(super) epoch: u64,
}

impl Response {
    /// The body as JSON; an answer that is not JSON at all (an HTML page
    /// from a proxy) says so, with its content type and an excerpt.
    /// `T` may borrow from the body (`&RawValue`): records then need not
    /// be copied before they are read.
    pub(super) fn decode<'a, T: Deserialize<'a>>(&'a self, op: &str) -> Result<T, GraphError> {
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

/// A retry wait this long is said at the default log level.
const LONG_WAIT: Duration = Duration::from_secs(10);

/// The body, chunk by chunk, up to `limit` bytes; `true` when it went on
/// past them (the rest is never read).
pub(crate) async fn read_capped(
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
#[derive(Clone)]
pub(super) struct Transport {
    pub(super) error: GraphError,
    pub(super) maybe_sent: bool,
    /// A broken connection or a timeout, worth another attempt; not an
    /// answer pim refuses to read.
    pub(super) retryable: bool,
}

pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
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
    /// One HTTP exchange, holding a slot of the limiter only while it
    /// runs. What the answer says about Graph's load is the caller's to
    /// tell the limiter (a `$batch` is only read inside).
    pub(super) async fn attempt(
        &self,
        call: &Call,
        client_request_id: &str,
    ) -> Result<Response, Transport> {
        let token = self.tokens.get().await.map_err(|error| Transport {
            error,
            maybe_sent: false,
            retryable: false,
        })?;
        let permit = self.limiter.acquire(self.clock.as_ref()).await;
        let epoch = permit.epoch;
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
        drop(permit);
        Ok(Response {
            status,
            retry_after,
            request_id,
            content_type,
            location,
            body,
            epoch,
        })
    }

    /// One exchange of a call of its own, its answer told to the limiter.
    async fn exchange(&self, call: &Call, client_request_id: &str) -> Result<Response, Transport> {
        let r = self.attempt(call, client_request_id).await;
        if let Ok(resp) = &r {
            self.limiter
                .observe(resp.epoch, signal(resp), self.clock.as_ref());
        }
        r
    }

    /// Run a call with retries. A non-idempotent call whose request may
    /// have reached Graph comes back as `OutcomeUnknown`, never resent here.
    pub(super) async fn execute(&self, call: &Call) -> Result<Response, GraphError> {
        let first = self.clock.now();
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let op = call.operation(&self.root);
        let mut attempt = 0u32;
        let mut token_renewed = false;
        let mut said_replicating = false;
        loop {
            attempt += 1;
            let mut replicating = false;
            let answer = if call.batchable {
                self.gathered(call, &client_request_id).await
            } else {
                self.exchange(call, &client_request_id).await
            };
            if matches!(&answer, Ok(r) if r.status == 429) {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            let (retry_after, error) = match answer {
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
                            replicating = true;
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
            if replicating && !said_replicating {
                // Shown by default: this can take minutes.
                said_replicating = true;
                tracing::warn!(
                    operation = %op,
                    code = %error.code,
                    request_id = ?error.request_id,
                    "Graph does not know the {} yet (created moments ago, it takes a while to reach PIM); waiting up to {} s for it",
                    if error.code == "RoleNotFound" { "role" } else { "principal" },
                    self.backoff.policy().max_total.as_secs()
                );
            } else if wait >= LONG_WAIT {
                // Shown by default: a run that goes quiet for this long
                // looks hung otherwise.
                tracing::warn!(
                    operation = %op,
                    status = ?error.status,
                    "Graph asked to wait {} s before trying again; waiting",
                    wait.as_secs()
                );
            } else {
                tracing::info!(
                    operation = %op,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    status = ?error.status,
                    request_id = ?error.request_id,
                    "retrying Graph call: {error}"
                );
            }
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

    pub(super) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GraphError> {
        let call = Call::get(self.url(path));
        let op = call.operation(&self.root);
        self.execute(&call).await?.decode(&op)
    }
}

/// What an answer says about Graph's load.
pub(super) fn signal(r: &Response) -> Signal {
    match r.status {
        429 => Signal::Throttled(r.retry_after),
        200..300 => Signal::Success,
        _ => Signal::Neutral,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::graph::retry::RetryPolicy;
    use crate::graph::retry::tests::FakeClock;
    use crate::graph::{Graph, GraphSettings, StaticToken};

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
}
