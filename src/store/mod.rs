//! Per-session persistent state on disk.
//!
//! Owns: one directory per session under a data root, and crash-safe
//! atomic writes of the files in it (write to a temporary file, flush,
//! rename, flush; flushes are group commits shared by concurrent writers,
//! `group_sync`), and two-slot files rewritten in place for state that
//! changes with every message (`slots`). Must not touch: the meaning of those files; callers hand
//! it bytes.

mod dir;
mod group_sync;
mod modes;
mod slots;

pub use dir::{DataDir, SessionDir};
pub use modes::create_private_file;
use modes::{private_dir, private_file};

use std::path::PathBuf;

/// Temporary files are `<name>.tmp-<random hex>`; anything with this
/// marker in a session directory is a leftover of an interrupted write.
const TMP_MARKER: &str = ".tmp-";

/// What can go wrong with session storage. Every I/O error names the path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid session id {0:?}: use 1-64 of [A-Za-z0-9_-]")]
    InvalidSessionId(String),
    #[error("invalid file name {0:?}: use 1-128 of [A-Za-z0-9_.-], not starting with '.'")]
    InvalidFileName(String),
    #[error("disk full while writing {path}")]
    DiskFull { path: PathBuf },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
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

/// Session ids name directories, so they are restricted to a safe set.
pub fn valid_session_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_file_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && !name.contains(TMP_MARKER)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}
