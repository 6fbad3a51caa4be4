//! OpenAPI schemas that are not a handler's own type: the QR formats,
//! images, the session path parameter, and the error set several routes
//! share. The fuzz test (`tests/api_fuzz.rs`) checks real answers against
//! the whole document.
//! Must not touch: request handling.

// Only their schemas are used: these values are never built.
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

use super::error::ErrorBody;

/// The formats `GET /v1/sessions/{id}/qr` renders.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QrFormat {
    Json,
    Png,
    Svg,
}

/// A PNG or SVG image, sent as is.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Image(Vec<u8>);

/// A file, sent as is (its type in `Content-Type`).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct File(Vec<u8>);

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

/// The `{id}` and `{message_id}` of a message route.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MessagePath {
    /// Session id: 1-64 of `A-Z a-z 0-9 _ -`.
    id: String,
    /// The `id` of a received `message` event.
    message_id: String,
}

/// The `{id}` and `{group}` of a group route.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GroupPath {
    /// Session id: 1-64 of `A-Z a-z 0-9 _ -`.
    id: String,
    /// The group: `<digits>@g.us` (URL-encode the `@` as `%40` or not), or
    /// its bare id.
    group: String,
}
