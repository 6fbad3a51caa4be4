//! The capacity of a cluster: every node's load summed (`GET
//! /v1/capacity` shows it beside the node's own), and the cluster's 80%
//! alert — the seed's "RAM per worker", for the whole pool of nodes.
//!
//! Each node raises its own alert as on a single node (naming itself).
//! Every node looks at the cluster's sum every few heartbeats; the
//! alert's state lives in Redis, and the node whose swap changed it is
//! the one that says so: a cluster of ten does not say it ten times, and
//! a node going away takes nothing with it.
//!
//! Owns: the sum and when the cluster's alert changes. Must not touch:
//! the heartbeats (`cluster_node` calls in here), Redis keys.

use serde::Serialize;

use super::capacity::{next_alert, utilization, ALERT_AT};
use super::cluster_state::{NodeInfo, NodeStatus};
use super::event::{CapacityEvent, HostEventKind};
use super::pool::Host;
use super::HostError;

/// The cluster's capacity, from the nodes' last heartbeats.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ClusterCapacity {
    /// Sessions on the nodes that are up or draining.
    pub sessions: u64,
    /// Places on the nodes that are up (draining nodes take no session).
    pub max_sessions: u64,
    /// sessions / max_sessions.
    pub utilization: f64,
    /// Past 80% now.
    pub alert: bool,
    /// Every node that is not dead.
    pub nodes: Vec<NodeCapacity>,
}

/// One node's part of [`ClusterCapacity`].
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NodeCapacity {
    pub id: String,
    pub state: NodeStatus,
    pub sessions: u64,
    pub max_sessions: u64,
    /// Its sessions against its capacity, or its memory against its
    /// limit when that is higher.
    pub utilization: f64,
    /// Past 80% now.
    pub alert: bool,
}

/// The sum of `nodes`.
pub fn sum_capacity(nodes: &[NodeInfo]) -> ClusterCapacity {
    let alive: Vec<&NodeInfo> = nodes
        .iter()
        .filter(|n| n.state != NodeStatus::Dead)
        .collect();
    let sessions = alive.iter().map(|n| n.sessions).sum();
    let max_sessions = alive
        .iter()
        .filter(|n| n.state == NodeStatus::Up)
        .map(|n| n.capacity)
        .sum();
    let cluster = utilization(sessions, max_sessions, None, None);
    ClusterCapacity {
        sessions,
        max_sessions,
        utilization: cluster,
        alert: cluster >= ALERT_AT,
        nodes: alive
            .iter()
            .map(|n| {
                let limit = (n.memory_limit > 0).then_some(n.memory_limit);
                let used = utilization(n.sessions, n.capacity, Some(n.rss_bytes), limit);
                NodeCapacity {
                    id: n.id.clone(),
                    state: n.state,
                    sessions: n.sessions,
                    max_sessions: n.capacity,
                    utilization: used,
                    alert: used >= ALERT_AT,
                }
            })
            .collect(),
    }
}

impl Host {
    /// The cluster's capacity; `None` without a cluster.
    pub async fn cluster_capacity(&self) -> Result<Option<ClusterCapacity>, HostError> {
        if !self.in_cluster() {
            return Ok(None);
        }
        Ok(Some(sum_capacity(&self.nodes().await?)))
    }

    /// Raises or clears the cluster's alert when its sum crossed the
    /// line, and says so if this node made the change.
    pub(super) async fn check_cluster_capacity(&self) {
        if let Err(e) = self.try_check_cluster_capacity().await {
            tracing::debug!(error = %e, "cluster capacity not checked");
        }
    }

    async fn try_check_cluster_capacity(&self) -> Result<(), HostError> {
        let Some(node) = self.cluster_node() else {
            return Ok(());
        };
        let sum = sum_capacity(&self.nodes().await?);
        let raised = node.cluster.alert_raised().await?;
        let Some(raise) = next_alert(raised, sum.utilization) else {
            return Ok(());
        };
        if node.cluster.swap_alert(raise).await? == raise {
            return Ok(()); // another node made the change first
        }
        let up = sum
            .nodes
            .iter()
            .filter(|n| n.state == NodeStatus::Up)
            .count();
        let (sessions, max_sessions, utilization) =
            (sum.sessions, sum.max_sessions, sum.utilization);
        let event = if raise {
            tracing::warn!(
                sessions,
                max_sessions,
                utilization,
                nodes = up,
                "cluster capacity alert: past 80%"
            );
            CapacityEvent::ClusterAlert {
                sessions,
                max_sessions,
                utilization,
                nodes: up,
            }
        } else {
            tracing::info!(
                sessions,
                max_sessions,
                utilization,
                nodes = up,
                "cluster capacity recovered"
            );
            CapacityEvent::ClusterRecovered {
                sessions,
                max_sessions,
                utilization,
                nodes: up,
            }
        };
        self.fanout.publish(None, HostEventKind::Capacity(event));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, state: NodeStatus, sessions: u64, capacity: u64) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            url: String::new(),
            version: String::new(),
            state,
            sessions,
            reserved: 0,
            capacity,
            rss_bytes: 0,
            memory_limit: 0,
            heartbeat_age_ms: 0,
        }
    }

    #[test]
    fn the_cluster_sums_its_live_nodes_and_draining_ones_give_no_room() {
        let nodes = [
            node("n1", NodeStatus::Up, 90, 100),
            node("n2", NodeStatus::Up, 70, 100),
            node("n3", NodeStatus::Draining, 10, 100),
            node("n4", NodeStatus::Dead, 50, 100),
        ];
        let sum = sum_capacity(&nodes);
        assert_eq!((sum.sessions, sum.max_sessions), (170, 200));
        assert!((sum.utilization - 0.85).abs() < 1e-9);
        assert!(sum.alert);
        let ids: Vec<&str> = sum.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["n1", "n2", "n3"]);
        let alerts: Vec<bool> = sum.nodes.iter().map(|n| n.alert).collect();
        assert_eq!(alerts, [true, false, false]);
    }

    #[test]
    fn a_node_short_of_memory_is_in_alert_with_few_sessions() {
        let mut full = node("n1", NodeStatus::Up, 1, 100);
        full.rss_bytes = 900;
        full.memory_limit = 1000;
        let sum = sum_capacity(&[full, node("n2", NodeStatus::Up, 0, 100)]);
        assert!(sum.nodes[0].alert);
        assert!(!sum.alert);
    }
}
