//! Authentication benchmark (run in release, on an otherwise idle machine):
//!
//! ```text
//! cargo bench --bench auth
//! BENCH_LOGINS=400 BENCH_CONCURRENCY=8 BENCH_SECONDS=10 cargo bench --bench auth
//! ```
//!
//! Reports, at the Argon2id parameters of `src/users/password.rs`: login latency p50/p99 over
//! sequential logins through the real HTTP server (SQLite, rate limits off), logins per second
//! with `BENCH_CONCURRENCY` concurrent clients on the 2 runtime workers (Argon2 runs on the
//! blocking pool), and the cost of authentication on a request: the `AuthUser` extractor
//! (signature, expiry, then role/status/version and session checks through the caches) on a
//! warm cache, which is exactly what an authenticated GET adds over an anonymous one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use ticketmax::app::{self, AppState};
use ticketmax::config::Config;
use ticketmax::users::AuthUser;
use ticketmax::users::model::{NewUser, Role, UserStatus};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::temp_dir().join(format!("tm-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let env: HashMap<String, String> = [
        ("APP_ENV", "development".to_string()),
        (
            "JWT_SECRET",
            "bench-secret-bench-secret-bench-secret-01".into(),
        ),
        ("RATE_LIMIT_ENABLED", "false".into()),
        ("LOG_LEVEL", "error".into()),
        ("EMAIL_TRANSPORT", "log".into()),
        ("SMS_TRANSPORT", "log".into()),
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("bench.db").display()),
        ),
        ("UPLOAD_DEST", dir.join("uploads").display().to_string()),
        ("EMAIL_FILE_DIR", dir.join("mail").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_map(&env).expect("config");
    let store = app::open_store(&config).await.expect("store");
    let state = AppState::build(config, store).await.expect("state");
    let password = "bench-password-1";
    let password_hash = ticketmax::users::password::hash(password.into())
        .await
        .expect("hash");
    // One account per concurrent client: concurrent password checks of ONE account are capped
    // at the lock threshold (API.md §11.94), which is not what this measures.
    let concurrency = env_or("BENCH_CONCURRENCY", 8);
    let mut user_id = uuid::Uuid::nil();
    for i in 0..concurrency {
        let id = state
            .store
            .insert_user(&NewUser {
                email: format!("bench{i}@example.com"),
                password_hash: password_hash.clone(),
                first_name: "Bench".into(),
                last_name: "Mark".into(),
                role: Role::User,
                status: UserStatus::Active,
                email_verified: true,
            })
            .await
            .expect("user");
        if i == 0 {
            user_id = id;
        }
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve_on(listener, state.clone(), async move {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::new();
    let login = {
        let client = client.clone();
        let url = format!("{base}/api/user/login");
        move |account: u64| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let email = format!("bench{account}@example.com");
                let r = client
                    .post(&url)
                    .json(&serde_json::json!({"email": email, "password": password}))
                    .send()
                    .await
                    .expect("login request");
                assert_eq!(r.status().as_u16(), 200, "login failed");
            }
        }
    };

    // 1. Sequential login latency.
    let n = env_or("BENCH_LOGINS", 200) as usize;
    login(0).await;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        login(0).await;
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "login latency (Argon2id m=19456 KiB, t=2, p=1; {n} sequential): p50 {:.1} ms, p99 {:.1} ms",
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    );

    // 2. Throughput with concurrent clients.
    let seconds = env_or("BENCH_SECONDS", 10);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..concurrency {
        let login = login.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                login(client).await;
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    println!(
        "login throughput ({concurrency} concurrent clients, {seconds} s, 2 runtime workers): {:.1} logins/s",
        total as f64 / started.elapsed().as_secs_f64()
    );

    // 3. Authentication overhead per request (warm cache).
    let token = state
        .jwt
        .issue(user_id, Role::User, uuid::Uuid::now_v7(), 0)
        .expect("token");
    let request = || {
        axum::http::Request::builder()
            .uri("/api/user/profile")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .expect("request")
            .into_parts()
            .0
    };
    let mut parts = request();
    AuthUser::from_request_parts(&mut parts, &state)
        .await
        .expect("warm-up authenticates");
    let rounds = env_or("BENCH_AUTH_ROUNDS", 100_000) as usize;
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let mut parts = request();
        let started = Instant::now();
        let user = AuthUser::from_request_parts(&mut parts, &state).await;
        samples.push(started.elapsed());
        assert!(user.is_ok());
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / rounds as u32;
    println!(
        "auth overhead per authenticated request (AuthUser, warm cache, {rounds} rounds): mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs (target < 50 µs)",
        mean.as_secs_f64() * 1e6,
        percentile(&samples, 0.50).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6
    );

    let _ = stop_tx.send(());
    let _ = server.await;
    state.store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
