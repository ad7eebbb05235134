//! Payments (API.md §5, §11.25–27, 45, 52, 56–58, 69, 70, 78, 79): the test gateway end to end,
//! one pending payment per booking, late successes, refunds, offline payments.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use ticketmax::payments::{Applied, Settle, Settlement};
use ticketmax::store::Store;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::{TypeSpec, counters, published_event};
use crate::helpers::{TestApp, TestResponse};
use crate::with_pool;

/// A signed-in buyer's PENDING booking of one ticket of a paid type (5,000.00 NGN):
/// `(buyer token, booking id, organizer token, type id)`.
async fn pending_booking(app: &TestApp) -> (String, String, String, Uuid) {
    let (_, org, event, types) = published_event(app, &[TypeSpec::paid(3)]).await;
    let (buyer, id) = new_buyer_booking(app, event, types[0]).await;
    (buyer, id, org, types[0])
}

/// A new signed-in buyer and its PENDING booking of one ticket of `ty`: `(token, booking id)`.
async fn new_buyer_booking(app: &TestApp, event: Uuid, ty: Uuid) -> (String, String) {
    let (_, buyer) = app.create_user(Role::User).await;
    let r = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": event, "ticketTypeId": ty, "quantity": 1}),
        )
        .await;
    r.assert_status(201);
    let id = r.data()["id"].as_str().unwrap().to_string();
    (buyer, id)
}

async fn initiate(app: &TestApp, token: &str, booking: &str, extra: Value) -> TestResponse {
    let mut body = json!({"bookingId": booking});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    app.post_as(token, "/api/payments/initiate", &body).await
}

/// Opens the checkout page and presses a button, as a browser would (cookie and form token).
async fn checkout(app: &TestApp, url: &str, action: &str) -> reqwest::Response {
    let page = app.client.get(url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("the page sets its form cookie")
        .to_string();
    let html = page.text().await.unwrap();
    assert!(html.contains("Pay") && html.contains("Decline"), "{html}");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("form token")
        .to_string();
    app.client
        .post(url)
        .header("cookie", cookie)
        .form(&[("action", action), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
}

async fn booking(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get_as(token, &format!("/api/bookings/{id}")).await;
    r.assert_status(200);
    r.data().clone()
}

async fn payment(app: &TestApp, token: &str, reference: &str) -> Value {
    let r = app
        .get_as(token, &format!("/api/payments/verify/{reference}"))
        .await;
    r.assert_status(200);
    r.data().clone()
}

async fn a_paid_booking_is_confirmed_through_the_test_checkout(app: TestApp) {
    let (buyer, id, _, ty) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    r.assert_status(201);
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    assert_eq!(r.data()["gateway"], "test");
    assert_eq!(r.data()["amount"], 500_000);
    assert_eq!(r.data()["currency"], "NGN");
    let url = r.data()["authorizationUrl"].as_str().unwrap().to_string();
    assert!(
        url.ends_with(&format!("/api/payments/test/checkout/{reference}")),
        "{url}"
    );
    // One pending payment per booking: asking again returns it (§11.78).
    let again = initiate(&app, &buyer, &id, json!({})).await;
    again.assert_status(200);
    assert_eq!(again.data()["reference"], reference.as_str());
    assert_eq!(payment(&app, &buyer, &reference).await["status"], "PENDING");

    let paid = checkout(&app, &url, "pay").await;
    assert_eq!(paid.status().as_u16(), 200);
    let result = paid.text().await.unwrap();
    // The payment and its event's title come from one read (`payment_with_title`).
    assert!(
        result.contains("Payment received") && result.contains("for Afrobeats Night"),
        "{result}"
    );

    let b = booking(&app, &buyer, &id).await;
    assert_eq!(b["status"], "CONFIRMED");
    assert_eq!(b["tickets"].as_array().unwrap().len(), 1);
    let p = payment(&app, &buyer, &reference).await;
    assert_eq!(p["status"], "SUCCESS");
    assert!(p["paidAt"].is_string());
    assert_eq!(b["paymentIds"], json!([p["id"]]));
    let (_, sold, held, ..) = counters(&app, ty).await;
    assert_eq!((sold, held), (1, 0));
    // The page now shows the outcome, without buttons.
    let after = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        after.contains("Payment success") && !after.contains("Decline"),
        "{after}"
    );
    assert_eq!(counters(&app, ty).await.1, 1, "paid once");
    let history = app.get_as(&buyer, "/api/payments/history").await;
    history.assert_status(200);
    assert_eq!(history.body["meta"]["total"], 1);
    // The confirmation says when (in the event's time zone), where, what and how much (§11.107).
    let messages = crate::bookings::templates_for(&app, b["customerEmail"].as_str().unwrap()).await;
    let (_, confirmed) = messages
        .iter()
        .find(|(t, _)| t == "booking_confirmed")
        .expect("booking_confirmed");
    assert_eq!(
        confirmed["eventStartsAt"].as_str().map(|t| t.is_empty()),
        Some(false)
    );
    assert_eq!(
        (
            &confirmed["quantity"],
            &confirmed["totalAmount"],
            &confirmed["currency"]
        ),
        (&json!(1), &json!(500_000), &json!("NGN"))
    );
    assert_eq!(confirmed["timezone"], "UTC");
    assert!(confirmed["location"].is_string() && confirmed["ticketTypeName"].is_string());
    crate::fixtures::assert_dashboard_counters(&app).await;
}

async fn initiate_extends_the_hold_once_and_refuses_what_cannot_be_paid(app: TestApp) {
    let (buyer, id, _, _) = pending_booking(&app).await;
    let before = booking(&app, &buyer, &id).await["expiresAt"]
        .as_str()
        .unwrap()
        .to_string();
    initiate(&app, &buyer, &id, json!({}))
        .await
        .assert_status(201);
    let after = booking(&app, &buyer, &id).await["expiresAt"]
        .as_str()
        .unwrap()
        .to_string();
    let gained = chrono::DateTime::parse_from_rfc3339(&after).unwrap()
        - chrono::DateTime::parse_from_rfc3339(&before).unwrap();
    assert_eq!(gained.num_minutes(), 15, "{before} → {after}");
    initiate(&app, &buyer, &id, json!({}))
        .await
        .assert_status(200);
    assert_eq!(
        booking(&app, &buyer, &id).await["expiresAt"]
            .as_str()
            .unwrap(),
        after,
        "extended once only"
    );
    for (extra, field) in [
        (json!({"gateway": "offline"}), "gateway"),
        (json!({"gateway": "bitcoin"}), "gateway"),
        (json!({"gateway": "paystack"}), "gateway"),
        (
            json!({"callbackUrl": "https://evil.example.com/done"}),
            "callbackUrl",
        ),
        (json!({"callbackUrl": "javascript:alert(1)"}), "callbackUrl"),
    ] {
        let r = initiate(&app, &buyer, &id, extra.clone()).await;
        r.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(r.body["error"]["details"][0]["field"], field, "{extra}");
    }
    // Someone else's booking is not found; an expired one is gone; a confirmed one is paid.
    let (_, stranger) = app.create_user(Role::User).await;
    initiate(&app, &stranger, &id, json!({}))
        .await
        .assert_error(404, "NOT_FOUND");
    crate::bookings::lapse_hold(&app, &id).await;
    initiate(&app, &buyer, &id, json!({}))
        .await
        .assert_error(410, "HOLD_EXPIRED");
    let (buyer2, id2, org2, _) = pending_booking(&app).await;
    app.post_as(&org2, &format!("/api/bookings/{id2}/confirm"), &json!({}))
        .await
        .assert_status(200);
    initiate(&app, &buyer2, &id2, json!({}))
        .await
        .assert_error(409, "INVALID_STATE");
}

async fn a_declined_payment_keeps_the_hold_and_the_buyer_can_pay_again(app: TestApp) {
    let (buyer, id, _, _) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    let url = r.data()["authorizationUrl"].as_str().unwrap().to_string();
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    let declined = checkout(&app, &url, "decline").await;
    assert!(declined.text().await.unwrap().contains("declined"));
    let p = payment(&app, &buyer, &reference).await;
    assert_eq!(p["status"], "FAILED");
    assert!(p["failureReason"].is_string());
    assert_eq!(booking(&app, &buyer, &id).await["status"], "PENDING");
    let retry = initiate(&app, &buyer, &id, json!({})).await;
    retry.assert_status(201);
    assert_ne!(retry.data()["reference"], reference.as_str());
    checkout(
        &app,
        retry.data()["authorizationUrl"].as_str().unwrap(),
        "pay",
    )
    .await;
    assert_eq!(booking(&app, &buyer, &id).await["status"], "CONFIRMED");
}

async fn the_checkout_redirects_to_the_callback_with_the_outcome(app: TestApp) {
    let (buyer, id, _, _) = pending_booking(&app).await;
    let base = app.state.config.public_base_url.clone();
    let r = initiate(
        &app,
        &buyer,
        &id,
        json!({"callbackUrl": format!("{base}/done?from=app")}),
    )
    .await;
    r.assert_status(201);
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    let answer = checkout(&app, r.data()["authorizationUrl"].as_str().unwrap(), "pay").await;
    assert_eq!(answer.status().as_u16(), 303);
    assert_eq!(
        answer.headers()["location"].to_str().unwrap(),
        format!("{base}/done?from=app&reference={reference}&status=success")
    );
}

async fn a_checkout_form_from_elsewhere_is_refused(app: TestApp) {
    let (buyer, id, _, _) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    let url = r.data()["authorizationUrl"].as_str().unwrap().to_string();
    let forged = app
        .client
        .post(&url)
        .form(&[("action", "pay"), ("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    assert_eq!(booking(&app, &buyer, &id).await["status"], "PENDING");
    let missing = app
        .client
        .get(format!(
            "{}/api/payments/test/checkout/PAY-NOPE",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

/// A success after the hold ran out confirms while the seats are still free, and is refunded in
/// full when they are gone (API.md §5).
async fn a_late_payment_confirms_if_the_seats_remain_else_it_is_refunded(app: TestApp) {
    let (buyer, id, _, ty) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    let url = r.data()["authorizationUrl"].as_str().unwrap().to_string();
    crate::bookings::lapse_hold(&app, &id).await;
    checkout(&app, &url, "pay").await;
    assert_eq!(booking(&app, &buyer, &id).await["status"], "CONFIRMED");
    assert_eq!(counters(&app, ty).await.1, 1);

    // This time the hold is swept and its seats sold to others before the money arrives.
    let (buyer, id, _, ty) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    let url = r.data()["authorizationUrl"].as_str().unwrap().to_string();
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    crate::bookings::lapse_hold(&app, &id).await;
    app.state
        .store
        .sweep_expired_holds(100, Utc::now())
        .await
        .unwrap();
    let event: Uuid = booking(&app, &buyer, &id).await["eventId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for _ in 0..3 {
        let (_, other) = app.create_user(Role::User).await;
        app.post_as(
            &other,
            "/api/bookings",
            &json!({"eventId": event, "ticketTypeId": ty, "quantity": 1}),
        )
        .await
        .assert_status(201);
    }
    checkout(&app, &url, "pay").await;
    let p = payment(&app, &buyer, &reference).await;
    assert_eq!(p["status"], "REFUNDED");
    assert_eq!(p["refundedAmount"], 500_000);
    assert_eq!(booking(&app, &buyer, &id).await["status"], "REFUNDED");
    let (capacity, sold, held, ..) = counters(&app, ty).await;
    assert!(sold + held <= capacity, "never oversold");
    let email = app
        .state
        .store
        .booking_by_id(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .customer_email;
    let messages = app.state.store.messages_for(&email).await.unwrap();
    assert!(
        messages.iter().any(|m| m.template == "refund_processed"),
        "the buyer is told"
    );
    crate::fixtures::assert_dashboard_counters(&app).await;
}

async fn refunds_add_up_to_at_most_what_was_paid(app: TestApp) {
    let (buyer, id, org, ty) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    checkout(&app, r.data()["authorizationUrl"].as_str().unwrap(), "pay").await;
    let pid = payment(&app, &buyer, &reference).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refund = |token: &str, body: Value| {
        let path = format!("/api/payments/{pid}/refund");
        let token = token.to_string();
        let app = &app;
        async move { app.post_as(&token, &path, &body).await }
    };
    refund(&buyer, json!({"reason": "mine"}))
        .await
        .assert_error(403, "FORBIDDEN");
    let part = refund(&org, json!({"amount": 100_000, "reason": "Goodwill"})).await;
    part.assert_status(200);
    assert_eq!(part.data()["status"], "PARTIALLY_REFUNDED");
    assert_eq!(part.data()["refundedAmount"], 100_000);
    assert_eq!(booking(&app, &buyer, &id).await["status"], "CONFIRMED");
    let too_much = refund(&org, json!({"amount": 400_001, "reason": "Too much"})).await;
    too_much.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(too_much.body["error"]["details"][0]["field"], "amount");
    refund(&org, json!({"reason": ""}))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let rest = refund(&org, json!({"reason": "Event moved"})).await;
    rest.assert_status(200);
    assert_eq!(rest.data()["status"], "REFUNDED");
    assert_eq!(rest.data()["refundedAmount"], 500_000);
    assert_eq!(booking(&app, &buyer, &id).await["status"], "REFUNDED");
    let (_, sold, held, ..) = counters(&app, ty).await;
    assert_eq!((sold, held), (0, 0), "the tickets are free again");
    refund(&org, json!({"reason": "Again"}))
        .await
        .assert_error(409, "INVALID_STATE");
    crate::fixtures::assert_dashboard_counters(&app).await;
}

async fn staff_confirming_a_paid_booking_records_an_offline_payment(app: TestApp) {
    let (buyer, id, org, _) = pending_booking(&app).await;
    app.post_as(&org, &format!("/api/bookings/{id}/confirm"), &json!({}))
        .await
        .assert_status(200);
    let b = booking(&app, &buyer, &id).await;
    assert_eq!(b["status"], "CONFIRMED");
    let ids = b["paymentIds"].as_array().unwrap();
    assert_eq!(ids.len(), 1);
    let p = app
        .get_as(&org, &format!("/api/payments/{}", ids[0].as_str().unwrap()))
        .await;
    p.assert_status(200);
    assert_eq!(p.data()["gateway"], "offline");
    assert_eq!(p.data()["status"], "SUCCESS");
    assert_eq!(p.data()["amount"], 500_000);
    // Refunding it records the money handed back.
    let r = app
        .post_as(
            &org,
            &format!("/api/payments/{}/refund", ids[0].as_str().unwrap()),
            &json!({"reason": "Cash back"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "REFUNDED");
    crate::fixtures::assert_dashboard_counters(&app).await;
}

async fn gateways_are_listed_from_the_configuration(app: TestApp) {
    let r = app.get("/api/payments/gateways").await;
    r.assert_status(200);
    let list = r.data().as_array().unwrap();
    let find = |name: &str| list.iter().find(|g| g["gateway"] == name).cloned().unwrap();
    assert_eq!(
        find("test"),
        json!({"gateway": "test", "enabled": true, "default": true})
    );
    assert_eq!(
        find("offline"),
        json!({"gateway": "offline", "enabled": true, "default": false})
    );
    assert_eq!(find("paystack")["enabled"], false);
    // A webhook for a gateway that is not enabled is refused, and nothing changes.
    app.request(Method::POST, "/api/payments/webhook/paystack")
        .header("x-paystack-signature", "00")
        .body("application/json", r#"{"event":"charge.success"}"#)
        .send()
        .await
        .assert_error(401, "UNAUTHORIZED");
}

/// A forged webhook is refused and a repeated one changes nothing (§11.69).
async fn forged_and_repeated_webhooks_change_nothing(app: TestApp) {
    let (buyer, id, _, ty) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    let row = app
        .state
        .store
        .payment_by_reference(&reference)
        .await
        .unwrap()
        .unwrap();
    let test = app.state.gateways.test().unwrap();
    let (body, signature) = test.event_for(&row, true);
    let mut forged = axum::http::HeaderMap::new();
    forged.insert("x-test-signature", "0".repeat(64).parse().unwrap());
    let refused =
        ticketmax::payments::flows::receive_webhook(&app.state, "test", &forged, &body).await;
    assert_eq!(refused.unwrap_err().code.status().as_u16(), 401);
    assert_eq!(booking(&app, &buyer, &id).await["status"], "PENDING");
    let mut signed = axum::http::HeaderMap::new();
    signed.insert("x-test-signature", signature.parse().unwrap());
    for _ in 0..3 {
        ticketmax::payments::flows::receive_webhook(&app.state, "test", &signed, &body)
            .await
            .unwrap();
    }
    assert_eq!(counters(&app, ty).await.1, 1, "confirmed once");
    let stored: i64 = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events").fetch_one(pool).await.unwrap()
    });
    assert_eq!(stored, 1, "stored once by its event id");
    // An amount that does not match the payment is not applied.
    let (buyer, id, _, _) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    let mut row = app
        .state
        .store
        .payment_by_reference(&reference)
        .await
        .unwrap()
        .unwrap();
    row.amount = 1;
    let (body, signature) = test.event_for(&row, true);
    let mut signed = axum::http::HeaderMap::new();
    signed.insert("x-test-signature", signature.parse().unwrap());
    ticketmax::payments::flows::receive_webhook(&app.state, "test", &signed, &body)
        .await
        .unwrap();
    assert_eq!(payment(&app, &buyer, &reference).await["status"], "PENDING");
    assert_eq!(booking(&app, &buyer, &id).await["status"], "PENDING");
}

both_backends!(
    a_paid_booking_is_confirmed_through_the_test_checkout,
    initiate_extends_the_hold_once_and_refuses_what_cannot_be_paid,
    a_declined_payment_keeps_the_hold_and_the_buyer_can_pay_again,
    the_checkout_redirects_to_the_callback_with_the_outcome,
    a_checkout_form_from_elsewhere_is_refused,
    a_late_payment_confirms_if_the_seats_remain_else_it_is_refunded,
    refunds_add_up_to_at_most_what_was_paid,
    staff_confirming_a_paid_booking_records_an_offline_payment,
    gateways_are_listed_from_the_configuration,
    forged_and_repeated_webhooks_change_nothing
);

/// A paid booking cancelled by its buyer gets what its cancellation promised back through the
/// gateway, and ends REFUNDED (§11.57); a refund the gateway did not take is asked again by the
/// reconciliation job.
async fn a_cancelled_paid_booking_is_refunded_and_reconciliation_retries_refunds(app: TestApp) {
    let (buyer, id, _, ty) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    checkout(&app, r.data()["authorizationUrl"].as_str().unwrap(), "pay").await;
    let cancelled = app
        .post_as(&buyer, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await;
    cancelled.assert_status(200);
    let b = booking(&app, &buyer, &id).await;
    assert_eq!(b["status"], "REFUNDED", "{b}");
    // 10 % of 5,000.00 is above the 50.00 cap: 4,950.00 goes back.
    let p = payment(&app, &buyer, &reference).await;
    assert_eq!(p["refundedAmount"], 495_000);
    assert_eq!(p["status"], "PARTIALLY_REFUNDED");
    assert_eq!(counters(&app, ty).await.1, 0, "its seat is free again");

    // A refund left PENDING (the gateway failed, or the process stopped) is executed by the next
    // reconciliation round.
    let (buyer, id, _, _) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    checkout(&app, r.data()["authorizationUrl"].as_str().unwrap(), "pay").await;
    let pid: Uuid = payment(&app, &buyer, &reference).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let long_ago = Utc::now() - Duration::minutes(5);
    with_pool!(app, pool => {
        sqlx::query("INSERT INTO refunds (id, payment_id, amount, status, reason, created_at, updated_at)
                     VALUES ($1, $2, 200000, 'PENDING', 'stuck', $3, $3)")
            .bind(Uuid::now_v7()).bind(pid).bind(long_ago).execute(pool).await.unwrap();
    });
    let (_, refunded) = ticketmax::payments::workers::reconcile(&app.state)
        .await
        .unwrap();
    assert_eq!(refunded, 1);
    let p = payment(&app, &buyer, &reference).await;
    assert_eq!(p["status"], "PARTIALLY_REFUNDED");
    assert_eq!(p["refundedAmount"], 200_000);
    let (_, again) = ticketmax::payments::workers::reconcile(&app.state)
        .await
        .unwrap();
    assert_eq!(again, 0, "a settled refund is not asked twice");
    crate::fixtures::assert_dashboard_counters(&app).await;
}

/// An event's cancellation refunds every paid booking in full, in the background (§11.18).
async fn cancelling_an_event_refunds_its_paid_bookings(app: TestApp) {
    let (buyer, id, org, _) = pending_booking(&app).await;
    let r = initiate(&app, &buyer, &id, json!({})).await;
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    checkout(&app, r.data()["authorizationUrl"].as_str().unwrap(), "pay").await;
    let event = booking(&app, &buyer, &id).await["eventId"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_as(
        &org,
        &format!("/api/events/{event}/cancel"),
        &json!({"reason": "Storm"}),
    )
    .await
    .assert_status(200);
    let mut status = Value::Null;
    for _ in 0..100 {
        status = booking(&app, &buyer, &id).await["status"].clone();
        if status == "REFUNDED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, "REFUNDED");
    let p = payment(&app, &buyer, &reference).await;
    assert_eq!(
        (p["status"].clone(), p["refundedAmount"].clone()),
        (json!("REFUNDED"), json!(500_000))
    );
    crate::fixtures::assert_dashboard_counters(&app).await;
}

both_backends!(
    a_cancelled_paid_booking_is_refunded_and_reconciliation_retries_refunds,
    cancelling_an_event_refunds_its_paid_bookings
);

/// A guest pays with their guest token, and the confirmation email carries a fresh one that
/// lets them back in (§11.58), stored only as its hash.
async fn a_guest_pays_and_the_confirmation_carries_a_fresh_guest_link(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(3)]).await;
    let email = format!("guest-{}@example.com", Uuid::new_v4().simple());
    let g = app
        .post(
            "/api/bookings/guest",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1,
                    "customerEmail": email, "customerName": "Gee Guest"}),
        )
        .await;
    g.assert_status(201);
    let first = g.data()["guestToken"].as_str().unwrap().to_string();
    let id = g.data()["id"].as_str().unwrap().to_string();
    let r = initiate(&app, &first, &id, json!({})).await;
    r.assert_status(201);
    checkout(&app, r.data()["authorizationUrl"].as_str().unwrap(), "pay").await;
    assert_eq!(booking(&app, &first, &id).await["status"], "CONFIRMED");
    let messages = app.state.store.messages_for(&email).await.unwrap();
    let confirmed = messages
        .iter()
        .find(|m| m.template == "booking_confirmed")
        .expect("a confirmation");
    let payload: Value = serde_json::from_str(&confirmed.payload).unwrap();
    let fresh = payload["guestToken"]
        .as_str()
        .expect("a guest link")
        .to_string();
    assert_ne!(fresh, first);
    assert_eq!(
        payload["customerName"], "",
        "no caller-chosen text to a guest"
    );
    assert_eq!(booking(&app, &fresh, &id).await["status"], "CONFIRMED");
    let stored: i64 = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM guest_links WHERE token_hash = $1")
            .bind(ticketmax::bookings::codes::hash_guest_token(&fresh))
            .fetch_one(pool).await.unwrap()
    });
    assert_eq!(stored, 1, "stored as its hash");
    app.get_as("gt_notarealtoken", &format!("/api/bookings/{id}"))
        .await
        .assert_error(401, "UNAUTHORIZED");
    crate::fixtures::assert_dashboard_counters(&app).await;
}

both_backends!(a_guest_pays_and_the_confirmation_carries_a_fresh_guest_link);

/// `n` signed-in buyers' PENDING bookings of one ticket each of one paid type (capacity 50), each
/// with its test payment opened: `(type id, [(buyer token, booking id, payment)])`.
async fn opened_payments(
    app: &TestApp,
    n: usize,
) -> (Uuid, Vec<(String, String, ticketmax::payments::PaymentRow)>) {
    let (_, _, event, types) = published_event(app, &[TypeSpec::paid(50)]).await;
    let mut out = Vec::new();
    for _ in 0..n {
        let (buyer, id) = new_buyer_booking(app, event, types[0]).await;
        let p = initiate(app, &buyer, &id, json!({})).await;
        p.assert_status(201);
        let reference = p.data()["reference"].as_str().unwrap();
        let row = app
            .state
            .store
            .payment_by_reference(reference)
            .await
            .unwrap()
            .unwrap();
        out.push((buyer, id, row));
    }
    (types[0], out)
}

fn paid(p: &ticketmax::payments::PaymentRow, amount: i64, event_id: &str) -> Settle {
    Settle {
        reference: p.reference.clone(),
        settlement: Settlement::Paid {
            amount,
            currency: p.currency.clone(),
            gateway_reference: Some(format!("gw-{}", p.reference)),
        },
        delivery: Some(("test".into(), event_id.into())),
    }
}

/// A batch of settlements (the settlement engine's one transaction) applies each as it would
/// alone, in order: matching successes confirm their bookings with one ticket each, the same
/// payment named twice is settled once, a mismatch, a failure, a success for a cancelled booking
/// and a delivery from another gateway each get their own outcome.
async fn a_batch_of_settlements_applies_each_as_it_would_alone(app: TestApp) {
    let (ty, opened) = opened_payments(&app, 6).await;
    let [
        (_, a_id, a),
        (_, b_id, b),
        (_, c_id, c),
        (_, d_id, d),
        (e_buyer, e_id, e),
        (_, f_id, f),
    ] = &opened[..]
    else {
        unreachable!()
    };
    app.post_as(e_buyer, &format!("/api/bookings/{e_id}/cancel"), &json!({}))
        .await
        .assert_status(200);
    let mut from_elsewhere = paid(f, f.amount, "ev-f");
    from_elsewhere.delivery = Some(("paystack".into(), "ev-f".into()));
    let batch = vec![
        paid(a, a.amount, "ev-a"),
        paid(b, b.amount, "ev-b"),
        paid(a, a.amount, "ev-a-again"),
        paid(c, 1, "ev-c"),
        Settle {
            reference: d.reference.clone(),
            settlement: Settlement::Failed {
                reason: "declined".into(),
            },
            delivery: Some(("test".into(), "ev-d".into())),
        },
        paid(e, e.amount, "ev-e"),
        from_elsewhere,
        paid(b, b.amount, "ev-b"),
    ];
    let links = ticketmax::bookings::Links::from_config(&app.state.config);
    let answers = app
        .state
        .store
        .settle_many(&batch, &links, Utc::now())
        .await
        .unwrap();
    let applied: Vec<Option<Applied>> = answers.iter().map(|a| a.as_ref().map(|s| s.0)).collect();
    assert!(
        matches!(applied[0], Some(Applied::Confirmed { .. })),
        "{applied:?}"
    );
    assert!(
        matches!(applied[1], Some(Applied::Confirmed { .. })),
        "{applied:?}"
    );
    assert_eq!(
        applied[2],
        Some(Applied::Unchanged),
        "a payment is settled once"
    );
    assert_eq!(applied[3], Some(Applied::Mismatch));
    assert_eq!(applied[4], Some(Applied::Failed));
    assert_eq!(applied[5], Some(Applied::RefundDue));
    assert!(
        answers[5].as_ref().unwrap().2.is_some(),
        "a full refund is opened"
    );
    assert_eq!(
        applied[6], None,
        "another gateway's word on a test payment applies nothing"
    );
    assert_eq!(
        applied[7],
        Some(Applied::Unchanged),
        "a replay changes nothing"
    );
    let after_a = &answers[0].as_ref().unwrap().1;
    assert_eq!(after_a.status.as_str(), "SUCCESS");
    assert_eq!(
        after_a.gateway_reference.as_deref(),
        Some(format!("gw-{}", a.reference).as_str())
    );
    let buyer_a = &opened[0].0;
    assert_eq!(booking(&app, buyer_a, a_id).await["status"], "CONFIRMED");
    assert_eq!(
        booking(&app, &opened[1].0, b_id).await["status"],
        "CONFIRMED"
    );
    assert_eq!(booking(&app, &opened[2].0, c_id).await["status"], "PENDING");
    assert_eq!(booking(&app, &opened[3].0, d_id).await["status"], "PENDING");
    assert_eq!(booking(&app, &opened[5].0, f_id).await["status"], "PENDING");
    let (_, sold, held, _, _) = counters(&app, ty).await;
    assert_eq!(
        (sold, held),
        (2, 3),
        "two sold, three still held, one released"
    );
    let a_uuid: Uuid = a_id.parse().unwrap();
    let (tickets, confirmations, deliveries): (i64, i64, i64) = with_pool!(app, pool => {
        let tickets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE booking_id = $1")
            .bind(a_uuid).fetch_one(pool).await.unwrap();
        let confirmations: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE template = 'booking_confirmed'")
            .fetch_one(pool).await.unwrap();
        let deliveries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events")
            .fetch_one(pool).await.unwrap();
        (tickets, confirmations, deliveries)
    });
    assert_eq!(tickets, 1);
    assert_eq!(confirmations, 2);
    // ev-a, ev-b, ev-a-again, ev-c, ev-d, ev-e (ev-b twice is one; another gateway's is none).
    assert_eq!(deliveries, 6);
    crate::fixtures::assert_dashboard_counters(&app).await;
}

/// Many payments settled at once through the engine (with each webhook delivered twice) confirm
/// every booking exactly once.
async fn concurrent_settlements_confirm_each_booking_once(app: TestApp) {
    let (ty, opened) = opened_payments(&app, 24).await;
    let links = ticketmax::bookings::Links::from_config(&app.state.config);
    let mut calls = Vec::new();
    for _ in 0..2 {
        for (_, _, p) in &opened {
            let store = app.state.store.clone();
            let links = links.clone();
            let req = paid(p, p.amount, &format!("ev-{}", p.reference));
            calls.push(tokio::spawn(async move {
                ticketmax::payments::engine::settle(&store, req, &links).await
            }));
        }
    }
    let mut confirmed = 0;
    let mut unchanged = 0;
    for call in calls {
        match call.await.unwrap().unwrap().map(|s| s.0) {
            Some(Applied::Confirmed { .. }) => confirmed += 1,
            Some(Applied::Unchanged) => unchanged += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((confirmed, unchanged), (24, 24));
    for (buyer, id, _) in &opened {
        assert_eq!(booking(&app, buyer, id).await["status"], "CONFIRMED");
    }
    let (_, sold, held, _, _) = counters(&app, ty).await;
    assert_eq!((sold, held), (24, 0));
    let (tickets, deliveries): (i64, i64) = with_pool!(app, pool => {
        let tickets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(pool).await.unwrap();
        let deliveries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events")
            .fetch_one(pool).await.unwrap();
        (tickets, deliveries)
    });
    assert_eq!((tickets, deliveries), (24, 24));
    crate::fixtures::assert_dashboard_counters(&app).await;
}

both_backends!(
    a_batch_of_settlements_applies_each_as_it_would_alone,
    concurrent_settlements_confirm_each_booking_once
);

/// A payment to open for a booking through a gateway, as `initiate` builds it.
fn new_payment(booking: &str, gateway: &str) -> ticketmax::payments::Open {
    let now = Utc::now();
    ticketmax::payments::Open {
        new: ticketmax::payments::PaymentRow {
            id: Uuid::now_v7(),
            reference: ticketmax::payments::new_reference(),
            booking_id: booking.parse().unwrap(),
            user_id: None,
            gateway: gateway.into(),
            amount: 500_000,
            currency: "NGN".into(),
            status: ticketmax::payments::PaymentStatus::Pending,
            refunded_amount: 0,
            gateway_reference: None,
            authorization_url: None,
            callback_url: None,
            paid_at: None,
            failure_reason: None,
            created_at: now,
            updated_at: now,
        },
        extension: Duration::minutes(15),
    }
}

/// A batch of openings (the payments engine's one transaction) answers each as if opened alone,
/// in order: one payment per booking, the same gateway again gets the pending one back, another
/// gateway abandons it, a hold is extended once, and a booking no longer held gets none.
async fn a_batch_of_openings_answers_each_as_if_alone(app: TestApp) {
    let (a_buyer, a, _, _) = pending_booking(&app).await;
    let (_, b, _, _) = pending_booking(&app).await;
    let (_, c, _, _) = pending_booking(&app).await;
    crate::bookings::lapse_hold(&app, &c).await;
    let expiry =
        |v: Value| chrono::DateTime::parse_from_rfc3339(v["expiresAt"].as_str().unwrap()).unwrap();
    let a_before = expiry(booking(&app, &a_buyer, &a).await);
    let batch = vec![
        new_payment(&a, "test"),
        new_payment(&b, "test"),
        new_payment(&a, "test"),
        new_payment(&c, "test"),
        new_payment(&b, "paystack"),
        new_payment(&a, "test"),
    ];
    let answers = app
        .state
        .store
        .open_payments(&batch, Utc::now())
        .await
        .unwrap();
    use ticketmax::payments::Opened;
    let first_a = match &answers[0] {
        Opened::New(p) => p.id,
        other => panic!("{other:?}"),
    };
    let first_b = match &answers[1] {
        Opened::New(p) => p.id,
        other => panic!("{other:?}"),
    };
    assert!(
        matches!(&answers[2], Opened::Existing(p) if p.id == first_a),
        "{answers:?}"
    );
    assert!(matches!(&answers[3], Opened::NotPending), "{answers:?}");
    assert!(
        matches!(&answers[4], Opened::New(p) if p.gateway == "paystack"),
        "{answers:?}"
    );
    assert!(
        matches!(&answers[5], Opened::Existing(p) if p.id == first_a),
        "{answers:?}"
    );
    let gained = expiry(booking(&app, &a_buyer, &a).await) - a_before;
    assert_eq!(gained.num_minutes(), 15, "extended once");
    let statuses: Vec<(String, String)> = with_pool!(app, pool => {
        sqlx::query_as("SELECT gateway, status FROM payments WHERE booking_id = $1 ORDER BY created_at, id")
            .bind(b.parse::<Uuid>().unwrap())
            .fetch_all(pool).await.unwrap()
    });
    assert_eq!(
        statuses,
        vec![
            ("test".to_string(), "ABANDONED".to_string()),
            ("paystack".to_string(), "PENDING".to_string())
        ]
    );
    assert!(
        app.state
            .store
            .payment_by_id(first_b)
            .await
            .unwrap()
            .is_some(),
        "the abandoned payment is on record"
    );
}

both_backends!(a_batch_of_openings_answers_each_as_if_alone);
