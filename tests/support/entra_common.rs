//! A stand-in for Entra ID's token endpoint on 127.0.0.1, minting the
//! unsigned storage tokens Azurite's basic OAuth accepts, and the throwaway
//! certificate authority that both it and Azurite serve TLS under.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};

/// What the storage service takes as the audience of its tokens.
pub const STORAGE_AUDIENCE: &str = "https://storage.azure.com";

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it,
/// written as PEM files into a directory.
pub struct Tls {
    /// The CA alone: what clients trust (`PIM_CA_CERT`).
    pub ca_pem: String,
    pub ca_file: PathBuf,
    /// The server certificate followed by the CA.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    cert_pem: String,
    key_pem: String,
}

impl Tls {
    pub fn new(dir: &Path) -> Tls {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = server.signed_by(&key, &ca).unwrap();
        let tls = Tls {
            ca_pem: ca.pem(),
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("cert.pem"),
            key_file: dir.join("key.pem"),
            cert_pem: format!("{}{}", cert.pem(), ca.pem()),
            key_pem: key.serialize_pem(),
        };
        std::fs::write(&tls.ca_file, &tls.ca_pem).unwrap();
        std::fs::write(&tls.cert_file, &tls.cert_pem).unwrap();
        std::fs::write(&tls.key_file, &tls.key_pem).unwrap();
        tls
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// An access token as Entra ID's v1 endpoint shapes it, with `aud`, `iss`
/// (`https://sts.windows.net/{tenant}/`), `iat`, `nbf` and `exp` set, valid
/// from a minute ago for `lifetime_secs`. Its signature is no signature:
/// Azurite's basic OAuth never checks one.
pub fn access_token(tenant: &str, audience: &str, lifetime_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
    format!(
        "{}.{}.{}",
        part(serde_json::json!({ "typ": "JWT", "alg": "RS256" })),
        part(serde_json::json!({
            "aud": audience,
            "iss": format!("https://sts.windows.net/{tenant}/"),
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + lifetime_secs,
            "tid": tenant,
            "appid": "6f1c3a52-9a4e-4d55-8d0f-1a2b3c4d5e6f",
            "idtyp": "app",
            "ver": "1.0",
        })),
        URL_SAFE_NO_PAD.encode(b"unsigned"),
    )
}

/// `POST /{tenant}/oauth2/v2.0/token` for the client credentials grant of
/// one application, answering with [`access_token`]s for the resource of the
/// requested scope. Stops when dropped.
pub struct TokenEndpoint {
    /// What `AZURE_AUTHORITY_HOST` takes.
    pub authority: String,
    /// The `scope` of every token request, in order.
    pub scopes: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenEndpoint {
    pub fn start(tls: &Tls, tenant: &str, client_id: &str, secret: &str) -> TokenEndpoint {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let authority = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let scopes = Arc::new(Mutex::new(Vec::new()));
        let app = Arc::new(App {
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            secret: secret.to_string(),
            scopes: scopes.clone(),
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        // A runtime of its own, so it answers while a test waits on a child.
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (tcp, _) = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok(a) => a,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => return,
                    };
                    let (acceptor, app) = (acceptor.clone(), app.clone());
                    tokio::spawn(async move {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            app.serve(stream).await;
                        }
                    });
                }
            });
        });
        TokenEndpoint {
            authority,
            scopes,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn scopes(&self) -> Vec<String> {
        self.scopes.lock().unwrap().clone()
    }
}

impl Drop for TokenEndpoint {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct App {
    tenant: String,
    client_id: String,
    secret: String,
    scopes: Arc<Mutex<Vec<String>>>,
}

impl App {
    /// One request per connection (`Connection: close`): enough for the
    /// token requests of `azure_identity`.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut s: S) {
        let Some(request) = super::http::read_request(&mut s).await else {
            return;
        };
        let (status, body) = self.answer(request.request_line(), &request.body);
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = s.write_all(reply.as_bytes()).await;
        let _ = s.shutdown().await;
    }

    fn answer(&self, request_line: &str, body: &[u8]) -> (&'static str, String) {
        let expected = format!("POST /{}/oauth2/v2.0/token ", self.tenant);
        if !request_line.starts_with(&expected) {
            return ("404 Not Found", r#"{"error":"not_found"}"#.into());
        }
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
        if field("grant_type") != "client_credentials"
            || field("client_id") != self.client_id
            || field("client_secret") != self.secret
        {
            return ("401 Unauthorized", r#"{"error":"invalid_client"}"#.into());
        }
        let scope = field("scope").to_string();
        self.scopes.lock().unwrap().push(scope.clone());
        let audience = scope.trim_end_matches("/.default");
        let token = access_token(&self.tenant, audience, 3600);
        let body = serde_json::json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        });
        ("200 OK", body.to_string())
    }
}
