//! A node's handle on the cluster: its configuration and a Redis
//! connection that reconnects by itself.

use std::time::Duration;

use super::error::ClusterError;
use super::keys;

/// How a node joins the cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// `redis://host:port/db`.
    pub redis_url: String,
    /// This node's id: `[A-Za-z0-9_-]{1,64}`, unique among live nodes.
    pub node_id: String,
    /// Where the other nodes reach this one (`http://10.0.0.5:8080`).
    pub advertise: String,
    /// The key prefix all nodes of one cluster share.
    pub prefix: String,
    /// How often this node heartbeats.
    pub heartbeat: Duration,
    /// A node silent this long is dead.
    pub dead_after: Duration,
    /// This build's version: nodes of another version are refused.
    pub version: String,
    /// A digest of the secret the nodes share (their API key; empty when
    /// they have none): a node whose digest differs from the live nodes'
    /// is refused, since every request it forwards would be refused.
    pub key_check: String,
}

impl ClusterConfig {
    /// A node `node_id` reachable at `advertise`, with the defaults:
    /// prefix `wasp`, heartbeat every 2 s, dead after 8 s.
    pub fn new(redis_url: &str, node_id: &str, advertise: &str) -> ClusterConfig {
        ClusterConfig {
            redis_url: redis_url.to_string(),
            node_id: node_id.to_string(),
            advertise: advertise.to_string(),
            prefix: "wasp".to_string(),
            heartbeat: Duration::from_secs(2),
            dead_after: Duration::from_secs(8),
            version: env!("CARGO_PKG_VERSION").to_string(),
            key_check: String::new(),
        }
    }
}

/// This node's handle on the cluster: a Redis connection that reconnects
/// by itself, shared by every caller.
#[derive(Clone)]
pub struct Cluster {
    pub(super) config: ClusterConfig,
    /// For connections of their own (pub/sub).
    pub(super) client: redis::Client,
    pub(super) redis: redis::aio::ConnectionManager,
    pub(super) keys: keys::Keys,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node_id", &self.config.node_id)
            .field("prefix", &self.config.prefix)
            .finish()
    }
}

impl Cluster {
    /// Connects to Redis. Errors name Redis and where it was looked for.
    pub async fn connect(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        if !valid_node_id(&config.node_id) {
            return Err(ClusterError::Config(format!(
                "node id {:?} is not [A-Za-z0-9_-]{{1,64}}",
                config.node_id
            )));
        }
        let unreachable = |e: redis::RedisError| ClusterError::Unreachable {
            url: redact(&config.redis_url),
            why: e.to_string(),
        };
        let client = redis::Client::open(config.redis_url.as_str()).map_err(unreachable)?;
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(Duration::from_secs(5))
            .set_number_of_retries(2);
        let redis = tokio::time::timeout(
            Duration::from_secs(10),
            redis::aio::ConnectionManager::new_with_config(client.clone(), manager_config),
        )
        .await
        .map_err(|_| ClusterError::Unreachable {
            url: redact(&config.redis_url),
            why: "connecting timed out".into(),
        })?
        .map_err(unreachable)?;
        let keys = keys::Keys::new(&config.prefix);
        Ok(Cluster {
            config,
            client,
            redis,
            keys,
        })
    }

    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }
}

/// Node ids name Redis keys and appear in URLs: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A Redis URL without its password, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            super::redact("redis://user:secret@10.0.0.9:6379/0"),
            "redis://…@10.0.0.9:6379/0"
        );
        assert_eq!(
            super::redact("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
