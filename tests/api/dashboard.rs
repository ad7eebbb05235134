//! The dashboard's figures, series, rankings and exports (API.md §7, §11.33–35, §11.62–64,
//! §11.83), checked exactly against a history seeded straight into storage: bookings across
//! months and on bucket boundaries, partial and full refunds, two currencies, free bookings,
//! guests and accounts, a repeat customer, and the events of two organizers.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use ticketmax::store::Store;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::{TypeSpec, insert_event};
use crate::helpers::TestApp;
use crate::with_pool;

/// A seeded booking.
pub struct Seed<'a> {
    pub reference: &'a str,
    pub user: Option<Uuid>,
    pub email: &'a str,
    pub name: &'a str,
    pub event: Uuid,
    pub ty: Uuid,
    pub quantity: i64,
    pub total: i64,
    pub currency: &'a str,
    /// Stored status; CONFIRMED, CANCELLED and REFUNDED ones were confirmed first.
    pub status: &'a str,
    pub created: &'a str,
    pub refunded: Option<i64>,
}

pub fn at(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
}

/// Inserts a booking with exact times; returns its id.
pub async fn insert_booking(app: &TestApp, s: &Seed<'_>) -> Uuid {
    let id = Uuid::now_v7();
    let created = at(s.created);
    let confirmed = matches!(s.status, "CONFIRMED" | "CANCELLED" | "REFUNDED").then_some(created);
    let cancelled = matches!(s.status, "CANCELLED" | "REFUNDED").then_some(created);
    let expires =
        (s.status == "PENDING" || s.status == "EXPIRED").then(|| created + Duration::minutes(10));
    with_pool!(app, pool => {
        sqlx::query(
            "INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                 currency, status, expires_at, customer_email, customer_name, refund_amount, confirmed_at,
                 cancelled_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)",
        )
        .bind(id).bind(s.reference).bind(s.user).bind(s.event).bind(s.ty).bind(s.quantity)
        .bind(s.total / s.quantity).bind(s.total).bind(s.currency).bind(s.status).bind(expires)
        .bind(s.email).bind(s.name).bind(s.refunded).bind(confirmed).bind(cancelled).bind(created)
        .execute(pool).await.expect("insert booking");
    });
    id
}

/// The seeded world.
pub struct History {
    pub org_a: (Uuid, String),
    pub org_b: (Uuid, String),
    pub u1: (Uuid, String),
    pub u2: (Uuid, String),
    pub admin: String,
    pub ea1: Uuid,
    pub eb1: Uuid,
    pub bookings: HashMap<&'static str, Uuid>,
}

/// Organizer A: EA1 (NGN, music; a paid and a free type) and EA2 (USD, Tech). Organizer B: EB1
/// (NGN, MUSIC). March 2026 is the window most checks use; February holds the previous period.
pub async fn seed(app: &TestApp) -> History {
    let org_a = app.create_user(Role::Organizer).await;
    let org_b = app.create_user(Role::Organizer).await;
    let u1 = app.create_user(Role::User).await;
    let u2 = app.create_user(Role::User).await;
    let (_, admin) = app.create_user(Role::Admin).await;
    let types = [TypeSpec::paid(1000), TypeSpec::free(1000)];
    let (ea1, t1) = insert_event(app, org_a.0, "PUBLISHED", None, Duration::days(30), &types).await;
    let (ea2, t2) = insert_event(app, org_a.0, "PUBLISHED", None, Duration::days(31), &types).await;
    let (eb1, t3) = insert_event(app, org_b.0, "PUBLISHED", None, Duration::days(32), &types).await;
    with_pool!(app, pool => {
        sqlx::query("UPDATE events SET currency = 'USD', category = 'Tech', title = 'Dev Summit' WHERE id = $1")
            .bind(ea2).execute(pool).await.unwrap();
        sqlx::query("UPDATE events SET category = 'MUSIC', title = 'B Night' WHERE id = $1")
            .bind(eb1).execute(pool).await.unwrap();
    });
    let guest = "=HYPERLINK(\"http://x\")";
    let rows: Vec<(&'static str, Seed)> = vec![
        (
            "b1",
            Seed {
                reference: "TM-DASH0001",
                user: Some(u1.0),
                email: "u1@example.com",
                name: "Ada Obi",
                event: ea1,
                ty: t1[0],
                quantity: 2,
                total: 10000,
                currency: "NGN",
                status: "CONFIRMED",
                created: "2026-03-01T00:00:00Z",
                refunded: None,
            },
        ),
        (
            "b2",
            Seed {
                reference: "TM-DASH0002",
                user: Some(u1.0),
                email: "u1@example.com",
                name: "Obi, Ada",
                event: ea1,
                ty: t1[0],
                quantity: 1,
                total: 5000,
                currency: "NGN",
                status: "CONFIRMED",
                created: "2026-03-10T12:00:00Z",
                refunded: Some(2000),
            },
        ),
        (
            "b3",
            Seed {
                reference: "TM-DASH0003",
                user: Some(u2.0),
                email: "u2@example.com",
                name: "Bola Ade",
                event: ea2,
                ty: t2[0],
                quantity: 1,
                total: 2000,
                currency: "USD",
                status: "REFUNDED",
                created: "2026-03-15T23:59:59Z",
                refunded: Some(2000),
            },
        ),
        (
            "b4",
            Seed {
                reference: "TM-DASH0004",
                user: None,
                email: "Guest@Example.com",
                name: "Guest One",
                event: ea1,
                ty: t1[1],
                quantity: 3,
                total: 0,
                currency: "NGN",
                status: "CONFIRMED",
                created: "2026-03-16T00:00:00Z",
                refunded: None,
            },
        ),
        (
            "b5",
            Seed {
                reference: "TM-DASH0005",
                user: None,
                email: "guest@example.com",
                name: guest,
                event: ea1,
                ty: t1[0],
                quantity: 1,
                total: 5000,
                currency: "NGN",
                status: "CONFIRMED",
                created: "2026-03-20T10:00:00Z",
                refunded: None,
            },
        ),
        (
            "b6",
            Seed {
                reference: "TM-DASH0006",
                user: Some(u2.0),
                email: "u2@example.com",
                name: "Bola Ade",
                event: ea1,
                ty: t1[0],
                quantity: 1,
                total: 5000,
                currency: "NGN",
                status: "EXPIRED",
                created: "2026-03-21T08:00:00Z",
                refunded: None,
            },
        ),
        (
            "b7",
            Seed {
                reference: "TM-DASH0007",
                user: Some(u1.0),
                email: "u1@example.com",
                name: "Ada Obi",
                event: ea2,
                ty: t2[0],
                quantity: 2,
                total: 4000,
                currency: "USD",
                status: "CONFIRMED",
                created: "2026-03-31T23:59:59Z",
                refunded: None,
            },
        ),
        (
            "b8",
            Seed {
                reference: "TM-DASH0008",
                user: Some(u1.0),
                email: "u1@example.com",
                name: "Ada Obi",
                event: ea1,
                ty: t1[0],
                quantity: 1,
                total: 5000,
                currency: "NGN",
                status: "CONFIRMED",
                created: "2026-04-01T00:00:00Z",
                refunded: None,
            },
        ),
        (
            "b9",
            Seed {
                reference: "TM-DASH0009",
                user: Some(u2.0),
                email: "u2@example.com",
                name: "Bola Ade",
                event: ea1,
                ty: t1[0],
                quantity: 1,
                total: 5000,
                currency: "NGN",
                status: "CONFIRMED",
                created: "2026-02-28T23:59:59Z",
                refunded: None,
            },
        ),
        (
            "b10",
            Seed {
                reference: "TM-DASH0010",
                user: Some(u1.0),
                email: "u1@example.com",
                name: "Ada Obi",
                event: ea1,
                ty: t1[0],
                quantity: 1,
                total: 5000,
                currency: "NGN",
                status: "CONFIRMED",
                created: "2026-02-01T00:00:00Z",
                refunded: None,
            },
        ),
        (
            "b11",
            Seed {
                reference: "TM-DASH0011",
                user: Some(u1.0),
                email: "u1@example.com",
                name: "Ada Obi",
                event: eb1,
                ty: t3[0],
                quantity: 4,
                total: 4000,
                currency: "NGN",
                status: "CONFIRMED",
                created: "2026-03-05T00:00:00Z",
                refunded: None,
            },
        ),
        (
            "b12",
            Seed {
                reference: "TM-DASH0012",
                user: Some(u2.0),
                email: "u2@example.com",
                name: "Bola Ade",
                event: eb1,
                ty: t3[0],
                quantity: 1,
                total: 1000,
                currency: "NGN",
                status: "CANCELLED",
                created: "2026-03-06T00:00:00Z",
                refunded: None,
            },
        ),
    ];
    let mut bookings = HashMap::new();
    for (key, row) in &rows {
        bookings.insert(*key, insert_booking(app, row).await);
    }
    crate::fixtures::assert_dashboard_counters(app).await;
    History {
        org_a,
        org_b,
        u1,
        u2,
        admin,
        ea1,
        eb1,
        bookings,
    }
}

pub const MARCH: &str = "from=2026-03-01&to=2026-04-01";

async fn stats(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app
        .get_as(token, &format!("/api/dashboard/stats?{query}"))
        .await;
    r.assert_status(200);
    r.data().clone()
}

async fn an_organizer_sees_exactly_the_figures_of_their_own_events(app: TestApp) {
    let h = seed(&app).await;
    let s = stats(&app, &h.org_a.1, MARCH).await;
    assert_eq!(s["bookingsCreated"], 7);
    assert_eq!(s["totalOrders"], 6);
    assert_eq!(s["ticketsSold"], 9);
    assert_eq!(s["revenue"], json!({"NGN": 18000, "USD": 4000}));
    assert_eq!(s["averageOrderValue"], json!({"NGN": 4500, "USD": 2000}));
    assert_eq!(s["uniqueCustomers"], 3);
    assert_eq!(s["repeatCustomerRate"].as_f64().unwrap(), 2.0 / 3.0);
    assert_eq!(s["conversionRate"].as_f64().unwrap(), 6.0 / 7.0);
    // The previous 31 days hold two orders (b9 at 23:59:59 on the last day, b10).
    assert_eq!(s["growthRate"].as_f64().unwrap(), 2.0);
    assert_eq!(
        s["refunds"],
        json!({"count": 2, "amount": {"NGN": 2000, "USD": 2000}})
    );
    assert_eq!(s["upcomingEvents"], 2);
    assert_eq!(s["from"], "2026-03-01T00:00:00Z");
    assert_eq!(s["to"], "2026-04-01T00:00:00Z");
    assert!(s["period"].is_null());

    let b = stats(&app, &h.org_b.1, MARCH).await;
    assert_eq!(b["bookingsCreated"], 2);
    assert_eq!(b["totalOrders"], 2);
    assert_eq!(b["ticketsSold"], 4);
    assert_eq!(b["revenue"], json!({"NGN": 5000}));
    assert_eq!(b["averageOrderValue"], json!({"NGN": 2500}));
    assert_eq!(b["uniqueCustomers"], 2);
    assert_eq!(b["repeatCustomerRate"].as_f64().unwrap(), 0.0);
    assert_eq!(b["conversionRate"].as_f64().unwrap(), 1.0);
    assert!(b["growthRate"].is_null(), "no orders before: {b}");
    assert_eq!(b["refunds"], json!({"count": 0, "amount": {}}));
    assert_eq!(b["upcomingEvents"], 1);
}

async fn an_admin_sees_the_platform_and_a_user_only_their_own_purchases(app: TestApp) {
    let h = seed(&app).await;
    let a = stats(&app, &h.admin, MARCH).await;
    assert_eq!(a["bookingsCreated"], 9);
    assert_eq!(a["totalOrders"], 8);
    assert_eq!(a["ticketsSold"], 13);
    assert_eq!(a["revenue"], json!({"NGN": 23000, "USD": 4000}));
    assert_eq!(a["averageOrderValue"], json!({"NGN": 3833, "USD": 2000}));
    assert_eq!(a["uniqueCustomers"], 3);
    assert_eq!(a["repeatCustomerRate"].as_f64().unwrap(), 1.0);
    assert_eq!(a["growthRate"].as_f64().unwrap(), 3.0);
    assert_eq!(a["upcomingEvents"], 3);

    let u1 = stats(&app, &h.u1.1, MARCH).await;
    assert_eq!(u1["bookingsCreated"], 4);
    assert_eq!(u1["totalOrders"], 4);
    assert_eq!(u1["ticketsSold"], 9);
    assert_eq!(u1["revenue"], json!({"NGN": 17000, "USD": 4000}));
    assert_eq!(u1["averageOrderValue"], json!({"NGN": 5666, "USD": 4000}));
    assert_eq!(u1["uniqueCustomers"], 1);
    assert_eq!(u1["growthRate"].as_f64().unwrap(), 3.0);
    assert_eq!(u1["refunds"], json!({"count": 1, "amount": {"NGN": 2000}}));
    assert_eq!(u1["upcomingEvents"], 3);

    // Never another user's money: u2's refunded USD order and cancelled NGN one only.
    let u2 = stats(&app, &h.u2.1, MARCH).await;
    assert_eq!(u2["bookingsCreated"], 3);
    assert_eq!(u2["totalOrders"], 2);
    assert_eq!(u2["ticketsSold"], 0);
    assert_eq!(u2["revenue"], json!({"NGN": 1000}));
    assert_eq!(u2["averageOrderValue"], json!({"NGN": 1000}));
    assert_eq!(u2["conversionRate"].as_f64().unwrap(), 2.0 / 3.0);
    assert_eq!(u2["refunds"], json!({"count": 1, "amount": {"USD": 2000}}));
    assert_eq!(u2["upcomingEvents"], 1);

    // A buyer of nothing: zeros, and null rates.
    let (_, nobody) = app.create_user(Role::User).await;
    let n = stats(&app, &nobody, MARCH).await;
    assert_eq!(n["totalOrders"], 0);
    assert_eq!(n["revenue"], json!({}));
    assert!(n["conversionRate"].is_null());
    assert!(n["growthRate"].is_null());
    assert!(n["repeatCustomerRate"].is_null());
}

async fn periods_are_trailing_windows_and_bad_windows_are_refused(app: TestApp) {
    let h = seed(&app).await;
    let (event, types) = (
        h.ea1,
        app.state
            .store
            .event_record(h.ea1)
            .await
            .unwrap()
            .unwrap()
            .types,
    );
    let now = Utc::now();
    // u1 three times; one guest, whose email is compared case-insensitively, twice this month.
    let u1 = Some(h.u1.0);
    for (reference, days, user, email) in [
        ("TM-PER00001", 3, u1, "u1@example.com"),
        ("TM-PER00002", 20, u1, "u1@example.com"),
        ("TM-PER00003", 60, u1, "u1@example.com"),
        ("TM-PER00004", 5, None, "Guest@Example.com"),
        ("TM-PER00005", 10, None, "guest@example.com"),
    ] {
        let created = (now - Duration::days(days)).to_rfc3339();
        insert_booking(
            &app,
            &Seed {
                reference,
                user,
                email,
                name: "Ada Obi",
                event,
                ty: types[0].id,
                quantity: 1,
                total: 5000,
                currency: "NGN",
                status: "CONFIRMED",
                created: &created,
                refunded: None,
            },
        )
        .await;
    }
    crate::fixtures::assert_dashboard_counters(&app).await;
    let customers = |s: &Value| {
        (
            s["uniqueCustomers"].as_i64(),
            s["repeatCustomerRate"].as_f64(),
        )
    };
    let week = stats(&app, &h.org_a.1, "period=week").await;
    assert_eq!(
        (week["totalOrders"].as_i64(), week["period"].as_str()),
        (Some(2), Some("week"))
    );
    assert_eq!(customers(&week), (Some(2), Some(0.0)));
    let month = stats(&app, &h.org_a.1, "").await;
    assert_eq!(
        (month["totalOrders"].as_i64(), month["period"].as_str()),
        (Some(4), Some("month"))
    );
    assert_eq!(customers(&month), (Some(2), Some(1.0)));
    // The month before this one: the 60-day-old order falls outside it.
    assert_eq!(month["growthRate"], Value::Null);
    let quarter = stats(&app, &h.org_a.1, "period=quarter").await;
    assert_eq!(quarter["totalOrders"], 5);
    assert_eq!(customers(&quarter), (Some(2), Some(1.0)));
    // The platform counts the same customers (organizer B has none in these windows).
    let platform = stats(&app, &h.admin, "period=quarter").await;
    assert_eq!(customers(&platform), (Some(2), Some(1.0)));
    let from = at(quarter["from"].as_str().unwrap());
    let to = at(quarter["to"].as_str().unwrap());
    assert_eq!(to - from, Duration::days(90));

    app.get_as(&h.org_a.1, "/api/dashboard/stats?period=decade")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let r = app
        .get_as(
            &h.org_a.1,
            "/api/dashboard/stats?from=2026-04-01&to=2026-03-01",
        )
        .await;
    r.assert_error(400, "VALIDATION_FAILED");
    app.get_as(&h.org_a.1, "/api/dashboard/stats?from=yesterday")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.get("/api/dashboard/stats")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn the_revenue_series_is_dense_and_splits_at_utc_midnight(app: TestApp) {
    let h = seed(&app).await;
    let days = app
        .get_as(
            &h.org_a.1,
            "/api/dashboard/analytics/revenue?from=2026-02-27&to=2026-03-03&groupBy=day",
        )
        .await;
    days.assert_status(200);
    assert_eq!(
        days.data(),
        &json!([
            {"period": "2026-02-27", "revenue": {}, "tickets": 0, "orders": 0},
            {"period": "2026-02-28", "revenue": {"NGN": 5000}, "tickets": 1, "orders": 1},
            {"period": "2026-03-01", "revenue": {"NGN": 10000}, "tickets": 2, "orders": 1},
            {"period": "2026-03-02", "revenue": {}, "tickets": 0, "orders": 0},
        ])
    );
    // Sunday 2026-03-15 23:59:59 is in the week of Monday 03-09; Monday 03-16 00:00 starts the next.
    let weeks = app
        .get_as(
            &h.org_a.1,
            "/api/dashboard/analytics/revenue?from=2026-03-09&to=2026-03-23&groupBy=week",
        )
        .await;
    assert_eq!(
        weeks.data(),
        &json!([
            {"period": "2026-03-09", "revenue": {"NGN": 3000}, "tickets": 1, "orders": 2},
            {"period": "2026-03-16", "revenue": {"NGN": 5000}, "tickets": 4, "orders": 2},
        ])
    );
    let months = app
        .get_as(
            &h.org_a.1,
            "/api/dashboard/analytics/revenue?from=2026-01-01&to=2026-05-01&groupBy=month",
        )
        .await;
    assert_eq!(
        months.data(),
        &json!([
            {"period": "2026-01", "revenue": {}, "tickets": 0, "orders": 0},
            {"period": "2026-02", "revenue": {"NGN": 10000}, "tickets": 2, "orders": 2},
            {"period": "2026-03", "revenue": {"NGN": 18000, "USD": 4000}, "tickets": 9, "orders": 6},
            {"period": "2026-04", "revenue": {"NGN": 5000}, "tickets": 1, "orders": 1},
        ])
    );
    // Organizer B's series holds only B's sales.
    let b = app
        .get_as(
            &h.org_b.1,
            "/api/dashboard/analytics/revenue?from=2026-03-01&to=2026-04-01&groupBy=month",
        )
        .await;
    assert_eq!(
        b.data(),
        &json!([{"period": "2026-03", "revenue": {"NGN": 5000}, "tickets": 4, "orders": 2}])
    );
    app.get_as(
        &h.org_a.1,
        "/api/dashboard/analytics/revenue?from=2000-01-01&to=2026-01-01&groupBy=day",
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    app.get_as(&h.org_a.1, "/api/dashboard/analytics/revenue?groupBy=hour")
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

async fn top_events_and_categories_rank_the_scope_s_sales(app: TestApp) {
    let h = seed(&app).await;
    let top = app
        .get_as(
            &h.org_a.1,
            &format!("/api/dashboard/analytics/events?{MARCH}"),
        )
        .await;
    top.assert_status(200);
    let list = top.data().as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["eventId"], h.ea1.to_string());
    assert_eq!(
        (
            list[0]["orders"].as_i64(),
            list[0]["ticketsSold"].as_i64(),
            list[0]["revenue"].as_i64()
        ),
        (Some(4), Some(7), Some(18000))
    );
    assert_eq!(
        (
            list[1]["title"].as_str(),
            list[1]["currency"].as_str(),
            list[1]["revenue"].as_i64()
        ),
        (Some("Dev Summit"), Some("USD"), Some(4000))
    );
    let one = app
        .get_as(
            &h.org_a.1,
            &format!("/api/dashboard/analytics/events?{MARCH}&limit=1&sortBy=tickets"),
        )
        .await;
    assert_eq!(one.data().as_array().unwrap().len(), 1);
    app.get_as(&h.org_a.1, "/api/dashboard/analytics/events?limit=0")
        .await
        .assert_error(400, "VALIDATION_FAILED");

    let cats = app
        .get_as(
            &h.admin,
            &format!("/api/dashboard/analytics/categories?{MARCH}"),
        )
        .await;
    cats.assert_status(200);
    assert_eq!(
        cats.data(),
        &json!([
            {"category": "music", "events": 2, "ticketsSold": 11, "orders": 6, "revenue": {"NGN": 23000}},
            {"category": "tech", "events": 1, "ticketsSold": 2, "orders": 2, "revenue": {"USD": 4000}},
        ])
    );
    let mine = app
        .get_as(
            &h.org_b.1,
            &format!("/api/dashboard/analytics/categories?{MARCH}"),
        )
        .await;
    assert_eq!(
        mine.data(),
        &json!([{"category": "music", "events": 1, "ticketsSold": 4, "orders": 2, "revenue": {"NGN": 5000}}])
    );
}

both_backends!(
    an_organizer_sees_exactly_the_figures_of_their_own_events,
    an_admin_sees_the_platform_and_a_user_only_their_own_purchases,
    periods_are_trailing_windows_and_bad_windows_are_refused,
    the_revenue_series_is_dense_and_splits_at_utc_midnight,
    top_events_and_categories_rank_the_scope_s_sales,
);
