//! OpenAPI schemas of what the API sends but whose types carry no
//! `ToSchema` derive: the host's event envelope and QR state live in a
//! file another part of the project owns, so they are described here by
//! twins with the same serde shape; and the parameter and error sets
//! several routes share. The fuzz test (`tests/api_fuzz.rs`)
//! checks real answers and events against these schemas, so a twin that
//! drifts from its original fails there.
//! Must not touch: the originals (`crate::host`), request handling.

// The twins are never built: only their schemas are used.
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

use super::error::ErrorBody;
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

/// The `{id}` of a session route.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SessionPath {
    /// Session id: 1-64 of `A-Z a-z 0-9 _ -`.
    id: String,
}

/// What a command to a session's connection can fail with, besides the
/// route's own 400s: the session is unknown or not connected (a linking
/// code also: `already_linked`, `not_pairing`, `pair_code_busy`), its
/// state could not be written, or the WhatsApp server refused or did not
/// answer.
#[derive(utoipa::IntoResponses)]
pub enum CommandErrors {
    #[response(status = 404, description = "session_not_found")]
    NotFound(ErrorBody),
    #[response(
        status = 409,
        description = "not_connected, session_stopped; for a linking code also already_linked, not_pairing, pair_code_busy"
    )]
    Conflict(ErrorBody),
    #[response(status = 500, description = "storage_error")]
    Storage(ErrorBody),
    #[response(
        status = 502,
        description = "server_error: the WhatsApp server refused"
    )]
    Server(ErrorBody),
    #[response(
        status = 504,
        description = "timeout: the WhatsApp server did not answer"
    )]
    Timeout(ErrorBody),
}
