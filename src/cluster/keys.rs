//! The Redis keys of one cluster, all under its prefix:
//! `{prefix}:events` (the pub/sub channel of the nodes' events),
//! `{prefix}:nodes` (sorted set: node id → last heartbeat, ms since the
//! epoch), `{prefix}:owners` (hash: session id → the node running it),
//! `{prefix}:capacity_alert` ("1" while the cluster's alert is raised)
//! and `{prefix}:node:{id}` (hash: `url`, `version`, `state`, `capacity`,
//! `sessions`, `reserved`, `rss`, `started`, `key`; it expires when
//! heartbeats stop).

#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    /// Every node ever heard of, scored by its last heartbeat.
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// The pub/sub channel of every node's events.
    pub fn events(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// Which node runs each session.
    pub fn owners(&self) -> String {
        format!("{}:owners", self.prefix)
    }

    /// The cluster's capacity alert.
    pub fn capacity_alert(&self) -> String {
        format!("{}:capacity_alert", self.prefix)
    }

    /// One node's fields.
    pub fn node(&self, id: &str) -> String {
        format!("{}:node:{id}", self.prefix)
    }

    /// The prefix of node hashes, for scripts that build the key of each
    /// node they visit.
    pub fn node_prefix(&self) -> String {
        format!("{}:node:", self.prefix)
    }
}
