//! Media routes: a received file downloaded through its session, named
//! by its message's id (the session keeps what fetching it takes for
//! `--media-retention-days`) or by the message event's `media` object
//! posted back as is; the file is fetched from WhatsApp's media hosts, checked (MAC and hashes) and
//! streamed back decrypted, with its type and name. Sending files goes
//! through `POST /v1/sessions/{id}/messages`.
//! Must not touch: the file's crypto or the transfers (the session's).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::extract::{MessageRoute, SessionId};
use super::json::JsonBody;
use super::schemas::{CommandErrors, File, MessagePath, SessionPath};
use super::state::AppState;
use crate::host::{IncomingMedia, MediaDownload};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadMedia {
    /// The `media` object of a `message` event, as it came.
    media: IncomingMedia,
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/media/download",
    summary = "Download a received file: the message event's media, decrypted",
    params(SessionPath),
    request_body = DownloadMedia,
    responses(
        (status = 200, description = "The file, with its Content-Type and, for a named file, Content-Disposition", body = File, content_type = "application/octet-stream"),
        (status = 400, description = "invalid_path, invalid_json, unknown_field, invalid_media (a key or hash that is not base64 of 32 bytes, a bad direct path)", body = ErrorBody),
        (status = 410, description = "media_gone: WhatsApp's media hosts no longer have the file", body = ErrorBody),
        (status = 413, description = "media_too_large: over the session's file limit", body = ErrorBody),
        (status = 502, description = "media_failed: damaged (MAC or hash mismatch) or not fetched", body = ErrorBody),
        CommandErrors,
    )
)]
pub async fn download(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    JsonBody(body): JsonBody<DownloadMedia>,
) -> Result<Response, ApiError> {
    let download = state.host.download_media(&id, body.media).await?;
    Ok(file_response(download))
}

#[utoipa::path(
    get,
    path = "/v1/sessions/{id}/messages/{message_id}/media",
    summary = "Download the file of a received message, by its id",
    params(MessagePath),
    responses(
        (status = 200, description = "The file, with its Content-Type, Content-Length where known and, for a named file, Content-Disposition", body = File, content_type = "application/octet-stream"),
        (status = 400, description = "invalid_path", body = ErrorBody),
        (status = 404, description = "session_not_found or unknown_message: no file is kept for that message (not received by this session, not a file, or older than the media retention)", body = ErrorBody),
        (status = 410, description = "media_gone: WhatsApp's media hosts no longer have the file", body = ErrorBody),
        (status = 413, description = "media_too_large: over the session's file limit", body = ErrorBody),
        (status = 502, description = "media_failed: damaged (MAC or hash mismatch) or not fetched", body = ErrorBody),
        CommandErrors,
    )
)]
pub async fn message_media(
    State(state): State<AppState>,
    route: MessageRoute,
) -> Result<Response, ApiError> {
    let download = state
        .host
        .download_message_media(&route.id, &route.message_id)
        .await?;
    Ok(file_response(download))
}

/// A download as the HTTP answer: the stream, its type, its length when
/// the message said it, and its name.
fn file_response(download: MediaDownload) -> Response {
    let mut response = Body::from_stream(download.stream).into_response();
    let headers = response.headers_mut();
    let mimetype = HeaderValue::from_str(&download.mimetype)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, mimetype);
    if let Some(length) = download.length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let Some(name) = download.file_name {
        // Only a plain name goes into the header; anything else is dropped.
        let safe: String = name
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .filter(|c| !matches!(c, '"' | '\\' | '/' | ';'))
            .collect();
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    response
}
