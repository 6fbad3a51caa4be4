//! Certificate authorities as operators hand them over: a PEM file of
//! one or more certificates (for webhooks over https, for PostgreSQL
//! over TLS, for a WhatsApp endpoint with its own CA), and the TLS client
//! configuration trusting them besides the Mozilla roots.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Every certificate in `pem`; an error when it is unreadable, holds
/// none, or holds one TLS cannot use as a root.
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("unreadable PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the PEM data".into());
    }
    // Refused now, when the operator hands them over, rather than at the
    // first connection that needs them (the check `client_config` makes
    // of each, without building a configuration).
    let mut probe = rustls::RootCertStore::empty();
    for cert in &certs {
        probe
            .add(cert.clone())
            .map_err(|e| format!("unusable CA certificate: {e}"))?;
    }
    Ok(certs)
}

/// A TLS client configuration trusting the Mozilla roots and `extra`
/// (an operator's own CA, or a test's), with ring as the crypto provider
/// (named explicitly so no process-level default is needed).
pub fn client_config(
    extra: &[CertificateDer<'static>],
) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| format!("unusable CA certificate: {e}"))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}
