//! Where a new session goes: the live, up node with the lowest load —
//! sessions and places already promised against its capacity, or its
//! memory against its limit, whichever is higher (the host's own
//! capacity accounting) — chosen and reserved in one script, so two
//! creates anywhere in the cluster never take the last place of a node
//! twice (the seed's read-then-write on a hash could).

use redis::Script;

use super::error::ClusterError;
use super::node::Cluster;

/// Picks and reserves a place: the node and its URL; `false` when every
/// live node is full.
static PLACE: std::sync::LazyLock<Script> = script!(
    lua_now!(),
    r#"
local best, best_load = nil, nil
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')) do
  local f = redis.call('HMGET', ARGV[1] .. id, 'state', 'capacity', 'sessions', 'reserved', 'rss', 'memory_limit')
  local capacity = tonumber(f[2] or '0') or 0
  local used = (tonumber(f[3] or '0') or 0) + (tonumber(f[4] or '0') or 0)
  if f[1] == 'up' and used < capacity then
    local load = used / capacity
    local limit = tonumber(f[6] or '0') or 0
    if limit > 0 then
      load = math.max(load, (tonumber(f[5] or '0') or 0) / limit)
    end
    if load < 1 and (best_load == nil or load < best_load) then
      best, best_load = id, load
    end
  end
end
if best == nil then
  return false
end
redis.call('HINCRBY', ARGV[1] .. best, 'reserved', 1)
return {best, redis.call('HGET', ARGV[1] .. best, 'url') or ''}
"#
);

/// Turns a reservation on a node into a running session (or just drops
/// it, when `ARGV[1]` is 0): never below zero.
static SETTLE: std::sync::LazyLock<Script> = script!(
    r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'reserved', -1)
end
if ARGV[1] == '1' then
  redis.call('HINCRBY', KEYS[1], 'sessions', 1)
end
return 1
"#
);

/// A place reserved for a new session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    pub node: String,
    /// Where that node is reached (its `--advertise`).
    pub url: String,
}

impl Cluster {
    /// Chooses the node a new session goes to and reserves its place
    /// there; `None` when the whole cluster is full.
    pub async fn place(&self) -> Result<Option<Placed>, ClusterError> {
        let mut redis = self.redis.clone();
        let chosen: Option<(String, String)> = PLACE
            .key(self.keys.nodes())
            .arg(self.keys.node_prefix())
            .arg(self.ttl_ms())
            .invoke_async(&mut redis)
            .await?;
        Ok(chosen.map(|(node, url)| Placed { node, url }))
    }

    /// The session placed on `node` started there: its reservation
    /// becomes a session.
    pub async fn placed_session_started(&self, node: &str) -> Result<(), ClusterError> {
        self.settle(node, true).await
    }

    /// The session placed on `node` was not created after all.
    pub async fn release_place(&self, node: &str) -> Result<(), ClusterError> {
        self.settle(node, false).await
    }

    async fn settle(&self, node: &str, started: bool) -> Result<(), ClusterError> {
        let mut redis = self.redis.clone();
        let _: i64 = SETTLE
            .key(self.keys.node(node))
            .arg(if started { "1" } else { "0" })
            .invoke_async(&mut redis)
            .await?;
        Ok(())
    }
}
