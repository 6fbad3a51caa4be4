//! What every handler shares, and the largest body it accepts.

use std::sync::Arc;

use super::http_stats::HttpStats;
use super::key::ApiKey;
use super::shutdown::ShutdownListener;
use crate::host::Host;

/// Largest request body accepted (a text message is far smaller).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub host: Arc<Host>,
    pub api_key: Option<ApiKey>,
    pub http: Arc<HttpStats>,
    pub shutdown: ShutdownListener,
}
