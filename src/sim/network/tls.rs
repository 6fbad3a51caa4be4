//! The chat endpoint over TLS (`wss://`, the real server's scheme): a
//! test certificate of the simulator's own, and a listener that completes
//! each TLS handshake off the accept loop, so thousands of sessions
//! connecting at once are not served one handshake at a time.
//!
//! Owns: [`TestTls`] and [`TlsListener`]. Must not touch: what is said
//! over the connection (`conn`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// A fresh self-signed certificate for `localhost` and `127.0.0.1` (its
/// own authority: clients trust it as a root) and the server
/// configuration presenting it.
pub struct TestTls {
    pub server: Arc<rustls::ServerConfig>,
    /// The certificate clients must trust, PEM.
    pub ca_pem: String,
}

impl TestTls {
    pub fn generate() -> Result<TestTls, String> {
        let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let cert = rcgen::CertificateParams::new(names)
            .and_then(|params| params.self_signed(&key))
            .map_err(|e| e.to_string())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .map_err(|e| e.to_string())?;
        Ok(TestTls {
            server: Arc::new(server),
            ca_pem: cert.pem(),
        })
    }
}

/// Accepts TCP connections and hands over those whose TLS handshake
/// completed within the timeout; a failed handshake is dropped quietly
/// (it is the client's to report). The accept loop ends with the
/// listener.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    pub fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        handshake_timeout: Duration,
    ) -> std::io::Result<TlsListener> {
        let addr = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = tcp.accept() => accepted,
                    () = tx.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of descriptors and the like: pause, as
                        // axum's own listener does.
                        tracing::warn!("TLS listener accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accept loop only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
