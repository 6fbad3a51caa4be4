//! A TLS server identity for tests: a fresh self-signed certificate for
//! "localhost" and a rustls server configuration that presents it.

use std::sync::Arc;

/// The server configuration and the certificate, as DER and PEM.
pub struct LocalhostTls {
    pub server: rustls::ServerConfig,
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
    pub cert_pem: String,
}

pub fn localhost_tls() -> LocalhostTls {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("self-signed");
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("certificate");
    LocalhostTls {
        server,
        cert_der: cert.der().clone(),
        cert_pem: cert.pem(),
    }
}
