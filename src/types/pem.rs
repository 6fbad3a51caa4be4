//! Certificate authorities as operators hand them over: a PEM file of
//! one or more certificates (for webhooks over https, for PostgreSQL
//! over TLS).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Every certificate in `pem`; an error when it is unreadable or holds
/// none.
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("unreadable PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the PEM data".into());
    }
    Ok(certs)
}
