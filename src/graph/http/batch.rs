//! Independent GETs packed 20 to a `$batch`, the answers matched back to
//! their requests, and inner throttling retried in later rounds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::Value;

use super::HttpGraph;
use super::limiter::Signal;
use super::send::Call;
use crate::graph::error::{ErrorKind, GraphError, excerpt};
use crate::graph::page_size;
use crate::graph::retry::parse_retry_after;
use crate::graph::wire::{BatchRequest, BatchRequestItem, BatchResponse, ODataError};

impl HttpGraph {
    /// Independent GETs (paths relative to the version root), packed 20 to a
    /// `$batch`, the batches sent concurrently. Inner 429/503/504 answers are
    /// retried in a later round after the longest `Retry-After`.
    pub(super) async fn batch_get(
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
                batchable: false,
            };
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
            let resp = self.execute(&call).await?;
            let parsed: BatchResponse = resp.decode("POST /$batch")?;
            let mut wait: Option<Duration> = None;
            let mut inner_throttled = false;
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
                    inner_throttled |= item.status == 429;
                    let ra = item
                        .headers
                        .iter()
                        .find(|(k, _)| crate::model::Caseless::same(k, "retry-after"))
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
            if inner_throttled {
                // The $batch itself was answered 200, which the limiter
                // took for a success: the 429s inside it are what says
                // Graph wants fewer calls at once.
                self.limiter
                    .observe(resp.epoch, Signal::Throttled(wait), self.clock.as_ref());
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

#[cfg(test)]
mod tests {
    use super::*;

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
