//! A hostile Graph for the `graph_hostile` tests: a few lines of HTTP/1.1
//! on 127.0.0.1 (TLS where it matters) answering what each test tells it
//! to, and recording what reached it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pim::graph::{GraphError, GraphSettings, HttpGraph, RetryPolicy, StaticToken};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub const TOKEN: &str = "very-secret-bearer-token";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub authorization: Option<String>,
}

pub enum Reply {
    Json(u16, String),
    Raw {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// A body written 1 MiB at a time until the client hangs up (at most
    /// 256 MiB), with or without a `Content-Length` announcing 200 MB.
    Endless {
        status: u16,
        announce: bool,
    },
}

pub type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct Server {
    addr: SocketAddr,
    scheme: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Body bytes written by `Reply::Endless`.
    pub written: Arc<AtomicU64>,
}

impl Server {
    pub async fn start(
        tls: Option<TlsAcceptor>,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(AtomicU64::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let server = Server {
            addr,
            scheme: if tls.is_some() { "https" } else { "http" },
            seen: seen.clone(),
            written: written.clone(),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, written, handler, tls) =
                    (seen.clone(), written.clone(), handler.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                serve(s, &seen, &written, &*handler).await;
                            }
                        }
                        None => serve(stream, &seen, &written, &*handler).await,
                    }
                });
            }
        });
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// One request per connection (`Connection: close`): enough for reqwest.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    seen: &Mutex<Vec<Seen>>,
    written: &AtomicU64,
    handler: &Handler,
) {
    let Some(raw) = super::http::read_request(&mut s).await else {
        return;
    };
    let mut first = raw.request_line().split(' ');
    let (method, target) = (
        first.next().unwrap_or_default().to_string(),
        first.next().unwrap_or_default().to_string(),
    );
    let header = |name: &str| raw.header(name);
    let request = Seen {
        method,
        target,
        authorization: header("authorization"),
    };
    seen.lock().unwrap().push(request.clone());
    let (status, headers, body) = match handler(&request) {
        Reply::Json(status, body) => (
            status,
            vec![("Content-Type", "application/json".to_string())],
            body.into_bytes(),
        ),
        Reply::Raw {
            status,
            headers,
            body,
        } => (status, headers, body),
        Reply::Endless { status, announce } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n"
            );
            if announce {
                head.push_str("Content-Length: 200000000\r\n");
            }
            head.push_str("\r\n");
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mib = vec![b'x'; 1 << 20];
            if s.write_all(b"{\"value\":[\"").await.is_err() {
                return;
            }
            for _ in 0..256 {
                if s.write_all(&mib).await.is_err() {
                    break;
                }
                written.fetch_add(mib.len() as u64, Ordering::Relaxed);
            }
            let _ = s.shutdown().await;
            return;
        }
    };
    let mut out = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    let _ = s.write_all(&bytes).await;
    let _ = s.shutdown().await;
}

/// A CA and a server certificate for 127.0.0.1 and localhost.
pub fn tls() -> (TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()),
    );
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(rustls::DEFAULT_VERSIONS)
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key_der)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (TlsAcceptor::from(Arc::new(config)), ca.pem())
}

pub fn settings(graph: &Server) -> GraphSettings {
    GraphSettings {
        graph_url: format!("{}/v1.0", graph.base()),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
        request_timeout: Duration::from_secs(20),
        ..GraphSettings::default()
    }
}

pub fn client(settings: GraphSettings) -> HttpGraph {
    HttpGraph::with_token_source(settings, Arc::new(StaticToken(TOKEN.into()))).unwrap()
}

/// One line, short, without the token.
pub fn check_line(e: &GraphError) -> String {
    let text = e.to_string();
    assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.len() < 1000, "{} characters: {text:.200}", text.len());
    text
}

/// A page of `n` administrative units, with `next` as its next link.
pub fn units(n: usize, next: Option<String>) -> String {
    let value: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"id": format!("au{i}"), "displayName": format!("AU {i}")}))
        .collect();
    let mut page = serde_json::json!({ "value": value });
    if let Some(link) = next {
        page["@odata.nextLink"] = link.into();
    }
    page.to_string()
}

/// Records whatever reaches it; answers an empty page.
pub async fn elsewhere() -> Server {
    Server::start(None, |_| Reply::Json(200, units(0, None))).await
}
