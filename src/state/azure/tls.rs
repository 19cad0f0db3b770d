//! TLS for the Blob endpoint: rustls with the ring provider, trusting the
//! system's roots and an extra CA (a TLS-inspecting proxy's, or a test's).

use std::time::Duration;

use super::AzureError;
use crate::state::StateError;

/// rustls with the ring provider; the system's roots and `extra_pem` for
/// https endpoints, none for loopback http (nothing to verify).
pub(super) fn tls_config(
    https: bool,
    extra_pem: Option<&str>,
) -> Result<rustls::ClientConfig, StateError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;

    let config = |m: String| StateError::from(AzureError::Config(m));
    let mut roots = rustls::RootCertStore::empty();
    if https {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A malformed system certificate is skipped, not fatal.
            let _ = roots.add(cert);
        }
        if let Some(pem) = extra_pem {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| {
                    config(format!("the extra CA certificate is not valid PEM: {e}"))
                })?;
                roots
                    .add(cert)
                    .map_err(|e| config(format!("the extra CA certificate cannot be used: {e}")))?;
                added += 1;
            }
            if added == 0 {
                return Err(config("the extra CA file holds no PEM certificate".into()));
            }
        }
        if roots.is_empty() {
            return Err(config(
                "no trusted root certificates found on this system (install ca-certificates)"
                    .into(),
            ));
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

pub(super) fn build_client(
    tls: &rustls::ClientConfig,
    loopback: bool,
) -> Result<reqwest::Client, StateError> {
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls.clone())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .https_only(!loopback);
    if loopback {
        // A proxy from the environment must not intercept the emulator.
        b = b.no_proxy();
    }
    b.build().map_err(|e| {
        AzureError::Config(format!(
            "could not set up the HTTP client: {}",
            e.without_url()
        ))
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extra_ca_must_be_a_certificate() {
        let err = tls_config(true, Some("not a certificate")).unwrap_err();
        assert!(err.to_string().contains("PEM"), "{err}");
    }
}
