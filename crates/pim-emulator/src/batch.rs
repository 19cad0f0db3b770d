//! JSON batching (`POST /v1.0/$batch`): at most 20 requests with unique ids,
//! run in order through the same dispatcher, `dependsOn` failures as 424,
//! per-request throttling; the batch itself answers 200 once it parses.

use std::collections::HashMap;

use pim_model::Clock as _;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::graph::{Body, IncomingCall, dispatch};
use super::{Caller, Shared};

const MAX_REQUESTS: usize = 20;

struct BatchItem {
    id: String,
    method: String,
    url: String,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn parse(body: &[u8]) -> ApiResult<Vec<BatchItem>> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid batch payload: {e}")))?;
    let reqs = v
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("Invalid batch payload: 'requests' is required."))?;
    if reqs.len() > MAX_REQUESTS {
        return Err(ApiError::bad_request(format!(
            "Number of batch request steps exceeds the maximum of {MAX_REQUESTS}."
        )));
    }
    let mut steps: Vec<BatchItem> = Vec::new();
    for r in reqs {
        let id = r
            .get("id")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .ok_or_else(|| ApiError::bad_request("Every batch request needs an 'id'."))?;
        if steps.iter().any(|s| s.id.eq_ignore_ascii_case(&id)) {
            return Err(ApiError::bad_request(format!(
                "Batch request contains the id '{id}' more than once."
            )));
        }
        let method = r
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::bad_request(format!("Batch request '{id}' needs a 'method'."))
            })?
            .to_ascii_uppercase();
        let url = r
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request(format!("Batch request '{id}' needs a 'url'.")))?
            .to_string();
        let body = r.get("body").filter(|b| !b.is_null()).cloned();
        if body.is_some() {
            let has_ct = r
                .get("headers")
                .and_then(Value::as_object)
                .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("content-type")));
            if !has_ct {
                return Err(ApiError::bad_request(format!(
                    "Batch request '{id}' has a body but no Content-Type header."
                )));
            }
        }
        let depends_on: Vec<String> = match r.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "Batch request '{id}': 'dependsOn' must be an array."
                )));
            }
        };
        for d in &depends_on {
            if !steps.iter().any(|s| s.id.eq_ignore_ascii_case(d)) {
                return Err(ApiError::bad_request(format!(
                    "Batch request '{id}' depends on '{d}', which is not an earlier request of the batch."
                )));
            }
        }
        steps.push(BatchItem {
            id,
            method,
            url,
            body,
            depends_on,
        });
    }
    Ok(steps)
}

/// Run a batch; returns the response body and whether anything was written.
pub(crate) fn run(
    shared: &Shared,
    caller: &Caller,
    client: &str,
    body: &[u8],
) -> ApiResult<(Value, bool)> {
    let steps = parse(body)?;
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut responses = Vec::new();
    let mut wrote = false;
    for step in steps {
        let request_id = uuid::Uuid::new_v4().to_string();
        let failed_dep = step.depends_on.iter().find(|d| {
            statuses
                .get(&d.to_ascii_lowercase())
                .is_none_or(|s| *s >= 400)
        });
        let (status, headers, body) = if let Some(d) = failed_dep {
            let e = ApiError::new(
                424,
                "FailedDependency",
                format!("The request depends on request '{d}', which failed."),
            );
            error_parts(shared, &e, &request_id)
        } else if let Some(after) = shared.faults.throttle(client) {
            error_parts(shared, &super::server::throttled(after), &request_id)
        } else {
            let url = step.url.trim();
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            let path = if path.starts_with("/v1.0") || path.starts_with("/beta") {
                path.to_string()
            } else {
                format!(
                    "/v1.0{}",
                    if path.starts_with('/') {
                        path.to_string()
                    } else {
                        format!("/{path}")
                    }
                )
            };
            let body_bytes = step
                .body
                .as_ref()
                .map(|b| b.to_string().into_bytes())
                .unwrap_or_default();
            let call = IncomingCall {
                method: &step.method,
                path: &path,
                raw_query: query,
                body: &body_bytes,
                caller,
            };
            let result = if path.trim_end_matches('/').ends_with("$batch") {
                Err(ApiError::bad_request(
                    "A batch cannot contain another batch.",
                ))
            } else {
                dispatch(shared, &call)
            };
            match result {
                Ok(r) => {
                    wrote |= r.wrote;
                    let mut h = Map::new();
                    if r.body.is_some() {
                        h.insert("Content-Type".into(), json!("application/json"));
                    }
                    for (k, v) in r.headers {
                        h.insert(k, json!(v));
                    }
                    (
                        r.status,
                        Value::Object(h),
                        r.body.map_or(Value::Null, Body::into_value),
                    )
                }
                Err(e) => error_parts(shared, &e, &request_id),
            }
        };
        statuses.insert(step.id.to_ascii_lowercase(), status);
        let mut resp = json!({ "id": step.id, "status": status, "headers": headers });
        if !body.is_null()
            && let Some(o) = resp.as_object_mut()
        {
            o.insert("body".into(), body);
        }
        responses.push(resp);
    }
    Ok((json!({ "responses": responses }), wrote))
}

fn error_parts(shared: &Shared, e: &ApiError, request_id: &str) -> (u16, Value, Value) {
    let date = shared.clock.now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut h = Map::new();
    h.insert("Content-Type".into(), json!("application/json"));
    for (k, v) in &e.headers {
        h.insert(k.clone(), json!(v));
    }
    (
        e.status,
        Value::Object(h),
        e.body(&date, request_id, request_id),
    )
}
