//! Webhooks with a durable outbox.
//!
//! Every event that has a destination (the session's webhook, the global
//! one, or both) becomes a row of the `outbox` table in `DATA/wasp.db`
//! before any delivery is tried, so a restart re-sends what was pending.
//! A writer thread takes events from the fan-out (session tasks never wait
//! on SQLite) and commits them in batches; a delivery task POSTs due rows,
//! signed with HMAC-SHA256 of the body, and retries failures with
//! exponential backoff.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection};
use tokio::sync::{mpsc, oneshot, Notify};

use super::fanout::{now, HostEvent};
use super::http_post;
use super::HostError;

/// Where one kind of event goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: String,
    /// Signs each body (`X-Wasp-Signature: sha256=<hex>`) when set.
    pub secret: Option<String>,
}

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Receives every event of every session and the host's own.
    pub global: Option<WebhookTarget>,
    /// First retry delay; doubled per failed attempt up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// After this many failed attempts a delivery is given up (kept in
    /// the table with `dead = 1` for inspection).
    pub max_attempts: u32,
    /// Certificate authorities trusted for https webhooks besides the
    /// Mozilla roots (DER).
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl WebhookConfig {
    /// Adds every certificate of a PEM file's contents as a trusted CA.
    pub fn trust_pem(&mut self, pem: &[u8]) -> Result<usize, String> {
        use rustls::pki_types::pem::PemObject;
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("unreadable PEM: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in the PEM data".into());
        }
        let n = certs.len();
        self.extra_roots.extend(certs);
        Ok(n)
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            global: None,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(600),
            max_attempts: 20,
            extra_roots: Vec::new(),
        }
    }
}

/// What the fan-out hands the writer thread.
pub enum OutboxMsg {
    Event(Box<HostEvent>),
    /// Answered once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
}

/// Rows delivered per round of the delivery task.
const DELIVERY_BATCH: usize = 32;
/// Events committed per transaction at most.
const WRITE_BATCH: usize = 256;

pub struct Webhooks {
    /// Deliveries answered 2xx, and attempts that failed, since start.
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    db: Mutex<Connection>,
    targets: Mutex<HashMap<String, WebhookTarget>>,
    config: WebhookConfig,
    /// Built once: TLS settings for https endpoints.
    tls: Arc<rustls::ClientConfig>,
    wake: Arc<Notify>,
}

impl Webhooks {
    pub fn open(path: &Path, config: WebhookConfig) -> Result<Arc<Webhooks>, HostError> {
        let db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.busy_timeout(Duration::from_secs(5))?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                url TEXT NOT NULL,
                secret TEXT,
                event TEXT NOT NULL,
                body TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_at INTEGER NOT NULL DEFAULT 0,
                dead INTEGER NOT NULL DEFAULT 0,
                last_error TEXT
            );",
        )?;
        Ok(Arc::new(Webhooks {
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            db: Mutex::new(db),
            targets: Mutex::new(HashMap::new()),
            tls: http_post::tls_config(&config.extra_roots),
            config,
            wake: Arc::new(Notify::new()),
        }))
    }

    /// Sets (or clears) the webhook of one session.
    pub fn set_target(&self, session: &str, target: Option<WebhookTarget>) {
        let mut targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        match target {
            Some(t) => targets.insert(session.to_string(), t),
            None => targets.remove(session),
        };
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

    /// Starts the writer thread (fed by the returned sender) and the
    /// delivery task (which first picks up rows left by an earlier run).
    pub fn start(self: &Arc<Self>) -> mpsc::UnboundedSender<OutboxMsg> {
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = self.clone();
        std::thread::Builder::new()
            .name("wasp-outbox".into())
            .spawn(move || writer.write_loop(rx))
            .map_err(|e| tracing::error!(error = %e, "cannot start the outbox writer"))
            .ok();
        let delivery = Arc::downgrade(self);
        let wake = self.wake.clone();
        tokio::spawn(async move {
            loop {
                let woken = wake.notified();
                tokio::pin!(woken);
                // Register before delivering, so a row stored meanwhile
                // wakes the next round.
                woken.as_mut().enable();
                let Some(hooks) = delivery.upgrade() else {
                    break;
                };
                let wait = hooks.deliver_due().await;
                drop(hooks);
                // Sleep until the next row is due or a new one arrives.
                let _ = tokio::time::timeout(wait, woken).await;
            }
        });
        tx
    }

    fn write_loop(&self, mut rx: mpsc::UnboundedReceiver<OutboxMsg>) {
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
            if let Err(e) = self.store(&events) {
                // The disk refused (full?): the events stay visible on SSE;
                // say loudly that these webhooks are lost.
                tracing::error!(error = %e, count = events.len(), "webhook outbox write failed");
            }
            self.wake.notify_one();
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    fn store(&self, events: &[HostEvent]) -> Result<(), HostError> {
        let mut rows = Vec::new();
        {
            let targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
            for event in events {
                let own = event.session.as_deref().and_then(|s| targets.get(s));
                let mut destinations = own
                    .into_iter()
                    .chain(self.config.global.as_ref())
                    .peekable();
                if destinations.peek().is_none() {
                    continue;
                }
                let Some((kind, body)) = event.encode() else {
                    continue;
                };
                for target in destinations {
                    rows.push((target.clone(), kind.clone(), body.clone()));
                }
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let mut db = self.lock();
        let tx = db.transaction()?;
        for (target, kind, body) in rows {
            tx.execute(
                "INSERT INTO outbox (url, secret, event, body) VALUES (?1, ?2, ?3, ?4)",
                params![target.url, target.secret, kind, body],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Delivers every due row; returns how long to wait for the next one.
    async fn deliver_due(&self) -> Duration {
        let due = match self.due_rows() {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "reading the webhook outbox failed");
                return Duration::from_secs(5);
            }
        };
        let more = due.len() == DELIVERY_BATCH;
        for row in due {
            let mut headers = vec![
                ("X-Wasp-Event", row.event.clone()),
                ("X-Wasp-Delivery", row.id.to_string()),
            ];
            if let Some(secret) = &row.secret {
                let mac = crate::crypto::hmac_sha256(secret.as_bytes(), &[row.body.as_bytes()]);
                headers.push(("X-Wasp-Signature", format!("sha256={}", hex::encode(mac))));
            }
            let result = http_post::post(&row.url, &headers, row.body.as_bytes(), &self.tls).await;
            if let Err(e) = self.record_attempt(&row, result.as_ref().err()) {
                tracing::error!(error = %e, "updating the webhook outbox failed");
            }
            let counter = if result.is_ok() {
                &self.delivered
            } else {
                &self.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = result {
                tracing::warn!(url = %row.url, attempt = row.attempts + 1, error = %e, "webhook delivery failed");
            }
        }
        if more {
            return Duration::ZERO;
        }
        self.next_due_in().unwrap_or(Duration::from_secs(60))
    }

    fn due_rows(&self) -> Result<Vec<Row>, HostError> {
        let db = self.lock();
        let mut stmt = db.prepare(
            "SELECT id, url, secret, event, body, attempts FROM outbox
             WHERE dead = 0 AND next_at <= ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now() as i64, DELIVERY_BATCH as i64], |r| {
            Ok(Row {
                id: r.get(0)?,
                url: r.get(1)?,
                secret: r.get(2)?,
                event: r.get(3)?,
                body: r.get(4)?,
                attempts: r.get::<_, i64>(5)?.max(0) as u32,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn record_attempt(
        &self,
        row: &Row,
        error: Option<&http_post::PostError>,
    ) -> Result<(), HostError> {
        let db = self.lock();
        match error {
            None => {
                db.execute("DELETE FROM outbox WHERE id = ?1", params![row.id])?;
            }
            Some(e) => {
                let attempts = row.attempts + 1;
                let dead = attempts >= self.config.max_attempts;
                let next_at = now() + self.backoff(attempts).as_secs().max(1);
                db.execute(
                    "UPDATE outbox SET attempts = ?2, next_at = ?3, dead = ?4, last_error = ?5 WHERE id = ?1",
                    params![row.id, attempts as i64, next_at as i64, dead as i64, e.to_string()],
                )?;
                if dead {
                    tracing::error!(url = %row.url, attempts, "webhook delivery given up");
                }
            }
        }
        Ok(())
    }

    fn next_due_in(&self) -> Option<Duration> {
        let next: Option<i64> = self
            .lock()
            .query_row("SELECT MIN(next_at) FROM outbox WHERE dead = 0", [], |r| {
                r.get(0)
            })
            .ok()?;
        let next = next?.max(0) as u64;
        Some(Duration::from_secs(next.saturating_sub(now())))
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.config
            .retry_base
            .saturating_mul(factor)
            .min(self.config.retry_max)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Row {
    id: i64,
    url: String,
    secret: Option<String>,
    event: String,
    body: String,
    attempts: u32,
}
