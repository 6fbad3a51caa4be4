//! Which node runs each session: `{cluster}:owners`, a hash of session id
//! → node id. A node claims a session it creates or restores (refused
//! while another node holds it), releases it when the session is
//! deleted, and any node asks where a session lives to route a request
//! there. This says where to send requests, not who may write the
//! session's state: that is fenced where the state lives.

use redis::Script;

use super::error::ClusterError;
use super::node::Cluster;

/// Claims `ARGV[1]` for `ARGV[2]`; the holder when it is another node.
static CLAIM: std::sync::LazyLock<Script> = script!(
    r#"
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if holder and holder ~= ARGV[2] then
  return holder
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return false
"#
);

/// Releases `ARGV[1]` if `ARGV[2]` holds it.
static RELEASE: std::sync::LazyLock<Script> = script!(
    r#"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"#
);

/// The holder of `ARGV[1]`, its URL and whether it is alive.
static ROUTE: std::sync::LazyLock<Script> = script!(
    r#"
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if not holder then
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local url = redis.call('HGET', ARGV[2] .. holder, 'url') or ''
local last = redis.call('ZSCORE', KEYS[2], holder)
local alive = 0
if last and now - tonumber(last) < tonumber(ARGV[3]) and url ~= '' then
  alive = 1
end
return {holder, url, alive}
"#
);

/// Where a session lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub node: String,
    /// Its advertised URL ('' when its record is gone).
    pub url: String,
    /// It heartbeats.
    pub alive: bool,
}

impl Cluster {
    /// Claims session `id` for this node. `Err(Refused)` naming the
    /// holder when another node holds it.
    pub async fn claim_session(&self, id: &str) -> Result<(), ClusterError> {
        let mut redis = self.redis.clone();
        let holder: Option<String> = CLAIM
            .key(self.keys.owners())
            .arg(id)
            .arg(&self.config.node_id)
            .invoke_async(&mut redis)
            .await?;
        match holder {
            None => Ok(()),
            Some(node) => Err(ClusterError::Refused(format!(
                "session {id:?} already runs on node {node}"
            ))),
        }
    }

    /// Records this node as the one running session `id`, whoever held
    /// it before: the store's lease gave it to this node (a failover or
    /// a hand-over), and routing follows.
    pub async fn route_here(&self, id: &str) -> Result<(), ClusterError> {
        let mut redis = self.redis.clone();
        redis::cmd("HSET")
            .arg(self.keys.owners())
            .arg(id)
            .arg(&self.config.node_id)
            .query_async::<()>(&mut redis)
            .await?;
        Ok(())
    }

    /// Gives session `id` up, if this node holds it.
    pub async fn release_session(&self, id: &str) -> Result<(), ClusterError> {
        let mut redis = self.redis.clone();
        let _: i64 = RELEASE
            .key(self.keys.owners())
            .arg(id)
            .arg(&self.config.node_id)
            .invoke_async(&mut redis)
            .await?;
        Ok(())
    }

    /// Every claimed session and the node that holds it.
    pub async fn owners(&self) -> Result<std::collections::HashMap<String, String>, ClusterError> {
        let mut redis = self.redis.clone();
        let owners: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.owners())
            .query_async(&mut redis)
            .await?;
        Ok(owners)
    }

    /// Where session `id` lives; `None` when no node claimed it.
    pub async fn owner_of(&self, id: &str) -> Result<Option<Owner>, ClusterError> {
        let mut redis = self.redis.clone();
        let found: Option<(String, String, i64)> = ROUTE
            .key(self.keys.owners())
            .key(self.keys.nodes())
            .arg(id)
            .arg(self.keys.node_prefix())
            .arg(self.ttl_ms())
            .invoke_async(&mut redis)
            .await?;
        Ok(found.map(|(node, url, alive)| Owner {
            node,
            url,
            alive: alive == 1,
        }))
    }
}
