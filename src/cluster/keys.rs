//! The Redis keys of one cluster, all under its prefix:
//! `{prefix}:nodes` (sorted set: node id → last heartbeat, ms since the
//! epoch) and `{prefix}:node:{id}` (hash: `url`, `version`, `state`,
//! `capacity`, `sessions`, `reserved`, `rss`, `started`; it expires when
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
