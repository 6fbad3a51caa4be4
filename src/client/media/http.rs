//! The little HTTP media transfers need: one request per connection to a
//! media host, over TLS unless the session talks to a loopback simulator
//! (its chat URL is `ws://`), bodies streamed both ways by hyper.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::client::ClientError;
use crate::wire::websocket::Stream;

/// A request body: the file, or nothing.
pub type Body = BoxBody<Bytes, std::io::Error>;

fn failed(what: impl std::fmt::Display) -> ClientError {
    ClientError::MediaTransfer(what.to_string())
}

/// `host` (a name or address, with an optional port) as a name to dial
/// and verify, and a port.
fn split_host(host: &str, secure: bool) -> (&str, u16) {
    let default = if secure { 443 } else { 80 };
    match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') => match port.parse() {
            Ok(port) => (name.trim_matches(['[', ']']), port),
            Err(_) => (host, default),
        },
        _ => (host, default),
    }
}

/// Sends `request` to `host` (over TLS trusting `tls`, or plain) and
/// returns the answer's head, its body still to read.
pub async fn send(
    host: &str,
    tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
    request: Request<Body>,
) -> Result<Response<Incoming>, ClientError> {
    let (name, port) = split_host(host, tls.is_some());
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect((name, port)))
        .await
        .map_err(|_| failed(format!("connecting to {host} timed out")))?
        .map_err(|e| failed(format!("connecting to {host}: {e}")))?;
    let stream = if let Some(tls) = tls {
        let server = rustls::pki_types::ServerName::try_from(name.to_string())
            .map_err(|_| failed(format!("{host} is not a TLS server name")))?;
        let tls = tokio::time::timeout(
            connect_timeout,
            tokio_rustls::TlsConnector::from(tls.clone()).connect(server, tcp),
        )
        .await
        .map_err(|_| failed(format!("TLS with {host} timed out")))?
        .map_err(|e| failed(format!("TLS with {host}: {e}")))?;
        Stream::Tls(Box::new(tls))
    } else {
        Stream::Plain(tcp)
    };
    exchange(TokioIo::new(stream), host, request).await
}

/// One request over an open connection `io` to `host`: the HTTP/1.1
/// handshake, the connection driven apart from the request (it ends with
/// it), the answer's head. Also what the host's fetch of a file by URL
/// uses, over the connection its address guard allowed.
pub async fn exchange<I, B>(
    io: I,
    host: &str,
    request: Request<B>,
) -> Result<Response<Incoming>, ClientError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| failed(format!("HTTP with {host}: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "media connection ended with an error");
        }
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| failed(format!("HTTP with {host}: {e}")))
}

/// Percent-escapes what is not unreserved in a URL query value.
pub fn url_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_host;

    #[test]
    fn hosts_split_into_name_and_port() {
        assert_eq!(
            split_host("mmg.whatsapp.net", true),
            ("mmg.whatsapp.net", 443)
        );
        assert_eq!(split_host("127.0.0.1:8080", false), ("127.0.0.1", 8080));
        assert_eq!(split_host("[::1]:9000", false), ("::1", 9000));
        assert_eq!(split_host("example.com", false), ("example.com", 80));
    }
}
