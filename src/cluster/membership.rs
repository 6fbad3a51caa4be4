//! Nodes joining, heartbeating and leaving, and the list of them. Every
//! timestamp is Redis's own clock (`lua_now!` inside the scripts).

use redis::Script;

use super::error::ClusterError;
use super::node::Cluster;

/// Joins (or rejoins) under this node's id: refused while another live
/// node holds the id at another URL, or a live node runs another version
/// or has another key digest. No place is reserved on it yet.
static JOIN: std::sync::LazyLock<Script> = script!(
    lua_now!(),
    r#"
local dead_after = tonumber(ARGV[5])
local last = redis.call('ZSCORE', KEYS[1], ARGV[1])
if last and now - tonumber(last) < dead_after then
  local url = redis.call('HGET', KEYS[2], 'url')
  if url and url ~= ARGV[2] then
    return {'taken', url}
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - dead_after, '+inf')) do
  if id ~= ARGV[1] then
    local version = redis.call('HGET', ARGV[7] .. id, 'version')
    if version and version ~= ARGV[3] then
      return {'version', id, version}
    end
    local key = redis.call('HGET', ARGV[7] .. id, 'key')
    if key and key ~= ARGV[11] then
      return {'key', id}
    end
  end
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'url', ARGV[2], 'version', ARGV[3], 'state', 'up',
  'capacity', ARGV[4], 'memory_limit', ARGV[8], 'sessions', ARGV[9], 'reserved', 0,
  'rss', ARGV[10], 'started', now, 'key', ARGV[11])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[1], now, ARGV[1])
return {'ok'}
"#
);

/// Refreshes this node's load and TTL; 0 when its hash is gone (it was
/// silent past its TTL and must join again).
static HEARTBEAT: std::sync::LazyLock<Script> = script!(
    r#"
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], 'capacity', ARGV[2], 'memory_limit', ARGV[3], 'rss', ARGV[4],
  'sessions', ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[1], now, ARGV[1])
return 1
"#
);

/// Redis's clock, in ms.
static NOW: std::sync::LazyLock<Script> = script!(lua_now!(), "return now\n");

/// Nodes silent this long are forgotten from the list altogether.
const FORGET_AFTER_MS: u64 = 24 * 3600 * 1000;

/// What a node reports of itself at each heartbeat: the truth about its
/// sessions, which corrects any count a placement added in between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeLoad {
    /// Sessions it runs.
    pub sessions: u64,
    /// Most sessions it may run.
    pub capacity: u64,
    /// Bytes it may use (0: unknown).
    pub memory_limit: u64,
    pub rss_bytes: u64,
}

/// A node's state as the cluster sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Heartbeating; takes new sessions.
    Up,
    /// Heartbeating; handing its sessions to the others, takes no new one.
    Draining,
    /// Silent past the deadline.
    Dead,
}

/// One node as the cluster sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    pub id: String,
    /// Where the other nodes reach it.
    pub url: String,
    pub version: String,
    pub state: NodeState,
    pub sessions: u64,
    /// Places promised to sessions being created on it.
    pub reserved: u64,
    pub capacity: u64,
    pub rss_bytes: u64,
    /// 0 when unknown.
    pub memory_limit: u64,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: u64,
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn number(fields: &[(String, String)], name: &str) -> u64 {
    field(fields, name)
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(0, |n| n.max(0) as u64)
}

impl Cluster {
    pub(super) fn ttl_ms(&self) -> u64 {
        self.config.dead_after.as_millis() as u64
    }

    /// Joins the cluster as this node, reporting `load`. Errors:
    /// `Refused` when a live node holds this id at another URL, runs
    /// another version or shares another key.
    pub async fn join(&self, load: NodeLoad) -> Result<(), ClusterError> {
        let c = &self.config;
        let mut redis = self.redis.clone();
        let answer: Vec<String> = JOIN
            .key(self.keys.nodes())
            .key(self.keys.node(&c.node_id))
            .arg(&c.node_id)
            .arg(&c.advertise)
            .arg(&c.version)
            .arg(load.capacity)
            .arg(self.ttl_ms())
            .arg(self.ttl_ms())
            .arg(self.keys.node_prefix())
            .arg(load.memory_limit)
            .arg(load.sessions)
            .arg(load.rss_bytes)
            .arg(&c.key_check)
            .invoke_async(&mut redis)
            .await?;
        match answer.first().map(String::as_str) {
            Some("ok") => Ok(()),
            Some("taken") => Err(ClusterError::Refused(format!(
                "node id {:?} is already live at {}; give each node its own --node-id",
                c.node_id,
                answer.get(1).map_or("", String::as_str)
            ))),
            Some("version") => Err(ClusterError::Refused(format!(
                "node {} runs version {}, this node {}: every node of a cluster must run the same version",
                answer.get(1).map_or("", String::as_str),
                answer.get(2).map_or("", String::as_str),
                c.version
            ))),
            Some("key") => Err(ClusterError::Refused(format!(
                "node {} has another API key than this node: every node of a cluster needs the same key (it forwards requests with it)",
                answer.get(1).map_or("", String::as_str),
            ))),
            _ => Err(ClusterError::Refused(format!("unexpected answer {answer:?}"))),
        }
    }

    /// Reports `load` and keeps this node alive. `Ok(false)` when the
    /// cluster had already given it up for dead: join again.
    pub async fn heartbeat(&self, load: NodeLoad) -> Result<bool, ClusterError> {
        let mut redis = self.redis.clone();
        let alive: i64 = HEARTBEAT
            .key(self.keys.nodes())
            .key(self.keys.node(&self.config.node_id))
            .arg(&self.config.node_id)
            .arg(load.capacity)
            .arg(load.memory_limit)
            .arg(load.rss_bytes)
            .arg(self.ttl_ms())
            .arg(load.sessions)
            .invoke_async(&mut redis)
            .await?;
        Ok(alive == 1)
    }

    /// Marks this node draining (no new sessions are placed on it) or up.
    pub async fn set_draining(&self, draining: bool) -> Result<(), ClusterError> {
        let mut redis = self.redis.clone();
        let state = if draining { "draining" } else { "up" };
        redis::cmd("HSET")
            .arg(self.keys.node(&self.config.node_id))
            .arg("state")
            .arg(state)
            .query_async::<()>(&mut redis)
            .await?;
        Ok(())
    }

    /// Leaves the cluster (a clean shutdown): the others see it gone at
    /// once rather than dead later.
    pub async fn leave(&self) -> Result<(), ClusterError> {
        let mut redis = self.redis.clone();
        redis::pipe()
            .del(self.keys.node(&self.config.node_id))
            .zrem(self.keys.nodes(), &self.config.node_id)
            .query_async::<()>(&mut redis)
            .await?;
        Ok(())
    }

    /// Every node heard from in the last day, by id, with its state.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, ClusterError> {
        let mut redis = self.redis.clone();
        let now: u64 = NOW.invoke_async(&mut redis).await?;
        let forget_before = now.saturating_sub(FORGET_AFTER_MS);
        let _: () = redis::cmd("ZREMRANGEBYSCORE")
            .arg(self.keys.nodes())
            .arg("-inf")
            .arg(format!("({forget_before}"))
            .query_async(&mut redis)
            .await?;
        let listed: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(self.keys.nodes())
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut redis)
            .await?;
        let mut pipe = redis::pipe();
        for (id, _) in &listed {
            pipe.hgetall(self.keys.node(id));
        }
        let hashes: Vec<Vec<(String, String)>> = pipe.query_async(&mut redis).await?;
        let dead_after = self.ttl_ms();
        let mut nodes: Vec<NodeView> = listed
            .into_iter()
            .zip(hashes)
            .map(|((id, beat), fields)| {
                let age = now.saturating_sub(beat.max(0.0) as u64);
                let state = match field(&fields, "state").as_deref() {
                    _ if fields.is_empty() || age >= dead_after => NodeState::Dead,
                    Some("draining") => NodeState::Draining,
                    _ => NodeState::Up,
                };
                NodeView {
                    url: field(&fields, "url").unwrap_or_default(),
                    version: field(&fields, "version").unwrap_or_default(),
                    state,
                    sessions: number(&fields, "sessions"),
                    reserved: number(&fields, "reserved"),
                    capacity: number(&fields, "capacity"),
                    rss_bytes: number(&fields, "rss"),
                    memory_limit: number(&fields, "memory_limit"),
                    heartbeat_age_ms: age,
                    id,
                }
            })
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }
}
