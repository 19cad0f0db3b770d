//! Errors: the Graph-shaped error a handler returns (rendered into Graph's
//! `{"error":{code,message,innerError}}` envelope at the edge) and the typed
//! error of starting the emulator.

use std::path::PathBuf;

use serde_json::{Value, json};

/// An error answer in Graph's shape; `innerError` is filled in at the edge
/// where the request ids and the date are known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(String, String)>,
    /// Extra members of `innerError` (429 carries `code`, `status`, `message`).
    pub inner: Option<Value>,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            headers: Vec::new(),
            inner: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn invalid_filter(message: impl Into<String>) -> Self {
        ApiError::new(
            400,
            "BadRequest",
            format!("Invalid filter clause: {}", message.into()),
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(404, "ResourceNotFound", message)
    }

    /// A schedule request Graph does not hold (never made, or purged after
    /// about 45 days); code and message as observed on both request sets
    /// (terraform-provider-azuread #1904).
    pub fn request_not_found() -> Self {
        ApiError::new(
            404,
            "RoleAssignmentRequestNotFound",
            "The role assignment request is not found",
        )
    }

    pub fn directory_object_not_found(id: &str) -> Self {
        ApiError::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// What the PIM backend answers for a policy query without the scope filter.
    pub fn missing_provider() -> Self {
        ApiError::new(
            400,
            "UnknownError",
            r#"{"errorCode":"MissingProvider","message":"The provider is missing.","instanceAnnotations":[]}"#,
        )
    }

    pub fn no_route(method: &str, path: &str) -> Self {
        ApiError::new(
            400,
            "BadRequest",
            format!(
                "Resource not found for the segment '{}' ({method}).",
                last_segment(path)
            ),
        )
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request uri.",
        )
    }

    pub fn internal() -> Self {
        ApiError::new(500, "", "An error has occurred.")
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The JSON body for this error.
    pub fn body(&self, date: &str, request_id: &str, client_request_id: &str) -> Value {
        let mut inner = json!({ "date": date, "request-id": request_id, "client-request-id": client_request_id });
        if let (Some(Value::Object(extra)), Some(obj)) = (&self.inner, inner.as_object_mut()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        json!({ "error": { "code": self.code, "message": self.message, "innerError": inner } })
    }
}

fn last_segment(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// Why the emulator could not start or load its data.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid tenant file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid tenant data: {0}")]
    Seed(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    #[error("cannot decide the request: {0}")]
    Decision(String),
    #[error("cannot make a token signing key: {0}")]
    Random(String),
}
