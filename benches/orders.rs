//! Paid orders end to end over HTTP (issue 13): many buyers at once, each looping one whole order
//! through a running server with the local `test` gateway:
//!
//! 1. `POST /api/bookings/guest` (a new email per order) → 201 with `data.id`, `data.guestToken`;
//! 2. `POST /api/payments/initiate` `{bookingId, gateway: "test"}` with the guest token → 201 with
//!    `data.authorizationUrl`;
//! 3. `GET` that checkout page → its form token (hidden `csrf` field and `tm_checkout_csrf` cookie);
//! 4. `POST` the page's form `action=pay` with the cookie → 200 "Payment received" (the test
//!    gateway's signed webhook applied: payment SUCCESS, booking CONFIRMED with its tickets).
//!
//! All buyers share one `reqwest::Client` (keep-alive). Prints the orders completed per second
//! in the measured window, p50/p99 of a whole order, and every answer that was not 2xx (or 2xx
//! but not what the step expects) per step, with a few bodies.
//!
//! Run against a server (see `scripts/bench-orders.sh`, which starts one and checks the database
//! afterwards):
//!
//! ```sh
//! BENCH_URL=http://127.0.0.1:29520 BENCH_EVENT_ID=… BENCH_TICKET_TYPE_ID=… \
//!   cargo bench --bench orders
//! ```
//!
//! The event and ticket type may also be given as the first two arguments after `--`.
//! `BENCH_BUYERS` (default 128) concurrent buyers, `BENCH_DURATION` seconds measured (default 15,
//! `15s` accepted) after `BENCH_WARMUP` seconds not measured (default 2). Without `BENCH_URL`, or
//! without `--bench` (as under `cargo test --all-targets`), it says it needs a server and exits 0.
//! The last line, `RESULT …`, is for scripts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};

const STEPS: [&str; 4] = [
    "hold      POST /api/bookings/guest",
    "initiate  POST /api/payments/initiate",
    "page      GET  /api/payments/test/checkout/{ref}",
    "pay       POST /api/payments/test/checkout/{ref}",
];
const CSRF_COOKIE: &str = "tm_checkout_csrf";
/// Bodies kept per (step, outcome) to show what went wrong.
const SAMPLES: usize = 3;

/// Why an order stopped: the step (index in [`STEPS`]), the outcome (`status 503`, `transport
/// error`, `2xx but …`) and what came back.
struct Failure {
    step: usize,
    outcome: String,
    detail: String,
}

impl Failure {
    fn new(step: usize, outcome: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut detail: String = detail.into();
        if detail.len() > 400 {
            let mut cut = 400;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
            detail.push('…');
        }
        Self {
            step,
            outcome: outcome.into(),
            detail,
        }
    }
}

struct Ctx {
    client: reqwest::Client,
    base: String,
    event_id: String,
    type_id: String,
    run: String,
}

/// An answer's status and body; a non-2xx status is a failure of `step`.
async fn answer(
    step: usize,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<(reqwest::header::HeaderMap, String), Failure> {
    let response = sent.map_err(|e| Failure::new(step, "transport error", e.to_string()))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .text()
        .await
        .map_err(|e| Failure::new(step, "transport error", e.to_string()))?;
    if !status.is_success() {
        return Err(Failure::new(
            step,
            format!("status {}", status.as_u16()),
            body,
        ));
    }
    Ok((headers, body))
}

fn json_field(step: usize, body: &str, pointer: &str) -> Result<String, Failure> {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| Failure::new(step, format!("2xx without {pointer}"), body))
}

/// The checkout URL on the benchmarked server: the path of `authorizationUrl` (built from the
/// server's `PUBLIC_BASE_URL`) under `BENCH_URL`.
fn on_base(base: &str, url: &str) -> String {
    let path = url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| &url[i + 3 + j..]))
        .unwrap_or(url);
    format!("{base}{path}")
}

/// One whole order, hold to CONFIRMED; answers how long each step took.
async fn order(ctx: &Ctx, n: u64) -> Result<[Duration; 4], Failure> {
    let base = &ctx.base;
    let mut took = [Duration::ZERO; 4];
    let mut t = Instant::now();
    let (_, body) = answer(
        0,
        ctx.client
            .post(format!("{base}/api/bookings/guest"))
            .json(&json!({
                "eventId": ctx.event_id,
                "ticketTypeId": ctx.type_id,
                "quantity": 1,
                "customerEmail": format!("buyer-{}-{n}@example.com", ctx.run),
                "customerName": "Bench Buyer",
            }))
            .send()
            .await,
    )
    .await?;
    let booking = json_field(0, &body, "/data/id")?;
    let token = json_field(0, &body, "/data/guestToken")?;
    took[0] = t.elapsed();
    t = Instant::now();

    let (_, body) = answer(
        1,
        ctx.client
            .post(format!("{base}/api/payments/initiate"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .json(&json!({"bookingId": booking, "gateway": "test"}))
            .send()
            .await,
    )
    .await?;
    let url = on_base(base, &json_field(1, &body, "/data/authorizationUrl")?);
    took[1] = t.elapsed();
    t = Instant::now();

    let (headers, page) = answer(2, ctx.client.get(&url).send().await).await?;
    let cookie = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.split(';')
                .next()
                .and_then(|pair| pair.trim().strip_prefix(&format!("{CSRF_COOKIE}=")))
                .map(str::to_string)
        })
        .ok_or_else(|| Failure::new(2, format!("2xx without a {CSRF_COOKIE} cookie"), &page))?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(str::to_string)
        .ok_or_else(|| Failure::new(2, "2xx without the form token", &page))?;
    took[2] = t.elapsed();
    t = Instant::now();

    let (_, result) = answer(
        3,
        ctx.client
            .post(&url)
            .header(COOKIE, format!("{CSRF_COOKIE}={cookie}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("action=pay&csrf={csrf}"))
            .send()
            .await,
    )
    .await?;
    if !result.contains("Payment received") {
        return Err(Failure::new(3, "2xx without \"Payment received\"", result));
    }
    took[3] = t.elapsed();
    Ok(took)
}

/// What one buyer saw.
#[derive(Default)]
struct Tally {
    /// Latencies of the orders that completed in the measured window.
    measured: Vec<Duration>,
    /// The same orders' steps.
    steps: [Vec<Duration>; 4],
    completed: u64,
    failures: BTreeMap<(usize, String), u64>,
    samples: BTreeMap<(usize, String), Vec<String>>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.measured.extend(other.measured);
        for (mine, theirs) in self.steps.iter_mut().zip(other.steps) {
            mine.extend(theirs);
        }
        self.completed += other.completed;
        for (k, v) in other.failures {
            *self.failures.entry(k).or_default() += v;
        }
        for (k, v) in other.samples {
            let kept = self.samples.entry(k).or_default();
            for s in v {
                if kept.len() < SAMPLES {
                    kept.push(s);
                }
            }
        }
    }
}

/// The `p` quantile of sorted durations (zero when there are none).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[i - 1]
}

fn env_string(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Seconds, as `15` or `15s`.
fn env_secs(name: &str, default: f64) -> f64 {
    env_string(name)
        .and_then(|v| v.trim().trim_end_matches('s').parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = env_string("BENCH_URL");
    let (Some(url), true) = (url, args.iter().any(|a| a == "--bench")) else {
        println!(
            "orders: needs a running server (BENCH_URL, an event and ticket type, `--bench`); \
             see scripts/bench-orders.sh. Nothing to do."
        );
        return;
    };
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let event_id = positional
        .first()
        .map(|s| s.to_string())
        .or_else(|| env_string("BENCH_EVENT_ID"));
    let type_id = positional
        .get(1)
        .map(|s| s.to_string())
        .or_else(|| env_string("BENCH_TICKET_TYPE_ID"));
    let (Some(event_id), Some(type_id)) = (event_id, type_id) else {
        eprintln!(
            "orders: BENCH_EVENT_ID and BENCH_TICKET_TYPE_ID (or two arguments) are required"
        );
        std::process::exit(2);
    };
    let buyers = env_string("BENCH_BUYERS")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(128)
        .max(1);
    let duration = Duration::from_secs_f64(env_secs("BENCH_DURATION", 15.0));
    let warmup = Duration::from_secs_f64(env_secs("BENCH_WARMUP", 2.0));

    // reqwest is built with `rustls-no-provider`: the process chooses ring, as the server does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(buyers * 2)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    let ctx = Arc::new(Ctx {
        client,
        base: url.trim_end_matches('/').to_string(),
        event_id,
        type_id,
        run: format!("{:x}", rand::random::<u32>()),
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut tally, window) = rt.block_on(async {
        let next = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let window_start = started + warmup;
        let window_end = window_start + duration;
        let mut tasks = Vec::with_capacity(buyers);
        for _ in 0..buyers {
            let (ctx, next, stop) = (ctx.clone(), next.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut tally = Tally::default();
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    match order(&ctx, n).await {
                        Ok(took) => {
                            let done = Instant::now();
                            tally.completed += 1;
                            if done >= window_start && done <= window_end {
                                tally.measured.push(done - t);
                                for (s, d) in tally.steps.iter_mut().zip(took) {
                                    s.push(d);
                                }
                            }
                        }
                        Err(f) => {
                            let key = (f.step, f.outcome);
                            *tally.failures.entry(key.clone()).or_default() += 1;
                            let kept = tally.samples.entry(key.clone()).or_default();
                            if kept.len() < SAMPLES {
                                kept.push(f.detail);
                            }
                            if key.1 == "transport error" {
                                // Not a hot loop against a server that is gone.
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                }
                tally
            }));
        }
        tokio::time::sleep_until(window_end.into()).await;
        stop.store(true, Ordering::Relaxed);
        // Every order in flight is finished, so none is left half-paid by the benchmark.
        let mut tally = Tally::default();
        for t in tasks {
            tally.merge(t.await.expect("buyer"));
        }
        (tally, duration)
    });

    tally.measured.sort();
    for s in &mut tally.steps {
        s.sort();
    }
    let pct = |p: f64| percentile(&tally.measured, p);
    let measured = tally.measured.len();
    let rate = measured as f64 / window.as_secs_f64();
    println!(
        "{buyers} buyers, {:.0} s measured after {:.0} s warm-up, against {}",
        window.as_secs_f64(),
        warmup.as_secs_f64(),
        ctx.base
    );
    println!(
        "paid orders (hold → initiate → page → pay → CONFIRMED): {measured} completed in the window = {rate:.0} orders/s"
    );
    println!(
        "order latency: p50 {:.1?}  p90 {:.1?}  p99 {:.1?}  max {:.1?}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    for (step, took) in STEPS.iter().zip(&tally.steps) {
        println!(
            "  {step:<50} p50 {:>8.1?}  p99 {:>8.1?}",
            percentile(took, 0.50),
            percentile(took, 0.99)
        );
    }
    println!(
        "all orders completed (warm-up, window and drain): {}",
        tally.completed
    );
    let mut non_2xx = 0;
    let mut other = 0;
    println!("failed steps (whole run):");
    for (i, step) in STEPS.iter().enumerate() {
        let mine: Vec<_> = tally
            .failures
            .iter()
            .filter(|((s, _), _)| *s == i)
            .collect();
        let n: u64 = mine.iter().map(|(_, c)| **c).sum();
        println!("  {step:<50} {n}");
        for ((s, outcome), count) in mine {
            println!("    {outcome}: {count}");
            if outcome.starts_with("status ") {
                non_2xx += count;
            } else {
                other += count;
            }
            for body in tally
                .samples
                .get(&(*s, outcome.clone()))
                .into_iter()
                .flatten()
            {
                println!("      e.g. {body}");
            }
        }
    }
    println!(
        "RESULT orders_per_s={rate:.0} p50_ms={:.1} p99_ms={:.1} measured={measured} completed={} non_2xx={non_2xx} other_failures={other}",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        tally.completed
    );
}
