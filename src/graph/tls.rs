//! TLS for Graph and the token endpoint: rustls with the ring provider, the
//! system's trusted roots plus an optional extra CA (the emulator's, or a
//! TLS-inspecting proxy's) read from PEM.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::error::GraphError;

/// The system's trusted roots, read once a process: the Graph and the ARM
/// client each build a TLS configuration, and reading the store takes a
/// while.
fn native_roots() -> &'static [CertificateDer<'static>] {
    static NATIVE: std::sync::OnceLock<Vec<CertificateDer<'static>>> = std::sync::OnceLock::new();
    NATIVE.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// A rustls client configuration trusting the system roots and `extra_pem`.
/// Offers HTTP/2 and HTTP/1.1.
pub fn client_config(extra_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, GraphError> {
    let mut roots = RootCertStore::empty();
    // A machine without a usable system store still works with an explicit CA.
    for cert in native_roots() {
        let _ = roots.add(cert.clone());
    }
    if let Some(pem) = extra_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                GraphError::config(format!("the extra CA certificate is not valid PEM: {e}"))
            })?;
            roots.add(cert).map_err(|e| {
                GraphError::config(format!("the extra CA certificate cannot be used: {e}"))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(GraphError::config(
                "the extra CA file holds no PEM certificate",
            ));
        }
    }
    if roots.is_empty() {
        // Still fine for plain-HTTP loopback use; any HTTPS call will say why it failed.
        tracing::warn!(
            "no trusted root certificates: the system store is empty and no CA was given (PIM_CA_CERT)"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GraphError::config(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_ca() {
        let e = client_config(Some(b"not a certificate")).unwrap_err();
        assert!(e.to_string().contains("PEM"), "{e}");
    }
}
