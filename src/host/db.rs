//! Opening the host's SQLite database (`DATA/wasp.db`): one place for the
//! settings every connection to it needs.
//! Must not touch: tables (each owner creates its own: `records`,
//! `outbox`).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::HostError;

/// How long a statement waits for another connection's write to finish
/// (the records and the outbox write the same file) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection (the file created 0600 if new) in WAL mode with `synchronous=FULL`, so a crash loses no
/// committed row.
pub fn open(path: &Path) -> Result<Connection, HostError> {
    // Created private before SQLite opens it: it holds webhook secrets,
    // and SQLite gives its -wal and -shm files the database file's mode.
    crate::store::create_private_file(path)?;
    let db = Connection::open(path)?;
    db.busy_timeout(BUSY_TIMEOUT)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    Ok(db)
}
