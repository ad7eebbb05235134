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
