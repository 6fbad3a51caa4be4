//! One event sink for every session: remembers each session's current QR
//! code, re-broadcasts every event to subscribers (SSE streams) and hands
//! it to the webhook outbox's writer. `emit` is called from session tasks,
//! so it only takes a short lock and sends on channels; it never waits.
//! It also logs one readable line per change of a session's state.
//! Must not touch: the outbox's table or deliveries (data flows one way:
//! fan-out → outbox writer → delivery).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::broadcast;

use super::event::{HostEvent, HostEventKind, QrState};
use super::webhook::OutboxFeed;

use crate::client::{Event, EventSink};
use crate::types::SharedClock;

/// How many events a slow subscriber may fall behind before it misses
/// some (it is told how many it missed).
const BROADCAST_BUFFER: usize = 1024;

/// Counters of session events since the process started, for /metrics.
#[derive(Default)]
pub struct EventCounters {
    pub reconnects: AtomicU64,
    pub messages_in: AtomicU64,
    /// Texts the server accepted from us (counted by the host on send).
    pub messages_out: AtomicU64,
    pub receipts_in: AtomicU64,
    pub undecryptable: AtomicU64,
}

pub struct Fanout {
    pub counters: EventCounters,
    qrs: Mutex<HashMap<String, QrState>>,
    tx: broadcast::Sender<HostEvent>,
    /// The webhook outbox's writer (unbounded: it must never make a
    /// session task wait; the writer commits in batches).
    outbox: OutboxFeed,
    /// Stamps events and QR expiries.
    clock: SharedClock,
}

impl Fanout {
    pub fn new(outbox: OutboxFeed, clock: SharedClock) -> Fanout {
        let (tx, _) = broadcast::channel(BROADCAST_BUFFER);
        Fanout {
            counters: EventCounters::default(),
            qrs: Mutex::new(HashMap::new()),
            tx,
            outbox,
            clock,
        }
    }

    /// Resolves once every event published so far is in the outbox.
    pub async fn flush(&self) {
        if let Some(committed) = self.outbox.flush() {
            let _ = committed.await;
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HostEvent> {
        self.tx.subscribe()
    }

    pub fn qr(&self, session: &str) -> Option<QrState> {
        let qr = self.lock().get(session).cloned()?;
        (qr.expires_at > self.clock.unix_secs()).then_some(qr)
    }

    pub fn forget(&self, session: &str) {
        self.lock().remove(session);
    }

    pub fn publish(&self, session: Option<&str>, kind: HostEventKind) {
        let event = HostEvent {
            session: session.map(str::to_string),
            at: self.clock.unix_secs(),
            kind,
        };
        self.outbox.event(event.clone());
        // No subscriber is fine.
        let _ = self.tx.send(event);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, QrState>> {
        self.qrs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One readable line at info for each change of a session's state that
/// the session itself does not log (it logs a lost connection, a stop
/// and a logout, with their reasons); the first QR code is logged above.
/// Codes themselves are never logged.
fn log_state(session: &str, event: &Event) {
    match event {
        Event::PairCode { .. } => tracing::info!(session, "session waiting for its linking code"),
        Event::Paired { jid } => tracing::info!(session, %jid, "session linked"),
        Event::Connected => tracing::info!(session, "session connected"),
        Event::Reconnecting { attempt, delay_ms } => {
            tracing::info!(session, attempt, delay_ms, "session reconnecting")
        }
        _ => {}
    }
}

impl EventSink for Fanout {
    fn emit(&self, session: &str, event: Event) {
        let counter = match &event {
            Event::Reconnecting { .. } => Some(&self.counters.reconnects),
            Event::Message(_) => Some(&self.counters.messages_in),
            Event::Receipt { .. } => Some(&self.counters.receipts_in),
            Event::Undecryptable { .. } => Some(&self.counters.undecryptable),
            _ => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        match &event {
            Event::Qr {
                code,
                expires_in_secs,
            } => {
                let expires_at = self.clock.unix_secs() + expires_in_secs;
                let replaced = self.lock().insert(
                    session.to_string(),
                    QrState {
                        qr: code.clone(),
                        expires_at,
                    },
                );
                if replaced.is_none() {
                    tracing::info!(session, expires_in_secs, "session waiting for a QR scan");
                } else {
                    tracing::debug!(session, expires_in_secs, "session shows a new QR code");
                }
            }
            // Once linked (or gone) the session has no QR to show.
            Event::Paired { .. }
            | Event::Connected
            | Event::LoggedOut { .. }
            | Event::Stopped { .. } => {
                self.forget(session);
            }
            _ => {}
        }
        log_state(session, &event);
        self.publish(Some(session), HostEventKind::Session(event));
    }

    fn durable(&self, session: &str) -> Option<tokio::sync::oneshot::Receiver<()>> {
        self.outbox.committed(Some(session))
    }
}
