//! Files sent by URL: the host fetches them with one GET, through the
//! same address guard and certificate roots as webhooks (a tenant must
//! not make the service reach its own internal network), following no
//! redirect, and hands the body on as a stream: the session encrypts it
//! into its spool file as it arrives, so no file is held in memory.
//!
//! Owns: that fetch. Must not touch: the upload (the session's
//! `Client::send_file`), the guard's rules (`webhook::address_guard`).

use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt as _;
use http_body_util::{BodyDataStream, Empty};
use hyper::header::{CONTENT_LENGTH, HOST, LOCATION};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;

use super::webhook::{connect, split_url, tls_config, AddressGuard, PostError};
use crate::client::media::exchange;
use crate::client::ClientError;

/// How a fetch may go.
pub struct FetchRules<'a> {
    pub guard: &'a AddressGuard,
    pub extra_roots: &'a [rustls::pki_types::CertificateDer<'static>],
    pub connect_timeout: Duration,
    /// The largest file taken (its `Content-Length` is checked first; the
    /// session checks what actually arrives).
    pub max_bytes: u64,
}

fn failed(what: impl std::fmt::Display) -> ClientError {
    ClientError::MediaTransfer(format!("fetching the file: {what}"))
}

/// A fetch under way: the body still to read, and the type the server
/// gave it.
pub struct Fetched {
    pub body: Box<dyn AsyncRead + Send + Unpin>,
    pub content_type: Option<String>,
}

/// Starts fetching `url`; the body, as a reader, once the answer's head
/// said 200.
pub async fn fetch(url: &str, rules: &FetchRules<'_>) -> Result<Fetched, ClientError> {
    let target = split_url(url)
        .ok_or_else(|| ClientError::InvalidMedia(format!("{url:?} is not an http(s) URL")))?;
    let tcp = tokio::time::timeout(rules.connect_timeout, connect(&target, Some(rules.guard)))
        .await
        .map_err(|_| failed(format!("connecting to {} timed out", target.host)))?
        .map_err(|e| match e {
            PostError::Refused(why) => {
                ClientError::InvalidMedia(format!("{url:?} is refused: {why}"))
            }
            other => failed(other),
        })?;
    let request = Request::get(target.path.as_str())
        .header(HOST, target.authority.as_str())
        .body(Empty::<Bytes>::new())
        .map_err(failed)?;
    let authority = target.authority.as_str();
    let answer = if target.tls {
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|_| ClientError::InvalidMedia(format!("{url:?}: bad TLS server name")))?;
        let tls = tokio::time::timeout(
            rules.connect_timeout,
            tokio_rustls::TlsConnector::from(tls_config(rules.extra_roots)).connect(name, tcp),
        )
        .await
        .map_err(|_| failed("TLS timed out"))?
        .map_err(failed)?;
        tokio::time::timeout(
            rules.connect_timeout,
            exchange(TokioIo::new(tls), authority, request),
        )
        .await
    } else {
        tokio::time::timeout(
            rules.connect_timeout,
            exchange(TokioIo::new(tcp), authority, request),
        )
        .await
    };
    let response = answer.map_err(|_| failed("no answer in time"))??;
    let status = response.status();
    if status.is_redirection() {
        let to = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        return Err(ClientError::InvalidMedia(format!(
            "{url:?} redirects (to {to:?}); redirects are not followed: give the final URL"
        )));
    }
    if !status.is_success() {
        return Err(failed(format!("{url:?} answered {status}")));
    }
    let announced = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > rules.max_bytes) {
        return Err(ClientError::MediaTooLarge(rules.max_bytes));
    }
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = BodyDataStream::new(response.into_body()).map_err(std::io::Error::other);
    Ok(Fetched {
        body: Box::new(StreamReader::new(body)),
        content_type,
    })
}
