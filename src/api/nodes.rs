//! The cluster's nodes: the list (`GET /v1/nodes`) and a node's drain
//! (`POST /v1/nodes/{id}/drain`), served by the node named or forwarded
//! to it.
//! Must not touch: how a drain hands sessions over (the host does).

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::{ApiError, ErrorBody};
use super::forward;
use super::state::AppState;
use crate::host::{Drained, HostError, NodeStatus};

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
    let host = &state.host;
    let here = host.node_id().unwrap_or("local").to_string();
    if id == here || forward::is_forwarded(request.headers()) {
        return Ok(Json(host.drain().await?).into_response());
    }
    let node = host
        .nodes()
        .await?
        .into_iter()
        .find(|n| n.id == id)
        .ok_or_else(|| HostError::NodeNotFound(id.clone()))?;
    if node.state == NodeStatus::Dead {
        return Err(HostError::CannotDrain(format!(
            "node {id} is dead: the other nodes take its sessions by themselves"
        ))
        .into());
    }
    forward::forward(request, &node.url, &here).await
}
