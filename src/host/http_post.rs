//! A minimal HTTP/1.1 POST for webhook delivery over plain TCP: one
//! request per connection, only the status line of the answer is read.
//! Kept tiny on purpose; https endpoints are refused at registration.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a delivery failed (it is retried later).
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("bad webhook url {0:?}")]
    BadUrl(String),
    #[error("connecting: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("answered {0}")]
    Status(u16),
    #[error("unreadable answer")]
    BadResponse,
}

/// How long one delivery attempt may take in all.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The parts of an `http://host[:port]/path` URL.
pub fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains(['@', ' ']) || path.contains([' ', '\r', '\n']) {
        return None;
    }
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Some((authority, path.to_string()))
}

/// POSTs `body` as JSON with extra headers; Ok on a 2xx answer.
pub async fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<(), PostError> {
    let (authority, path) = split_url(url).ok_or_else(|| PostError::BadUrl(url.to_string()))?;
    tokio::time::timeout(ATTEMPT_TIMEOUT, send(&authority, &path, headers, body))
        .await
        .map_err(|_| PostError::Timeout)?
}

async fn send(
    authority: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<(), PostError> {
    let mut stream = TcpStream::connect(authority).await?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: wasp\r\n",
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
        assert_eq!(
            split_url("http://127.0.0.1:9/hook?a=1"),
            Some(("127.0.0.1:9".into(), "/hook?a=1".into()))
        );
        assert_eq!(
            split_url("http://example.com"),
            Some(("example.com:80".into(), "/".into()))
        );
        assert_eq!(split_url("https://example.com/"), None);
        assert_eq!(split_url("http:///x"), None);
        assert_eq!(split_url("http://a b/"), None);
    }
}
