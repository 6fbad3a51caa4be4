//! The Redis the cluster tests run against (127.0.0.1:6379, or
//! `WASP_TEST_REDIS`; `.ci/run` starts one when none runs), a key prefix
//! of a test's own, and its removal afterwards.
#![allow(dead_code)] // not every test binary uses every helper

pub fn redis_url() -> String {
    std::env::var("WASP_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A cluster name (key prefix) no other test uses.
pub fn unique_cluster() -> String {
    format!("wasp-test-{}", hex::encode(rand::random::<[u8; 6]>()))
}

/// Removes every key of cluster `prefix`.
pub async fn forget(prefix: &str) {
    let client = redis::Client::open(redis_url()).expect("url");
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut redis)
        .await
        .expect("keys");
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut redis)
            .await
            .expect("del");
    }
}
