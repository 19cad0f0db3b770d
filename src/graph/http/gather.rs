//! Writes made at the same time, gathered into `$batch` calls of up to 20:
//! a call waits a short window for company (or goes as soon as 20 wait),
//! and each gets back its own answer out of the batch's, as though it had
//! been sent alone, so the caller's retry and reconciliation rules apply to
//! it unchanged. A lone call goes as itself, not wrapped in a `$batch`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use tokio::sync::oneshot;

use super::HttpGraph;
use super::limiter::Signal;
use super::send::{Call, Response, Transport, signal};
use crate::graph::error::{ErrorKind, GraphError};
use crate::graph::page_size;
use crate::graph::retry::parse_retry_after;
use crate::graph::wire::{BatchRequest, BatchRequestItem, BatchResponse, BatchResponseItem};
use crate::model::Caseless;

/// How long a write waits for others to share its `$batch`: far below a
/// Graph round trip, so a lone write loses little, and long enough for the
/// writes a burst of apply steps makes to meet.
pub(crate) const GATHER_WINDOW: Duration = Duration::from_millis(15);

type Answer = Result<Response, Transport>;

struct Waiting {
    seq: u64,
    call: Call,
    client_request_id: String,
    reply: oneshot::Sender<Answer>,
}

/// The writes waiting for a `$batch`, oldest first; never 20 of them, as
/// the 20th sends the batch.
#[derive(Default)]
pub(super) struct Gather {
    queue: Mutex<(u64, Vec<Waiting>)>,
}

impl Gather {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<Waiting>)> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Up to a batch of the oldest waiting, leaving out those whose caller is
/// gone: a write nobody waits for any more is not sent.
fn take(queue: &mut Vec<Waiting>) -> Vec<Waiting> {
    queue.retain(|w| !w.reply.is_closed());
    let n = queue.len().min(page_size::BATCH);
    queue.drain(..n).collect()
}

impl HttpGraph {
    /// One attempt of `call`, in a `$batch` with whatever other writes wait
    /// at the same time. Every waiting caller keeps its own window, so no
    /// write depends on another caller staying around to send it.
    pub(super) async fn gathered(&self, call: &Call, client_request_id: &str) -> Answer {
        let (tx, mut rx) = oneshot::channel();
        let (seq, full) = {
            let mut q = self.gather.lock();
            q.0 += 1;
            let seq = q.0;
            q.1.push(Waiting {
                seq,
                call: call.clone(),
                client_request_id: client_request_id.to_string(),
                reply: tx,
            });
            let full = (q.1.len() >= page_size::BATCH).then(|| take(&mut q.1));
            (seq, full)
        };
        match full {
            Some(batch) => self.send_gathered(batch).await,
            None => {
                tokio::select! {
                    answer = &mut rx => return answered(answer, call, &self.root),
                    // Real time, not the injected clock: this is how long
                    // writes get to meet, not a wait Graph asked for.
                    () = tokio::time::sleep(self.gather_window) => {
                        let batch = {
                            let mut q = self.gather.lock();
                            if q.1.iter().any(|w| w.seq == seq) {
                                take(&mut q.1)
                            } else {
                                Vec::new()
                            }
                        };
                        if !batch.is_empty() {
                            self.send_gathered(batch).await;
                        }
                    }
                }
            }
        }
        answered(rx.await, call, &self.root)
    }

    /// Sends the gathered writes, one `$batch` (or the call itself when it
    /// is alone), and hands each its answer.
    async fn send_gathered(&self, mut batch: Vec<Waiting>) {
        if batch.len() == 1 {
            let w = batch.remove(0);
            let r = self.attempt(&w.call, &w.client_request_id).await;
            if let Ok(resp) = &r {
                self.limiter
                    .observe(resp.epoch, signal(resp), self.clock.as_ref());
            }
            let _ = w.reply.send(r);
            return;
        }
        let body = BatchRequest {
            requests: batch
                .iter()
                .enumerate()
                .map(|(i, w)| BatchRequestItem {
                    id: (i + 1).to_string(),
                    method: w.call.method.to_string(),
                    url: w
                        .call
                        .url
                        .strip_prefix(&self.root)
                        .unwrap_or(&w.call.url)
                        .to_string(),
                    headers: w.call.body.as_ref().map(|_| {
                        BTreeMap::from([("Content-Type".to_string(), "application/json".into())])
                    }),
                    body: w.call.body.clone(),
                })
                .collect(),
        };
        let body = match serde_json::to_value(&body) {
            Ok(b) => b,
            Err(e) => {
                let error = GraphError::decode("POST /$batch", e.to_string());
                for w in batch {
                    let _ = w.reply.send(Err(Transport {
                        error: error.clone(),
                        maybe_sent: false,
                        retryable: false,
                    }));
                }
                return;
            }
        };
        let call = Call {
            method: Method::POST,
            url: self.url("/$batch"),
            body: Some(body),
            // Writes inside: whether it may be sent again is each write's to say.
            idempotent: false,
            retry_replication: false,
            batchable: false,
        };
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let batch_request_id = uuid::Uuid::new_v4().to_string();
        let answers = match self.attempt(&call, &batch_request_id).await {
            Err(t) => {
                // Sent or not, it was sent for all of them.
                vec![Err(t); batch.len()]
            }
            Ok(resp) if !(200..300).contains(&resp.status) => {
                // Refused as a whole (429, 503, 504, 401…): each reads the
                // refusal as though it had been sent alone.
                self.limiter
                    .observe(resp.epoch, signal(&resp), self.clock.as_ref());
                vec![Ok(resp); batch.len()]
            }
            Ok(resp) => self.split(&resp, batch.len()),
        };
        for (w, answer) in batch.into_iter().zip(answers) {
            let answer = answer.map_err(|t| Transport {
                error: GraphError {
                    operation: format!("{} (in a $batch)", w.call.operation(&self.root)),
                    ..t.error
                },
                ..t
            });
            let _ = w.reply.send(answer);
        }
    }

    /// Each write's answer out of a `$batch`'s. One answered twice or not
    /// at all may or may not have been carried out: unknown, as after a
    /// broken connection.
    fn split(&self, resp: &Response, n: usize) -> Vec<Answer> {
        let unknown = |why: &str| Transport {
            error: GraphError::new(ErrorKind::Decode, "POST /$batch", why),
            maybe_sent: true,
            retryable: true,
        };
        let parsed: BatchResponse = match resp.decode("POST /$batch") {
            Ok(p) => p,
            Err(e) => {
                self.limiter
                    .observe(resp.epoch, Signal::Neutral, self.clock.as_ref());
                let t = Transport {
                    error: e,
                    maybe_sent: true,
                    retryable: true,
                };
                return vec![Err(t); n];
            }
        };
        let mut answers: Vec<Option<Answer>> = vec![None; n];
        let mut throttled: Option<Option<Duration>> = None;
        for item in parsed.responses {
            let Some(i) = item
                .id
                .parse::<usize>()
                .ok()
                .and_then(|i| i.checked_sub(1))
                .filter(|i| *i < n)
            else {
                tracing::debug!(id = %item.id, "a $batch answer for a request not asked; ignored");
                continue;
            };
            if answers[i].is_some() {
                answers[i] = Some(Err(unknown("the $batch answer held two responses for it")));
                continue;
            }
            let r = item_response(item, resp.epoch);
            if r.status == 429 {
                // `None` sorts first: the longest wait Graph named, if any.
                throttled = Some(throttled.flatten().max(r.retry_after));
            }
            answers[i] = Some(Ok(r));
        }
        let load = match throttled {
            Some(retry_after) => Signal::Throttled(retry_after),
            None => Signal::Success,
        };
        self.limiter.observe(resp.epoch, load, self.clock.as_ref());
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(unknown("the $batch answer held no response for it"))))
            .collect()
    }
}

/// A `$batch`'s inner answer as the answer of a call sent alone.
fn item_response(item: BatchResponseItem, epoch: u64) -> Response {
    let header = |name: &str| {
        item.headers
            .iter()
            .find(|(k, _)| Caseless::same(k, name))
            .and_then(|(_, v)| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_f64().map(|f| f.to_string()))
            })
    };
    Response {
        status: item.status,
        retry_after: header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now())),
        request_id: header("request-id"),
        content_type: header("content-type"),
        location: header("location"),
        body: item
            .body
            .as_ref()
            .filter(|b| !b.is_null())
            .and_then(|b| serde_json::to_vec(b).ok())
            .unwrap_or_default()
            .into(),
        epoch,
    }
}

/// The answer handed over, or, when whoever was sending the batch went
/// away before handing it, an outcome as unknown as a broken connection's.
fn answered(answer: Result<Answer, oneshot::error::RecvError>, call: &Call, root: &str) -> Answer {
    answer.unwrap_or_else(|_| {
        Err(Transport {
            error: GraphError::new(
                ErrorKind::Network,
                call.operation(root),
                "the $batch carrying it was abandoned",
            ),
            maybe_sent: true,
            retryable: true,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn an_inner_answer_reads_as_an_answer_of_its_own() {
        let item: BatchResponseItem = serde_json::from_value(serde_json::json!({
            "id": "3",
            "status": 429,
            "headers": { "Retry-After": "7", "Content-Type": "application/json" },
            "body": { "error": { "code": "TooManyRequests", "message": "Please retry again later." } }
        }))
        .unwrap();
        let r = item_response(item, 4);
        assert_eq!(r.status, 429);
        assert_eq!(r.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.epoch, 4);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["code"], "TooManyRequests");
        let numeric: BatchResponseItem = serde_json::from_value(serde_json::json!({
            "id": "1", "status": 204, "headers": { "retry-after": 2.5 }
        }))
        .unwrap();
        let r = item_response(numeric, 0);
        assert_eq!(r.retry_after, Some(Duration::from_millis(2500)));
        assert!(r.body.is_empty());
    }
}
