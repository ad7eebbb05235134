//! Fixtures shared by several test modules: events created over HTTP or inserted straight into
//! storage, simulated holds, bookings and the inventory counters of a ticket type.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use ticketmax::events::model::EventStatus;
use ticketmax::store::Store;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::helpers::TestApp;

/// Runs `$body` with `$pool` bound to the writer pool of whichever backend the app uses.
#[macro_export]
macro_rules! with_pool {
    ($app:expr, $pool:ident => $body:expr) => {
        match &$app.state.store {
            Store::Sqlite(p) => {
                let $pool = &p.write;
                $body
            }
            Store::Postgres(p) => {
                let $pool = &p.write;
                $body
            }
        }
    };
}

// Accounts.

/// Suspends an account in storage only: no announcement, no cache invalidation (tests of what
/// makes such a change take effect).
pub async fn suspend_in_storage(app: &TestApp, user_id: Uuid) {
    with_pool!(app, pool => {
        sqlx::query("UPDATE users SET status = 'SUSPENDED' WHERE id = $1")
            .bind(user_id)
            .execute(pool)
            .await
            .unwrap();
    });
}

// Events.

/// A valid create body starting in `days` days.
pub fn event_body(title: &str, days: i64) -> Value {
    let starts = Utc::now() + Duration::days(days);
    json!({
        "title": title,
        "description": "A great night out",
        "category": "Music",
        "location": "Victoria Island, Lagos",
        "venue": "Terra Kulture",
        "startsAt": starts.to_rfc3339(),
        "endsAt": (starts + Duration::hours(3)).to_rfc3339(),
        "status": "PUBLISHED",
        "ticketTypes": [
            {"name": "Regular", "price": 500000, "capacity": 100},
            {"name": "VIP", "kind": "vip", "price": 1500000, "capacity": 10, "maxPerOrder": 2}
        ]
    })
}

/// Creates an event and returns its data.
pub async fn create(app: &TestApp, token: &str, body: &Value) -> Value {
    let r = app.post_as(token, "/api/events", body).await;
    r.assert_status(201);
    r.data().clone()
}

/// Simulates the booking engine holding `qty` seats of a type (and of the event when capped).
pub async fn hold(app: &TestApp, event_id: Uuid, type_id: Uuid, qty: i64, expires_in_secs: i64) {
    let now = Utc::now();
    with_pool!(app, pool => {
        sqlx::query("UPDATE ticket_types SET held = held + $1 WHERE id = $2")
            .bind(qty)
            .bind(type_id)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE events SET held = held + $1 WHERE id = $2 AND total_tickets IS NOT NULL",
        )
        .bind(qty)
        .bind(event_id)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                 currency, status, expires_at, customer_email, customer_name, created_at, updated_at)
             VALUES ($1, $2, NULL, $3, $4, $5, 0, 0, 'NGN', 'PENDING', $6, 'a@example.com', 'A Person', $7, $7)",
        )
        .bind(Uuid::new_v4())
        .bind(format!("TM-{}", &Uuid::new_v4().simple().to_string()[..8]))
        .bind(event_id)
        .bind(type_id)
        .bind(qty)
        .bind(now + Duration::seconds(expires_in_secs))
        .bind(now)
        .execute(pool)
        .await
        .unwrap();
    });
}

/// A published event for seeding through the store.
pub fn seeded_event(
    organizer: Uuid,
    i: usize,
    now: chrono::DateTime<Utc>,
) -> ticketmax::events::model::EventRow {
    ticketmax::events::model::EventRow {
        id: Uuid::now_v7(),
        organizer_id: organizer,
        title: format!("Event {i}"),
        description: "Seeded".into(),
        category: "misc".into(),
        tags: "[]".into(),
        venue: None,
        location: "Lagos".into(),
        timezone: "UTC".into(),
        starts_at: now + Duration::days(1 + i as i64),
        ends_at: None,
        image_url: None,
        featured: false,
        status: EventStatus::Published,
        currency: "NGN".into(),
        total_tickets: None,
        sold: 0,
        held: 0,
        min_price: None,
        cancel_reason: None,
        published_at: Some(now),
        created_at: now + Duration::milliseconds(i as i64),
        updated_at: now,
    }
}

// Bookings.

/// A ticket type to insert.
#[derive(Clone, Copy)]
pub struct TypeSpec {
    pub price: i64,
    pub capacity: i64,
    pub max_per_order: i32,
}

impl TypeSpec {
    pub fn paid(capacity: i64) -> Self {
        Self {
            price: 500_000,
            capacity,
            max_per_order: 10,
        }
    }
    pub fn free(capacity: i64) -> Self {
        Self {
            price: 0,
            capacity,
            max_per_order: 10,
        }
    }
}

/// Inserts an event with its ticket types straight into storage; starts in `starts_in`.
pub async fn insert_event(
    app: &TestApp,
    organizer: Uuid,
    status: &str,
    total_tickets: Option<i64>,
    starts_in: Duration,
    types: &[TypeSpec],
) -> (Uuid, Vec<Uuid>) {
    let now = Utc::now();
    let event = Uuid::now_v7();
    let starts = now + starts_in;
    let published = (status != "DRAFT").then(|| now - Duration::hours(1));
    with_pool!(app, pool => {
        sqlx::query(
            "INSERT INTO events (id, organizer_id, title, description, category, location, starts_at, status, currency,
                 total_tickets, published_at, created_at, updated_at)
             VALUES ($1, $2, 'Afrobeats Night', 'A night of music', 'music', 'Lagos', $3, $4, 'NGN', $5, $6, $7, $7)",
        )
        .bind(event).bind(organizer).bind(starts).bind(status).bind(total_tickets).bind(published).bind(now)
        .execute(pool).await.expect("insert event");
    });
    let mut ids = Vec::new();
    for (i, t) in types.iter().enumerate() {
        let id = Uuid::now_v7();
        let kind = if i == 0 { "general" } else { "vip" };
        with_pool!(app, pool => {
            sqlx::query(
                "INSERT INTO ticket_types (id, event_id, name, kind, price, capacity, max_per_order, position, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(id).bind(event).bind(format!("Type {i}")).bind(kind).bind(t.price).bind(t.capacity)
            .bind(t.max_per_order).bind(i as i32).bind(now)
            .execute(pool).await.expect("insert ticket type");
        });
        ids.push(id);
    }
    (event, ids)
}

/// A published event starting in 30 days with the given types, owned by a new organizer.
pub async fn published_event(app: &TestApp, types: &[TypeSpec]) -> (Uuid, String, Uuid, Vec<Uuid>) {
    let (org, org_token) = app.create_user(Role::Organizer).await;
    let (event, ids) = insert_event(app, org, "PUBLISHED", None, Duration::days(30), types).await;
    (org, org_token, event, ids)
}

/// `(capacity, sold, held, pending seats, confirmed seats)` of a type.
pub async fn counters(app: &TestApp, type_id: Uuid) -> (i64, i64, i64, i64, i64) {
    app.state
        .store
        .type_counters(type_id)
        .await
        .expect("counters")
}

/// A hold request for the engine, as a guest.
pub fn guest_hold(
    event: Uuid,
    ty: Uuid,
    email: &str,
    quantity: i64,
) -> ticketmax::bookings::NewHold {
    ticketmax::bookings::NewHold {
        event_id: event,
        ticket_type_id: Some(ty),
        quantity,
        user_id: None,
        customer_email: email.into(),
        customer_name: "Batch Buyer".into(),
        customer_phone: None,
        special_requests: None,
        guest_token_hash: None,
        guest_token: None,
        idempotency_key: None,
        now: Utc::now(),
        hold: chrono::Duration::minutes(10),
    }
}

/// Books `quantity` of a type as `token`.
pub async fn book(
    app: &TestApp,
    token: &str,
    event: Uuid,
    ty: Uuid,
    quantity: i64,
) -> crate::helpers::TestResponse {
    app.post_as(
        token,
        "/api/bookings",
        &json!({"eventId": event, "ticketTypeId": ty, "quantity": quantity}),
    )
    .await
}

// Dashboard counters.

/// Checks that the dashboard's daily counters and customers' latest orders (kept by triggers,
/// migration 0016) equal what the bookings themselves say, after whatever a test did to them.
pub async fn assert_dashboard_counters(app: &TestApp) {
    type Day = (Uuid, String, String, i64, i64, i64, i64, i64, i64);
    let (day, customer, zero) = match &app.state.store {
        Store::Sqlite(_) => (
            "substr(created_at, 1, 10)",
            "COALESCE('u:' || lower(hex(b.user_id)), 'g:' || lower(b.customer_email))",
            "zeroblob(16)",
        ),
        Store::Postgres(_) => (
            "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            "COALESCE('u:' || b.user_id::text, 'g:' || lower(b.customer_email))",
            "'00000000-0000-0000-0000-000000000000'::uuid",
        ),
    };
    let stored_day = match &app.state.store {
        Store::Sqlite(_) => "day",
        Store::Postgres(_) => "to_char(day, 'YYYY-MM-DD')",
    };
    let expected_days = format!(
        "SELECT event_id, {day}, currency, COUNT(*), COUNT(confirmed_at),
                CAST(COALESCE(SUM(CASE WHEN status = 'CONFIRMED' THEN quantity ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN confirmed_at IS NOT NULL THEN total_amount - COALESCE(refund_amount, 0) ELSE 0 END), 0) AS BIGINT),
                COUNT(CASE WHEN refund_amount > 0 THEN 1 END),
                CAST(COALESCE(SUM(refund_amount), 0) AS BIGINT)
         FROM bookings GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    );
    let stored_days = format!(
        "SELECT event_id, {stored_day}, currency, created, orders, tickets, revenue, refunded_bookings, refunded
         FROM booking_days ORDER BY 1, 2, 3"
    );
    let top_two = format!(
        "SELECT scope_id, customer, MAX(CASE WHEN n = 1 THEN created_at END), MAX(CASE WHEN n = 2 THEN created_at END)
         FROM (SELECT scope_id, customer, created_at,
                      ROW_NUMBER() OVER (PARTITION BY scope_id, customer ORDER BY created_at DESC) AS n
               FROM (SELECT e.organizer_id AS scope_id, {customer} AS customer, b.created_at
                     FROM bookings b JOIN events e ON e.id = b.event_id WHERE b.confirmed_at IS NOT NULL
                     UNION ALL
                     SELECT {zero}, {customer}, b.created_at FROM bookings b WHERE b.confirmed_at IS NOT NULL) o) r
         WHERE n <= 2 GROUP BY scope_id, customer ORDER BY 1, 2"
    );
    let stored_customers =
        "SELECT scope_id, customer, last_at, prev_at FROM customer_orders ORDER BY 1, 2";
    type Customer = (Uuid, String, DateTime<Utc>, Option<DateTime<Utc>>);
    let (expected, mut stored, expected_customers, stored_customers): (
        Vec<Day>,
        Vec<Day>,
        Vec<Customer>,
        Vec<Customer>,
    ) = with_pool!(app, pool => (
        sqlx::query_as(sqlx::AssertSqlSafe(expected_days)).fetch_all(pool).await.expect("bookings by day"),
        sqlx::query_as(sqlx::AssertSqlSafe(stored_days)).fetch_all(pool).await.expect("booking_days"),
        sqlx::query_as(sqlx::AssertSqlSafe(top_two)).fetch_all(pool).await.expect("latest orders"),
        sqlx::query_as(stored_customers).fetch_all(pool).await.expect("customer_orders"),
    ));
    // A day whose bookings all went (none here) keeps a row of zeros.
    stored.retain(|d| (d.3, d.4, d.5, d.6, d.7, d.8) != (0, 0, 0, 0, 0, 0));
    assert_eq!(stored, expected, "daily counters differ from the bookings");
    assert_eq!(
        stored_customers, expected_customers,
        "customers' latest orders differ from the bookings"
    );
}
