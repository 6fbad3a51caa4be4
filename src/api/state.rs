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

/// The body limit of a request to `path` with `method`.
pub fn body_limit(method: &axum::http::Method, path: &str) -> usize {
    let sends = method == axum::http::Method::POST
        && path.starts_with("/v1/sessions/")
        && path.ends_with("/messages")
        && path.matches('/').count() == 4;
    if sends {
        MAX_MESSAGE_BODY_BYTES
    } else {
        MAX_BODY_BYTES
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
