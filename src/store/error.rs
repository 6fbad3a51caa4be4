//! What can go wrong in the store.

use std::path::PathBuf;

/// What can go wrong with session storage. Every I/O error names the path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid session id {0:?}: use 1-64 of [A-Za-z0-9_-]")]
    InvalidSessionId(String),
    #[error("invalid file name {0:?}: use 1-128 of [A-Za-z0-9_.-], not starting with '.'")]
    InvalidFileName(String),
    #[error("disk full while writing {path}")]
    DiskFull { path: PathBuf },
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(super) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if is_disk_full(&source) {
            StoreError::DiskFull { path }
        } else {
            StoreError::Io { path, source }
        }
    }
}

fn is_disk_full(e: &std::io::Error) -> bool {
    // ENOSPC (28) and EDQUOT (122 on Linux) both mean "no room left".
    e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28) | Some(122))
}
