//! The events the host publishes: every session's [`Event`]s and the
//! host's own capacity events, with the session and the time, as SSE
//! streams and webhooks carry them; and the QR state a session shows.
//! Owns: the shapes and their JSON. Must not touch: where events go
//! (that is `fanout`, then the outbox).

use serde::Serialize;

use crate::client::Event;

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
