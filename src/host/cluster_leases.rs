//! Failover: this node's lease on its sessions, kept where their state
//! lives (`store::Leases`, PostgreSQL), and the sessions it takes over
//! from nodes that died.
//!
//! Two loops run beside the cluster heartbeat:
//! - the lease loop renews this node's lease every heartbeat period. When
//!   it has not been renewed for half the time after which the others
//!   count the node dead (`--node-dead-after`), every session here stops
//!   at once, before another node may take it: one session never has two
//!   live connections. Once the lease is renewed again, the stopped
//!   sessions that are still this node's start again; the others' new
//!   owners run them.
//! - the adoption loop takes free sessions (their node's lease ran out,
//!   or a drain handed them over) in batches sized by this node's free
//!   room, so the emptier nodes take more, and starts them paced and
//!   jittered like a restore. Each adoption claims the session's state,
//!   which fences anything its old node might still try to write.
//!
//! Owns: those loops and the steps they take on sessions. Must not touch:
//! the lease records (`store`), Redis (`crate::cluster`; only the routing
//! entry of an adopted session is updated through it).

use std::sync::{Arc, Weak};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::store::Leases;

use super::pool::{target_of, Host};
use super::HostError;

/// Adoption steps per heartbeat period.
const ADOPT_STEPS: u32 = 10;

/// How long one session may take to stop before it is left behind.
const STOP_LIMIT: Duration = Duration::from_secs(5);

impl Host {
    /// Renews this node's lease once (before restore: the sessions it
    /// restores are its own from then on) and starts the lease and
    /// adoption loops. Nothing to do without leases.
    pub(super) async fn start_leases(self: &Arc<Self>) -> Result<(), HostError> {
        let Some((leases, ttl)) = self.leases() else {
            return Ok(());
        };
        blocking(move || leases.renew(ttl)).await?;
        if let Some(node) = self.cluster_node() {
            node.set_leased(true);
        }
        tokio::spawn(lease_loop(Arc::downgrade(self)));
        tokio::spawn(adoption_loop(Arc::downgrade(self)));
        Ok(())
    }

    /// This node's leases and how long a renewal keeps it alive.
    fn leases(&self) -> Option<(Arc<dyn Leases>, Duration)> {
        let node = self.cluster_node()?;
        let leases = node.leases.clone()?;
        Some((leases, node.cluster.config().dead_after))
    }

    /// Stops session `id` here, keeping its state (its next owner starts
    /// from it); whether it was running here.
    pub(super) async fn stop_here(&self, id: &str) -> bool {
        let _lock = self.locks.lock(id).await;
        let Some(client) = self.running.take(id) else {
            return false;
        };
        if tokio::time::timeout(STOP_LIMIT, client.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(session = id, "session did not stop in time; left behind");
        }
        true
    }

    /// Starts session `id`, which the leases gave this node: routes it
    /// here and runs it from its stored state. Whether it started (a
    /// session deleted meanwhile, or already running here, does not).
    pub(super) async fn start_owned(&self, id: &str) -> Result<bool, HostError> {
        let _lock = self.locks.lock(id).await;
        let Some(record) = self.records.get(id)? else {
            return Ok(false);
        };
        if self
            .running
            .get(id)
            .is_some_and(|c| !c.status().is_terminal())
        {
            return Ok(false);
        }
        // Records are shared: a session created on another node has no
        // webhook target here yet.
        self.webhooks.set_target(id, target_of(&record));
        if let Some(node) = self.cluster_node() {
            if let Err(e) = node.cluster.route_here(id).await {
                tracing::warn!(session = id, error = %e, "adopted session not routed here yet");
            }
        }
        self.start(id)?;
        Ok(true)
    }

    /// Stops every session here: the lease may have run out.
    async fn suspend_all(&self) {
        let ids = self.running.live_ids();
        tracing::error!(
            sessions = ids.len(),
            "lease not renewed in time: stopping every session before another node takes it"
        );
        let stops = ids.iter().map(|id| self.stop_here(id));
        futures_util::future::join_all(stops).await;
        if let Some(node) = self.cluster_node() {
            node.suspend(ids);
        }
    }

    /// The lease is valid again: starts the stopped sessions still this
    /// node's.
    async fn resume(&self, leases: &Arc<dyn Leases>) {
        let Some(node) = self.cluster_node() else {
            return;
        };
        let ids = node.take_suspended();
        let leases = leases.clone();
        let held: std::collections::HashSet<String> = match blocking(move || leases.held()).await {
            Ok(held) => held.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "leases unknown; stopped sessions resumed later");
                node.suspend(ids);
                return;
            }
        };
        let mut resumed = 0;
        for id in ids {
            if !held.contains(&id) {
                tracing::info!(session = %id, "taken over by another node");
                continue;
            }
            match self.start_owned(&id).await {
                Ok(started) => resumed += usize::from(started),
                Err(e) => tracing::warn!(session = %id, error = %e, "not resumed"),
            }
        }
        tracing::info!(resumed, "lease renewed again");
    }
}

/// Renews the lease every heartbeat period; stops every session when it
/// could not for half the dead-after time.
async fn lease_loop(host: Weak<Host>) {
    let mut renewed = Instant::now();
    loop {
        let Some((leases, ttl, period)) = host.upgrade().and_then(|h| {
            let (leases, ttl) = h.leases()?;
            let period = h.cluster_node()?.cluster.config().heartbeat;
            Some((leases, ttl, period))
        }) else {
            return;
        };
        tokio::time::sleep(period).await;
        let sent = Instant::now();
        let renewal = {
            let leases = leases.clone();
            tokio::time::timeout(period, blocking(move || leases.renew(ttl))).await
        };
        let Some(host) = host.upgrade() else {
            return;
        };
        if host.closing() {
            return;
        }
        let Some(node) = host.cluster_node() else {
            return;
        };
        match renewal {
            Ok(Ok(())) => {
                renewed = sent;
                if !node.set_leased(true) {
                    host.resume(&leases).await;
                }
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {period:?}"),
                };
                tracing::warn!(error = %why, "lease not renewed");
                // The others count this node dead `ttl` after its last
                // renewal reached the database, which is after `renewed`:
                // stopping at half of it leaves the other half to close.
                if renewed.elapsed() >= ttl / 2 && node.set_leased(false) {
                    host.suspend_all().await;
                }
            }
        }
    }
}

/// Takes free sessions, each period, while this node has room.
async fn adoption_loop(host: Weak<Host>) {
    loop {
        let Some(period) = host
            .upgrade()
            .and_then(|h| h.cluster_node().map(|n| n.cluster.config().heartbeat))
        else {
            return;
        };
        tokio::time::sleep(period).await;
        loop {
            let Some(host) = host.upgrade() else {
                return;
            };
            match host.adopt_batch(period).await {
                // A full batch: there may be more waiting.
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "adoption failed; trying again");
                    break;
                }
            }
        }
    }
}

impl Host {
    /// Adopts one batch of free sessions and starts them, paced; whether
    /// the batch was full.
    async fn adopt_batch(&self, period: Duration) -> Result<bool, HostError> {
        let Some(node) = self.cluster_node() else {
            return Ok(false);
        };
        let Some((leases, _)) = self.leases() else {
            return Ok(false);
        };
        if self.closing() || !self.is_restored() || !node.leased() || node.draining() {
            return Ok(false);
        }
        let rate = self.restore_rate();
        // Small steps (a tenth of a period's worth), so that the nodes
        // adopting at once take turns instead of the first one taking
        // all it has room for.
        let step = period / ADOPT_STEPS;
        let batch = batch_size(self.free_places(), self.max_sessions(), rate, step);
        if batch == 0 {
            return Ok(false);
        }
        let adopted = blocking(move || leases.adopt(batch)).await?;
        if adopted.is_empty() {
            return Ok(false);
        }
        tracing::info!(sessions = adopted.len(), "adopting sessions of other nodes");
        let pace = Duration::from_secs(1) / rate;
        let full = adopted.len() == batch;
        for id in adopted {
            if self.closing() {
                break;
            }
            match self.start_owned(&id).await {
                Ok(_) => {}
                Err(e) => tracing::warn!(session = %id, error = %e, "adopted session not started"),
            }
            let jitter = rand::thread_rng().gen_range(0.5..1.5);
            tokio::time::sleep(pace.mul_f64(jitter)).await;
        }
        self.check_capacity();
        Ok(full)
    }
}

/// How many sessions to adopt at once: `period`'s worth at the restore
/// pace, scaled by the share of this node's places still free (so the
/// emptier nodes of a cluster take more), never past the free places.
fn batch_size(free: usize, max: usize, rate: u32, period: Duration) -> usize {
    if free == 0 || max == 0 {
        return 0;
    }
    let per_period = (f64::from(rate) * period.as_secs_f64()).max(1.0);
    let share = free as f64 / max as f64;
    ((per_period * share).ceil() as usize).clamp(1, free)
}

/// Runs a store call off the async workers (every lease call of the
/// cluster files goes through here).
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, HostError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => Ok(result?),
        Err(e) => Err(HostError::Cluster(format!("store call failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::batch_size;
    use std::time::Duration;

    #[test]
    fn emptier_nodes_adopt_more_and_never_past_their_room() {
        let period = Duration::from_secs(2);
        assert_eq!(batch_size(1000, 1000, 100, period), 200);
        assert_eq!(batch_size(250, 1000, 100, period), 50);
        assert_eq!(batch_size(3, 1000, 100, period), 1);
        assert_eq!(batch_size(3, 4, 100, period), 3);
        assert_eq!(batch_size(0, 1000, 100, period), 0);
        assert_eq!(batch_size(5, 0, 100, period), 0);
    }
}
