//! The routes: which handler answers which path, behind which layers.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::{middleware, Router};

use super::auth;
use super::http_stats::HttpStats;
use super::key::ApiKey;
use super::shutdown::Shutdown;
use super::state::{AppState, MAX_BODY_BYTES, MAX_UPLOAD_BODY_BYTES};
use super::{
    dashboard, events, forward, groups, json_errors, media, nodes, openapi, ops, rebalance,
    sessions,
};
use crate::host::Host;

/// The whole API, for a server of its own (tests): no server counters,
/// and event streams end only with their client.
pub fn router(host: Arc<Host>, api_key: Option<ApiKey>) -> Router {
    router_with(host, api_key, Arc::default(), &Shutdown::new())
}

/// The whole API as `api::serve` runs it: `/metrics` shows `http`, and the
/// event streams end when `shutdown` is triggered. Every route but
/// `/healthz`, `/readyz` and the dashboard's static files needs the API
/// key when one is configured.
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
    // Everything about one session: served here, or forwarded to the
    // node of the cluster that runs it.
    let one_session = Router::new()
        .route(
            "/v1/sessions/{id}",
            get(sessions::get).delete(sessions::delete),
        )
        .route("/v1/sessions/{id}/logout", post(sessions::logout))
        .route("/v1/sessions/{id}/restart", post(sessions::restart))
        .route("/v1/sessions/{id}/qr", get(sessions::qr))
        .route("/v1/sessions/{id}/pair-code", post(sessions::pair_code))
        .route(
            "/v1/sessions/{id}/messages",
            post(sessions::send_message).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY_BYTES)),
        )
        .route("/v1/sessions/{id}/read", post(sessions::mark_read))
        .route("/v1/sessions/{id}/media/download", post(media::download))
        .route(
            "/v1/sessions/{id}/messages/{message_id}/media",
            get(media::message_media),
        )
        .route(
            "/v1/sessions/{id}/groups",
            post(groups::create).get(groups::list),
        )
        .route("/v1/sessions/{id}/groups/join", post(groups::join))
        .route("/v1/sessions/{id}/groups/{group}", get(groups::get))
        .route(
            "/v1/sessions/{id}/groups/{group}/participants",
            post(groups::participants),
        )
        .route(
            "/v1/sessions/{id}/groups/{group}/subject",
            put(groups::subject),
        )
        .route(
            "/v1/sessions/{id}/groups/{group}/description",
            put(groups::description),
        )
        .route(
            "/v1/sessions/{id}/groups/{group}/leave",
            post(groups::leave),
        )
        .route(
            "/v1/sessions/{id}/groups/{group}/invite",
            get(groups::invite),
        )
        .route(
            "/v1/sessions/{id}/groups/{group}/invite/revoke",
            post(groups::revoke_invite),
        )
        .route("/v1/sessions/{id}/events", get(events::session_events))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            forward::to_owner,
        ));
    let v1 = Router::new()
        .route("/v1/sessions", post(sessions::create).get(sessions::list))
        .merge(one_session)
        .route("/v1/events", get(events::all_events))
        .route("/v1/capacity", get(ops::capacity))
        .route("/v1/nodes", get(nodes::list))
        .route("/v1/nodes/{id}/drain", post(nodes::drain))
        .route("/v1/nodes/{id}/hand-over", post(nodes::hand_over))
        .route("/v1/cluster/rebalance", post(rebalance::rebalance))
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
        .merge(dashboard::routes())
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(json_errors::json_errors))
        .with_state(state)
}
