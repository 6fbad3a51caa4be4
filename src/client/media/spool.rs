//! A file that holds a transfer's encrypted bytes for a moment and is
//! removed when dropped, whatever happened.

use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::client::ClientError;

pub struct Spool {
    path: PathBuf,
}

impl Spool {
    /// A new empty file in `dir`, only for us.
    pub async fn create(dir: &Path) -> Result<(Spool, tokio::fs::File), ClientError> {
        let mut id = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut id);
        let path = dir.join(format!("wasp-media-{}.tmp", hex::encode(id)));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&path).await.map_err(|e| {
            ClientError::MediaTransfer(format!("cannot create {}: {e}", path.display()))
        })?;
        Ok((Spool { path }, file))
    }

    /// Opens it again to read.
    pub async fn open(&self) -> Result<tokio::fs::File, ClientError> {
        tokio::fs::File::open(&self.path)
            .await
            .map_err(|e| ClientError::MediaTransfer(format!("cannot reopen the spool file: {e}")))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "media spool file not removed");
        }
    }
}
