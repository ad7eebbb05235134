//! The Flutterwave gateway against a local fake of its API: the exact requests TicketMax sends
//! (amounts in major units), webhooks checked by `verif-hash` and verified through the API,
//! amount mismatches, refunds without an idempotency header, outages and races.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chrono::Utc;
use serde_json::{Value, json};
use ticketmax::store::Store;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::{TypeSpec, counters, published_event};
use crate::helpers::{TestApp, TestResponse};
use crate::with_pool;

const SECRET: &str = "FLWSECK_TEST-5b1e0c9f6a2d4e7f8a9b0c1d2e3f4a5b-X";
const HASH: &str = "tm-flutterwave-webhook-hash-8c4d2e1f";
const LINK: &str = "https://checkout.flutterwave.com/v3/hosted/pay/f4k3l1nk0001";
const VERIFY_PATH: &str = "/v3/transactions/verify_by_reference";

// The fake.

/// One request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    authorization: String,
    content_type: String,
    /// The raw body, to check how amounts are written.
    body: String,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// What the fake answers to one endpoint.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
    delay: Duration,
}

impl Answer {
    fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            delay: Duration::ZERO,
        }
    }
}

#[derive(Debug)]
struct Script {
    seen: Vec<Seen>,
    payments: Answer,
    verify: Answer,
    refund: Answer,
    /// `GET /v3/refunds/{id}`.
    refund_status: Answer,
}

/// A local stand-in for `api.flutterwave.com` that records every request.
#[derive(Clone)]
struct Fake {
    url: String,
    script: Arc<Mutex<Script>>,
}

impl Fake {
    async fn start() -> Self {
        let script = Arc::new(Mutex::new(Script {
            seen: Vec::new(),
            payments: Answer::new(
                200,
                json!({"status": "success", "message": "Hosted Link", "data": {"link": LINK}}),
            ),
            // Until the buyer pays, Flutterwave knows no transaction for the reference.
            verify: Answer::new(
                400,
                json!({"status": "error", "message": "No transaction was found for this id", "data": null}),
            ),
            refund: Answer::new(
                404,
                json!({"status": "error", "message": "Not scripted", "data": null}),
            ),
            refund_status: Answer::new(
                404,
                json!({"status": "error", "message": "Not scripted", "data": null}),
            ),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new().fallback(answer).with_state(script.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, script }
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap()
    }

    /// Every request to a path.
    fn seen(&self, path: &str) -> Vec<Seen> {
        self.script()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    fn all(&self) -> Vec<Seen> {
        self.script().seen.clone()
    }

    fn refunds(&self) -> Vec<Seen> {
        self.script()
            .seen
            .iter()
            .filter(|s| s.path.ends_with("/refund"))
            .cloned()
            .collect()
    }

    /// Verification answers with a transaction of this status, amount (major units, as
    /// Flutterwave writes it) and currency.
    fn transaction(&self, reference: &str, id: u64, status: &str, amount: Value, currency: &str) {
        self.script().verify = Answer::new(
            200,
            json!({
                "status": "success",
                "message": "Transaction fetched successfully",
                "data": {
                    "id": id,
                    "tx_ref": reference,
                    "flw_ref": format!("FLW-MOCK-{id}"),
                    "amount": amount,
                    "currency": currency,
                    "charged_amount": amount,
                    "app_fee": 70,
                    "processor_response": if status == "failed" { "Insufficient funds" } else { "Approved" },
                    "status": status,
                    "payment_type": "card",
                    "created_at": "2026-01-24T09:18:37.000Z",
                    "customer": {"id": 1, "email": "buyer@example.com"}
                }
            }),
        );
    }

    fn delay_verify(&self, delay: Duration) {
        self.script().verify.delay = delay;
    }

    fn answer_refund(&self, status: u16, body: Value) {
        self.script().refund = Answer::new(status, body);
    }

    fn answer_refund_status(&self, status: u16, body: Value) {
        self.script().refund_status = Answer::new(status, body);
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let path = uri.path().to_string();
    let scripted = {
        let mut s = script.lock().unwrap();
        s.seen.push(Seen {
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().unwrap_or("").to_string(),
            authorization: header("authorization"),
            content_type: header("content-type"),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        match (method.as_str(), path.as_str()) {
            ("POST", "/v3/payments") => s.payments.clone(),
            ("GET", VERIFY_PATH) => s.verify.clone(),
            ("POST", p) if p.starts_with("/v3/transactions/") && p.ends_with("/refund") => {
                s.refund.clone()
            }
            ("GET", p) if p.starts_with("/v3/refunds/") => s.refund_status.clone(),
            _ => Answer::new(404, json!({"status": "error", "message": "Unknown route"})),
        }
    };
    tokio::time::sleep(scripted.delay).await;
    (
        StatusCode::from_u16(scripted.status).unwrap(),
        axum::Json(scripted.body),
    )
}

// The app and its bookings.

/// A server with Flutterwave configured against the fake (and `PAYMENT_GATEWAY=default`), in
/// place of the plain one the test was given.
async fn with_flutterwave(app: TestApp, default: &str) -> (TestApp, Fake) {
    let backend = app.backend;
    drop(app);
    let fake = Fake::start().await;
    let app = TestApp::builder(backend)
        .env("FLUTTERWAVE_SECRET_KEY", SECRET)
        .env("FLUTTERWAVE_WEBHOOK_HASH", HASH)
        .env("FLUTTERWAVE_BASE_URL", &fake.url)
        .env("PAYMENT_GATEWAY", default)
        .spawn()
        .await;
    (app, fake)
}

/// A buyer's PENDING booking of one 5,000.00 NGN ticket.
struct Pending {
    buyer: String,
    organizer: String,
    id: String,
    email: String,
    ty: Uuid,
}

async fn pending_booking(app: &TestApp) -> Pending {
    let (_, organizer, event, types) = published_event(app, &[TypeSpec::paid(3)]).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let r = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1}),
        )
        .await;
    r.assert_status(201);
    Pending {
        buyer,
        organizer,
        id: r.data()["id"].as_str().unwrap().to_string(),
        email: r.data()["customerEmail"].as_str().unwrap().to_string(),
        ty: types[0],
    }
}

/// Starts the checkout with the default gateway; returns the payment reference.
async fn initiate(app: &TestApp, b: &Pending) -> String {
    let r = app
        .post_as(
            &b.buyer,
            "/api/payments/initiate",
            &json!({"bookingId": b.id}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["gateway"], "flutterwave");
    r.data()["reference"].as_str().unwrap().to_string()
}

async fn verify(app: &TestApp, b: &Pending, reference: &str) -> TestResponse {
    app.get_as(&b.buyer, &format!("/api/payments/verify/{reference}"))
        .await
}

async fn booking(app: &TestApp, b: &Pending) -> Value {
    let r = app
        .get_as(&b.buyer, &format!("/api/bookings/{}", b.id))
        .await;
    r.assert_status(200);
    r.data().clone()
}

/// The stored payment, read without asking the gateway.
async fn stored(app: &TestApp, reference: &str) -> ticketmax::payments::PaymentRow {
    app.state
        .store
        .payment_by_reference(reference)
        .await
        .unwrap()
        .unwrap()
}

/// A `charge.completed` event as Flutterwave documents it.
fn charge_completed(reference: &str, id: u64) -> String {
    json!({
        "event": "charge.completed",
        "data": {
            "id": id,
            "tx_ref": reference,
            "flw_ref": format!("FLW-MOCK-{id}"),
            "amount": 5000,
            "currency": "NGN",
            "charged_amount": 5000,
            "processor_response": "Approved",
            "status": "successful",
            "payment_type": "card",
            "created_at": "2026-01-24T09:18:37.000Z",
            "customer": {"id": 1, "email": "buyer@example.com"}
        },
        "event.type": "CARD_TRANSACTION"
    })
    .to_string()
}

async fn webhook(app: &TestApp, hash: Option<&str>, body: &str) -> TestResponse {
    let mut r = app.request(Method::POST, "/api/payments/webhook/flutterwave");
    if let Some(h) = hash {
        r = r.header("verif-hash", h);
    }
    r.body("application/json", body.to_string()).send().await
}

async fn webhook_events(app: &TestApp) -> Vec<(String, String)> {
    with_pool!(app, pool => {
        sqlx::query_as("SELECT gateway, event_id FROM webhook_events ORDER BY received_at")
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

/// The refunds of a payment, oldest first: `(id, status, gateway_reference)`.
async fn refunds_of(app: &TestApp, payment: Uuid) -> Vec<(Uuid, String, Option<String>)> {
    with_pool!(app, pool => {
        sqlx::query_as(
            "SELECT id, status, gateway_reference FROM refunds WHERE payment_id = $1 ORDER BY created_at, id",
        )
        .bind(payment)
        .fetch_all(pool)
        .await
        .unwrap()
    })
}

/// A booking paid through Flutterwave transaction `tx`: `(booking, reference, payment id)`.
async fn paid_booking(app: &TestApp, fake: &Fake, tx: u64) -> (Pending, String, Uuid) {
    let b = pending_booking(app).await;
    let reference = initiate(app, &b).await;
    fake.transaction(&reference, tx, "successful", json!(5000), "NGN");
    let r = verify(app, &b, &reference).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "SUCCESS");
    let id = r.data()["id"].as_str().unwrap().parse().unwrap();
    (b, reference, id)
}

// The tests.

async fn initiate_sends_flutterwave_the_documented_request(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    let list = app.get("/api/payments/gateways").await;
    list.assert_status(200);
    let listed = list
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gateway"] == "flutterwave")
        .cloned();
    assert_eq!(
        listed,
        Some(json!({"gateway": "flutterwave", "enabled": true, "default": true}))
    );

    let b = pending_booking(&app).await;
    let callback = format!("{}/orders/done?from=app", app.state.config.public_base_url);
    let r = app
        .post_as(
            &b.buyer,
            "/api/payments/initiate",
            &json!({"bookingId": b.id, "callbackUrl": callback}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["gateway"], "flutterwave", "the configured default");
    assert_eq!(r.data()["authorizationUrl"], LINK);
    assert_eq!(
        r.data()["amount"],
        500_000,
        "our answer stays in minor units"
    );
    assert_eq!(r.data()["currency"], "NGN");
    let reference = r.data()["reference"].as_str().unwrap().to_string();

    let calls = fake.all();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/v3/payments")
    );
    assert_eq!(call.authorization, format!("Bearer {SECRET}"));
    assert!(
        call.content_type.starts_with("application/json"),
        "{}",
        call.content_type
    );
    assert_eq!(
        call.json(),
        json!({
            "tx_ref": reference,
            "amount": 5000,
            "currency": "NGN",
            "redirect_url": callback,
            "customer": {"email": b.email},
            "customizations": {"title": "Afrobeats Night"}
        })
    );
    assert!(
        call.body.contains(r#""amount":5000,"#),
        "major units, written exactly: {}",
        call.body
    );

    // The pending checkout is returned as it is, without a second request to Flutterwave.
    let again = app
        .post_as(
            &b.buyer,
            "/api/payments/initiate",
            &json!({"bookingId": b.id}),
        )
        .await;
    again.assert_status(200);
    assert_eq!(again.data()["authorizationUrl"], LINK);
    assert_eq!(again.data()["reference"], reference.as_str());
    assert_eq!(fake.all().len(), 1);
}

async fn payment_gateway_chooses_the_default_among_the_enabled(app: TestApp) {
    // Flutterwave enabled but `test` named: a checkout without a gateway does not go to Flutterwave.
    let (app, fake) = with_flutterwave(app, "test").await;
    let b = pending_booking(&app).await;
    let r = app
        .post_as(
            &b.buyer,
            "/api/payments/initiate",
            &json!({"bookingId": b.id}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["gateway"], "test");
    assert!(fake.all().is_empty());
    // Asked for by name, it is there.
    let b2 = pending_booking(&app).await;
    let r = app
        .post_as(
            &b2.buyer,
            "/api/payments/initiate",
            &json!({"bookingId": b2.id, "gateway": "flutterwave"}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["authorizationUrl"], LINK);
    assert_eq!(fake.seen("/v3/payments").len(), 1);
}

async fn a_checkout_flutterwave_refuses_answers_503_and_fails_the_payment(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    fake.script().payments = Answer::new(
        400,
        json!({"status": "error", "message": "Invalid currency provided", "data": null}),
    );
    let b = pending_booking(&app).await;
    let r = app
        .post_as(
            &b.buyer,
            "/api/payments/initiate",
            &json!({"bookingId": b.id}),
        )
        .await;
    r.assert_error(503, "UNAVAILABLE");
    let ids = booking(&app, &b).await["paymentIds"].clone();
    let p = app
        .get_as(
            &b.buyer,
            &format!("/api/payments/{}", ids[0].as_str().unwrap()),
        )
        .await;
    p.assert_status(200);
    assert_eq!(p.data()["status"], "FAILED");
    assert!(
        p.data()["failureReason"]
            .as_str()
            .unwrap()
            .contains("Invalid currency provided"),
        "{}",
        p.text
    );
    assert_eq!(booking(&app, &b).await["status"], "PENDING");
}

async fn a_webhook_with_flutterwaves_hash_confirms_the_booking_once(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    let b = pending_booking(&app).await;
    let reference = initiate(&app, &b).await;
    fake.transaction(&reference, 4242, "successful", json!(5000), "NGN");
    let body = charge_completed(&reference, 4242);

    webhook(&app, Some(HASH), &body).await.assert_status(200);
    // The event is not trusted by itself: the transaction was verified through the API.
    let asked = fake.seen(VERIFY_PATH);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].method, "GET");
    assert_eq!(asked[0].query, format!("tx_ref={reference}"));
    assert_eq!(asked[0].authorization, format!("Bearer {SECRET}"));
    let confirmed = booking(&app, &b).await;
    assert_eq!(confirmed["status"], "CONFIRMED");
    assert_eq!(confirmed["tickets"].as_array().unwrap().len(), 1);
    let p = stored(&app, &reference).await;
    assert_eq!(p.status.as_str(), "SUCCESS");
    assert_eq!(
        p.gateway_reference.as_deref(),
        Some("4242"),
        "the transaction id a refund needs"
    );
    assert_eq!(counters(&app, b.ty).await.1, 1);

    // The same delivery again: acknowledged, nothing changes.
    webhook(&app, Some(HASH), &body).await.assert_status(200);
    assert_eq!(counters(&app, b.ty).await.1, 1, "sold once");
    assert_eq!(booking(&app, &b).await["tickets"], confirmed["tickets"]);
    assert_eq!(
        webhook_events(&app).await,
        vec![(
            "flutterwave".to_string(),
            "charge.completed:4242".to_string()
        )],
        "stored once by event and transaction id"
    );
}

async fn a_webhook_without_flutterwaves_hash_is_refused_and_changes_nothing(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    let b = pending_booking(&app).await;
    let reference = initiate(&app, &b).await;
    fake.transaction(&reference, 77, "successful", json!(5000), "NGN");
    let body = charge_completed(&reference, 77);
    let upper = HASH.to_uppercase();
    for hash in [
        None,
        Some("wrong"),
        Some(&HASH[..HASH.len() - 1]),
        Some(upper.as_str()),
        Some(""),
    ] {
        webhook(&app, hash, &body)
            .await
            .assert_error(401, "UNAUTHORIZED");
    }
    assert!(
        fake.seen(VERIFY_PATH).is_empty(),
        "a refused event asks nothing"
    );
    assert_eq!(stored(&app, &reference).await.status.as_str(), "PENDING");
    assert_eq!(booking(&app, &b).await["status"], "PENDING");
    assert!(webhook_events(&app).await.is_empty());

    // The right hash proves the sender, not the money: Flutterwave says it is still pending.
    fake.transaction(&reference, 77, "pending", json!(5000), "NGN");
    webhook(&app, Some(HASH), &body).await.assert_status(200);
    assert_eq!(fake.seen(VERIFY_PATH).len(), 1);
    assert_eq!(stored(&app, &reference).await.status.as_str(), "PENDING");
    assert_eq!(booking(&app, &b).await["status"], "PENDING");
    assert_eq!(counters(&app, b.ty).await.1, 0);
}

async fn verify_asks_flutterwave_by_reference(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    let b = pending_booking(&app).await;
    let reference = initiate(&app, &b).await;

    // Not paid yet: Flutterwave knows no such transaction.
    let r = verify(&app, &b, &reference).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "PENDING");
    // Started but not settled.
    fake.transaction(&reference, 5151, "pending", json!(5000), "NGN");
    let r = verify(&app, &b, &reference).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "PENDING");
    assert_eq!(booking(&app, &b).await["status"], "PENDING");
    // Settled; Flutterwave may write the amount as a string.
    fake.transaction(&reference, 5151, "successful", json!("5000.00"), "NGN");
    let r = verify(&app, &b, &reference).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "SUCCESS");
    assert!(r.data()["paidAt"].is_string());
    assert_eq!(booking(&app, &b).await["status"], "CONFIRMED");
    let (_, sold, held, ..) = counters(&app, b.ty).await;
    assert_eq!((sold, held), (1, 0));
    let asked = fake.seen(VERIFY_PATH);
    assert_eq!(asked.len(), 3);
    for call in &asked {
        assert_eq!(call.method, "GET");
        assert_eq!(call.query, format!("tx_ref={reference}"));
        assert_eq!(call.authorization, format!("Bearer {SECRET}"));
    }
    assert_eq!(
        stored(&app, &reference).await.gateway_reference.as_deref(),
        Some("5151")
    );

    // A failed charge fails the payment; the booking keeps its hold.
    let b = pending_booking(&app).await;
    let reference = initiate(&app, &b).await;
    fake.transaction(&reference, 6161, "failed", json!(5000), "NGN");
    let r = verify(&app, &b, &reference).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "FAILED");
    assert_eq!(r.data()["failureReason"], "Flutterwave: Insufficient funds");
    assert_eq!(booking(&app, &b).await["status"], "PENDING");

    // Flutterwave down: the buyer is told, the payment stays as it was.
    let b = pending_booking(&app).await;
    let reference = initiate(&app, &b).await;
    fake.script().verify = Answer::new(500, json!({"status": "error", "message": "Oops"}));
    verify(&app, &b, &reference)
        .await
        .assert_error(503, "UNAVAILABLE");
    assert_eq!(stored(&app, &reference).await.status.as_str(), "PENDING");
}

async fn an_amount_or_currency_flutterwave_reports_differently_is_not_applied(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    let b = pending_booking(&app).await;
    let reference = initiate(&app, &b).await;
    for (amount, currency, reported) in [
        (json!(4999.99), "NGN", "499999 NGN"),
        (json!(5000.5), "NGN", "500050 NGN"),
        (json!(500_000), "NGN", "50000000 NGN"),
        (json!(5000), "USD", "500000 USD"),
    ] {
        fake.transaction(&reference, 31, "successful", amount.clone(), currency);
        let r = verify(&app, &b, &reference).await;
        r.assert_status(200);
        assert_eq!(r.data()["status"], "PENDING", "{amount} {currency}");
        let reason = r.data()["failureReason"].as_str().unwrap_or_default();
        assert!(reason.contains(reported), "{amount} {currency}: {reason}");
        assert_eq!(booking(&app, &b).await["status"], "PENDING");
    }
    // Through a webhook too.
    fake.transaction(&reference, 31, "successful", json!(4999.99), "NGN");
    webhook(&app, Some(HASH), &charge_completed(&reference, 31))
        .await
        .assert_status(200);
    assert_eq!(stored(&app, &reference).await.status.as_str(), "PENDING");
    assert_eq!(booking(&app, &b).await["status"], "PENDING");
    assert_eq!(counters(&app, b.ty).await.1, 0);
    // The right amount still settles it.
    fake.transaction(&reference, 31, "successful", json!(5000), "NGN");
    assert_eq!(
        verify(&app, &b, &reference).await.data()["status"],
        "SUCCESS"
    );
    assert_eq!(booking(&app, &b).await["status"], "CONFIRMED");
}

async fn a_refund_by_the_event_owner_is_sent_in_major_units(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    let (b, _, pid) = paid_booking(&app, &fake, 777).await;
    fake.answer_refund(
        200,
        json!({"status": "success", "message": "Transaction refund initiated", "data": {
            "id": 75923, "tx_id": 777, "flw_ref": "URF_1", "amount_refunded": 1000.5,
            "status": "completed", "destination": "payment_source"}}),
    );
    let path = format!("/api/payments/{pid}/refund");
    let part = app
        .post_as(
            &b.organizer,
            &path,
            &json!({"amount": 100_050, "reason": "Goodwill"}),
        )
        .await;
    part.assert_status(200);
    assert_eq!(part.data()["status"], "PARTIALLY_REFUNDED");
    assert_eq!(part.data()["refundedAmount"], 100_050);
    assert_eq!(booking(&app, &b).await["status"], "CONFIRMED");

    let sent = fake.refunds();
    assert_eq!(sent.len(), 1);
    let call = &sent[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/v3/transactions/777/refund")
    );
    assert_eq!(call.authorization, format!("Bearer {SECRET}"));
    assert!(call.content_type.starts_with("application/json"));
    let refunds = refunds_of(&app, pid).await;
    assert_eq!(
        refunds[0],
        (
            refunds[0].0,
            "SUCCESS".to_string(),
            Some("75923".to_string())
        )
    );
    // No idempotency header exists: the key rides in the comment, for the dashboard.
    assert_eq!(
        call.json(),
        json!({"amount": 1000.5, "comments": format!("TicketMax refund-{}", refunds[0].0)})
    );
    assert!(
        call.body.contains(r#""amount":1000.50,"#),
        "exact major units: {}",
        call.body
    );

    // The rest: 3,999.50 NGN.
    fake.answer_refund(
        200,
        json!({"status": "success", "data": {"id": 75924, "amount_refunded": 3999.5, "status": "completed"}}),
    );
    let rest = app
        .post_as(&b.organizer, &path, &json!({"reason": "Event moved"}))
        .await;
    rest.assert_status(200);
    assert_eq!(rest.data()["status"], "REFUNDED");
    assert_eq!(rest.data()["refundedAmount"], 500_000);
    assert_eq!(booking(&app, &b).await["status"], "REFUNDED");
    let sent = fake.refunds();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[1].body.contains(r#""amount":3999.50,"#),
        "{}",
        sent[1].body
    );
    assert_ne!(sent[0].json()["comments"], sent[1].json()["comments"]);
    let (_, sold, held, ..) = counters(&app, b.ty).await;
    assert_eq!((sold, held), (0, 0), "the ticket is free again");
}

async fn a_refund_flutterwave_leaves_pending_answers_202_and_is_never_sent_twice(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    let (b, reference, pid) = paid_booking(&app, &fake, 778).await;
    fake.answer_refund(
        200,
        json!({"status": "success", "data": {"id": 88, "amount_refunded": 5000, "status": "pending"}}),
    );
    let r = app
        .post_as(
            &b.organizer,
            &format!("/api/payments/{pid}/refund"),
            &json!({"reason": "Cancelled show"}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.data()["status"], "SUCCESS");
    assert_eq!(r.data()["refundedAmount"], 0);
    assert_eq!(fake.refunds().len(), 1);
    assert_eq!(fake.refunds()[0].json()["amount"], json!(5000));

    // The reconciliation job retries PENDING refunds; Flutterwave took this one, so nothing is sent.
    let pending = app
        .state
        .store
        .pending_refunds(Utc::now() + chrono::Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    for _ in 0..2 {
        let after = ticketmax::payments::flows::execute_refund(
            &app.state,
            &stored(&app, &reference).await,
            &pending[0],
        )
        .await
        .unwrap();
        assert_eq!(after.status.as_str(), "SUCCESS");
    }
    assert_eq!(fake.refunds().len(), 1, "money moves once");
    assert_eq!(refunds_of(&app, pid).await[0].1, "PENDING");
}

async fn a_flutterwave_outage_during_a_refund_answers_202_and_changes_nothing(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    let (b, reference, pid) = paid_booking(&app, &fake, 779).await;
    fake.answer_refund(
        500,
        json!({"status": "error", "message": "Internal server error"}),
    );
    let r = app
        .post_as(
            &b.organizer,
            &format!("/api/payments/{pid}/refund"),
            &json!({"amount": 100_000, "reason": "Goodwill"}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.data()["status"], "SUCCESS");
    assert_eq!(r.data()["refundedAmount"], 0);
    let p = stored(&app, &reference).await;
    assert_eq!((p.status.as_str(), p.refunded_amount), ("SUCCESS", 0));
    assert_eq!(booking(&app, &b).await["status"], "CONFIRMED");
    assert_eq!(refunds_of(&app, pid).await[0].1, "PENDING");
    let sent = fake.refunds();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v3/transactions/779/refund");
    assert_eq!(sent[0].json()["amount"], json!(1000));

    // A 5xx may come after the money moved: the retry does not send it blindly again.
    fake.answer_refund(
        200,
        json!({"status": "success", "data": {"id": 1, "status": "completed"}}),
    );
    let pending = app
        .state
        .store
        .pending_refunds(Utc::now() + chrono::Duration::minutes(1), 10)
        .await
        .unwrap();
    assert!(
        ticketmax::payments::flows::execute_refund(&app.state, &p, &pending[0])
            .await
            .is_err()
    );
    assert_eq!(fake.refunds().len(), 1);
    assert_eq!(stored(&app, &reference).await.refunded_amount, 0);
}

async fn a_webhook_racing_verify_applies_once(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    let b = pending_booking(&app).await;
    let reference = initiate(&app, &b).await;
    fake.transaction(&reference, 9090, "successful", json!(5000), "NGN");
    // Both ask Flutterwave at the same time and apply its answer together.
    fake.delay_verify(Duration::from_millis(200));
    let body = charge_completed(&reference, 9090);
    let (hook, verified) = tokio::join!(
        webhook(&app, Some(HASH), &body),
        verify(&app, &b, &reference)
    );
    hook.assert_status(200);
    verified.assert_status(200);
    assert_eq!(verified.data()["status"], "SUCCESS");
    assert_eq!(fake.seen(VERIFY_PATH).len(), 2, "both asked");
    let (_, sold, held, ..) = counters(&app, b.ty).await;
    assert_eq!((sold, held), (1, 0), "applied once");
    let confirmed = booking(&app, &b).await;
    assert_eq!(confirmed["status"], "CONFIRMED");
    assert_eq!(confirmed["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(confirmed["paymentIds"].as_array().unwrap().len(), 1);
    assert_eq!(webhook_events(&app).await.len(), 1);
}

async fn a_pending_flutterwave_refund_is_followed_until_completed(app: TestApp) {
    let (app, fake) = with_flutterwave(app, "flutterwave").await;
    let (b, reference, pid) = paid_booking(&app, &fake, 780).await;
    fake.answer_refund(
        200,
        json!({"status": "success", "data": {"id": 91, "amount_refunded": 5000, "status": "pending"}}),
    );
    let r = app
        .post_as(
            &b.organizer,
            &format!("/api/payments/{pid}/refund"),
            &json!({"reason": "Cancelled show"}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.data()["refundedAmount"], 0);
    assert_eq!(refunds_of(&app, pid).await[0].2.as_deref(), Some("91"));

    // Flutterwave completes it; the job, finding the refund old, asks about it and settles it.
    fake.answer_refund_status(
        200,
        json!({"status": "success", "message": "Refund fetched", "data": {
            "id": 91, "account_id": 1, "tx_id": 780, "flw_ref": "URF_91",
            "amount_refunded": 5000, "status": "completed", "destination": "payment_source"
        }}),
    );
    with_pool!(app, pool => {
        sqlx::query("UPDATE refunds SET created_at = $1")
            .bind(Utc::now() - chrono::Duration::minutes(5))
            .execute(pool).await.unwrap();
    });
    ticketmax::payments::workers::reconcile(&app.state)
        .await
        .unwrap();
    let after = stored(&app, &reference).await;
    assert_eq!(
        (after.status.as_str(), after.refunded_amount),
        ("REFUNDED", 500_000)
    );
    assert_eq!(refunds_of(&app, pid).await[0].1, "SUCCESS");
    assert_eq!(fake.refunds().len(), 1, "money moves once");
    let gets = fake.seen("/v3/refunds/91");
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(gets[0].method, "GET");
    assert_eq!(gets[0].authorization, format!("Bearer {SECRET}"));
    // Settled: never asked again.
    ticketmax::payments::workers::reconcile(&app.state)
        .await
        .unwrap();
    assert_eq!(fake.seen("/v3/refunds/91").len(), 1);
}

both_backends!(
    a_pending_flutterwave_refund_is_followed_until_completed,
    initiate_sends_flutterwave_the_documented_request,
    payment_gateway_chooses_the_default_among_the_enabled,
    a_checkout_flutterwave_refuses_answers_503_and_fails_the_payment,
    a_webhook_with_flutterwaves_hash_confirms_the_booking_once,
    a_webhook_without_flutterwaves_hash_is_refused_and_changes_nothing,
    verify_asks_flutterwave_by_reference,
    an_amount_or_currency_flutterwave_reports_differently_is_not_applied,
    a_refund_by_the_event_owner_is_sent_in_major_units,
    a_refund_flutterwave_leaves_pending_answers_202_and_is_never_sent_twice,
    a_flutterwave_outage_during_a_refund_answers_202_and_changes_nothing,
    a_webhook_racing_verify_applies_once
);
