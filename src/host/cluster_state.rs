//! What a host keeps of the cluster it is a node of: the handle, whether
//! Redis answered the last heartbeat, and the nodes as the API shows
//! them (`cluster_node` runs the loop that keeps these).
//!
//! Owns: those types. Must not touch: the Redis keys and scripts
//! (`crate::cluster`).

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::cluster::{Cluster, ClusterError, NodeLoad, NodeState, NodeView, RemoteEvent};

use super::capacity::CapacityReport;
use super::HostError;

/// Other nodes' events a host relays to its streams, at most this many
/// behind the slowest reader (as the host's own fan-out).
const REMOTE_EVENTS: usize = 1024;

/// The cluster as this host sees it.
#[derive(Debug)]
pub struct ClusterNode {
    pub cluster: Cluster,
    /// The last heartbeat reached Redis.
    reachable: AtomicBool,
    /// The other nodes' events, for this host's event streams.
    remote: tokio::sync::broadcast::Sender<RemoteEvent>,
}

impl ClusterNode {
    pub fn new(cluster: Cluster) -> ClusterNode {
        ClusterNode {
            cluster,
            reachable: AtomicBool::new(false),
            remote: tokio::sync::broadcast::channel(REMOTE_EVENTS).0,
        }
    }

    /// The other nodes' events from now on.
    pub fn subscribe_remote(&self) -> tokio::sync::broadcast::Receiver<RemoteEvent> {
        self.remote.subscribe()
    }

    /// Hands an event another node published to this host's streams.
    pub fn relay(&self, event: RemoteEvent) {
        // No stream open: nobody to tell.
        let _ = self.remote.send(event);
    }

    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// Notes whether Redis answered; returns what was noted before.
    pub fn set_reachable(&self, reachable: bool) -> bool {
        self.reachable.swap(reachable, Ordering::Relaxed)
    }
}

/// A node's state, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Heartbeating; takes new sessions.
    Up,
    /// Heartbeating; takes no new session.
    Draining,
    /// Silent past the deadline (`--node-dead-after`).
    Dead,
}

/// One node as `GET /v1/nodes` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NodeInfo {
    pub id: String,
    /// Where the other nodes reach it (`--advertise`).
    pub url: String,
    pub version: String,
    pub state: NodeStatus,
    pub sessions: u64,
    /// Places promised to sessions being created on it.
    pub reserved: u64,
    pub capacity: u64,
    pub rss_bytes: u64,
    /// 0 when unknown.
    pub memory_limit: u64,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: u64,
}

impl From<NodeView> for NodeInfo {
    fn from(n: NodeView) -> NodeInfo {
        NodeInfo {
            id: n.id,
            url: n.url,
            version: n.version,
            state: match n.state {
                NodeState::Up => NodeStatus::Up,
                NodeState::Draining => NodeStatus::Draining,
                NodeState::Dead => NodeStatus::Dead,
            },
            sessions: n.sessions,
            reserved: n.reserved,
            capacity: n.capacity,
            rss_bytes: n.rss_bytes,
            memory_limit: n.memory_limit,
            heartbeat_age_ms: n.heartbeat_age_ms,
        }
    }
}

/// What a host reports of itself to the cluster.
pub fn load_of(report: &CapacityReport) -> NodeLoad {
    NodeLoad {
        sessions: report.sessions as u64,
        capacity: report.max_sessions as u64,
        memory_limit: report.memory.limit_bytes.unwrap_or(0),
        rss_bytes: report.memory.rss_bytes.unwrap_or(0),
    }
}

impl From<ClusterError> for HostError {
    fn from(e: ClusterError) -> HostError {
        HostError::Cluster(e.to_string())
    }
}
