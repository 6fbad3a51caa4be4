//! The HTTP API: thin axum handlers over the host, and the server that
//! runs them.
//!
//! Owns: routes, request parsing, JSON errors (`{"error", "message"}`),
//! bearer-key auth, Server-Sent Events, the OpenAPI document, the web
//! dashboard (static files in the binary), and the HTTP server
//! (timeouts, connection caps, graceful shutdown).
//! Must not touch: session internals (it only calls [`crate::host::Host`]).

mod auth;
mod body_timeout;
mod dashboard;
mod error;
mod events;
mod extract;
mod forward;
mod framing;
mod groups;
mod http_stats;
mod json;
mod json_errors;
mod key;
mod media;
mod nodes;
mod openapi;
mod ops;
mod qr_png;
mod rebalance;
mod routes;
mod schemas;
pub mod server;
mod sessions;
mod shutdown;
mod state;
mod upload;

pub use error::{ApiError, ErrorBody};
pub use http_stats::HttpStats;
pub use key::ApiKey;
pub use openapi::build as openapi_document;
pub use routes::{router, router_with};
pub use server::{serve, ServerConfig};
pub use shutdown::{Shutdown, ShutdownListener};
pub use state::{AppState, MAX_BODY_BYTES};
