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

/// The fan-out's end of the writer: it hands over only events that have
/// a destination, so sessions without a webhook (SSE only) never wake the
/// writer thread (two thread switches per event in the profile of
/// `wasp bench`).
pub struct OutboxFeed {
    tx: mpsc::UnboundedSender<OutboxMsg>,
    outbox: Arc<Outbox>,
}

impl OutboxFeed {
    /// Hands `event` to the writer when it has a destination. An event
    /// racing with its session's first webhook may miss that webhook.
    pub fn event(&self, event: HostEvent) {
        if self.outbox.has_destination(event.session.as_deref()) {
            // A stopped writer (shutdown) is fine: events are also
            // reflected in each session's status.
            let _ = self.tx.send(OutboxMsg::Event(Box::new(event)));
        }
    }

    /// Resolves once every event handed over so far is committed; `None`
    /// when events of `session` have no destination (nothing to wait for).
    pub fn committed(&self, session: Option<&str>) -> Option<oneshot::Receiver<()>> {
        if !self.outbox.has_destination(session) {
            return None;
        }
        self.flush()
    }

    /// Resolves once every event handed over so far is committed.
    pub fn flush(&self) -> Option<oneshot::Receiver<()>> {
        let (done, rx) = oneshot::channel();
        self.tx.send(OutboxMsg::Flush(done)).ok()?;
        Some(rx)
    }
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

    /// Whether an event of `session` (`None`: the host's own) has
    /// somewhere to go: the global webhook or the session's own.
    fn has_destination(&self, session: Option<&str>) -> bool {
        self.global.is_some()
            || session.is_some_and(|s| {
                self.targets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains_key(s)
            })
    }

    /// Starts the writer thread, fed through the returned feed. After each
    /// commit it calls `committed` with the endpoints (URLs) that got rows.
    pub fn start_writer(
        self: &Arc<Self>,
        committed: impl Fn(BTreeSet<String>) + Send + 'static,
    ) -> OutboxFeed {
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = self.clone();
        std::thread::Builder::new()
            .name("wasp-outbox".into())
            .spawn(move || writer.write_loop(rx, committed))
            .map_err(|e| tracing::error!(error = %e, "cannot start the outbox writer"))
            .ok();
        OutboxFeed {
            tx,
            outbox: self.clone(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Event;
    use crate::host::event::HostEventKind;
    use crate::store::SqliteOutbox;

    fn connected(session: &str) -> HostEvent {
        HostEvent {
            session: Some(session.into()),
            at: 1,
            kind: HostEventKind::Session(Event::Connected),
        }
    }

    fn target() -> WebhookTarget {
        WebhookTarget {
            url: "http://127.0.0.1:9/hook".into(),
            secret: None,
        }
    }

    #[tokio::test]
    async fn only_events_with_a_destination_reach_the_writer() {
        let tmp = tempfile::tempdir().unwrap();
        let rows = Arc::new(SqliteOutbox::open(&tmp.path().join("o.db")).unwrap());
        let outbox = Arc::new(Outbox::new(rows.clone(), None));
        let feed = outbox.start_writer(|_| {});
        // No webhook anywhere: nothing to commit, nothing to wait for.
        feed.event(connected("a"));
        assert!(feed.committed(Some("a")).is_none());
        outbox.set_target("a", Some(target()));
        feed.event(connected("a"));
        feed.event(connected("b"));
        let committed = feed.committed(Some("a")).expect("a has a webhook");
        committed.await.unwrap();
        assert!(feed.committed(Some("b")).is_none());
        assert_eq!(rows.pending().unwrap(), 1);

        // The global webhook takes every session's events.
        let global = Arc::new(Outbox::new(rows.clone(), Some(target())));
        let feed = global.start_writer(|_| {});
        feed.event(connected("b"));
        feed.committed(Some("b")).expect("global").await.unwrap();
        assert_eq!(rows.pending().unwrap(), 2);
    }
}
