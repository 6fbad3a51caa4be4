//! The HTTP API: thin axum handlers over the host.
//!
//! Owns: routes, request parsing, JSON errors (`{"error", "message"}`),
//! bearer-key auth, Server-Sent Events, the OpenAPI document.
//! Must not touch: session internals (it only calls [`crate::host::Host`]).

mod auth;
mod error;
mod events;
mod json;
mod openapi;
mod ops;
mod qr_png;
mod sessions;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Router};

pub use auth::ApiKey;
pub use error::ApiError;

use crate::host::Host;

/// Largest request body accepted (a text message is far smaller).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub host: Arc<Host>,
    pub api_key: Option<ApiKey>,
}

/// The whole API. Every route but `/healthz` and `/readyz` needs the API
/// key when one is configured.
pub fn router(host: Arc<Host>, api_key: Option<ApiKey>) -> Router {
    let state = AppState { host, api_key };
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
        .with_state(state)
}
