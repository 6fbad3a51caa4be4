//! Our client WebSocket over TLS (`wss://`, the real server's scheme)
//! against an independent server: tokio-tungstenite behind rustls.

// Each test file uses part of the shared TLS helper.
#[allow(dead_code)]
mod tls;

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use wasp::wire::websocket;
use wasp::wire::WireError;

const LIMIT: usize = 1 << 16;

#[tokio::test]
async fn wss_carries_messages_both_ways_with_a_trusted_certificate() {
    // Only this test's client configuration trusts the certificate.
    let tls = tls::localhost_tls();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls.cert_der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server));
    // The server echoes one binary message, then closes.
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tls).await.unwrap();
        let got = ws.next().await.unwrap().unwrap();
        ws.send(got).await.unwrap();
        ws.close(None).await.unwrap();
    });
    let url = format!("wss://localhost:{port}/ws/chat");
    let mut ws = websocket::connect(&url, "https://web.whatsapp.com", Arc::new(client), LIMIT)
        .await
        .expect("wss connects");
    let big = vec![42u8; 5000];
    ws.send(&big).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(big));
    assert_eq!(ws.recv().await.unwrap(), None);
    ws.close().await;
    server.await.unwrap();
}

#[tokio::test]
async fn wss_refuses_a_certificate_it_does_not_trust() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls::localhost_tls().server));
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ = acceptor.accept(tcp).await;
    });
    // The production configuration: Mozilla's roots only.
    let url = format!("wss://localhost:{port}/ws/chat");
    let refused = wasp::wire::socket::connect_websocket(&url).await;
    assert!(
        matches!(refused, Err(WireError::WebSocket(_))),
        "{refused:?}"
    );
}
