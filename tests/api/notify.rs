//! Notifications: the outbox delivers through a real SMTP server on loopback (aiosmtpd), Twilio's
//! API (a local fake), `.eml` files and the log; retries, FAILED, crash recovery, several
//! instances, shutdown, the admin list and the health of the transports.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Value, json};
use ticketmax::config::Config;
use ticketmax::notify::worker::Outbox;
use ticketmax::notify::{NewMessage, OutboxRow};
use ticketmax::store::Store;
use ticketmax::users::model::Role;

use crate::both_backends;
use crate::helpers::{Backend, TempDir, TestApp, base_env, fresh_store};

// ---------------------------------------------------------------------------------------------
// Fixtures

/// An aiosmtpd server started for one test; killed when dropped.
struct SmtpSink {
    port: u16,
    dir: TempDir,
    child: Child,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl SmtpSink {
    /// Starts the sink (`accept`, `refuse` or `hang`) on `port` (0: any). Without Python and
    /// aiosmtpd the test is skipped with a note, except in CI where it fails.
    fn start(mode: &str, port: u16) -> Option<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let dir = TempDir::new();
        let spawned = Command::new("python3")
            .arg(&script)
            .arg(&dir.0)
            .arg(mode)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return Self::unavailable(format!("python3: {e}")),
        };
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        let Some(port) = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
        else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                use std::io::Read;
                let _ = stderr.read_to_string(&mut err);
            }
            let _ = child.wait();
            return Self::unavailable(format!("the SMTP sink did not start: {err}"));
        };
        Some(Self { port, dir, child })
    }

    fn unavailable(why: String) -> Option<Self> {
        if in_ci() {
            panic!("a real SMTP server is required in CI (python3 -m pip install aiosmtpd): {why}");
        }
        eprintln!("SMTP sink unavailable, test not run: {why}");
        None
    }

    /// The summaries of received messages.
    fn received(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir.0).expect("sink dir").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).expect("summary");
                out.push(serde_json::from_str(&text).expect("summary json"));
            }
        }
        out
    }
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Settings that make retries quick.
fn fast_retries(builder: crate::helpers::TestAppBuilder) -> crate::helpers::TestAppBuilder {
    builder
        .env("OUTBOX_MAX_ATTEMPTS", "3")
        .env("OUTBOX_BACKOFF_BASE_MS", "20")
        .env("OUTBOX_BACKOFF_MAX_MS", "100")
        .env("OUTBOX_POLL_MS", "50")
        .env("OUTBOX_SEND_TIMEOUT_MS", "5000")
        .env("OUTBOX_LEASE_MS", "10000")
}

fn smtp_app(backend: Backend, port: u16) -> crate::helpers::TestAppBuilder {
    fast_retries(TestApp::builder(backend))
        .env("EMAIL_TRANSPORT", "smtp")
        .env("EMAIL_HOST", "127.0.0.1")
        .env("EMAIL_PORT", &port.to_string())
        .env("EMAIL_FROM", "TicketMax <noreply@tickets.test>")
}

fn verification(to: &str, code: &str) -> NewMessage {
    NewMessage::email(
        to,
        "verification_code",
        json!({"firstName": "Ada <b>", "code": code, "expiresInMinutes": 15}),
    )
}

/// Waits until the recipient's newest message satisfies `done`; returns it.
async fn wait_for(
    store: &Store,
    recipient: &str,
    timeout: Duration,
    done: impl Fn(&OutboxRow) -> bool,
) -> OutboxRow {
    let started = std::time::Instant::now();
    loop {
        let rows = store.messages_for(recipient).await.expect("messages");
        if let Some(row) = rows.first()
            && done(row)
        {
            return row.clone();
        }
        assert!(
            started.elapsed() < timeout,
            "timed out waiting for {recipient}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const WAIT: Duration = Duration::from_secs(15);

/// `.eml` files written by the file transport.
fn eml_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default()
}

/// A fake Twilio: records each request and answers with `status`.
#[derive(Clone, Default)]
struct FakeTwilio {
    requests: Arc<Mutex<Vec<(String, HeaderMap, String)>>>,
    status: Arc<Mutex<u16>>,
}

async fn twilio_handler(
    State(fake): State<FakeTwilio>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    fake.requests
        .lock()
        .unwrap()
        .push((uri.path().to_string(), headers, body));
    let status = StatusCode::from_u16(*fake.status.lock().unwrap()).unwrap();
    if status.is_success() {
        (
            status,
            json!({"sid": "SM123", "status": "queued"}).to_string(),
        )
    } else {
        (
            status,
            json!({"code": 21211, "message": "The 'To' number is not a valid phone number."})
                .to_string(),
        )
    }
}

async fn start_fake_twilio(status: u16) -> (String, FakeTwilio) {
    let fake = FakeTwilio::default();
    *fake.status.lock().unwrap() = status;
    let app = axum::Router::new()
        .fallback(twilio_handler)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

fn twilio_app(backend: Backend, base: &str) -> crate::helpers::TestAppBuilder {
    fast_retries(TestApp::builder(backend))
        .env("SMS_TRANSPORT", "twilio")
        .env("TWILIO_ACCOUNT_SID", "AC0123456789abcdef")
        .env("TWILIO_AUTH_TOKEN", "tok_secret")
        .env("TWILIO_PHONE_NUMBER", "+15005550006")
        .env("TWILIO_BASE_URL", base)
}

fn form(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Email over a real SMTP server

async fn email_is_delivered_over_real_smtp_with_text_and_html_parts(app: TestApp) {
    let Some(sink) = SmtpSink::start("accept", 0) else {
        return;
    };
    let app = smtp_app(app.backend, sink.port).spawn().await;
    app.state
        .store
        .enqueue_message(&verification("ada@example.com", "482913"))
        .await
        .unwrap();

    let row = wait_for(&app.state.store, "ada@example.com", WAIT, |r| {
        r.status == "SENT"
    })
    .await;
    assert_eq!(row.attempts, 1);
    assert!(row.sent_at.is_some());
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let m = &received[0];
    assert_eq!(m["rcptTos"], json!(["ada@example.com"]));
    assert_eq!(m["mailFrom"], "noreply@tickets.test");
    assert!(m["to"].as_str().unwrap().contains("ada@example.com"));
    assert_eq!(m["subject"], "Verify your TicketMax email address");
    assert_eq!(m["contentType"], "multipart/alternative");
    let text = m["parts"]["text/plain"].as_str().expect("text part");
    let html = m["parts"]["text/html"].as_str().expect("html part");
    assert!(
        text.contains("482913") && text.contains("Hello Ada <b>,"),
        "{text}"
    );
    assert!(
        html.contains("482913") && html.contains("Hello Ada &lt;b&gt;,"),
        "{html}"
    );
    assert!(
        html.contains(&app.address),
        "links use PUBLIC_BASE_URL: {html}"
    );
    assert!(
        m["messageId"]
            .as_str()
            .unwrap()
            .contains(&row.id.simple().to_string())
    );
}

async fn a_refusing_smtp_server_leads_to_retries_then_failed_with_the_last_error(app: TestApp) {
    let Some(sink) = SmtpSink::start("refuse", 0) else {
        return;
    };
    let app = smtp_app(app.backend, sink.port).spawn().await;
    app.state
        .store
        .enqueue_message(&verification("bob@example.com", "111111"))
        .await
        .unwrap();

    let row = wait_for(&app.state.store, "bob@example.com", WAIT, |r| {
        r.status == "FAILED"
    })
    .await;
    assert_eq!(
        row.attempts, 3,
        "OUTBOX_MAX_ATTEMPTS attempts before giving up"
    );
    let error = row.last_error.expect("last error");
    assert!(error.contains("550"), "{error}");
    assert!(row.sent_at.is_none());
    assert!(sink.received().is_empty());
}

async fn an_smtp_server_that_is_down_leads_to_retries_then_failed(app: TestApp) {
    let app = smtp_app(app.backend, closed_port()).spawn().await;
    app.state
        .store
        .enqueue_message(&verification("carol@example.com", "222222"))
        .await
        .unwrap();

    let row = wait_for(&app.state.store, "carol@example.com", WAIT, |r| {
        r.status == "FAILED"
    })
    .await;
    assert_eq!(row.attempts, 3);
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("SMTP")),
        "{row:?}"
    );
}

async fn a_message_waits_out_an_smtp_outage_and_is_delivered_when_the_server_returns(app: TestApp) {
    if SmtpSink::start("accept", 0).is_none() {
        return;
    }
    let port = closed_port();
    let app = smtp_app(app.backend, port)
        .env("OUTBOX_MAX_ATTEMPTS", "50")
        .env("OUTBOX_BACKOFF_MAX_MS", "200")
        .spawn()
        .await;
    app.state
        .store
        .enqueue_message(&verification("dan@example.com", "333333"))
        .await
        .unwrap();
    let failed_once = wait_for(&app.state.store, "dan@example.com", WAIT, |r| {
        r.last_error.is_some()
    })
    .await;
    assert!(
        matches!(failed_once.status.as_str(), "PENDING" | "PROCESSING"),
        "a failed attempt is retried later: {failed_once:?}"
    );

    let sink = SmtpSink::start("accept", port).expect("sink on the same port");
    let row = wait_for(&app.state.store, "dan@example.com", WAIT, |r| {
        r.status == "SENT"
    })
    .await;
    assert!(row.attempts >= 2);
    assert_eq!(sink.received().len(), 1);
}

both_backends!(
    email_is_delivered_over_real_smtp_with_text_and_html_parts,
    a_refusing_smtp_server_leads_to_retries_then_failed_with_the_last_error,
    an_smtp_server_that_is_down_leads_to_retries_then_failed,
    a_message_waits_out_an_smtp_outage_and_is_delivered_when_the_server_returns
);

// ---------------------------------------------------------------------------------------------
// SMS through Twilio

async fn sms_goes_to_twilio_with_the_account_path_basic_auth_and_form_fields(app: TestApp) {
    let (base, fake) = start_fake_twilio(201).await;
    let app = twilio_app(app.backend, &base).spawn().await;
    app.state
        .store
        .enqueue_message(&NewMessage::sms(
            "+2348012345678",
            "sms_booking_confirmed",
            json!({"eventTitle": "Lagos Jazz Night", "reference": "TM-7F3K2Q",
                   "eventStartsAt": "2026-12-31T19:30:00Z"}),
        ))
        .await
        .unwrap();

    let row = wait_for(&app.state.store, "+2348012345678", WAIT, |r| {
        r.status == "SENT"
    })
    .await;
    assert_eq!(row.attempts, 1);
    let requests = fake.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (path, headers, body) = &requests[0];
    assert_eq!(
        path,
        "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
    );
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("AC0123456789abcdef:tok_secret")
    );
    assert_eq!(headers["authorization"].to_str().unwrap(), expected);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let fields = form(body);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("To").as_deref(), Some("+2348012345678"));
    assert_eq!(get("From").as_deref(), Some("+15005550006"));
    let text = get("Body").unwrap();
    assert!(
        text.contains("TM-7F3K2Q") && text.contains("Lagos Jazz Night"),
        "{text}"
    );
    assert!(text.starts_with("TicketMax"));
}

async fn a_twilio_error_is_retried_then_failed_with_twilios_message(app: TestApp) {
    let (base, fake) = start_fake_twilio(400).await;
    let app = twilio_app(app.backend, &base).spawn().await;
    app.state
        .store
        .enqueue_message(&NewMessage::sms(
            "+15550000000",
            "sms_phone_verification_code",
            json!({"code": "9876"}),
        ))
        .await
        .unwrap();
    let row = wait_for(&app.state.store, "+15550000000", WAIT, |r| {
        r.status == "FAILED"
    })
    .await;
    assert_eq!(row.attempts, 3);
    assert_eq!(fake.requests.lock().unwrap().len(), 3);
    let error = row.last_error.unwrap();
    assert!(
        error.contains("400") && error.contains("not a valid phone number"),
        "{error}"
    );
}

both_backends!(
    sms_goes_to_twilio_with_the_account_path_basic_auth_and_form_fields,
    a_twilio_error_is_retried_then_failed_with_twilios_message
);

// ---------------------------------------------------------------------------------------------
// Durability: transactions, crashes, several workers, shutdown

async fn a_rolled_back_change_leaves_no_message_and_a_committed_one_is_delivered(app: TestApp) {
    // A long poll interval: delivery within it proves the insert woke the worker.
    let app = TestApp::builder(app.backend)
        .env("OUTBOX_POLL_MS", "10000")
        .spawn()
        .await;
    let message = verification("eve@example.com", "444444");
    match &app.state.store {
        Store::Sqlite(pools) => {
            let mut tx = pools.write.begin().await.unwrap();
            ticketmax::notify::sqlite::insert_message(&mut tx, &message)
                .await
                .unwrap();
            tx.rollback().await.unwrap();
        }
        Store::Postgres(pools) => {
            let mut tx = pools.write.begin().await.unwrap();
            ticketmax::notify::postgres::insert_message(&mut tx, &message)
                .await
                .unwrap();
            tx.rollback().await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        app.state
            .store
            .messages_for("eve@example.com")
            .await
            .unwrap()
            .is_empty()
    );

    match &app.state.store {
        Store::Sqlite(pools) => {
            let mut tx = pools.write.begin().await.unwrap();
            ticketmax::notify::sqlite::insert_message(&mut tx, &message)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        Store::Postgres(pools) => {
            let mut tx = pools.write.begin().await.unwrap();
            ticketmax::notify::postgres::insert_message(&mut tx, &message)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    // The log transport (the default) delivers at once: the insert woke the worker.
    let started = std::time::Instant::now();
    wait_for(&app.state.store, "eve@example.com", WAIT, |r| {
        r.status == "SENT"
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(5000),
        "woken, not polled: {:?}",
        started.elapsed()
    );
}

async fn a_worker_killed_mid_delivery_leaves_the_message_to_be_delivered_later(app: TestApp) {
    // A worker whose SMTP server never answers claims the message, then is killed.
    let Some(stuck) = SmtpSink::start("hang", 0) else {
        return;
    };
    let dir = TempDir::new();
    let store = fresh_store(app.backend, &dir).await;
    let mut env = base_env();
    env.insert("EMAIL_TRANSPORT".into(), "smtp".into());
    env.insert("EMAIL_HOST".into(), "127.0.0.1".into());
    env.insert("EMAIL_PORT".into(), stuck.port.to_string());
    env.insert("OUTBOX_LEASE_MS".into(), "1500".into());
    env.insert("OUTBOX_SEND_TIMEOUT_MS".into(), "1000".into());
    env.insert("OUTBOX_WORKERS".into(), "1".into());
    let config = Config::from_map(&env).unwrap();
    let mut outbox = Outbox::from_state_parts(&config, store.clone()).unwrap();
    outbox.config.send_timeout = Duration::from_secs(60);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let doomed = tokio::spawn(Arc::new(outbox).run(rx));
    store
        .enqueue_message(&verification("fay@example.com", "555555"))
        .await
        .unwrap();
    wait_for(&store, "fay@example.com", WAIT, |r| {
        r.status == "PROCESSING"
    })
    .await;
    doomed.abort();
    let _ = doomed.await;

    // A healthy instance on the same database takes it once the lease has run out.
    let healthy = TestApp::builder(app.backend)
        .store(store.clone())
        .env("EMAIL_TRANSPORT", "file")
        .env("OUTBOX_POLL_MS", "50")
        .spawn()
        .await;
    let row = wait_for(&store, "fay@example.com", WAIT, |r| r.status == "SENT").await;
    assert_eq!(row.attempts, 2, "the interrupted attempt counts");
    let mail_dir = PathBuf::from(&healthy.state.config.email.file_dir);
    let files = eml_files(&mail_dir);
    assert_eq!(files.len(), 1);
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains("To: fay@example.com"), "{eml}");
}

async fn several_instances_deliver_every_message_exactly_once(app: TestApp) {
    // A database of their own: `app`'s worker (log transport) must not take part.
    let dir = TempDir::new();
    let store = fresh_store(app.backend, &dir).await;
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(
            TestApp::builder(app.backend)
                .store(store.clone())
                .env("EMAIL_TRANSPORT", "file")
                .env("OUTBOX_WORKERS", "2")
                .env("OUTBOX_BATCH_SIZE", "7")
                .env("OUTBOX_POLL_MS", "20")
                .spawn()
                .await,
        );
    }
    let total = 240;
    for i in 0..total {
        store
            .enqueue_message(&verification(&format!("u{i}@example.com"), "000000"))
            .await
            .unwrap();
    }
    let started = std::time::Instant::now();
    loop {
        let (rows, count) = store
            .list_messages(Some(ticketmax::notify::Status::Sent), 1, 0)
            .await
            .unwrap();
        let _ = rows;
        if count == total {
            break;
        }
        assert!(started.elapsed() < WAIT, "only {count} of {total} sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut names = HashSet::new();
    let mut files = 0;
    for instance in &instances {
        for f in eml_files(Path::new(&instance.state.config.email.file_dir)) {
            files += 1;
            names.insert(f.file_name().unwrap().to_owned());
        }
    }
    assert_eq!(files, total as usize, "no message written twice");
    assert_eq!(names.len(), total as usize);
    let (sent, _) = store
        .list_messages(Some(ticketmax::notify::Status::Sent), 100, 0)
        .await
        .unwrap();
    assert!(sent.iter().all(|r| r.attempts == 1));
    let busy = instances
        .iter()
        .filter(|i| !eml_files(Path::new(&i.state.config.email.file_dir)).is_empty())
        .count();
    assert!(busy >= 1);
}

async fn concurrent_claims_never_return_the_same_message(app: TestApp) {
    let dir = TempDir::new();
    let store = fresh_store(app.backend, &dir).await;
    for i in 0..60 {
        store
            .enqueue_message(&verification(&format!("c{i}@example.com"), "1"))
            .await
            .unwrap();
    }
    let now = chrono::Utc::now();
    let lease = now + chrono::TimeDelta::seconds(60);
    let claims = (0..6).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.claim_messages(now, lease, 5, 15).await.unwrap() })
    });
    let mut seen = HashSet::new();
    let mut total = 0;
    for claim in claims {
        for m in claim.await.unwrap() {
            total += 1;
            assert!(seen.insert(m.id), "{} claimed twice", m.id);
            assert_eq!(m.attempts, 1);
        }
    }
    assert_eq!(total, 60, "every due message claimed once");
    assert!(
        store
            .claim_messages(now, lease, 5, 15)
            .await
            .unwrap()
            .is_empty(),
        "leased messages are not due"
    );
}

async fn an_outcome_from_a_worker_that_lost_its_claim_is_ignored(app: TestApp) {
    let dir = TempDir::new();
    let store = fresh_store(app.backend, &dir).await;
    store
        .enqueue_message(&verification("kip@example.com", "1"))
        .await
        .unwrap();
    use chrono::DurationRound;
    let t0 = (chrono::Utc::now() + chrono::TimeDelta::milliseconds(10))
        .duration_trunc(chrono::TimeDelta::milliseconds(1))
        .unwrap();
    let old_lease = t0 + chrono::TimeDelta::milliseconds(1);
    let first = store.claim_messages(t0, old_lease, 5, 10).await.unwrap();
    // The first worker stalls past its lease; a second one takes the message over.
    let t1 = t0 + chrono::TimeDelta::seconds(1);
    let new_lease = t1 + chrono::TimeDelta::seconds(60);
    let second = store.claim_messages(t1, new_lease, 5, 10).await.unwrap();
    assert_eq!(first[0].id, second[0].id);
    assert_eq!(second[0].attempts, 2);

    let late = ticketmax::notify::Failure {
        id: first[0].id,
        error: "late".into(),
        retry_at: Some(t1),
    };
    store
        .record_deliveries(t1, old_lease, &[], &[late])
        .await
        .unwrap();
    let row = &store.messages_for("kip@example.com").await.unwrap()[0];
    assert_eq!(
        row.status, "PROCESSING",
        "the stale worker's outcome is ignored"
    );
    assert!(row.last_error.is_none());

    store
        .record_deliveries(t1, new_lease, &[second[0].id], &[])
        .await
        .unwrap();
    let row = &store.messages_for("kip@example.com").await.unwrap()[0];
    assert_eq!(row.status, "SENT");
}

async fn shutdown_gives_back_messages_it_has_not_delivered(app: TestApp) {
    let Some(stuck) = SmtpSink::start("hang", 0) else {
        return;
    };
    let dir = TempDir::new();
    let store = fresh_store(app.backend, &dir).await;
    let instance = smtp_app(app.backend, stuck.port)
        .store(store.clone())
        .env("SHUTDOWN_TIMEOUT_SECS", "1")
        .env("OUTBOX_WORKERS", "1")
        .env("OUTBOX_SEND_TIMEOUT_MS", "30000")
        .env("OUTBOX_LEASE_MS", "60000")
        .spawn()
        .await;
    store
        .enqueue_message(&verification("gus@example.com", "666666"))
        .await
        .unwrap();
    wait_for(&store, "gus@example.com", WAIT, |r| {
        r.status == "PROCESSING"
    })
    .await;
    instance.stop().await.unwrap();

    let rows = store.messages_for("gus@example.com").await.unwrap();
    assert_eq!(
        rows[0].status, "PENDING",
        "released, not left locked for the lease"
    );
    assert_eq!(rows[0].attempts, 0, "the interrupted try is not counted");
}

// ---------------------------------------------------------------------------------------------
// Messages handed to the local loop in memory (a hold's `booking_pending`)

/// Holds one seat of `ty` as a guest through the engine's batch, as the route does.
async fn hold_one(app: &TestApp, event: uuid::Uuid, ty: uuid::Uuid, email: &str) {
    let links = ticketmax::bookings::Links::from_config(&app.state.config);
    let out = app
        .state
        .store
        .hold_batch(&[crate::fixtures::guest_hold(event, ty, email, 1)], &links)
        .await
        .unwrap();
    assert!(
        matches!(out[0], ticketmax::bookings::HoldOutcome::Held { .. }),
        "{out:?}"
    );
}

/// Waits until the instance on `store` has registered its loop (it starts with the server's
/// task): a hold's message then goes to it in memory, not through the claims, which would
/// deliver it as well.
async fn wait_for_the_loop_to_take_handed_messages(store: &Store) {
    let started = std::time::Instant::now();
    while ticketmax::notify::handoff::reserve(store.writer_identity(), 1, chrono::Utc::now())
        .is_none()
    {
        assert!(
            started.elapsed() < WAIT,
            "no delivery loop registered for the store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn a_holds_message_is_written_claimed_and_handed_to_the_local_loop(app: TestApp) {
    use crate::fixtures::{TypeSpec, published_event};
    use ticketmax::notify::handoff;
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let store = &app.state.store;
    // Stands in for the instance's loop (a later registration replaces the earlier one).
    wait_for_the_loop_to_take_handed_messages(store).await;
    let mut inbox = handoff::register(store.writer_identity(), Duration::from_secs(60));
    let before = chrono::Utc::now();
    hold_one(&app, event, types[0], "hana@example.com").await;
    let handed = tokio::time::timeout(WAIT, inbox.recv())
        .await
        .expect("handed over")
        .expect("open");
    assert_eq!(handed.messages.len(), 1);
    let m = &handed.messages[0];
    assert_eq!(
        (m.template.as_str(), m.recipient.as_str(), m.attempts),
        ("booking_pending", "hana@example.com", 1)
    );
    assert!(handed.lease >= before + chrono::Duration::seconds(60));
    // Written claimed, as handed: the instance's claiming loops leave it alone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let row = store.messages_for("hana@example.com").await.unwrap()[0].clone();
    assert_eq!(row.id, m.id);
    assert_eq!((row.status.as_str(), row.attempts), ("PROCESSING", 1));
    assert_eq!(row.payload, m.payload);
    // Its outcome is recorded under the lease it was handed with.
    store
        .record_deliveries(chrono::Utc::now(), handed.lease, &[m.id], &[])
        .await
        .unwrap();
    let row = store.messages_for("hana@example.com").await.unwrap()[0].clone();
    assert_eq!(row.status, "SENT");

    // With no loop here to hand it to, a hold's message is written PENDING and claimed.
    drop(inbox);
    hold_one(&app, event, types[0], "ines@example.com").await;
    let row = wait_for(store, "ines@example.com", WAIT, |r| r.status == "SENT").await;
    assert_eq!(row.attempts, 1);
}

async fn a_handed_message_whose_loop_died_is_claimed_once_its_lease_runs_out(app: TestApp) {
    use crate::fixtures::{TypeSpec, published_event};
    use ticketmax::notify::handoff;
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let store = &app.state.store;
    wait_for_the_loop_to_take_handed_messages(store).await;
    let mut inbox = handoff::register(store.writer_identity(), Duration::from_secs(1));
    hold_one(&app, event, types[0], "jon@example.com").await;
    // Handed over, then lost with the loop (a crash before its outcome was written).
    let handed = tokio::time::timeout(WAIT, inbox.recv()).await.unwrap();
    assert!(handed.is_some());
    drop((handed, inbox));
    let row = wait_for(store, "jon@example.com", WAIT, |r| r.status == "SENT").await;
    assert_eq!(row.attempts, 2, "the lost attempt counts");
}

async fn the_local_loop_delivers_handed_messages_and_gives_back_at_shutdown_what_it_could_not(
    app: TestApp,
) {
    use crate::fixtures::{TypeSpec, published_event};
    // Delivered: one file, one attempt.
    let dir = TempDir::new();
    let store = fresh_store(app.backend, &dir).await;
    let delivering = TestApp::builder(app.backend)
        .store(store.clone())
        .env("EMAIL_TRANSPORT", "file")
        .spawn()
        .await;
    let (_, _, event, types) = published_event(&delivering, &[TypeSpec::paid(10)]).await;
    wait_for_the_loop_to_take_handed_messages(&store).await;
    hold_one(&delivering, event, types[0], "kim@example.com").await;
    let row = wait_for(&store, "kim@example.com", WAIT, |r| r.status == "SENT").await;
    assert_eq!(row.attempts, 1);
    let files = eml_files(Path::new(&delivering.state.config.email.file_dir));
    assert_eq!(files.len(), 1);
    delivering.stop().await.unwrap();

    // Cut by shutdown: given back PENDING, the try not counted.
    let Some(stuck) = SmtpSink::start("hang", 0) else {
        return;
    };
    let instance = smtp_app(app.backend, stuck.port)
        .store(store.clone())
        .env("SHUTDOWN_TIMEOUT_SECS", "1")
        .env("OUTBOX_SEND_TIMEOUT_MS", "30000")
        .env("OUTBOX_LEASE_MS", "60000")
        .spawn()
        .await;
    wait_for_the_loop_to_take_handed_messages(&store).await;
    hold_one(&instance, event, types[0], "lou@example.com").await;
    wait_for(&store, "lou@example.com", WAIT, |r| {
        r.status == "PROCESSING"
    })
    .await;
    // Long enough for the delivery to start and hang.
    tokio::time::sleep(Duration::from_millis(300)).await;
    instance.stop().await.unwrap();
    let row = store.messages_for("lou@example.com").await.unwrap()[0].clone();
    assert_eq!(
        (row.status.as_str(), row.attempts),
        ("PENDING", 0),
        "released, not left locked for the lease"
    );
}

both_backends!(
    a_rolled_back_change_leaves_no_message_and_a_committed_one_is_delivered,
    a_worker_killed_mid_delivery_leaves_the_message_to_be_delivered_later,
    several_instances_deliver_every_message_exactly_once,
    concurrent_claims_never_return_the_same_message,
    an_outcome_from_a_worker_that_lost_its_claim_is_ignored,
    shutdown_gives_back_messages_it_has_not_delivered,
    a_holds_message_is_written_claimed_and_handed_to_the_local_loop,
    a_handed_message_whose_loop_died_is_claimed_once_its_lease_runs_out,
    the_local_loop_delivers_handed_messages_and_gives_back_at_shutdown_what_it_could_not
);

// ---------------------------------------------------------------------------------------------
// File transport, rendering failures, admin list, health

async fn the_file_transport_writes_one_eml_per_message(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("EMAIL_TRANSPORT", "file")
        .spawn()
        .await;
    app.state
        .store
        .enqueue_message(&verification("hal@example.com", "777777"))
        .await
        .unwrap();
    wait_for(&app.state.store, "hal@example.com", WAIT, |r| {
        r.status == "SENT"
    })
    .await;
    let files = eml_files(Path::new(&app.state.config.email.file_dir));
    assert_eq!(files.len(), 1);
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        eml.contains("Subject: Verify your TicketMax email address"),
        "{eml}"
    );
    assert!(eml.contains("Content-Type: multipart/alternative"));
    assert!(eml.contains("Content-Type: text/plain"));
    assert!(eml.contains("Content-Type: text/html"));
}

async fn an_unknown_template_or_missing_key_fails_at_once_with_a_clear_error(app: TestApp) {
    app.state
        .store
        .enqueue_message(&NewMessage::email(
            "ivy@example.com",
            "no_such_template",
            json!({}),
        ))
        .await
        .unwrap();
    let row = wait_for(&app.state.store, "ivy@example.com", WAIT, |r| {
        r.status == "FAILED"
    })
    .await;
    assert_eq!(row.attempts, 1);
    assert_eq!(
        row.last_error.as_deref(),
        Some("unknown template \"no_such_template\"")
    );

    app.state
        .store
        .enqueue_message(&NewMessage::email(
            "jon@example.com",
            "booking_confirmed",
            json!({"customerName": "Jon"}),
        ))
        .await
        .unwrap();
    let row = wait_for(&app.state.store, "jon@example.com", WAIT, |r| {
        r.status == "FAILED"
    })
    .await;
    let error = row.last_error.unwrap();
    assert!(
        error.starts_with("template booking_confirmed: missing payload key(s) eventTitle"),
        "{error}"
    );
}

async fn admins_see_the_outbox_newest_first_without_payloads(app: TestApp) {
    let (_, admin) = app.create_user(Role::Admin).await;
    app.state
        .store
        .enqueue_message(&verification("kim@example.com", "888888"))
        .await
        .unwrap();
    wait_for(&app.state.store, "kim@example.com", WAIT, |r| {
        r.status == "SENT"
    })
    .await;
    app.state
        .store
        .enqueue_message(&NewMessage::email(
            "lea@example.com",
            "no_such_template",
            json!({}),
        ))
        .await
        .unwrap();
    wait_for(&app.state.store, "lea@example.com", WAIT, |r| {
        r.status == "FAILED"
    })
    .await;

    let r = app.get_as(&admin, "/api/admin/notifications").await;
    r.assert_status(200);
    let items = r.data().as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["recipient"], "lea@example.com", "newest first");
    assert_eq!(items[1]["recipient"], "kim@example.com");
    for key in [
        "id",
        "channel",
        "recipient",
        "template",
        "status",
        "attempts",
        "lastError",
        "createdAt",
        "sentAt",
        "nextAttemptAt",
    ] {
        assert!(items[1].get(key).is_some(), "{key} missing: {}", items[1]);
    }
    assert!(items[1].get("payload").is_none(), "payloads may hold codes");
    assert!(
        !r.text.contains("888888"),
        "the code never leaves the outbox"
    );
    assert_eq!(items[1]["status"], "SENT");
    assert_eq!(items[1]["channel"], "email");
    assert_eq!(items[1]["template"], "verification_code");
    assert_eq!(
        r.body["meta"],
        json!({"page": 1, "limit": 20, "total": 2, "totalPages": 1})
    );

    let failed = app
        .get_as(&admin, "/api/admin/notifications?status=FAILED&limit=1")
        .await;
    failed.assert_status(200);
    assert_eq!(failed.data().as_array().unwrap().len(), 1);
    assert_eq!(failed.data()[0]["recipient"], "lea@example.com");
    assert!(
        failed.data()[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("unknown template")
    );
    assert_eq!(failed.body["meta"]["total"], 1);

    let page2 = app
        .get_as(&admin, "/api/admin/notifications?limit=1&page=2")
        .await;
    assert_eq!(page2.data()[0]["recipient"], "kim@example.com");
    assert_eq!(page2.body["meta"]["totalPages"], 2);

    app.get_as(&admin, "/api/admin/notifications?status=LOST")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.get_as(&admin, "/api/admin/notifications?limit=0")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.get_as(&admin, "/api/admin/notifications?page=x")
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

async fn only_admins_may_read_the_outbox(app: TestApp) {
    let (_, user) = app.create_user(Role::User).await;
    app.get_as(&user, "/api/admin/notifications")
        .await
        .assert_error(403, "FORBIDDEN");
    app.get("/api/admin/notifications")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn sms_is_allowed_only_for_a_verified_phone_with_the_preference_on(app: TestApp) {
    let (id, _) = app.create_user(Role::User).await;
    let set = |phone: Option<&'static str>, verified: bool, prefs: &'static str| {
        let store = app.state.store.clone();
        async move {
            let sql =
                "UPDATE users SET phone = $1, phone_verified = $2, preferences = $3 WHERE id = $4";
            match &store {
                Store::Sqlite(p) => {
                    sqlx::query(sql)
                        .bind(phone)
                        .bind(verified)
                        .bind(prefs)
                        .bind(id)
                        .execute(&p.write)
                        .await
                        .unwrap();
                }
                Store::Postgres(p) => {
                    sqlx::query(sql)
                        .bind(phone)
                        .bind(verified)
                        .bind(prefs)
                        .bind(id)
                        .execute(&p.write)
                        .await
                        .unwrap();
                }
            }
            ticketmax::notify::sms_allowed(&store.user_by_id(id).await.unwrap().unwrap())
        }
    };
    assert!(!set(None, false, "{}").await, "no phone");
    assert!(
        !set(
            Some("+2348012345678"),
            false,
            r#"{"notifications":{"sms":true}}"#
        )
        .await,
        "unverified"
    );
    assert!(
        !set(
            Some("+2348012345678"),
            true,
            r#"{"notifications":{"sms":false}}"#
        )
        .await,
        "opted out"
    );
    assert!(
        set(
            Some("+2348012345678"),
            true,
            r#"{"notifications":{"sms":true}}"#
        )
        .await
    );
}

both_backends!(
    the_file_transport_writes_one_eml_per_message,
    an_unknown_template_or_missing_key_fails_at_once_with_a_clear_error,
    admins_see_the_outbox_newest_first_without_payloads,
    only_admins_may_read_the_outbox,
    sms_is_allowed_only_for_a_verified_phone_with_the_preference_on
);

/// The status of one dependency in `/health/services`.
async fn service_status(app: &TestApp, name: &str) -> Value {
    let r = app.get("/health/services").await;
    r.assert_status(200);
    r.data()
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} missing: {}", r.text))
}

async fn health_reports_smtp_up_when_it_answers_and_down_when_it_does_not(app: TestApp) {
    let Some(sink) = SmtpSink::start("accept", 0) else {
        return;
    };
    let up = smtp_app(app.backend, sink.port).spawn().await;
    let email = service_status(&up, "email").await;
    assert_eq!(email["status"], "up");
    assert!(email["latencyMs"].is_number());

    let down = smtp_app(app.backend, closed_port()).spawn().await;
    assert_eq!(service_status(&down, "email").await["status"], "down");
    // Email is not required: the server still answers 200.
    down.get("/health/services").await.assert_status(200);
}

async fn health_reports_file_twilio_and_log_transports(app: TestApp) {
    assert_eq!(service_status(&app, "email").await["status"], "disabled");
    assert_eq!(service_status(&app, "sms").await["status"], "disabled");

    let file = TestApp::builder(app.backend)
        .env("EMAIL_TRANSPORT", "file")
        .spawn()
        .await;
    assert_eq!(service_status(&file, "email").await["status"], "up");

    let blocked = TempDir::new();
    let not_a_dir = blocked.0.join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    // The directory cannot be created: the server refuses to start its worker.
    let config = Config::from_map(&{
        let mut e = base_env();
        e.insert("EMAIL_TRANSPORT".into(), "file".into());
        e.insert(
            "EMAIL_FILE_DIR".into(),
            not_a_dir.join("mail").display().to_string(),
        );
        e
    })
    .unwrap();
    assert!(
        ticketmax::notify::email::Mailer::from_config(&config.email, Duration::from_secs(1))
            .is_err()
    );
    assert_eq!(
        ticketmax::notify::email::health(&config.email).await.status,
        "down"
    );

    let (base, _fake) = start_fake_twilio(201).await;
    let twilio = twilio_app(app.backend, &base).spawn().await;
    assert_eq!(service_status(&twilio, "sms").await["status"], "up");
}

both_backends!(
    health_reports_smtp_up_when_it_answers_and_down_when_it_does_not,
    health_reports_file_twilio_and_log_transports
);

async fn finished_messages_lose_their_payload_after_an_hour(app: TestApp) {
    use ticketmax::notify::NewMessage;
    let to = format!("redact-{}@example.com", uuid::Uuid::new_v4().simple());
    app.state
        .store
        .enqueue_message(&NewMessage::email(
            &to,
            "welcome",
            serde_json::json!({"firstName": "Ada", "code": "123456"}),
        ))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rows = app.state.store.messages_for(&to).await.unwrap();
        if rows.first().is_some_and(|m| m.status == "SENT") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "message not delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Not yet an hour old: kept.
    assert_eq!(
        app.state
            .store
            .redact_finished_messages(chrono::Utc::now() - chrono::Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert!(
        app.state.store.messages_for(&to).await.unwrap()[0]
            .payload
            .contains("123456")
    );
    // Seen from an hour later: emptied.
    assert_eq!(
        app.state
            .store
            .redact_finished_messages(chrono::Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.state.store.messages_for(&to).await.unwrap()[0].payload,
        "{}"
    );
}

/// The backlog gauge counts the messages waiting, in flight and failed, never the sent ones
/// (counting those would read the whole outbox at every sweep).
async fn the_backlog_counts_leave_sent_messages_out(app: TestApp) {
    use ticketmax::notify::NewMessage;
    let to = format!("backlog-{}@example.com", uuid::Uuid::new_v4().simple());
    for n in 0..4 {
        app.state
            .store
            .enqueue_message(&NewMessage::email(
                &to,
                "welcome",
                serde_json::json!({"firstName": "Ada", "code": format!("{n}")}),
            ))
            .await
            .unwrap();
    }
    // One message of each status; the PENDING one not due, so no worker takes it meanwhile.
    let ids: Vec<uuid::Uuid> = app
        .state
        .store
        .messages_for(&to)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    let far = chrono::Utc::now() + chrono::Duration::days(1);
    for (id, status) in ids.iter().zip(["PENDING", "PROCESSING", "FAILED", "SENT"]) {
        crate::with_pool!(app, pool => {
            sqlx::query(
                "UPDATE outbox SET status = $1, next_attempt_at = $2, locked_until = $2 WHERE id = $3",
            )
            .bind(status)
            .bind(far)
            .bind(*id)
            .execute(pool)
            .await
            .unwrap();
        });
    }
    let mut counts = app.state.store.outbox_counts().await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            ("FAILED".to_string(), 1),
            ("PENDING".to_string(), 1),
            ("PROCESSING".to_string(), 1),
        ]
    );
}

async fn a_confirmed_booking_email_carries_each_tickets_qr_code_as_an_inline_png(app: TestApp) {
    let Some(sink) = SmtpSink::start("accept", 0) else {
        return;
    };
    let app = smtp_app(app.backend, sink.port).spawn().await;
    let (_, _, event, types) =
        crate::fixtures::published_event(&app, &[crate::fixtures::TypeSpec::free(10)]).await;
    let (buyer, token) = app.create_user(Role::User).await;
    let email = app
        .state
        .store
        .user_by_id(buyer)
        .await
        .unwrap()
        .unwrap()
        .email;
    let r = crate::fixtures::book(&app, &token, event, types[0], 2).await;
    r.assert_status(201);
    let codes: Vec<String> = r.data()["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 2);

    let row = wait_for(&app.state.store, &email, WAIT, |r| r.status == "SENT").await;
    assert_eq!(row.template, "booking_confirmed");
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let m = &received[0];
    assert_eq!(m["contentType"], "multipart/mixed");
    assert_eq!(
        m["structure"],
        json!([
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "multipart/related",
            "text/html",
            "image/png",
            "image/png",
            "text/calendar"
        ]),
    );
    let text = m["parts"]["text/plain"].as_str().expect("text part");
    let html = m["parts"]["text/html"].as_str().expect("html part");
    for code in &codes {
        assert!(
            text.contains(code.as_str()),
            "the text part lists {code}: {text}"
        );
    }
    assert!(
        !html.contains("/qr\""),
        "no link that needs a bearer token: {html}"
    );
    let images = m["inline"].as_array().unwrap();
    assert_eq!(images.len(), codes.len(), "{images:?}");
    let mut cids = HashSet::new();
    for image in images {
        assert_eq!(image["contentType"], "image/png");
        assert_eq!(image["isPng"], true);
        assert!(image["size"].as_u64().unwrap() > 100);
        assert_eq!(image["disposition"], "inline");
        let cid = image["contentId"]
            .as_str()
            .unwrap()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string();
        assert!(
            html.contains(&format!("src=\"cid:{cid}\"")),
            "the HTML shows {cid}: {html}"
        );
        cids.insert(cid);
    }
    assert_eq!(cids.len(), codes.len(), "one image per ticket");
}

both_backends!(
    finished_messages_lose_their_payload_after_an_hour,
    the_backlog_counts_leave_sent_messages_out,
    a_confirmed_booking_email_carries_each_tickets_qr_code_as_an_inline_png
);

/// What the sink saw of the one email it received: its text part and its calendar.
async fn confirmation_with_calendar(sink: &SmtpSink, app: &TestApp, to: &str) -> (String, String) {
    let row = wait_for(&app.state.store, to, WAIT, |r| r.status == "SENT").await;
    assert_eq!(row.template, "booking_confirmed");
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let m = &received[0];
    assert_eq!(m["contentType"], "multipart/mixed");
    let emls = std::fs::read_dir(&sink.dir.0)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<Vec<_>>();
    let raw = emls.concat();
    assert!(
        raw.contains("text/calendar; charset=utf-8; method=PUBLISH"),
        "the calendar's content type: {raw}"
    );
    assert!(raw.contains("filename=\"event.ics\""), "{raw}");
    let text = m["parts"]["text/plain"]
        .as_str()
        .expect("text part")
        .replace("\r\n", "\n");
    let ics = m["parts"]["text/calendar"]
        .as_str()
        .expect("calendar part")
        .to_string();
    (text, ics)
}

/// The `DTSTART` value of an event's start (RFC 3339, as the API gives it).
fn dtstart(starts_at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(starts_at)
        .unwrap()
        .with_timezone(&chrono::Utc)
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

async fn a_confirmation_links_to_the_booking_page_and_the_pdf_and_carries_the_event_in_an_ics(
    app: TestApp,
) {
    let Some(sink) = SmtpSink::start("accept", 0) else {
        return;
    };
    let app = smtp_app(app.backend, sink.port).spawn().await;
    let (_, _, event, types) =
        crate::fixtures::published_event(&app, &[crate::fixtures::TypeSpec::free(10)]).await;
    let (buyer, token) = app.create_user(Role::User).await;
    let email = app
        .state
        .store
        .user_by_id(buyer)
        .await
        .unwrap()
        .unwrap()
        .email;
    let r = crate::fixtures::book(&app, &token, event, types[0], 2).await;
    r.assert_status(201);
    let id = r.data()["id"].as_str().unwrap().to_string();
    let starts_at = app.get(&format!("/api/events/{event}")).await.data()["startsAt"]
        .as_str()
        .unwrap()
        .to_string();

    let (text, ics) = confirmation_with_calendar(&sink, &app, &email).await;
    let base = app.state.config.public_base_url.trim_end_matches('/');
    let page = format!("{base}/bookings/{id}");
    assert!(text.contains(&format!("Your booking: {page}\n")), "{text}");
    assert!(
        text.contains(&format!("Tickets to print (PDF): {page}/tickets.pdf\n")),
        "{text}"
    );
    let lines: Vec<&str> = ics.split("\r\n").collect();
    assert_eq!(lines.first(), Some(&"BEGIN:VCALENDAR"), "{ics}");
    assert!(
        lines.contains(&format!("DTSTART:{}", dtstart(&starts_at)).as_str()),
        "{ics}"
    );
    assert!(lines.contains(&"METHOD:PUBLISH"), "{ics}");
    assert!(lines.contains(&"SUMMARY:Afrobeats Night"), "{ics}");
    assert!(lines.contains(&"LOCATION:Lagos"), "{ics}");
    assert!(
        ics.replace("\r\n ", "")
            .contains(&format!("URL:{page}\r\n")),
        "{ics}"
    );
    let host = ticketmax::notify::ics::host_of(base);
    assert!(
        lines.contains(&format!("UID:{id}@{host}").as_str()),
        "{ics}"
    );
}

async fn a_guests_confirmation_links_carry_their_token(app: TestApp) {
    let Some(sink) = SmtpSink::start("accept", 0) else {
        return;
    };
    let app = smtp_app(app.backend, sink.port).spawn().await;
    let (_, _, event, types) =
        crate::fixtures::published_event(&app, &[crate::fixtures::TypeSpec::free(10)]).await;
    let g = app
        .post(
            "/api/bookings/guest",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1,
                    "customerEmail": "gee@example.com", "customerName": "Gee Guest"}),
        )
        .await;
    g.assert_status(201);
    let id = g.data()["id"].as_str().unwrap();
    let token = g.data()["guestToken"].as_str().unwrap();

    let (text, ics) = confirmation_with_calendar(&sink, &app, "gee@example.com").await;
    let base = app.state.config.public_base_url.trim_end_matches('/');
    let page = format!("{base}/bookings/{id}");
    assert!(
        text.contains(&format!("Your booking: {page}?token={token}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Tickets to print (PDF): {page}/tickets.pdf?token={token}\n"
        )),
        "{text}"
    );
    assert!(
        ics.replace("\r\n ", "")
            .contains(&format!("URL:{page}?token={token}\r\n")),
        "{ics}"
    );
    // The link's token opens the PDF through the API too.
    app.get_as(token, &format!("/api/bookings/{id}/tickets.pdf"))
        .await
        .assert_status(200);
}

both_backends!(
    a_confirmation_links_to_the_booking_page_and_the_pdf_and_carries_the_event_in_an_ics,
    a_guests_confirmation_links_carry_their_token
);
