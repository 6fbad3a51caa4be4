//! OpenAPI schemas of what the API sends but whose types carry no
//! `ToSchema` derive: the host's event envelope and QR state live in a
//! file another part of the project owns, so they are described here by
//! twins with the same serde shape. The fuzz test (`tests/api_fuzz.rs`)
//! checks real answers and events against these schemas, so a twin that
//! drifts from its original fails there.
//! Must not touch: the originals (`crate::host`), request handling.

// The twins are never built: only their schemas are used.
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

use crate::client::Event;

/// The formats `GET /v1/sessions/{id}/qr` renders.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QrFormat {
    Json,
    Png,
    Svg,
}

// Twin of `crate::host::QrState`.
/// The QR code a session shows now.
#[derive(Serialize, ToSchema)]
#[schema(as = QrState)]
pub struct QrStateDoc {
    /// The string the phone scans.
    qr: String,
    /// Seconds since the epoch after which scanning it fails.
    expires_at: u64,
}

// Twin of `crate::host::HostEvent`.
/// One event on an event stream (and the body of a webhook): a session's
/// event, or the host's own (capacity).
#[derive(Serialize, ToSchema)]
#[schema(as = HostEvent)]
pub struct HostEventDoc {
    /// The session it comes from; null for the host's own events.
    session: Option<String>,
    /// Seconds since the epoch.
    at: u64,
    #[serde(flatten)]
    kind: HostEventKindDoc,
}

// Twin of `crate::host::HostEventKind`.
/// What happened: a session's event or a capacity event.
#[derive(Serialize, ToSchema)]
#[schema(as = HostEventKind)]
#[serde(untagged)]
enum HostEventKindDoc {
    Session(Event),
    Capacity(CapacityEventDoc),
}

// Twin of `crate::host::CapacityEvent`.
/// The capacity alert raised (past 80%) or cleared (below 70%).
#[derive(Serialize, ToSchema)]
#[schema(as = CapacityEvent)]
#[serde(tag = "type")]
enum CapacityEventDoc {
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

/// A PNG or SVG image, sent as is.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Image(Vec<u8>);
