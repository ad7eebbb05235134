//! Rate limits, account locks, IP blocks and refused agents (API.md §9, §11.37–40, 44, 51,
//! 66, 67, 80, 90), in memory and shared through Redis.

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestResponse};
use reqwest::Method;
use serde_json::json;
use ticketmax::users::model::Role;

const UA: &str = "ticketmax-tests/1.0";

async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> TestResponse {
    app.request(Method::POST, "/api/user/login")
        .header("user-agent", UA)
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
}

async fn get_from(app: &TestApp, ip: &str, path: &str) -> TestResponse {
    app.request(Method::GET, path)
        .header("user-agent", UA)
        .header("x-forwarded-for", ip)
        .send()
        .await
}

fn limited(backend: Backend) -> crate::helpers::TestAppBuilder {
    TestApp::builder(backend)
        .env("RATE_LIMIT_ENABLED", "true")
        .env("TRUST_PROXY", "127.0.0.1")
}

fn header_u64(r: &TestResponse, name: &str) -> u64 {
    r.header(name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .parse()
        .unwrap()
}

async fn the_auth_tier_refuses_the_sixth_login_with_retry_after(app: TestApp) {
    let app = limited(app.backend).spawn().await;
    for i in 0..5u64 {
        let r = login_from(
            &app,
            "198.51.100.1",
            &format!("a{i}@example.com"),
            "whatever-pass",
        )
        .await;
        r.assert_error(401, "INVALID_CREDENTIALS");
        assert_eq!(header_u64(&r, "ratelimit-limit"), 5);
        assert_eq!(header_u64(&r, "ratelimit-remaining"), 4 - i);
        assert!(header_u64(&r, "ratelimit-reset") <= 60);
    }
    let r = login_from(&app, "198.51.100.1", "a9@example.com", "whatever-pass").await;
    r.assert_error(429, "RATE_LIMITED");
    let retry = header_u64(&r, "retry-after");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 0);
    // Register has its own bucket; another IP has its own too.
    let reg = app.request(Method::POST, "/api/user/register").header("user-agent", UA)
        .header("x-forwarded-for", "198.51.100.1")
        .json(&json!({"firstName": "Ada", "lastName": "Lovelace", "email": "n@example.com", "password": "long-enough-1"}))
        .send().await;
    reg.assert_status(201);
    login_from(&app, "198.51.100.2", "a1@example.com", "whatever-pass")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

async fn ipv6_addresses_of_one_64_share_their_limits(app: TestApp) {
    let app = limited(app.backend).spawn().await;
    for i in 0..5u64 {
        login_from(
            &app,
            &format!("2001:db8:7:7::{:x}", i + 1),
            &format!("v6-{i}@example.com"),
            "whatever-pass",
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    login_from(
        &app,
        "2001:db8:7:7:ffff::9",
        "v6-9@example.com",
        "whatever-pass",
    )
    .await
    .assert_error(429, "RATE_LIMITED");
    login_from(&app, "2001:db8:7:8::1", "v6-9@example.com", "whatever-pass")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

async fn the_sensitive_tier_allows_three_per_route(app: TestApp) {
    let app = limited(app.backend).spawn().await;
    let send = |path: &'static str| {
        let app = &app;
        async move {
            app.request(Method::POST, path)
                .header("user-agent", UA)
                .header("x-forwarded-for", "198.51.100.3")
                .json(&json!({"email": "nobody@example.com"}))
                .send()
                .await
        }
    };
    for _ in 0..3 {
        send("/api/user/forgot-password").await.assert_status(200);
    }
    send("/api/user/forgot-password")
        .await
        .assert_error(429, "RATE_LIMITED");
    send("/api/user/resend-verification")
        .await
        .assert_status(200);
}

async fn authenticated_callers_are_counted_per_user_and_anonymous_ones_per_ip(app: TestApp) {
    let app = limited(app.backend)
        .env("THROTTLE_LIMIT_SHORT", "3")
        .env("THROTTLE_TTL_SHORT", "60000")
        .spawn()
        .await;
    let (_, alice) = app.create_user(Role::User).await;
    let (_, bob) = app.create_user(Role::User).await;
    let get = |token: Option<String>, ip: &'static str| {
        let app = &app;
        async move {
            let mut b = app
                .request(Method::GET, "/api/user/profile")
                .header("user-agent", UA)
                .header("x-forwarded-for", ip);
            if let Some(t) = token {
                b = b.token(&t);
            }
            b.send().await
        }
    };
    for _ in 0..3 {
        get(Some(alice.clone()), "198.51.100.4")
            .await
            .assert_status(200);
    }
    get(Some(alice.clone()), "198.51.100.5")
        .await
        .assert_error(429, "RATE_LIMITED");
    get(Some(bob.clone()), "198.51.100.4")
        .await
        .assert_status(200);
    get(None, "198.51.100.4")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn an_empty_user_agent_gets_the_auth_tier_on_every_route(app: TestApp) {
    let app = limited(app.backend).spawn().await;
    for _ in 0..5 {
        app.request(Method::GET, "/api/user/profile")
            .header("x-forwarded-for", "198.51.100.6")
            .send()
            .await
            .assert_error(401, "UNAUTHORIZED");
    }
    app.request(Method::GET, "/api/user/profile")
        .header("x-forwarded-for", "198.51.100.6")
        .send()
        .await
        .assert_error(429, "RATE_LIMITED");
    get_from(&app, "198.51.100.6", "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn health_metrics_and_disabled_limits_are_never_limited(app: TestApp) {
    let app = limited(app.backend)
        .env("THROTTLE_LIMIT_SHORT", "1")
        .spawn()
        .await;
    for _ in 0..5 {
        let r = get_from(&app, "198.51.100.7", "/health").await;
        r.assert_status(200);
        assert!(r.header("ratelimit-limit").is_none());
    }
    // Tests run with RATE_LIMIT_ENABLED=false unless they turn it on: no tiers at all.
    let off = TestApp::spawn(app.backend).await;
    for _ in 0..12 {
        let r = off.get("/api/user/profile").await;
        r.assert_error(401, "UNAUTHORIZED");
        assert!(r.header("ratelimit-limit").is_none());
    }
}

async fn fifty_rate_limit_rejections_block_the_ip_progressively(app: TestApp) {
    let app = limited(app.backend)
        .env("THROTTLE_LIMIT_SHORT", "1")
        .env("THROTTLE_TTL_SHORT", "600000")
        .spawn()
        .await;
    get_from(&app, "203.0.113.50", "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    for i in 1..=50 {
        let r = get_from(&app, "203.0.113.50", "/api/user/profile").await;
        assert_eq!(r.code(), "RATE_LIMITED", "rejection {i}: {}", r.text);
    }
    let r = get_from(&app, "203.0.113.50", "/api/user/profile").await;
    r.assert_error(403, "IP_BLOCKED");
    let retry = header_u64(&r, "retry-after");
    assert!(
        (1..=60).contains(&retry),
        "first block is 1 minute, got {retry}"
    );
    get_from(&app, "203.0.113.50", "/health")
        .await
        .assert_status(200);
    let (_, admin) = app.admin().await;
    let list = app
        .request(Method::GET, "/api/admin/blocked-ips")
        .token(&admin)
        .header("user-agent", UA)
        .send()
        .await;
    assert_eq!(
        list.status.as_u16(),
        200,
        "{:?} {}",
        list.headers,
        list.text
    );
    assert_eq!(list.body["meta"]["total"], 1);
    assert_eq!(list.data()[0]["ip"], "203.0.113.50");
    assert_eq!(list.data()[0]["reason"], "rate_limited");
    // The next block lasts 5 minutes.
    expire_ip_blocks(&app).await;
    for i in 1..=50 {
        let r = get_from(&app, "203.0.113.50", "/api/user/profile").await;
        assert_eq!(r.code(), "RATE_LIMITED", "rejection {i}: {}", r.text);
    }
    let r = get_from(&app, "203.0.113.50", "/api/user/profile").await;
    r.assert_error(403, "IP_BLOCKED");
    let retry = header_u64(&r, "retry-after");
    assert!(
        (61..=300).contains(&retry),
        "second block is 5 minutes, got {retry}"
    );
}

async fn the_fifth_failure_locks_the_account_and_the_next_login_gets_423(app: TestApp) {
    app.register_verified("lock@example.com", "right-password-1")
        .await;
    for _ in 0..5 {
        app.login("lock@example.com", "wrong-password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let r = app.login("lock@example.com", "right-password-1").await;
    r.assert_error(423, "ACCOUNT_LOCKED");
    let retry = header_u64(&r, "retry-after");
    assert!((1..=60).contains(&retry), "{retry}");
    // Unknown emails lock the same way (a 423 reveals nothing).
    for _ in 0..5 {
        app.login("ghost@example.com", "wrong-password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login("ghost@example.com", "wrong-password")
        .await
        .assert_error(423, "ACCOUNT_LOCKED");
    // The second lock lasts 5 minutes.
    expire_locks(&app).await;
    app.login("lock@example.com", "right-password-1")
        .await
        .assert_status(200);
    for _ in 0..5 {
        app.login("lock@example.com", "wrong-password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let r = app.login("lock@example.com", "right-password-1").await;
    r.assert_error(423, "ACCOUNT_LOCKED");
    let retry = header_u64(&r, "retry-after");
    assert!((61..=300).contains(&retry), "{retry}");
    let (_, admin) = app.admin().await;
    let log = app
        .get_as(&admin, "/api/admin/audit-log?action=account.lock")
        .await;
    assert_eq!(log.body["meta"]["total"], 3);
}

async fn parallel_guesses_get_no_more_password_checks_than_the_lock_allows(app: TestApp) {
    app.register_verified("race@example.com", "right-password-1")
        .await;
    let guesses = (0..30).map(|i| {
        let app = &app;
        async move {
            app.login("race@example.com", &format!("wrong-password-{i}"))
                .await
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|r| r.status == 401u16).count();
    let refused = answers.iter().filter(|r| r.status == 423u16).count();
    assert_eq!(checked + refused, 30, "every guess is 401 or 423");
    assert!(
        checked <= 5,
        "{checked} guesses had their password checked; the lock allows 5"
    );
    app.login("race@example.com", "right-password-1")
        .await
        .assert_error(423, "ACCOUNT_LOCKED");
}

async fn wrong_current_passwords_of_change_password_lock_the_account(app: TestApp) {
    app.register_verified("change@example.com", "right-password-1")
        .await;
    let token = app
        .login("change@example.com", "right-password-1")
        .await
        .data()["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..5 {
        app.post_as(
            &token,
            "/api/user/change-password",
            &json!({"currentPassword": "wrong-password", "newPassword": "new-password-2"}),
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.post_as(
        &token,
        "/api/user/change-password",
        &json!({"currentPassword": "right-password-1", "newPassword": "new-password-2"}),
    )
    .await
    .assert_error(423, "ACCOUNT_LOCKED");
    app.login("change@example.com", "right-password-1")
        .await
        .assert_error(423, "ACCOUNT_LOCKED");
}

async fn twenty_failed_logins_from_one_ip_block_it_from_the_twenty_first_request(app: TestApp) {
    // Rate limits stay off here: IP blocks hold regardless (§11.40).
    let app = TestApp::builder(app.backend)
        .env("TRUST_PROXY", "127.0.0.1")
        .spawn()
        .await;
    for i in 0..20 {
        login_from(
            &app,
            "203.0.113.20",
            &format!("u{i}@example.com"),
            "wrong-password",
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    let r = get_from(&app, "203.0.113.20", "/api/user/profile").await;
    r.assert_error(403, "IP_BLOCKED");
    let retry = header_u64(&r, "retry-after");
    assert!((840..=900).contains(&retry), "{retry}");
    get_from(&app, "203.0.113.20", "/health")
        .await
        .assert_status(200);
    get_from(&app, "203.0.113.21", "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    let (_, admin) = app.admin().await;
    let anon = app
        .request(Method::GET, "/api/admin/blocked-ips")
        .send()
        .await;
    anon.assert_error(401, "UNAUTHORIZED");
    let (_, user) = app.create_user(Role::User).await;
    app.get_as(&user, "/api/admin/blocked-ips")
        .await
        .assert_error(403, "FORBIDDEN");
    let list = app
        .get_as(&admin, "/api/admin/blocked-ips?page=1&limit=10")
        .await;
    list.assert_status(200);
    assert_eq!(list.data()[0]["ip"], "203.0.113.20");
    assert_eq!(list.data()[0]["reason"], "login_failure");
    app.delete_as(&admin, "/api/admin/blocked-ips/not-an-ip")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.delete_as(&admin, "/api/admin/blocked-ips/203.0.113.99")
        .await
        .assert_error(404, "NOT_FOUND");
    app.delete_as(&admin, "/api/admin/blocked-ips/203.0.113.20")
        .await
        .assert_status(200);
    get_from(&app, "203.0.113.20", "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    let list = app.get_as(&admin, "/api/admin/blocked-ips").await;
    assert_eq!(list.body["meta"]["total"], 0);
    let log = app
        .get_as(&admin, "/api/admin/audit-log?targetType=ip")
        .await;
    let actions: Vec<_> = log
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, vec!["ip.unblock", "ip.block"]);
}

/// An app behind a trusted local proxy whose IP blocks for failed logins start at `threshold`.
async fn blocking_after(app: &TestApp, threshold: &str) -> TestApp {
    TestApp::builder(app.backend)
        .env("TRUST_PROXY", "127.0.0.1")
        .env("IP_BLOCK_LOGIN_FAILURES", threshold)
        .spawn()
        .await
}

/// `count` failed logins from `ip`, each on another unknown account.
async fn fail_logins(app: &TestApp, ip: &str, count: usize) {
    for i in 0..count {
        login_from(app, ip, &format!("u{i}-{ip}@example.com"), "wrong-password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
}

/// `IP_BLOCK_LOGIN_FAILURES` sets the threshold (here 3), and `0` never blocks an IP for failed
/// logins while accounts still lock.
async fn the_ip_block_threshold_for_failed_logins_is_configurable(app: TestApp) {
    let strict = blocking_after(&app, "3").await;
    fail_logins(&strict, "203.0.113.30", 3).await;
    get_from(&strict, "203.0.113.30", "/api/user/profile")
        .await
        .assert_error(403, "IP_BLOCKED");

    let never = blocking_after(&app, "0").await;
    fail_logins(&never, "203.0.113.31", 25).await;
    get_from(&never, "203.0.113.31", "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    for _ in 0..5 {
        login_from(&never, "203.0.113.31", "same@example.com", "wrong-password").await;
    }
    login_from(&never, "203.0.113.31", "same@example.com", "wrong-password")
        .await
        .assert_error(423, "ACCOUNT_LOCKED");
}

async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(app: TestApp) {
    // No TRUST_PROXY: the header is ignored, so the block lands on the socket peer.
    for i in 0..20 {
        login_from(
            &app,
            &format!("203.0.113.{i}"),
            &format!("u{i}@example.com"),
            "wrong-password",
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    get_from(&app, "203.0.113.200", "/api/user/profile")
        .await
        .assert_error(403, "IP_BLOCKED");
}

async fn blocked_user_agents_are_refused(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("BLOCKED_USER_AGENTS", "sqlmap, BadBot")
        .spawn()
        .await;
    let r = app
        .request(Method::GET, "/api/user/profile")
        .header("user-agent", "Mozilla/5.0 (compatible; badbot/2.1)")
        .send()
        .await;
    r.assert_error(403, "FORBIDDEN");
    app.request(Method::GET, "/api/user/profile")
        .header("user-agent", "Mozilla/5.0")
        .send()
        .await
        .assert_error(401, "UNAUTHORIZED");
}

both_backends!(
    the_auth_tier_refuses_the_sixth_login_with_retry_after,
    the_sensitive_tier_allows_three_per_route,
    authenticated_callers_are_counted_per_user_and_anonymous_ones_per_ip,
    an_empty_user_agent_gets_the_auth_tier_on_every_route,
    health_metrics_and_disabled_limits_are_never_limited,
    fifty_rate_limit_rejections_block_the_ip_progressively,
    the_fifth_failure_locks_the_account_and_the_next_login_gets_423,
    parallel_guesses_get_no_more_password_checks_than_the_lock_allows,
    ipv6_addresses_of_one_64_share_their_limits,
    live_guest_holds_are_capped_per_client_network_and_event,
    wrong_current_passwords_of_change_password_lock_the_account,
    twenty_failed_logins_from_one_ip_block_it_from_the_twenty_first_request,
    the_ip_block_threshold_for_failed_logins_is_configurable,
    forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy,
    blocked_user_agents_are_refused
);

async fn expire_ip_blocks(app: &TestApp) {
    // As if the block had just run out: it ended now, and only later rejections count.
    let now = chrono::Utc::now();
    let past = now - chrono::Duration::milliseconds(1);
    let sql = "UPDATE ip_blocks SET blocked_until = $1, counted_since = $2";
    match &app.state.store {
        ticketmax::store::Store::Sqlite(p) => {
            sqlx::query(sql)
                .bind(past)
                .bind(now)
                .execute(&p.write)
                .await
                .unwrap();
        }
        ticketmax::store::Store::Postgres(p) => {
            sqlx::query(sql)
                .bind(past)
                .bind(now)
                .execute(&p.write)
                .await
                .unwrap();
        }
    }
    // Let the 5-second block cache forget the old block.
    app.state
        .guard
        .blocks
        .invalidate("203.0.113.50".parse().unwrap());
}

/// As if every lock had just ended: failures count again only from the lock's end (as they do
/// when a real lock runs out, `counted_since` being its end).
async fn expire_locks(app: &TestApp) {
    let past = chrono::Utc::now();
    match &app.state.store {
        ticketmax::store::Store::Sqlite(p) => {
            sqlx::query("UPDATE account_locks SET locked_until = $1, counted_since = $1")
                .bind(past)
                .execute(&p.write)
                .await
                .unwrap();
        }
        ticketmax::store::Store::Postgres(p) => {
            sqlx::query("UPDATE account_locks SET locked_until = $1, counted_since = $1")
                .bind(past)
                .execute(&p.write)
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_rate_limit_counters_through_redis() {
    let Some(redis) = crate::helpers::redis_url() else {
        return;
    };
    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    let a = limited(Backend::Sqlite)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .env("AUTH_THROTTLE_LIMIT", "3")
        .spawn()
        .await;
    let b = limited(Backend::Sqlite)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .env("AUTH_THROTTLE_LIMIT", "3")
        .spawn()
        .await;
    login_from(&a, "198.51.100.77", "x@example.com", "whatever-pass")
        .await
        .assert_status(401);
    login_from(&b, "198.51.100.77", "x@example.com", "whatever-pass")
        .await
        .assert_status(401);
    let r = login_from(&a, "198.51.100.77", "x@example.com", "whatever-pass").await;
    r.assert_status(401);
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 0);
    let r = login_from(&b, "198.51.100.77", "x@example.com", "whatever-pass").await;
    r.assert_error(429, "RATE_LIMITED");
    assert!(header_u64(&r, "retry-after") >= 1);
    // Another prefix (another deployment) has its own counters.
    let c = limited(Backend::Sqlite)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &format!("other-{prefix}"))
        .spawn()
        .await;
    login_from(&c, "198.51.100.77", "x@example.com", "whatever-pass")
        .await
        .assert_status(401);
}

/// A TCP relay to the test Redis that can be cut, taking Redis away from a running server.
struct RedisRelay {
    url: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl RedisRelay {
    async fn start(redis_url: &str) -> Self {
        let target = redis_url
            .trim_start_matches("redis://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let tasks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let held = tasks.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                held.lock().unwrap().push(relay);
            }
        });
        tasks.lock().unwrap().push(acceptor);
        Self { url, tasks }
    }

    /// Closes every relayed connection and refuses new ones.
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_still_hold_in_memory_while_redis_is_unreachable() {
    let Some(redis) = crate::helpers::redis_url() else {
        return;
    };
    let relay = RedisRelay::start(&redis).await;
    let app = limited(Backend::Sqlite)
        .env("REDIS_URL", &relay.url)
        .env(
            "REDIS_PREFIX",
            &format!("test-{}:", uuid::Uuid::new_v4().simple()),
        )
        .env("AUTH_THROTTLE_LIMIT", "3")
        .spawn()
        .await;
    relay.cut();
    for _ in 0..3 {
        login_from(&app, "198.51.100.91", "x@example.com", "whatever-pass")
            .await
            .assert_status(401);
    }
    let r = login_from(&app, "198.51.100.91", "x@example.com", "whatever-pass").await;
    r.assert_error(429, "RATE_LIMITED");
    // The cache is down, so the server answers 503, and says the limits count in memory.
    let services = app.get("/health/services").await;
    services.assert_error(503, "UNAVAILABLE");
    let limits = services.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["field"] == "rateLimits")
        .cloned()
        .expect("the rate limits are reported");
    assert!(
        limits["message"]
            .as_str()
            .unwrap()
            .contains("counted in this instance only"),
        "{limits}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_changes_reach_the_other_instance_through_redis() {
    let Some(redis) = crate::helpers::redis_url() else {
        return;
    };
    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    let a = TestApp::builder(Backend::Sqlite)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let b = TestApp::builder(Backend::Sqlite)
        .store(a.state.store.clone())
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let (_, admin) = a.admin().await;
    let (id, token) = a.create_user(Role::User).await;
    // b caches the account as an active USER.
    b.get_as(&token, "/api/user/profile")
        .await
        .assert_status(200);
    b.get_as(&token, "/api/user")
        .await
        .assert_error(403, "FORBIDDEN");
    a.patch_as(
        &admin,
        &format!("/api/user/{id}/role"),
        &json!({"role": "ADMIN"}),
    )
    .await
    .assert_status(200);
    let mut ok = false;
    for _ in 0..50 {
        if b.get_as(&token, "/api/user").await.status.as_u16() == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ok, "the role change reached instance b");
    a.patch_as(
        &admin,
        &format!("/api/user/{id}/status"),
        &json!({"status": "SUSPENDED"}),
    )
    .await
    .assert_status(200);
    let mut refused = false;
    for _ in 0..50 {
        if b.get_as(&token, "/api/user/profile").await.status.as_u16() == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "the suspension reached instance b");
}

async fn post_from(
    app: &TestApp,
    token: &str,
    ip: &str,
    path: &str,
    body: &serde_json::Value,
) -> TestResponse {
    app.request(Method::POST, path)
        .header("user-agent", UA)
        .header("x-forwarded-for", ip)
        .token(token)
        .json(body)
        .send()
        .await
}

async fn check_in_has_its_own_tier_of_twenty_per_user_and_the_twenty_first_scan_gets_429(
    app: TestApp,
) {
    // The short, medium and long tiers are squeezed to 5: none of them may apply to the
    // check-in POSTs, which have their own tier in their place. The check-in window is
    // stretched from 1 s to 60 s (same limit) so a slow machine cannot refill the bucket
    // between requests.
    let app = limited(app.backend)
        .env("THROTTLE_LIMIT_SHORT", "5")
        .env("THROTTLE_TTL_SHORT", "60000")
        .env("THROTTLE_LIMIT_MEDIUM", "5")
        .env("THROTTLE_TTL_MEDIUM", "60000")
        .env("THROTTLE_LIMIT_LONG", "5")
        .env("THROTTLE_TTL_LONG", "60000")
        .env("CHECKIN_THROTTLE_TTL", "60000")
        .spawn()
        .await;
    let (_, org, event, types) =
        crate::fixtures::published_event(&app, &[crate::fixtures::TypeSpec::free(10)]).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let r = post_from(
        &app,
        &buyer,
        "198.51.100.40",
        "/api/bookings",
        &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 2}),
    )
    .await;
    r.assert_status(201);
    let codes: Vec<String> = r.data()["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap().to_string())
        .collect();
    // Twenty scans, both routes sharing the organizer's bucket, all answered.
    for i in 0..20u64 {
        let (path, code) = if i < 10 {
            ("/api/checkin/verify", &codes[1])
        } else {
            ("/api/checkin", &codes[0])
        };
        let r = post_from(&app, &org, "198.51.100.41", path, &json!({"code": code})).await;
        assert!(
            r.status == 200 || r.status == 409,
            "scan {i}: {} {:?}",
            r.status,
            r.body
        );
        assert_eq!(
            header_u64(&r, "ratelimit-limit"),
            20,
            "scan {i}: the check-in tier is the tightest"
        );
        assert_eq!(header_u64(&r, "ratelimit-remaining"), 19 - i);
    }
    // The 21st, on either route and from any IP, is refused with Retry-After.
    for path in ["/api/checkin", "/api/checkin/verify"] {
        let r = post_from(
            &app,
            &org,
            "198.51.100.42",
            path,
            &json!({"code": codes[1]}),
        )
        .await;
        r.assert_error(429, "RATE_LIMITED");
        let retry = header_u64(&r, "retry-after");
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
    }
    // Another user at the same door is not affected, and the refused scan checked nothing in.
    let (_, admin) = app.create_user(Role::Admin).await;
    let r = post_from(
        &app,
        &admin,
        "198.51.100.41",
        "/api/checkin",
        &json!({"code": codes[1]}),
    )
    .await;
    r.assert_status(200);
    assert!(r.data()["checkedInAt"].is_string());
}

both_backends!(check_in_has_its_own_tier_of_twenty_per_user_and_the_twenty_first_scan_gets_429);

async fn guest_booking_from(
    app: &TestApp,
    token: Option<&str>,
    ip: &str,
    body: &serde_json::Value,
) -> TestResponse {
    let mut b = app
        .request(Method::POST, "/api/bookings/guest")
        .header("user-agent", UA)
        .header("x-forwarded-for", ip);
    if let Some(t) = token {
        b = b.token(t);
    }
    b.json(body).send().await
}

async fn live_guest_holds_are_capped_per_client_network_and_event(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("TRUST_PROXY", "127.0.0.1")
        .env("GUEST_MAX_HOLDS_PER_IP", "2")
        .spawn()
        .await;
    let (_, _, event, types) =
        crate::fixtures::published_event(&app, &[crate::fixtures::TypeSpec::paid(50)]).await;
    let body = |n: u32| {
        json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1,
        "customerEmail": format!("cap{n}@example.com"), "customerName": "Mallory <b>Click here</b>"})
    };
    for n in 0..2 {
        guest_booking_from(&app, None, "2001:db8:5:5::1", &body(n))
            .await
            .assert_status(201);
    }
    // Another address of the same /64 is the same client.
    let r = guest_booking_from(&app, None, "2001:db8:5:5::2", &body(2)).await;
    r.assert_error(409, "CONFLICT");
    guest_booking_from(&app, None, "198.51.100.77", &body(3))
        .await
        .assert_status(201);
    // The guest emails carry no text the caller chose: no name, whatever was sent.
    use ticketmax::store::Store;
    let payload: String = crate::with_pool!(app, pool => {
        sqlx::query_scalar("SELECT payload FROM outbox WHERE recipient = 'cap0@example.com' AND template = 'booking_pending'")
            .fetch_one(pool).await.unwrap()
    });
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["customerName"], "");
    assert!(!payload.to_string().contains("Mallory"));
}

async fn guest_bookings_are_counted_per_ip_whatever_token_comes_with_them(app: TestApp) {
    // The medium tier squeezed from 50 per 10 s to 6 per 60 s: the 7th guest booking from
    // one IP is the one refused (the 51st with the defaults).
    let app = limited(app.backend)
        .env("THROTTLE_LIMIT_MEDIUM", "6")
        .env("THROTTLE_TTL_MEDIUM", "60000")
        .spawn()
        .await;
    let (_, _, event, types) =
        crate::fixtures::published_event(&app, &[crate::fixtures::TypeSpec::paid(50)]).await;
    let body = |n: u32| {
        json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1,
        "customerEmail": format!("guest{n}@example.com"), "customerName": "Guest"})
    };
    let (_, alice) = app.create_user(Role::User).await;
    let (_, bob) = app.create_user(Role::User).await;
    let first = guest_booking_from(&app, None, "198.51.100.50", &body(0)).await;
    first.assert_status(201);
    let guest_token = first.data()["guestToken"].as_str().unwrap().to_string();
    // Anonymous, a guest token, and two different accounts' tokens share the IP's bucket.
    let tokens = [
        Some(guest_token.as_str()),
        Some(alice.as_str()),
        Some(bob.as_str()),
        None,
        Some(alice.as_str()),
    ];
    for (i, token) in tokens.into_iter().enumerate() {
        let r = guest_booking_from(&app, token, "198.51.100.50", &body(i as u32 + 1)).await;
        r.assert_status(201);
        assert_eq!(
            header_u64(&r, "ratelimit-remaining"),
            4 - i as u64,
            "request {}",
            i + 2
        );
    }
    for token in [None, Some(guest_token.as_str()), Some(bob.as_str())] {
        let r = guest_booking_from(&app, token, "198.51.100.50", &body(99)).await;
        r.assert_error(429, "RATE_LIMITED");
        assert!(header_u64(&r, "retry-after") >= 1);
    }
    // Another IP has its own bucket; the accounts' own buckets were not spent.
    guest_booking_from(&app, Some(bob.as_str()), "198.51.100.51", &body(7))
        .await
        .assert_status(201);
    let own = app
        .request(Method::POST, "/api/bookings")
        .header("user-agent", UA)
        .header("x-forwarded-for", "198.51.100.50")
        .token(&alice)
        .json(&json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1}))
        .send()
        .await;
    own.assert_status(201);
    assert_eq!(
        header_u64(&own, "ratelimit-remaining"),
        5,
        "alice's bucket is whole: {:?}",
        own.body
    );
}

both_backends!(guest_bookings_are_counted_per_ip_whatever_token_comes_with_them);
