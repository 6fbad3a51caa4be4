//! What every handler shares, and the largest body it accepts.

use std::sync::Arc;

use super::http_stats::HttpStats;
use super::key::ApiKey;
use super::shutdown::ShutdownListener;
use crate::host::Host;

/// Largest request body accepted (a text message is far smaller).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest body of `POST /v1/sessions/{id}/messages`, which may carry a
/// file in base64 (about 12 MiB of file).
pub const MAX_MESSAGE_BODY_BYTES: usize = 16 << 20;

/// Largest multipart upload to `POST /v1/sessions/{id}/messages`: WhatsApp's
/// largest document (2 GiB) and the form's other fields. The session's
/// `max_media_bytes` refuses a larger file as it streams in.
pub const MAX_UPLOAD_BODY_BYTES: usize = (2 << 30) + (1 << 20);

/// Whether the request is `POST /v1/sessions/{id}/messages`.
pub fn sends_message(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST
        && path.starts_with("/v1/sessions/")
        && path.ends_with("/messages")
        && path.matches('/').count() == 4
}

/// Whether the body is a `multipart/form-data` form (a file upload).
pub fn is_multipart(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .get(..19)
                .is_some_and(|t| t.eq_ignore_ascii_case("multipart/form-data"))
        })
}

/// The body limit of a request to `path` with `method` and `headers`.
pub fn body_limit(
    method: &axum::http::Method,
    path: &str,
    headers: &axum::http::HeaderMap,
) -> usize {
    if !sends_message(method, path) {
        MAX_BODY_BYTES
    } else if is_multipart(headers) {
        MAX_UPLOAD_BODY_BYTES
    } else {
        MAX_MESSAGE_BODY_BYTES
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub host: Arc<Host>,
    pub api_key: Option<ApiKey>,
    pub http: Arc<HttpStats>,
    pub shutdown: ShutdownListener,
}
