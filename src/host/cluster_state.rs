//! What a host keeps of the cluster it is a node of: the handle, whether
//! Redis answered the last heartbeat, the node's leases in the shared
//! store and whether they are valid, the sessions it stopped while they
//! were not, whether it is draining, and the nodes as the API shows them
//! (`cluster_node` and `cluster_leases` run the loops that keep these).
//!
//! Owns: those types. Must not touch: the Redis keys and scripts
//! (`crate::cluster`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::cluster::{Cluster, ClusterError, NodeLoad, NodeState, NodeView, RemoteEvent};

use crate::store::Leases;

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
    /// Which node runs each session, where the state is shared
    /// (`--postgres`); without them sessions never move.
    pub leases: Option<Arc<dyn Leases>>,
    /// This node's lease was renewed recently enough that no other node
    /// can have taken its sessions.
    leased: AtomicBool,
    /// Sessions stopped because the lease could not be renewed: started
    /// again if they are still this node's once it can.
    suspended: Mutex<HashSet<String>>,
    /// Handing its sessions to the others: it adopts none.
    draining: AtomicBool,
}

impl ClusterNode {
    pub fn new(cluster: Cluster, leases: Option<Arc<dyn Leases>>) -> ClusterNode {
        ClusterNode {
            cluster,
            reachable: AtomicBool::new(false),
            remote: tokio::sync::broadcast::channel(REMOTE_EVENTS).0,
            leased: AtomicBool::new(leases.is_none()),
            leases,
            suspended: Mutex::new(HashSet::new()),
            draining: AtomicBool::new(false),
        }
    }

    /// Whether this node may run sessions now: its lease is valid (always,
    /// without leases).
    pub fn leased(&self) -> bool {
        self.leased.load(Ordering::Relaxed)
    }

    /// Notes whether the lease is valid; returns what was noted before.
    pub fn set_leased(&self, leased: bool) -> bool {
        self.leased.swap(leased, Ordering::Relaxed)
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn set_draining(&self, draining: bool) {
        self.draining.store(draining, Ordering::Relaxed);
    }

    /// Remembers sessions stopped while the lease was in doubt.
    pub fn suspend(&self, ids: impl IntoIterator<Item = String>) {
        self.lock_suspended().extend(ids);
    }

    /// The sessions stopped while the lease was in doubt, forgotten here.
    pub fn take_suspended(&self) -> Vec<String> {
        self.lock_suspended().drain().collect()
    }

    fn lock_suspended(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // A set of ids cannot be left half-updated by a panic.
        self.suspended.lock().unwrap_or_else(|p| p.into_inner())
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
