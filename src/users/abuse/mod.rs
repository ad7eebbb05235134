//! Brute-force and abuse protection (API.md §9, §11.38/39/44/66/80): progressive account locks
//! after failed logins (unknown emails lock the same way), IP blocks after failed logins across
//! accounts or after repeated rate-limit rejections, refused user agents, and the admin routes
//! `GET/DELETE /api/admin/blocked-ips`.
//!
//! Locks and blocks live in the database (`account_locks`, `ip_blocks`, `abuse_events`), so they
//! hold across every instance sharing it, with or without Redis. The per-request IP check reads
//! an in-process cache (a few seconds of TTL); every block or unblock invalidates it here and, on
//! the `auth` bus topic, on every other instance.

pub mod postgres;
pub mod sqlite;
mod store;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::http::openapi::RoutesAt;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::http::{ApiError, ApiPath, ApiQuery, ApiResponse, ApiResult, Meta, Page};
use crate::state::AppState;
use crate::store::Store;
use crate::users::{AdminOnly, AdminUser};

/// Thresholds and lock lengths.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Failed logins of one account that lock it (5).
    pub account_failures: i64,
    /// Window they are counted in (15 min).
    pub account_window: chrono::Duration,
    /// Lock lengths on the 1st, 2nd, 3rd, later lock (1, 5, 15, 60 min).
    pub account_steps: Vec<chrono::Duration>,
    /// Failed logins from one IP that block it (20).
    pub ip_failures: i64,
    /// Window of IP counts (10 min).
    pub ip_window: chrono::Duration,
    /// Block length after failed logins (15 min).
    pub ip_block: chrono::Duration,
    /// Rate-limit rejections that block an IP (50).
    pub rejections: i64,
    /// Block lengths after rejections (1, 5, 15, 60 min).
    pub rejection_steps: Vec<chrono::Duration>,
}

impl Default for Policy {
    fn default() -> Self {
        let steps: Vec<_> = [1, 5, 15, 60]
            .into_iter()
            .map(chrono::Duration::minutes)
            .collect();
        Self {
            account_failures: 5,
            account_window: chrono::Duration::minutes(15),
            account_steps: steps.clone(),
            ip_failures: 20,
            ip_window: chrono::Duration::minutes(10),
            ip_block: chrono::Duration::minutes(15),
            rejections: 50,
            rejection_steps: steps,
        }
    }
}

impl Policy {
    /// The length of the next lock after `previous` locks.
    pub fn step(steps: &[chrono::Duration], previous: i64) -> chrono::Duration {
        let i = usize::try_from(previous).unwrap_or(0).min(steps.len() - 1);
        steps[i]
    }
}

/// A stored IP block.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BlockRow {
    /// The IP.
    pub ip: String,
    /// `login_failure` or `rate_limited`.
    pub reason: String,
    /// End of the block.
    pub blocked_until: Option<DateTime<Utc>>,
    /// Blocks so far (progression).
    pub block_count: i64,
    /// Start of the current block.
    pub blocked_at: DateTime<Utc>,
}

/// A blocked IP as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockView {
    /// The IP.
    pub ip: String,
    /// `login_failure` or `rate_limited`.
    pub reason: String,
    /// Start of the block.
    pub blocked_at: DateTime<Utc>,
    /// End of the block.
    pub blocked_until: Option<DateTime<Utc>>,
    /// Blocks of this IP in the current progression.
    pub block_count: i64,
}

impl From<BlockRow> for BlockView {
    fn from(r: BlockRow) -> Self {
        Self {
            ip: r.ip,
            reason: r.reason,
            blocked_at: r.blocked_at,
            blocked_until: r.blocked_until,
            block_count: r.block_count,
        }
    }
}

/// Per-instance cache of IP blocks (the database holds the truth). A synchronous map: the guard
/// reads it on every request before deciding whether it has to wait at all.
///
/// Each thread also keeps its own copy of what it read, for [`FRONT_TTL`], served while nothing
/// was invalidated since: the guard's check of a returning client is then a thread-local lookup
/// instead of moka's (its hash, its read log, its clock), about a quarter of the instructions
/// (BENCHMARKS.md, "Instructions per cached read, third round").
#[derive(Debug, Clone)]
pub struct BlockCache {
    entries: moka::sync::Cache<IpAddr, Option<DateTime<Utc>>>,
    /// Which cache a thread's copy came from (tests run many in one process).
    id: u64,
    /// Bumped by every invalidation: a thread's copies taken before it are not served.
    generation: Arc<AtomicU64>,
}

/// How long a thread serves its own copy of an IP's block before asking the shared cache again
/// (which itself forgets after 5 s: a block another instance wrote and failed to announce is
/// seen within 6 s).
const FRONT_TTL: Duration = Duration::from_secs(1);

/// Most IPs a thread keeps copies of; the map is emptied when full. Addresses come from clients,
/// but a crafted flood of them costs at most this many entries per thread.
const FRONT_ENTRIES: usize = 1024;

impl Default for BlockCache {
    fn default() -> Self {
        static CACHES: AtomicU64 = AtomicU64::new(0);
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(5))
                .build(),
            id: CACHES.fetch_add(1, Ordering::Relaxed),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// A thread's copy of an IP's block, and what it was taken under.
struct FrontBlock {
    cache: u64,
    generation: u64,
    until: Instant,
    blocked: Option<DateTime<Utc>>,
}

thread_local! {
    static FRONT: std::cell::RefCell<crate::telemetry::FastMap<IpAddr, FrontBlock>> =
        std::cell::RefCell::default();
}

impl BlockCache {
    /// Until when an IP is blocked, if it is now; `None` when the cache does not know.
    pub fn cached(&self, ip: IpAddr) -> Option<Option<DateTime<Utc>>> {
        // Read before the value: an invalidation after this makes the copy stale.
        let generation = self.generation.load(Ordering::SeqCst);
        let now = Instant::now();
        let fresh = |copy: &FrontBlock| {
            copy.cache == self.id && copy.generation == generation && now < copy.until
        };
        let copied = FRONT.with(|front| {
            front
                .borrow()
                .get(&ip)
                .filter(|c| fresh(c))
                .map(|c| c.blocked)
        });
        let blocked = match copied {
            Some(blocked) => blocked,
            None => {
                let blocked = self.entries.get(&ip)?;
                FRONT.with(|front| {
                    let mut front = front.borrow_mut();
                    if front.len() >= FRONT_ENTRIES && !front.contains_key(&ip) {
                        front.clear();
                    }
                    let copy = FrontBlock {
                        cache: self.id,
                        generation,
                        until: now + FRONT_TTL,
                        blocked,
                    };
                    front.insert(ip, copy);
                });
                blocked
            }
        };
        Some(blocked.filter(|u| *u > Utc::now()))
    }

    /// Until when an IP is blocked, if it is now.
    pub async fn blocked_until(
        &self,
        store: &Store,
        ip: IpAddr,
    ) -> ApiResult<Option<DateTime<Utc>>> {
        if let Some(known) = self.cached(ip) {
            return Ok(known);
        }
        let until = store.ip_blocked_until(&ip.to_string()).await?;
        self.entries.insert(ip, until);
        Ok(until.filter(|u| *u > Utc::now()))
    }

    /// Forgets an IP after a block or unblock.
    pub fn invalidate(&self, ip: IpAddr) {
        self.entries.invalidate(&ip);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Forgets every IP, when unblocks may have been missed.
    pub fn clear(&self) {
        self.entries.invalidate_all();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// The 403 `IP_BLOCKED` answer.
pub fn ip_blocked(until: DateTime<Utc>) -> ApiError {
    ApiError::new(
        crate::http::ErrorCode::IpBlocked,
        "Too many suspicious requests from your network; try again later",
    )
    .with_retry_after(seconds_until(until))
}

/// Whole seconds from now until `t` (at least 1).
pub fn seconds_until(t: DateTime<Utc>) -> u64 {
    let ms = (t - Utc::now()).num_milliseconds().max(0) as u64;
    ms.div_ceil(1000).max(1)
}

/// Tells every instance (this one included) that an IP's block changed.
pub async fn announce_block_change(state: &AppState, ip: IpAddr) {
    state.guard.blocks.invalidate(ip);
    state
        .bus
        .publish(crate::bus::topic::AUTH, format!("ip:{ip}"))
        .await;
}

/// The client's IP: the socket peer, or the first untrusted address of `X-Forwarded-For` when
/// the peer is a trusted proxy (`TRUST_PROXY`); an IPv6 client as its /64 network (API.md
/// §11.96), since one subscriber holds a whole /64 and could otherwise take a fresh address, and
/// so a fresh limit, per request. Rate tiers, IP blocks, abuse counters and the audit log all
/// see this address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// An address as the abuse protection keys it: IPv4 as is, IPv6 as its /64 network.
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

impl ClientIp {
    /// Works out the client IP of a request (its /64 for IPv6).
    pub fn resolve(
        parts_headers: &axum::http::HeaderMap,
        peer: Option<IpAddr>,
        trusted: &[IpAddr],
    ) -> IpAddr {
        network_of(Self::resolve_address(parts_headers, peer, trusted))
    }

    fn resolve_address(
        parts_headers: &axum::http::HeaderMap,
        peer: Option<IpAddr>,
        trusted: &[IpAddr],
    ) -> IpAddr {
        let peer = peer
            .map(|p| p.to_canonical())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if !trusted.contains(&peer) {
            return peer;
        }
        let mut chain: Vec<IpAddr> = parts_headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical())
            .collect();
        let leftmost = chain.first().copied();
        while let Some(ip) = chain.pop() {
            if !trusted.contains(&ip) {
                return ip;
            }
        }
        leftmost.unwrap_or(peer)
    }
}

/// Resolved where a handler asks for it, not by the guard for every request: an extension is an
/// allocation, and a growth of the request's map, that most requests (a catalogue read) never
/// read back.
impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientIp(Self::resolve(
            &parts.headers,
            peer,
            &state.config.trust_proxy,
        )))
    }
}

/// Routes under `/admin/blocked-ips`.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(list_blocked_ips))
        .routes_at(p, routes!(delete_blocked_ip))
}

/// Paging of the blocked-IP list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
}

/// Lists the IPs blocked now (ADMIN), newest first.
#[utoipa::path(get, path = "/admin/blocked-ips", tag = "admin",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of blocked IPs", body = [BlockView]),
        AdminOnly,
    ))]
pub(crate) async fn list_blocked_ips(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiResponse<Vec<BlockView>>> {
    let page = Page::parse(q.page, q.limit, 20)?;
    let (rows, total) = state
        .store
        .list_ip_blocks(i64::from(page.limit), page.offset())
        .await?;
    let views = rows.into_iter().map(BlockView::from).collect();
    Ok(ApiResponse::page(views, Meta::of_count(page, total)))
}

/// Lifts the block of an IP (ADMIN).
#[utoipa::path(delete, path = "/admin/blocked-ips/{ip}", tag = "admin",
    params(("ip" = String, Path, description = "The blocked IP")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unblocked"),
        (status = 400, description = "Not an IP address"),
        AdminOnly,
        (status = 404, description = "That IP is not blocked"),
    ))]
pub(crate) async fn delete_blocked_ip(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<ApiResponse<()>> {
    let ip: IpAddr = raw
        .parse::<IpAddr>()
        .map(network_of)
        .map_err(|_| ApiError::field("ip", "must be an IP address"))?;
    if !state.store.unblock_ip(&ip.to_string()).await? {
        return Err(ApiError::not_found("Blocked IP"));
    }
    announce_block_change(&state, ip).await;
    let entry = crate::audit::by_account(&state.store, "ip.unblock", admin.id, client).await?;
    crate::audit::record(&state.store, entry.target("ip", ip)).await;
    Ok(ApiResponse::ok(()).message("IP unblocked"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_threads_copy_of_an_ip_is_never_served_after_a_block_or_unblock() {
        let cache = BlockCache::default();
        let until = Utc::now() + chrono::Duration::minutes(5);
        let client = ip("203.0.113.9");
        assert_eq!(
            cache.cached(client),
            None,
            "unknown until the store was read"
        );
        cache.entries.insert(client, None);
        assert_eq!(cache.cached(client), Some(None));
        // Blocked: announce_block_change invalidates, the next read stores the block.
        cache.invalidate(client);
        cache.entries.insert(client, Some(until));
        assert_eq!(cache.cached(client), Some(Some(until)));
        // Unblocked everywhere at once.
        cache.clear();
        assert_eq!(cache.cached(client), None);
        cache.entries.insert(client, None);
        assert_eq!(cache.cached(client), Some(None));
        // An invalidation of another IP ends this thread's copies too (one generation).
        cache.entries.insert(client, Some(until));
        cache.invalidate(ip("198.51.100.7"));
        assert_eq!(cache.cached(client), Some(Some(until)));
    }

    #[test]
    fn a_threads_copy_belongs_to_its_cache_and_lasts_a_second() {
        let (open, blocking) = (BlockCache::default(), BlockCache::default());
        let until = Utc::now() + chrono::Duration::minutes(5);
        let client = ip("2001:db8::");
        open.entries.insert(client, None);
        blocking.entries.insert(client, Some(until));
        assert_eq!(open.cached(client), Some(None));
        assert_eq!(blocking.cached(client), Some(Some(until)));
        assert_eq!(open.cached(client), Some(None));
        // Written behind the cache's back (no invalidation): the copy is served for at most
        // FRONT_TTL, then the shared cache is read again.
        open.entries.insert(client, Some(until));
        assert_eq!(open.cached(client), Some(None));
        std::thread::sleep(FRONT_TTL + Duration::from_millis(20));
        assert_eq!(open.cached(client), Some(Some(until)));
    }

    #[test]
    fn a_block_that_ended_is_not_served_from_a_copy() {
        let cache = BlockCache::default();
        let client = ip("192.0.2.1");
        cache.entries.insert(
            client,
            Some(Utc::now() + chrono::Duration::milliseconds(30)),
        );
        assert!(cache.cached(client).unwrap().is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.cached(client), Some(None));
    }

    #[test]
    fn forwarded_for_is_trusted_only_from_listed_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        assert_eq!(ClientIp::resolve(&headers, Some(proxy), &[]), proxy);
        assert_eq!(
            ClientIp::resolve(&headers, Some(proxy), &[proxy]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // A spoofed leftmost entry does not win over the address the proxy saw.
        headers.insert("x-forwarded-for", "1.1.1.1, 198.51.100.7".parse().unwrap());
        assert_eq!(
            ClientIp::resolve(&headers, Some(proxy), &[proxy]),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn lock_lengths_progress_and_stay_at_the_last_step() {
        let p = Policy::default();
        let minutes: Vec<i64> = (0..6)
            .map(|n| Policy::step(&p.account_steps, n).num_minutes())
            .collect();
        assert_eq!(minutes, vec![1, 5, 15, 60, 60, 60]);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_and_ipv4_ones_by_their_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_of(a), network_of(b));
        assert_eq!(network_of(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_ne!(network_of(a), network_of(other));
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(network_of(v4), v4);
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(network_of(mapped), v4);
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "2001:db8:9:9:1::5".parse().unwrap());
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            ClientIp::resolve(&headers, Some(proxy), &[proxy]),
            "2001:db8:9:9::".parse::<IpAddr>().unwrap()
        );
    }
}
