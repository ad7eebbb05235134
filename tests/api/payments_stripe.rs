//! The Stripe gateway against a local fake of its API: the Checkout Session it opens, signed
//! webhooks (applied once, forged or stale ones refused), verify through the session, amount and
//! currency mismatches, refunds to the PaymentIntent, and a webhook racing verify.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use ticketmax::payments::model::RefundRow;
use ticketmax::store::Store;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::{TypeSpec, counters, published_event};
use crate::helpers::{TestApp, TestResponse};
use crate::with_pool;

const SECRET_KEY: &str = "sk_test_51FakeKey";
const WEBHOOK_SECRET: &str = "whsec_test_fake_secret";
/// The session every checkout of the fake opens.
const SESSION_ID: &str = "cs_test_a1B2c3";
const CHECKOUT_URL: &str = "https://checkout.stripe.com/c/pay/cs_test_a1B2c3";
const PAYMENT_INTENT: &str = "pi_test_9Z8y7";

/// One request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The form body, decoded.
    fn form(&self) -> HashMap<String, String> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

/// A fake Stripe API: records every request; the session look-up, refund and refund list answer
/// what the test sets.
#[derive(Clone)]
struct FakeStripe {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    session: Arc<Mutex<(u16, Value)>>,
    refund: Arc<Mutex<(u16, Value)>>,
    refund_list: Arc<Mutex<Vec<Value>>>,
    /// What `GET /v1/refunds/{id}` answers.
    refund_status: Arc<Mutex<(u16, Value)>>,
}

impl FakeStripe {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fake = Self {
            url: format!("http://{addr}"),
            seen: Arc::default(),
            session: Arc::new(Mutex::new((
                200,
                session_object("open", "unpaid", 500_000, "ngn", ""),
            ))),
            refund: Arc::new(Mutex::new((200, refund_object("re_test_1", "succeeded")))),
            refund_list: Arc::default(),
            refund_status: Arc::new(Mutex::new((
                404,
                json!({"error": {"type": "invalid_request_error", "message": "No such refund"}}),
            ))),
        };
        let router = axum::Router::new()
            .fallback(fake_stripe)
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        fake
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn set_session(&self, status: u16, body: Value) {
        *self.session.lock().unwrap() = (status, body);
    }

    fn set_refund(&self, status: u16, body: Value) {
        *self.refund.lock().unwrap() = (status, body);
    }

    fn set_refund_status(&self, status: u16, body: Value) {
        *self.refund_status.lock().unwrap() = (status, body);
    }
}

async fn fake_stripe(
    State(fake): State<FakeStripe>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    fake.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let answer =
        |(status, body): (u16, Value)| (StatusCode::from_u16(status).unwrap(), axum::Json(body));
    match (method.as_str(), uri.path()) {
        ("POST", "/v1/checkout/sessions") => answer((
            200,
            json!({"id": SESSION_ID, "object": "checkout.session", "url": CHECKOUT_URL,
                   "status": "open", "payment_status": "unpaid"}),
        )),
        ("GET", p) if p == format!("/v1/checkout/sessions/{SESSION_ID}") => {
            answer(fake.session.lock().unwrap().clone())
        }
        ("GET", "/v1/refunds") => answer((
            200,
            json!({"object": "list", "has_more": false,
                   "data": fake.refund_list.lock().unwrap().clone()}),
        )),
        ("POST", "/v1/refunds") => answer(fake.refund.lock().unwrap().clone()),
        ("GET", p) if p.starts_with("/v1/refunds/") => {
            answer(fake.refund_status.lock().unwrap().clone())
        }
        _ => answer((
            404,
            json!({"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}),
        )),
    }
}

/// A Checkout Session as Stripe shows it.
fn session_object(
    status: &str,
    payment_status: &str,
    amount: i64,
    currency: &str,
    reference: &str,
) -> Value {
    json!({
        "id": SESSION_ID, "object": "checkout.session", "mode": "payment",
        "client_reference_id": reference, "metadata": {"reference": reference},
        "amount_total": amount, "currency": currency, "status": status,
        "payment_status": payment_status,
        "payment_intent": if payment_status == "paid" { json!(PAYMENT_INTENT) } else { Value::Null },
        "url": if status == "open" { json!(CHECKOUT_URL) } else { Value::Null },
    })
}

fn refund_object(id: &str, status: &str) -> Value {
    json!({"id": id, "object": "refund", "status": status, "payment_intent": PAYMENT_INTENT})
}

/// A `checkout.session.*` event as Stripe sends it.
fn session_event(id: &str, kind: &str, session: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "object": "event", "api_version": "2024-06-20", "created": Utc::now().timestamp(),
        "type": kind, "livemode": false, "data": {"object": session}
    }))
    .unwrap()
}

/// The hex HMAC-SHA256 of `"{t}.{body}"` keyed with the whole `whsec_…` secret.
fn v1(secret: &str, t: i64, body: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(format!("{t}.").as_bytes());
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// `Stripe-Signature` as Stripe documents it: `t=<unix>,v1=<hex>`.
fn stripe_signature(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", v1(secret, t, body))
}

async fn post_webhook(app: &TestApp, signature: Option<&str>, body: &[u8]) -> TestResponse {
    let mut r = app.request(Method::POST, "/api/payments/webhook/stripe");
    if let Some(s) = signature {
        r = r.header("stripe-signature", s);
    }
    r.body("application/json", body.to_vec()).send().await
}

async fn signed_webhook(app: &TestApp, body: &[u8]) -> TestResponse {
    let sig = stripe_signature(WEBHOOK_SECRET, Utc::now().timestamp(), body);
    post_webhook(app, Some(&sig), body).await
}

/// A server with Stripe enabled against the fake, and Stripe the default gateway.
async fn stripe_app(app: TestApp) -> (TestApp, FakeStripe) {
    let fake = FakeStripe::start().await;
    let app = TestApp::builder(app.backend)
        .env("STRIPE_SECRET_KEY", SECRET_KEY)
        .env("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("STRIPE_BASE_URL", &fake.url)
        .env("PAYMENT_GATEWAY", "stripe")
        .spawn()
        .await;
    (app, fake)
}

/// A buyer's PENDING booking of one 5,000.00 NGN ticket: `(buyer, booking id, organizer, type)`.
async fn pending_booking(app: &TestApp) -> (String, String, String, Uuid) {
    let (_, org, event, types) = published_event(app, &[TypeSpec::paid(3)]).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let r = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1}),
        )
        .await;
    r.assert_status(201);
    let id = r.data()["id"].as_str().unwrap().to_string();
    (buyer, id, org, types[0])
}

/// Starts a Stripe checkout of a booking; returns the payment reference.
async fn initiate(app: &TestApp, buyer: &str, booking: &str) -> String {
    let r = app
        .post_as(
            buyer,
            "/api/payments/initiate",
            &json!({"bookingId": booking}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["gateway"], "stripe");
    r.data()["reference"].as_str().unwrap().to_string()
}

async fn booking_status(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get_as(token, &format!("/api/bookings/{id}")).await;
    r.assert_status(200);
    r.data()["status"].clone()
}

async fn verify(app: &TestApp, token: &str, reference: &str) -> TestResponse {
    app.get_as(token, &format!("/api/payments/verify/{reference}"))
        .await
}

async fn payment_row(app: &TestApp, reference: &str) -> ticketmax::payments::model::PaymentRow {
    app.state
        .store
        .payment_by_reference(reference)
        .await
        .unwrap()
        .unwrap()
}

async fn webhooks_stored(app: &TestApp) -> i64 {
    with_pool!(app, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events").fetch_one(pool).await.unwrap()
    })
}

/// `(id, amount, status)` of a payment's refunds.
async fn refunds_of(app: &TestApp, payment: Uuid) -> Vec<(Uuid, i64, String)> {
    with_pool!(app, pool => {
        sqlx::query_as("SELECT id, amount, status FROM refunds WHERE payment_id = $1 ORDER BY id")
            .bind(payment)
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

/// Pays a booking through a signed `checkout.session.completed`.
async fn pay_by_webhook(app: &TestApp, reference: &str) {
    let body = session_event(
        &format!("evt_paid_{reference}"),
        "checkout.session.completed",
        session_object("complete", "paid", 500_000, "ngn", reference),
    );
    signed_webhook(app, &body).await.assert_status(200);
}

async fn initiate_opens_a_checkout_session_on_stripe(app: TestApp) {
    let (app, fake) = stripe_app(app).await;
    let r = app.get("/api/payments/gateways").await;
    let stripe = r
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gateway"] == "stripe")
        .cloned();
    assert_eq!(
        stripe,
        Some(json!({"gateway": "stripe", "enabled": true, "default": true}))
    );

    let (buyer, id, _, _) = pending_booking(&app).await;
    let base = app.state.config.public_base_url.clone();
    let callback = format!("{base}/done?from=app");
    // No `gateway`: Stripe is the default.
    let r = app
        .post_as(
            &buyer,
            "/api/payments/initiate",
            &json!({"bookingId": id, "callbackUrl": callback}),
        )
        .await;
    r.assert_status(201);
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    assert_eq!(r.data()["gateway"], "stripe");
    assert_eq!(r.data()["authorizationUrl"], CHECKOUT_URL);
    assert_eq!(r.data()["amount"], 500_000);
    assert_eq!(r.data()["currency"], "NGN");

    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let req = &seen[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/checkout/sessions")
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    assert_eq!(
        req.header("idempotency-key"),
        Some(format!("checkout-{reference}").as_str())
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let email = app
        .state
        .store
        .booking_by_id(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .customer_email;
    let expected: HashMap<String, String> = [
        ("mode", "payment".to_string()),
        ("line_items[0][price_data][currency]", "ngn".into()),
        // NGN is two-decimal at Stripe as in ISO 4217: kobo, as stored.
        ("line_items[0][price_data][unit_amount]", "500000".into()),
        (
            "line_items[0][price_data][product_data][name]",
            "Afrobeats Night".into(),
        ),
        ("line_items[0][quantity]", "1".into()),
        ("client_reference_id", reference.clone()),
        ("metadata[reference]", reference.clone()),
        (
            "payment_intent_data[metadata][reference]",
            reference.clone(),
        ),
        ("customer_email", email),
        ("success_url", format!("{callback}&reference={reference}")),
        (
            "cancel_url",
            format!("{callback}&reference={reference}&status=cancelled"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(req.form(), expected);
    // The session id is kept: verify asks about it.
    assert_eq!(
        payment_row(&app, &reference)
            .await
            .gateway_reference
            .as_deref(),
        Some(SESSION_ID)
    );
    // The booking's pending payment is returned as it is: no second session.
    let again = app
        .post_as(&buyer, "/api/payments/initiate", &json!({"bookingId": id}))
        .await;
    again.assert_status(200);
    assert_eq!(again.data()["authorizationUrl"], CHECKOUT_URL);
    assert_eq!(fake.seen().len(), 1);

    // A currency Stripe does not take is refused before Stripe is asked.
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(3)]).await;
    with_pool!(app, pool => {
        sqlx::query("UPDATE events SET currency = 'IRR' WHERE id = $1")
            .bind(event)
            .execute(pool)
            .await
            .unwrap();
    });
    let r = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["currency"], "IRR");
    let refused = app
        .post_as(
            &buyer,
            "/api/payments/initiate",
            &json!({"bookingId": r.data()["id"]}),
        )
        .await;
    refused.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(refused.body["error"]["details"][0]["field"], "gateway");
    assert_eq!(fake.seen().len(), 1);
}

async fn a_signed_webhook_confirms_once_and_forged_or_stale_ones_change_nothing(app: TestApp) {
    let (app, fake) = stripe_app(app).await;
    let (buyer, id, _, ty) = pending_booking(&app).await;
    let reference = initiate(&app, &buyer, &id).await;
    let body = session_event(
        "evt_test_completed_1",
        "checkout.session.completed",
        session_object("complete", "paid", 500_000, "ngn", &reference),
    );
    let now = Utc::now().timestamp();

    // Signed with another secret; no signature; a body changed after signing; a stale delivery.
    let other = stripe_signature("whsec_someone_else", now, &body);
    post_webhook(&app, Some(&other), &body)
        .await
        .assert_error(401, "UNAUTHORIZED");
    post_webhook(&app, None, &body)
        .await
        .assert_error(401, "UNAUTHORIZED");
    let signed = stripe_signature(WEBHOOK_SECRET, now, &body);
    let tampered = session_event(
        "evt_test_completed_1",
        "checkout.session.completed",
        session_object("complete", "paid", 500_000, "ngn", "PAY-SOMEONE-ELSE"),
    );
    post_webhook(&app, Some(&signed), &tampered)
        .await
        .assert_error(401, "UNAUTHORIZED");
    let stale = stripe_signature(WEBHOOK_SECRET, now - 301, &body);
    post_webhook(&app, Some(&stale), &body)
        .await
        .assert_error(401, "UNAUTHORIZED");
    assert_eq!(booking_status(&app, &buyer, &id).await, "PENDING");
    assert_eq!(
        payment_row(&app, &reference).await.status.as_str(),
        "PENDING"
    );
    assert_eq!(webhooks_stored(&app).await, 0);

    // The genuine delivery, its matching v1 after one that does not (a rolled secret).
    let t = Utc::now().timestamp();
    let genuine = format!(
        "t={t},v1={},v1={}",
        "0".repeat(64),
        v1(WEBHOOK_SECRET, t, &body)
    );
    post_webhook(&app, Some(&genuine), &body)
        .await
        .assert_status(200);
    assert_eq!(booking_status(&app, &buyer, &id).await, "CONFIRMED");
    let paid = payment_row(&app, &reference).await;
    assert_eq!(paid.status.as_str(), "SUCCESS");
    // The PaymentIntent replaces the session: refunds need it.
    assert_eq!(paid.gateway_reference.as_deref(), Some(PAYMENT_INTENT));
    assert_eq!(counters(&app, ty).await.1, 1);

    // The same event delivered again: acknowledged, nothing changes.
    for _ in 0..2 {
        signed_webhook(&app, &body).await.assert_status(200);
    }
    assert_eq!(counters(&app, ty).await.1, 1, "confirmed once");
    assert_eq!(
        webhooks_stored(&app).await,
        1,
        "stored once by its event id"
    );
    let r = app.get_as(&buyer, &format!("/api/bookings/{id}")).await;
    assert_eq!(r.data()["tickets"].as_array().unwrap().len(), 1);
    // The webhook was trusted on its signature: Stripe was asked nothing more.
    assert_eq!(fake.seen().len(), 1);

    // An event for something that is not ours is acknowledged without effect.
    let unrelated = session_event(
        "evt_test_other",
        "customer.created",
        json!({"id": "cus_1", "object": "customer"}),
    );
    signed_webhook(&app, &unrelated).await.assert_status(200);
}

async fn webhooks_of_failed_and_unpaid_sessions_confirm_nothing(app: TestApp) {
    let (app, _fake) = stripe_app(app).await;
    // Completed but an asynchronous method is still processing: nothing yet.
    let (buyer, id, _, _) = pending_booking(&app).await;
    let reference = initiate(&app, &buyer, &id).await;
    let processing = session_event(
        "evt_test_processing",
        "checkout.session.completed",
        session_object("complete", "unpaid", 500_000, "ngn", &reference),
    );
    signed_webhook(&app, &processing).await.assert_status(200);
    assert_eq!(
        payment_row(&app, &reference).await.status.as_str(),
        "PENDING"
    );
    // Then the bank debit fails.
    let failed = session_event(
        "evt_test_failed",
        "checkout.session.async_payment_failed",
        session_object("complete", "unpaid", 500_000, "ngn", &reference),
    );
    signed_webhook(&app, &failed).await.assert_status(200);
    let p = payment_row(&app, &reference).await;
    assert_eq!(p.status.as_str(), "FAILED");
    assert!(p.failure_reason.is_some());
    assert_eq!(booking_status(&app, &buyer, &id).await, "PENDING");

    // A later success of an asynchronous method confirms.
    let (buyer, id, _, _) = pending_booking(&app).await;
    let reference = initiate(&app, &buyer, &id).await;
    let succeeded = session_event(
        "evt_test_async_ok",
        "checkout.session.async_payment_succeeded",
        session_object("complete", "paid", 500_000, "ngn", &reference),
    );
    signed_webhook(&app, &succeeded).await.assert_status(200);
    assert_eq!(booking_status(&app, &buyer, &id).await, "CONFIRMED");
}

async fn verify_asks_stripe_for_the_session(app: TestApp) {
    let (app, fake) = stripe_app(app).await;
    let (buyer, id, _, ty) = pending_booking(&app).await;
    let reference = initiate(&app, &buyer, &id).await;

    // Open, then complete with the money still on its way: PENDING.
    for (status, payment_status) in [("open", "unpaid"), ("complete", "unpaid")] {
        fake.set_session(
            200,
            session_object(status, payment_status, 500_000, "ngn", &reference),
        );
        let r = verify(&app, &buyer, &reference).await;
        r.assert_status(200);
        assert_eq!(r.data()["status"], "PENDING", "{status}/{payment_status}");
    }
    // Stripe down: 503 and the payment as it was.
    fake.set_session(
        500,
        json!({"error": {"type": "api_error", "message": "Something went wrong"}}),
    );
    verify(&app, &buyer, &reference).await.assert_status(503);
    assert_eq!(
        payment_row(&app, &reference).await.status.as_str(),
        "PENDING"
    );
    assert_eq!(booking_status(&app, &buyer, &id).await, "PENDING");
    let seen = fake.seen();
    let lookup = &seen[1];
    assert_eq!(lookup.method, "GET");
    assert_eq!(lookup.path, format!("/v1/checkout/sessions/{SESSION_ID}"));
    assert_eq!(
        lookup.header("authorization"),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    assert_eq!(lookup.header("idempotency-key"), None, "GETs carry no key");

    // Paid: SUCCESS and the booking CONFIRMED.
    fake.set_session(
        200,
        session_object("complete", "paid", 500_000, "ngn", &reference),
    );
    let r = verify(&app, &buyer, &reference).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "SUCCESS");
    assert_eq!(booking_status(&app, &buyer, &id).await, "CONFIRMED");
    assert_eq!(counters(&app, ty).await.1, 1);
    assert_eq!(
        payment_row(&app, &reference)
            .await
            .gateway_reference
            .as_deref(),
        Some(PAYMENT_INTENT)
    );

    // An expired session: FAILED, the booking keeps its hold.
    let (buyer, id, _, _) = pending_booking(&app).await;
    let reference = initiate(&app, &buyer, &id).await;
    fake.set_session(
        200,
        session_object("expired", "unpaid", 500_000, "ngn", &reference),
    );
    let r = verify(&app, &buyer, &reference).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "FAILED");
    assert_eq!(booking_status(&app, &buyer, &id).await, "PENDING");
}

async fn a_different_amount_or_currency_from_stripe_is_not_applied(app: TestApp) {
    let (app, fake) = stripe_app(app).await;
    let (buyer, id, _, ty) = pending_booking(&app).await;
    let reference = initiate(&app, &buyer, &id).await;
    // Verify: paid, but less than the payment.
    fake.set_session(
        200,
        session_object("complete", "paid", 400_000, "ngn", &reference),
    );
    let r = verify(&app, &buyer, &reference).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "PENDING");
    assert_eq!(booking_status(&app, &buyer, &id).await, "PENDING");
    // Webhook: the same number of units, in another currency.
    let usd = session_event(
        "evt_test_usd",
        "checkout.session.completed",
        session_object("complete", "paid", 500_000, "usd", &reference),
    );
    signed_webhook(&app, &usd).await.assert_status(200);
    // Webhook: a hundredth of the amount (major units instead of minor).
    let major = session_event(
        "evt_test_major",
        "checkout.session.completed",
        session_object("complete", "paid", 5_000, "ngn", &reference),
    );
    signed_webhook(&app, &major).await.assert_status(200);
    let p = payment_row(&app, &reference).await;
    assert_eq!(p.status.as_str(), "PENDING");
    assert!(p.failure_reason.is_some(), "the mismatch is recorded");
    assert_eq!(booking_status(&app, &buyer, &id).await, "PENDING");
    assert_eq!(counters(&app, ty).await.1, 0);
    // The right amount in upper or lower case applies.
    let right = session_event(
        "evt_test_right",
        "checkout.session.completed",
        session_object("complete", "paid", 500_000, "NGN", &reference),
    );
    signed_webhook(&app, &right).await.assert_status(200);
    assert_eq!(booking_status(&app, &buyer, &id).await, "CONFIRMED");
}

async fn refunds_go_to_the_payment_intent(app: TestApp) {
    let (app, fake) = stripe_app(app).await;
    let (buyer, id, org, _) = pending_booking(&app).await;
    let reference = initiate(&app, &buyer, &id).await;
    pay_by_webhook(&app, &reference).await;
    let payment = payment_row(&app, &reference).await;
    let path = format!("/api/payments/{}/refund", payment.id);

    // Settled at once: 200 PARTIALLY_REFUNDED.
    fake.set_refund(200, refund_object("re_test_1", "succeeded"));
    let r = app
        .post_as(
            &org,
            &path,
            &json!({"amount": 100_000, "reason": "Goodwill"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "PARTIALLY_REFUNDED");
    assert_eq!(r.data()["refundedAmount"], 100_000);
    assert_eq!(booking_status(&app, &buyer, &id).await, "CONFIRMED");

    // Accepted but pending at Stripe: 202, nothing refunded yet.
    fake.set_refund(200, refund_object("re_test_2", "pending"));
    let r = app
        .post_as(&org, &path, &json!({"amount": 100_000, "reason": "Later"}))
        .await;
    r.assert_status(202);
    assert_eq!(r.data()["refundedAmount"], 100_000);

    // Stripe down: 202 and the payment unchanged.
    fake.set_refund(
        500,
        json!({"error": {"type": "api_error", "message": "Something went wrong"}}),
    );
    let r = app
        .post_as(&org, &path, &json!({"amount": 100_000, "reason": "Outage"}))
        .await;
    r.assert_status(202);
    assert_eq!(r.data()["status"], "PARTIALLY_REFUNDED");
    assert_eq!(r.data()["refundedAmount"], 100_000);
    let after = payment_row(&app, &reference).await;
    assert_eq!(
        (after.status.as_str(), after.refunded_amount),
        ("PARTIALLY_REFUNDED", 100_000)
    );

    let refunds = refunds_of(&app, payment.id).await;
    let statuses: Vec<&str> = refunds.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(statuses, ["SUCCESS", "PENDING", "PENDING"]);
    // Each refund: a look-up of earlier ones, then the exact request, keyed by the refund.
    let seen = fake.seen();
    let posts: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == "POST" && s.path == "/v1/refunds")
        .collect();
    assert_eq!(posts.len(), 3);
    for (post, (refund_id, amount, _)) in posts.iter().zip(&refunds) {
        let key = format!("refund-{refund_id}");
        assert_eq!(
            post.header("authorization"),
            Some(format!("Bearer {SECRET_KEY}").as_str())
        );
        assert_eq!(post.header("idempotency-key"), Some(key.as_str()));
        assert_eq!(
            post.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let expected: HashMap<String, String> = [
            ("payment_intent", PAYMENT_INTENT.to_string()),
            ("amount", amount.to_string()),
            ("metadata[reference]", reference.clone()),
            ("metadata[idempotency_key]", key.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(post.form(), expected);
        assert_eq!(post.form()["amount"], "100000", "kobo, as stored");
    }
    let lookups: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == "GET" && s.path == "/v1/refunds")
        .collect();
    assert_eq!(lookups.len(), 3);
    assert_eq!(
        lookups[0].query,
        format!("payment_intent={PAYMENT_INTENT}&limit=100")
    );

    // The pending refund asked again (as the reconciliation does) after Stripe settled it: the
    // earlier refund is found by its key and no second one is created.
    let (pending_id, pending_amount, _) = refunds[1].clone();
    fake.refund_list.lock().unwrap().push(json!({
        "id": "re_test_2", "object": "refund", "status": "succeeded",
        "metadata": {"idempotency_key": format!("refund-{pending_id}"), "reference": reference}
    }));
    let row = RefundRow {
        id: pending_id,
        payment_id: payment.id,
        amount: pending_amount,
        status: "PENDING".into(),
        reason: None,
        gateway_reference: None,
        created_at: Utc::now(),
    };
    let after = ticketmax::payments::flows::execute_refund(&app.state, &after, &row)
        .await
        .unwrap();
    assert_eq!(after.refunded_amount, 200_000);
    assert_eq!(
        fake.seen()
            .iter()
            .filter(|s| s.method == "POST" && s.path == "/v1/refunds")
            .count(),
        3,
        "no second refund"
    );
}

async fn a_full_refund_returns_everything_and_frees_the_tickets(app: TestApp) {
    let (app, fake) = stripe_app(app).await;
    let (buyer, id, org, ty) = pending_booking(&app).await;
    let reference = initiate(&app, &buyer, &id).await;
    pay_by_webhook(&app, &reference).await;
    let payment = payment_row(&app, &reference).await;
    fake.set_refund(200, refund_object("re_test_full", "succeeded"));
    let r = app
        .post_as(
            &org,
            &format!("/api/payments/{}/refund", payment.id),
            &json!({"reason": "Event moved"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "REFUNDED");
    assert_eq!(r.data()["refundedAmount"], 500_000);
    assert_eq!(booking_status(&app, &buyer, &id).await, "REFUNDED");
    assert_eq!(counters(&app, ty).await.1, 0);
    let seen = fake.seen();
    let post = seen
        .iter()
        .find(|s| s.method == "POST" && s.path == "/v1/refunds")
        .expect("a refund request");
    assert_eq!(post.form()["amount"], "500000");
    assert_eq!(post.form()["payment_intent"], PAYMENT_INTENT);
    let refunds = refunds_of(&app, payment.id).await;
    assert_eq!(
        post.header("idempotency-key"),
        Some(format!("refund-{}", refunds[0].0).as_str())
    );
    let stored: Option<String> = with_pool!(app, pool => {
        sqlx::query_scalar("SELECT gateway_reference FROM refunds WHERE payment_id = $1")
            .bind(payment.id)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(stored.as_deref(), Some("re_test_full"));
}

async fn a_webhook_racing_verify_applies_once(app: TestApp) {
    let (app, fake) = stripe_app(app).await;
    for round in 0..3 {
        let (buyer, id, _, ty) = pending_booking(&app).await;
        let reference = initiate(&app, &buyer, &id).await;
        fake.set_session(
            200,
            session_object("complete", "paid", 500_000, "ngn", &reference),
        );
        let body = session_event(
            &format!("evt_test_race_{round}"),
            "checkout.session.completed",
            session_object("complete", "paid", 500_000, "ngn", &reference),
        );
        let (hook, verified) = tokio::join!(
            signed_webhook(&app, &body),
            verify(&app, &buyer, &reference)
        );
        hook.assert_status(200);
        verified.assert_status(200);
        assert_eq!(counters(&app, ty).await.1, 1, "round {round}: sold once");
        assert_eq!(booking_status(&app, &buyer, &id).await, "CONFIRMED");
        let r = app.get_as(&buyer, &format!("/api/bookings/{id}")).await;
        assert_eq!(r.data()["tickets"].as_array().unwrap().len(), 1);
        let p = payment_row(&app, &reference).await;
        assert_eq!((p.status.as_str(), p.refunded_amount), ("SUCCESS", 0));
        assert!(
            refunds_of(&app, p.id).await.is_empty(),
            "no refund of a double success"
        );
    }
}

async fn a_pending_stripe_refund_is_followed_until_it_succeeds(app: TestApp) {
    let (app, fake) = stripe_app(app).await;
    let (buyer, id, org, _) = pending_booking(&app).await;
    let reference = initiate(&app, &buyer, &id).await;
    pay_by_webhook(&app, &reference).await;
    let payment = payment_row(&app, &reference).await;
    fake.set_refund(200, refund_object("re_test_later", "pending"));
    let r = app
        .post_as(
            &org,
            &format!("/api/payments/{}/refund", payment.id),
            &json!({"amount": 200_000, "reason": "Goodwill"}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.data()["refundedAmount"], 0);

    // Stripe settles it; the job, finding the refund old, asks about it and settles it.
    fake.set_refund_status(200, refund_object("re_test_later", "succeeded"));
    with_pool!(app, pool => {
        sqlx::query("UPDATE refunds SET created_at = $1")
            .bind(Utc::now() - chrono::Duration::minutes(5))
            .execute(pool).await.unwrap();
    });
    ticketmax::payments::workers::reconcile(&app.state)
        .await
        .unwrap();
    let after = payment_row(&app, &reference).await;
    assert_eq!(
        (after.status.as_str(), after.refunded_amount),
        ("PARTIALLY_REFUNDED", 200_000)
    );
    assert_eq!(refunds_of(&app, payment.id).await[0].2, "SUCCESS");
    let seen = fake.seen();
    let posts: Vec<_> = seen
        .iter()
        .filter(|s| s.method == "POST" && s.path == "/v1/refunds")
        .collect();
    assert_eq!(posts.len(), 1, "money moves once");
    let gets: Vec<_> = seen
        .iter()
        .filter(|s| s.path.starts_with("/v1/refunds/"))
        .collect();
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(
        (gets[0].method.as_str(), gets[0].path.as_str()),
        ("GET", "/v1/refunds/re_test_later")
    );
    assert_eq!(
        gets[0].header("authorization"),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    // Settled: never asked again.
    ticketmax::payments::workers::reconcile(&app.state)
        .await
        .unwrap();
    assert_eq!(
        fake.seen()
            .iter()
            .filter(|s| s.path.starts_with("/v1/refunds/"))
            .count(),
        1
    );
}

both_backends!(
    a_pending_stripe_refund_is_followed_until_it_succeeds,
    initiate_opens_a_checkout_session_on_stripe,
    a_signed_webhook_confirms_once_and_forged_or_stale_ones_change_nothing,
    webhooks_of_failed_and_unpaid_sessions_confirm_nothing,
    verify_asks_stripe_for_the_session,
    a_different_amount_or_currency_from_stripe_is_not_applied,
    refunds_go_to_the_payment_intent,
    a_full_refund_returns_everything_and_frees_the_tickets,
    a_webhook_racing_verify_applies_once,
);
