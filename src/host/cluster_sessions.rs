//! Sessions in a cluster: where a new one goes (placement: this node or
//! another, whose URL the API forwards the create to), the claim a node
//! holds on each session it runs (taken at create and restore, given up
//! at delete; a create under an id another node holds is refused), and
//! where an existing session lives, so any node can route a request to
//! it.
//!
//! Owns: those steps around the host's own create, delete and restore.
//! Must not touch: the Redis keys and scripts (`crate::cluster`), HTTP
//! (the API forwards).

use super::pool::{CreateSession, Host, SessionInfo};
use super::HostError;

/// Where a new session goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// This node: created here.
    Here(SessionInfo),
    /// Another node, which holds a place for it: forward the create
    /// there (and [`Host::release_place`] if that fails).
    There { node: String, url: String },
}

/// Where an existing session lives, when not here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elsewhere {
    pub node: String,
    pub url: String,
    pub alive: bool,
}

impl Host {
    /// Creates a session where the cluster has most room: here, or a
    /// place reserved on another node. Without a cluster, here.
    pub async fn create_placed(&self, request: CreateSession) -> Result<Placement, HostError> {
        let Some(node) = self.cluster_node() else {
            return Ok(Placement::Here(self.create(request)?));
        };
        let cluster = &node.cluster;
        let Some(chosen) = cluster.place().await? else {
            return Err(HostError::CapacityExhausted {
                max: self.capacity().max_sessions,
            });
        };
        if chosen.node == cluster.node_id() {
            return Ok(Placement::Here(self.create_claimed(request).await?));
        }
        Ok(Placement::There {
            node: chosen.node,
            url: chosen.url,
        })
    }

    /// Creates a session here, placed here (by this node or by the node
    /// that forwarded the create): claims its id in the cluster first,
    /// and turns the reserved place into a session.
    pub async fn create_claimed(
        &self,
        mut request: CreateSession,
    ) -> Result<SessionInfo, HostError> {
        let Some(node) = self.cluster_node() else {
            return self.create(request);
        };
        // A draining node, or one whose lease is in doubt, starts nothing.
        if node.draining() || !node.leased() {
            let _ = node.cluster.release_place(node.cluster.node_id()).await;
            return Err(HostError::ShuttingDown);
        }
        let cluster = &node.cluster;
        let id = request
            .id
            .clone()
            .unwrap_or_else(super::pool::new_session_id);
        request.id = Some(id.clone());
        if let Err(e) = cluster.claim_session(&id).await {
            let _ = cluster.release_place(cluster.node_id()).await;
            return Err(match e {
                crate::cluster::ClusterError::Refused(_) => HostError::AlreadyExists(id),
                other => other.into(),
            });
        }
        match self.create(request) {
            Ok(info) => {
                if let Err(e) = cluster.placed_session_started(cluster.node_id()).await {
                    tracing::warn!(session = %id, error = %e, "placement not settled; the next heartbeat corrects the count");
                }
                Ok(info)
            }
            Err(e) => {
                let _ = cluster.release_place(cluster.node_id()).await;
                if !matches!(e, HostError::AlreadyExists(_)) {
                    self.release_session(&id).await;
                }
                Err(e)
            }
        }
    }

    /// A place reserved on `node` for a create that did not reach it.
    pub async fn release_place(&self, node: &str) {
        if let Some(c) = self.cluster_node() {
            if let Err(e) = c.cluster.release_place(node).await {
                tracing::warn!(node, error = %e, "reserved place not released");
            }
        }
    }

    /// Where session `id` lives when it is not here; `None` here, without
    /// a cluster, or when no node claimed it.
    pub async fn elsewhere(&self, id: &str) -> Result<Option<Elsewhere>, HostError> {
        let Some(node) = self.cluster_node() else {
            return Ok(None);
        };
        let owner = node.cluster.owner_of(id).await?;
        Ok(owner
            .filter(|o| o.node != node.cluster.node_id())
            .map(|o| Elsewhere {
                node: o.node,
                url: o.url,
                alive: o.alive,
            }))
    }

    /// The other live nodes' URLs (to gather what each runs).
    pub async fn other_nodes(&self) -> Result<Vec<(String, String)>, HostError> {
        let Some(node) = self.cluster_node() else {
            return Ok(Vec::new());
        };
        Ok(node
            .cluster
            .nodes()
            .await?
            .into_iter()
            .filter(|n| n.id != node.cluster.node_id())
            .filter(|n| n.state != crate::cluster::NodeState::Dead)
            .map(|n| (n.id, n.url))
            .collect())
    }

    /// This node's id in the cluster, if it is in one.
    pub fn node_id(&self) -> Option<&str> {
        self.cluster_node().map(|c| c.cluster.node_id())
    }

    /// The sessions the leases give this node (`None` without leases:
    /// no shared state, or no cluster).
    pub(super) async fn held_here(
        &self,
    ) -> Result<Option<std::collections::HashSet<String>>, HostError> {
        let Some(leases) = self.cluster_node().and_then(|n| n.leases.clone()) else {
            return Ok(None);
        };
        let held = super::cluster_leases::blocking(move || leases.held()).await?;
        Ok(Some(held.into_iter().collect()))
    }

    /// Whether this node restores session `id`: yes without a cluster;
    /// with leases, when they give it this node (`held`); else when it
    /// can claim it in Redis (no other node holds it). A cluster that
    /// does not answer leaves the session to be restored here.
    pub(super) async fn claim_restored(
        &self,
        id: &str,
        held: Option<&std::collections::HashSet<String>>,
    ) -> bool {
        let Some(node) = self.cluster_node() else {
            return true;
        };
        if let Some(held) = held {
            if !held.contains(id) {
                return false;
            }
            if let Err(e) = node.cluster.route_here(id).await {
                tracing::warn!(session = id, error = %e, "restored session not routed here yet");
            }
            return true;
        }
        match node.cluster.claim_session(id).await {
            Ok(()) => true,
            Err(crate::cluster::ClusterError::Refused(why)) => {
                tracing::debug!(session = id, %why, "left to the node that runs it");
                false
            }
            Err(e) => {
                tracing::warn!(session = id, error = %e, "restored session not claimed in the cluster");
                true
            }
        }
    }

    /// The sessions this node lists: in a cluster, those it runs (and
    /// those no node claimed), so a list gathered from every node holds
    /// each session once even when the nodes share their records.
    pub async fn list_here(&self) -> Result<Vec<SessionInfo>, HostError> {
        let all = self.list()?;
        let Some(node) = self.cluster_node() else {
            return Ok(all);
        };
        let owners = node.cluster.owners().await?;
        let me = node.cluster.node_id();
        Ok(all
            .into_iter()
            .filter(|s| owners.get(&s.id).is_none_or(|owner| owner == me))
            .collect())
    }

    /// A deleted session is no node's any more.
    pub(super) async fn release_session(&self, id: &str) {
        if let Some(node) = self.cluster_node() {
            if let Err(e) = node.cluster.release_session(id).await {
                tracing::warn!(session = id, error = %e, "deleted session not released in the cluster");
            }
        }
    }
}
