//! Rate limiting (API.md §9, §11.37/40/51/67/90) and the request guard that runs before every
//! handler, in the contract's order: refused user agent and IP block (403), then the rate tiers
//! (429). Account locks (423) and authentication follow in the handlers.
//!
//! The limiter is GCRA (generic cell rate algorithm): each key stores one "theoretical arrival
//! time", so a tier of `limit` per `window` allows a burst of `limit` and then one request every
//! `window / limit` — never the 2× burst of a fixed window at its boundary. All the tiers of a
//! request are checked together and consumed only if every one allows it. Counters live in
//! memory, or in Redis (one Lua script, atomic, on Redis's clock) when `REDIS_URL` is set, so
//! every instance shares them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Either, ready};
use tower::{Layer, Service};

use super::abuse::{self, BlockCache, ClientIp, Policy};
use crate::config::Tier;
use crate::http::{ApiError, ErrorCode};
use crate::state::AppState;

/// Everything the request guard keeps per instance.
pub struct Guard {
    /// The rate limiter.
    pub limiter: Limiter,
    /// Cache of IP blocks.
    pub blocks: BlockCache,
    /// Lock and block thresholds.
    pub policy: Policy,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard on Redis when a connection is given, in memory otherwise, blocking an IP after
    /// `ip_login_failures` failed logins (`None`: never).
    pub fn new(
        redis: Option<redis::aio::ConnectionManager>,
        ip_login_failures: Option<u32>,
    ) -> Self {
        Self {
            limiter: Limiter::new(redis),
            blocks: BlockCache::default(),
            policy: Policy {
                ip_failures: ip_login_failures.map_or(i64::MAX, i64::from),
                ..Policy::default()
            },
        }
    }
}

/// One tier to check for one key.
#[derive(Debug, Clone)]
pub struct Check {
    /// Counter key.
    pub key: String,
    /// Limit and window.
    pub tier: Tier,
}

/// The outcome of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierState {
    /// The tier's limit.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u64,
    /// Seconds until the tier is full again.
    pub reset_secs: u64,
    /// Seconds to wait before this tier allows a request (0 = allowed).
    pub retry_after_secs: u64,
}

/// In-memory GCRA state: theoretical arrival time per key, in ms since start.
#[derive(Debug)]
pub struct MemoryLimiter {
    start: Instant,
    tats: Mutex<HashMap<String, f64>>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            tats: Mutex::new(HashMap::new()),
        }
    }
}

/// The GCRA step for one tier at `now` (ms) given the stored TAT: (new TAT, state).
fn gcra(now: f64, stored: f64, limit: u32, window_ms: f64) -> (f64, TierState) {
    let interval = window_ms / f64::from(limit.max(1));
    let tat = stored.max(now);
    let new_tat = tat + interval;
    let allow_at = new_tat - window_ms;
    // A tolerance for floating-point noise (limit 1: `now + w - w` may exceed `now`).
    if allow_at - now > 1e-6 {
        let remaining = ((window_ms - (tat - now)) / interval).floor().max(0.0) as u64;
        return (
            tat,
            TierState {
                limit,
                remaining,
                reset_secs: ((tat - now) / 1000.0).ceil() as u64,
                retry_after_secs: (((allow_at - now) / 1000.0).ceil() as u64).max(1),
            },
        );
    }
    let remaining = ((window_ms - (new_tat - now)) / interval).floor().max(0.0) as u64;
    (
        new_tat,
        TierState {
            limit,
            remaining,
            reset_secs: ((new_tat - now) / 1000.0).ceil() as u64,
            retry_after_secs: 0,
        },
    )
}

impl MemoryLimiter {
    fn check(&self, checks: &[Check]) -> Vec<TierState> {
        let now = self.start.elapsed().as_secs_f64() * 1000.0;
        let mut tats = self.tats.lock().unwrap_or_else(|p| p.into_inner());
        if tats.len() > 200_000 {
            tats.retain(|_, tat| *tat > now);
        }
        let steps: Vec<(f64, TierState)> = checks
            .iter()
            .map(|c| {
                let stored = tats.get(&c.key).copied().unwrap_or(0.0);
                gcra(now, stored, c.tier.limit, c.tier.window.as_millis() as f64)
            })
            .collect();
        let allowed = steps.iter().all(|(_, s)| s.retry_after_secs == 0);
        if allowed {
            for (c, (tat, _)) in checks.iter().zip(&steps) {
                tats.insert(c.key.clone(), *tat);
            }
            return steps.into_iter().map(|(_, s)| s).collect();
        }
        // Nothing is consumed when any tier refuses: report the tiers as they stand.
        checks
            .iter()
            .zip(steps)
            .map(|(c, (_, s))| {
                if s.retry_after_secs > 0 {
                    s
                } else {
                    let stored = tats.get(&c.key).copied().unwrap_or(0.0).max(now);
                    let interval =
                        c.tier.window.as_millis() as f64 / f64::from(c.tier.limit.max(1));
                    TierState {
                        remaining: ((c.tier.window.as_millis() as f64 - (stored - now)) / interval)
                            .floor()
                            .max(0.0) as u64,
                        reset_secs: ((stored - now) / 1000.0).ceil() as u64,
                        ..s
                    }
                }
            })
            .collect()
    }
}

/// The same GCRA over several keys at once, on Redis's clock; consumes only if all allow.
/// Returns, per key, `{remaining, reset_ms, retry_ms}`.
const GCRA_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local steps = {}
local allowed = true
for i = 1, n do
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local interval = window / limit
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - window
  if allow_at - now > 0.001 then allowed = false end
  steps[i] = {tat, new_tat, interval, window, allow_at}
end
local out = {}
for i = 1, n do
  local s = steps[i]
  local tat, new_tat, interval, window, allow_at = s[1], s[2], s[3], s[4], s[5]
  if allowed then
    redis.call('SET', KEYS[i], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
    out[i] = {math.floor((window - (new_tat - now)) / interval), math.ceil(new_tat - now), 0}
  else
    local retry = 0
    if allow_at - now > 0.001 then retry = math.ceil(allow_at - now) end
    out[i] = {math.floor((window - (tat - now)) / interval), math.ceil(tat - now), retry}
  end
end
return out
"#;

/// Where counters live.
pub enum Limiter {
    /// This process only.
    Memory(MemoryLimiter),
    /// Shared through Redis, with this process's counters standing in while Redis is away.
    Redis(RedisLimiter),
}

/// The Redis limiter and its stand-in.
pub struct RedisLimiter {
    conn: redis::aio::ConnectionManager,
    script: redis::Script,
    /// Counts while Redis is unreachable, so the limits still hold (per instance) instead of
    /// switching off with the cache.
    fallback: MemoryLimiter,
    /// Milliseconds since `fallback.start` of the last Redis failure, or 0.
    failed_at_ms: AtomicU64,
}

/// How long after a Redis failure the limiter counts in memory before it tries Redis again:
/// a request should not wait out a dead connection's timeout each time.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Longest a rate-limit check waits for Redis.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// Where a limiter counts now, for `/health/services`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimiterMode {
    /// In this process, as configured (no `REDIS_URL`).
    Memory,
    /// In Redis, across instances.
    Shared,
    /// In this process because Redis failed recently: limits hold per instance only.
    Fallback,
}

impl Limiter {
    /// A limiter on Redis when a connection is given, in memory otherwise.
    pub fn new(redis: Option<redis::aio::ConnectionManager>) -> Self {
        match redis {
            Some(conn) => Limiter::Redis(RedisLimiter {
                conn,
                script: redis::Script::new(GCRA_LUA),
                fallback: MemoryLimiter::default(),
                failed_at_ms: AtomicU64::new(0),
            }),
            None => Limiter::Memory(MemoryLimiter::default()),
        }
    }

    /// Where the counters live at the moment.
    pub fn mode(&self) -> LimiterMode {
        match self {
            Limiter::Memory(_) => LimiterMode::Memory,
            Limiter::Redis(r) if r.recently_failed() => LimiterMode::Fallback,
            Limiter::Redis(_) => LimiterMode::Shared,
        }
    }

    /// Checks (and, if all allow, consumes) every tier. When Redis fails, the tiers are counted
    /// in this process until Redis answers again (API.md §9 limits never switch off).
    pub async fn check(&self, checks: &[Check]) -> Vec<TierState> {
        match self {
            Limiter::Memory(m) => m.check(checks),
            Limiter::Redis(r) => {
                if r.recently_failed() {
                    return r.fallback.check(checks);
                }
                match r.check(checks).await {
                    Ok(states) => {
                        r.failed_at_ms.store(0, Ordering::Relaxed);
                        states
                    }
                    Err(e) => {
                        if r.failed_at_ms.swap(r.now_ms().max(1), Ordering::Relaxed) == 0 {
                            tracing::warn!(error = %e, "rate limiter: Redis unavailable, counting in memory");
                        }
                        r.fallback.check(checks)
                    }
                }
            }
        }
    }
}

impl RedisLimiter {
    fn now_ms(&self) -> u64 {
        self.fallback.start.elapsed().as_millis() as u64
    }

    fn recently_failed(&self) -> bool {
        let failed = self.failed_at_ms.load(Ordering::Relaxed);
        failed != 0 && self.now_ms().saturating_sub(failed) < REDIS_RETRY_AFTER.as_millis() as u64
    }

    async fn check(&self, checks: &[Check]) -> Result<Vec<TierState>, String> {
        let mut invocation = self.script.prepare_invoke();
        for c in checks {
            invocation.key(&c.key);
            invocation.arg(c.tier.limit.max(1));
            invocation.arg(c.tier.window.as_millis() as u64);
        }
        let mut conn = self.conn.clone();
        let rows = tokio::time::timeout(
            REDIS_TIMEOUT,
            invocation.invoke_async::<Vec<(i64, i64, i64)>>(&mut conn),
        )
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
        Ok(checks
            .iter()
            .zip(rows)
            .map(|(c, (remaining, reset_ms, retry_ms))| TierState {
                limit: c.tier.limit,
                remaining: remaining.max(0) as u64,
                reset_secs: (reset_ms.max(0) as u64).div_ceil(1000),
                retry_after_secs: if retry_ms > 0 {
                    (retry_ms as u64).div_ceil(1000).max(1)
                } else {
                    0
                },
            })
            .collect())
    }
}

/// Routes of the auth tier (register, login), each its own bucket per IP.
const AUTH_ROUTES: [&str; 2] = ["/user/register", "/user/login"];
/// Routes of the sensitive tier, each its own bucket.
const SENSITIVE_ROUTES: [&str; 5] = [
    "/user/verify-email",
    "/user/resend-verification",
    "/user/forgot-password",
    "/user/reset-password",
    "/user/phone/send-code",
];

/// The guest booking route, counted per IP even when a token is presented.
const GUEST_BOOKING_ROUTE: &str = "/bookings/guest";
/// Routes of the check-in tier (API.md §4), one bucket per user shared by both.
const CHECKIN_ROUTES: [&str; 2] = ["/checkin", "/checkin/verify"];

/// Whether a path is outside every limit and block (health checks, payment webhooks).
fn is_exempt(path: &str, prefix: &str) -> bool {
    path == "/health"
        || path.starts_with("/health/")
        || path.strip_prefix(prefix).is_some_and(|rest| {
            rest.starts_with("/payments/webhook/") || rest == "/payments/webhook"
        })
}

/// The tiers that apply to a request.
pub fn checks_for(
    state: &AppState,
    method: &Method,
    path: &str,
    ip: IpAddr,
    user: Option<uuid::Uuid>,
    empty_agent: bool,
) -> Vec<Check> {
    let limits = &state.config.rate_limits;
    let p = &state.config.redis_prefix;
    // A page's sign-in is a login (and its registration, codes and resets are the API's): it
    // spends the API route's bucket, not a fresh one.
    let route = match crate::web::api_route_of(path) {
        Some(route) => route,
        None => path
            .strip_prefix(state.config.api_prefix.as_str())
            .unwrap_or(""),
    };
    let route = route.trim_end_matches('/');
    // Guest booking is anonymous by nature: counted per IP whatever token comes with it, so a
    // borrowed account token cannot buy a fresh bucket.
    let per_ip = *method == Method::POST && route == GUEST_BOOKING_ROUTE;
    let subject = match user {
        Some(id) if !per_ip => format!("u:{id}"),
        _ => format!("ip:{ip}"),
    };
    let mut checks = Vec::with_capacity(4);
    // Check-in has its own tier (API.md §4: 20 per second per user) in place of the medium and
    // long ones: a door scanner works in bursts that the generic write tiers would cut off.
    if *method == Method::POST && CHECKIN_ROUTES.contains(&route) {
        checks.push(Check {
            key: format!("{p}rl:checkin:{subject}"),
            tier: limits.checkin,
        });
        if empty_agent {
            checks.push(Check {
                key: format!("{p}rl:auth:no-user-agent:ip:{ip}"),
                tier: limits.auth,
            });
        }
        return checks;
    }
    let read = matches!(*method, Method::GET | Method::HEAD);
    checks.push(if read {
        Check {
            key: format!("{p}rl:short:{subject}"),
            tier: limits.short,
        }
    } else {
        Check {
            key: format!("{p}rl:medium:{subject}"),
            tier: limits.medium,
        }
    });
    checks.push(Check {
        key: format!("{p}rl:long:{subject}"),
        tier: limits.long,
    });
    if *method == Method::POST && AUTH_ROUTES.contains(&route) {
        checks.push(Check {
            key: format!("{p}rl:auth:{route}:ip:{ip}"),
            tier: limits.auth,
        });
    }
    if *method == Method::POST && SENSITIVE_ROUTES.contains(&route) {
        let who = if route == "/user/phone/send-code" {
            subject.clone()
        } else {
            format!("ip:{ip}")
        };
        checks.push(Check {
            key: format!("{p}rl:sensitive:{route}:{who}"),
            tier: limits.sensitive,
        });
    }
    if empty_agent {
        checks.push(Check {
            key: format!("{p}rl:auth:no-user-agent:ip:{ip}"),
            tier: limits.auth,
        });
    }
    checks
}

fn set_headers(response: &mut Response, states: &[TierState]) {
    let Some(tightest) = states.iter().min_by_key(|s| s.remaining) else {
        return;
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", u64::from(tightest.limit)),
        ("ratelimit-remaining", tightest.remaining),
        ("ratelimit-reset", tightest.reset_secs),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            headers.insert(name, v);
        }
    }
}

/// Wraps a service with [`GuardService`].
#[derive(Clone)]
pub struct GuardLayer(pub AppState);

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            state: self.0.clone(),
            inner,
        }
    }
}

/// The guard middleware: client IP, refused agents, IP blocks, rate tiers. A service of its own
/// rather than `from_fn`, which boxes the stack below it once more on every request.
#[derive(Clone)]
pub struct GuardService<S> {
    state: AppState,
    inner: S,
}

impl<S> Service<Request> for GuardService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // Most requests are decided here, and go on without a box or a clone of the stack.
        match first_look(&self.state, &req) {
            FirstLook::Pass => Either::Left(self.inner.call(req)),
            FirstLook::Refuse(answer) => Either::Right(Box::pin(ready(Ok(answer)))),
            FirstLook::Wait(ip, step) => {
                // The ready service goes with the request; a clone stays for the next one.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                Either::Right(Box::pin(
                    guard(self.state.clone(), req, ip, step, Next(inner)).map(Ok),
                ))
            }
        }
    }
}

/// The service below the guard, called at most once.
struct Next<S>(S);

impl<S> Next<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    async fn run(mut self, req: Request) -> Response {
        let Ok(response) = self.0.call(req).await;
        response
    }
}

/// What the guard can decide without waiting.
enum FirstLook {
    /// Exempt, or not blocked and no rate tier applies.
    Pass,
    /// A blocked IP or agent.
    Refuse(Response),
    /// The IP's block is not in the cache, or rate tiers apply: where [`guard`] takes over.
    Wait(IpAddr, Step),
}

/// Where the waiting part of the guard starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Read the IP's block from the store, then go on as [`first_look`] does.
    Block,
    /// The block and the agent are checked: only the rate tiers are left.
    Tiers,
}

fn first_look(state: &AppState, req: &Request) -> FirstLook {
    if is_exempt(req.uri().path(), &state.config.api_prefix) {
        return FirstLook::Pass;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = ClientIp::resolve(req.headers(), peer, &state.config.trust_proxy);
    match state.guard.blocks.cached(ip) {
        None => return FirstLook::Wait(ip, Step::Block),
        Some(Some(until)) => return FirstLook::Refuse(refusal(req, abuse::ip_blocked(until))),
        Some(None) => {}
    }
    if let Some(answer) = refused_agent(state, req) {
        return FirstLook::Refuse(answer);
    }
    // `/metrics` honours IP blocks (§11.39) but has no rate tier (§9).
    if !state.config.rate_limits.enabled || req.uri().path() == "/metrics" {
        return FirstLook::Pass;
    }
    FirstLook::Wait(ip, Step::Tiers)
}

/// A refusal as the client reads it: people on pages get a page, not the API's JSON.
fn refusal(req: &Request, e: ApiError) -> Response {
    if crate::web::is_page(req.uri().path()) {
        crate::web::console::guard_refusal(e)
    } else {
        e.into_response()
    }
}

/// The 403 for a user agent in `BLOCKED_USER_AGENTS`.
fn refused_agent(state: &AppState, req: &Request) -> Option<Response> {
    let agent = user_agent(req);
    let blocked = &state.config.blocked_user_agents;
    if agent.is_empty() || blocked.is_empty() {
        return None;
    }
    let agent = agent.to_ascii_lowercase();
    blocked
        .iter()
        .any(|b| !b.is_empty() && agent.contains(b.as_str()))
        .then(|| ApiError::new(ErrorCode::Forbidden, "This client is not allowed").into_response())
}

fn user_agent(req: &Request) -> &str {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
}

/// The rest of the guard, for a request [`first_look`] could not decide.
async fn guard<S>(state: AppState, req: Request, ip: IpAddr, step: Step, next: Next<S>) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    if step == Step::Block {
        match state.guard.blocks.blocked_until(&state.store, ip).await {
            Ok(Some(until)) => return refusal(&req, abuse::ip_blocked(until)),
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
        if let Some(answer) = refused_agent(&state, &req) {
            return answer;
        }
        if !state.config.rate_limits.enabled || req.uri().path() == "/metrics" {
            return next.run(req).await;
        }
    }
    let parts_user = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, token)| state.jwt.verify(token.trim()))
        .map(|claims| claims.sub)
        .or_else(|| {
            // The door's scans count per signed-in user, like the API's: phones at one
            // entrance often share one address. (The handler re-checks the session.)
            crate::web::door::is_check_in(req.uri().path())
                .then(|| crate::web::session::cookie(req.headers(), crate::web::console::COOKIE))
                .flatten()
                .and_then(|v| crate::web::session::SessionClaims::open(&state, v))
                .map(|claims| claims.user)
        });
    let checks = checks_for(
        &state,
        req.method(),
        req.uri().path(),
        ip,
        parts_user,
        user_agent(&req).is_empty(),
    );
    let states = state.guard.limiter.check(&checks).await;
    let retry = states.iter().map(|s| s.retry_after_secs).max().unwrap_or(0);
    if retry > 0 {
        metrics::counter!("rate_limit_rejections_total").increment(1);
        // Boxed: the guard's future is moved on every request, and this rare branch's writes
        // would make it many times larger.
        Box::pin(record_rejection(&state, ip)).await;
        let mut response = refusal(
            &req,
            ApiError::new(ErrorCode::RateLimited, "Too many requests; slow down")
                .with_retry_after(retry),
        );
        set_headers(&mut response, &states);
        return response;
    }
    let mut response = next.run(req).await;
    set_headers(&mut response, &states);
    response
}

/// Counts a rate-limit refusal against the IP, blocking it (audited, announced) at the policy's
/// threshold.
async fn record_rejection(state: &AppState, ip: IpAddr) {
    match state
        .store
        .record_rate_limited(&ip.to_string(), &state.guard.policy)
        .await
    {
        Ok(Some(_)) => {
            abuse::announce_block_change(state, ip).await;
            crate::audit::record(
                &state.store,
                crate::audit::AuditEntry::new("ip.block")
                    .target("ip", ip)
                    .ip(Some(ip))
                    .details(serde_json::json!({"reason": "rate_limited"})),
            )
            .await;
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "could not record a rate-limit rejection"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(limit: u32, ms: u64) -> Vec<Check> {
        vec![Check {
            key: "k".into(),
            tier: Tier {
                limit,
                window: Duration::from_millis(ms),
            },
        }]
    }

    #[test]
    fn gcra_allows_the_burst_then_refuses_with_retry_after() {
        let m = MemoryLimiter::default();
        for expected in (0..5).rev() {
            let s = m.check(&check(5, 60_000))[0];
            assert_eq!((s.retry_after_secs, s.remaining), (0, expected));
        }
        let refused = m.check(&check(5, 60_000))[0];
        assert!(refused.retry_after_secs > 0 && refused.retry_after_secs <= 12);
        assert_eq!(refused.remaining, 0);
    }

    #[test]
    fn gcra_has_no_double_burst_at_a_window_boundary() {
        // 10 per 100 ms: after a full burst, 60 ms later only ~6 more are allowed, not 10.
        let m = MemoryLimiter::default();
        for _ in 0..10 {
            assert_eq!(m.check(&check(10, 100))[0].retry_after_secs, 0);
        }
        std::thread::sleep(Duration::from_millis(60));
        let allowed = (0..10)
            .filter(|_| m.check(&check(10, 100))[0].retry_after_secs == 0)
            .count();
        assert!((5..=7).contains(&allowed), "allowed {allowed}");
    }
}
