//! Files uploaded as a `multipart/form-data` form to
//! `POST /v1/sessions/{id}/messages`: the form's text fields first (`to`,
//! and optionally `text` as the caption, `mimetype`, `file_name`), then
//! one file part named by its kind (`image`, `video`, `audio`, `voice`,
//! `document`, `sticker`), streamed to the session as it arrives — never
//! held whole, so a file of any size costs a fixed buffer. No base64, so
//! files far past the JSON body's 16 MiB go this way.
//!
//! Owns: reading the form. Must not touch: the upload and the message
//! (the host's and the session's).

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::Json;
use futures_util::TryStreamExt as _;

use super::error::ApiError;
use super::state::AppState;
use crate::host::{SendFile, SentMessage};

/// The longest text field of the form (the caption is the longest).
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// What the form's text fields said, before its file part.
#[derive(Default)]
struct Fields {
    to: Option<String>,
    text: Option<String>,
    mimetype: Option<String>,
    file_name: Option<String>,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// A form that cannot be read: over its limit, cut short, or malformed.
fn form_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::body_too_large()
    } else {
        bad("invalid_form", e.body_text())
    }
}

/// Sends the file the form carries from session `id`.
pub async fn send_upload(
    state: AppState,
    id: String,
    request: Request,
) -> Result<(StatusCode, Json<SentMessage>), ApiError> {
    let mut form = Multipart::from_request(request, &state)
        .await
        .map_err(|e| bad("invalid_form", e.body_text()))?;
    let mut fields = Fields::default();
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let slot = match name.as_str() {
            "to" => &mut fields.to,
            "text" => &mut fields.text,
            "mimetype" => &mut fields.mimetype,
            "file_name" => &mut fields.file_name,
            "image" | "video" | "audio" | "voice" | "document" | "sticker" => {
                let to = fields.to.take().ok_or_else(|| {
                    bad(
                        "invalid_form",
                        "the form's `to` field must come before its file part",
                    )
                })?;
                let content_type = field.content_type().map(str::to_owned);
                let file = SendFile {
                    kind: name,
                    data: Vec::new(),
                    url: None,
                    mimetype: fields.mimetype.take(),
                    caption: fields.text.take().filter(|t| !t.is_empty()),
                    file_name: fields
                        .file_name
                        .take()
                        .or_else(|| field.file_name().map(str::to_owned)),
                };
                let body = tokio_util::io::StreamReader::new(field.map_err(std::io::Error::other));
                let sent = state
                    .host
                    .send_file_stream(&id, &to, file, body, content_type)
                    .await?;
                return Ok((StatusCode::CREATED, Json(sent)));
            }
            other => {
                return Err(bad(
                    "unknown_field",
                    format!(
                        "unknown form field {other:?}: use to, text, mimetype, file_name, \
                         then one of image, video, audio, voice, document, sticker"
                    ),
                ))
            }
        };
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(form_error)? {
            if value.len() + chunk.len() > MAX_FIELD_BYTES {
                return Err(bad(
                    "invalid_form",
                    format!("form field {name:?} is over {MAX_FIELD_BYTES} bytes"),
                ));
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value)
            .map_err(|_| bad("invalid_form", format!("form field {name:?} is not UTF-8")))?;
        *slot = Some(value);
    }
    Err(bad(
        "invalid_media",
        "the form carries no file part (image, video, audio, voice, document or sticker)",
    ))
}
