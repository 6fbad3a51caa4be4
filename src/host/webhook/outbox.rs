//! The durable webhook outbox: the `outbox` table in `DATA/wasp.db` and
//! the writer thread that fills it.
//!
//! Every event that has a destination (its session's webhook, the global
//! one, or both) becomes one row per destination, committed before any
//! delivery is tried, so a restart re-sends what was pending. The writer
//! takes events from the fan-out (session tasks never wait on SQLite),
//! commits them in batches and then tells the delivery side which
//! endpoints got rows. The SQL the delivery side needs lives here too, as
//! small functions.
//! Must not touch: HTTP, the delivery schedule (that is `delivery`).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use crate::host::event::HostEvent;
use crate::host::HostError;

/// Where one kind of event goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: String,
    /// Signs each body (`X-Wasp-Signature: sha256=<hex>`) when set.
    pub secret: Option<String>,
}

/// What the fan-out hands the writer thread.
pub enum OutboxMsg {
    Event(Box<HostEvent>),
    /// Answered once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
}

/// The table as the first release created it; later columns are added
/// by [`Outbox::open`].
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

/// Events committed per transaction at most.
const WRITE_BATCH: usize = 256;

/// One delivery not made yet.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: i64,
    pub url: String,
    pub secret: Option<String>,
    pub event: String,
    pub body: String,
    pub attempts: u32,
    /// The session whose own webhook this row goes to; `None` for the
    /// global (operator's) webhook.
    pub owner: Option<String>,
}

/// What is pending for one session's own webhook.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    pub pending: u64,
    /// Why the last failed attempt of its oldest pending row failed.
    pub last_error: Option<String>,
}

pub struct Outbox {
    db: Mutex<Connection>,
    targets: Mutex<HashMap<String, WebhookTarget>>,
    /// Receives every event of every session and the host's own.
    global: Option<WebhookTarget>,
}

impl Outbox {
    pub fn open(path: &Path, global: Option<WebhookTarget>) -> Result<Outbox, HostError> {
        let db = crate::store::open_database(path)?;
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
        Ok(Outbox {
            db: Mutex::new(db),
            targets: Mutex::new(HashMap::new()),
            global,
        })
    }

    /// Sets (or clears) the webhook of one session.
    pub fn set_target(&self, session: &str, target: Option<WebhookTarget>) {
        let mut targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        match target {
            Some(t) => targets.insert(session.to_string(), t),
            None => targets.remove(session),
        };
    }

    /// Starts the writer thread, fed by the returned sender. After each
    /// commit it calls `committed` with the endpoints (URLs) that got rows.
    pub fn start_writer(
        self: &Arc<Self>,
        committed: impl Fn(BTreeSet<String>) + Send + 'static,
    ) -> mpsc::UnboundedSender<OutboxMsg> {
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = self.clone();
        std::thread::Builder::new()
            .name("wasp-outbox".into())
            .spawn(move || writer.write_loop(rx, committed))
            .map_err(|e| tracing::error!(error = %e, "cannot start the outbox writer"))
            .ok();
        tx
    }

    fn write_loop(
        &self,
        mut rx: mpsc::UnboundedReceiver<OutboxMsg>,
        committed: impl Fn(BTreeSet<String>),
    ) {
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(msg) => batch.push(msg),
                    Err(_) => break,
                }
            }
            let mut flushes = Vec::new();
            let events: Vec<HostEvent> = batch
                .into_iter()
                .filter_map(|m| match m {
                    OutboxMsg::Event(e) => Some(*e),
                    OutboxMsg::Flush(done) => {
                        flushes.push(done);
                        None
                    }
                })
                .collect();
            match self.store(&events) {
                Ok(urls) if !urls.is_empty() => committed(urls),
                Ok(_) => {}
                // The disk refused (full?): the events stay visible on SSE;
                // say loudly that these webhooks are lost.
                Err(e) => {
                    tracing::error!(error = %e, count = events.len(), "webhook outbox write failed")
                }
            }
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    /// Commits one row per destination of each event; returns the URLs
    /// that got rows.
    fn store(&self, events: &[HostEvent]) -> Result<BTreeSet<String>, HostError> {
        let mut rows = Vec::new();
        {
            let targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
            for event in events {
                let session = event.session.as_deref();
                let own = session.and_then(|s| targets.get(s).map(|t| (t, s)));
                let global = self.global.as_ref().map(|t| (t, None));
                let destinations: Vec<_> = own
                    .map(|(t, s)| (t, Some(s)))
                    .into_iter()
                    .chain(global)
                    .collect();
                if destinations.is_empty() {
                    continue;
                }
                let Some((kind, body)) = event.encode() else {
                    continue;
                };
                for (target, owner) in destinations {
                    rows.push((target.clone(), owner, kind.clone(), body.clone()));
                }
            }
        }
        let mut urls = BTreeSet::new();
        if rows.is_empty() {
            return Ok(urls);
        }
        let mut db = self.lock();
        let tx = db.transaction()?;
        for (target, owner, kind, body) in rows {
            tx.execute(
                "INSERT INTO outbox (url, secret, event, body, owner) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![target.url, target.secret, kind, body, owner],
            )?;
            urls.insert(target.url);
        }
        tx.commit()?;
        Ok(urls)
    }

    /// Rows not delivered yet (and not given up).
    pub fn pending(&self) -> Result<u64, HostError> {
        let n: i64 =
            self.lock()
                .query_row("SELECT COUNT(*) FROM outbox WHERE dead = 0", [], |r| {
                    r.get(0)
                })?;
        Ok(n.max(0) as u64)
    }

    /// What is pending for session `owner`'s own webhook.
    pub fn backlog(&self, owner: &str) -> Result<Backlog, HostError> {
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

    /// Every endpoint with pending rows, and when its oldest row is due
    /// (seconds since the epoch): what a restart picks up.
    pub fn endpoints(&self) -> Result<Vec<(String, u64)>, HostError> {
        let db = self.lock();
        let mut stmt = db.prepare(
            "SELECT url, next_at FROM outbox WHERE id IN
               (SELECT MIN(id) FROM outbox WHERE dead = 0 GROUP BY url)",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The oldest pending row of endpoint `url`: deliveries to one
    /// endpoint go in order.
    pub fn head(&self, url: &str) -> Result<Option<Row>, HostError> {
        let db = self.lock();
        let row = db
            .query_row(
                "SELECT id, url, secret, event, body, attempts, owner FROM outbox
                 WHERE url = ?1 AND dead = 0 ORDER BY id LIMIT 1",
                params![url],
                |r| {
                    Ok(Row {
                        id: r.get(0)?,
                        url: r.get(1)?,
                        secret: r.get(2)?,
                        event: r.get(3)?,
                        body: r.get(4)?,
                        attempts: r.get::<_, i64>(5)?.max(0) as u32,
                        owner: r.get(6)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// Row `id` was delivered: it goes.
    pub fn delivered(&self, id: i64) -> Result<(), HostError> {
        self.lock()
            .execute("DELETE FROM outbox WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// An attempt at row `id` failed: counts it and schedules the next one
    /// (or gives the row up, kept with `dead = 1` for inspection).
    pub fn failed(
        &self,
        id: i64,
        attempts: u32,
        next_at: u64,
        dead: bool,
        error: &str,
    ) -> Result<(), HostError> {
        self.lock().execute(
            "UPDATE outbox SET attempts = ?2, next_at = ?3, dead = ?4, last_error = ?5 WHERE id = ?1",
            params![id, attempts as i64, next_at as i64, dead as i64, error],
        )?;
        Ok(())
    }

    /// Deletes every row bound for session `owner`'s own webhook, given
    /// up or not; returns how many went.
    pub fn drop_owner(&self, owner: &str) -> Result<usize, HostError> {
        let n = self
            .lock()
            .execute("DELETE FROM outbox WHERE owner = ?1", params![owner])?;
        Ok(n)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // Each statement is atomic: a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
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
        let outbox = Outbox::open(&path, None).unwrap();
        assert_eq!(outbox.pending().unwrap(), 1);
        assert_eq!(
            outbox.endpoints().unwrap(),
            vec![("http://h/x".to_string(), 7)]
        );
        let row = outbox.head("http://h/x").unwrap().unwrap();
        assert_eq!((row.event.as_str(), row.owner), ("qr", None));
        // Opening again finds the column in place.
        drop(outbox);
        let outbox = Outbox::open(&path, None).unwrap();
        outbox.failed(row.id, 1, 9, false, "answered 500").unwrap();
        assert_eq!(outbox.drop_owner("someone").unwrap(), 0);
        assert_eq!(outbox.pending().unwrap(), 1);
        outbox.delivered(row.id).unwrap();
        assert_eq!(outbox.pending().unwrap(), 0);
    }
}
