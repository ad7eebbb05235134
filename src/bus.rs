//! Cross-instance fan-out. A message published on the bus reaches every subscriber of every
//! instance: through Redis pub/sub when `REDIS_URL` is set, in-process otherwise. Cache
//! invalidation, account changes and live streams (availability, dashboard) ride on it.

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// The topics of the bus.
pub mod topic {
    /// Account changes (`user:<id>`, `session:<id>`, `ip:<addr>`): revocations and unblocks.
    pub const AUTH: &str = "auth";
    /// Response-cache invalidation (`<generation> <instance>`).
    pub const CACHE: &str = "cache";
    /// An event's availability changed (`<event id>`).
    pub const AVAILABILITY: &str = "availability";
    /// Live dashboard updates: a JSON array of [`crate::dashboard::changes::Update`]s.
    pub const DASHBOARD: &str = "dashboard";
    /// An instance has open dashboard streams (sent every second while it has; no payload).
    pub const DASHBOARD_LISTENING: &str = "dashboard-listening";
    /// Messages may have been lost (this instance's Redis subscription was re-established):
    /// whoever keeps state derived from the bus must drop it. Delivered locally only.
    pub const RESYNC: &str = "resync";
}

/// One message: a [`topic`] and a text payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusMessage {
    /// What the message is about.
    pub topic: String,
    /// Topic-specific content (an id, a JSON document).
    pub payload: String,
}

/// The bus of one instance.
#[derive(Clone)]
pub struct Bus {
    local: broadcast::Sender<BusMessage>,
    redis: Option<(redis::aio::ConnectionManager, String)>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("redis", &self.redis.is_some())
            .finish()
    }
}

impl Bus {
    /// An in-process bus.
    pub fn local() -> Self {
        let (local, _) = broadcast::channel(4096);
        Self { local, redis: None }
    }

    /// A bus over Redis pub/sub on `channel`; a background task relays Redis messages to local
    /// subscribers and reconnects when the connection drops.
    pub async fn redis(
        client: redis::Client,
        connection: redis::aio::ConnectionManager,
        channel: String,
    ) -> redis::RedisResult<Self> {
        let (local, _) = broadcast::channel(4096);
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&channel).await?;
        let relay = local.clone();
        let relay_channel = channel.clone();
        tokio::spawn(async move {
            loop {
                let mut stream = pubsub.into_on_message();
                while let Some(msg) = stream.next().await {
                    let Ok(text) = msg.get_payload::<String>() else {
                        continue;
                    };
                    if let Ok(message) = serde_json::from_str::<BusMessage>(&text) {
                        let _ = relay.send(message);
                    }
                }
                tracing::warn!("bus: Redis subscription lost, reconnecting");
                pubsub = loop {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    if let Ok(mut p) = client.get_async_pubsub().await
                        && p.subscribe(&relay_channel).await.is_ok()
                    {
                        break p;
                    }
                };
                // Whatever was published while the subscription was down never reaches this
                // instance: revocations, unblocks and invalidations among them.
                tracing::info!("bus: Redis subscription re-established, resynchronizing");
                let _ = relay.send(BusMessage {
                    topic: topic::RESYNC.to_string(),
                    payload: String::new(),
                });
            }
        });
        Ok(Self {
            local,
            redis: Some((connection, channel)),
        })
    }

    /// Sends to every subscriber of every instance (this one included).
    pub async fn publish(&self, topic: &str, payload: impl Into<String>) {
        let message = BusMessage {
            topic: topic.to_string(),
            payload: payload.into(),
        };
        match &self.redis {
            None => {
                let _ = self.local.send(message);
            }
            Some((conn, channel)) => {
                let text = serde_json::to_string(&message).unwrap_or_default();
                let mut conn = conn.clone();
                let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(text)
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = sent {
                    // Deliver locally at least; other instances catch up through TTLs.
                    tracing::warn!(error = %e, "bus: publish to Redis failed");
                    let _ = self.local.send(message);
                }
            }
        }
    }

    /// A receiver of every message from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BusMessage> {
        self.local.subscribe()
    }
}

/// What a subscriber's receive means for state derived from the bus.
#[derive(Debug)]
pub enum Received {
    /// A message to apply.
    Message(BusMessage),
    /// Messages were lost (this receiver lagged, or the Redis subscription was re-established):
    /// drop everything derived from them.
    Resync,
    /// The bus is gone.
    Closed,
}

/// Receives the next message, folding a lag and a [`topic::RESYNC`] into [`Received::Resync`].
pub async fn receive(rx: &mut broadcast::Receiver<BusMessage>) -> Received {
    match rx.recv().await {
        Ok(m) if m.topic == topic::RESYNC => Received::Resync,
        Ok(m) => Received::Message(m),
        Err(broadcast::error::RecvError::Lagged(missed)) => {
            tracing::warn!(missed, "bus: a subscriber lagged, resynchronizing");
            Received::Resync
        }
        Err(broadcast::error::RecvError::Closed) => Received::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pubsub_clients(conn: &mut redis::aio::ConnectionManager) -> Vec<u64> {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(conn)
            .await
            .unwrap();
        list.lines()
            .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
            .filter_map(|id| id.parse().ok())
            .collect()
    }

    /// A Redis subscription that drops and comes back tells local subscribers to resynchronize,
    /// since what was published meanwhile is lost.
    #[tokio::test]
    async fn a_reestablished_redis_subscription_asks_subscribers_to_resync() {
        let Some(url) = std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            assert!(
                std::env::var("CI").is_err(),
                "TEST_REDIS_URL is required in CI"
            );
            return;
        };
        let client = redis::Client::open(url.as_str()).unwrap();
        let connection = client.get_connection_manager().await.unwrap();
        let mut admin = connection.clone();
        // The subscription this bus opens is the pub/sub client that was not there before.
        let before = pubsub_clients(&mut admin).await;
        let channel = format!("tm-bus-test-{}", uuid::Uuid::new_v4().simple());
        let bus = Bus::redis(client.clone(), connection.clone(), channel)
            .await
            .unwrap();
        let mut rx = bus.subscribe();
        let new: Vec<u64> = pubsub_clients(&mut admin)
            .await
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        let id = new
            .into_iter()
            .max()
            .expect("the bus's subscription is listed");
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut admin)
            .await
            .unwrap();

        let got = tokio::time::timeout(std::time::Duration::from_secs(10), receive(&mut rx))
            .await
            .expect("a resync within 10 s");
        assert!(matches!(got, Received::Resync), "got {got:?}");
        // The relay delivers again afterwards.
        bus.publish(topic::AUTH, "user:x").await;
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), receive(&mut rx))
            .await
            .unwrap();
        assert!(matches!(got, Received::Message(m) if m.payload == "user:x"));
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_asked_to_resync() {
        let bus = Bus::local();
        let mut rx = bus.subscribe();
        for i in 0..5000 {
            bus.publish(topic::CACHE, i.to_string()).await;
        }
        assert!(matches!(receive(&mut rx).await, Received::Resync));
    }
}
