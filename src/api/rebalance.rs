//! `POST /v1/cluster/rebalance`: evens the load of the cluster. Any node
//! asks every node what it runs now, plans the moves
//! (`host::plan_rebalance`) and asks each node that should give sessions
//! up for its part (`POST /v1/nodes/{id}/hand-over`, itself when it is
//! one of them).
//! Must not touch: how sessions move (the host does).

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, ErrorBody};
use super::forward;
use super::nodes::HandOver;
use super::state::AppState;
use crate::host::{plan_rebalance, HostError, Move, NodeInfo, NodeStatus};

/// What a rebalance did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Rebalanced {
    /// Each move planned, with what came of it (none: already even).
    pub moves: Vec<MoveMade>,
}

/// One move of a rebalance.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MoveMade {
    pub from: String,
    pub to: String,
    /// Sessions the plan moves.
    pub planned: u64,
    /// Sessions handed over.
    pub moved: u64,
    /// Why the node giving them up did not, when it did not.
    pub error: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/cluster/rebalance",
    summary = "Even the load: give every node its share of the sessions",
    description = "Plans moves that give each node that is up (not draining, with capacity for sessions) a share of all sessions in proportion to its capacity, and has each node with more than its share hand the surplus to the nodes with less (as `POST /v1/nodes/{id}/hand-over`). Answers once every node has handed its sessions over; the receiving nodes start them within a heartbeat or two, from the shared state, without a QR. Nodes within one session of their share move nothing.",
    responses(
        (status = 200, description = "The moves and what each did", body = Rebalanced),
        (status = 409, description = "cannot_move: not a cluster", body = ErrorBody),
        (status = 503, description = "cluster_unreachable: Redis did not answer", body = ErrorBody),
    )
)]
pub async fn rebalance(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Rebalanced>, ApiError> {
    if !state.host.in_cluster() {
        return Err(HostError::CannotMove("this service is not a node of a cluster".into()).into());
    }
    let nodes = fresh_loads(&state, &headers, state.host.nodes().await?).await;
    let plan = plan_rebalance(&nodes);
    let moves = plan.into_iter().map(|planned| {
        let url = nodes
            .iter()
            .find(|n| n.id == planned.from)
            .map(|n| n.url.clone())
            .unwrap_or_default();
        make(&state, &headers, planned, url)
    });
    let moves = futures_util::future::join_all(moves).await;
    tracing::info!(moves = moves.len(), "rebalance done");
    Ok(Json(Rebalanced { moves }))
}

/// `nodes` with the sessions each node that is up runs now, asked of it
/// (`GET /v1/capacity`): heartbeats are a period old, and right after a
/// failover they miss the sessions just adopted. A node that does not
/// answer keeps its heartbeat's figure.
async fn fresh_loads(
    state: &AppState,
    headers: &HeaderMap,
    mut nodes: Vec<NodeInfo>,
) -> Vec<NodeInfo> {
    let here = state.host.node_id().unwrap_or("local").to_string();
    let asks = nodes.iter().map(|node| {
        let (id, url, up) = (
            node.id.clone(),
            node.url.clone(),
            node.state == NodeStatus::Up,
        );
        let here = here.clone();
        async move {
            if !up {
                return None;
            }
            if id == here {
                return Some(state.host.capacity().sessions as u64);
            }
            let ask =
                forward::node_request(Method::GET, Uri::from_static("/v1/capacity"), headers, None);
            forward::ask_json(ask, &url, &here).await.ok()?["sessions"].as_u64()
        }
    });
    let now = futures_util::future::join_all(asks).await;
    for (node, sessions) in nodes.iter_mut().zip(now) {
        if let Some(sessions) = sessions {
            node.sessions = sessions;
        }
    }
    nodes
}

/// Has node `planned.from` (at `url`) hand its sessions over.
async fn make(state: &AppState, headers: &HeaderMap, planned: Move, url: String) -> MoveMade {
    let here = state.host.node_id().unwrap_or("local").to_string();
    let moved = if planned.from == here {
        state
            .host
            .hand_over_to(&planned.to, planned.sessions)
            .await
            .map(|done| done.sessions)
            .map_err(|e| e.to_string())
    } else {
        ask(&planned, headers, &url, &here).await
    };
    let (moved, error) = match moved {
        Ok(n) => (n, None),
        Err(e) => {
            tracing::warn!(from = %planned.from, to = %planned.to, error = %e, "rebalance move failed");
            (0, Some(e))
        }
    };
    MoveMade {
        from: planned.from,
        to: planned.to,
        planned: planned.sessions,
        moved,
        error,
    }
}

/// Asks the node at `url` to hand `planned.sessions` over; how many it did.
async fn ask(planned: &Move, headers: &HeaderMap, url: &str, here: &str) -> Result<u64, String> {
    let path: Uri = format!("/v1/nodes/{}/hand-over", planned.from)
        .parse()
        .map_err(|e| format!("node id {:?}: {e}", planned.from))?;
    let body = serde_json::to_vec(&HandOver {
        to: planned.to.clone(),
        sessions: planned.sessions,
    })
    .map_err(|e| e.to_string())?;
    let request = forward::node_request(Method::POST, path, headers, Some(body));
    let answer = forward::ask_json(request, url, here)
        .await
        .map_err(|e| e.message)?;
    answer["sessions"]
        .as_u64()
        .ok_or_else(|| format!("node answered {answer}"))
}
