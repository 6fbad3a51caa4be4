//! The SQLite webhook outbox (`store::WebhookOutbox`), the single-node
//! default: the `outbox` table in `DATA/wasp.db`. One process delivers
//! from it, so a claim needs no hold: the host's delivery serves each
//! endpoint with one worker at a time.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::error::StoreError;
use super::outbox::{Backlog, Delivery, Head, NewDelivery, WebhookOutbox};
use super::sqlite::open_database;

/// The table as the first release created it; later columns are added
/// by [`SqliteOutbox::open`].
const FIRST_TABLE: &str = "CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    secret TEXT,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL DEFAULT 0,
    dead INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);";

/// The outbox table. A std mutex: every call is a short local statement,
/// never held across an await.
pub struct SqliteOutbox {
    db: Mutex<Connection>,
}

impl SqliteOutbox {
    pub fn open(path: &Path) -> Result<SqliteOutbox, StoreError> {
        let db = open_database(path)?;
        db.execute_batch(FIRST_TABLE)?;
        // Added after the first release: which session's own webhook a
        // row goes to (rows of older versions have none).
        let has_owner: bool = db
            .prepare("SELECT 1 FROM pragma_table_info('outbox') WHERE name = 'owner'")?
            .exists([])?;
        if !has_owner {
            db.execute_batch("ALTER TABLE outbox ADD COLUMN owner TEXT;")?;
        }
        db.execute_batch(
            "CREATE INDEX IF NOT EXISTS outbox_endpoint ON outbox (url, dead, id);
             CREATE INDEX IF NOT EXISTS outbox_owner ON outbox (owner);",
        )?;
        Ok(SqliteOutbox { db: Mutex::new(db) })
    }

    /// Moves every pending row into `other` (a node started with
    /// `--postgres` over a data directory that had an outbox), oldest
    /// first, then deletes them here; how many moved. Their failed
    /// attempts start again from zero there.
    pub fn move_pending_into(&self, other: &dyn WebhookOutbox) -> Result<usize, StoreError> {
        let db = self.lock();
        let rows = {
            let mut stmt = db.prepare(
                "SELECT url, secret, event, body, owner FROM outbox WHERE dead = 0 ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(NewDelivery {
                    url: r.get(0)?,
                    secret: r.get(1)?,
                    event: r.get(2)?,
                    body: r.get(3)?,
                    owner: r.get(4)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        if rows.is_empty() {
            return Ok(0);
        }
        other.insert(&rows)?;
        db.execute("DELETE FROM outbox WHERE dead = 0", [])?;
        Ok(rows.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // Each statement is atomic: a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl WebhookOutbox for SqliteOutbox {
    fn insert(&self, rows: &[NewDelivery]) -> Result<(), StoreError> {
        let mut db = self.lock();
        let tx = db.transaction()?;
        for row in rows {
            tx.execute(
                "INSERT INTO outbox (url, secret, event, body, owner) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.url, row.secret, row.event, row.body, row.owner],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn pending(&self) -> Result<u64, StoreError> {
        let n: i64 =
            self.lock()
                .query_row("SELECT COUNT(*) FROM outbox WHERE dead = 0", [], |r| {
                    r.get(0)
                })?;
        Ok(n.max(0) as u64)
    }

    fn backlog(&self, owner: &str) -> Result<Backlog, StoreError> {
        let db = self.lock();
        let pending: i64 = db.query_row(
            "SELECT COUNT(*) FROM outbox WHERE dead = 0 AND owner = ?1",
            params![owner],
            |r| r.get(0),
        )?;
        let last_error: Option<String> = db
            .query_row(
                "SELECT last_error FROM outbox WHERE dead = 0 AND owner = ?1 ORDER BY id LIMIT 1",
                params![owner],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(Backlog {
            pending: pending.max(0) as u64,
            last_error,
        })
    }

    fn endpoints(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let db = self.lock();
        let mut stmt = db.prepare(
            "SELECT url, next_at FROM outbox WHERE id IN
               (SELECT MIN(id) FROM outbox WHERE dead = 0 GROUP BY url)",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn claim_head(&self, url: &str, now: u64, _hold: Duration) -> Result<Head, StoreError> {
        let db = self.lock();
        let head = db
            .query_row(
                "SELECT id, url, secret, event, body, attempts, owner, next_at FROM outbox
                 WHERE url = ?1 AND dead = 0 ORDER BY id LIMIT 1",
                params![url],
                |r| {
                    let row = Delivery {
                        id: r.get(0)?,
                        url: r.get(1)?,
                        secret: r.get(2)?,
                        event: r.get(3)?,
                        body: r.get(4)?,
                        attempts: r.get::<_, i64>(5)?.max(0) as u32,
                        owner: r.get(6)?,
                    };
                    Ok((row, r.get::<_, i64>(7)?.max(0) as u64))
                },
            )
            .optional()?;
        Ok(match head {
            None => Head::Empty,
            Some((_, next_at)) if next_at > now => Head::Wait(Duration::from_secs(next_at - now)),
            Some((row, _)) => Head::Claimed(Box::new(row)),
        })
    }

    fn delivered(&self, id: i64) -> Result<(), StoreError> {
        self.lock()
            .execute("DELETE FROM outbox WHERE id = ?1", params![id])?;
        Ok(())
    }

    fn failed(
        &self,
        id: i64,
        attempts: u32,
        next_at: u64,
        dead: bool,
        error: &str,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE outbox SET attempts = ?2, next_at = ?3, dead = ?4, last_error = ?5 WHERE id = ?1",
            params![id, attempts as i64, next_at as i64, dead as i64, error],
        )?;
        Ok(())
    }

    fn drop_owner(&self, owner: &str) -> Result<usize, StoreError> {
        let n = self
            .lock()
            .execute("DELETE FROM outbox WHERE owner = ?1", params![owner])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_an_earlier_version_stay_pending_after_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wasp.db");
        // The table as the first release created it, with one pending row.
        let db = Connection::open(&path).unwrap();
        db.execute_batch(FIRST_TABLE).unwrap();
        db.execute(
            "INSERT INTO outbox (url, event, body, next_at) VALUES ('http://h/x', 'qr', '{}', 7)",
            [],
        )
        .unwrap();
        drop(db);
        let outbox = SqliteOutbox::open(&path).unwrap();
        assert_eq!(outbox.pending().unwrap(), 1);
        assert_eq!(
            outbox.endpoints().unwrap(),
            vec![("http://h/x".to_string(), 7)]
        );
        let hold = Duration::from_secs(30);
        assert_eq!(
            outbox.claim_head("http://h/x", 5, hold).unwrap(),
            Head::Wait(Duration::from_secs(2))
        );
        let Head::Claimed(row) = outbox.claim_head("http://h/x", 7, hold).unwrap() else {
            panic!("the row is due at 7");
        };
        assert_eq!((row.event.as_str(), row.owner), ("qr", None));
        // Opening again finds the column in place.
        drop(outbox);
        let outbox = SqliteOutbox::open(&path).unwrap();
        outbox.failed(row.id, 1, 9, false, "answered 500").unwrap();
        assert_eq!(outbox.drop_owner("someone").unwrap(), 0);
        assert_eq!(outbox.pending().unwrap(), 1);
        outbox.delivered(row.id).unwrap();
        assert_eq!(outbox.pending().unwrap(), 0);
        assert_eq!(
            outbox.claim_head("http://h/x", 9, hold).unwrap(),
            Head::Empty
        );
    }
}
