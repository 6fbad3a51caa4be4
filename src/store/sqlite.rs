//! The SQLite implementation of the host's records, the single-node
//! default: one file, `DATA/wasp.db`, in WAL mode with full sync, so a
//! crash loses no committed row.

use std::path::Path;
use std::sync::Mutex;

use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::error::StoreError;
use super::modes::create_private_file;
use super::records::{SessionRecords, SessionRow};

/// How long a statement waits for another connection's write to finish
/// (the host's records and its webhook outbox share one file) before
/// failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating it private, 0600, if new) a SQLite database in WAL
/// mode with `synchronous=FULL`, so a crash loses no committed row: the
/// settings every connection to `DATA/wasp.db` needs.
pub fn open_database(path: &Path) -> Result<Connection, StoreError> {
    // Created private before SQLite opens it: it holds webhook secrets,
    // and SQLite gives its -wal and -shm files the database file's mode.
    create_private_file(path)?;
    let db = Connection::open(path)?;
    db.busy_timeout(BUSY_TIMEOUT)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    Ok(db)
}

/// The records table. A std mutex: every call is a short local write,
/// never held across an await.
pub struct SqliteRecords {
    db: Mutex<Connection>,
}

impl SqliteRecords {
    pub fn open(path: &Path) -> Result<SqliteRecords, StoreError> {
        let db = open_database(path)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS sessions (
                id TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL,
                webhook_url TEXT,
                webhook_secret TEXT
            );",
        )?;
        Ok(SqliteRecords { db: Mutex::new(db) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (each statement is atomic), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionRecords for SqliteRecords {
    fn insert(&self, record: &SessionRow) -> Result<bool, StoreError> {
        let db = self.lock();
        let changed = db.execute(
            "INSERT OR IGNORE INTO sessions (id, created_at, webhook_url, webhook_secret)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                record.id,
                record.created_at as i64,
                record.webhook_url,
                record.webhook_secret
            ],
        )?;
        Ok(changed == 1)
    }

    fn get(&self, id: &str) -> Result<Option<SessionRow>, StoreError> {
        let db = self.lock();
        let record = db
            .query_row(
                "SELECT id, created_at, webhook_url, webhook_secret FROM sessions WHERE id = ?1",
                params![id],
                row_to_record,
            )
            .optional()?;
        Ok(record)
    }

    fn all(&self) -> Result<Vec<SessionRow>, StoreError> {
        let db = self.lock();
        let mut stmt = db.prepare(
            "SELECT id, created_at, webhook_url, webhook_secret FROM sessions ORDER BY id",
        )?;
        let rows = stmt.query_map([], row_to_record)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.lock()
            .execute("DELETE FROM sessions WHERE id = ?1", params![id])?;
        Ok(())
    }
}

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: row.get(0)?,
        created_at: row.get::<_, i64>(1)?.max(0) as u64,
        webhook_url: row.get(2)?,
        webhook_secret: row.get(3)?,
    })
}
