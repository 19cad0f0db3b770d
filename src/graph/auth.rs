//! Tokens for Graph and for Blob state: an `azure_identity` credential
//! chosen from the settings, sharing the Graph client's `reqwest::Client`
//! (and so its TLS roots), behind a cache that renews a token five minutes
//! before it expires. Tokens and secrets are never logged or printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use base64::Engine as _;
use tokio::sync::Mutex;

use super::error::{EXCERPT_CHARS, ErrorKind, GraphError, excerpt};
use super::settings::{AuthMethod, GRAPH_SCOPE, GraphSettings};

/// A token and when to stop using it.
#[derive(Clone)]
pub struct Token {
    pub secret: String,
    pub expires: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Where bearer tokens come from, for Graph and for Azure Storage alike.
/// Tests may supply their own.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A token for `scope` ([`GRAPH_SCOPE`], or Azure Storage's).
    async fn token(&self, scope: &str) -> Result<Token, GraphError>;
    /// Which method this is, for messages.
    fn describe(&self) -> String;
    /// Whether the tokens carry a multi-factor sign-in, when the source
    /// knows it without reading them (opaque tokens).
    fn mfa(&self) -> Option<bool> {
        None
    }
    /// Whom the tokens act for, when the source knows it without reading
    /// them (see [`SignIn`]).
    fn sign_in(&self) -> SignIn {
        SignIn::Unknown
    }
}

/// Whom a token acts for: what decides how to ask Graph who the caller is
/// when the token cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// An application as itself (client secret, workload identity, managed
    /// identity): its service principal is the caller.
    App,
    /// A signed-in user (Azure CLI, the emulator's user grant): `/me`.
    User,
    Unknown,
}

/// A fixed token (an emulator-minted one, or `PIM_ACCESS_TOKEN`-style use).
pub struct StaticToken(pub String);

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self, _scope: &str) -> Result<Token, GraphError> {
        Ok(Token {
            secret: self.0.clone(),
            expires: Instant::now() + Duration::from_secs(3600),
        })
    }

    fn describe(&self) -> String {
        "a static token".into()
    }
}

/// An `azure_identity` credential.
pub struct AzureCredential {
    credential: Arc<dyn TokenCredential>,
    method: AuthMethod,
}

fn auth_error(method: AuthMethod, e: impl std::fmt::Display) -> GraphError {
    // azure_core errors can span lines (wrapped causes); keep the first and last.
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("no detail").to_string();
    let last = lines.next_back().map(str::to_string);
    let message = match last {
        Some(l) if l != first => format!("{first}: {l}"),
        _ => first,
    };
    GraphError::new(
        ErrorKind::Auth,
        format!("get a Graph token ({})", method.as_str()),
        format!("{} credential: {message}", method.as_str()),
    )
}

impl AzureCredential {
    /// The credential the settings ask for, sending its token requests
    /// through `client`.
    pub fn new(settings: &GraphSettings, client: &reqwest::Client) -> Result<Self, GraphError> {
        let method = settings.effective_auth();
        let mut custom = CustomConfiguration::default();
        custom.authority_host = settings.authority_host.trim_end_matches('/').to_string();
        let client_options = || ClientOptions {
            transport: Some(Transport::new(Arc::new(client.clone()))),
            cloud: Some(Arc::new(CloudConfiguration::Custom(custom.clone()))),
            ..ClientOptions::default()
        };
        let creds = &settings.credentials;
        let need = |what: Option<&String>, var: &str| {
            what.cloned().ok_or_else(|| {
                GraphError::new(
                    ErrorKind::Auth,
                    format!("get a Graph token ({})", method.as_str()),
                    format!("{} authentication needs {var}", method.as_str()),
                )
            })
        };
        let credential: Arc<dyn TokenCredential> = match method {
            AuthMethod::ClientSecret | AuthMethod::Auto => {
                let tenant = need(
                    settings.tenant_id.as_ref(),
                    "AZURE_TENANT_ID (or tenant { id })",
                )?;
                let client_id = need(creds.client_id.as_ref(), "AZURE_CLIENT_ID")?;
                let secret = creds
                    .client_secret
                    .as_ref()
                    .ok_or_else(|| auth_error(method, "AZURE_CLIENT_SECRET is not set"))?;
                let options = azure_identity::ClientSecretCredentialOptions {
                    client_options: client_options(),
                };
                azure_identity::ClientSecretCredential::new(
                    &tenant,
                    client_id,
                    Secret::new(secret.expose().to_string()),
                    Some(options),
                )
                .map_err(|e| auth_error(method, e))?
            }
            AuthMethod::WorkloadIdentity => {
                let tenant = need(
                    settings.tenant_id.as_ref(),
                    "AZURE_TENANT_ID (or tenant { id })",
                )?;
                let client_id = need(creds.client_id.as_ref(), "AZURE_CLIENT_ID")?;
                let file = creds
                    .federated_token_file
                    .clone()
                    .ok_or_else(|| auth_error(method, "AZURE_FEDERATED_TOKEN_FILE is not set"))?;
                let mut options = azure_identity::WorkloadIdentityCredentialOptions::default();
                options.credential_options.client_options = client_options();
                options.tenant_id = Some(tenant);
                options.client_id = Some(client_id);
                options.token_file_path = Some(file);
                azure_identity::WorkloadIdentityCredential::new(Some(options))
                    .map_err(|e| auth_error(method, e))?
            }
            AuthMethod::ManagedIdentity => {
                let options = azure_identity::ManagedIdentityCredentialOptions {
                    client_options: client_options(),
                    user_assigned_id: creds
                        .client_id
                        .clone()
                        .map(azure_identity::UserAssignedId::ClientId),
                };
                azure_identity::ManagedIdentityCredential::new(Some(options))
                    .map_err(|e| auth_error(method, e))?
            }
            AuthMethod::AzureCli => {
                let options = azure_identity::AzureCliCredentialOptions {
                    tenant_id: settings.tenant_id.clone(),
                    ..Default::default()
                };
                azure_identity::AzureCliCredential::new(Some(options))
                    .map_err(|e| auth_error(method, e))?
            }
        };
        Ok(AzureCredential { credential, method })
    }
}

#[async_trait]
impl TokenSource for AzureCredential {
    async fn token(&self, scope: &str) -> Result<Token, GraphError> {
        let t = self
            .credential
            .get_token(&[scope], None)
            .await
            .map_err(|e| auth_error(self.method, e))?;
        let left = (t.expires_on - azure_core::time::OffsetDateTime::now_utc()).whole_seconds();
        Ok(Token {
            secret: t.token.secret().to_string(),
            expires: Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0)),
        })
    }

    fn describe(&self) -> String {
        self.method.as_str().to_string()
    }

    fn sign_in(&self) -> SignIn {
        match self.method {
            AuthMethod::ClientSecret
            | AuthMethod::WorkloadIdentity
            | AuthMethod::ManagedIdentity => SignIn::App,
            AuthMethod::AzureCli => SignIn::User,
            // `new` resolves Auto to a method; nothing is left to say.
            AuthMethod::Auto => SignIn::Unknown,
        }
    }
}

/// Keeps one token (for Graph, unless [`TokenCache::for_scope`] says
/// otherwise) and renews it shortly before it expires; concurrent callers
/// wait for the one renewal in flight instead of starting their own.
pub struct TokenCache {
    source: Arc<dyn TokenSource>,
    scope: &'static str,
    current: Mutex<Option<Token>>,
    margin: Duration,
}

impl TokenCache {
    pub fn new(source: Arc<dyn TokenSource>) -> Self {
        TokenCache {
            source,
            scope: GRAPH_SCOPE,
            current: Mutex::new(None),
            margin: Duration::from_secs(300),
        }
    }

    /// The same cache, keeping tokens of another resource (Azure Storage,
    /// for remote state).
    pub fn for_scope(self, scope: &'static str) -> Self {
        TokenCache { scope, ..self }
    }

    pub async fn get(&self) -> Result<String, GraphError> {
        Ok(self.current().await?.secret)
    }

    async fn current(&self) -> Result<Token, GraphError> {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref()
            && t.expires > Instant::now() + self.margin
        {
            return Ok(t.clone());
        }
        let t = self.source.token(self.scope).await?;
        *current = Some(t.clone());
        Ok(t)
    }

    /// Forget the token (Graph answered 401: it may have been revoked).
    pub async fn invalidate(&self) {
        *self.current.lock().await = None;
    }

    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// What the source says about MFA (see [`TokenSource::mfa`]).
    pub fn source_mfa(&self) -> Option<bool> {
        self.source.mfa()
    }

    /// Whom the source's tokens act for (see [`TokenSource::sign_in`]).
    pub fn sign_in(&self) -> SignIn {
        self.source.sign_in()
    }
}

/// A cache is a source too: its own scope's tokens from the cache, any
/// other scope's straight from the source.
#[async_trait]
impl TokenSource for TokenCache {
    async fn token(&self, scope: &str) -> Result<Token, GraphError> {
        if scope == self.scope {
            self.current().await
        } else {
            self.source.token(scope).await
        }
    }

    fn describe(&self) -> String {
        self.source.describe()
    }

    fn mfa(&self) -> Option<bool> {
        self.source.mfa()
    }

    fn sign_in(&self) -> SignIn {
        self.source.sign_in()
    }
}

/// A delegated token for a seeded user of the pim emulator, from its
/// emulator-only grant (`urn:pim:emulator:grant-type:user`): what `--as`
/// signs in with. Refused for anything but loopback addresses, so it can
/// never be pointed at Entra ID or Microsoft Graph.
pub struct EmulatorUser {
    client: reqwest::Client,
    token_url: String,
    username: String,
    mfa: bool,
}

pub(crate) fn is_loopback(url: &str) -> bool {
    match reqwest::Url::parse(url)
        .ok()
        .as_ref()
        .and_then(|u| u.host())
    {
        Some(url::Host::Domain(d)) => crate::model::Caseless::same(d, "localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl EmulatorUser {
    pub fn new(
        settings: &GraphSettings,
        client: &reqwest::Client,
        username: &str,
        mfa: bool,
    ) -> Result<Self, GraphError> {
        for (what, url) in [
            ("Graph URL", &settings.graph_url),
            ("authority host", &settings.authority_host),
        ] {
            if !is_loopback(url) {
                return Err(GraphError::config(format!(
                    "--as signs in as a seeded user of the pim emulator only, and the {what} {url} is not the emulator; \
                     sign in to a real tenant with --auth azure-cli (az login) instead"
                )));
            }
        }
        let tenant = settings.tenant_id.as_deref().unwrap_or("organizations");
        Ok(EmulatorUser {
            client: client.clone(),
            token_url: format!(
                "{}/{tenant}/oauth2/v2.0/token",
                settings.authority_host.trim_end_matches('/')
            ),
            username: username.to_string(),
            mfa,
        })
    }
}

#[async_trait]
impl TokenSource for EmulatorUser {
    async fn token(&self, scope: &str) -> Result<Token, GraphError> {
        let op = "get a Graph token (emulator user)";
        let mfa = if self.mfa { "true" } else { "false" };
        let form = [
            ("grant_type", "urn:pim:emulator:grant-type:user"),
            ("username", self.username.as_str()),
            ("mfa", mfa),
            ("scope", scope),
        ];
        let mut resp = self
            .client
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| GraphError::new(ErrorKind::Auth, op, e.to_string()))?;
        let status = resp.status();
        // A token answer is a few KiB; more is not the emulator.
        let (bytes, cut) = super::http::read_capped(&mut resp, 64 * 1024)
            .await
            .map_err(|e| GraphError::new(ErrorKind::Auth, op, e.to_string()))?;
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .ok()
            .filter(|_| !cut)
            .unwrap_or_default();
        let field = |k: &str| body.get(k).and_then(serde_json::Value::as_str);
        match field("access_token") {
            Some(secret) if status.is_success() => {
                let secs = body
                    .get("expires_in")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(3599);
                Ok(Token {
                    secret: secret.to_string(),
                    expires: Instant::now() + Duration::from_secs(secs),
                })
            }
            _ => {
                let why = field("error_description")
                    .and_then(|d| d.split(" Trace ID").next())
                    .unwrap_or("the emulator gave no token");
                Err(GraphError::new(
                    ErrorKind::Auth,
                    op,
                    format!(
                        "cannot sign in as {}: {}",
                        self.username,
                        excerpt(why, EXCERPT_CHARS)
                    ),
                ))
            }
        }
    }

    fn describe(&self) -> String {
        format!("emulator user {}", self.username)
    }

    fn mfa(&self) -> Option<bool> {
        Some(self.mfa)
    }

    fn sign_in(&self) -> SignIn {
        SignIn::User
    }
}

/// The claims of a JWT access token; `None` for opaque tokens (the
/// emulator's) or anything unreadable. Never logged.
fn claims(token: &str) -> Option<serde_json::Value> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `oid` claim of a JWT access token: the object id of the caller.
/// `None` for opaque tokens (the emulator's) or anything unreadable.
pub fn object_id_from_token(token: &str) -> Option<String> {
    claims(token)?
        .get("oid")
        .and_then(serde_json::Value::as_str)
        .map(|oid| crate::model::ObjectId::new(oid).into_string())
}

/// Whether a JWT's `amr` (authentication methods) claim lists `mfa`;
/// `None` when the token says nothing about it.
pub fn mfa_from_token(token: &str) -> Option<bool> {
    let amr = claims(token)?.get("amr")?.as_array()?.clone();
    Some(amr.iter().any(|m| m.as_str() == Some("mfa")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn reads_oid_from_jwt() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"none"}"#),
            enc(r#"{"oid":"ABC-1","tid":"t"}"#)
        );
        assert_eq!(object_id_from_token(&jwt).as_deref(), Some("abc-1"));
        assert_eq!(object_id_from_token("pimemu.opaque"), None);
        assert_eq!(mfa_from_token(&jwt), None);
        let with_amr = |amr: &str| {
            format!(
                "{}.{}.sig",
                enc(r#"{"alg":"none"}"#),
                enc(&format!(r#"{{"oid":"a","amr":{amr}}}"#))
            )
        };
        assert_eq!(mfa_from_token(&with_amr(r#"["pwd","mfa"]"#)), Some(true));
        assert_eq!(mfa_from_token(&with_amr(r#"["pwd"]"#)), Some(false));
        // Anything but three parts with a JSON payload is opaque.
        let not_json = format!("{}.{}.sig", enc("{}"), enc("oid=abc"));
        assert_eq!(object_id_from_token(&not_json), None);
        assert_eq!(object_id_from_token(&format!("{jwt}.more")), None);
        let no_oid = format!("{}.{}.sig", enc("{}"), enc(r#"{"idtyp":"app"}"#));
        assert_eq!(object_id_from_token(&no_oid), None);
    }

    #[test]
    fn sign_in_follows_the_method() {
        let client = crate::graph::HttpGraph::http_client(&GraphSettings::default()).unwrap();
        let settings = |auth: AuthMethod| GraphSettings {
            auth,
            tenant_id: Some("contoso.onmicrosoft.com".into()),
            credentials: crate::graph::Credentials {
                client_id: Some("app".into()),
                client_secret: Some(crate::graph::SecretString::new("s")),
                ..Default::default()
            },
            ..GraphSettings::default()
        };
        let sign_in = |auth| {
            AzureCredential::new(&settings(auth), &client)
                .map(|c| c.sign_in())
                .map_err(|e| e.to_string())
        };
        assert_eq!(sign_in(AuthMethod::ClientSecret), Ok(SignIn::App));
        assert_eq!(
            sign_in(AuthMethod::Auto),
            Ok(SignIn::App),
            "a secret is set"
        );
        assert_eq!(sign_in(AuthMethod::ManagedIdentity), Ok(SignIn::App));
        assert_eq!(sign_in(AuthMethod::AzureCli), Ok(SignIn::User));
        assert_eq!(StaticToken("t".into()).sign_in(), SignIn::Unknown);
        let local = GraphSettings {
            graph_url: "https://127.0.0.1:1/v1.0".into(),
            authority_host: "https://127.0.0.1:1".into(),
            ..GraphSettings::default()
        };
        let user = EmulatorUser::new(&local, &client, "alice@contoso.com", false).unwrap();
        assert_eq!(user.sign_in(), SignIn::User);
    }

    struct Counting(AtomicUsize, Duration);

    #[async_trait]
    impl TokenSource for Counting {
        async fn token(&self, _scope: &str) -> Result<Token, GraphError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Token {
                secret: format!("t{n}"),
                expires: Instant::now() + self.1,
            })
        }
        fn describe(&self) -> String {
            "counting".into()
        }
    }

    #[tokio::test]
    async fn caches_until_close_to_expiry() {
        let long = Arc::new(Counting(AtomicUsize::new(0), Duration::from_secs(3600)));
        let cache = TokenCache::new(long.clone());
        assert_eq!(cache.get().await.unwrap(), "t0");
        assert_eq!(cache.get().await.unwrap(), "t0");
        cache.invalidate().await;
        assert_eq!(cache.get().await.unwrap(), "t1");
        // A token within the renewal margin is replaced on every use.
        let short = Arc::new(Counting(AtomicUsize::new(0), Duration::from_secs(60)));
        let cache = TokenCache::new(short.clone());
        assert_eq!(cache.get().await.unwrap(), "t0");
        assert_eq!(cache.get().await.unwrap(), "t1");
    }
}
