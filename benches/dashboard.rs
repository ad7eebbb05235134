//! Dashboard stats for a big organizer: seeds `BENCH_BOOKINGS` bookings (default 1,000,000)
//! across 20 events of one organizer over the last 365 days, plus 10 % as many for another
//! organizer, straight through SQL (one statement generating the rows), then times
//! `Store::dashboard_stats` for that organizer over each period (week, month, quarter, year: the
//! year covers every booking) and prints the median and worst of `BENCH_RUNS` runs (default 7).
//! SQLite always; PostgreSQL too when `BENCH_DATABASE_URL` is set (a throw-away schema).
//! Run: `cargo bench --bench dashboard` (fails when a median is above 200 ms). Under
//! `cargo test --all-targets` (no `--bench` argument) it is a quick smoke run of 20,000
//! bookings with no target.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ticketmax::dashboard::{Period, Scope, Window};
use ticketmax::store::Store;
use uuid::Uuid;

/// Most a stats answer may take, median of the runs.
const TARGET: Duration = Duration::from_millis(200);
/// Events of the organizer.
const EVENTS: i64 = 20;
/// Accounts among the buyers (the rest are guests).
const BUYERS: i64 = 20_000;

fn env_num(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Inserts the organizers, buyers, events and ticket types; returns the organizer's id.
async fn seed_people_and_events(store: &Store, now: DateTime<Utc>) -> sqlx::Result<(Uuid, Uuid)> {
    let organizer = Uuid::now_v7();
    let other = Uuid::now_v7();
    let mut users = vec![
        (organizer, "ORGANIZER".to_string()),
        (other, "ORGANIZER".to_string()),
    ];
    users.extend((0..BUYERS).map(|_| (Uuid::now_v7(), "USER".to_string())));
    macro_rules! seed {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await?;
            for (i, (id, role)) in users.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO users (id, email, password_hash, first_name, last_name, role, status, email_verified, created_at, updated_at)
                     VALUES ($1, $2, 'x', 'Bench', 'User', $3, 'ACTIVE', TRUE, $4, $4)",
                )
                .bind(id)
                .bind(format!("bench-{i}@example.com"))
                .bind(role)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for i in 0..EVENTS + 2 {
                let owner = if i < EVENTS { organizer } else { other };
                let event = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO events (id, organizer_id, title, description, category, location, starts_at, status, currency,
                         published_at, created_at, updated_at)
                     VALUES ($1, $2, $3, 'Bench', 'music', 'Lagos', $4, 'PUBLISHED', 'NGN', $5, $5, $5)",
                )
                .bind(event)
                .bind(owner)
                .bind(format!("Bench event {i}"))
                .bind(now + chrono::Duration::days(30 + i))
                .bind(now - chrono::Duration::days(400))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO ticket_types (id, event_id, name, kind, price, capacity, position, created_at, updated_at)
                     VALUES ($1, $2, 'Regular', 'general', 5000, 100000000, 0, $3, $3)",
                )
                .bind(Uuid::now_v7())
                .bind(event)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }};
    }
    match store {
        Store::Sqlite(p) => seed!(p.write),
        Store::Postgres(p) => seed!(p.write),
    }
    Ok((organizer, other))
}

/// Generates `n` bookings of `owner`'s events in one statement: created evenly over the last
/// 365 days; 80 % confirmed (one in 20 of those refunded in part), the rest expired or
/// cancelled; one in four by a guest.
async fn seed_bookings(
    store: &Store,
    owner: Uuid,
    n: i64,
    now: DateTime<Utc>,
    tag: &str,
) -> sqlx::Result<()> {
    // Evenly over the 365 days before `now`, the newest a second ago: each period holds its share.
    let step = 365.0 * 86_400.0 / n.max(1) as f64;
    let start = now - chrono::Duration::days(365);
    match store {
        Store::Sqlite(p) => {
            // Numbered copies of the events and buyers, for lookups by key while generating.
            for sql in [
                "DROP TABLE IF EXISTS bench_events",
                "DROP TABLE IF EXISTS bench_buyers",
                "CREATE TABLE bench_events (k INTEGER PRIMARY KEY, event_id BLOB, type_id BLOB)",
                "CREATE TABLE bench_buyers (k INTEGER PRIMARY KEY, id BLOB)",
                "INSERT INTO bench_buyers SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id FROM users WHERE role = 'USER'",
            ] {
                sqlx::query(sql).execute(&p.write).await?;
            }
            sqlx::query(
                "INSERT INTO bench_events SELECT ROW_NUMBER() OVER (ORDER BY e.id) - 1, e.id, t.id
                 FROM events e JOIN ticket_types t ON t.event_id = e.id WHERE e.organizer_id = $1",
            )
            .bind(owner)
            .execute(&p.write)
            .await?;
            let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bench_events")
                .fetch_one(&p.write)
                .await?;
            let sql = format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $1 - 1),
                 rows AS (SELECT i, strftime('%Y-%m-%dT%H:%M:%S+00:00', $2, '+' || CAST(i * $3 AS INTEGER) || ' seconds') AS at,
                                 CASE WHEN i % 10 < 8 THEN 'CONFIRMED' WHEN i % 10 = 8 THEN 'EXPIRED' ELSE 'CANCELLED' END AS status
                          FROM n)
                 INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                     currency, status, customer_email, customer_name, refund_amount, confirmed_at, created_at, updated_at)
                 SELECT randomblob(16), '{tag}' || i,
                        CASE WHEN i % 4 = 0 THEN NULL ELSE (SELECT id FROM bench_buyers WHERE k = i % {BUYERS}) END,
                        (SELECT event_id FROM bench_events WHERE k = i % {events}),
                        (SELECT type_id FROM bench_events WHERE k = i % {events}),
                        1 + i % 3, 5000, 5000 * (1 + i % 3), 'NGN', status,
                        'guest' || (i % 50000) || '@example.com', 'Bench Buyer',
                        CASE WHEN status = 'CONFIRMED' AND i % 20 = 0 THEN 1000 END,
                        CASE WHEN status <> 'EXPIRED' THEN at END, at, at
                 FROM rows"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(n)
                .bind(start.format("%Y-%m-%d %H:%M:%S").to_string())
                .bind(step)
                .execute(&p.write)
                .await?;
            for sql in [
                "DROP TABLE bench_events",
                "DROP TABLE bench_buyers",
                "ANALYZE",
            ] {
                sqlx::query(sql).execute(&p.write).await?;
            }
        }
        Store::Postgres(p) => {
            let sql = format!(
                "WITH ev AS (SELECT array_agg(e.id ORDER BY e.id) AS events, array_agg(t.id ORDER BY e.id) AS types
                             FROM events e JOIN ticket_types t ON t.event_id = e.id WHERE e.organizer_id = $2),
                      buyers AS (SELECT array_agg(id ORDER BY id) AS ids FROM users WHERE role = 'USER')
                 INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                     currency, status, customer_email, customer_name, refund_amount, confirmed_at, created_at, updated_at)
                 SELECT gen_random_uuid(), '{tag}' || i,
                        CASE WHEN i % 4 = 0 THEN NULL ELSE buyers.ids[1 + i % {BUYERS}] END,
                        ev.events[1 + i % cardinality(ev.events)], ev.types[1 + i % cardinality(ev.types)],
                        1 + i % 3, 5000, 5000 * (1 + i % 3), 'NGN', s.status,
                        'guest' || (i % 50000) || '@example.com', 'Bench Buyer',
                        CASE WHEN s.status = 'CONFIRMED' AND i % 20 = 0 THEN 1000 END,
                        CASE WHEN s.status <> 'EXPIRED' THEN s.at END, s.at, s.at
                 FROM generate_series(0, $1 - 1) i CROSS JOIN ev CROSS JOIN buyers
                 CROSS JOIN LATERAL (SELECT $3::timestamptz + make_interval(secs => i * $4) AS at,
                     CASE WHEN i % 10 < 8 THEN 'CONFIRMED' WHEN i % 10 = 8 THEN 'EXPIRED' ELSE 'CANCELLED' END AS status) s"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(n)
                .bind(owner)
                .bind(start)
                .bind(step)
                .execute(&p.write)
                .await?;
            // Index-only scans need the visibility map that VACUUM writes (autovacuum would,
            // a little later, on a real server).
            sqlx::query("VACUUM ANALYZE bookings, booking_days, customer_orders")
                .execute(&p.write)
                .await?;
        }
    }
    Ok(())
}

/// Seeds and times one backend; returns whether every median met the target.
async fn bench(name: &str, store: &Store, bookings: i64, runs: usize) -> anyhow::Result<bool> {
    let now = Utc::now();
    let started = Instant::now();
    let (organizer, other) = seed_people_and_events(store, now).await?;
    seed_bookings(store, organizer, bookings, now, "TM-A").await?;
    seed_bookings(store, other, bookings / 10, now, "TM-B").await?;
    println!(
        "{name}: seeded {bookings} bookings (+{} of another organizer) in {:.1} s",
        bookings / 10,
        started.elapsed().as_secs_f64()
    );
    let mut ok = true;
    for period in [Period::Week, Period::Month, Period::Quarter, Period::Year] {
        let mut times = Vec::with_capacity(runs);
        let mut orders = 0;
        for _ in 0..runs {
            let now = Utc::now();
            let window = Window {
                from: now - period.length(),
                to: now,
                period: Some(period),
            };
            let t = Instant::now();
            let parts = store
                .dashboard_stats(Scope::Organizer(organizer), window, now)
                .await?;
            times.push(t.elapsed());
            orders = parts.totals.iter().map(|t| t.orders).sum::<i64>();
        }
        times.sort();
        let median = times[times.len() / 2];
        let worst = times[times.len() - 1];
        ok &= median <= TARGET;
        println!(
            "{name}: stats {period:?}: {orders} orders, median {:.1} ms, worst {:.1} ms",
            median.as_secs_f64() * 1000.0,
            worst.as_secs_f64() * 1000.0
        );
    }
    Ok(ok)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let bookings = env_num(
        "BENCH_BOOKINGS",
        if bench_mode { 1_000_000 } else { 20_000 },
    );
    let runs = env_num("BENCH_RUNS", if bench_mode { 7 } else { 1 }).max(1) as usize;
    let mut ok = true;

    let dir = std::env::temp_dir().join(format!("ticketmax-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = Store::open_sqlite_file(&dir.join("bench.db")).await?;
    sqlite.migrate().await?;
    ok &= bench("sqlite", &sqlite, bookings, runs).await?;
    sqlite.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let schema = format!("bench_{}", Uuid::new_v4().simple());
            let admin = Store::connect(&url, 2).await?;
            if let Store::Postgres(p) = &admin {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&p.write)
                    .await?;
            }
            let options: sqlx::postgres::PgConnectOptions = url.parse()?;
            let options = options.options([("search_path", schema.as_str())]);
            let pg = Store::connect_postgres(options, 8).await?;
            let result = async {
                pg.migrate().await?;
                bench("postgres", &pg, bookings, runs).await
            }
            .await;
            pg.close().await;
            if let Store::Postgres(p) = &admin {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&p.write)
                    .await;
            }
            admin.close().await;
            ok &= result?;
        }
        _ => println!("BENCH_DATABASE_URL not set: PostgreSQL not benchmarked"),
    }
    if bench_mode && !ok {
        anyhow::bail!("a stats median was above {} ms", TARGET.as_millis());
    }
    Ok(())
}
