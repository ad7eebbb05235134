//! The application state every handler and worker reaches: settings, storage, keys, caches,
//! Redis, the bus, the rate-limit guard, and the shutdown signal. Areas import it from here,
//! never from `app`, which only composes them.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::watch;

use crate::bus::Bus;
use crate::config::Config;
use crate::store::Store;
use crate::users::{AuthCache, tokens::JwtKeys};

/// Everything a handler can reach.
pub struct Inner {
    /// Settings.
    pub config: Config,
    /// Storage.
    pub store: Store,
    /// Access-token keys.
    pub jwt: JwtKeys,
    /// Account state behind authentication.
    pub auth_cache: AuthCache,
    /// Redis, when `REDIS_URL` is set (rate limits, shared cache).
    pub redis: Option<redis::aio::ConnectionManager>,
    /// Cross-instance fan-out.
    pub bus: Bus,
    /// Rate limiter, IP-block cache and abuse thresholds.
    pub guard: crate::users::rate_limit::Guard,
    /// Shared response cache (catalogue).
    pub cache: crate::cache::Cache,
    /// Uploaded files: the local disk or an S3 bucket.
    pub files: crate::files::Files,
    /// Keys of data at rest.
    pub keyring: crate::crypto::Keyring,
    /// The payment gateways configured.
    pub gateways: crate::payments::gateways::Gateways,
    /// Open availability streams, capped per client IP and per instance.
    pub streams: Arc<crate::events::stream::StreamSlots>,
    /// Live dashboard updates of this instance: recent ones and open streams.
    pub dashboard: Arc<crate::dashboard::Hub>,
    /// The last probe of the dependencies, for `/health/services`.
    pub health_probe: crate::health::ProbeCache,
    /// Process start, for `uptimeSeconds`.
    pub started_at: Instant,
    shutting_down: AtomicBool,
    shutdown_tx: watch::Sender<bool>,
}

/// Cheaply clonable handle to [`Inner`].
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state from settings and an opened, migrated store; connects to Redis when
    /// configured.
    pub async fn build(config: Config, store: Store) -> anyhow::Result<Self> {
        crate::telemetry::prometheus();
        crate::notify::install_crypto_provider();
        let jwt = JwtKeys::new(&config.jwt_secret, config.jwt_expires_in);
        let (shutdown_tx, _) = watch::channel(false);
        let (redis, bus) = match &config.redis_url {
            None => (None, Bus::local()),
            Some(url) => {
                let client = redis::Client::open(url.expose())
                    .map_err(|e| anyhow::anyhow!("REDIS_URL is invalid: {e}"))?;
                let conn = redis::aio::ConnectionManager::new(client.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot connect to Redis: {e}"))?;
                let bus = Bus::redis(client, conn.clone(), format!("{}bus", config.redis_prefix))
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot subscribe on Redis: {e}"))?;
                (Some(conn), bus)
            }
        };
        let gateways = crate::payments::gateways::Gateways::from_config(&config);
        let files = crate::files::from_config(&config)?;
        let keyring = crate::crypto::Keyring::from_settings(
            config.encryption.current,
            &config.encryption.previous,
            &std::path::Path::new(&config.upload_dest).join(".dev-encryption-key"),
        )?;
        let cache = crate::cache::Cache::new(
            config.cache_ttl,
            redis.clone(),
            &config.redis_prefix,
            bus.clone(),
        )
        .await;
        let ip_block_login_failures = config.ip_block_login_failures;
        let auth_cache = AuthCache::new(redis.clone(), &config.redis_prefix);
        Ok(Self(Arc::new(Inner {
            cache,
            config,
            store,
            jwt,
            guard: crate::users::rate_limit::Guard::new(redis.clone(), ip_block_login_failures),
            redis,
            bus,
            auth_cache,
            health_probe: crate::health::ProbeCache::default(),
            gateways,
            files,
            keyring,
            streams: Arc::default(),
            dashboard: Arc::default(),
            started_at: Instant::now(),
            shutting_down: AtomicBool::new(false),
            shutdown_tx,
        })))
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Marks shutdown: health turns 503 and long-lived streams end.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        let _ = self.shutdown_tx.send(true);
    }

    /// A receiver that turns `true` when shutdown begins (for streams and workers).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }
}
