//! Cluster membership and placement, shared through Redis: which nodes
//! are alive (each registers itself and heartbeats with a TTL), what each
//! carries (sessions, reservations, memory, capacity), and where a new
//! session goes (the live node with the lowest load, chosen and reserved
//! in one Lua script so concurrent creates on any nodes never over-fill
//! one).
//!
//! Owns: the Redis keys under the cluster's prefix and every command on
//! them (`node`: the handle; `keys`, `membership`, `placement`, and
//! `owners`: which node runs each session, for routing; `events`: every
//! node's events relayed to the others; `alerts`: the cluster's capacity
//! alert). Must not touch: sessions,
//! their state or the HTTP API (the host calls in here and reports its
//! counts); ownership of a session's state is fenced where the state
//! lives (PostgreSQL), never by Redis alone.
//!
//! Redis standalone (or behind Sentinel); the scripts name keys built at
//! run time, which Redis Cluster would refuse.

/// The opening of a script that needs the time: `now`, Redis's own
/// clock in ms, so the nodes' clocks never disagree about who is alive.
macro_rules! lua_now {
    () => {
        "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    };
}

/// A Lua script, hashed once (its SHA-1 names it to `EVALSHA`).
macro_rules! script {
    ($($source:expr),+ $(,)?) => {
        std::sync::LazyLock::new(|| redis::Script::new(concat!($($source),+)))
    };
}

mod alerts;
mod error;
mod events;
mod keys;
mod membership;
mod node;
mod owners;
mod placement;

pub use error::ClusterError;
pub use events::RemoteEvent;
pub use membership::{NodeLoad, NodeState, NodeView};
pub use node::{valid_node_id, Cluster, ClusterConfig};
pub use owners::Owner;
pub use placement::Placed;
