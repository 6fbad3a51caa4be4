//! The events the host publishes: every session's [`Event`]s and the
//! host's own capacity events, with the session and the time, as SSE
//! streams and webhooks carry them; and the QR state a session shows.
//! Owns: the shapes and their JSON. Must not touch: where events go
//! (that is `fanout`, then the outbox).

use serde::Serialize;

use crate::client::Event;

/// One event on an event stream (and the body of a webhook): a session's
/// event, or the host's own (capacity; `session` is null).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HostEvent {
    /// The session it comes from; null for the host's own events.
    pub session: Option<String>,
    /// Seconds since the epoch.
    pub at: u64,
    #[serde(flatten)]
    pub kind: HostEventKind,
}

/// What happened: a session's event or a capacity event.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum HostEventKind {
    Session(Event),
    Capacity(CapacityEvent),
}

/// The capacity alert raised (past 80%) or cleared (below 70%): of one
/// process (in a cluster, `node` names it), or of the whole cluster
/// (`capacity.cluster_*`: every node that is up, summed; raised by one
/// node of the cluster).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum CapacityEvent {
    #[serde(rename = "capacity.alert")]
    Alert {
        sessions: usize,
        max_sessions: usize,
        utilization: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        node: Option<String>,
    },
    #[serde(rename = "capacity.recovered")]
    Recovered {
        sessions: usize,
        max_sessions: usize,
        utilization: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        node: Option<String>,
    },
    #[serde(rename = "capacity.cluster_alert")]
    ClusterAlert {
        sessions: u64,
        max_sessions: u64,
        utilization: f64,
        /// Nodes up.
        nodes: usize,
    },
    #[serde(rename = "capacity.cluster_recovered")]
    ClusterRecovered {
        sessions: u64,
        max_sessions: u64,
        utilization: f64,
        nodes: usize,
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct QrState {
    /// The string the phone scans.
    pub qr: String,
    /// Seconds since the epoch after which scanning it fails.
    pub expires_at: u64,
}
