//! Hold throughput: one hot ticket type with 10,000 tickets and 256 concurrent buyers until sold
//! out, then 1,000 ticket types in parallel, on SQLite (temporary file) and on PostgreSQL when
//! `BENCH_DATABASE_URL` is set. Prints holds/s, p50/p99 latency, and checks zero oversell. Each
//! backend first runs an unmeasured warm-up of both scenarios (a fifth of the tickets) so the pool
//! is open and its statements planned.
//!
//! Run: `cargo bench --bench holds` (release). `BENCH_TICKETS` and `BENCH_BUYERS` override the
//! sizes; `BENCH_PG_CONNECTIONS` the PostgreSQL pool (default 10, the server's
//! `DATABASE_MAX_CONNECTIONS` default). Under `cargo test --all-targets` (no `--bench` argument)
//! it runs a small smoke size.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use ticketmax::bookings::{HoldOutcome, Links, NewHold};
use ticketmax::store::Store;
use ticketmax::users::model::{NewUser, Role, UserStatus};
use uuid::Uuid;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn exec(store: &Store, sql: &'static str, binds: Vec<BindValue>) {
    macro_rules! run {
        ($pool:expr) => {{
            let mut q = sqlx::query(sql);
            for b in binds {
                q = match b {
                    BindValue::Id(v) => q.bind(v),
                    BindValue::Int(v) => q.bind(v),
                    BindValue::Time(v) => q.bind(v),
                };
            }
            q.execute($pool).await.expect("bench setup")
        }};
    }
    match store {
        Store::Sqlite(p) => {
            run!(&p.write);
        }
        Store::Postgres(p) => {
            run!(&p.write);
        }
    }
}

enum BindValue {
    Id(Uuid),
    Int(i64),
    Time(chrono::DateTime<Utc>),
}

/// Inserts a published event with `types` ticket types of `capacity` each; returns the ids.
async fn setup(store: &Store, types: usize, capacity: i64) -> (Uuid, Vec<Uuid>) {
    let organizer = store
        .insert_user(&NewUser {
            email: format!("bench-{}@example.com", Uuid::new_v4().simple()),
            password_hash: "x".into(),
            first_name: "Bench".into(),
            last_name: "Organizer".into(),
            role: Role::Organizer,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await
        .expect("organizer");
    let now = Utc::now();
    let event = Uuid::now_v7();
    exec(
        store,
        "INSERT INTO events (id, organizer_id, title, description, category, location, starts_at, status, currency,
             published_at, created_at, updated_at)
         VALUES ($1, $2, 'Bench', 'Bench', 'music', 'Lagos', $3, 'PUBLISHED', 'NGN', $4, $4, $4)",
        vec![
            BindValue::Id(event),
            BindValue::Id(organizer),
            BindValue::Time(now + chrono::Duration::days(30)),
            BindValue::Time(now - chrono::Duration::days(1)),
        ],
    )
    .await;
    let mut ids = Vec::with_capacity(types);
    for i in 0..types {
        let id = Uuid::now_v7();
        exec(
            store,
            "INSERT INTO ticket_types (id, event_id, name, kind, price, capacity, max_per_order, position, created_at, updated_at)
             VALUES ($1, $2, 'Bench', 'general', 500000, $3, 10, $4, $5, $5)",
            vec![
                BindValue::Id(id),
                BindValue::Id(event),
                BindValue::Int(capacity),
                BindValue::Int(i as i64),
                BindValue::Time(now),
            ],
        )
        .await;
        ids.push(id);
    }
    (event, ids)
}

struct Report {
    holds: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Report {
    fn print(&mut self, label: &str) {
        self.latencies.sort();
        let pct = |p: f64| {
            if self.latencies.is_empty() {
                return Duration::ZERO;
            }
            let i =
                ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
            self.latencies[i - 1]
        };
        println!(
            "{label:<44} {:>6} holds in {:>7.2?}  {:>8.0} holds/s  p50 {:>7.2?}  p99 {:>7.2?}  ({} attempts)",
            self.holds,
            self.elapsed,
            self.holds as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            self.latencies.len(),
        );
    }
}

fn request(event: Uuid, ty: Uuid, n: usize) -> NewHold {
    NewHold {
        event_id: event,
        ticket_type_id: Some(ty),
        quantity: 1,
        user_id: None,
        customer_email: format!("buyer{n}@example.com"),
        customer_name: "Bench Buyer".into(),
        customer_phone: None,
        special_requests: None,
        guest_token_hash: None,
        guest_token: None,
        idempotency_key: None,
        now: Utc::now(),
        hold: chrono::Duration::minutes(10),
    }
}

/// `buyers` tasks buying one ticket at a time, spreading attempts over `types`, until every
/// seat is held.
async fn run(
    store: &Store,
    event: Uuid,
    types: Arc<Vec<Uuid>>,
    total: i64,
    buyers: usize,
) -> Report {
    let links = Arc::new(Links {
        public_base: "http://localhost:3000".into(),
        api_base: "http://localhost:3000/api".into(),
        signing_key: "bench-key".into(),
    });
    let next = Arc::new(AtomicUsize::new(0));
    let held = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(buyers);
    for _ in 0..buyers {
        let (store, types, links, next, held, done) = (
            store.clone(),
            types.clone(),
            links.clone(),
            next.clone(),
            held.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let ty = types[n % types.len()];
                let t = Instant::now();
                let outcome = store.hold_booking(&request(event, ty, n), &links).await;
                latencies.push(t.elapsed());
                match outcome.expect("hold") {
                    HoldOutcome::Held { .. } => {
                        if held.fetch_add(1, Ordering::Relaxed) + 1 >= total {
                            done.store(true, Ordering::Relaxed);
                        }
                    }
                    HoldOutcome::SoldOut { .. } => {
                        if types.len() == 1 {
                            done.store(true, Ordering::Relaxed);
                        }
                    }
                    other => panic!("unexpected outcome {other:?}"),
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("buyer"));
    }
    let elapsed = started.elapsed();
    // Zero oversell, and counters equal to the rows.
    let mut sum = 0;
    for ty in types.iter() {
        let (capacity, sold, held_counter, pending, confirmed) =
            store.type_counters(*ty).await.expect("counters");
        assert!(
            sold + held_counter <= capacity,
            "OVERSOLD: {sold} + {held_counter} > {capacity}"
        );
        assert_eq!(
            (sold, held_counter),
            (confirmed, pending),
            "counters differ from the rows"
        );
        sum += held_counter;
    }
    assert_eq!(sum, total, "every seat held exactly once");
    Report {
        holds: held.load(Ordering::Relaxed) as usize,
        elapsed,
        latencies,
    }
}

async fn bench(label: &str, store: Store) {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let tickets = env_num("BENCH_TICKETS", if smoke { 1_000 } else { 10_000 }) as i64;
    let buyers = env_num("BENCH_BUYERS", if smoke { 64 } else { 256 });
    // Warm-up, not measured, of both shapes: the pool opens its connections and each connection
    // prepares and plans its statements, as a running server's pool already has. Measured
    // without it, the first 200–250 ms of a run (new PostgreSQL connections, then each batch
    // worker's connection planning its statements) carry nearly every hold over 40 ms.
    let warm = (tickets / 5).max(1000);
    let (event, ids) = setup(&store, 1, warm).await;
    run(&store, event, Arc::new(ids), warm, buyers).await;
    let (event, ids) = setup(&store, 1000, warm / 1000).await;
    run(&store, event, Arc::new(ids), warm / 1000 * 1000, buyers).await;
    let (event, ids) = setup(&store, 1, tickets).await;
    run(&store, event, Arc::new(ids), tickets, buyers)
        .await
        .print(&format!(
            "{label}: 1 hot type, {tickets} tickets, {buyers} buyers"
        ));
    let per_type = (tickets / 1000).max(1);
    let (event, ids) = setup(&store, 1000, per_type).await;
    run(&store, event, Arc::new(ids), per_type * 1000, buyers)
        .await
        .print(&format!(
            "{label}: 1000 types x {per_type}, {buyers} buyers"
        ));
    println!("{label}: zero oversell, counters equal the bookings");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("ticketmax-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sqlite = Store::open_sqlite_file(&dir.join("bench.db"))
            .await
            .expect("sqlite");
        sqlite.migrate().await.expect("migrate");
        bench("sqlite", sqlite.clone()).await;
        sqlite.close().await;
        let _ = std::fs::remove_dir_all(&dir);

        match std::env::var("BENCH_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("bench_{}", Uuid::new_v4().simple());
                let admin = Store::connect(&url, 2).await.expect("postgres");
                if let Store::Postgres(p) = &admin {
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                        .execute(&p.write)
                        .await
                        .expect("schema");
                }
                let options: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
                let options = options.options([("search_path", schema.as_str())]);
                let pg =
                    Store::connect_postgres(options, env_num("BENCH_PG_CONNECTIONS", 10) as u32)
                        .await
                        .expect("postgres");
                pg.migrate().await.expect("migrate");
                bench("postgres", pg.clone()).await;
                pg.close().await;
                if let Store::Postgres(p) = &admin {
                    let _ =
                        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                            .execute(&p.write)
                            .await;
                }
                admin.close().await;
            }
            _ => println!("BENCH_DATABASE_URL not set: PostgreSQL not benchmarked"),
        }
    });
}
