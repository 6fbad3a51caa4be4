//! A minimal HTTP/1.1 POST for webhook delivery, over plain TCP or TLS
//! (rustls, with the Mozilla roots of `webpki-roots` plus any roots the
//! operator adds): one request per connection, only the status line of
//! the answer is read, so redirects are never followed (a 3xx is a failed
//! attempt). The host name is resolved here and every address is checked
//! by the address guard before it is connected to; only checked addresses
//! are connected to, so a name that resolves differently a second time
//! (DNS rebinding) cannot slip through.
//! Must not touch: the outbox or the retry schedule.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::address_guard::AddressGuard;

/// Why a delivery failed (it is retried later).
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("bad webhook url {0:?}")]
    BadUrl(String),
    #[error("connecting: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out connecting")]
    ConnectTimeout,
    #[error("timed out waiting for the answer")]
    Timeout,
    #[error("refused: {0}")]
    Refused(String),
    #[error("answered {0}")]
    Status(u16),
    #[error("unreadable answer")]
    BadResponse,
}

/// How one attempt is made.
pub struct PostOptions {
    pub tls: Arc<rustls::ClientConfig>,
    /// Resolving the name and connecting, in all.
    pub connect_timeout: Duration,
    /// The whole attempt, connecting included.
    pub timeout: Duration,
}

/// The parts of an `http[s]://host[:port]/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    /// `host:port`, the port defaulted from the scheme.
    pub authority: String,
    pub path: String,
}

pub fn split_url(url: &str) -> Option<Target> {
    let (tls, rest) = match url.split_once("://")? {
        ("http", rest) => (false, rest),
        ("https", rest) => (true, rest),
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains(['@', ' ']) || path.contains([' ', '\r', '\n']) {
        return None;
    }
    let (host, authority) = match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => (host, authority.to_string()),
        Some(_) => return None,
        None => (
            authority,
            format!("{authority}:{}", if tls { 443 } else { 80 }),
        ),
    };
    if host.is_empty() {
        return None;
    }
    Some(Target {
        tls,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        authority,
        path: path.to_string(),
    })
}

/// The TLS client configuration for https webhooks: the Mozilla roots and
/// `extra_roots` (an operator's own CA, or a test's).
pub fn tls_config(extra_roots: &[CertificateDer<'static>]) -> Arc<rustls::ClientConfig> {
    match crate::types::pem::client_config(extra_roots) {
        Ok(config) => config,
        // `WebhookConfig::trust_pem` refuses a certificate rustls cannot
        // use, so this is a guard: https webhooks then trust the Mozilla
        // roots alone.
        Err(e) => {
            tracing::error!(error = %e, "webhook CA certificates unusable; trusting the Mozilla roots only");
            crate::wire::socket::shared_tls_config()
        }
    }
}

/// POSTs `body` as JSON with extra headers; Ok on a 2xx answer. With a
/// guard, only addresses it allows are connected to.
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
    options: &PostOptions,
    guard: Option<&AddressGuard>,
) -> Result<(), PostError> {
    let target = split_url(url).ok_or_else(|| PostError::BadUrl(url.to_string()))?;
    let attempt = async {
        let tcp = tokio::time::timeout(options.connect_timeout, connect(&target, guard))
            .await
            .map_err(|_| PostError::ConnectTimeout)??;
        if target.tls {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|_| PostError::BadUrl(url.to_string()))?;
            let stream = tokio_rustls::TlsConnector::from(options.tls.clone())
                .connect(name, tcp)
                .await?;
            send(stream, &target, headers, body).await
        } else {
            send(tcp, &target, headers, body).await
        }
    };
    tokio::time::timeout(options.timeout, attempt)
        .await
        .map_err(|_| PostError::Timeout)?
}

/// Resolves the target, keeps the addresses the guard allows and connects
/// to the first that answers.
pub async fn connect(
    target: &Target,
    guard: Option<&AddressGuard>,
) -> Result<TcpStream, PostError> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host(&target.authority).await?.collect();
    let mut refusal = None;
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(
            |addr| match guard.map(|g| g.check(&target.host, addr.ip())) {
                Some(Err(why)) => {
                    refusal = Some(why);
                    false
                }
                _ => true,
            },
        )
        .collect();
    let mut last = match refusal {
        Some(why) => PostError::Refused(why),
        None => PostError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} resolved to no address", target.host),
        )),
    };
    for addr in allowed {
        match TcpStream::connect(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = PostError::Io(e),
        }
    }
    Err(last)
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    target: &Target,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<(), PostError> {
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: wasp\r\n",
        target.path,
        target.authority,
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    // The status line fits in the first read of any sane server.
    let mut buf = [0u8; 256];
    let mut len = 0;
    while len < buf.len() {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    let line = std::str::from_utf8(&buf[..len]).map_err(|_| PostError::BadResponse)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(PostError::BadResponse)?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(PostError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        let t = split_url("http://127.0.0.1:9/hook?a=1").unwrap();
        assert_eq!(
            (
                t.tls,
                t.host.as_str(),
                t.authority.as_str(),
                t.path.as_str()
            ),
            (false, "127.0.0.1", "127.0.0.1:9", "/hook?a=1")
        );
        let t = split_url("http://example.com").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("example.com:80", "/")
        );
        let t = split_url("https://example.com/h").unwrap();
        assert_eq!((t.tls, t.authority.as_str()), (true, "example.com:443"));
        assert_eq!(split_url("ftp://example.com/"), None);
        assert_eq!(split_url("http://example.com:x/"), None);
        assert_eq!(split_url("http:///x"), None);
        assert_eq!(split_url("http://a b/"), None);
    }
}
