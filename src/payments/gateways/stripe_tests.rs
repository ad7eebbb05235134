//! Unit tests of the Stripe gateway: signatures, event and status mappings, amounts.
use super::*;
use serde_json::json;

/// A client (whose TLS needs the process's crypto provider, as the server installs it).
fn client() -> reqwest::Client {
    crate::notify::install_crypto_provider();
    reqwest::Client::new()
}

fn gateway() -> StripeGateway {
    StripeGateway::new(
        client(),
        "http://127.0.0.1:1/",
        "sk_test_x",
        "whsec_test_secret",
    )
}

fn headers(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(SIGNATURE_HEADER, value.parse().unwrap());
    h
}

fn event(kind: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "evt_1", "object": "event", "type": kind, "data": {"object": object}
    }))
    .unwrap()
}

fn session(payment_status: &str) -> Value {
    json!({
        "id": "cs_test_1", "object": "checkout.session", "client_reference_id": "PAY-X",
        "metadata": {"reference": "PAY-X"}, "amount_total": 500000, "currency": "ngn",
        "payment_status": payment_status, "status": "complete", "payment_intent": "pi_1"
    })
}

/// Reads a body signed now.
fn read(gw: &StripeGateway, body: &[u8]) -> WebhookEvent {
    let now = Utc::now();
    let sig = gw.sign(now.timestamp(), body);
    gw.webhook(
        &headers(&format!("t={},v1={sig}", now.timestamp())),
        body,
        now,
    )
    .unwrap()
}

#[test]
fn the_signature_is_the_documented_hmac() {
    // HMAC-SHA256("whsec_test_secret", "1700000000.{}"), computed independently.
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(b"whsec_test_secret").unwrap();
    m.update(b"1700000000.{}");
    assert_eq!(
        gateway().sign(1_700_000_000, b"{}"),
        hex::encode(m.finalize().into_bytes())
    );
    assert_eq!(gateway().sign(1, b"{}").len(), 64);
}

#[test]
fn a_signed_event_is_read_and_forged_stale_or_unsigned_ones_refused() {
    let gw = gateway();
    let body = event("checkout.session.completed", session("paid"));
    let now = Utc::now();
    let t = now.timestamp();
    let good = gw.sign(t, &body);
    assert_eq!(
        gw.webhook(&headers(&format!("t={t},v1={good}")), &body, now)
            .unwrap()
            .event_id,
        "evt_1"
    );
    // Any v1 may match (secret rolling), and v0 or unknown schemes are ignored.
    let several = format!("t={t},v0=abc,v1={},v1={good},x=1", "0".repeat(64));
    assert!(gw.webhook(&headers(&several), &body, now).is_ok());
    let forged = event("checkout.session.completed", {
        let mut s = session("paid");
        s["amount_total"] = json!(1);
        s
    });
    assert!(
        gw.webhook(&headers(&format!("t={t},v1={good}")), &forged, now)
            .is_err()
    );
    // The timestamp is signed: moving it breaks the signature.
    assert!(
        gw.webhook(&headers(&format!("t={},v1={good}", t + 1)), &body, now)
            .is_err()
    );
    // Signed with another secret.
    let other = StripeGateway::new(client(), "", "sk", "whsec_other");
    let theirs = other.sign(t, &body);
    assert!(
        gw.webhook(&headers(&format!("t={t},v1={theirs}")), &body, now)
            .is_err()
    );
    assert!(gw.webhook(&HeaderMap::new(), &body, now).is_err());
    assert!(
        gw.webhook(&headers(&format!("v1={good}")), &body, now)
            .is_err()
    );
    assert!(gw.webhook(&headers(&format!("t={t}")), &body, now).is_err());
    // Outside the 5-minute tolerance, either way; at the edge, accepted.
    for (age, ok) in [(301, false), (-301, false), (300, true), (-300, true)] {
        let t = now.timestamp() - age;
        let sig = gw.sign(t, &body);
        assert_eq!(
            gw.webhook(&headers(&format!("t={t},v1={sig}")), &body, now)
                .is_ok(),
            ok,
            "age {age}"
        );
    }
}

#[test]
fn session_events_map_to_settlements() {
    let gw = gateway();
    let paid = read(&gw, &event("checkout.session.completed", session("paid")));
    assert_eq!(paid.reference, "PAY-X");
    assert_eq!(
        paid.settlement,
        Some(Settlement::Paid {
            amount: 500_000,
            currency: "NGN".into(),
            gateway_reference: Some("pi_1".into()),
        })
    );
    let unpaid = read(&gw, &event("checkout.session.completed", session("unpaid")));
    assert_eq!(unpaid.settlement, Some(Settlement::Pending));
    let later = read(
        &gw,
        &event("checkout.session.async_payment_succeeded", session("paid")),
    );
    assert!(matches!(
        later.settlement,
        Some(Settlement::Paid {
            amount: 500_000,
            ..
        })
    ));
    for kind in [
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    ] {
        let failed = read(&gw, &event(kind, session("unpaid")));
        assert_eq!(failed.reference, "PAY-X");
        assert!(
            matches!(failed.settlement, Some(Settlement::Failed { .. })),
            "{kind}"
        );
    }
    // The reference falls back to client_reference_id.
    let mut bare = session("paid");
    bare["metadata"] = json!({});
    assert_eq!(
        read(&gw, &event("checkout.session.completed", bare)).reference,
        "PAY-X"
    );
    // Other events are acknowledged without effect.
    let other = read(
        &gw,
        &event(
            "payment_intent.succeeded",
            json!({"id": "pi_1", "metadata": {"reference": "PAY-X"}}),
        ),
    );
    assert_eq!(other.settlement, Some(Settlement::Pending));
    let unrelated = read(&gw, &event("customer.created", json!({"id": "cus_1"})));
    assert_eq!(unrelated.reference, "");
    // A JPY session is read in whole yen, a KWD one in fils.
    let mut yen = session("paid");
    yen["currency"] = json!("jpy");
    yen["amount_total"] = json!(1200);
    assert!(matches!(
        read(&gw, &event("checkout.session.completed", yen)).settlement,
        Some(Settlement::Paid { amount: 1200, ref currency, .. }) if currency == "JPY"
    ));
}

#[test]
fn a_signed_but_unreadable_event_is_refused() {
    let gw = gateway();
    let now = Utc::now();
    for body in [
        b"not json".to_vec(),
        event("checkout.session.completed", json!({"no": "id"})),
    ] {
        let sig = gw.sign(now.timestamp(), &body);
        let h = headers(&format!("t={},v1={sig}", now.timestamp()));
        assert!(gw.webhook(&h, &body, now).is_err());
    }
}

#[test]
fn amounts_follow_stripes_units() {
    // Two-decimal and zero-decimal currencies: our minor units are Stripe's.
    assert_eq!(to_stripe_amount(500_000, "NGN"), Ok(500_000));
    assert_eq!(to_stripe_amount(1_050, "usd"), Ok(1_050));
    assert_eq!(to_stripe_amount(1_200, "JPY"), Ok(1_200));
    assert_eq!(to_stripe_amount(5_000, "UGX"), Ok(5_000));
    assert_eq!(to_stripe_amount(7, "XOF"), Ok(7));
    // HUF and TWD charge with two decimals (zero-decimal is for payouts only).
    assert_eq!(to_stripe_amount(12_345, "HUF"), Ok(12_345));
    assert_eq!(to_stripe_amount(12_345, "TWD"), Ok(12_345));
    // ISK: two decimals in the API, whole krónur only.
    assert_eq!(to_stripe_amount(500, "ISK"), Ok(500));
    assert!(to_stripe_amount(550, "ISK").is_err());
    // Three decimals, the last one 0.
    assert_eq!(to_stripe_amount(5_120, "KWD"), Ok(5_120));
    assert!(to_stripe_amount(5_124, "KWD").is_err());
    assert!(to_stripe_amount(0, "NGN").is_err());
    assert!(to_stripe_amount(-5, "NGN").is_err());
    assert!(to_stripe_amount(i64::MAX, "NGN").is_ok());
    // And back.
    assert_eq!(from_stripe_amount(500_000, "ngn"), Some(500_000));
    assert_eq!(from_stripe_amount(1_200, "jpy"), Some(1_200));
    assert_eq!(from_stripe_amount(5_120, "kwd"), Some(5_120));
    assert_eq!(from_stripe_amount(500, "isk"), Some(500));
    // Every currency Stripe takes converts both ways without loss.
    for c in SUPPORTED {
        let step = if *c == "ISK" {
            100
        } else if THREE_DECIMAL.contains(c) {
            10
        } else {
            1
        };
        let stripe = to_stripe_amount(123 * step * 100, c).unwrap();
        assert_eq!(from_stripe_amount(stripe, c), Some(123 * step * 100), "{c}");
    }
}

#[test]
fn stripe_takes_its_presentment_currencies_only() {
    let gw = gateway();
    for c in [
        "NGN", "ngn", "USD", "EUR", "JPY", "KWD", "ISK", "HUF", "TWD", "UGX",
    ] {
        assert!(gw.supports_currency(c), "{c}");
    }
    for c in ["XXX", "IRR", "KPW", "", "US"] {
        assert!(!gw.supports_currency(c), "{c}");
    }
}

#[test]
fn sessions_settle_by_their_payment_status() {
    let read = |v: Value| serde_json::from_value::<Session>(v).unwrap().settlement();
    assert!(matches!(
        read(session("paid")),
        Settlement::Paid { amount: 500_000, ref gateway_reference, .. }
            if gateway_reference.as_deref() == Some("pi_1")
    ));
    assert_eq!(read(session("unpaid")), Settlement::Pending);
    let mut open = session("unpaid");
    open["status"] = json!("open");
    open["payment_intent"] = Value::Null;
    assert_eq!(read(open), Settlement::Pending);
    let mut expired = session("unpaid");
    expired["status"] = json!("expired");
    assert!(matches!(read(expired), Settlement::Failed { .. }));
    // An expanded PaymentIntent still gives its id.
    let mut expanded = session("paid");
    expanded["payment_intent"] = json!({"id": "pi_2", "object": "payment_intent"});
    assert!(matches!(
        read(expanded),
        Settlement::Paid { ref gateway_reference, .. } if gateway_reference.as_deref() == Some("pi_2")
    ));
    // Paid without an amount is not trusted.
    let mut no_amount = session("paid");
    no_amount["amount_total"] = Value::Null;
    assert_eq!(read(no_amount), Settlement::Pending);
}

#[test]
fn refund_statuses_map_to_outcomes() {
    let r = |status: &str| Refund {
        id: "re_1".into(),
        status: status.into(),
        metadata: None,
    };
    assert!(matches!(
        refund_outcome(r("succeeded")),
        Ok(RefundOutcome::Settled { gateway_reference: Some(ref id) }) if id == "re_1"
    ));
    for s in ["pending", "requires_action"] {
        assert!(matches!(
            refund_outcome(r(s)),
            Ok(RefundOutcome::Pending { .. })
        ));
    }
    for s in ["failed", "canceled"] {
        assert!(refund_outcome(r(s)).is_err());
    }
}

#[test]
fn return_urls_keep_the_callbacks_query() {
    assert_eq!(
        with_query("https://shop.example.com/done", "reference=PAY-1"),
        "https://shop.example.com/done?reference=PAY-1"
    );
    assert_eq!(
        with_query("https://shop.example.com/done?from=app", "reference=PAY-1"),
        "https://shop.example.com/done?from=app&reference=PAY-1"
    );
}
