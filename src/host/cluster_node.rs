//! This host as a node of a cluster (`--redis`): it joins with its load
//! (and starts its leases, `cluster_leases`), heartbeats it (sessions, capacity, memory) on a task of its own, joins
//! again if the cluster gave it up for dead, says whether the cluster is
//! reachable (readiness), lists the nodes, and leaves on a clean
//! shutdown.
//!
//! Owns: that loop. Must not touch: the Redis keys and scripts
//! (`crate::cluster`), sessions; what it keeps is in `cluster_state`.

use std::sync::{Arc, Weak};

use super::cluster_state::{load_of, NodeInfo, NodeStatus};
use super::pool::Host;
use super::HostError;

impl Host {
    /// Joins the cluster, when there is one, and starts heartbeating.
    /// Errors: the cluster refused this node (an id live elsewhere,
    /// another version) or Redis is unreachable.
    pub async fn join_cluster(self: &Arc<Self>) -> Result<(), HostError> {
        let Some(node) = self.cluster_node() else {
            return Ok(());
        };
        node.cluster.join(load_of(&self.capacity())).await?;
        node.set_reachable(true);
        tracing::info!(node = node.cluster.node_id(), "joined the cluster");
        self.start_leases().await?;
        tokio::spawn(heartbeat(Arc::downgrade(self)));
        self.spawn_event_relays();
        Ok(())
    }

    /// Publishes this node's events to the cluster, and relays the other
    /// nodes' to this host's event streams.
    fn spawn_event_relays(self: &Arc<Self>) {
        let Some(node) = self.cluster_node() else {
            return;
        };
        let mut local = self.subscribe();
        let publisher = node.cluster.clone();
        tokio::spawn(async move {
            loop {
                match local.recv().await {
                    Ok(event) => {
                        if let Some((kind, data)) = event.encode() {
                            if let Err(e) = publisher.publish_event(&kind, &data).await {
                                tracing::debug!(error = %e, "event not published to the cluster");
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "events not published to the cluster: publishing fell behind"
                        );
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        let subscriber = node.cluster.clone();
        tokio::spawn(async move { subscriber.relay_events(tx).await });
        let host = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let Some(host) = host.upgrade() else {
                    return;
                };
                if let Some(node) = host.cluster_node() {
                    node.relay(event);
                }
            }
        });
    }

    /// The other nodes' events from now on; `None` without a cluster.
    pub fn subscribe_cluster(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<crate::cluster::RemoteEvent>> {
        self.cluster_node().map(|n| n.subscribe_remote())
    }

    /// Whether this node may run sessions: its lease in the shared store
    /// is valid (always, without leases).
    pub fn lease_valid(&self) -> bool {
        self.cluster_node().is_none_or(|n| n.leased())
    }

    /// Whether this host is a node of a cluster.
    pub fn in_cluster(&self) -> bool {
        self.cluster_node().is_some()
    }

    /// Every node of the cluster; without one, this host alone.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, HostError> {
        match self.cluster_node() {
            Some(node) => Ok(node
                .cluster
                .nodes()
                .await?
                .into_iter()
                .map(NodeInfo::from)
                .collect()),
            None => {
                let load = load_of(&self.capacity());
                Ok(vec![NodeInfo {
                    id: "local".into(),
                    url: String::new(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    state: NodeStatus::Up,
                    sessions: load.sessions,
                    reserved: 0,
                    capacity: load.capacity,
                    rss_bytes: load.rss_bytes,
                    memory_limit: load.memory_limit,
                    heartbeat_age_ms: 0,
                }])
            }
        }
    }

    /// Leaves the cluster (a clean shutdown): the others see this node
    /// gone at once, and, when every session here has stopped
    /// (`sessions_closed`), adopt the sessions it held at once (else when
    /// its lease runs out: none may connect while one of this node's
    /// still could).
    pub async fn leave_cluster(&self, sessions_closed: bool) {
        if sessions_closed {
            self.end_lease().await;
        }
        if let Some(node) = self.cluster_node() {
            if let Err(e) = node.cluster.leave().await {
                tracing::warn!(error = %e, "could not leave the cluster; it will see this node dead");
            }
        }
    }
}

/// Heartbeats between two looks at the cluster's capacity.
const CAPACITY_EVERY: u32 = 5;

/// Beats until the host is gone; rejoins when given up for dead. Every
/// few beats, looks at the cluster's capacity (its alert).
async fn heartbeat(host: Weak<Host>) {
    let mut beats = 0u32;
    loop {
        let period = match host
            .upgrade()
            .and_then(|h| h.cluster_node().map(|n| n.cluster.config().heartbeat))
        {
            Some(period) => period,
            None => return,
        };
        tokio::time::sleep(period).await;
        let Some(host) = host.upgrade() else {
            return;
        };
        let Some(node) = host.cluster_node() else {
            return;
        };
        let load = load_of(&host.capacity());
        let beat = match node.cluster.heartbeat(load).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::warn!("the cluster gave this node up for dead; joining again");
                match node.cluster.join(load).await {
                    // Joining marks a node up: a draining one stays so.
                    Ok(()) if node.draining() => node.cluster.set_draining(true).await,
                    joined => joined,
                }
            }
            Err(e) => Err(e),
        };
        let was = node.set_reachable(beat.is_ok());
        match beat {
            Err(e) if was => tracing::warn!(error = %e, "cluster heartbeat failed"),
            Ok(()) if !was => tracing::info!("cluster reachable again"),
            _ => {}
        }
        beats = beats.wrapping_add(1);
        if beats % CAPACITY_EVERY == 0 {
            host.check_cluster_capacity().await;
        }
    }
}
