//! What a session reports to its host: events and status.

use serde::Serialize;
use tokio::sync::mpsc;

/// A state change of one session. Serialized as
/// `{"type": "qr", "code": ..., "expires_in_secs": ...}` and so on.
///
/// The last event of every session task is `LoggedOut` or `Stopped`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A QR code to show; scanning it after `expires_in_secs` fails.
    Qr { code: String, expires_in_secs: u64 },
    /// A linking code to type on the phone.
    PairCode { code: String },
    /// The phone linked this device; a login follows.
    Paired { jid: String },
    /// Logged in and online.
    Connected,
    /// An established connection ended (a reconnect usually follows).
    Disconnected { reason: String },
    /// The device is no longer linked; its credentials are gone.
    LoggedOut { reason: String },
    /// Waiting `delay_ms` before connection attempt `attempt`.
    Reconnecting { attempt: u32, delay_ms: u64 },
    /// The session task ended without logging out (shutdown, replaced by
    /// another client, temporary ban, QR codes exhausted, failure).
    Stopped { reason: String },
}

/// Where every session of a host delivers its events. One sink is shared
/// by all sessions, so implementations must be cheap and never block.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, session: &str, event: Event);
}

/// An unbounded channel sink, handy in tests.
pub struct ChannelSink {
    tx: mpsc::UnboundedSender<(String, Event)>,
}

impl ChannelSink {
    pub fn new() -> (ChannelSink, mpsc::UnboundedReceiver<(String, Event)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ChannelSink { tx }, rx)
    }
}

impl EventSink for ChannelSink {
    fn emit(&self, session: &str, event: Event) {
        // A dropped receiver just means nobody listens any more.
        let _ = self.tx.send((session.to_string(), event));
    }
}

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Loading credentials, not connected yet.
    Starting,
    /// Connected and showing QR codes, waiting for a phone.
    Qr,
    /// Opening a connection or logging in.
    Connecting,
    /// Logged in and online.
    Connected,
    /// Waiting before the next connection attempt.
    Reconnecting,
    /// Unlinked; nothing usable is stored.
    LoggedOut,
    /// Ended on purpose or by the server (see the last error).
    Stopped,
    /// Ended by an error (see the last error).
    Failed,
}

impl Status {
    /// Whether the session task has ended for good.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::LoggedOut | Status::Stopped | Status::Failed)
    }
}
