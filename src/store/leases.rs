//! Which node of a cluster runs each session, decided where the sessions'
//! state lives: each node holds a lease it renews on the database's own
//! clock, and each session names the node running it. A session whose
//! node's lease ran out, or that names no node, is free (one offered to
//! a chosen node, only to that node for a while): the first node to
//! adopt it runs it next, and its adoption claims the state (a new
//! epoch), which fences whatever the old node might still try to write.
//!
//! Must not touch: when to renew, adopt or hand over (the host's lease
//! loop decides), and how fast.

use std::fmt;
use std::time::Duration;

use super::StoreError;

/// One node's leases. Only a store shared by every node (PostgreSQL)
/// has them: files belong to one machine, and their sessions cannot
/// move.
pub trait Leases: Send + Sync + fmt::Debug {
    /// The node these leases are for.
    fn node(&self) -> &str;

    /// Keeps this node alive for `ttl` from now, as the database counts
    /// time; past that, its sessions are free for the others.
    fn renew(&self, ttl: Duration) -> Result<(), StoreError>;

    /// Takes up to `max` free sessions for this node (each one claimed,
    /// so their earlier owner is fenced) and returns their ids. Two nodes
    /// adopting at once never take the same session.
    fn adopt(&self, max: usize) -> Result<Vec<String>, StoreError>;

    /// The sessions that name this node.
    fn held(&self) -> Result<Vec<String>, StoreError>;

    /// Hands session `id` over (a drain): it names no node from now on,
    /// and the next node to adopt takes it. Nothing happens when another
    /// node holds it.
    fn release(&self, id: &str) -> Result<(), StoreError>;

    /// Hands session `id` over to node `to` (evening the load): it names
    /// no node from now on, and for a while only `to` may adopt it; after
    /// that (`to` did not come for it) any node may. Nothing happens when
    /// another node holds it.
    fn offer(&self, id: &str, to: &str) -> Result<(), StoreError>;

    /// Ends this node's lease at once (a clean exit): whatever it still
    /// holds is free for the others now.
    fn end(&self) -> Result<(), StoreError>;
}
