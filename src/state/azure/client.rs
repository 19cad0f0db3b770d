//! The Blob service REST client for one blob: URLs, requests authorized with
//! Shared Key, a SAS token or an Entra ID bearer token, and the service's
//! errors read back without any credential in them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use super::settings::{AzureAuth, STORAGE_SCOPE};
use super::tls::{build_client, tls_config};
use super::{AzureError, sharedkey};
use crate::state::StateError;

/// The Blob service REST version pim speaks (Azurite 3.35 accepts it).
const API_VERSION: &str = "2024-08-04";

/// One blob of one container, and how to reach and authorize against it.
pub(super) struct Blob {
    pub(super) client: reqwest::Client,
    tls: rustls::ClientConfig,
    loopback: bool,
    pub(super) account: String,
    pub(super) container: String,
    pub(super) blob_url: Url,
    pub(super) container_url: Url,
    /// The blob URL without query, for messages.
    pub(super) location: String,
    pub(super) auth: AzureAuth,
    /// The decoded account key, for Shared Key.
    key: Option<Vec<u8>>,
}

impl Blob {
    /// Checks the names and the endpoint (plain `http` only on loopback, for
    /// Azurite) and sets up the HTTP client.
    pub(super) fn new(
        account: String,
        container: String,
        blob: &str,
        endpoint: Option<String>,
        auth: AzureAuth,
        ca_pem: Option<&str>,
    ) -> Result<Self, StateError> {
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
            Some(url::Host::Domain(d)) => crate::model::Caseless::same(d, "localhost"),
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

        let tls = tls_config(base.scheme() == "https", ca_pem)?;
        let client = build_client(&tls, loopback)?;
        Ok(Blob {
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
        })
    }

    /// A client of its own, for a thread with its own runtime.
    pub(super) fn new_client(&self) -> Result<reqwest::Client, StateError> {
        build_client(&self.tls, self.loopback)
    }

    /// Properties of the blob (a HEAD has no body, so the error code comes
    /// only from the `x-ms-error-code` header).
    pub(super) async fn head(&self) -> Result<HeaderMap, StateError> {
        let call = BlobRequest::new("read properties", Method::HEAD, &self.blob_url);
        let resp = self.send_ok(&self.client, call).await?;
        Ok(resp.headers().clone())
    }

    /// Authorizes and sends a call.
    pub(super) async fn send(
        &self,
        client: &reqwest::Client,
        call: BlobRequest,
    ) -> Result<reqwest::Response, StateError> {
        let BlobRequest {
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
        match &self.auth {
            AzureAuth::SharedKey(_) => {
                let key = self.key.as_deref().unwrap_or_default();
                let sts = sharedkey::string_to_sign(
                    method.as_str(),
                    &url,
                    &self.account,
                    &headers,
                    body.len(),
                );
                authorization = Some(sharedkey::authorization(&self.account, key, &sts));
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
                // The error's operation names Graph, which this is not:
                // the message alone.
                let t = source
                    .token(STORAGE_SCOPE)
                    .await
                    .map_err(|e| AzureError::Token {
                        location: self.location.clone(),
                        reason: e.message,
                    })?;
                authorization = Some(format!("Bearer {}", t.secret));
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
            .map_err(|e| self.transport(operation, e))?;
        tracing::debug!(operation, status = resp.status().as_u16(), "azure blob");
        Ok(resp)
    }

    /// Sends a call that only success answers: any other answer is the error.
    pub(super) async fn send_ok(
        &self,
        client: &reqwest::Client,
        call: BlobRequest,
    ) -> Result<reqwest::Response, StateError> {
        let operation = call.operation;
        let resp = self.send(client, call).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(self.failure(resp).await.into_error(self, operation).into())
    }

    pub(super) fn transport(&self, operation: &'static str, e: reqwest::Error) -> StateError {
        // The URL may carry a SAS token.
        let e = e.without_url();
        AzureError::Transport {
            location: self.location.clone(),
            operation,
            detail: self.scrub(&chain(&e)),
        }
        .into()
    }

    /// Reads the service's error code and message from a failed response.
    pub(super) async fn failure(&self, resp: reqwest::Response) -> ErrorResponse {
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
            .and_then(|m| m.lines().next().map(|l| self.scrub(l.trim())))
            .filter(|m| !m.is_empty());
        ErrorResponse {
            status,
            code,
            message,
        }
    }

    /// Removes any credential a service message might echo.
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mut secrets: Vec<String> = Vec::new();
        match &self.auth {
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
}

/// One request to the Blob service, before authorization.
pub(super) struct BlobRequest {
    pub(super) operation: &'static str,
    method: Method,
    url: Url,
    headers: Vec<(&'static str, String)>,
    pub(super) body: Vec<u8>,
}

impl BlobRequest {
    pub(super) fn new(operation: &'static str, method: Method, url: &Url) -> Self {
        BlobRequest {
            operation,
            method,
            url: url.clone(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(super) fn query(mut self, name: &str, value: &str) -> Self {
        self.url.query_pairs_mut().append_pair(name, value);
        self
    }

    pub(super) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A non-success answer: status and the service's error code.
pub(super) struct ErrorResponse {
    pub(super) status: StatusCode,
    code: Option<String>,
    message: Option<String>,
}

impl ErrorResponse {
    pub(super) fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    pub(super) fn into_error(self, blob: &Blob, operation: &'static str) -> AzureError {
        match self.code() {
            "ContainerNotFound" => AzureError::ContainerNotFound {
                account: blob.account.clone(),
                container: blob.container.clone(),
            },
            "ConditionNotMet" => AzureError::Stale {
                location: blob.location.clone(),
            },
            c if self.status == StatusCode::PRECONDITION_FAILED && c.starts_with("Lease") => {
                AzureError::LeaseLost {
                    location: blob.location.clone(),
                    code: c.to_string(),
                }
            }
            // What Azure Storage answers a token without a data role.
            c @ "AuthorizationPermissionMismatch"
                if self.status == StatusCode::FORBIDDEN
                    && matches!(blob.auth, AzureAuth::Token(_)) =>
            {
                AzureError::Forbidden {
                    location: blob.location.clone(),
                    operation,
                    code: c.to_string(),
                }
            }
            _ => AzureError::Http {
                location: blob.location.clone(),
                operation,
                status: self.status.as_u16(),
                code: self.code,
                message: self.message,
            },
        }
    }
}

/// An error and its causes on one line, each said once.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut detail = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        cause = c.source();
    }
    detail
}

fn xml_element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&close)?;
    Some(body[start..start + len].to_string())
}

pub(super) fn etag(h: &HeaderMap) -> Option<String> {
    h.get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::graph::{StaticToken, TokenSource};

    #[test]
    fn a_token_without_a_data_role_is_told_which_role() {
        let source: Arc<dyn TokenSource> = Arc::new(StaticToken("t".to_string()));
        let blob = Blob::new(
            "acct".into(),
            "pim".into(),
            "pim.state.json",
            Some("http://127.0.0.1:1/acct".into()),
            AzureAuth::Token(source),
            None,
        )
        .unwrap();
        let refused = |code: &str| ErrorResponse {
            status: StatusCode::FORBIDDEN,
            code: Some(code.into()),
            message: None,
        };
        let err = refused("AuthorizationPermissionMismatch").into_error(&blob, "read");
        assert!(matches!(err, AzureError::Forbidden { .. }), "{err:?}");
        assert!(
            err.to_string().contains("Storage Blob Data Contributor"),
            "{err}"
        );
        // A refused token is not a missing role.
        let err = refused("AuthenticationFailed").into_error(&blob, "read");
        assert!(
            matches!(err, AzureError::Http { status: 403, .. }),
            "{err:?}"
        );
    }
}
