//! The cluster's nodes: the list (`GET /v1/nodes`), a node's drain
//! (`POST /v1/nodes/{id}/drain`) and a hand-over of some of its sessions
//! to another node (`POST /v1/nodes/{id}/hand-over`), the last two served
//! by the node named or forwarded to it.
//! Must not touch: how sessions are handed over (the host does).

use axum::extract::{FromRequest, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::{ApiError, ErrorBody};
use super::forward;
use super::json::JsonBody;
use super::state::AppState;
use crate::host::{Drained, HandedOver, HostError, NodeStatus};

/// `GET /v1/nodes`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Nodes {
    /// Whether this service runs as a node of a cluster (`--redis`).
    pub cluster: bool,
    /// Every node heard from lately (without a cluster: this one, `local`).
    pub nodes: Vec<crate::host::NodeInfo>,
}

#[utoipa::path(
    get,
    path = "/v1/nodes",
    summary = "The cluster's nodes: load, memory, capacity, heartbeat age and state",
    responses(
        (status = 200, description = "The nodes, by id", body = Nodes),
        (status = 503, description = "cluster_unreachable: Redis did not answer", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<Nodes>, ApiError> {
    Ok(Json(Nodes {
        cluster: state.host.in_cluster(),
        nodes: state.host.nodes().await?,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/nodes/{id}/drain",
    summary = "Hand every session of a node to the other nodes",
    description = "The node stops taking new sessions, then stops each of its sessions and hands it over; the other nodes start them from the shared state (no QR) within a heartbeat or two, and messages sent meanwhile arrive there. Any node forwards this to the node named. The node stays up (state `draining`) and serves the API until it is stopped.",
    params(("id" = String, Path, description = "The node's id")),
    responses(
        (status = 200, description = "Drained: how many sessions went", body = Drained),
        (status = 404, description = "node_not_found", body = ErrorBody),
        (status = 409, description = "cannot_drain: not a cluster sharing its state (--postgres), the node is dead, or no other node is up", body = ErrorBody),
        (status = 502, description = "node_unreachable: the node named did not answer", body = ErrorBody),
        (status = 503, description = "cluster_unreachable: Redis did not answer", body = ErrorBody),
    )
)]
pub async fn drain(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    at_node(&state, &id, request, HostError::CannotDrain, |_| async {
        Ok(Json(state.host.drain().await?).into_response())
    })
    .await
}

/// Serves `request` about node `id` here with `serve` when this is that
/// node (or the request was forwarded here), else forwards it to that
/// node; a dead node is refused with `dead(why)`.
async fn at_node<F, Fut>(
    state: &AppState,
    id: &str,
    request: Request,
    dead: fn(String) -> HostError,
    serve: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let here = state.host.node_id().unwrap_or("local").to_string();
    if id == here || forward::is_forwarded(request.headers()) {
        return serve(request).await;
    }
    let node = state
        .host
        .nodes()
        .await?
        .into_iter()
        .find(|n| n.id == id)
        .ok_or_else(|| HostError::NodeNotFound(id.to_string()))?;
    if node.state == NodeStatus::Dead {
        return Err(dead(format!(
            "node {id} is dead: the other nodes take its sessions by themselves"
        ))
        .into());
    }
    forward::forward(request, &node.url, &here).await
}

/// `POST /v1/nodes/{id}/hand-over`.
#[derive(serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOver {
    /// The node to take the sessions.
    pub to: String,
    /// How many sessions to move, at most (the node may run fewer).
    pub sessions: u64,
}

#[utoipa::path(
    post,
    path = "/v1/nodes/{id}/hand-over",
    summary = "Move some sessions of a node to another node",
    description = "The node stops up to `sessions` of its sessions and offers them to node `to`, which starts them from the shared state (no QR) within a heartbeat or two; messages sent meanwhile arrive there. If `to` does not take them within 30 s, any node may. Any node forwards this to the node named. `POST /v1/cluster/rebalance` plans such moves for the whole cluster.",
    params(("id" = String, Path, description = "The node giving sessions up")),
    request_body = HandOver,
    responses(
        (status = 200, description = "How many sessions were handed over", body = HandedOver),
        (status = 400, description = "invalid_json: the body is not a hand-over", body = ErrorBody),
        (status = 404, description = "node_not_found: no such node (giving or taking)", body = ErrorBody),
        (status = 409, description = "cannot_move: not a cluster sharing its state (--postgres), a node is dead or not up, or both are the same", body = ErrorBody),
        (status = 502, description = "node_unreachable: the node named did not answer", body = ErrorBody),
        (status = 503, description = "cluster_unreachable: Redis did not answer", body = ErrorBody),
    )
)]
pub async fn hand_over(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    at_node(
        &state,
        &id,
        request,
        HostError::CannotMove,
        |request| async {
            let JsonBody(body) = JsonBody::<HandOver>::from_request(request, &state).await?;
            let done = state.host.hand_over_to(&body.to, body.sessions).await?;
            Ok(Json(done).into_response())
        },
    )
    .await
}
