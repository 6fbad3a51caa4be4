//! A TLS server identity for tests: the simulator's own test certificate
//! (`wasp::sim::TestTls`, self-signed for "localhost" and 127.0.0.1) and
//! a rustls server configuration that presents it.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The server configuration and the certificate, as DER and PEM.
pub struct LocalhostTls {
    pub server: rustls::ServerConfig,
    pub cert_der: CertificateDer<'static>,
    pub cert_pem: String,
}

pub fn localhost_tls() -> LocalhostTls {
    let tls = wasp::sim::TestTls::generate().expect("test certificate");
    let cert_der = CertificateDer::from_pem_slice(tls.ca_pem.as_bytes()).expect("PEM");
    LocalhostTls {
        server: std::sync::Arc::unwrap_or_clone(tls.server),
        cert_der,
        cert_pem: tls.ca_pem,
    }
}
