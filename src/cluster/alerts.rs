//! The cluster's capacity alert, kept in Redis (`{prefix}:capacity_alert`,
//! "1" while raised) so that any node may notice the change and exactly
//! one says so: the one whose swap found the other state.

use super::error::ClusterError;
use super::node::Cluster;

impl Cluster {
    /// Whether the cluster's capacity alert is raised.
    pub async fn alert_raised(&self) -> Result<bool, ClusterError> {
        let mut redis = self.redis.clone();
        let value: Option<String> = redis::cmd("GET")
            .arg(self.keys.capacity_alert())
            .query_async(&mut redis)
            .await?;
        Ok(value.as_deref() == Some("1"))
    }

    /// Raises or clears the alert; whether it was raised before (another
    /// node may have made the same change first).
    pub async fn swap_alert(&self, raised: bool) -> Result<bool, ClusterError> {
        let mut redis = self.redis.clone();
        let before: Option<String> = redis::cmd("SET")
            .arg(self.keys.capacity_alert())
            .arg(if raised { "1" } else { "0" })
            .arg("GET")
            .query_async(&mut redis)
            .await?;
        Ok(before.as_deref() == Some("1"))
    }
}
