//! Helpers shared by the emulator tests: start an emulator in-process and
//! talk to it with reqwest (rustls), returning status, headers and JSON.

#![allow(dead_code)]

pub mod conformance;

use chrono::{DateTime, Utc};
use pim_emulator::{Emulator, EmulatorClock, EmulatorConfig, Faults, Tenant};
use serde_json::Value;

pub const CALLER: &str = "3fbd929d-8c56-4462-851e-0eb9a7b3a2a5";

pub fn fixture_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/graph")
        .join(rel)
}

/// A file under `tests/fixtures/groups`.
pub fn groups_fixture_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/groups")
        .join(rel)
}

pub fn conformance_tenant() -> Tenant {
    Tenant::from_file(fixture_path("conformance-tenant.json")).unwrap()
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub struct Harness {
    pub emu: Emulator,
    pub http: reqwest::Client,
    pub token: String,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Harness {
    pub async fn start(config: EmulatorConfig) -> Harness {
        let emu = Emulator::start(config).await.unwrap();
        // reqwest is built with `rustls-no-provider` (no aws-lc-rs): choose ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().pool_max_idle_per_host(4);
        if let Some(pem) = emu.ca_pem() {
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
        }
        let http = builder.build().unwrap();
        let token = emu.mint_token(CALLER, true);
        Harness { emu, http, token }
    }

    pub async fn with_seed(seed: Tenant, now: &str) -> Harness {
        Harness::start(EmulatorConfig {
            seed: Some(seed),
            tls: false,
            clock: EmulatorClock::fixed(at(now)),
            ..EmulatorConfig::default()
        })
        .await
    }

    pub async fn with_faults(seed: Tenant, faults: Faults) -> Harness {
        Harness::start(EmulatorConfig {
            seed: Some(seed),
            tls: false,
            clock: EmulatorClock::fixed(at("2026-12-01T10:00:00Z")),
            faults,
            ..EmulatorConfig::default()
        })
        .await
    }

    /// `path` is relative to the base URL (`/v1.0/...`) or absolute.
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        self.try_call_as(token, method, path, body).await.unwrap()
    }

    pub async fn try_call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, reqwest::Error> {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.emu.base_url(), path)
        };
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        self.call_as(Some(&self.token), method, path, body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }
}

/// Assert a Graph error envelope with this status and code; returns the message.
pub fn assert_graph_error(r: &Reply, status: u16, code: &str) -> String {
    assert_eq!(r.status, status, "unexpected status, body: {}", r.body);
    let e = &r.body["error"];
    assert_eq!(e["code"], code, "body: {}", r.body);
    let inner = &e["innerError"];
    let date = inner["date"].as_str().expect("innerError.date");
    assert!(
        chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S").is_ok(),
        "date {date}"
    );
    assert!(inner["request-id"].is_string() && inner["client-request-id"].is_string());
    assert!(r.headers.contains_key("request-id") && r.headers.contains_key("client-request-id"));
    e["message"].as_str().expect("message").to_string()
}
