//! Every node's events for every other node: each node publishes the
//! events of the sessions it runs on `{cluster}:events` (Redis pub/sub),
//! and relays what the others publish to its own event streams, so
//! `GET /v1/events` on any node shows the whole cluster. Pub/sub keeps
//! nothing: a node that is down misses what was said meanwhile, as an
//! event stream's client does.
//!
//! A message is `{node id}\n{event type}\n{event JSON}`.

use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use super::error::ClusterError;
use super::node::Cluster;

/// An event another node published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEvent {
    pub node: String,
    /// The event's type (its SSE name).
    pub kind: String,
    /// The event as JSON.
    pub data: String,
}

impl RemoteEvent {
    fn decode(payload: &str) -> Option<RemoteEvent> {
        let mut parts = payload.splitn(3, '\n');
        Some(RemoteEvent {
            node: parts.next()?.to_string(),
            kind: parts.next()?.to_string(),
            data: parts.next()?.to_string(),
        })
    }
}

impl Cluster {
    /// Tells the other nodes of an event of this one.
    pub async fn publish_event(&self, kind: &str, data: &str) -> Result<(), ClusterError> {
        let mut redis = self.redis.clone();
        let payload = format!("{}\n{kind}\n{data}", self.config.node_id);
        redis::cmd("PUBLISH")
            .arg(self.keys.events())
            .arg(payload)
            .query_async::<()>(&mut redis)
            .await?;
        Ok(())
    }

    /// Relays the other nodes' events to `out` until it closes,
    /// subscribing again after a lost connection (what was published
    /// meanwhile is missed).
    pub async fn relay_events(&self, out: mpsc::Sender<RemoteEvent>) {
        loop {
            if let Err(e) = self.relay_once(&out).await {
                tracing::warn!(error = %e, "cluster event relay lost; subscribing again");
            }
            if out.is_closed() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    async fn relay_once(&self, out: &mpsc::Sender<RemoteEvent>) -> Result<(), ClusterError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.keys.events()).await?;
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            match RemoteEvent::decode(&payload) {
                Some(event) if event.node == self.config.node_id => {}
                Some(event) => {
                    if out.send(event).await.is_err() {
                        return Ok(());
                    }
                }
                None => tracing::debug!("unreadable cluster event"),
            }
        }
        Err(ClusterError::Refused("the event subscription ended".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::RemoteEvent;

    #[test]
    fn messages_split_into_node_type_and_json() {
        let event = RemoteEvent::decode("n2\nqr\n{\"a\":\"x\\ny\"}").expect("reads");
        assert_eq!(event.node, "n2");
        assert_eq!(event.kind, "qr");
        assert_eq!(event.data, "{\"a\":\"x\\ny\"}");
        assert_eq!(RemoteEvent::decode("n2 only"), None);
    }
}
