//! An event's attendee list (API.md §11.105) and the dashboard's live updates (§11.72, §11.81):
//! search, filters, pagination and who may read the list; stream tickets, scope, resumption,
//! the per-user cap and suspension.

use std::time::Duration as StdDuration;

use chrono::Duration;
use futures_util::StreamExt;
use serde_json::{Value, json};
use ticketmax::store::Store;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::dashboard::{Seed, at, insert_booking};
use crate::fixtures::{TypeSpec, insert_event};
use crate::helpers::TestApp;
use crate::with_pool;

async fn attendees(
    app: &TestApp,
    token: &str,
    event: Uuid,
    query: &str,
) -> crate::helpers::TestResponse {
    app.get_as(token, &format!("/api/events/{event}/bookings?{query}"))
        .await
}

fn references(r: &crate::helpers::TestResponse) -> Vec<String> {
    r.data()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reference"].as_str().unwrap().to_string())
        .collect()
}

async fn the_organizer_lists_searches_and_filters_their_event_s_bookings(app: TestApp) {
    let (org, org_token) = app.create_user(Role::Organizer).await;
    let types = [TypeSpec::paid(100), TypeSpec::free(100)];
    let (event, ty) = insert_event(&app, org, "PUBLISHED", None, Duration::days(30), &types).await;
    let (buyer, _) = app.create_user(Role::User).await;
    let row = |reference, email, name, ty, status, created| Seed {
        reference,
        user: Some(buyer),
        email,
        name,
        event,
        ty,
        quantity: 1,
        total: 0,
        currency: "NGN",
        status,
        created,
        refunded: None,
    };
    let ada = insert_booking(
        &app,
        &row(
            "TM-ATT00001",
            "ada.obi@example.com",
            "Ada Obi",
            ty[1],
            "CONFIRMED",
            "2026-11-01T10:00:00Z",
        ),
    )
    .await;
    insert_booking(
        &app,
        &row(
            "TM-ATT00002",
            "chidi@example.com",
            "Chidi Okafor",
            ty[1],
            "CONFIRMED",
            "2026-11-02T10:00:00Z",
        ),
    )
    .await;
    insert_booking(
        &app,
        &row(
            "TM-ATT00003",
            "b.ade@mail.com",
            "Bola Ade",
            ty[0],
            "CANCELLED",
            "2026-11-03T10:00:00Z",
        ),
    )
    .await;
    with_pool!(app, pool => {
        sqlx::query("INSERT INTO tickets (id, booking_id, code, seat, checked_in_at, created_at) VALUES ($1, $2, 'code-1', 1, $3, $3)")
            .bind(Uuid::now_v7()).bind(ada).bind(at("2026-11-05T18:00:00Z"))
            .execute(pool).await.unwrap();
    });

    let all = attendees(&app, &org_token, event, "").await;
    all.assert_status(200);
    assert_eq!(
        references(&all),
        ["TM-ATT00003", "TM-ATT00002", "TM-ATT00001"],
        "newest first"
    );
    assert_eq!(
        all.body["meta"],
        json!({"page": 1, "limit": 20, "total": 3, "totalPages": 1})
    );
    let first = &all.data()[2];
    assert_eq!(first["customerName"], "Ada Obi");
    assert_eq!(first["customerEmail"], "ada.obi@example.com");
    assert_eq!(first["ticketTypeName"], "Type 1");
    assert_eq!(first["tickets"][0]["checkedInAt"], "2026-11-05T18:00:00Z");
    assert!(first.get("customerPhone").is_some());

    for (q, want) in [
        ("obi", vec!["TM-ATT00001"]),
        ("OKAF", vec!["TM-ATT00002"]),
        ("ade", vec!["TM-ATT00003"]),
        ("att00002", vec!["TM-ATT00002"]),
        ("example", vec!["TM-ATT00002", "TM-ATT00001"]),
        ("bi", vec![]),
        ("%", vec![]),
    ] {
        let r = attendees(&app, &org_token, event, &format!("q={}", urlencode(q))).await;
        r.assert_status(200);
        assert_eq!(references(&r), want, "q={q}");
    }
    let confirmed = attendees(&app, &org_token, event, "status=CONFIRMED").await;
    assert_eq!(references(&confirmed), ["TM-ATT00002", "TM-ATT00001"]);
    let checked = attendees(&app, &org_token, event, "checkedIn=true").await;
    assert_eq!(references(&checked), ["TM-ATT00001"]);
    let unchecked = attendees(&app, &org_token, event, "checkedIn=false&status=CONFIRMED").await;
    assert_eq!(references(&unchecked), ["TM-ATT00002"]);
    let paid = attendees(&app, &org_token, event, &format!("ticketTypeId={}", ty[0])).await;
    assert_eq!(references(&paid), ["TM-ATT00003"]);
    let page = attendees(&app, &org_token, event, "limit=1&page=2").await;
    assert_eq!(references(&page), ["TM-ATT00002"]);
    assert_eq!(
        page.body["meta"],
        json!({"page": 2, "limit": 1, "total": 3, "totalPages": 3})
    );
    attendees(&app, &org_token, event, "status=LOST")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    attendees(&app, &org_token, event, "limit=101")
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn only_the_owner_and_admins_read_an_event_s_bookings(app: TestApp) {
    let (org, org_token) = app.create_user(Role::Organizer).await;
    let (event, _) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::days(30),
        &[TypeSpec::free(10)],
    )
    .await;
    let (_, other) = app.create_user(Role::Organizer).await;
    let (_, user) = app.create_user(Role::User).await;
    let (_, admin) = app.create_user(Role::Admin).await;
    attendees(&app, &admin, event, "").await.assert_status(200);
    attendees(&app, &other, event, "")
        .await
        .assert_error(404, "NOT_FOUND");
    attendees(&app, &user, event, "")
        .await
        .assert_error(404, "NOT_FOUND");
    attendees(&app, &org_token, Uuid::new_v4(), "")
        .await
        .assert_error(404, "NOT_FOUND");
    app.get(&format!("/api/events/{event}/bookings"))
        .await
        .assert_error(401, "UNAUTHORIZED");
    // Demoted: ownership alone is not enough (§11.95).
    with_pool!(app, pool => {
        sqlx::query("UPDATE users SET role = 'USER' WHERE id = $1").bind(org).execute(pool).await.unwrap();
    });
    app.state.auth_cache.invalidate(org).await;
    attendees(&app, &org_token, event, "")
        .await
        .assert_error(403, "ORGANIZER_NOT_APPROVED");
}

/// A Server-Sent Events reader over a live response.
pub(crate) struct Sse {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

/// One SSE event: `(event, id, data)`.
type SseEvent = (String, String, Value);

impl Sse {
    /// The next event within `wait`; `None` when the stream ended or nothing came.
    async fn next(&mut self, wait: StdDuration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if event.is_empty() {
                    continue; // a heartbeat comment
                }
                return Some((
                    event,
                    id,
                    serde_json::from_str(&data).unwrap_or(Value::Null),
                ));
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        }
    }

    /// Events until one about `booking` arrives (or `wait` passes).
    async fn until_booking(&mut self, booking: &str, wait: StdDuration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        while let Some(e) = self
            .next(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            let done = e.2["bookingId"] == booking;
            seen.push(e);
            if done {
                break;
            }
        }
        seen
    }

    /// Whether the stream ends within `wait`.
    async fn ends_within(&mut self, wait: StdDuration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

pub(crate) async fn ticket(app: &TestApp, token: &str) -> String {
    let r = app
        .post_as(token, "/api/dashboard/updates/ticket", &json!({}))
        .await;
    r.assert_status(201);
    assert!(r.data()["expiresIn"].as_u64().unwrap() <= 60);
    r.data()["ticket"].as_str().unwrap().to_string()
}

pub(crate) async fn open(
    app: &TestApp,
    ticket: &str,
    last_event_id: Option<&str>,
) -> (u16, Option<Sse>) {
    let mut req = app.client.get(format!(
        "{}/api/dashboard/updates?ticket={ticket}",
        app.address
    ));
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let r = req.send().await.expect("stream request");
    let status = r.status().as_u16();
    if status != 200 {
        return (status, None);
    }
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = Box::pin(r.bytes_stream());
    (
        status,
        Some(Sse {
            body,
            buf: String::new(),
        }),
    )
}

pub(crate) async fn stream_as(app: &TestApp, token: &str) -> Sse {
    let t = ticket(app, token).await;
    let (status, sse) = open(app, &t, None).await;
    assert_eq!(status, 200);
    sse.unwrap()
}

async fn book_free(app: &TestApp, token: &str, event: Uuid, ty: Uuid) -> String {
    let r = crate::fixtures::book(app, token, event, ty, 1).await;
    r.assert_status(201);
    r.data()["id"].as_str().unwrap().to_string()
}

const WAIT: StdDuration = StdDuration::from_secs(10);

async fn live_updates_reach_the_scope_they_belong_to_and_resume(app: TestApp) {
    let (org_a, a_token) = app.create_user(Role::Organizer).await;
    let (org_b, b_token) = app.create_user(Role::Organizer).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let (_, other_buyer) = app.create_user(Role::User).await;
    let (ea, ta) = insert_event(
        &app,
        org_a,
        "PUBLISHED",
        None,
        Duration::days(30),
        &[TypeSpec::free(50)],
    )
    .await;
    let (eb, tb) = insert_event(
        &app,
        org_b,
        "PUBLISHED",
        None,
        Duration::days(30),
        &[TypeSpec::free(50)],
    )
    .await;

    let mut a = stream_as(&app, &a_token).await;
    let mut b = stream_as(&app, &b_token).await;
    let mut mine = stream_as(&app, &buyer).await;
    let mut theirs = stream_as(&app, &other_buyer).await;
    let first = book_free(&app, &buyer, ea, ta[0]).await;
    let got = a.until_booking(&first, WAIT).await;
    let last = got.last().expect("organizer A hears of the booking");
    assert_eq!(last.2["bookingId"], first.as_str());
    assert!(
        last.0 == "booking.created" || last.0 == "booking.confirmed",
        "{last:?}"
    );
    assert_eq!(last.2["eventId"], ea.to_string());
    assert!(!last.1.is_empty(), "each update has an id");
    let resume_from = last.1.clone();
    assert!(
        !mine.until_booking(&first, WAIT).await.is_empty(),
        "the buyer hears of their own booking"
    );

    // B's own booking arrives on B's stream, and nothing of A's came before it.
    let second = book_free(&app, &buyer, eb, tb[0]).await;
    let got_b = b.until_booking(&second, WAIT).await;
    assert_eq!(got_b.last().unwrap().2["bookingId"], second.as_str());
    assert!(
        got_b.iter().all(|e| e.2["eventId"] == eb.to_string()),
        "{got_b:?}"
    );
    // Another buyer hears of neither.
    let third = book_free(&app, &other_buyer, ea, ta[0]).await;
    let got_other = theirs.until_booking(&third, WAIT).await;
    assert!(
        got_other.iter().all(|e| e.2["bookingId"] == third.as_str()),
        "{got_other:?}"
    );

    // A reconnect with Last-Event-ID gets what came after, here the other buyer's booking.
    a.until_booking(&third, WAIT).await;
    let t = ticket(&app, &a_token).await;
    let (_, resumed) = open(&app, &t, Some(&resume_from)).await;
    let mut resumed = resumed.unwrap();
    // Resumed after the first booking's creation: its confirmation and the later bookings follow,
    // the update already seen does not.
    let replay = resumed
        .until_booking(&third, StdDuration::from_secs(3))
        .await;
    assert_eq!(
        replay.last().unwrap().2["bookingId"],
        third.as_str(),
        "{replay:?}"
    );
    assert!(replay.iter().all(|e| e.1 != resume_from), "{replay:?}");
    assert_eq!(replay[0].2["bookingId"], first.as_str(), "{replay:?}");
    // An id no longer buffered asks the client to reload.
    let t = ticket(&app, &a_token).await;
    let (_, stale) = open(&app, &t, Some("b.unknown.created")).await;
    assert_eq!(stale.unwrap().next(WAIT).await.unwrap().0, "resync");
}

async fn stream_tickets_are_single_use_and_streams_are_capped_per_user(app: TestApp) {
    let (user_id, user) = app.create_user(Role::User).await;
    let t = ticket(&app, &user).await;
    let (status, first) = open(&app, &t, None).await;
    assert_eq!(status, 200);
    let (reused, _) = open(&app, &t, None).await;
    assert_eq!(reused, 401);
    let (missing, _) = open(&app, "dt_nothing", None).await;
    assert_eq!(missing, 401);
    let r = app.get("/api/dashboard/updates").await;
    r.assert_error(401, "UNAUTHORIZED");
    let expired = "dt_expired-ticket";
    let past = chrono::Utc::now() - Duration::seconds(1);
    app.state
        .store
        .insert_stream_ticket(
            &ticketmax::crypto::sha256_hex(expired),
            user_id,
            Uuid::new_v4(),
            past,
            past - Duration::seconds(60),
        )
        .await
        .unwrap();
    assert_eq!(open(&app, expired, None).await.0, 401);
    app.post("/api/dashboard/updates/ticket", &json!({}))
        .await
        .assert_error(401, "UNAUTHORIZED");

    let mut open_streams = vec![first.unwrap()];
    for _ in 0..4 {
        open_streams.push(stream_as(&app, &user).await);
    }
    let t = ticket(&app, &user).await;
    let sixth = app.get(&format!("/api/dashboard/updates?ticket={t}")).await;
    sixth.assert_error(429, "RATE_LIMITED");
    // A stream that ends gives its place back.
    drop(open_streams.pop());
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let t = ticket(&app, &user).await;
    assert_eq!(open(&app, &t, None).await.0, 200);
}

async fn a_suspended_user_s_stream_closes_at_once(app: TestApp) {
    let (user_id, user) = app.create_user(Role::User).await;
    let (_, admin) = app.create_user(Role::Admin).await;
    let mut stream = stream_as(&app, &user).await;
    let r = app
        .patch_as(
            &admin,
            &format!("/api/user/{user_id}/status"),
            &json!({"status": "SUSPENDED"}),
        )
        .await;
    r.assert_status(200);
    assert!(
        stream.ends_within(StdDuration::from_secs(5)).await,
        "the stream ended"
    );
}

/// A ticket issued by one instance opens a stream on another, which hears of a booking made on
/// the first (two instances on one database, Redis between them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_one_instance_hears_of_bookings_made_on_another() {
    let Some(redis) = crate::helpers::redis_url() else {
        return;
    };
    let backend = if crate::helpers::postgres_available() {
        crate::helpers::Backend::Postgres
    } else {
        crate::helpers::Backend::Sqlite
    };
    let prefix = format!("test-{}:", Uuid::new_v4().simple());
    let a = TestApp::builder(backend)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let b = TestApp::builder(backend)
        .store(a.state.store.clone())
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let (org, org_token) = a.create_user(Role::Organizer).await;
    let (_, buyer) = a.create_user(Role::User).await;
    let (event, ty) = insert_event(
        &a,
        org,
        "PUBLISHED",
        None,
        Duration::days(30),
        &[TypeSpec::free(10)],
    )
    .await;
    let t = ticket(&a, &org_token).await;
    let (status, stream) = open(&b, &t, None).await;
    assert_eq!(status, 200);
    let booking = book_free(&a, &buyer, event, ty[0]).await;
    let got = stream.unwrap().until_booking(&booking, WAIT).await;
    assert_eq!(
        got.last().map(|e| e.2["bookingId"].clone()),
        Some(json!(booking))
    );
}

both_backends!(
    the_organizer_lists_searches_and_filters_their_event_s_bookings,
    only_the_owner_and_admins_read_an_event_s_bookings,
    live_updates_reach_the_scope_they_belong_to_and_resume,
    stream_tickets_are_single_use_and_streams_are_capped_per_user,
    a_suspended_user_s_stream_closes_at_once,
);
