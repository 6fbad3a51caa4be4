//! Uploading a file: encrypt it as it is read into a spool file (its
//! encrypted hash names the upload, so it must be known before the first
//! byte goes out), then post the spool file to a media host (whatsmeow
//! `upload.go`: `POST https://{host}/mms/{type}/{token}?auth=…&token=…`
//! answered `{"url", "direct_path"}`).

use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_URL_SAFE};
use futures_util::TryStreamExt as _;
use http_body_util::{BodyExt as _, Limited, StreamBody};
use hyper::body::Frame;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN};
use hyper::Request;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::io::ReaderStream;

use super::http::{self, url_escape};
use super::spool::Spool;
use super::types::UploadedMedia;
use crate::client::{Client, ClientError};
use crate::media::{Encryptor, MediaKind};

/// Read and write in pieces of this size.
const CHUNK: usize = 64 * 1024;

/// The slowest an upload may be, on average, before it fails.
const MIN_BYTES_PER_SEC: u64 = 64 * 1024;

#[derive(serde::Deserialize)]
struct UploadAnswer {
    url: String,
    direct_path: String,
}

fn failed(what: impl std::fmt::Display) -> ClientError {
    ClientError::MediaTransfer(what.to_string())
}

impl Client {
    /// Encrypts what `reader` gives as a file of kind `kind` and uploads
    /// it. Errors: `MediaTooLarge` past `ClientConfig::max_media_bytes`,
    /// `MediaTransfer` when no media host took it, `NotConnected`.
    pub async fn upload_media<R: AsyncRead + Unpin>(
        &self,
        kind: MediaKind,
        mut reader: R,
    ) -> Result<UploadedMedia, ClientError> {
        let max = self.config.max_media_bytes;
        let stall = self.config.media_stall_timeout;
        let (spool, mut file) = Spool::create(&self.config.media_dir).await?;
        let mut encryptor = Encryptor::new(kind);
        let mut buf = vec![0u8; CHUNK];
        let mut out = Vec::with_capacity(CHUNK + 16);
        let mut length = 0u64;
        loop {
            let n = tokio::time::timeout(stall, reader.read(&mut buf))
                .await
                .map_err(|_| failed("the file stopped arriving"))?
                .map_err(|e| failed(format!("reading the file: {e}")))?;
            if n == 0 {
                break;
            }
            length += n as u64;
            if length > max {
                return Err(ClientError::MediaTooLarge(max));
            }
            out.clear();
            encryptor.update(&buf[..n], &mut out);
            write(&mut file, &out).await?;
        }
        out.clear();
        let info = encryptor.finish(&mut out);
        write(&mut file, &out).await?;
        file.flush()
            .await
            .map_err(|e| failed(format!("spool file: {e}")))?;
        drop(file);
        let encrypted_len = crate::media::encrypted_len(length);

        let conn = self.media_conn().await?;
        let token = BASE64_URL_SAFE.encode(info.file_enc_sha256);
        let path = format!(
            "/mms/{}/{token}?auth={}&token={token}",
            kind.mms_segment(),
            url_escape(&conn.auth)
        );
        let deadline = stall + Duration::from_secs(encrypted_len / MIN_BYTES_PER_SEC);
        let mut last = failed("no media host");
        for host in &conn.hosts {
            let attempt = self.post(host, &path, &spool, encrypted_len);
            match tokio::time::timeout(deadline, attempt).await {
                Ok(Ok(answer)) => {
                    return Ok(UploadedMedia {
                        kind,
                        url: answer.url,
                        direct_path: answer.direct_path,
                        media_key: info.media_key,
                        file_sha256: info.file_sha256,
                        file_enc_sha256: info.file_enc_sha256,
                        file_length: info.file_length,
                    })
                }
                Ok(Err(e)) => last = e,
                Err(_) => last = failed(format!("uploading to {host} timed out")),
            }
            tracing::info!(%host, error = %last, "media upload failed; trying the next host");
        }
        Err(last)
    }

    /// Posts the spool file to `host`.
    async fn post(
        &self,
        host: &str,
        path: &str,
        spool: &Spool,
        len: u64,
    ) -> Result<UploadAnswer, ClientError> {
        let file = spool.open().await?;
        let stream = ReaderStream::with_capacity(file, CHUNK).map_ok(Frame::data);
        let body = StreamBody::new(stream).boxed();
        let request = Request::post(path)
            .header(HOST, host)
            .header(ORIGIN, "https://web.whatsapp.com")
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, len)
            .body(body)
            .map_err(failed)?;
        let tls = self.media_tls();
        let response = http::send(host, tls, self.config.connect_timeout, request).await?;
        let status = response.status();
        // The answer is a small JSON object.
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| failed(format!("reading {host}'s answer: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(failed(format!(
                "{host} refused the upload: {status} {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )));
        }
        serde_json::from_slice(&body).map_err(|e| failed(format!("{host}'s answer: {e}")))
    }
}

async fn write(file: &mut tokio::fs::File, bytes: &[u8]) -> Result<(), ClientError> {
    file.write_all(bytes)
        .await
        .map_err(|e| failed(format!("writing the spool file: {e}")))
}
