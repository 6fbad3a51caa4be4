//! Handing this node's sessions to the others: a drain (`POST
//! /v1/nodes/{id}/drain`, before maintenance or a rolling deploy) and a
//! clean exit (SIGTERM).
//!
//! A drain marks the node draining (no new session is placed on it, it
//! adopts none), then stops each of its sessions and only then hands it
//! over in the shared store, so the node that adopts it never connects
//! while this one still is. Messages sent to a session meanwhile wait on
//! WhatsApp's server for its next connection, on the new node. A clean
//! exit ends the lease once every session has stopped: what the node held
//! is free for the others at once, rather than after the dead-after time.
//!
//! Owns: those steps. Must not touch: the lease records (`store`) or
//! Redis (`crate::cluster`) beyond calling them.

use futures_util::StreamExt as _;
use serde::Serialize;

use crate::store::Leases;

use super::cluster_leases::blocking;
use super::cluster_state::ClusterNode;
use super::pool::Host;
use super::HostError;

/// Sessions stopped and handed over at once during a drain.
const HAND_OVERS_AT_ONCE: usize = 16;

/// What a drain did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Drained {
    /// The node drained.
    pub node: String,
    /// Sessions handed to the other nodes.
    pub sessions: usize,
}

impl Host {
    /// Drains this node: every session it holds goes to the other nodes.
    /// Refused outside a cluster sharing its state (`--postgres`), and
    /// when no other node is up to take the sessions.
    pub async fn drain(&self) -> Result<Drained, HostError> {
        let (node, leases) = self.movable(HostError::CannotDrain)?;
        let me = node.cluster.node_id().to_string();
        let others = node
            .cluster
            .nodes()
            .await?
            .into_iter()
            .filter(|n| n.id != me && n.state == crate::cluster::NodeState::Up)
            .count();
        if others == 0 {
            return Err(HostError::CannotDrain(
                "no other node is up to take its sessions".into(),
            ));
        }
        node.set_draining(true);
        node.cluster.set_draining(true).await?;
        let mut ids = self.running.live_ids();
        let all_held = leases.clone();
        match blocking(move || all_held.held()).await {
            Ok(held) => ids.extend(held),
            Err(e) => tracing::warn!(error = %e, "sessions held but not running stay here"),
        }
        ids.sort();
        ids.dedup();
        let handed = self.hand_over_all(ids, leases, None).await;
        tracing::info!(
            sessions = handed,
            "drained: sessions handed to the other nodes"
        );
        Ok(Drained {
            node: me,
            sessions: handed,
        })
    }

    /// This node and its leases, when its sessions can move; refused
    /// with `refuse(why)` otherwise.
    pub(super) fn movable(
        &self,
        refuse: fn(String) -> HostError,
    ) -> Result<(&ClusterNode, std::sync::Arc<dyn Leases>), HostError> {
        let node = self
            .cluster_node()
            .ok_or_else(|| refuse("this service is not a node of a cluster".into()))?;
        let leases = node.leases.clone().ok_or_else(|| {
            refuse(
                "sessions move between nodes only when they share their state: \
                 start every node with --postgres"
                    .into(),
            )
        })?;
        Ok((node, leases))
    }

    /// Hands sessions `ids` over, [`HAND_OVERS_AT_ONCE`] at a time, to
    /// node `to` when one is named; how many went.
    pub(super) async fn hand_over_all(
        &self,
        ids: Vec<String>,
        leases: std::sync::Arc<dyn Leases>,
        to: Option<&str>,
    ) -> usize {
        let handed = futures_util::stream::iter(ids)
            .map(|id| self.hand_over(id, leases.clone(), to.map(str::to_string)))
            .buffer_unordered(HAND_OVERS_AT_ONCE)
            .filter(|moved| std::future::ready(*moved))
            .count()
            .await;
        self.check_capacity();
        handed
    }

    /// Stops session `id` here, then hands it over, to node `to` when one
    /// is named; whether it went. One the store could not hand over runs
    /// here again.
    async fn hand_over(
        &self,
        id: String,
        leases: std::sync::Arc<dyn Leases>,
        to: Option<String>,
    ) -> bool {
        let was_running = self.stop_here(&id).await;
        let session = id.clone();
        let handed = blocking(move || match to {
            Some(to) => leases.offer(&session, &to),
            None => leases.release(&session),
        });
        match handed.await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "not handed over; it stays here");
                if was_running {
                    if let Err(e) = self.start_owned(&id).await {
                        tracing::warn!(session = %id, error = %e, "could not start it again");
                    }
                }
                false
            }
        }
    }

    /// Ends this node's lease (a clean exit, once every session here has
    /// stopped): the others adopt what it held at once.
    pub(super) async fn end_lease(&self) {
        let Some(leases) = self.cluster_node().and_then(|n| n.leases.clone()) else {
            return;
        };
        match blocking(move || leases.end()).await {
            Ok(()) => tracing::info!("lease ended: the other nodes take this node's sessions"),
            Err(e) => tracing::warn!(
                error = %e,
                "lease not ended; the others take the sessions once it runs out"
            ),
        }
    }
}
