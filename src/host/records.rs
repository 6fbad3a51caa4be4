//! The host's own records: which sessions exist and what the host knows
//! about them beyond their auth state. One SQLite file, `DATA/wasp.db`,
//! in WAL mode so a crash loses no committed row.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::HostError;

/// One stored session as the host remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    /// Seconds since the epoch.
    pub created_at: u64,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
}

/// The records table. A std mutex: every call is a short local write,
/// never held across an await.
pub struct Records {
    db: Mutex<Connection>,
}

impl Records {
    pub fn open(path: &Path) -> Result<Records, HostError> {
        let db = super::db::open(path)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS sessions (
                id TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL,
                webhook_url TEXT,
                webhook_secret TEXT
            );",
        )?;
        Ok(Records { db: Mutex::new(db) })
    }

    /// Inserts a new record; false if the id is taken.
    pub fn insert(&self, record: &SessionRecord) -> Result<bool, HostError> {
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

    pub fn get(&self, id: &str) -> Result<Option<SessionRecord>, HostError> {
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

    /// Every record, ordered by id.
    pub fn all(&self) -> Result<Vec<SessionRecord>, HostError> {
        let db = self.lock();
        let mut stmt = db.prepare(
            "SELECT id, created_at, webhook_url, webhook_secret FROM sessions ORDER BY id",
        )?;
        let rows = stmt.query_map([], row_to_record)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn remove(&self, id: &str) -> Result<(), HostError> {
        self.lock()
            .execute("DELETE FROM sessions WHERE id = ?1", params![id])?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (each statement is atomic), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.get(0)?,
        created_at: row.get::<_, i64>(1)?.max(0) as u64,
        webhook_url: row.get(2)?,
        webhook_secret: row.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_ids_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wasp.db");
        let record = SessionRecord {
            id: "alice".into(),
            created_at: 7,
            webhook_url: Some("http://127.0.0.1:1/hook".into()),
            webhook_secret: None,
        };
        {
            let records = Records::open(&path).unwrap();
            assert!(records.insert(&record).unwrap());
            assert!(!records.insert(&record).unwrap(), "duplicate id accepted");
        }
        let records = Records::open(&path).unwrap();
        assert_eq!(records.get("alice").unwrap(), Some(record));
        records.remove("alice").unwrap();
        assert_eq!(records.all().unwrap(), vec![]);
    }
}
