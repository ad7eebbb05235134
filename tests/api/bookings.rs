//! Bookings (API.md §4): holds, free confirmation, validation order, expiry, confirm and cancel
//! rules, lists and stats, guests, idempotency keys and the event-cancel cascade.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use ticketmax::store::Store;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::{TypeSpec, book, counters, guest_hold, insert_event, published_event};
use crate::helpers::TestApp;
use crate::with_pool;

/// Moves a booking's hold end into the past.
pub async fn lapse_hold(app: &TestApp, booking: &str) {
    let id: Uuid = booking.parse().unwrap();
    let past = Utc::now() - Duration::seconds(5);
    with_pool!(app, pool => {
        sqlx::query("UPDATE bookings SET expires_at = $1 WHERE id = $2")
            .bind(past).bind(id).execute(pool).await.expect("lapse hold");
    });
}

pub async fn templates_for(app: &TestApp, email: &str) -> Vec<(String, Value)> {
    app.state
        .store
        .messages_for(email)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.template, serde_json::from_str(&m.payload).unwrap()))
        .collect()
}

async fn a_hold_stores_the_buyer_details_exactly_as_sent(app: TestApp) {
    // Quotes, backslashes, braces, commas, newlines and non-ASCII travel through the batched
    // insert (JSON on PostgreSQL, parameters on SQLite) unchanged.
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (_, token) = app.create_user(Role::User).await;
    let name = "O'Brien \"Ñandú\", {x} \\ 李";
    let notes = "Row 3,\nnear the {aisle}; 100% \"quiet\" \\o/";
    let r = app
        .post_as(
            &token,
            "/api/bookings",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 2,
                    "customerName": name, "customerPhone": "+2348012345678", "specialRequests": notes}),
        )
        .await;
    r.assert_status(201);
    let id = r.data()["id"].as_str().unwrap().to_string();
    let read = app.get_as(&token, &format!("/api/bookings/{id}")).await;
    let b = read.data();
    assert_eq!(b["customerName"], name);
    assert_eq!(b["specialRequests"], notes);
    assert_eq!(b["customerPhone"], "+2348012345678");
    // The answer is built from what the batch wrote, not read back: it says, field for field
    // and to the microsecond, what any later read says.
    assert_eq!(b, r.data());
    let msgs = templates_for(&app, b["customerEmail"].as_str().unwrap()).await;
    let m = msgs
        .iter()
        .find(|(t, _)| t == "booking_pending")
        .expect("booking_pending");
    assert_eq!(m.1["customerName"], name);
    assert_eq!(m.1["reference"], b["reference"]);
}

async fn changes_to_a_ticket_type_apply_to_the_next_booking_at_once(app: TestApp) {
    // The engine may let a request through on facts resolved moments ago; the batch decides
    // on the type as it is now.
    let (_, org_token, event, types) = published_event(&app, &[TypeSpec::paid(50)]).await;
    let (_, token) = app.create_user(Role::User).await;
    let path = format!("/api/events/{event}/ticket-types/{}", types[0]);
    book(&app, &token, event, types[0], 1)
        .await
        .assert_status(201);
    app.patch_as(&org_token, &path, &json!({"price": 4321}))
        .await
        .assert_status(200);
    let r = book(&app, &token, event, types[0], 2).await;
    r.assert_status(201);
    assert_eq!(
        (
            r.data()["unitPrice"].as_i64(),
            r.data()["totalAmount"].as_i64()
        ),
        (Some(4321), Some(8642))
    );
    app.patch_as(&org_token, &path, &json!({"maxPerOrder": 3}))
        .await
        .assert_status(200);
    let (_, other) = app.create_user(Role::User).await;
    book(&app, &other, event, types[0], 4)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let (_, third) = app.create_user(Role::User).await;
    let past = (Utc::now() - Duration::minutes(1)).to_rfc3339();
    app.patch_as(&org_token, &path, &json!({"salesEndAt": past}))
        .await
        .assert_status(200);
    book(&app, &third, event, types[0], 1)
        .await
        .assert_error(409, "SALES_CLOSED");
    assert_eq!(counters(&app, types[0]).await, (50, 0, 3, 3, 0));
}

async fn confirmed_bookers_are_reminded_once_a_day_before_the_event(app: TestApp) {
    let (org, _) = app.create_user(Role::Organizer).await;
    let (soon, soon_types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::hours(10),
        &[TypeSpec::free(10), TypeSpec::paid(10)],
    )
    .await;
    let (later, later_types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::days(3),
        &[TypeSpec::free(10)],
    )
    .await;
    let (cancelled, cancelled_types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::hours(5),
        &[TypeSpec::free(10)],
    )
    .await;
    let (user, token) = app.create_user(Role::User).await;
    set_phone(&app, user, "+2348012345678", true, true).await;
    let confirmed = book(&app, &token, soon, soon_types[0], 2).await;
    assert_eq!(confirmed.data()["status"], "CONFIRMED");
    book(&app, &token, soon, soon_types[1], 1)
        .await
        .assert_status(201);
    book(&app, &token, later, later_types[0], 1)
        .await
        .assert_status(201);
    book(&app, &token, cancelled, cancelled_types[0], 1)
        .await
        .assert_status(201);
    app.state
        .store
        .cancel_event_cascade(cancelled, "Storm", Utc::now())
        .await
        .unwrap();
    let links = ticketmax::bookings::Links::from_config(&app.state.config);
    let window = ticketmax::bookings::REMINDER_WINDOW;
    // The background sweeper may have sent it first; either way exactly once.
    let first = app
        .state
        .store
        .send_event_reminders(Utc::now(), window, 500, &links)
        .await
        .unwrap();
    assert!(first <= 1, "{first}");
    let again = app
        .state
        .store
        .send_event_reminders(Utc::now(), window, 500, &links)
        .await
        .unwrap();
    assert_eq!(again, 0, "never twice");
    let email = confirmed.data()["customerEmail"]
        .as_str()
        .unwrap()
        .to_string();
    let reminders: Vec<_> = templates_for(&app, &email)
        .await
        .into_iter()
        .filter(|(t, _)| t == "event_reminder")
        .collect();
    assert_eq!(
        reminders.len(),
        1,
        "only the confirmed booking of the event within 24 h: {reminders:?}"
    );
    assert_eq!(reminders[0].1["reference"], confirmed.data()["reference"]);
    assert_eq!(reminders[0].1["eventTitle"], confirmed.data()["eventTitle"]);
    assert!(reminders[0].1["timezone"].is_string(), "{reminders:?}");
    let page = format!(
        "{}/bookings/{}",
        app.state.config.public_base_url.trim_end_matches('/'),
        confirmed.data()["id"].as_str().unwrap()
    );
    assert_eq!(reminders[0].1["bookingUrl"], page.as_str());
    let sms: Vec<_> = templates_for(&app, "+2348012345678")
        .await
        .into_iter()
        .filter(|(t, _)| t == "sms_event_reminder")
        .collect();
    assert_eq!(sms.len(), 1);
}

async fn a_guests_reminder_links_to_their_booking_with_a_token(app: TestApp) {
    let (org, _) = app.create_user(Role::Organizer).await;
    let (event, types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::hours(5),
        &[TypeSpec::free(10)],
    )
    .await;
    let g = app
        .post(
            "/api/bookings/guest",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1,
                    "customerEmail": "remind-me@example.com", "customerName": "Gee Guest"}),
        )
        .await;
    g.assert_status(201);
    let id = g.data()["id"].as_str().unwrap();
    let links = ticketmax::bookings::Links::from_config(&app.state.config);
    app.state
        .store
        .send_event_reminders(
            Utc::now(),
            ticketmax::bookings::REMINDER_WINDOW,
            500,
            &links,
        )
        .await
        .unwrap();
    // The app's own sweeper may have claimed the booking first (PostgreSQL skips a row another
    // transaction holds): its reminder is the one, written when its transaction commits.
    let mut reminder = None;
    for _ in 0..50 {
        let msgs = templates_for(&app, "remind-me@example.com").await;
        reminder = msgs.into_iter().find(|(t, _)| t == "event_reminder");
        if reminder.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let reminder = reminder.expect("a reminder").1;
    let token = reminder["guestToken"].as_str().expect("a guest link");
    let url = reminder["bookingUrl"].as_str().unwrap();
    assert!(
        url.ends_with(&format!("/bookings/{id}?token={token}")),
        "{url}"
    );
    app.get_as(token, &format!("/api/bookings/{id}/tickets.pdf"))
        .await
        .assert_status(200);
}

async fn a_booking_holds_its_tickets_until_it_expires(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (_, token) = app.create_user(Role::User).await;
    let r = book(&app, &token, event, types[0], 3).await;
    r.assert_status(201);
    let b = r.data();
    assert_eq!(b["status"], "PENDING");
    assert_eq!(b["quantity"], 3);
    assert_eq!(b["unitPrice"], 500_000);
    assert_eq!(b["totalAmount"], 1_500_000);
    assert_eq!(b["currency"], "NGN");
    assert_eq!(b["eventTitle"], "Afrobeats Night");
    assert_eq!(b["ticketTypeName"], "Type 0");
    assert_eq!(b["tickets"], json!([]));
    assert_eq!(b["paymentIds"], json!([]));
    assert_eq!(b["customerName"], "Test Person");
    let reference = b["reference"].as_str().unwrap();
    assert!(
        reference.starts_with("TM-") && reference.len() == 11,
        "{reference}"
    );
    assert!(!reference[3..].contains(['0', 'O', '1', 'I']));
    let expires: chrono::DateTime<Utc> = b["expiresAt"].as_str().unwrap().parse().unwrap();
    let left = expires - Utc::now();
    assert!(
        left > Duration::minutes(9) && left <= Duration::minutes(10),
        "{left}"
    );
    assert_eq!(counters(&app, types[0]).await, (10, 0, 3, 3, 0));
    let email = b["customerEmail"].as_str().unwrap();
    let msgs = templates_for(&app, email).await;
    let pending = msgs
        .iter()
        .find(|(t, _)| t == "booking_pending")
        .expect("booking_pending message");
    assert_eq!(pending.1["reference"], reference);
    let pay = pending.1["payUrl"].as_str().unwrap();
    assert!(
        pay.ends_with(&format!("/checkout/{}", b["id"].as_str().unwrap())),
        "the pay link opens the checkout page: {pay}"
    );
}

async fn the_only_ticket_type_is_the_default(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (_, token) = app.create_user(Role::User).await;
    let r = app
        .post_as(
            &token,
            "/api/bookings",
            &json!({"eventId": event, "quantity": 1}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["ticketTypeId"], types[0].to_string());
}

async fn free_tickets_are_confirmed_at_once_with_one_signed_ticket_per_seat(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::free(5)]).await;
    let (_, token) = app.create_user(Role::User).await;
    let r = book(&app, &token, event, types[0], 2).await;
    r.assert_status(201);
    assert_eq!(r.data()["status"], "CONFIRMED");
    assert!(
        r.data()["expiresAt"].is_null(),
        "expiresAt is null unless PENDING"
    );
    let tickets = r.data()["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2);
    assert_ne!(tickets[0]["code"], tickets[1]["code"]);
    assert!(tickets[0]["code"].as_str().unwrap().len() >= 40);
    assert_eq!(counters(&app, types[0]).await, (5, 2, 0, 0, 2));
    let msgs = templates_for(&app, r.data()["customerEmail"].as_str().unwrap()).await;
    let confirmed = msgs
        .iter()
        .find(|(t, _)| t == "booking_confirmed")
        .expect("booking_confirmed");
    assert_eq!(confirmed.1["tickets"].as_array().unwrap().len(), 2);
    // When, where, what and for how much (§11.107).
    assert!(confirmed.1["eventStartsAt"].is_string());
    assert_eq!(
        (
            &confirmed.1["timezone"],
            &confirmed.1["quantity"],
            &confirmed.1["totalAmount"]
        ),
        (&json!("UTC"), &json!(2), &json!(0))
    );
    assert!(confirmed.1["location"].is_string() && confirmed.1["ticketTypeName"].is_string());
    assert!(
        confirmed.1["tickets"][0]["qrUrl"]
            .as_str()
            .unwrap()
            .ends_with("/qr")
    );
    crate::fixtures::assert_dashboard_counters(&app).await;
}

async fn bad_bookings_are_refused_in_the_contract_order(app: TestApp) {
    let (org, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (_, token) = app.create_user(Role::User).await;
    // 401 without a token.
    app.post("/api/bookings", &json!({"eventId": event, "quantity": 1}))
        .await
        .assert_error(401, "UNAUTHORIZED");
    // 400: body.
    for body in [
        json!({"eventId": event}),
        json!({"eventId": event, "quantity": 0}),
        json!({"eventId": "nope", "quantity": 1}),
        json!({"eventId": event, "quantity": 1, "extra": true}),
        json!({"eventId": event, "quantity": 1, "customerEmail": "bad"}),
    ] {
        app.post_as(&token, "/api/bookings", &body)
            .await
            .assert_error(400, "VALIDATION_FAILED");
    }
    book(&app, &token, event, types[0], 11)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    // 404: unknown event, unknown type, draft event (even with a bad window).
    book(&app, &token, Uuid::new_v4(), types[0], 1)
        .await
        .assert_error(404, "NOT_FOUND");
    book(&app, &token, event, Uuid::new_v4(), 1)
        .await
        .assert_error(404, "NOT_FOUND");
    let (draft, dt) = insert_event(
        &app,
        org,
        "DRAFT",
        None,
        Duration::days(3),
        &[TypeSpec::paid(5)],
    )
    .await;
    book(&app, &token, draft, dt[0], 1)
        .await
        .assert_error(404, "NOT_FOUND");
    // 409 SALES_CLOSED: cancelled, past, window not open yet.
    let (cancelled, ct) = insert_event(
        &app,
        org,
        "CANCELLED",
        None,
        Duration::days(3),
        &[TypeSpec::paid(5)],
    )
    .await;
    book(&app, &token, cancelled, ct[0], 1)
        .await
        .assert_error(409, "SALES_CLOSED");
    let (past, pt) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::hours(-2),
        &[TypeSpec::paid(5)],
    )
    .await;
    book(&app, &token, past, pt[0], 1)
        .await
        .assert_error(409, "SALES_CLOSED");
    let (later, lt) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::days(3),
        &[TypeSpec::paid(0)],
    )
    .await;
    let opens = Utc::now() + Duration::days(1);
    with_pool!(app, pool => {
        sqlx::query("UPDATE ticket_types SET sales_start_at = $1 WHERE id = $2").bind(opens).bind(lt[0]).execute(pool).await.unwrap();
    });
    // Closed window wins over sold out (capacity 0).
    book(&app, &token, later, lt[0], 1)
        .await
        .assert_error(409, "SALES_CLOSED");
}

async fn sold_out_says_how_many_are_left(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(3)]).await;
    let (_, a) = app.create_user(Role::User).await;
    let (_, b) = app.create_user(Role::User).await;
    book(&app, &a, event, types[0], 2).await.assert_status(201);
    let r = book(&app, &b, event, types[0], 2).await;
    r.assert_error(409, "SOLD_OUT");
    assert_eq!(r.body["error"]["details"][0]["field"], "quantity");
    assert_eq!(r.body["error"]["details"][0]["available"], 1);
    book(&app, &b, event, types[0], 1).await.assert_status(201);
    assert_eq!(counters(&app, types[0]).await, (3, 0, 3, 3, 0));
}

async fn an_event_cap_limits_the_sum_of_its_types(app: TestApp) {
    let (org, _) = app.create_user(Role::Organizer).await;
    let (event, types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        Some(3),
        Duration::days(10),
        &[TypeSpec::paid(3), TypeSpec::paid(3)],
    )
    .await;
    let (_, a) = app.create_user(Role::User).await;
    book(&app, &a, event, types[0], 2).await.assert_status(201);
    let r = book(&app, &a, event, types[1], 2).await;
    r.assert_error(409, "SOLD_OUT");
    assert_eq!(r.body["error"]["details"][0]["available"], 1);
    book(&app, &a, event, types[1], 1).await.assert_status(201);
}

async fn one_buyer_cannot_hold_more_than_max_per_order(app: TestApp) {
    let (_, _, event, types) = published_event(
        &app,
        &[TypeSpec {
            price: 1000,
            capacity: 100,
            max_per_order: 4,
        }],
    )
    .await;
    let (_, token) = app.create_user(Role::User).await;
    book(&app, &token, event, types[0], 3)
        .await
        .assert_status(201);
    book(&app, &token, event, types[0], 2)
        .await
        .assert_error(409, "CONFLICT");
    book(&app, &token, event, types[0], 1)
        .await
        .assert_status(201);
    // Another buyer is not affected.
    let (_, other) = app.create_user(Role::User).await;
    book(&app, &other, event, types[0], 4)
        .await
        .assert_status(201);
}

async fn a_lapsed_hold_reads_expired_and_its_seats_are_free_at_once(app: TestApp) {
    let (_, org_token, event, types) = published_event(&app, &[TypeSpec::paid(2)]).await;
    let (_, a) = app.create_user(Role::User).await;
    let (_, b) = app.create_user(Role::User).await;
    let first = book(&app, &a, event, types[0], 2).await;
    first.assert_status(201);
    let id = first.data()["id"].as_str().unwrap().to_string();
    lapse_hold(&app, &id).await;
    let read = app.get_as(&a, &format!("/api/bookings/{id}")).await;
    read.assert_status(200);
    assert_eq!(read.data()["status"], "EXPIRED");
    assert!(
        read.data()["expiresAt"].is_null(),
        "expiresAt is null unless PENDING"
    );
    assert_eq!(
        app.state
            .store
            .live_available(types[0], Utc::now())
            .await
            .unwrap(),
        Some(2)
    );
    book(&app, &b, event, types[0], 2).await.assert_status(201);
    app.post_as(&a, &format!("/api/bookings/{id}/confirm"), &json!({}))
        .await
        .assert_error(410, "HOLD_EXPIRED");
    // Whoever calls (§11.23): the event owner confirming an offline payment, an admin.
    app.post_as(
        &org_token,
        &format!("/api/bookings/{id}/confirm"),
        &json!({}),
    )
    .await
    .assert_error(410, "HOLD_EXPIRED");
    let (_, admin) = app.create_user(Role::Admin).await;
    app.post_as(&admin, &format!("/api/bookings/{id}/confirm"), &json!({}))
        .await
        .assert_error(410, "HOLD_EXPIRED");
    let (_, sold, held, pending, _) = counters(&app, types[0]).await;
    assert_eq!((sold, held, pending), (0, 2, 2));
}

async fn the_sweeper_expires_lapsed_holds_and_tells_the_buyer(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(5)]).await;
    let (_, a) = app.create_user(Role::User).await;
    let mut bus = app.state.bus.subscribe();
    let r = book(&app, &a, event, types[0], 2).await;
    r.assert_status(201);
    let id = r.data()["id"].as_str().unwrap().to_string();
    lapse_hold(&app, &id).await;
    let mut swept = false;
    for _ in 0..40 {
        if counters(&app, types[0]).await == (5, 0, 0, 0, 0) {
            swept = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        swept,
        "the sweeper did not release the hold: {:?}",
        counters(&app, types[0]).await
    );
    let msgs = templates_for(&app, r.data()["customerEmail"].as_str().unwrap()).await;
    assert!(
        msgs.iter().any(|(t, p)| t == "booking_expired"
            && p["reference"] == r.data()["reference"]
            && p["eventId"] == event.to_string()),
        "the expiry email offers the event again: {msgs:?}"
    );
    // Availability was announced for the hold and for the expiry.
    let mut seen = 0;
    while let Ok(m) = bus.try_recv() {
        if m.topic == "availability" && m.payload == event.to_string() {
            seen += 1;
        }
    }
    assert!(seen >= 2, "availability announcements: {seen}");
    crate::fixtures::assert_dashboard_counters(&app).await;
}

async fn confirmation_follows_who_may_confirm_what(app: TestApp) {
    let (_, org_token, event, types) = published_event(&app, &[TypeSpec::paid(5)]).await;
    let (_, owner) = app.create_user(Role::User).await;
    let (_, stranger) = app.create_user(Role::User).await;
    let r = book(&app, &owner, event, types[0], 2).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    let path = format!("/api/bookings/{id}/confirm");
    app.post_as(&owner, &path, &json!({}))
        .await
        .assert_error(402, "PAYMENT_REQUIRED");
    app.post_as(&stranger, &path, &json!({}))
        .await
        .assert_error(404, "NOT_FOUND");
    let c = app.post_as(&org_token, &path, &json!({})).await;
    c.assert_status(200);
    assert_eq!(c.data()["status"], "CONFIRMED");
    assert_eq!(c.data()["tickets"].as_array().unwrap().len(), 2);
    assert!(c.data()["confirmedAt"].is_string());
    assert_eq!(counters(&app, types[0]).await, (5, 2, 0, 0, 2));
    let again = app.post_as(&owner, &path, &json!({})).await;
    again.assert_status(200);
    assert_eq!(again.data()["tickets"], c.data()["tickets"]);
    // Cancelled → 409.
    let r2 = book(&app, &owner, event, types[0], 1).await;
    let id2 = r2.data()["id"].as_str().unwrap().to_string();
    app.post_as(&owner, &format!("/api/bookings/{id2}/cancel"), &json!({}))
        .await
        .assert_status(200);
    app.post_as(
        &org_token,
        &format!("/api/bookings/{id2}/confirm"),
        &json!({}),
    )
    .await
    .assert_error(409, "INVALID_STATE");
}

async fn cancelling_a_pending_booking_frees_its_seats_at_once(app: TestApp) {
    let (_, org_token, event, types) = published_event(&app, &[TypeSpec::paid(2)]).await;
    let (_, owner) = app.create_user(Role::User).await;
    let (_, stranger) = app.create_user(Role::User).await;
    let r = book(&app, &owner, event, types[0], 2).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    app.post_as(&stranger, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await
        .assert_error(404, "NOT_FOUND");
    app.post_as(
        &org_token,
        &format!("/api/bookings/{id}/cancel"),
        &json!({}),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    // The body may be left out, but one that is there must be JSON.
    let path = format!("/api/bookings/{id}/cancel");
    app.request(reqwest::Method::POST, &path)
        .token(&owner)
        .body("text/plain", "reason=changed plans")
        .send()
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    assert_eq!(
        counters(&app, types[0]).await,
        (2, 0, 2, 2, 0),
        "a refused cancel changes nothing"
    );
    let c = app
        .post_as(
            &owner,
            &format!("/api/bookings/{id}/cancel"),
            &json!({"reason": "changed plans"}),
        )
        .await;
    c.assert_status(200);
    assert_eq!(c.data()["status"], "CANCELLED");
    assert_eq!(c.data()["cancellationReason"], "changed plans");
    assert_eq!(counters(&app, types[0]).await, (2, 0, 0, 0, 0));
    app.post_as(&owner, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await
        .assert_error(409, "INVALID_STATE");
    // DELETE ignores any body.
    let r = book(&app, &owner, event, types[0], 1).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    let d = app
        .request(reqwest::Method::DELETE, &format!("/api/bookings/{id}"))
        .token(&owner)
        .body("application/json", "{not json")
        .send()
        .await;
    d.assert_status(200);
    assert_eq!(d.data()["status"], "CANCELLED");
    let msgs = templates_for(&app, r.data()["customerEmail"].as_str().unwrap()).await;
    assert!(msgs.iter().any(|(t, _)| t == "booking_cancelled"));
    // POST with no body and no Content-Type at all.
    let r = book(&app, &owner, event, types[0], 1).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    let p = app
        .request(reqwest::Method::POST, &format!("/api/bookings/{id}/cancel"))
        .token(&owner)
        .send()
        .await;
    p.assert_status(200);
    assert_eq!(p.data()["status"], "CANCELLED");
    crate::fixtures::assert_dashboard_counters(&app).await;
}

async fn a_confirmed_paid_booking_cancels_with_a_fee_until_the_cutoff(app: TestApp) {
    let (org, org_token) = app.create_user(Role::Organizer).await;
    let (event, types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::days(5),
        &[TypeSpec::paid(5)],
    )
    .await;
    let (_, owner) = app.create_user(Role::User).await;
    let r = book(&app, &owner, event, types[0], 2).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    app.post_as(
        &org_token,
        &format!("/api/bookings/{id}/confirm"),
        &json!({}),
    )
    .await
    .assert_status(200);
    let c = app.delete_as(&owner, &format!("/api/bookings/{id}")).await;
    c.assert_status(200);
    assert_eq!(c.data()["status"], "CANCELLED");
    // 1,000,000 total: fee = min(100,000, cap 5,000).
    assert_eq!(c.data()["refundAmount"], 995_000);
    assert_eq!(c.data()["tickets"], json!([]));
    assert_eq!(counters(&app, types[0]).await, (5, 0, 0, 0, 0));
    // Too late: the event starts within the cutoff.
    let (soon, st) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::hours(2),
        &[TypeSpec::paid(5)],
    )
    .await;
    let r = book(&app, &owner, soon, st[0], 1).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    app.post_as(
        &org_token,
        &format!("/api/bookings/{id}/confirm"),
        &json!({}),
    )
    .await
    .assert_status(200);
    app.post_as(&owner, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await
        .assert_error(409, "INVALID_STATE");
    // Under the cap the fee is 10 % rounded down: 3 × 12,345 = 37,035 → fee 3,703.
    let cheap = TypeSpec {
        price: 12_345,
        capacity: 5,
        max_per_order: 10,
    };
    let (low, lt) = insert_event(&app, org, "PUBLISHED", None, Duration::days(5), &[cheap]).await;
    let r = book(&app, &owner, low, lt[0], 3).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    app.post_as(
        &org_token,
        &format!("/api/bookings/{id}/confirm"),
        &json!({}),
    )
    .await
    .assert_status(200);
    let c = app
        .post_as(&owner, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await;
    c.assert_status(200);
    assert_eq!(c.data()["refundAmount"], 37_035 - 3_703);
    crate::fixtures::assert_dashboard_counters(&app).await;
}

async fn a_confirmed_free_booking_cancelled_frees_its_tickets(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::free(1)]).await;
    let (_, a) = app.create_user(Role::User).await;
    let (_, b) = app.create_user(Role::User).await;
    let r = book(&app, &a, event, types[0], 1).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    book(&app, &b, event, types[0], 1)
        .await
        .assert_error(409, "SOLD_OUT");
    app.post_as(&a, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await
        .assert_status(200);
    book(&app, &b, event, types[0], 1).await.assert_status(201);
    crate::fixtures::assert_dashboard_counters(&app).await;
}

async fn reading_a_booking_is_for_its_owner_the_event_owner_and_admins(app: TestApp) {
    let (_, org_token, event, types) = published_event(&app, &[TypeSpec::paid(5)]).await;
    let (_, owner) = app.create_user(Role::User).await;
    let (_, stranger) = app.create_user(Role::User).await;
    let (_, admin) = app.create_user(Role::Admin).await;
    let (_, other_org) = app.create_user(Role::Organizer).await;
    let id = book(&app, &owner, event, types[0], 1).await.data()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/bookings/{id}");
    for t in [&owner, &org_token, &admin] {
        app.get_as(t, &path).await.assert_status(200);
    }
    for t in [&stranger, &other_org] {
        app.get_as(t, &path).await.assert_error(404, "NOT_FOUND");
    }
    app.get(&path).await.assert_error(401, "UNAUTHORIZED");
    app.get_as(&owner, &format!("/api/bookings/{}", Uuid::new_v4()))
        .await
        .assert_error(404, "NOT_FOUND");
    let f = app
        .get_as(&owner, &format!("{path}?fields=reference,status"))
        .await;
    f.assert_status(200);
    let keys: Vec<_> = f.data().as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    app.get_as(&owner, &format!("{path}?fields=nope"))
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

async fn the_list_filters_pages_and_counts_stats(app: TestApp) {
    let (_, org_token, event, types) =
        published_event(&app, &[TypeSpec::paid(20), TypeSpec::free(20)]).await;
    let (_, other_org, other_event, other_types) =
        published_event(&app, &[TypeSpec::paid(20)]).await;
    let _ = other_org;
    let (_, me) = app.create_user(Role::User).await;
    let (_, someone) = app.create_user(Role::User).await;
    let p1 = book(&app, &me, event, types[0], 2).await.data()["id"]
        .as_str()
        .unwrap()
        .to_string();
    book(&app, &me, event, types[1], 1).await.assert_status(201);
    let p3 = book(&app, &me, other_event, other_types[0], 1).await.data()["id"]
        .as_str()
        .unwrap()
        .to_string();
    book(&app, &someone, event, types[0], 1)
        .await
        .assert_status(201);
    app.post_as(
        &org_token,
        &format!("/api/bookings/{p1}/confirm"),
        &json!({}),
    )
    .await
    .assert_status(200);
    lapse_hold(&app, &p3).await;

    let all = app.get_as(&me, "/api/bookings").await;
    all.assert_status(200);
    assert_eq!(all.body["meta"]["total"], 3);
    let confirmed = app.get_as(&me, "/api/bookings?status=CONFIRMED").await;
    assert_eq!(confirmed.body["meta"]["total"], 2);
    let expired = app.get_as(&me, "/api/bookings?status=EXPIRED").await;
    assert_eq!(expired.body["meta"]["total"], 1);
    assert_eq!(expired.data()[0]["id"], p3);
    let by_event = app
        .get_as(
            &me,
            &format!("/api/bookings?eventId={event}&limit=1&page=2"),
        )
        .await;
    assert_eq!(by_event.body["meta"]["total"], 2);
    assert_eq!(by_event.data().as_array().unwrap().len(), 1);
    let tomorrow = (Utc::now() + Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let future = app
        .get_as(&me, &format!("/api/bookings?from={tomorrow}"))
        .await;
    assert_eq!(future.body["meta"]["total"], 0);
    let fields = app.get_as(&me, "/api/bookings?fields=status").await;
    assert_eq!(fields.data()[0].as_object().unwrap().len(), 2);
    for bad in ["status=NOPE", "limit=0", "from=yesterday", "fields=secret"] {
        app.get_as(&me, &format!("/api/bookings?{bad}"))
            .await
            .assert_error(400, "VALIDATION_FAILED");
    }

    let stats = app.get_as(&me, "/api/bookings/stats").await;
    stats.assert_status(200);
    assert_eq!(stats.data()["totalBookings"], 3);
    assert_eq!(
        stats.data()["byStatus"],
        json!({"PENDING": 0, "CONFIRMED": 2, "CANCELLED": 0, "EXPIRED": 1, "REFUNDED": 0})
    );
    assert_eq!(stats.data()["totalSpent"], json!({"NGN": 1_000_000}));
    let empty = app.get_as(&someone, "/api/bookings/stats").await;
    assert_eq!(empty.data()["totalSpent"], json!({}));
}

async fn guests_book_with_a_token_that_opens_only_their_booking(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    app.post(
        "/api/bookings/guest",
        &json!({"eventId": event, "quantity": 1, "customerName": "Ada Guest"}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    let body = json!({"eventId": event, "ticketTypeId": types[0], "quantity": 2,
        "customerEmail": "Ada@Example.com", "customerName": "Ada Guest"});
    let r = app.post("/api/bookings/guest", &body).await;
    r.assert_status(201);
    assert_eq!(r.data()["userId"], Value::Null);
    assert_eq!(r.data()["customerEmail"], "ada@example.com");
    let token = r.data()["guestToken"].as_str().unwrap().to_string();
    let id = r.data()["id"].as_str().unwrap().to_string();
    let read = app.get_as(&token, &format!("/api/bookings/{id}")).await;
    read.assert_status(200);
    assert!(read.data().get("guestToken").is_none());
    let mut answered = r.data().clone();
    answered.as_object_mut().unwrap().remove("guestToken");
    assert_eq!(
        read.data(),
        &answered,
        "the hold's answer is what a read says"
    );
    // Holding limit keys on the guest email.
    let more = json!({"eventId": event, "ticketTypeId": types[0], "quantity": 9,
        "customerEmail": "ada@example.com", "customerName": "Ada Guest"});
    app.post("/api/bookings/guest", &more)
        .await
        .assert_error(409, "CONFLICT");
    // Another booking and other routes refuse the token.
    let other = app
        .post(
            "/api/bookings/guest",
            &json!({"eventId": event, "quantity": 1,
        "customerEmail": "bob@example.com", "customerName": "Bob Guest"}),
        )
        .await;
    let other_id = other.data()["id"].as_str().unwrap();
    app.get_as(&token, &format!("/api/bookings/{other_id}"))
        .await
        .assert_error(401, "UNAUTHORIZED");
    // An id that is no booking at all is "anywhere else" for the token too.
    let nowhere = Uuid::new_v4();
    app.get_as(&token, &format!("/api/bookings/{nowhere}"))
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post_as(
        &token,
        &format!("/api/bookings/{nowhere}/cancel"),
        &json!({}),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    app.get_as(
        &token,
        &format!("/api/bookings/{nowhere}/tickets/{}/qr", Uuid::new_v4()),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    app.get_as(&token, "/api/bookings")
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post_as(&token, &format!("/api/bookings/{id}/confirm"), &json!({}))
        .await
        .assert_error(401, "UNAUTHORIZED");
    // The pending email carries the token link.
    let msgs = templates_for(&app, "ada@example.com").await;
    let pending = msgs.iter().find(|(t, _)| t == "booking_pending").unwrap();
    let pay = pending.1["payUrl"].as_str().unwrap();
    assert!(
        pay.ends_with(&format!("/checkout/{id}?token={token}")),
        "{pay}"
    );
    // The guest cancels.
    let c = app
        .post_as(&token, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await;
    c.assert_status(200);
    assert_eq!(c.data()["status"], "CANCELLED");
    // The cancellation email links to the booking with a token of its own.
    let msgs = templates_for(&app, "ada@example.com").await;
    let cancelled = msgs.iter().find(|(t, _)| t == "booking_cancelled").unwrap();
    assert_eq!(cancelled.1["bookingId"], id.as_str());
    let fresh = cancelled.1["guestToken"].as_str().expect("a guest link");
    assert_ne!(fresh, token);
    let r = app.get_as(fresh, &format!("/api/bookings/{id}")).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "CANCELLED");
}

async fn a_guest_token_ends_thirty_days_after_the_event_starts(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let r = app
        .post(
            "/api/bookings/guest",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1,
        "customerEmail": "late@example.com", "customerName": "Late Guest"}),
        )
        .await;
    r.assert_status(201);
    let token = r.data()["guestToken"].as_str().unwrap();
    let path = format!("/api/bookings/{}", r.data()["id"].as_str().unwrap());
    app.get_as(token, &path).await.assert_status(200);
    let long_ago = Utc::now() - Duration::days(31);
    with_pool!(app, pool => {
        sqlx::query("UPDATE events SET starts_at = $1 WHERE id = $2").bind(long_ago).bind(event).execute(pool).await.unwrap();
    });
    app.get_as(token, &path)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn idempotency_keys_replay_the_first_answer(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (_, token) = app.create_user(Role::User).await;
    let body = json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1});
    let send = |key: &str, body: &Value| {
        app.request(reqwest::Method::POST, "/api/bookings")
            .token(&token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
    };
    let first = send("key-1", &body).await;
    first.assert_status(201);
    assert!(first.header("idempotent-replayed").is_none());
    let reordered = json!({"quantity": 1, "ticketTypeId": types[0], "eventId": event});
    let second = send("key-1", &reordered).await;
    second.assert_status(201);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.data(), first.data());
    assert_eq!(counters(&app, types[0]).await.2, 1, "one hold only");
    send(
        "key-1",
        &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 2}),
    )
    .await
    .assert_error(422, "IDEMPOTENCY_MISMATCH");
    send(&"k".repeat(256), &body)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    // 4xx answers are stored too.
    let bad = json!({"eventId": Uuid::new_v4(), "quantity": 1});
    send("key-2", &bad).await.assert_error(404, "NOT_FOUND");
    let replay = send("key-2", &bad).await;
    replay.assert_error(404, "NOT_FOUND");
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    // Keys are per caller.
    let (_, other) = app.create_user(Role::User).await;
    let r = app
        .request(reqwest::Method::POST, "/api/bookings")
        .token(&other)
        .header("Idempotency-Key", "key-1")
        .json(&body)
        .send()
        .await;
    r.assert_status(201);
    assert!(r.header("idempotent-replayed").is_none());
    // Guest route.
    let g = json!({"eventId": event, "quantity": 1, "customerEmail": "g@example.com", "customerName": "Gee Guest"});
    let g1 = app
        .request(reqwest::Method::POST, "/api/bookings/guest")
        .header("Idempotency-Key", "g-1")
        .json(&g)
        .send()
        .await;
    g1.assert_status(201);
    let g2 = app
        .request(reqwest::Method::POST, "/api/bookings/guest")
        .header("Idempotency-Key", "g-1")
        .json(&g)
        .send()
        .await;
    assert_eq!(g2.header("idempotent-replayed"), Some("true"));
    assert_eq!(g2.data()["id"], g1.data()["id"]);
}

/// A key's outcome lives as long as its booking: neither the purge of stored answers nor a first
/// request that died before storing its answer lets a retry book again (API.md §11.99).
async fn a_retry_finds_its_booking_after_the_stored_answer_is_gone(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (_, token) = app.create_user(Role::User).await;
    let body = json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1});
    let send = || {
        app.request(reqwest::Method::POST, "/api/bookings")
            .token(&token)
            .header("Idempotency-Key", "late-retry")
            .json(&body)
            .send()
    };
    let first = send().await;
    first.assert_status(201);
    // As after the daily purge.
    with_pool!(app, pool => {
        sqlx::query("DELETE FROM idempotency_keys").execute(pool).await.unwrap();
    });
    let again = send().await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.data()["id"], first.data()["id"]);
    // As when the first request's client hung up after the hold: its key stayed unfinished
    // until it was given up as abandoned.
    let long_ago = Utc::now() - chrono::Duration::minutes(10);
    with_pool!(app, pool => {
        sqlx::query("UPDATE idempotency_keys SET status_code = NULL, response = NULL, created_at = $1")
            .bind(long_ago).execute(pool).await.unwrap();
    });
    let third = send().await;
    assert_eq!(third.data()["id"], first.data()["id"]);
    assert_eq!(counters(&app, types[0]).await.2, 1, "one hold only");
}

/// A guest booking's answer holds its token; the stored answer never does, and a retry gets
/// the same token back.
async fn a_guest_token_is_never_stored_in_clear_and_a_retry_gets_it_again(app: TestApp) {
    let (_, _, event, _) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let g = json!({"eventId": event, "quantity": 1, "customerEmail": "g@example.com", "customerName": "Gee Guest"});
    let send = || {
        app.request(reqwest::Method::POST, "/api/bookings/guest")
            .header("Idempotency-Key", "guest-key")
            .json(&g)
            .send()
    };
    let first = send().await;
    first.assert_status(201);
    let token = first.data()["guestToken"].as_str().unwrap().to_string();
    let stored: Vec<Option<String>> = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT response FROM idempotency_keys")
            .fetch_all(pool).await.unwrap()
    });
    assert!(!stored.is_empty(), "the key is recorded");
    for s in stored.iter().flatten() {
        assert!(!s.contains(&token), "stored answer holds the token: {s}");
    }
    let again = send().await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.data()["id"], first.data()["id"]);
    assert_eq!(again.data()["guestToken"], token.as_str());
    let id = first.data()["id"].as_str().unwrap().to_string();
    app.get_as(&token, &format!("/api/bookings/{id}"))
        .await
        .assert_status(200);
}

async fn anonymous_idempotency_keys_are_scoped_per_client_network(app: TestApp) {
    let app = crate::helpers::TestApp::builder(app.backend)
        .env("TRUST_PROXY", "127.0.0.1")
        .spawn()
        .await;
    let (_, _, event, _) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let g = json!({"eventId": event, "quantity": 1, "customerEmail": "g@example.com", "customerName": "Gee Guest"});
    let send = |ip: &'static str| {
        app.request(reqwest::Method::POST, "/api/bookings/guest")
            .header("Idempotency-Key", "shared-key")
            .header("x-forwarded-for", ip)
            .json(&g)
            .send()
    };
    let first = send("198.51.100.10").await;
    first.assert_status(201);
    let again = send("198.51.100.10").await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // Another client with the same key gets its own booking, never the first one's token.
    let other = send("203.0.113.20").await;
    other.assert_status(201);
    assert!(other.header("idempotent-replayed").is_none());
    assert_ne!(other.data()["id"], first.data()["id"]);
    assert_ne!(other.data()["guestToken"], first.data()["guestToken"]);
}

async fn an_idempotency_key_in_flight_is_409(app: TestApp) {
    with_pool!(app, pool => {
        sqlx::query("INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, 'busy', $2, $3)")
            .bind("anon:POST /bookings/guest:127.0.0.1")
            .bind(ticketmax::http::idempotency::body_hash(&json!({"eventId": Uuid::nil(), "quantity": 1})))
            .bind(Utc::now())
            .execute(pool).await.unwrap();
    });
    app.request(reqwest::Method::POST, "/api/bookings/guest")
        .header("Idempotency-Key", "busy")
        .json(&json!({"eventId": Uuid::nil(), "quantity": 1}))
        .send()
        .await
        .assert_error(409, "IDEMPOTENCY_IN_FLIGHT");
}

async fn an_idempotency_key_whose_request_died_is_freed(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (user, token) = app.create_user(Role::User).await;
    let body = json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1});
    with_pool!(app, pool => {
        sqlx::query("INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, 'dead', $2, $3)")
            .bind(format!("user:{user}"))
            .bind(ticketmax::http::idempotency::body_hash(&body))
            .bind(Utc::now() - Duration::minutes(30))
            .execute(pool).await.unwrap();
    });
    let r = app
        .request(reqwest::Method::POST, "/api/bookings")
        .token(&token)
        .header("Idempotency-Key", "dead")
        .json(&body)
        .send()
        .await;
    r.assert_status(201);
}

async fn an_idempotency_key_older_than_a_day_is_forgotten(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (user, token) = app.create_user(Role::User).await;
    with_pool!(app, pool => {
        sqlx::query("INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at)
                         VALUES ($1, 'old', 'other-hash', 201, '{}', $2)")
            .bind(format!("user:{user}"))
            .bind(Utc::now() - Duration::hours(25))
            .execute(pool).await.unwrap();
    });
    let r = app
        .request(reqwest::Method::POST, "/api/bookings")
        .token(&token)
        .header("Idempotency-Key", "old")
        .json(&json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1}))
        .send()
        .await;
    r.assert_status(201);
    assert!(r.header("idempotent-replayed").is_none());
    assert_eq!(app.state.store.purge_idempotency_keys().await.unwrap(), 0);
}

async fn a_cancelled_event_with_live_bookings_is_cascaded_by_the_sweeper(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (_, a) = app.create_user(Role::User).await;
    let r = book(&app, &a, event, types[0], 2).await;
    r.assert_status(201);
    // A cancel path that did not cascade (or a hold that raced it).
    with_pool!(app, pool => {
        sqlx::query("UPDATE events SET status = 'CANCELLED', cancel_reason = 'Storm' WHERE id = $1")
            .bind(event).execute(pool).await.unwrap();
    });
    let id = r.data()["id"].as_str().unwrap();
    let mut status = String::new();
    for _ in 0..40 {
        status = app.get_as(&a, &format!("/api/bookings/{id}")).await.data()["status"]
            .as_str()
            .unwrap()
            .to_string();
        if status == "CANCELLED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "CANCELLED");
    assert_eq!(counters(&app, types[0]).await, (10, 0, 0, 0, 0));
    let msgs = templates_for(&app, r.data()["customerEmail"].as_str().unwrap()).await;
    assert!(
        msgs.iter()
            .any(|(t, p)| t == "event_cancelled" && p["reason"] == "Storm")
    );
}

async fn a_hold_checked_before_the_event_was_cancelled_is_refused(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let links = ticketmax::bookings::Links::from_config(&app.state.config);
    let mut items = Vec::new();
    for n in 0..3 {
        let req = guest_hold(event, types[0], &format!("racer{n}@example.com"), 1);
        assert!(
            app.state.store.resolve_hold(&req).await.unwrap().is_ok(),
            "on sale when checked"
        );
        items.push(req);
    }
    with_pool!(app, pool => {
        sqlx::query("UPDATE events SET status = 'CANCELLED' WHERE id = $1").bind(event).execute(pool).await.unwrap();
    });
    use ticketmax::bookings::HoldOutcome;
    // One request alone, and two together.
    let alone = app
        .state
        .store
        .hold_batch(&items[..1], &links)
        .await
        .unwrap();
    assert_eq!(alone, vec![HoldOutcome::SalesClosed]);
    let combined = app
        .state
        .store
        .hold_batch(&items[1..], &links)
        .await
        .unwrap();
    assert_eq!(
        combined,
        vec![HoldOutcome::SalesClosed, HoldOutcome::SalesClosed]
    );
    assert_eq!(counters(&app, types[0]).await, (10, 0, 0, 0, 0));
}

async fn a_hold_is_decided_on_the_type_as_it_is_under_the_lock(app: TestApp) {
    // Price, maxPerOrder and the sales window are read again under the type's lock: a change
    // between the lock-free checks and the batch applies to the hold.
    let (_, _, event, types) = published_event(
        &app,
        &[TypeSpec::paid(10), TypeSpec::paid(10), TypeSpec::paid(10)],
    )
    .await;
    let links = ticketmax::bookings::Links::from_config(&app.state.config);
    let mut items = Vec::new();
    for (n, (ty, quantity)) in [(types[0], 2), (types[1], 3), (types[2], 1), (types[0], 1)]
        .into_iter()
        .enumerate()
    {
        let req = guest_hold(event, ty, &format!("late{n}@example.com"), quantity);
        assert!(
            app.state.store.resolve_hold(&req).await.unwrap().is_ok(),
            "on sale when checked"
        );
        items.push(req);
    }
    with_pool!(app, pool => {
        sqlx::query("UPDATE ticket_types SET price = 777 WHERE id = $1").bind(types[0]).execute(pool).await.unwrap();
        sqlx::query("UPDATE ticket_types SET max_per_order = 2 WHERE id = $1").bind(types[1]).execute(pool).await.unwrap();
        sqlx::query("UPDATE ticket_types SET sales_end_at = $1 WHERE id = $2")
            .bind(Utc::now() - Duration::minutes(1)).bind(types[2]).execute(pool).await.unwrap();
    });
    use ticketmax::bookings::HoldOutcome;
    for batch in [&items[..1], &items[1..]] {
        let outcomes = app.state.store.hold_batch(batch, &links).await.unwrap();
        for (req, outcome) in batch.iter().zip(outcomes) {
            match (req.ticket_type_id.unwrap(), outcome) {
                (t, HoldOutcome::Held { id, .. }) if t == types[0] => {
                    let b = app.state.store.booking_by_id(id).await.unwrap().unwrap();
                    assert_eq!((b.unit_price, b.total_amount), (777, 777 * req.quantity));
                    let msgs = templates_for(&app, &req.customer_email).await;
                    let m = msgs
                        .iter()
                        .find(|(t, _)| t == "booking_pending")
                        .expect("booking_pending");
                    assert_eq!(m.1["totalAmount"], 777 * req.quantity);
                }
                (t, o) if t == types[1] => assert_eq!(o, HoldOutcome::TooMany { max: 2 }),
                (t, o) if t == types[2] => assert_eq!(o, HoldOutcome::SalesClosed),
                (_, o) => panic!("unexpected {o:?}"),
            }
        }
    }
    assert_eq!(counters(&app, types[0]).await, (10, 0, 3, 3, 0));
    assert_eq!(counters(&app, types[1]).await, (10, 0, 0, 0, 0));
    assert_eq!(counters(&app, types[2]).await, (10, 0, 0, 0, 0));
}

async fn cancelling_an_event_cancels_and_refunds_every_booking(app: TestApp) {
    let (_, org_token, event, types) =
        published_event(&app, &[TypeSpec::paid(10), TypeSpec::free(10)]).await;
    let (_, a) = app.create_user(Role::User).await;
    let (_, b) = app.create_user(Role::User).await;
    let pending = book(&app, &a, event, types[0], 2).await;
    let paid = book(&app, &b, event, types[0], 3).await;
    let paid_id = paid.data()["id"].as_str().unwrap().to_string();
    app.post_as(
        &org_token,
        &format!("/api/bookings/{paid_id}/confirm"),
        &json!({}),
    )
    .await
    .assert_status(200);
    let free = book(&app, &a, event, types[1], 1).await;
    assert_eq!(free.data()["status"], "CONFIRMED");
    let n = app
        .state
        .store
        .cancel_event_cascade(event, "Venue flooded", Utc::now())
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(counters(&app, types[0]).await, (10, 0, 0, 0, 0));
    assert_eq!(counters(&app, types[1]).await, (10, 0, 0, 0, 0));
    let p = app
        .get_as(
            &a,
            &format!("/api/bookings/{}", pending.data()["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(p.data()["status"], "CANCELLED");
    assert_eq!(p.data()["cancellationReason"], "Venue flooded");
    let c = app.get_as(&b, &format!("/api/bookings/{paid_id}")).await;
    assert_eq!(c.data()["status"], "CANCELLED");
    assert_eq!(c.data()["refundAmount"], 1_500_000);
    let msgs = templates_for(&app, paid.data()["customerEmail"].as_str().unwrap()).await;
    let m = msgs
        .iter()
        .find(|(t, _)| t == "event_cancelled")
        .expect("event_cancelled");
    assert_eq!(m.1["refundAmount"], 1_500_000);
    assert_eq!(m.1["reason"], "Venue flooded");
    book(&app, &a, event, types[0], 1)
        .await
        .assert_error(409, "SALES_CLOSED");
    crate::fixtures::assert_dashboard_counters(&app).await;
}

async fn cancelling_an_event_expires_a_lapsed_hold_instead_of_cancelling_it(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (_, a) = app.create_user(Role::User).await;
    let (_, b) = app.create_user(Role::User).await;
    let lapsed = book(&app, &a, event, types[0], 2).await;
    let lapsed_id = lapsed.data()["id"].as_str().unwrap().to_string();
    lapse_hold(&app, &lapsed_id).await;
    let live = book(&app, &b, event, types[0], 1).await;
    app.state
        .store
        .cancel_event_cascade(event, "Venue flooded", Utc::now())
        .await
        .unwrap();
    // The background sweep may be expiring the lapsed hold at this very moment (the cascade
    // then leaves it to the sweep): wait for the counters to settle.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while counters(&app, types[0]).await != (10, 0, 0, 0, 0) && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(counters(&app, types[0]).await, (10, 0, 0, 0, 0));
    let l = app.get_as(&a, &format!("/api/bookings/{lapsed_id}")).await;
    assert_eq!(l.data()["status"], "EXPIRED");
    assert!(l.data()["cancellationReason"].is_null());
    let msgs = templates_for(&app, lapsed.data()["customerEmail"].as_str().unwrap()).await;
    assert!(msgs.iter().any(|(t, _)| t == "booking_expired"), "{msgs:?}");
    assert!(
        !msgs.iter().any(|(t, _)| t == "event_cancelled"),
        "{msgs:?}"
    );
    let v = app
        .get_as(
            &b,
            &format!("/api/bookings/{}", live.data()["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(v.data()["status"], "CANCELLED");
    crate::fixtures::assert_dashboard_counters(&app).await;
}

both_backends!(
    a_retry_finds_its_booking_after_the_stored_answer_is_gone,
    a_guest_token_is_never_stored_in_clear_and_a_retry_gets_it_again,
    a_hold_stores_the_buyer_details_exactly_as_sent,
    changes_to_a_ticket_type_apply_to_the_next_booking_at_once,
    confirmed_bookers_are_reminded_once_a_day_before_the_event,
    a_booking_holds_its_tickets_until_it_expires,
    the_only_ticket_type_is_the_default,
    free_tickets_are_confirmed_at_once_with_one_signed_ticket_per_seat,
    bad_bookings_are_refused_in_the_contract_order,
    sold_out_says_how_many_are_left,
    an_event_cap_limits_the_sum_of_its_types,
    one_buyer_cannot_hold_more_than_max_per_order,
    a_lapsed_hold_reads_expired_and_its_seats_are_free_at_once,
    the_sweeper_expires_lapsed_holds_and_tells_the_buyer,
    confirmation_follows_who_may_confirm_what,
    cancelling_a_pending_booking_frees_its_seats_at_once,
    a_confirmed_paid_booking_cancels_with_a_fee_until_the_cutoff,
    a_confirmed_free_booking_cancelled_frees_its_tickets,
    a_guests_reminder_links_to_their_booking_with_a_token,
    reading_a_booking_is_for_its_owner_the_event_owner_and_admins,
    the_list_filters_pages_and_counts_stats,
    guests_book_with_a_token_that_opens_only_their_booking,
    a_guest_token_ends_thirty_days_after_the_event_starts,
    idempotency_keys_replay_the_first_answer,
    anonymous_idempotency_keys_are_scoped_per_client_network,
    an_idempotency_key_in_flight_is_409,
    an_idempotency_key_whose_request_died_is_freed,
    an_idempotency_key_older_than_a_day_is_forgotten,
    a_cancelled_event_with_live_bookings_is_cascaded_by_the_sweeper,
    a_hold_checked_before_the_event_was_cancelled_is_refused,
    a_hold_is_decided_on_the_type_as_it_is_under_the_lock,
    cancelling_an_event_cancels_and_refunds_every_booking,
    cancelling_an_event_expires_a_lapsed_hold_instead_of_cancelling_it
);

/// Gives a user a phone, verified or not, and SMS preferences.
async fn set_phone(app: &TestApp, user: Uuid, phone: &str, verified: bool, sms: bool) {
    let prefs = json!({"notifications": {"email": true, "sms": sms}}).to_string();
    with_pool!(app, pool => {
        sqlx::query("UPDATE users SET phone = $1, phone_verified = $2, preferences = $3 WHERE id = $4")
            .bind(phone).bind(verified).bind(&prefs).bind(user)
            .execute(pool).await.expect("set phone");
    });
}

async fn a_confirmed_booking_texts_a_verified_phone_that_allows_sms_and_no_one_else(app: TestApp) {
    let (org, org_token) = app.create_user(Role::Organizer).await;
    let (event, types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::days(5),
        &[TypeSpec::free(10), TypeSpec::paid(10)],
    )
    .await;
    let (allowed, allowed_token) = app.create_user(Role::User).await;
    set_phone(&app, allowed, "+2348010000001", true, true).await;
    let (opted_out, opted_out_token) = app.create_user(Role::User).await;
    set_phone(&app, opted_out, "+2348010000002", true, false).await;
    let (unverified, unverified_token) = app.create_user(Role::User).await;
    set_phone(&app, unverified, "+2348010000003", false, true).await;
    let sms = |phone: &'static str| {
        let app = &app;
        async move {
            app.state
                .store
                .messages_for(phone)
                .await
                .unwrap()
                .into_iter()
                .map(|m| {
                    assert_eq!(m.channel, "sms");
                    (
                        m.template,
                        serde_json::from_str::<Value>(&m.payload).unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };

    // Free: confirmed at once, and the SMS is written with it.
    let r = book(&app, &allowed_token, event, types[0], 1).await;
    r.assert_status(201);
    assert_eq!(r.data()["status"], "CONFIRMED");
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    let texts = sms("+2348010000001").await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].0, "sms_booking_confirmed");
    assert_eq!(texts[0].1["reference"], reference);
    assert_eq!(texts[0].1["eventTitle"], "Afrobeats Night");
    assert!(texts[0].1["eventStartsAt"].is_string());

    // Paid, confirmed by the organizer: a second SMS; a PENDING hold alone sends none.
    let r = book(&app, &allowed_token, event, types[1], 1).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    assert_eq!(sms("+2348010000001").await.len(), 1);
    app.post_as(
        &org_token,
        &format!("/api/bookings/{id}/confirm"),
        &json!({}),
    )
    .await
    .assert_status(200);
    let texts = sms("+2348010000001").await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|(t, p)| t == "sms_booking_confirmed" && p["reference"] == reference)
    );

    // Opted out, or phone not verified: confirmed bookings, emails, but no SMS.
    for (token, phone) in [
        (&opted_out_token, "+2348010000002"),
        (&unverified_token, "+2348010000003"),
    ] {
        book(&app, token, event, types[0], 1)
            .await
            .assert_status(201);
        let r = book(&app, token, event, types[1], 1).await;
        let id = r.data()["id"].as_str().unwrap().to_string();
        app.post_as(
            &org_token,
            &format!("/api/bookings/{id}/confirm"),
            &json!({}),
        )
        .await
        .assert_status(200);
        assert!(sms(phone).await.is_empty(), "{phone}");
    }
    let opted_out_email = app
        .state
        .store
        .user_by_id(opted_out)
        .await
        .unwrap()
        .unwrap()
        .email;
    let emails = templates_for(&app, &opted_out_email).await;
    assert_eq!(
        emails
            .iter()
            .filter(|(t, _)| t == "booking_confirmed")
            .count(),
        2
    );
}

both_backends!(a_confirmed_booking_texts_a_verified_phone_that_allows_sms_and_no_one_else);
