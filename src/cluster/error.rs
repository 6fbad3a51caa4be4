//! What can go wrong talking to the cluster.

/// A cluster operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("Redis at {url} is unreachable: {why}")]
    Unreachable { url: String, why: String },
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("{0}")]
    Config(String),
    /// Another live node already uses this id, or runs another version.
    #[error("{0}")]
    Refused(String),
}
