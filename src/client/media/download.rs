//! Downloading a file a message points at: fetch it from a media host
//! into a spool file while checking its MAC and hash (nothing of it is
//! used before it is known intact), then decrypt it into the caller's
//! writer (whatsmeow `download.go`: `https://{host}{direct_path}&hash=…
//! &mms-type=…&__wa-mms=`; 404 and 410 mean the server dropped it).

use base64::prelude::{Engine as _, BASE64_URL_SAFE};
use http_body_util::{BodyExt as _, Empty};
use hyper::header::{HOST, ORIGIN};
use hyper::{Request, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::http::{self, url_escape};
use super::spool::Spool;
use super::types::MediaRef;
use crate::client::{Client, ClientError};
use crate::media::{encrypted_len, Decryptor, Verifier};

const CHUNK: usize = 64 * 1024;

fn failed(what: impl std::fmt::Display) -> ClientError {
    ClientError::MediaTransfer(what.to_string())
}

/// A direct path as a message may give it: an absolute path with an
/// optional query, nothing that could leave the media host.
fn checked_path(path: &str) -> Result<&str, ClientError> {
    let fine = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 2048
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
    if fine {
        Ok(path)
    } else {
        Err(ClientError::InvalidMedia(format!(
            "bad direct path {path:?}"
        )))
    }
}

impl Client {
    /// Fetches, checks and decrypts `media` into `writer`; returns the
    /// plaintext's length. Nothing is written unless the file's MAC (and
    /// encrypted hash) matched; a plaintext hash that does not match is
    /// found only at the end, after the plaintext was written (the MAC
    /// proves the file is the sender's, byte for byte). Errors:
    /// `MediaGone` (the hosts answered 404 or 410), `MediaDamaged`,
    /// `MediaTooLarge`, `MediaTransfer`, `InvalidMedia`, `NotConnected`.
    pub async fn download_media<W: AsyncWrite + Unpin>(
        &self,
        media: &MediaRef,
        writer: &mut W,
    ) -> Result<u64, ClientError> {
        let path = checked_path(&media.direct_path)?;
        let separator = if path.contains('?') { '&' } else { '?' };
        let hash = media
            .file_enc_sha256
            .map(|h| BASE64_URL_SAFE.encode(h))
            .unwrap_or_default();
        let url_path = format!(
            "{path}{separator}hash={}&mms-type={}&__wa-mms=",
            url_escape(&hash),
            media.kind.mms_segment()
        );
        let conn = self.media_conn().await?;
        let mut last = failed("no media host");
        for host in &conn.hosts {
            match self.fetch(host, &url_path, media).await {
                Ok(spool) => return self.decrypt_into(&spool, media, writer).await,
                Err(e @ (ClientError::MediaGone(_) | ClientError::MediaDamaged(_))) => {
                    return Err(e)
                }
                Err(ClientError::MediaTooLarge(max)) => {
                    return Err(ClientError::MediaTooLarge(max))
                }
                Err(e) => last = e,
            }
            tracing::info!(%host, error = %last, "media download failed; trying the next host");
        }
        Err(last)
    }

    /// Fetches the file from `host` into a spool file, checked.
    async fn fetch(&self, host: &str, path: &str, media: &MediaRef) -> Result<Spool, ClientError> {
        let stall = self.config.media_stall_timeout;
        let limit = encrypted_len(self.config.max_media_bytes);
        let request = Request::get(path)
            .header(HOST, host)
            .header(ORIGIN, "https://web.whatsapp.com")
            .body(Empty::new().map_err(|never| match never {}).boxed())
            .map_err(failed)?;
        let send = http::send(host, self.media_tls(), self.config.connect_timeout, request);
        let response = tokio::time::timeout(stall, send)
            .await
            .map_err(|_| failed(format!("{host} did not answer")))??;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                return Err(ClientError::MediaGone(format!(
                    "{host} answered {}",
                    response.status()
                )))
            }
            other => return Err(failed(format!("{host} answered {other}"))),
        }
        let (spool, mut file) = Spool::create(&self.config.media_dir).await?;
        let mut verifier = Verifier::new(&media.media_key, media.kind);
        let mut body = response.into_body();
        let mut received = 0u64;
        loop {
            let frame = tokio::time::timeout(stall, body.frame())
                .await
                .map_err(|_| failed(format!("{host} stopped sending")))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| failed(format!("reading from {host}: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            received += data.len() as u64;
            if received > limit {
                return Err(ClientError::MediaTooLarge(self.config.max_media_bytes));
            }
            verifier.update(&data);
            file.write_all(&data)
                .await
                .map_err(|e| failed(format!("writing the spool file: {e}")))?;
        }
        file.flush()
            .await
            .map_err(|e| failed(format!("writing the spool file: {e}")))?;
        verifier.finish(media.file_enc_sha256.as_ref().map(|h| h.as_slice()))?;
        Ok(spool)
    }

    /// Decrypts a checked spool file into `writer`.
    async fn decrypt_into<W: AsyncWrite + Unpin>(
        &self,
        spool: &Spool,
        media: &MediaRef,
        writer: &mut W,
    ) -> Result<u64, ClientError> {
        let mut file = spool.open().await?;
        let mut decryptor = Decryptor::new(&media.media_key, media.kind);
        let mut buf = vec![0u8; CHUNK];
        let mut out = Vec::with_capacity(CHUNK + 16);
        let mut written = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| failed(format!("reading the spool file: {e}")))?;
            if n == 0 {
                break;
            }
            out.clear();
            decryptor.update(&buf[..n], &mut out);
            written += out.len() as u64;
            writer
                .write_all(&out)
                .await
                .map_err(|e| failed(format!("writing the file: {e}")))?;
        }
        out.clear();
        decryptor.finish(&mut out, media.file_sha256.as_ref().map(|h| h.as_slice()))?;
        written += out.len() as u64;
        writer
            .write_all(&out)
            .await
            .map_err(|e| failed(format!("writing the file: {e}")))?;
        writer
            .flush()
            .await
            .map_err(|e| failed(format!("writing the file: {e}")))?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::checked_path;

    #[test]
    fn direct_paths_stay_on_the_media_host() {
        assert!(checked_path("/v/t62.7118-24/abc.enc?ccb=11-4&oh=x").is_ok());
        for bad in [
            "",
            "v/t62",
            "//evil.example/x",
            "/a b",
            "/a\r\nHost: x",
            "/a#frag",
        ] {
            assert!(checked_path(bad).is_err(), "{bad:?}");
        }
    }
}
