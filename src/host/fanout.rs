//! One event sink for every session: remembers each session's current QR
//! code and re-broadcasts every event to subscribers (SSE streams).
//! `emit` is called from session tasks, so it only takes a short lock and
//! sends on a broadcast channel; it never waits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use super::webhook::OutboxMsg;

use crate::client::{Event, EventSink};

/// How many events a slow subscriber may fall behind before it misses
/// some (it is told how many it missed).
const BROADCAST_BUFFER: usize = 1024;

/// An event of one session, or of the host itself (`session` is null).
#[derive(Clone, Debug, Serialize)]
pub struct HostEvent {
    pub session: Option<String>,
    /// Seconds since the epoch.
    pub at: u64,
    #[serde(flatten)]
    pub kind: HostEventKind,
}

#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum HostEventKind {
    Session(Event),
    Capacity(CapacityEvent),
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type")]
pub enum CapacityEvent {
    #[serde(rename = "capacity.alert")]
    Alert {
        sessions: usize,
        max_sessions: usize,
        utilization: f64,
    },
    #[serde(rename = "capacity.recovered")]
    Recovered {
        sessions: usize,
        max_sessions: usize,
        utilization: f64,
    },
}

impl HostEvent {
    /// The event's JSON and its `type` (`qr`, `connected`,
    /// `capacity.alert` ...), read from that JSON so the names cannot
    /// drift from the serialized form. One serialization per event.
    pub fn encode(&self) -> Option<(String, String)> {
        let value = serde_json::to_value(self).ok()?;
        let kind = value.get("type")?.as_str()?.to_string();
        Some((kind, value.to_string()))
    }
}

/// The QR code a session shows now.
#[derive(Clone, Debug, Serialize)]
pub struct QrState {
    pub qr: String,
    /// Seconds since the epoch after which scanning it fails.
    pub expires_at: u64,
}

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
    outbox: mpsc::UnboundedSender<OutboxMsg>,
}

impl Fanout {
    pub fn new(outbox: mpsc::UnboundedSender<OutboxMsg>) -> Fanout {
        let (tx, _) = broadcast::channel(BROADCAST_BUFFER);
        Fanout {
            counters: EventCounters::default(),
            qrs: Mutex::new(HashMap::new()),
            tx,
            outbox,
        }
    }

    /// Resolves once every event published so far is in the outbox.
    pub async fn flush(&self) {
        let (done, rx) = tokio::sync::oneshot::channel();
        if self.outbox.send(OutboxMsg::Flush(done)).is_ok() {
            let _ = rx.await;
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HostEvent> {
        self.tx.subscribe()
    }

    pub fn qr(&self, session: &str) -> Option<QrState> {
        let qr = self.lock().get(session).cloned()?;
        (qr.expires_at > now()).then_some(qr)
    }

    pub fn forget(&self, session: &str) {
        self.lock().remove(session);
    }

    pub fn publish(&self, session: Option<&str>, kind: HostEventKind) {
        let event = HostEvent {
            session: session.map(str::to_string),
            at: now(),
            kind,
        };
        // A stopped writer (shutdown) or no subscriber is fine: events are
        // also reflected in each session's status.
        let _ = self.outbox.send(OutboxMsg::Event(Box::new(event.clone())));
        let _ = self.tx.send(event);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, QrState>> {
        self.qrs.lock().unwrap_or_else(|p| p.into_inner())
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
                let expires_at = now() + expires_in_secs;
                self.lock().insert(
                    session.to_string(),
                    QrState {
                        qr: code.clone(),
                        expires_at,
                    },
                );
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
        self.publish(Some(session), HostEventKind::Session(event));
    }

    fn durable(&self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.outbox.send(OutboxMsg::Flush(done)).ok()?;
        Some(rx)
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}
