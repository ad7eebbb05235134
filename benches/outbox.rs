//! Outbox throughput: enqueue `BENCH_MESSAGES` emails (default 20,000) on a fresh SQLite file,
//! start the worker with the file transport, and measure delivered messages per second (from
//! the worker's start until every message is SENT). Worker settings come from the usual
//! `OUTBOX_*` variables. Run: `cargo bench --bench outbox` (fails below 2,000 messages/s).
//! Under `cargo test --all-targets` (no `--bench` argument) it is a quick smoke run of 500
//! messages with no throughput target.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use ticketmax::config::Config;
use ticketmax::notify::worker::Outbox;
use ticketmax::notify::{NewMessage, Status};
use ticketmax::store::Store;

/// Messages per second the outbox must sustain with the file transport.
const TARGET: f64 = 2_000.0;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let total: u64 = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench_mode { 20_000 } else { 500 });
    let dir =
        std::env::temp_dir().join(format!("ticketmax-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;

    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("OUTBOX_"))
        .collect();
    env.insert("EMAIL_TRANSPORT".into(), "file".into());
    env.insert(
        "EMAIL_FILE_DIR".into(),
        dir.join("mail").display().to_string(),
    );
    env.insert(
        "JWT_SECRET".into(),
        "bench-secret-bench-secret-bench-secret".into(),
    );
    env.insert("LOG_LEVEL".into(), "warn".into());
    let config = Config::from_map(&env)?;

    let store = Store::open_sqlite_file(&dir.join("bench.db")).await?;
    store.migrate().await?;
    let Store::Sqlite(pools) = &store else {
        unreachable!("the benchmark opens a SQLite file")
    };
    let with_qr = std::env::var("BENCH_TEMPLATE").is_ok_and(|t| t == "booking_confirmed");
    let enqueue_started = Instant::now();
    for chunk in 0..total.div_ceil(1_000) {
        let mut tx = pools.write.begin().await?;
        for i in chunk * 1_000..((chunk + 1) * 1_000).min(total) {
            // `BENCH_TEMPLATE=booking_confirmed` measures the heaviest message (a QR PNG
            // rendered per ticket at delivery); the default measures the outbox itself.
            let message = if with_qr {
                NewMessage::email(
                    format!("user{i}@example.com"),
                    "booking_confirmed",
                    json!({
                        "customerName": "Ada Obi", "eventTitle": "Lagos Jazz Night",
                        "reference": format!("TM-{i:06}"), "bookingId": uuid::Uuid::now_v7(),
                        "eventStartsAt": "2026-12-31T19:30:00Z", "venue": "Muri Okunola Park",
                        "tickets": [{"code": format!("TK-{i}"), "ticketTypeName": "VIP", "qrUrl": "/qr/1"}],
                    }),
                )
            } else {
                NewMessage::email(
                    format!("user{i}@example.com"),
                    "welcome",
                    json!({"firstName": "Ada"}),
                )
            };
            ticketmax::notify::sqlite::insert_message(&mut tx, &message).await?;
        }
        tx.commit().await?;
    }
    let enqueue_secs = enqueue_started.elapsed().as_secs_f64();

    // Compile the templates before the clock starts.
    ticketmax::notify::templates::render_email(
        "welcome",
        &json!({"firstName": "Ada"}),
        &config.public_base_url,
    )?;
    let outbox = Outbox::from_state_parts(&config, store.clone())?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let worker = outbox.spawn(stop_rx);
    loop {
        let (_, sent) = store.list_messages(Some(Status::Sent), 1, 0).await?;
        if u64::try_from(sent).unwrap_or(0) >= total {
            break;
        }
        let (_, failed) = store.list_messages(Some(Status::Failed), 1, 0).await?;
        anyhow::ensure!(failed == 0, "{failed} messages FAILED");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let files = std::fs::read_dir(dir.join("mail"))?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .count();
    println!(
        "outbox (file transport, SQLite, {} messages): {total} messages delivered in {secs:.2} s = {:.0} messages/s \
         ({} loops x {} in flight, batch {}); {files} .eml files; enqueue {:.0} messages/s",
        if with_qr {
            "booking_confirmed with a QR image"
        } else {
            "welcome"
        },
        total as f64 / secs,
        config.outbox.workers,
        config.outbox.concurrency,
        config.outbox.batch_size,
        total as f64 / enqueue_secs,
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        files as u64 == total,
        "expected {total} files, found {files}"
    );
    let rate = total as f64 / secs;
    anyhow::ensure!(
        !bench_mode || rate >= TARGET,
        "{rate:.0} messages/s is below the target of {TARGET} messages/s"
    );
    Ok(())
}
