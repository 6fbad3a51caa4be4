//! What can go wrong in the store.

use std::path::PathBuf;

/// What can go wrong with session storage. Every I/O error names the path;
/// every failure to reach a database server names the service and where.
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
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A database URL that cannot be used (its text is not repeated: it
    /// may hold a password).
    #[error("invalid {service} URL: {reason}")]
    BadUrl {
        service: &'static str,
        reason: String,
    },
    /// A database server could not be reached (or did not answer in
    /// time); `at` is `user@host:port/database`, never a password.
    #[error("{service} at {at} is unreachable: {reason}")]
    Unavailable {
        service: &'static str,
        at: String,
        reason: String,
    },
    /// The write was refused, and nothing of it kept: a newer owner of the
    /// session claimed its state (a higher epoch) since this store was
    /// opened.
    #[error(
        "session {session} is fenced: a newer owner holds epoch {current} \
         (this store holds {held}); nothing was written"
    )]
    Fenced {
        session: String,
        held: i64,
        current: i64,
    },
    /// Another node of the cluster runs the session: this one may not
    /// claim it (it moves between nodes by adoption only).
    #[error("session {session} runs on node {node}")]
    Taken { session: String, node: String },
    /// The database was migrated by a newer wasp than this one.
    #[error("database schema is at version {found}, newer than this wasp knows ({known}): run a newer wasp")]
    SchemaTooNew { found: i64, known: i64 },
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
