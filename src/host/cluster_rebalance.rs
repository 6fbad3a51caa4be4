//! Evening the load of a cluster: which sessions should move where
//! ([`plan_rebalance`], a pure function of the nodes' loads), and this
//! node's part of a move ([`Host::hand_over_to`]).
//!
//! A node that came back after a failure, or joined, starts empty: new
//! sessions go to it first (least-load placement), but the ones already
//! running stay where failover put them. A rebalance gives every node up
//! its share of the sessions, in proportion to its capacity. Each move
//! stops a session on its node and offers it to the node it should go to
//! (`store::Leases::offer`), which adopts it within a heartbeat period;
//! an offer nobody takes in time is open to every node, so a receiver
//! that dies meanwhile strands nothing.
//!
//! Owns: the plan and the hand-over of a number of sessions. Must not
//! touch: HTTP (the API asks each node for its part), the lease records.

use serde::Serialize;

use super::cluster_state::{NodeInfo, NodeStatus};
use super::pool::Host;
use super::HostError;

/// Sessions to move from one node to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Move {
    pub from: String,
    pub to: String,
    pub sessions: u64,
}

/// What a hand-over did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HandedOver {
    /// The node that gave the sessions up.
    pub node: String,
    /// The node they were offered to.
    pub to: String,
    /// Sessions stopped here and offered to it.
    pub sessions: u64,
}

/// The moves that give every node up (not draining, with room for
/// sessions) a share of all their sessions in proportion to its capacity;
/// none when no node is more than one session from its share.
pub fn plan_rebalance(nodes: &[NodeInfo]) -> Vec<Move> {
    let up: Vec<&NodeInfo> = nodes
        .iter()
        .filter(|n| n.state == NodeStatus::Up && n.capacity > 0)
        .collect();
    let total: u64 = up.iter().map(|n| n.sessions).sum();
    let room: u64 = up.iter().map(|n| n.capacity).sum();
    if up.len() < 2 || total == 0 || room == 0 {
        return Vec::new();
    }
    // Each node's share, rounded down; the sessions left over go one
    // each to the nodes holding the most now (they keep them: fewer moves).
    let mut share: Vec<u64> = up
        .iter()
        .map(|n| (u128::from(total) * u128::from(n.capacity) / u128::from(room)) as u64)
        .collect();
    let mut left = total - share.iter().sum::<u64>();
    let mut by_load: Vec<usize> = (0..up.len()).collect();
    by_load.sort_by(|&a, &b| up[b].sessions.cmp(&up[a].sessions).then(a.cmp(&b)));
    for &i in by_load.iter().cycle().take(up.len() * 2) {
        if left == 0 {
            break;
        }
        if share[i] < up[i].capacity {
            share[i] += 1;
            left -= 1;
        }
    }
    let mut givers: Vec<(usize, u64)> = (0..up.len())
        .filter(|&i| up[i].sessions > share[i])
        .map(|i| (i, up[i].sessions - share[i]))
        .collect();
    let mut takers: Vec<(usize, u64)> = (0..up.len())
        .filter(|&i| share[i] > up[i].sessions)
        .map(|i| (i, share[i] - up[i].sessions))
        .collect();
    let mut moves = Vec::new();
    let (mut g, mut t) = (0, 0);
    while g < givers.len() && t < takers.len() {
        let n = givers[g].1.min(takers[t].1);
        moves.push(Move {
            from: up[givers[g].0].id.clone(),
            to: up[takers[t].0].id.clone(),
            sessions: n,
        });
        givers[g].1 -= n;
        takers[t].1 -= n;
        if givers[g].1 == 0 {
            g += 1;
        }
        if takers[t].1 == 0 {
            t += 1;
        }
    }
    moves
}

impl Host {
    /// Stops up to `count` of this node's sessions and offers them to
    /// node `to`, which starts them from the shared state. Refused
    /// outside a cluster sharing its state, and when `to` is this node or
    /// not up.
    pub async fn hand_over_to(&self, to: &str, count: u64) -> Result<HandedOver, HostError> {
        let (node, leases) = self.movable(HostError::CannotMove)?;
        let me = node.cluster.node_id().to_string();
        if to == me {
            return Err(HostError::CannotMove(format!(
                "node {me} cannot hand sessions to itself"
            )));
        }
        let target = node
            .cluster
            .nodes()
            .await?
            .into_iter()
            .find(|n| n.id == to)
            .ok_or_else(|| HostError::NodeNotFound(to.to_string()))?;
        if target.state != crate::cluster::NodeState::Up {
            return Err(HostError::CannotMove(format!(
                "node {to} is not up to take sessions"
            )));
        }
        let mut ids = self.running.live_ids();
        ids.sort();
        ids.truncate(usize::try_from(count).unwrap_or(usize::MAX));
        let moved = self.hand_over_all(ids, leases, Some(to)).await;
        tracing::info!(sessions = moved, to, "sessions handed to another node");
        Ok(HandedOver {
            node: me,
            to: to.to_string(),
            sessions: moved as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, sessions: u64, capacity: u64) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            url: String::new(),
            version: String::new(),
            state: NodeStatus::Up,
            sessions,
            reserved: 0,
            capacity,
            rss_bytes: 0,
            memory_limit: 0,
            heartbeat_age_ms: 0,
        }
    }

    fn mv(from: &str, to: &str, sessions: u64) -> Move {
        Move {
            from: from.into(),
            to: to.into(),
            sessions,
        }
    }

    #[test]
    fn a_node_back_from_a_failure_gets_its_share() {
        let nodes = [
            node("n1", 500, 1000),
            node("n2", 500, 1000),
            node("n3", 0, 1000),
        ];
        assert_eq!(
            plan_rebalance(&nodes),
            vec![mv("n1", "n3", 166), mv("n2", "n3", 167)]
        );
    }

    #[test]
    fn shares_follow_capacity() {
        let nodes = [node("big", 0, 2000), node("small", 300, 1000)];
        assert_eq!(plan_rebalance(&nodes), vec![mv("small", "big", 200)]);
    }

    #[test]
    fn a_balanced_cluster_moves_nothing() {
        let nodes = [
            node("n1", 334, 1000),
            node("n2", 333, 1000),
            node("n3", 333, 1000),
        ];
        assert_eq!(plan_rebalance(&nodes), vec![]);
        assert_eq!(
            plan_rebalance(&[node("n1", 0, 10), node("n2", 0, 10)]),
            vec![]
        );
    }

    #[test]
    fn draining_dead_and_routing_only_nodes_take_nothing() {
        let mut draining = node("d", 0, 1000);
        draining.state = NodeStatus::Draining;
        let mut dead = node("x", 0, 1000);
        dead.state = NodeStatus::Dead;
        let router = node("r", 0, 0);
        let nodes = [
            node("n1", 10, 1000),
            draining,
            dead,
            router,
            node("n2", 0, 1000),
        ];
        assert_eq!(plan_rebalance(&nodes), vec![mv("n1", "n2", 5)]);
        assert_eq!(plan_rebalance(&[node("alone", 10, 1000)]), vec![]);
    }
}
