//! The shared response cache: tiered TTLs (`CACHE_TTL_SHORT` … `CACHE_TTL_VERY_LONG`), in-process
//! (moka) by default and shared through Redis when `REDIS_URL` is set.
//!
//! Invalidation is by generation: every key is stored under the current generation number, and a
//! write bumps the generation, so nothing cached before the write can be read after it, even an
//! entry that a slow reader stores after the write (it lands under the old generation). With
//! Redis the generation is a shared counter (`INCR`), and the new number is published on the bus
//! topic `cache` so every instance drops its local entries and moves to it.
//! Hits and misses are counted in `cache_hits_total` / `cache_misses_total` (label `cache`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;

use crate::bus::{Bus, Received};
use crate::config::CacheTtls;

/// Most keys [`Cache::asked_before`] remembers (8 bytes each, plus the map's own).
const ASKED_KEYS: u64 = 100_000;

/// How long a thread serves its own copy of a live-tier value (see [`Cache::live_get`]). A live
/// value is at most 0.9 s old when copied, so what a thread serves is under 0.95 s old.
const FRONT_TTL: Duration = Duration::from_millis(50);

/// Most live-tier values one thread keeps a copy of; a full map is emptied (its values are
/// `Bytes` shared with the cache, so a copy costs a reference, not the answer's size).
const FRONT_ENTRIES: usize = 256;

/// Numbers each `Cache` in the process, so that a thread's copies name the cache they came from.
static CACHES: AtomicU64 = AtomicU64::new(0);

/// How long an entry may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// `CACHE_TTL_SHORT` (60 s).
    Short,
    /// `CACHE_TTL_MEDIUM` (300 s).
    Medium,
    /// `CACHE_TTL_LONG` (1800 s).
    Long,
    /// `CACHE_TTL_VERY_LONG` (3600 s).
    VeryLong,
    /// 0.9 s, this instance only: answers carrying live counts.
    Live,
}

#[derive(Debug, Clone)]
struct Entry {
    bytes: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

struct Inner {
    local: moka::future::Cache<String, Entry>,
    generation: AtomicU64,
    redis: Option<redis::aio::ConnectionManager>,
    prefix: String,
    bus: Bus,
    ttls: CacheTtls,
    instance: String,
    /// Hashes of the keys asked for recently (see [`Cache::asked_before`]).
    asked: moka::sync::Cache<u64, ()>,
    asked_hasher: std::hash::RandomState,
    /// This cache's number among the process's (see [`CACHES`]).
    id: u64,
    /// How many single keys were dropped ([`Cache::forget_local`]): a thread's copy taken before
    /// a drop is not served after it.
    forgets: AtomicU64,
}

/// Handle to the cache (cheap to clone).
#[derive(Clone)]
pub struct Cache(Arc<Inner>);

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("generation", &self.generation())
            .field("redis", &self.0.redis.is_some())
            .finish()
    }
}

/// An in-process map of at most `capacity` entries, each kept for `ttl` (the per-instance caches
/// of account and block state).
pub fn ttl_map<K, V>(capacity: u64, ttl: Duration) -> moka::future::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::future::Cache::builder()
        .max_capacity(capacity)
        .time_to_live(ttl)
        .build()
}

impl Cache {
    /// A cache over `redis` when given (keys under `prefix`), else in-process only.
    pub async fn new(
        ttls: CacheTtls,
        redis: Option<redis::aio::ConnectionManager>,
        prefix: &str,
        bus: Bus,
    ) -> Self {
        let local = moka::future::Cache::builder()
            .max_capacity(256 * 1024 * 1024)
            .weigher(|k: &String, v: &Entry| {
                (k.len() + v.bytes.len()).try_into().unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        let cache = Cache(Arc::new(Inner {
            local,
            generation: AtomicU64::new(0),
            redis,
            prefix: format!("{prefix}cache:"),
            bus,
            ttls,
            instance: uuid::Uuid::new_v4().simple().to_string(),
            asked: moka::sync::Cache::builder()
                .max_capacity(ASKED_KEYS)
                .time_to_live(ttls.long)
                .build(),
            asked_hasher: std::hash::RandomState::new(),
            id: CACHES.fetch_add(1, Ordering::Relaxed),
            forgets: AtomicU64::new(0),
        }));
        if let Some(conn) = &cache.0.redis {
            let mut conn = conn.clone();
            let shared: redis::RedisResult<Option<u64>> = redis::cmd("GET")
                .arg(cache.generation_key())
                .query_async(&mut conn)
                .await;
            if let Ok(Some(g)) = shared {
                cache.0.generation.store(g, Ordering::SeqCst);
            }
        }
        cache
    }

    fn generation_key(&self) -> String {
        format!("{}generation", self.0.prefix)
    }

    /// The current generation (take it before reading the database, pass it to [`Cache::put`]).
    pub fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::SeqCst)
    }

    fn ttl(&self, tier: Tier) -> Duration {
        match tier {
            Tier::Short => self.0.ttls.short,
            Tier::Medium => self.0.ttls.medium,
            Tier::Long => self.0.ttls.long,
            Tier::VeryLong => self.0.ttls.very_long,
            // Under a second, so that counts read just before rendering stay within 1 s.
            Tier::Live => Duration::from_millis(900),
        }
    }

    /// `g{generation}:{key}`, written out: this runs on every cached read, and `format!` was
    /// several times its cost.
    fn full_key(generation: u64, key: &str) -> String {
        let mut digits = itoa::Buffer::new();
        let generation = digits.format(generation);
        let mut full = String::with_capacity(generation.len() + key.len() + 2);
        full.push('g');
        full.push_str(generation);
        full.push(':');
        full.push_str(key);
        full
    }

    /// Whether `key` was asked for before, within the long tier's time (and notes that it now
    /// was). A caller stores what it computed for a key only from its second asking: a query
    /// asked once (a search with its own terms, a client walking through query strings) would
    /// otherwise fill the cache, push out the answers asked again and again, and cost more to
    /// store (serialized, and written to Redis when shared) than it saves.
    pub fn asked_before(&self, key: &str) -> bool {
        use std::hash::BuildHasher;
        let hash = self.0.asked_hasher.hash_one(key);
        // One atomic step: of two concurrent first askings, exactly one is the first.
        !self.0.asked.entry(hash).or_insert(()).is_fresh()
    }

    /// A cached value; `label` names the cache in the hit/miss counters.
    pub async fn get(&self, label: &'static str, tier: Tier, key: &str) -> Option<Bytes> {
        let full = Self::full_key(self.generation(), key);
        if let Some(entry) = self.0.local.get(&full).await {
            count(CacheEvent::Hit, label);
            return Some(entry.bytes);
        }
        if tier != Tier::Live
            && let Some(conn) = &self.0.redis
        {
            let mut conn = conn.clone();
            let found: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GET")
                .arg(format!("{}{full}", self.0.prefix))
                .query_async(&mut conn)
                .await;
            if let Ok(Some(bytes)) = found {
                let bytes = Bytes::from(bytes);
                // A short local copy keeps hot keys off the network; invalidation drops it.
                let ttl = self.ttl(tier).min(Duration::from_secs(5));
                self.0
                    .local
                    .insert(
                        full,
                        Entry {
                            bytes: bytes.clone(),
                            ttl,
                        },
                    )
                    .await;
                count(CacheEvent::Hit, label);
                return Some(bytes);
            }
        }
        count(CacheEvent::Miss, label);
        None
    }

    /// Stores a value computed under `generation`; dropped when a write happened since.
    pub async fn put(&self, tier: Tier, key: &str, generation: u64, bytes: Bytes) {
        if generation != self.generation() {
            return;
        }
        let ttl = self.ttl(tier);
        let full = Self::full_key(generation, key);
        if tier != Tier::Live
            && let Some(conn) = &self.0.redis
        {
            let mut conn = conn.clone();
            let stored: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("{}{full}", self.0.prefix))
                .arg(bytes.as_ref())
                .arg("EX")
                .arg(ttl.as_secs().max(1))
                .query_async(&mut conn)
                .await;
            if let Err(e) = stored {
                tracing::warn!(error = %e, "cache: Redis SET failed");
            }
        }
        if generation == self.generation() {
            // Values arrive as `Bytes` over a `Vec` grown by doubling, which can hold up to twice
            // their length; the weigher counts the length, so the kept copy is exact.
            let bytes = Bytes::copy_from_slice(&bytes);
            self.0.local.insert(full, Entry { bytes, ttl }).await;
        }
    }

    /// A live-tier value if present (counted as a hit; a miss is counted by the
    /// [`Cache::live_get_or_insert`] that follows it).
    ///
    /// Each thread keeps its own copy of a value it read for [`FRONT_TTL`], and serves it while
    /// nothing was invalidated or dropped since: a hot answer costs a thread-local lookup
    /// instead of moka's (its hash, its read log, its housekeeping), about a tenth
    /// (BENCHMARKS.md, "Instructions per cached read, second round").
    pub async fn live_get(&self, label: &'static str, key: &str) -> Option<Bytes> {
        // Read before the value: a drop or an invalidation after this makes the copy stale.
        let stamp = self.stamp();
        let now = Instant::now();
        let bytes = match front_get(key, &stamp, now) {
            Some(bytes) => bytes,
            None => {
                let full = Self::full_key(stamp.generation, key);
                let entry = self.0.local.get(&full).await?;
                front_put(key, stamp, now + FRONT_TTL, entry.bytes.clone());
                entry.bytes
            }
        };
        count(CacheEvent::Hit, label);
        Some(bytes)
    }

    /// A live-tier value from this thread's own copy only (counted as a hit when found), with
    /// the same rules as [`Cache::live_get`]: nothing invalidated or dropped since the copy was
    /// taken, and never older than [`FRONT_TTL`]. Synchronous: `None` says nothing about the
    /// shared cache, which [`Cache::live_get`] reads.
    pub fn front_hit(&self, label: &'static str, key: &str) -> Option<Bytes> {
        let bytes = front_get(key, &self.stamp(), Instant::now())?;
        count(CacheEvent::Hit, label);
        Some(bytes)
    }

    /// What a thread's copy is valid under: this cache, its generation, its drops so far.
    fn stamp(&self) -> Stamp {
        Stamp {
            cache: self.0.id,
            generation: self.generation(),
            forgets: self.0.forgets.load(Ordering::SeqCst),
        }
    }

    /// A live-tier value (this instance, 0.9 s), computed by `init` when missing. Concurrent
    /// callers for one key wait for a single `init`; `None` from it keeps nothing (and the
    /// waiters get `None` too).
    pub async fn live_get_or_insert<F>(
        &self,
        label: &'static str,
        key: &str,
        init: F,
    ) -> Option<Bytes>
    where
        F: Future<Output = Option<Bytes>>,
    {
        let full = Self::full_key(self.generation(), key);
        let ttl = self.ttl(Tier::Live);
        let ran = std::sync::atomic::AtomicBool::new(false);
        let got = self
            .0
            .local
            .try_get_with(full, async {
                ran.store(true, Ordering::Relaxed);
                init.await.map(|bytes| Entry { bytes, ttl }).ok_or(())
            })
            .await;
        if ran.load(Ordering::Relaxed) {
            count(CacheEvent::Miss, label);
        } else {
            count(CacheEvent::Hit, label);
        }
        got.ok().map(|e| e.bytes)
    }

    /// Drops one key of the current generation on this instance.
    pub async fn forget_local(&self, key: &str) {
        let full = Self::full_key(self.generation(), key);
        self.0.local.invalidate(&full).await;
        // After the drop: a thread that read the value before it holds a copy stamped earlier.
        self.0.forgets.fetch_add(1, Ordering::SeqCst);
    }

    /// Makes everything cached so far unreadable, here at once and on every instance through
    /// the bus. Call it after a write commits and before its response is sent.
    pub async fn invalidate(&self) {
        let mut next = self.0.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(conn) = &self.0.redis {
            let mut conn = conn.clone();
            let shared: redis::RedisResult<u64> = redis::cmd("INCR")
                .arg(self.generation_key())
                .query_async(&mut conn)
                .await;
            match shared {
                Ok(g) => {
                    self.0.generation.fetch_max(g, Ordering::SeqCst);
                    next = self.generation();
                }
                Err(e) => tracing::warn!(error = %e, "cache: Redis INCR failed"),
            }
        }
        self.0.local.invalidate_all();
        self.0
            .bus
            .publish(
                crate::bus::topic::CACHE,
                format!("{next} {}", self.0.instance),
            )
            .await;
    }

    /// Applies an invalidation announced on the bus (`"<generation> <instance>"`). Another
    /// instance's announcement always drops this instance's entries and moves its generation
    /// past anything it may have stored since; its own announcements are already applied.
    pub fn apply_remote(&self, payload: &str) {
        let mut parts = payload.split(' ');
        let announced = parts
            .next()
            .and_then(|g| g.parse::<u64>().ok())
            .unwrap_or(0);
        if parts.next() == Some(self.0.instance.as_str()) {
            return;
        }
        let current = self.generation();
        let next = if announced > current {
            announced
        } else {
            current + 1
        };
        self.0.generation.fetch_max(next, Ordering::SeqCst);
        self.0.local.invalidate_all();
    }

    /// Runs until shutdown: applies `cache` messages from the bus.
    pub fn spawn_subscriber(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let cache = self.clone();
        let mut rx = self.0.bus.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    msg = crate::bus::receive(&mut rx) => match msg {
                        Received::Message(m) if m.topic == crate::bus::topic::CACHE => {
                            cache.apply_remote(&m.payload)
                        }
                        Received::Message(_) => {}
                        // An invalidation may be among the lost messages.
                        Received::Resync => cache.apply_remote(""),
                        Received::Closed => break,
                    },
                }
            }
        });
    }
}

/// What a thread's copy of a live value was taken under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    cache: u64,
    generation: u64,
    forgets: u64,
}

struct FrontEntry {
    stamp: Stamp,
    until: Instant,
    bytes: Bytes,
}

thread_local! {
    /// Each thread's copies of the live values it read last (see [`Cache::live_get`]). Keys come
    /// from clients (query strings), but the map never holds more than [`FRONT_ENTRIES`].
    static FRONT: std::cell::RefCell<crate::telemetry::FastMap<Box<str>, FrontEntry>> =
        std::cell::RefCell::default();
}

/// This thread's copy of `key`, if it was taken under `stamp` and is younger than [`FRONT_TTL`].
fn front_get(key: &str, stamp: &Stamp, now: Instant) -> Option<Bytes> {
    FRONT.with(|front| {
        front
            .borrow()
            .get(key)
            .filter(|e| e.stamp == *stamp && now < e.until)
            .map(|e| e.bytes.clone())
    })
}

fn front_put(key: &str, stamp: Stamp, until: Instant, bytes: Bytes) {
    FRONT.with(|front| {
        let mut front = front.borrow_mut();
        if front.len() >= FRONT_ENTRIES && !front.contains_key(key) {
            front.clear();
        }
        let entry = FrontEntry {
            stamp,
            until,
            bytes,
        };
        match front.get_mut(key) {
            Some(kept) => *kept = entry,
            None => {
                front.insert(Box::from(key), entry);
            }
        }
    });
}

/// A lookup's outcome, as counted in `cache_hits_total` / `cache_misses_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CacheEvent {
    Hit,
    Miss,
}

thread_local! {
    /// Each thread's counter handles by outcome and cache: naming a counter by its label looks it
    /// up in the recorder's shared registry, a cost paid on every cached answer otherwise.
    static COUNTERS: std::cell::RefCell<crate::telemetry::FastMap<(CacheEvent, &'static str), metrics::Counter>> =
        std::cell::RefCell::default();
}

/// Counts a hit or a miss of the cache named `label`.
fn count(event: CacheEvent, label: &'static str) {
    COUNTERS.with(|cell| {
        cell.borrow_mut()
            .entry((event, label))
            .or_insert_with(|| match event {
                CacheEvent::Hit => metrics::counter!("cache_hits_total", "cache" => label),
                CacheEvent::Miss => metrics::counter!("cache_misses_total", "cache" => label),
            })
            .increment(1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttls() -> CacheTtls {
        CacheTtls {
            short: Duration::from_secs(60),
            medium: Duration::from_secs(300),
            long: Duration::from_secs(1800),
            very_long: Duration::from_secs(3600),
        }
    }

    #[tokio::test]
    async fn a_value_stored_before_an_invalidation_is_never_read_after_it() {
        let cache = Cache::new(ttls(), None, "t:", Bus::local()).await;
        let g = cache.generation();
        cache
            .put(Tier::Long, "k", g, Bytes::from_static(b"v1"))
            .await;
        assert_eq!(
            cache.get("t", Tier::Long, "k").await.as_deref(),
            Some(&b"v1"[..])
        );
        cache.invalidate().await;
        assert!(cache.get("t", Tier::Long, "k").await.is_none());
        // A reader that started before the write cannot store its stale value.
        cache
            .put(Tier::Long, "k", g, Bytes::from_static(b"stale"))
            .await;
        assert!(cache.get("t", Tier::Long, "k").await.is_none());
    }

    async fn live(cache: &Cache, key: &str, value: &'static [u8]) {
        let kept = cache
            .live_get_or_insert("t", key, async { Some(Bytes::from_static(value)) })
            .await;
        assert_eq!(kept.as_deref(), Some(value));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_threads_copy_of_a_live_value_lives_only_briefly() {
        let cache = Cache::new(ttls(), None, "t:", Bus::local()).await;
        live(&cache, "k", b"v1").await;
        assert_eq!(cache.live_get("t", "k").await.as_deref(), Some(&b"v1"[..]));
        // The value changes under the copy without a drop (as when it expires and is rendered
        // again): the copy is served for at most FRONT_TTL.
        let entry = Entry {
            bytes: Bytes::from_static(b"v2"),
            ttl: Duration::from_secs(1),
        };
        let full = Cache::full_key(cache.generation(), "k");
        cache.0.local.insert(full, entry).await;
        assert_eq!(cache.live_get("t", "k").await.as_deref(), Some(&b"v1"[..]));
        tokio::time::sleep(FRONT_TTL + Duration::from_millis(10)).await;
        assert_eq!(cache.live_get("t", "k").await.as_deref(), Some(&b"v2"[..]));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_threads_copy_is_never_served_after_a_drop_or_an_invalidation() {
        let cache = Cache::new(ttls(), None, "t:", Bus::local()).await;
        live(&cache, "k", b"v1").await;
        assert!(cache.live_get("t", "k").await.is_some());
        cache.forget_local("k").await;
        assert!(cache.live_get("t", "k").await.is_none());

        live(&cache, "k", b"v2").await;
        assert_eq!(cache.live_get("t", "k").await.as_deref(), Some(&b"v2"[..]));
        cache.invalidate().await;
        assert!(cache.live_get("t", "k").await.is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn two_caches_in_one_thread_never_serve_each_others_copies() {
        let (a, b) = (
            Cache::new(ttls(), None, "a:", Bus::local()).await,
            Cache::new(ttls(), None, "b:", Bus::local()).await,
        );
        live(&a, "k", b"from a").await;
        assert!(a.live_get("t", "k").await.is_some());
        assert!(b.live_get("t", "k").await.is_none());
    }

    #[tokio::test]
    async fn a_key_counts_as_asked_before_from_its_second_asking_on() {
        let cache = Cache::new(ttls(), None, "t:", Bus::local()).await;
        assert!(!cache.asked_before("list:a"));
        assert!(!cache.asked_before("list:b"), "another key is its own");
        assert!(cache.asked_before("list:a"));
        assert!(cache.asked_before("list:a"));
        assert!(cache.asked_before("list:b"));
    }

    #[tokio::test]
    async fn another_instances_announcement_drops_local_entries() {
        let cache = Cache::new(ttls(), None, "t:", Bus::local()).await;
        let g = cache.generation();
        cache
            .put(Tier::Long, "k", g, Bytes::from_static(b"v"))
            .await;
        cache.apply_remote(&format!("{g} {}", cache.0.instance));
        assert!(
            cache.get("t", Tier::Long, "k").await.is_some(),
            "own announcement"
        );
        cache.apply_remote(&format!("{g} someone-else"));
        assert!(cache.get("t", Tier::Long, "k").await.is_none());
        assert!(cache.generation() > g);
    }
}
