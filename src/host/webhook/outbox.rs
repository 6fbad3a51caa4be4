//! Filling the durable webhook outbox (`store::WebhookOutbox`: SQLite in
//! `DATA/wasp.db` on one node, PostgreSQL with `--postgres`).
//!
//! Every event that has a destination (its session's webhook, the global
//! one, or both) becomes one row per destination, committed before any
//! delivery is tried, so a restart re-sends what was pending. The writer
//! thread takes events from the fan-out (session tasks never wait on the
//! store), commits them in batches and then tells the delivery side which
//! endpoints got rows.
//! Must not touch: HTTP, the delivery schedule (that is `delivery`), SQL
//! (that is the store's).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::host::event::HostEvent;
use crate::store::{NewDelivery, StoreError, WebhookOutbox};

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

/// Events committed per transaction at most.
const WRITE_BATCH: usize = 256;

pub struct Outbox {
    rows: Arc<dyn WebhookOutbox>,
    targets: Mutex<HashMap<String, WebhookTarget>>,
    /// Receives every event of every session and the host's own.
    global: Option<WebhookTarget>,
}

impl Outbox {
    pub fn new(rows: Arc<dyn WebhookOutbox>, global: Option<WebhookTarget>) -> Outbox {
        Outbox {
            rows,
            targets: Mutex::new(HashMap::new()),
            global,
        }
    }

    /// The rows, for the delivery side.
    pub fn rows(&self) -> &Arc<dyn WebhookOutbox> {
        &self.rows
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
    fn store(&self, events: &[HostEvent]) -> Result<BTreeSet<String>, StoreError> {
        let mut rows = Vec::new();
        {
            let targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
            for event in events {
                let session = event.session.as_deref();
                let own = session.and_then(|s| targets.get(s).map(|t| (t, Some(s))));
                let global = self.global.as_ref().map(|t| (t, None));
                let destinations: Vec<_> = own.into_iter().chain(global).collect();
                if destinations.is_empty() {
                    continue;
                }
                let Some((kind, body)) = event.encode() else {
                    continue;
                };
                for (target, owner) in destinations {
                    rows.push(NewDelivery {
                        url: target.url.clone(),
                        secret: target.secret.clone(),
                        event: kind.clone(),
                        body: body.clone(),
                        owner: owner.map(str::to_string),
                    });
                }
            }
        }
        if rows.is_empty() {
            return Ok(BTreeSet::new());
        }
        self.rows.insert(&rows)?;
        Ok(rows.into_iter().map(|row| row.url).collect())
    }
}
