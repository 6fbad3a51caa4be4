//! Media routes: a received file downloaded through its session. The
//! message event's `media` object is posted back as is; the file is
//! fetched from WhatsApp's media hosts, checked (MAC and hashes) and
//! streamed back decrypted, with its type and name. Sending files goes
//! through `POST /v1/sessions/{id}/messages`.
//! Must not touch: the file's crypto or the transfers (the session's).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::extract::SessionId;
use super::json::JsonBody;
use super::schemas::{CommandErrors, File, SessionPath};
use super::state::AppState;
use crate::host::IncomingMedia;

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
    let mut response = Body::from_stream(download.stream).into_response();
    let headers = response.headers_mut();
    let mimetype = HeaderValue::from_str(&download.mimetype)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, mimetype);
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
    Ok(response)
}
