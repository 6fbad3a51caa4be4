//! A GET over plain HTTP/1.1 to a running `wasp serve`, for the commands
//! that talk to one (`healthcheck`, `qr`): hyper's client, one connection
//! per request, a deadline on the whole exchange and a cap on the body.

use std::time::Duration;

use anyhow::{bail, Context as _};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Largest answer read (a QR code's JSON is a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// GETs `url` (`http://host:port/path?query`), with `Authorization:
/// Bearer <key>` when a key is given; the whole exchange within `limit`.
pub async fn get(url: &str, key: Option<&str>, limit: Duration) -> anyhow::Result<Reply> {
    tokio::time::timeout(limit, exchange(url, key))
        .await
        .with_context(|| format!("no answer from {url} within {limit:?}"))?
}

async fn exchange(url: &str, key: Option<&str>) -> anyhow::Result<Reply> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
    if uri.scheme_str() != Some("http") {
        bail!("only http:// URLs are supported here, got {url:?}");
    }
    let Some(authority) = uri.authority() else {
        bail!("no host in {url:?}");
    };
    let address = match authority.port_u16() {
        Some(_) => authority.to_string(),
        None => format!("{authority}:80"),
    };
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    // The connection is driven beside the request; it ends with it.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority.as_str())
        .header(hyper::header::CONNECTION, "close");
    if let Some(key) = key {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .context("building the request")?;
    let response = sender
        .send_request(request)
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the answer of {url}: {e}"))?
        .to_bytes()
        .to_vec();
    Ok(Reply { status, body })
}
