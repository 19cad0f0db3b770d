//! Throughput of the emulator on list endpoints: starts it in-process on the
//! contoso seed (plain HTTP, then TLS), drives it with a bounded number of
//! keep-alive connections (one hyper HTTP/1.1 client each, so the client costs
//! little of the two cores) for a fixed request count, prints requests/s.
//!
//! `cargo run --release --example bench_emulator -- [requests] [connections]`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use pim_emulator::{Emulator, EmulatorConfig, Tenant};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;

const PATHS: &[&str] = &[
    "/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=roleDefinitionId%20eq%20'62e90394-69f5-4237-9190-012177145e10'",
    "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances",
    "/v1.0/users?$filter=userPrincipalName%20eq%20'alice@contoso.com'",
    "/v1.0/roleManagement/directory/roleDefinitions?$filter=displayName%20eq%20'Helpdesk%20Administrator'",
    "/v1.0/users?$top=10&$select=id,userPrincipalName",
];

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(emu: &Emulator) -> anyhow::Result<Sender> {
    let tcp = TcpStream::connect(emu.local_addr()).await?;
    tcp.set_nodelay(true)?;
    let sender = match emu.ca_pem() {
        None => {
            let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            s
        }
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from_pem_slice(pem.as_bytes()).context("CA PEM")?)?;
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(ServerName::try_from("localhost")?, tcp)
                .await?;
            let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
            tokio::spawn(conn);
            s
        }
    };
    Ok(sender)
}

async fn run(tls: bool, total: usize, connections: usize) -> anyhow::Result<f64> {
    let seed = Tenant::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/contoso/tenant.json"
    ))?;
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        tls,
        ..EmulatorConfig::default()
    })
    .await?;
    let token = format!(
        "Bearer {}",
        emu.mint_token("00000000-0000-0000-0000-00000000b00b", false)
    );
    let mut senders = Vec::new();
    for _ in 0..connections {
        senders.push(connect(&emu).await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut sender in senders {
        let (token, next) = (token.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(());
                }
                let req = hyper::Request::get(PATHS[i % PATHS.len()])
                    .header("host", "localhost")
                    .header("authorization", token.as_str())
                    .body(Empty::<Bytes>::new())?;
                let resp = sender.send_request(req).await?;
                anyhow::ensure!(resp.status().is_success(), "status {}", resp.status());
                resp.into_body().collect().await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    emu.stop().await;
    Ok(rate)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let total: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(50_000);
    let connections: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for tls in [false, true] {
        let rate = rt.block_on(run(tls, total, connections))?;
        println!(
            "{:<5} {total} GET requests on list endpoints, {connections} keep-alive connections: {rate:.0} requests/s",
            if tls { "https" } else { "http" }
        );
    }
    Ok(())
}
