//! Where Graph is and how to sign in: built from the `tenant` block and the
//! environment (passed in as a map, so tests never touch the process
//! environment), validated before any connection is made.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::error::GraphError;
use super::retry::RetryPolicy;
use crate::config::TenantSettings;

pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The scope of every token pim asks for.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// How to get a token. `Auto` picks the way the Azure SDKs do from the
/// environment: a client secret, then a federated token file (workload
/// identity: GitHub Actions, Kubernetes), then managed identity when an
/// App Service / Arc identity endpoint is advertised, else the Azure CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    #[default]
    Auto,
    ClientSecret,
    WorkloadIdentity,
    ManagedIdentity,
    AzureCli,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Auto => "auto",
            AuthMethod::ClientSecret => "client-secret",
            AuthMethod::WorkloadIdentity => "workload-identity",
            AuthMethod::ManagedIdentity => "managed-identity",
            AuthMethod::AzureCli => "azure-cli",
        }
    }
}

impl FromStr for AuthMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            AuthMethod::Auto,
            AuthMethod::ClientSecret,
            AuthMethod::WorkloadIdentity,
            AuthMethod::ManagedIdentity,
            AuthMethod::AzureCli,
        ]
        .into_iter()
        .find(|m| crate::model::Caseless::same(m.as_str(), s.trim()))
        .ok_or_else(|| {
            format!(
                "unknown auth method {s:?}: use auto, client-secret, workload-identity, managed-identity or azure-cli"
            )
        })
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// The `AZURE_*` values credentials are made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub federated_token_file: Option<PathBuf>,
    /// Set by App Service, Functions and Azure Arc for managed identity.
    pub identity_endpoint: Option<String>,
}

/// How much of Graph pim reads, so that a broken or hostile server can make
/// it neither buffer nor page without end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLimits {
    /// Bytes of one answer. The largest pim asks for is a `$top=999` page of
    /// policy assignments with `$expand=policy($expand=rules)`: about 7 KB an
    /// assignment in Microsoft's own example, so about 7 MB; 1,000 full
    /// directory objects from `getByIds` are a few MB. 32 MiB leaves four
    /// times the largest for longer rules (many approvers, recipients).
    pub max_response_bytes: usize,
    /// Pages of one collection. Entra documents no limit on role grants at
    /// tenant scope, and a default quota of 300,000 directory objects; page
    /// sizes of PIM collections are not documented (UNVERIFIED), so assume
    /// Graph's default of 100: 10,000 pages is a million grants, beyond any
    /// tenant, and still ends a read that a server keeps feeding new links.
    pub max_pages: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_response_bytes: 32 * 1024 * 1024,
            max_pages: 10_000,
        }
    }
}

/// Everything the HTTP client needs.
#[derive(Debug, Clone)]
pub struct GraphSettings {
    /// The version root, `https://graph.microsoft.com/v1.0`.
    pub graph_url: String,
    pub authority_host: String,
    pub tenant_id: Option<String>,
    /// A PEM file of extra trusted roots (the emulator's CA, a TLS-inspecting proxy's).
    pub ca_cert: Option<PathBuf>,
    /// Extra trusted roots given as PEM text (tests hand over the emulator's CA this way).
    pub ca_pem: Option<String>,
    /// Requests in flight at once.
    pub parallelism: usize,
    pub auth: AuthMethod,
    pub credentials: Credentials,
    pub retry: RetryPolicy,
    /// Limit for one HTTP exchange.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub limits: ReadLimits,
}

impl Default for GraphSettings {
    fn default() -> Self {
        GraphSettings {
            graph_url: DEFAULT_GRAPH_URL.to_string(),
            authority_host: DEFAULT_AUTHORITY_HOST.to_string(),
            tenant_id: None,
            ca_cert: None,
            ca_pem: None,
            parallelism: 4,
            auth: AuthMethod::Auto,
            credentials: Credentials::default(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(100),
            connect_timeout: Duration::from_secs(10),
            limits: ReadLimits::default(),
        }
    }
}

/// A Graph URL given as a host alone (`https://127.0.0.1:8443`) means its
/// v1.0 root, as pim speaks only v1.0.
fn with_version(url: &str) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    let after_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    if after_scheme.contains('/') {
        trimmed.to_string()
    } else {
        format!("{trimmed}/v1.0")
    }
}

pub(crate) fn non_empty(env: &HashMap<String, String>, key: &str) -> Option<String> {
    env.get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl GraphSettings {
    /// Settings from the `tenant` block, overridden by the environment:
    /// `PIM_GRAPH_URL`, `AZURE_AUTHORITY_HOST`, `AZURE_TENANT_ID`,
    /// `PIM_CA_CERT` (an extra trusted root), `PIM_PARALLELISM`,
    /// `PIM_RETRY_DEADLINE` (seconds a call may spend retrying), and the
    /// credential variables `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`,
    /// `AZURE_FEDERATED_TOKEN_FILE`, `IDENTITY_ENDPOINT`/`MSI_ENDPOINT`.
    pub fn from_tenant(
        tenant: &TenantSettings,
        env: &HashMap<String, String>,
        auth: AuthMethod,
    ) -> Result<Self, GraphError> {
        let mut s = GraphSettings {
            auth,
            ..GraphSettings::default()
        };
        if let Some(u) = non_empty(env, "PIM_GRAPH_URL").or_else(|| tenant.graph_url.clone()) {
            s.graph_url = with_version(&u);
        }
        if let Some(a) =
            non_empty(env, "AZURE_AUTHORITY_HOST").or_else(|| tenant.authority_host.clone())
        {
            s.authority_host = a;
        }
        s.tenant_id = non_empty(env, "AZURE_TENANT_ID").or_else(|| tenant.id.clone());
        s.ca_cert = non_empty(env, "PIM_CA_CERT")
            .map(PathBuf::from)
            .or_else(|| tenant.ca_cert.clone());
        if let Some(p) = non_empty(env, "PIM_PARALLELISM") {
            s.parallelism = p
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    GraphError::config(format!(
                        "PIM_PARALLELISM={p:?} is not a number from 1 to 64"
                    ))
                })?;
        }
        if let Some(d) = non_empty(env, "PIM_RETRY_DEADLINE") {
            let secs = d
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=86_400).contains(n))
                .ok_or_else(|| {
                    GraphError::config(format!(
                        "PIM_RETRY_DEADLINE={d:?} is not a number of seconds from 1 to 86400"
                    ))
                })?;
            s.retry.max_total = std::time::Duration::from_secs(secs);
        }
        s.credentials = Credentials {
            client_id: non_empty(env, "AZURE_CLIENT_ID"),
            client_secret: non_empty(env, "AZURE_CLIENT_SECRET").map(SecretString::new),
            federated_token_file: non_empty(env, "AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            identity_endpoint: non_empty(env, "IDENTITY_ENDPOINT")
                .or_else(|| non_empty(env, "MSI_ENDPOINT")),
        };
        s.validate()?;
        Ok(s)
    }

    /// The version root without a trailing slash.
    pub fn root(&self) -> &str {
        self.graph_url.trim_end_matches('/')
    }

    /// Plain `http://` only to loopback addresses: a token must never cross
    /// a network in clear text.
    pub fn validate(&self) -> Result<(), GraphError> {
        check_url("Graph URL", &self.graph_url)?;
        // azure_identity insists on https for the authority; say so up front.
        let auth = reqwest::Url::parse(&self.authority_host).map_err(|e| {
            GraphError::config(format!(
                "authority host {:?} is not a URL: {e}",
                self.authority_host
            ))
        })?;
        if auth.scheme() != "https" {
            return Err(GraphError::config(format!(
                "authority host {:?} must use https (Entra ID and azure_identity require it)",
                self.authority_host
            )));
        }
        if self.parallelism == 0 {
            return Err(GraphError::config("parallelism must be at least 1"));
        }
        if self.limits.max_response_bytes == 0 || self.limits.max_pages == 0 {
            return Err(GraphError::config(
                "read limits must allow at least one byte and one page",
            ));
        }
        Ok(())
    }

    /// The method `Auto` stands for with these credentials.
    pub fn effective_auth(&self) -> AuthMethod {
        match self.auth {
            AuthMethod::Auto => {
                let c = &self.credentials;
                if c.client_secret.is_some() {
                    AuthMethod::ClientSecret
                } else if c.federated_token_file.is_some() {
                    AuthMethod::WorkloadIdentity
                } else if c.identity_endpoint.is_some() {
                    AuthMethod::ManagedIdentity
                } else {
                    AuthMethod::AzureCli
                }
            }
            other => other,
        }
    }
}

pub(crate) fn check_url(what: &str, url: &str) -> Result<(), GraphError> {
    let u = reqwest::Url::parse(url)
        .map_err(|e| GraphError::config(format!("{what} {url:?} is not a URL: {e}")))?;
    match u.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match u.host() {
                Some(url::Host::Domain(d)) => crate::model::Caseless::same(d, "localhost"),
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(GraphError::config(format!(
                    "{what} {url:?} uses plain http, which is allowed only for loopback addresses (127.0.0.1, ::1, localhost)"
                )))
            }
        }
        other => Err(GraphError::config(format!(
            "{what} {url:?} has scheme {other:?}; use https"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_the_tenant_block() {
        let tenant = TenantSettings {
            id: Some("contoso.onmicrosoft.com".into()),
            graph_url: Some("https://graph.example/v1.0".into()),
            ..TenantSettings::default()
        };
        let s = GraphSettings::from_tenant(&tenant, &env(&[]), AuthMethod::Auto).unwrap();
        assert_eq!(s.graph_url, "https://graph.example/v1.0");
        assert_eq!(s.tenant_id.as_deref(), Some("contoso.onmicrosoft.com"));
        assert_eq!(s.effective_auth(), AuthMethod::AzureCli);
        let s = GraphSettings::from_tenant(
            &tenant,
            &env(&[
                ("PIM_GRAPH_URL", "http://127.0.0.1:8080/v1.0"),
                ("AZURE_TENANT_ID", "t2"),
                ("AZURE_CLIENT_ID", "app"),
                ("AZURE_CLIENT_SECRET", "hunter2"),
                ("PIM_CA_CERT", "/tmp/ca.pem"),
            ]),
            AuthMethod::Auto,
        )
        .unwrap();
        assert_eq!(s.graph_url, "http://127.0.0.1:8080/v1.0");
        assert_eq!(s.tenant_id.as_deref(), Some("t2"));
        assert_eq!(s.ca_cert, Some(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(s.effective_auth(), AuthMethod::ClientSecret);
        assert!(!format!("{s:?}").contains("hunter2"));
        let s = GraphSettings::from_tenant(
            &tenant,
            &env(&[("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")]),
            AuthMethod::Auto,
        )
        .unwrap();
        assert_eq!(s.effective_auth(), AuthMethod::WorkloadIdentity);
    }

    #[test]
    fn the_retry_deadline_is_the_users_to_set() {
        let t = TenantSettings::default();
        let s = GraphSettings::from_tenant(&t, &env(&[]), AuthMethod::Auto).unwrap();
        assert_eq!(s.retry.max_total, std::time::Duration::from_secs(180));
        let s = GraphSettings::from_tenant(
            &t,
            &env(&[("PIM_RETRY_DEADLINE", "900")]),
            AuthMethod::Auto,
        )
        .unwrap();
        assert_eq!(s.retry.max_total, std::time::Duration::from_secs(900));
        for bad in ["0", "soon", "-5", "100000"] {
            let e = GraphSettings::from_tenant(
                &t,
                &env(&[("PIM_RETRY_DEADLINE", bad)]),
                AuthMethod::Auto,
            )
            .unwrap_err();
            assert!(e.to_string().contains("PIM_RETRY_DEADLINE"), "{e}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let t = TenantSettings::default();
        for ok in [
            "http://127.0.0.1:1/v1.0",
            "http://localhost/v1.0",
            "http://[::1]:9/v1.0",
        ] {
            assert!(
                GraphSettings::from_tenant(&t, &env(&[("PIM_GRAPH_URL", ok)]), AuthMethod::Auto)
                    .is_ok(),
                "{ok}"
            );
        }
        let e = GraphSettings::from_tenant(
            &t,
            &env(&[("PIM_GRAPH_URL", "http://graph.example/v1.0")]),
            AuthMethod::Auto,
        )
        .unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
        let e = GraphSettings::from_tenant(
            &t,
            &env(&[("AZURE_AUTHORITY_HOST", "http://127.0.0.1:1")]),
            AuthMethod::Auto,
        )
        .unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
        assert_eq!("azure-cli".parse::<AuthMethod>(), Ok(AuthMethod::AzureCli));
        assert!("kerberos".parse::<AuthMethod>().is_err());
    }
}

#[cfg(test)]
mod version_tests {
    use super::with_version;

    #[test]
    fn a_bare_host_means_the_v1_root() {
        assert_eq!(
            with_version("https://127.0.0.1:8443"),
            "https://127.0.0.1:8443/v1.0"
        );
        assert_eq!(
            with_version("https://127.0.0.1:8443/"),
            "https://127.0.0.1:8443/v1.0"
        );
        assert_eq!(
            with_version("https://graph.microsoft.com/v1.0"),
            "https://graph.microsoft.com/v1.0"
        );
        assert_eq!(
            with_version("https://proxy.example/graph/v1.0/"),
            "https://proxy.example/graph/v1.0"
        );
    }
}
