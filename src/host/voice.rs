//! Voice notes in any audio format: when the operator names an ffmpeg
//! (`--ffmpeg`), a voice note that is not OGG/Opus — or is, but from an
//! unknown encoder — is converted into what WhatsApp's apps record (mono
//! Opus in OGG at 48 kHz) and measured for its waveform, in one ffmpeg
//! run: the OGG goes to a spool file, decoded sound at 8 kHz to a pipe
//! that `media::Waveform` reads as it comes. Nothing of the file is
//! held in memory.
//!
//! ffmpeg reads only the caller's bytes (`-protocol_whitelist pipe`: a
//! file cannot make it open URLs or local paths) and is killed when the
//! request goes away.
//!
//! Owns: running ffmpeg and its spool file. Must not touch: the upload
//! and the message (the session's `Client::send_file`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

use crate::client::ClientError;
use crate::media::{Waveform, WAVEFORM_BARS};

/// The mimetype of what the conversion makes.
pub const OGG_OPUS: &str = "audio/ogg; codecs=opus";

/// Bytes moved per read, each way.
const CHUNK: usize = 64 * 1024;

/// ffmpeg's complaints kept for the error message.
const STDERR_KEPT: usize = 4 * 1024;

/// An ffmpeg the host may run.
#[derive(Clone, Debug)]
pub struct VoiceConverter {
    ffmpeg: PathBuf,
}

/// A converted voice note: the OGG/Opus file (removed from the spool
/// when this is dropped) and its waveform.
pub struct Converted {
    pub file: tokio::fs::File,
    pub waveform: Option<[u8; WAVEFORM_BARS]>,
    _spool: SpoolFile,
}

/// Removes the spool file when the send is over, however it ended.
struct SpoolFile(PathBuf);

impl Drop for SpoolFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl VoiceConverter {
    /// Checks that `ffmpeg` runs and can encode Opus, so a wrong path is
    /// a clear error at start rather than at the first voice note.
    pub fn new(ffmpeg: PathBuf) -> Result<VoiceConverter, String> {
        let out = std::process::Command::new(&ffmpeg)
            .args(["-hide_banner", "-encoders"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("ffmpeg at {} does not run: {e}", ffmpeg.display()))?;
        let encoders = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !encoders.contains("libopus") {
            return Err(format!(
                "ffmpeg at {} cannot encode Opus (libopus): voice notes could not be converted",
                ffmpeg.display()
            ));
        }
        Ok(VoiceConverter { ffmpeg })
    }

    /// Converts what `input` gives (at most `max_bytes`; no read may
    /// stall past `stall`) in `spool`. Errors: `InvalidMedia` when ffmpeg
    /// finds no audio it can read, `MediaTooLarge`, `MediaTransfer`.
    pub async fn convert<R: AsyncRead + Unpin>(
        &self,
        input: R,
        spool: &Path,
        max_bytes: u64,
        stall: Duration,
    ) -> Result<Converted, ClientError> {
        let failed = |what: String| ClientError::MediaTransfer(what);
        let path = spool.join(format!(
            "wasp-media-{}.tmp",
            hex::encode(rand::random::<[u8; 16]>())
        ));
        let guard = SpoolFile(path.clone());
        let mut child = Command::new(&self.ffmpeg)
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(["-protocol_whitelist", "pipe", "-i", "pipe:0"])
            // The note, as WhatsApp's apps record it.
            .args(["-map", "0:a:0", "-ac", "1", "-ar", "48000"])
            .args(["-c:a", "libopus", "-b:a", "32k", "-application", "voip"])
            .args(["-f", "ogg"])
            .arg(&path)
            // The sound, for the waveform.
            .args([
                "-map", "0:a:0", "-ac", "1", "-ar", "8000", "-f", "s16le", "pipe:1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(format!("running ffmpeg: {e}")))?;
        let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(failed("ffmpeg's pipes are missing".into()));
        };

        let feed = async move {
            let mut input = input;
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0u64;
            loop {
                let n = tokio::time::timeout(stall, input.read(&mut buf))
                    .await
                    .map_err(|_| failed("the file stopped arriving".into()))?
                    .map_err(|e| failed(format!("reading the file: {e}")))?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > max_bytes {
                    return Err(ClientError::MediaTooLarge(max_bytes));
                }
                // ffmpeg may stop reading early (a file it cannot read):
                // its exit status says why, not the broken pipe.
                if stdin.write_all(&buf[..n]).await.is_err() {
                    return Ok(());
                }
            }
            let _ = stdin.shutdown().await;
            Ok(())
        };
        let measure = async {
            let mut waveform = Waveform::new();
            let mut buf = vec![0u8; CHUNK];
            loop {
                match tokio::time::timeout(stall * 2, stdout.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => waveform.update(&buf[..n]),
                    Err(_) => return Err(failed("ffmpeg stopped converting".into())),
                }
            }
            Ok(waveform.bars())
        };
        let complaints = async {
            let mut kept = Vec::new();
            let mut buf = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let room = STDERR_KEPT.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buf[..room]);
            }
            kept
        };
        let (fed, waveform, complaints) = tokio::join!(feed, measure, complaints);
        fed?;
        let waveform = waveform?;
        let status = child
            .wait()
            .await
            .map_err(|e| failed(format!("waiting for ffmpeg: {e}")))?;
        if !status.success() {
            let why = String::from_utf8_lossy(&complaints);
            let why = why
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(ClientError::InvalidMedia(format!(
                "the voice note could not be converted to OGG/Opus: {}",
                why.trim()
            )));
        }
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| failed(format!("opening the converted voice note: {e}")))?;
        Ok(Converted {
            file,
            waveform,
            _spool: guard,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ffmpeg_that_does_not_run_or_lacks_opus_is_refused_at_start() {
        let missing = VoiceConverter::new("/nonexistent/ffmpeg".into()).expect_err("missing");
        assert!(missing.contains("does not run"), "{missing}");
        // Runs, says nothing of libopus.
        let not_ffmpeg = VoiceConverter::new("/bin/true".into()).expect_err("no opus");
        assert!(not_ffmpeg.contains("cannot encode Opus"), "{not_ffmpeg}");
    }
}
