//! The Paystack gateway against a local fake of its API: the exact initialize, verify and refund
//! requests (bearer secret key, JSON, amounts in Paystack's subunit), webhooks signed with the
//! hex HMAC-SHA512 of the raw body, mismatched amounts, outages, retries and races.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
use chrono::{Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha512;
use ticketmax::payments::model::{PaymentRow, PaymentStatus};
use ticketmax::store::Store;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::{TypeSpec, counters, published_event};
use crate::helpers::{TestApp, TestResponse};
use crate::with_pool;

const SECRET: &str = "sk_test_4f1c2e0a9b8d7c6e5f4a3b2c1d0e9f8a";

// The fake Paystack.

/// One request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: HashMap<String, String>,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// A transaction the fake knows, by our reference.
#[derive(Debug, Clone)]
struct Txn {
    id: i64,
    status: String,
    /// Paystack's subunits.
    amount: i64,
    currency: String,
    gateway_response: String,
}

#[derive(Debug, Default)]
struct Inner {
    seen: Vec<Seen>,
    txns: HashMap<String, Txn>,
    /// Refunds as `GET /refund` lists them.
    refunds: Vec<Value>,
    /// The status a new refund gets.
    refund_status: String,
    /// `(method, path)` answered 500.
    failing: Vec<(String, String)>,
    /// New refunds are made but answered 500, as when the answer is lost on its way back.
    lose_refund_answers: bool,
    next_id: i64,
}

/// A local stand-in for `api.paystack.co` recording every request.
#[derive(Clone)]
struct Fake {
    url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Fake {
    async fn start() -> Self {
        let fake = Fake {
            url: String::new(),
            inner: Arc::new(Mutex::new(Inner {
                refund_status: "pending".into(),
                // Above 2^31, as Paystack's ids are.
                next_id: 4_099_260_516,
                ..Inner::default()
            })),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .fallback(answer)
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Fake { url, ..fake }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    fn requests_to(&self, method: &str, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.method == method && s.path == path)
            .collect()
    }

    fn txn(&self, reference: &str) -> Txn {
        self.lock().txns[reference].clone()
    }

    fn set_txn(&self, reference: &str, change: impl FnOnce(&mut Txn)) {
        change(self.lock().txns.get_mut(reference).expect("initialized"));
    }

    fn authorization_url(reference: &str) -> String {
        format!(
            "https://checkout.paystack.com/ac_{}",
            reference.to_lowercase()
        )
    }

    fn set_refund_status(&self, status: &str) {
        self.lock().refund_status = status.into();
    }

    /// Paystack finishes every refund it holds.
    fn process_refunds(&self) {
        for r in &mut self.lock().refunds {
            r["status"] = json!("processed");
        }
    }

    fn lose_refund_answers(&self, lose: bool) {
        self.lock().lose_refund_answers = lose;
    }

    fn fail(&self, method: &str, path: &str, failing: bool) {
        let mut inner = self.lock();
        inner.failing.retain(|f| f != &(method.into(), path.into()));
        if failing {
            inner.failing.push((method.into(), path.into()));
        }
    }
}

async fn answer(
    State(fake): State<Fake>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    let mut inner = fake.lock();
    inner.seen.push(Seen {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: body.clone(),
    });
    let ok = |data: Value| {
        (
            StatusCode::OK,
            axum::Json(json!({"status": true, "message": "OK", "data": data})),
        )
    };
    let refused = |code: StatusCode, message: &str| {
        (
            code,
            axum::Json(json!({"status": false, "message": message})),
        )
    };
    if inner.failing.contains(&(method.to_string(), path.clone())) {
        return refused(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong");
    }
    if header("authorization").as_deref() != Some(&format!("Bearer {SECRET}")) {
        return refused(StatusCode::UNAUTHORIZED, "Invalid key");
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["transaction", "initialize"]) => {
            let reference = body["reference"].as_str().unwrap_or_default().to_string();
            let id = inner.next_id;
            inner.next_id += 1;
            inner.txns.insert(
                reference.clone(),
                Txn {
                    id,
                    // Every Paystack transaction starts so until the buyer pays.
                    status: "abandoned".into(),
                    amount: body["amount"].as_i64().unwrap_or_default(),
                    currency: body["currency"].as_str().unwrap_or("NGN").into(),
                    gateway_response: "The transaction was not completed".into(),
                },
            );
            ok(json!({
                "authorization_url": Fake::authorization_url(&reference),
                "access_code": format!("ac_{}", reference.to_lowercase()),
                "reference": reference,
            }))
        }
        ("GET", ["transaction", "verify", reference]) => match inner.txns.get(*reference) {
            Some(t) => ok(json!({
                "id": t.id,
                "domain": "test",
                "status": t.status,
                "reference": reference,
                "amount": t.amount,
                "currency": t.currency,
                "gateway_response": t.gateway_response,
                "channel": "card",
                "paid_at": if t.status == "success" { json!(Utc::now().to_rfc3339()) } else { Value::Null },
            })),
            None => refused(StatusCode::BAD_REQUEST, "Transaction reference not found"),
        },
        ("GET", ["refund"]) => {
            let transaction: i64 = query
                .get("transaction")
                .and_then(|t| t.parse().ok())
                .unwrap_or(-1);
            let list: Vec<Value> = inner
                .refunds
                .iter()
                .filter(|r| r["transaction"] == json!(transaction))
                .cloned()
                .collect();
            let total = list.len();
            (
                StatusCode::OK,
                axum::Json(json!({
                    "status": true,
                    "message": "Refunds retrieved",
                    "data": list,
                    "meta": {"total": total, "skipped": 0, "perPage": "100", "page": 1, "pageCount": 1},
                })),
            )
        }
        ("POST", ["refund"]) => {
            let transaction = body["transaction"].as_str().unwrap_or_default().to_string();
            let Some((reference, txn)) = inner
                .txns
                .iter()
                .find(|(r, t)| t.id.to_string() == transaction || **r == transaction)
                .map(|(r, t)| (r.clone(), t.clone()))
            else {
                return refused(StatusCode::NOT_FOUND, "Transaction not found");
            };
            let asked: i64 = inner
                .refunds
                .iter()
                .filter(|r| r["transaction"] == json!(txn.id) && r["status"] != "failed")
                .filter_map(|r| r["amount"].as_i64())
                .sum();
            let amount = body["amount"].as_i64().unwrap_or(txn.amount);
            if asked + amount > txn.amount {
                return refused(
                    StatusCode::BAD_REQUEST,
                    "Refund amount cannot be more than the transaction amount",
                );
            }
            let id = inner.next_id;
            inner.next_id += 1;
            let status = inner.refund_status.clone();
            inner.refunds.push(json!({
                "id": id,
                "transaction": txn.id,
                "transaction_reference": reference,
                "amount": amount,
                "currency": txn.currency,
                "status": status,
                "merchant_note": body["merchant_note"],
            }));
            if inner.lose_refund_answers {
                return refused(StatusCode::INTERNAL_SERVER_ERROR, "Gateway timeout");
            }
            ok(json!({
                "transaction": {"id": txn.id, "reference": reference, "amount": txn.amount, "currency": txn.currency},
                "id": id,
                "amount": amount,
                "currency": txn.currency,
                "status": status,
                "merchant_note": body["merchant_note"],
                "deducted_amount": 0,
                "fully_deducted": false,
            }))
        }
        ("GET", ["refund", id]) => {
            match inner
                .refunds
                .iter()
                .find(|r| id.parse::<i64>().ok() == r["id"].as_i64())
            {
                Some(r) => ok(r.clone()),
                None => refused(StatusCode::NOT_FOUND, "Refund not found"),
            }
        }
        _ => refused(StatusCode::NOT_FOUND, "No such route"),
    }
}

// Helpers.

/// A server with Paystack configured against a fresh fake, and Paystack the default gateway.
async fn paystack_app(app: TestApp) -> (TestApp, Fake) {
    let fake = Fake::start().await;
    let backend = app.backend;
    drop(app);
    let app = TestApp::builder(backend)
        .env("PAYSTACK_SECRET_KEY", SECRET)
        .env("PAYSTACK_BASE_URL", &fake.url)
        .env("PAYMENT_GATEWAY", "paystack")
        .spawn()
        .await;
    (app, fake)
}

/// A buyer's PENDING booking of one ticket (5,000.00 of the event's currency).
struct Pending {
    buyer: String,
    booking: String,
    organizer: String,
    ticket_type: Uuid,
}

async fn pending_booking(app: &TestApp, currency: &str) -> Pending {
    let (_, organizer, event, types) = published_event(app, &[TypeSpec::paid(3)]).await;
    with_pool!(app, pool => {
        sqlx::query("UPDATE events SET currency = $1 WHERE id = $2")
            .bind(currency).bind(event).execute(pool).await.unwrap();
    });
    let (_, buyer) = app.create_user(Role::User).await;
    let r = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["currency"], currency);
    Pending {
        buyer,
        booking: r.data()["id"].as_str().unwrap().to_string(),
        organizer,
        ticket_type: types[0],
    }
}

/// Starts paying a booking through the default gateway; returns the payment's reference.
async fn initiate(app: &TestApp, p: &Pending) -> String {
    let r = app
        .post_as(
            &p.buyer,
            "/api/payments/initiate",
            &json!({"bookingId": p.booking}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["gateway"], "paystack");
    r.data()["reference"].as_str().unwrap().to_string()
}

async fn booking(app: &TestApp, p: &Pending) -> Value {
    let r = app
        .get_as(&p.buyer, &format!("/api/bookings/{}", p.booking))
        .await;
    r.assert_status(200);
    r.data().clone()
}

/// The stored payment, read without asking the gateway.
async fn stored(app: &TestApp, reference: &str) -> PaymentRow {
    app.state
        .store
        .payment_by_reference(reference)
        .await
        .unwrap()
        .unwrap()
}

async fn webhook_events(app: &TestApp) -> i64 {
    with_pool!(app, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events").fetch_one(pool).await.unwrap()
    })
}

/// The hex HMAC-SHA512 of a body, computed here independently of the server.
fn sign_with(key: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn sign(body: &[u8]) -> String {
    sign_with(SECRET, body)
}

/// A `charge.success` event as Paystack sends it (amount in subunits).
fn charge_success(reference: &str, id: i64, amount: i64, currency: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": "charge.success",
        "data": {
            "id": id,
            "domain": "test",
            "status": "success",
            "reference": reference,
            "amount": amount,
            "message": null,
            "gateway_response": "Successful",
            "paid_at": "2026-01-10T12:00:00.000Z",
            "created_at": "2026-01-10T11:59:30.000Z",
            "channel": "card",
            "currency": currency,
            "ip_address": "41.58.0.1",
            "metadata": {"reference": reference},
            "fees": 7500,
            "customer": {"id": 84312, "email": "buyer@example.com", "customer_code": "CUS_xnxdt6s1zg1f4nx"},
            "authorization": {"authorization_code": "AUTH_8dfhjjdt", "bin": "408408", "last4": "4081", "card_type": "visa", "reusable": true},
        }
    }))
    .unwrap()
}

async fn deliver(app: &TestApp, body: &[u8], signature: Option<&str>) -> TestResponse {
    let mut request = app.request(Method::POST, "/api/payments/webhook/paystack");
    if let Some(s) = signature {
        request = request.header("x-paystack-signature", s);
    }
    request.body("application/json", body.to_vec()).send().await
}

async fn verify(app: &TestApp, p: &Pending, reference: &str) -> Value {
    let r = app
        .get_as(&p.buyer, &format!("/api/payments/verify/{reference}"))
        .await;
    r.assert_status(200);
    r.data().clone()
}

/// Pays a booking with a signed `charge.success`; returns Paystack's transaction id.
async fn pay(app: &TestApp, fake: &Fake, p: &Pending, reference: &str) -> i64 {
    let txn = fake.txn(reference);
    fake.set_txn(reference, |t| t.status = "success".into());
    let body = charge_success(reference, txn.id, txn.amount, &txn.currency);
    deliver(app, &body, Some(&sign(&body)))
        .await
        .assert_status(200);
    assert_eq!(booking(app, p).await["status"], "CONFIRMED");
    txn.id
}

fn assert_authorized_json(seen: &Seen) {
    assert_eq!(
        seen.authorization.as_deref(),
        Some(format!("Bearer {SECRET}").as_str()),
        "{seen:?}"
    );
    assert!(
        seen.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json")),
        "{seen:?}"
    );
}

// Tests.

async fn initiate_sends_paystack_the_exact_initialize_request(app: TestApp) {
    let (app, fake) = paystack_app(app).await;
    let r = app.get("/api/payments/gateways").await;
    r.assert_status(200);
    let paystack = r
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gateway"] == "paystack")
        .cloned()
        .unwrap();
    assert_eq!(
        paystack,
        json!({"gateway": "paystack", "enabled": true, "default": true})
    );

    let p = pending_booking(&app, "NGN").await;
    let email = booking(&app, &p).await["customerEmail"]
        .as_str()
        .unwrap()
        .to_string();
    let callback = format!("{}/done?from=app", app.state.config.public_base_url);
    // No `gateway`: PAYMENT_GATEWAY=paystack decides.
    let r = app
        .post_as(
            &p.buyer,
            "/api/payments/initiate",
            &json!({"bookingId": p.booking, "callbackUrl": callback}),
        )
        .await;
    r.assert_status(201);
    let reference = r.data()["reference"].as_str().unwrap().to_string();
    assert_eq!(r.data()["gateway"], "paystack");
    assert_eq!(r.data()["amount"], 500_000);
    assert_eq!(r.data()["currency"], "NGN");
    assert_eq!(
        r.data()["authorizationUrl"],
        Fake::authorization_url(&reference).as_str()
    );

    let seen = fake.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let init = &seen[0];
    assert_eq!(
        (init.method.as_str(), init.path.as_str()),
        ("POST", "/transaction/initialize")
    );
    assert_authorized_json(init);
    assert_eq!(init.body["email"], email.as_str());
    assert!(init.body["amount"].is_i64(), "an integer: {}", init.body);
    assert_eq!(init.body["amount"], 500_000, "5,000.00 NGN in kobo");
    assert_eq!(init.body["currency"], "NGN");
    assert_eq!(init.body["reference"], reference.as_str());
    assert_eq!(init.body["callback_url"], callback.as_str());
    assert!(init.body["metadata"].is_object(), "{}", init.body);
    assert_eq!(
        stored(&app, &reference).await.status,
        PaymentStatus::Pending
    );

    // The pending checkout is returned again without asking Paystack for another.
    let again = app
        .post_as(
            &p.buyer,
            "/api/payments/initiate",
            &json!({"bookingId": p.booking}),
        )
        .await;
    again.assert_status(200);
    assert_eq!(again.data()["reference"], reference.as_str());
    assert_eq!(
        again.data()["authorizationUrl"],
        r.data()["authorizationUrl"]
    );
    assert_eq!(fake.requests().len(), 1);

    // The CFA franc has no minor unit, but Paystack counts it in hundredths; without a
    // callback the buyer comes back to the booking's page.
    let xof = pending_booking(&app, "XOF").await;
    let reference = initiate(&app, &xof).await;
    let init = fake.requests().pop().unwrap();
    assert_eq!(init.body["reference"], reference.as_str());
    assert_eq!(init.body["currency"], "XOF");
    assert_eq!(init.body["amount"], 50_000_000, "500,000 XOF in hundredths");
    assert_eq!(
        init.body["callback_url"],
        format!(
            "{}/bookings/{}",
            app.state.config.public_base_url, xof.booking
        )
        .as_str()
    );

    // A currency Paystack does not take is refused before Paystack is asked.
    let eur = pending_booking(&app, "EUR").await;
    let r = app
        .post_as(
            &eur.buyer,
            "/api/payments/initiate",
            &json!({"bookingId": eur.booking}),
        )
        .await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "gateway");
    assert_eq!(fake.requests().len(), 2);
}

async fn a_signed_paystack_webhook_confirms_once_and_forgeries_change_nothing(app: TestApp) {
    let (app, fake) = paystack_app(app).await;
    let p = pending_booking(&app, "NGN").await;
    let reference = initiate(&app, &p).await;
    let txn = fake.txn(&reference);
    let body = charge_success(&reference, txn.id, 500_000, "NGN");

    let tampered = charge_success(&reference, txn.id, 500_000, "NGN")
        .iter()
        .copied()
        .chain(*b" ")
        .collect::<Vec<u8>>();
    for (what, body, signature) in [
        ("missing", body.clone(), None),
        (
            "another key's",
            body.clone(),
            Some(sign_with("sk_test_other", &body)),
        ),
        ("another body's", tampered, Some(sign(&body))),
        ("garbage", body.clone(), Some("not-hex".to_string())),
    ] {
        let r = deliver(&app, &body, signature.as_deref()).await;
        assert_eq!(r.status.as_u16(), 401, "{what} signature: {}", r.text);
        r.assert_error(401, "UNAUTHORIZED");
    }
    assert_eq!(
        stored(&app, &reference).await.status,
        PaymentStatus::Pending
    );
    assert_eq!(booking(&app, &p).await["status"], "PENDING");
    assert_eq!(counters(&app, p.ticket_type).await.1, 0);
    assert_eq!(webhook_events(&app).await, 0);

    deliver(&app, &body, Some(&sign(&body)))
        .await
        .assert_status(200);
    let b = booking(&app, &p).await;
    assert_eq!(b["status"], "CONFIRMED");
    assert_eq!(b["tickets"].as_array().unwrap().len(), 1);
    let paid = stored(&app, &reference).await;
    assert_eq!(paid.status, PaymentStatus::Success);
    assert_eq!(
        paid.gateway_reference.as_deref(),
        Some(txn.id.to_string().as_str()),
        "Paystack's transaction id, for refunds"
    );
    assert_eq!(counters(&app, p.ticket_type).await.1, 1);

    // The same delivery again: acknowledged, nothing changes.
    deliver(&app, &body, Some(&sign(&body)))
        .await
        .assert_status(200);
    let again = stored(&app, &reference).await;
    assert_eq!(again.status, PaymentStatus::Success);
    assert_eq!(again.paid_at, paid.paid_at);
    assert_eq!(counters(&app, p.ticket_type).await.1, 1, "confirmed once");
    assert_eq!(webhook_events(&app).await, 1, "stored once by event + id");

    // An event about something else is acknowledged without effect.
    let other = serde_json::to_vec(&json!({
        "event": "refund.processed",
        "data": {"status": "processed", "transaction_reference": reference, "refund_reference": "RF-1", "amount": "100000", "currency": "NGN"}
    }))
    .unwrap();
    deliver(&app, &other, Some(&sign(&other)))
        .await
        .assert_status(200);
    let after = stored(&app, &reference).await;
    assert_eq!(
        (after.status, after.refunded_amount),
        (PaymentStatus::Success, 0)
    );
    // A signed success is trusted as it stands: Paystack was not asked.
    assert!(
        fake.requests_to("GET", &format!("/transaction/verify/{reference}"))
            .is_empty()
    );
}

async fn verify_asks_paystack_and_confirms_only_a_success(app: TestApp) {
    let (app, fake) = paystack_app(app).await;
    let p = pending_booking(&app, "NGN").await;
    let reference = initiate(&app, &p).await;
    let path = format!("/transaction/verify/{reference}");

    // Opened but not paid, then in progress: still pending.
    for status in ["abandoned", "ongoing", "pending"] {
        fake.set_txn(&reference, |t| t.status = status.into());
        let v = verify(&app, &p, &reference).await;
        assert_eq!(v["status"], "PENDING", "{status}");
        assert_eq!(booking(&app, &p).await["status"], "PENDING", "{status}");
    }
    let asked = fake.requests_to("GET", &path);
    assert_eq!(asked.len(), 3);
    for seen in &asked {
        assert_eq!(
            seen.authorization.as_deref(),
            Some(format!("Bearer {SECRET}").as_str())
        );
    }

    fake.set_txn(&reference, |t| {
        t.status = "success".into();
        t.gateway_response = "Approved".into();
    });
    let v = verify(&app, &p, &reference).await;
    assert_eq!(v["status"], "SUCCESS");
    assert!(v["paidAt"].is_string());
    let b = booking(&app, &p).await;
    assert_eq!(b["status"], "CONFIRMED");
    assert_eq!(b["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(counters(&app, p.ticket_type).await.1, 1);
    assert_eq!(
        stored(&app, &reference).await.gateway_reference,
        Some(fake.txn(&reference).id.to_string())
    );
    // Settled: a further verify answers from storage.
    assert_eq!(verify(&app, &p, &reference).await["status"], "SUCCESS");
    assert_eq!(fake.requests_to("GET", &path).len(), 4);

    // A declined charge fails the payment; the booking keeps its hold.
    let declined = pending_booking(&app, "NGN").await;
    let reference = initiate(&app, &declined).await;
    fake.set_txn(&reference, |t| {
        t.status = "failed".into();
        t.gateway_response = "Declined by the issuer".into();
    });
    let v = verify(&app, &declined, &reference).await;
    assert_eq!(v["status"], "FAILED");
    assert_eq!(v["failureReason"], "Declined by the issuer");
    assert_eq!(booking(&app, &declined).await["status"], "PENDING");
}

async fn an_amount_or_currency_paystack_reports_differently_is_not_applied(app: TestApp) {
    let (app, fake) = paystack_app(app).await;
    let p = pending_booking(&app, "NGN").await;
    let reference = initiate(&app, &p).await;
    let txn = fake.txn(&reference);
    let unchanged = |label: &'static str| {
        let app = &app;
        let p = &p;
        let reference = reference.clone();
        async move {
            assert_eq!(
                stored(app, &reference).await.status,
                PaymentStatus::Pending,
                "{label}"
            );
            assert_eq!(booking(app, p).await["status"], "PENDING", "{label}");
            assert_eq!(counters(app, p.ticket_type).await.1, 0, "{label}");
        }
    };

    // 5,000 naira sent as if it were kobo: 50.00 NGN.
    let body = charge_success(&reference, txn.id, 5_000, "NGN");
    deliver(&app, &body, Some(&sign(&body)))
        .await
        .assert_status(200);
    unchanged("webhook amount").await;
    let body = charge_success(&reference, txn.id, 500_000, "GHS");
    deliver(&app, &body, Some(&sign(&body)))
        .await
        .assert_status(200);
    unchanged("webhook currency").await;

    fake.set_txn(&reference, |t| {
        t.status = "success".into();
        t.currency = "GHS".into();
    });
    assert_eq!(verify(&app, &p, &reference).await["status"], "PENDING");
    unchanged("verify currency").await;
    fake.set_txn(&reference, |t| {
        t.currency = "NGN".into();
        t.amount = 499_999;
    });
    assert_eq!(verify(&app, &p, &reference).await["status"], "PENDING");
    unchanged("verify amount").await;

    // Paystack's right word still applies afterwards.
    fake.set_txn(&reference, |t| t.amount = 500_000);
    assert_eq!(verify(&app, &p, &reference).await["status"], "SUCCESS");
    assert_eq!(booking(&app, &p).await["status"], "CONFIRMED");
}

async fn a_refund_by_the_event_owner_sends_paystack_the_exact_refund_request(app: TestApp) {
    let (app, fake) = paystack_app(app).await;
    let p = pending_booking(&app, "NGN").await;
    let reference = initiate(&app, &p).await;
    let txn_id = pay(&app, &fake, &p, &reference).await;
    let payment = stored(&app, &reference).await;
    let path = format!("/api/payments/{}/refund", payment.id);

    fake.set_refund_status("processed");
    let before = fake.requests().len();
    let r = app
        .post_as(
            &p.organizer,
            &path,
            &json!({"amount": 100_000, "reason": "Goodwill"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "PARTIALLY_REFUNDED");
    assert_eq!(r.data()["refundedAmount"], 100_000);
    assert_eq!(booking(&app, &p).await["status"], "CONFIRMED");
    let seen = fake.requests()[before..].to_vec();
    assert_eq!(seen.len(), 2, "{seen:?}");
    // First a look for an earlier attempt with the same key, then the refund itself.
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/refund")
    );
    assert_eq!(seen[0].query.get("transaction"), Some(&txn_id.to_string()));
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {SECRET}").as_str())
    );
    let post = &seen[1];
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/refund")
    );
    assert_authorized_json(post);
    assert_eq!(post.body["transaction"], txn_id.to_string().as_str());
    assert!(post.body["amount"].is_i64(), "{}", post.body);
    assert_eq!(post.body["amount"], 100_000, "1,000.00 NGN in kobo");
    assert_eq!(post.body["currency"], "NGN");
    let key = post.body["merchant_note"].as_str().unwrap().to_string();
    let refund_id: Uuid = key
        .strip_prefix("refund-")
        .expect("the idempotency key")
        .parse()
        .unwrap();

    // The rest: Paystack makes the refund but its answer is lost on the way back.
    fake.set_refund_status("pending");
    fake.lose_refund_answers(true);
    let r = app
        .post_as(&p.organizer, &path, &json!({"reason": "Event moved"}))
        .await;
    r.assert_status(202);
    assert_eq!(r.data()["status"], "PARTIALLY_REFUNDED");
    assert_eq!(r.data()["refundedAmount"], 100_000);
    let posts = fake.requests_to("POST", "/refund");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].body["amount"], 400_000);
    let second_key = posts[1].body["merchant_note"].as_str().unwrap().to_string();
    assert_ne!(
        second_key,
        format!("refund-{refund_id}"),
        "one key per refund"
    );

    // The reconciliation job retries it with the same key once Paystack has processed it: the
    // retry finds the refund already made and follows it instead of asking for the money again.
    fake.lose_refund_answers(false);
    fake.process_refunds();
    let pending = app
        .state
        .store
        .pending_refunds(Utc::now() + Duration::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].amount, 400_000);
    assert_eq!(second_key, format!("refund-{}", pending[0].id));
    let current = stored(&app, &reference).await;
    let after = ticketmax::payments::flows::execute_refund(&app.state, &current, &pending[0])
        .await
        .unwrap();
    assert_eq!(after.status, PaymentStatus::Refunded);
    assert_eq!(after.refunded_amount, 500_000);
    assert_eq!(
        fake.requests_to("POST", "/refund").len(),
        2,
        "money moved once per refund"
    );
    assert_eq!(booking(&app, &p).await["status"], "REFUNDED");

    // A refund Paystack accepts to settle later answers 202, and a retry asks for no more money.
    let later = pending_booking(&app, "NGN").await;
    let reference = initiate(&app, &later).await;
    pay(&app, &fake, &later, &reference).await;
    let payment = stored(&app, &reference).await;
    let r = app
        .post_as(
            &later.organizer,
            &format!("/api/payments/{}/refund", payment.id),
            &json!({"amount": 250_000, "reason": "Half back"}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.data()["status"], "SUCCESS");
    assert_eq!(r.data()["refundedAmount"], 0);
    assert_eq!(fake.requests_to("POST", "/refund").len(), 3);
    assert_eq!(
        fake.requests_to("POST", "/refund")[2].body["amount"],
        250_000
    );
    for refund in app
        .state
        .store
        .pending_refunds(Utc::now() + Duration::seconds(1), 10)
        .await
        .unwrap()
    {
        let current = app
            .state
            .store
            .payment_by_id(refund.payment_id)
            .await
            .unwrap()
            .unwrap();
        let _ = ticketmax::payments::flows::execute_refund(&app.state, &current, &refund).await;
    }
    assert_eq!(fake.requests_to("POST", "/refund").len(), 3);
    let now = stored(&app, &reference).await;
    assert_eq!(
        (now.status, now.refunded_amount),
        (PaymentStatus::Success, 0)
    );
}

async fn a_paystack_outage_during_a_refund_answers_202_and_changes_nothing(app: TestApp) {
    let (app, fake) = paystack_app(app).await;
    let p = pending_booking(&app, "NGN").await;
    let reference = initiate(&app, &p).await;
    pay(&app, &fake, &p, &reference).await;
    let payment = stored(&app, &reference).await;
    let path = format!("/api/payments/{}/refund", payment.id);

    fake.set_refund_status("processed");
    for (method, route) in [("GET", "/refund"), ("POST", "/refund")] {
        fake.fail(method, route, true);
        let r = app
            .post_as(
                &p.organizer,
                &path,
                &json!({"amount": 100_000, "reason": "Goodwill"}),
            )
            .await;
        r.assert_status(202);
        assert_eq!(r.data()["status"], "SUCCESS", "{method} {route}");
        assert_eq!(r.data()["refundedAmount"], 0, "{method} {route}");
        let now = stored(&app, &reference).await;
        assert_eq!(
            (now.status, now.refunded_amount),
            (PaymentStatus::Success, 0)
        );
        assert_eq!(booking(&app, &p).await["status"], "CONFIRMED");
        fake.fail(method, route, false);
    }
    // Failing the list, the gateway did not go on to ask for the money blind.
    assert_eq!(fake.requests_to("POST", "/refund").len(), 1);

    // Paystack is back: each pending refund is retried once and settles once.
    let pending = app
        .state
        .store
        .pending_refunds(Utc::now() + Duration::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 2);
    for refund in &pending {
        let current = stored(&app, &reference).await;
        ticketmax::payments::flows::execute_refund(&app.state, &current, refund)
            .await
            .unwrap();
    }
    let after = stored(&app, &reference).await;
    assert_eq!(after.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(after.refunded_amount, 200_000);
    assert_eq!(fake.requests_to("POST", "/refund").len(), 3);
}

async fn a_paystack_webhook_racing_verify_applies_once(app: TestApp) {
    let (app, fake) = paystack_app(app).await;
    for _ in 0..3 {
        let p = pending_booking(&app, "NGN").await;
        let reference = initiate(&app, &p).await;
        fake.set_txn(&reference, |t| t.status = "success".into());
        let txn = fake.txn(&reference);
        let body = charge_success(&reference, txn.id, txn.amount, "NGN");
        let signature = sign(&body);
        let verify_path = format!("/api/payments/verify/{reference}");
        let (hook, verified) = tokio::join!(
            deliver(&app, &body, Some(&signature)),
            app.get_as(&p.buyer, &verify_path)
        );
        hook.assert_status(200);
        verified.assert_status(200);
        assert_eq!(counters(&app, p.ticket_type).await.1, 1, "sold once");
        let b = booking(&app, &p).await;
        assert_eq!(b["status"], "CONFIRMED");
        assert_eq!(b["tickets"].as_array().unwrap().len(), 1);
        let paid = stored(&app, &reference).await;
        assert_eq!(
            (paid.status, paid.refunded_amount),
            (PaymentStatus::Success, 0)
        );
    }
}

async fn a_pending_paystack_refund_is_followed_until_processed(app: TestApp) {
    let (app, fake) = paystack_app(app).await;
    let p = pending_booking(&app, "NGN").await;
    let reference = initiate(&app, &p).await;
    pay(&app, &fake, &p, &reference).await;
    let payment = stored(&app, &reference).await;

    fake.set_refund_status("pending");
    let r = app
        .post_as(
            &p.organizer,
            &format!("/api/payments/{}/refund", payment.id),
            &json!({"amount": 150_000, "reason": "Goodwill"}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.data()["refundedAmount"], 0);
    let posts = fake.requests_to("POST", "/refund");
    assert_eq!(posts.len(), 1);
    let refund_id = fake.lock().refunds[0]["id"].as_i64().unwrap();
    let status_path = format!("/refund/{refund_id}");

    // Paystack processes it; the job, finding the refund old, asks about it and settles it.
    fake.process_refunds();
    with_pool!(app, pool => {
        sqlx::query("UPDATE refunds SET created_at = $1")
            .bind(Utc::now() - Duration::minutes(5))
            .execute(pool).await.unwrap();
    });
    ticketmax::payments::workers::reconcile(&app.state)
        .await
        .unwrap();
    let after = stored(&app, &reference).await;
    assert_eq!(
        (after.status, after.refunded_amount),
        (PaymentStatus::PartiallyRefunded, 150_000)
    );
    assert_eq!(
        fake.requests_to("POST", "/refund").len(),
        1,
        "money moved once"
    );
    let gets = fake.requests_to("GET", &status_path);
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(
        gets[0].authorization.as_deref(),
        Some(format!("Bearer {SECRET}").as_str())
    );
    // Settled: never asked again.
    ticketmax::payments::workers::reconcile(&app.state)
        .await
        .unwrap();
    assert_eq!(fake.requests_to("GET", &status_path).len(), 1);
    assert_eq!(
        app.state
            .store
            .pending_refunds(Utc::now() + Duration::seconds(1), 10)
            .await
            .unwrap()
            .len(),
        0
    );
}

both_backends!(
    a_pending_paystack_refund_is_followed_until_processed,
    initiate_sends_paystack_the_exact_initialize_request,
    a_signed_paystack_webhook_confirms_once_and_forgeries_change_nothing,
    verify_asks_paystack_and_confirms_only_a_success,
    an_amount_or_currency_paystack_reports_differently_is_not_applied,
    a_refund_by_the_event_owner_sends_paystack_the_exact_refund_request,
    a_paystack_outage_during_a_refund_answers_202_and_changes_nothing,
    a_paystack_webhook_racing_verify_applies_once
);
