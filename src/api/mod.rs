//! The HTTP API: thin axum handlers over the host, and the server that
//! runs them.
//!
//! Owns: routes, request parsing, JSON errors (`{"error", "message"}`),
//! bearer-key auth, Server-Sent Events, the OpenAPI document, and the
//! HTTP server (timeouts, connection caps, graceful shutdown).
//! Must not touch: session internals (it only calls [`crate::host::Host`]).

mod auth;
mod body_timeout;
mod error;
mod events;
mod extract;
mod framing;
mod http_stats;
mod json;
mod json_errors;
mod openapi;
mod ops;
mod qr_png;
mod schemas;
pub mod server;
mod sessions;
mod shutdown;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Router};

pub use auth::ApiKey;
pub use error::{ApiError, ErrorBody};
pub use http_stats::HttpStats;
pub use openapi::build as openapi_document;
pub use server::{serve, ServerConfig};
pub use shutdown::{Shutdown, ShutdownListener};

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

/// The whole API, for a server of its own (tests): no server counters,
/// and event streams end only with their client.
pub fn router(host: Arc<Host>, api_key: Option<ApiKey>) -> Router {
    router_with(host, api_key, Arc::default(), &Shutdown::new())
}

/// The whole API as [`serve`] runs it: `/metrics` shows `http`, and the
/// event streams end when `shutdown` is triggered. Every route but
/// `/healthz` and `/readyz` needs the API key when one is configured.
pub fn router_with(
    host: Arc<Host>,
    api_key: Option<ApiKey>,
    http: Arc<HttpStats>,
    shutdown: &Shutdown,
) -> Router {
    let state = AppState {
        host,
        api_key,
        http,
        shutdown: shutdown.listener(),
    };
    let v1 = Router::new()
        .route("/v1/sessions", post(sessions::create).get(sessions::list))
        .route(
            "/v1/sessions/{id}",
            get(sessions::get).delete(sessions::delete),
        )
        .route("/v1/sessions/{id}/logout", post(sessions::logout))
        .route("/v1/sessions/{id}/restart", post(sessions::restart))
        .route("/v1/sessions/{id}/qr", get(sessions::qr))
        .route("/v1/sessions/{id}/pair-code", post(sessions::pair_code))
        .route("/v1/sessions/{id}/messages", post(sessions::send_message))
        .route("/v1/sessions/{id}/read", post(sessions::mark_read))
        .route("/v1/sessions/{id}/events", get(events::session_events))
        .route("/v1/events", get(events::all_events))
        .route("/v1/capacity", get(ops::capacity))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::document))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .merge(v1)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(json_errors::json_errors))
        .with_state(state)
}
