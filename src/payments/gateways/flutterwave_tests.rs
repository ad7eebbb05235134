//! Unit tests of the Flutterwave gateway: signatures, event and status mappings, amounts.
use super::*;

fn gateway() -> Flutterwave {
    crate::notify::install_crypto_provider();
    Flutterwave::new(
        reqwest::Client::new(),
        "http://127.0.0.1:9/",
        "FLWSECK_TEST-x",
        "the-webhook-hash",
    )
}

fn headers(hash: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HASH_HEADER, hash.parse().unwrap());
    h
}

const EVENT: &[u8] = br#"{"event":"charge.completed","data":{"id":285959875,"tx_ref":"PAY-ABC","flw_ref":"FLW-MOCK","amount":5000,"currency":"NGN","status":"successful","customer":{"email":"a@example.com"}}}"#;

#[test]
fn a_webhook_with_the_configured_hash_is_read_and_verified_later() {
    let gw = gateway();
    let event = gw
        .webhook(&headers("the-webhook-hash"), EVENT, Utc::now())
        .unwrap();
    assert_eq!(event.event_id, "charge.completed:285959875");
    assert_eq!(event.reference, "PAY-ABC");
    assert_eq!(event.settlement, None, "the hash proves no amount");
}

#[test]
fn a_webhook_without_the_configured_hash_is_refused() {
    let gw = gateway();
    for wrong in [
        "the-webhook-hasH",
        "the-webhook-has",
        "the-webhook-hash ",
        "",
    ] {
        assert!(
            gw.webhook(&headers(wrong), EVENT, Utc::now()).is_err(),
            "{wrong:?}"
        );
    }
    assert!(gw.webhook(&HeaderMap::new(), EVENT, Utc::now()).is_err());
    // The right hash on a body that is no event is refused too.
    assert!(
        gw.webhook(&headers("the-webhook-hash"), b"{", Utc::now())
            .is_err()
    );
    assert!(
        gw.webhook(
            &headers("the-webhook-hash"),
            br#"{"event":"charge.completed","data":{"tx_ref":"PAY-ABC"}}"#,
            Utc::now()
        )
        .is_err(),
        "no transaction id, no identity"
    );
}

#[test]
fn an_event_about_no_checkout_is_acknowledged_with_no_reference() {
    let body = br#"{"event":"transfer.completed","data":{"id":"77","reference":"x"}}"#;
    let event = gateway()
        .webhook(&headers("the-webhook-hash"), body, Utc::now())
        .unwrap();
    assert_eq!(event.event_id, "transfer.completed:77");
    assert_eq!(event.reference, "");
}

#[test]
fn minor_units_become_exact_major_units() {
    assert_eq!(to_major(500_000, "NGN"), "5000");
    assert_eq!(to_major(500_050, "NGN"), "5000.50");
    assert_eq!(to_major(100_005, "NGN"), "1000.05");
    assert_eq!(to_major(1, "NGN"), "0.01");
    assert_eq!(to_major(0, "NGN"), "0");
    assert_eq!(to_major(1500, "UGX"), "1500");
    assert_eq!(to_major(25_000, "XOF"), "25000");
    assert_eq!(to_major(1234, "KWD"), "1.234");
    assert_eq!(to_major(i64::MAX, "USD"), "92233720368547758.07");
    assert_eq!(
        major_json(999_999, "GHS").unwrap().get(),
        "9999.99",
        "written as a JSON number, digit for digit"
    );
}

#[test]
fn major_units_become_exact_minor_units() {
    assert_eq!(to_minor("5000", "NGN"), Some(500_000));
    assert_eq!(to_minor("5000.5", "NGN"), Some(500_050));
    assert_eq!(to_minor("5000.50", "NGN"), Some(500_050));
    assert_eq!(to_minor("5000.500", "NGN"), Some(500_050));
    assert_eq!(to_minor("0.01", "NGN"), Some(1));
    assert_eq!(to_minor("4999.99", "NGN"), Some(499_999));
    assert_eq!(to_minor("1500", "UGX"), Some(1500));
    assert_eq!(to_minor("1500.0", "RWF"), Some(1500));
    assert_eq!(to_minor("1.234", "KWD"), Some(1234));
    for bad in [
        ("1500.5", "UGX"),
        ("5000.505", "NGN"),
        ("-5", "NGN"),
        ("1e3", "NGN"),
        ("5.", "NGN"),
        (".5", "NGN"),
        ("", "NGN"),
        ("50 00", "NGN"),
        ("99999999999999999999", "NGN"),
    ] {
        assert_eq!(to_minor(bad.0, bad.1), None, "{bad:?}");
    }
    for amount in [1, 9, 10, 99, 100, 101, 123_456_789, 500_000, 500_050] {
        for currency in ["NGN", "UGX", "KWD", "USD"] {
            assert_eq!(
                to_minor(&to_major(amount, currency), currency),
                Some(amount),
                "{amount} {currency}"
            );
        }
    }
}

#[test]
fn amounts_are_read_from_the_raw_json_numbers_and_strings() {
    let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
    assert_eq!(amount_text(&raw("5000.5")).as_deref(), Some("5000.5"));
    assert_eq!(amount_text(&raw("\"5000.50\"")).as_deref(), Some("5000.50"));
    // A value floats cannot hold exactly stays exact.
    assert_eq!(
        to_minor(&amount_text(&raw("90071992547409.93")).unwrap(), "NGN"),
        Some(9_007_199_254_740_993)
    );
}

fn transaction(json: &str) -> Transaction {
    serde_json::from_str(json).unwrap()
}

#[test]
fn a_verified_transaction_maps_to_a_settlement() {
    let paid = transaction(
        r#"{"id":4242,"tx_ref":"PAY-A","status":"successful","amount":5000.5,"charged_amount":5070.5,"currency":"ngn"}"#,
    );
    assert_eq!(
        paid.settlement().unwrap(),
        Settlement::Paid {
            amount: 500_050,
            currency: "NGN".into(),
            gateway_reference: Some("4242".into()),
        }
    );
    let failed = transaction(
        r#"{"id":1,"tx_ref":"PAY-A","status":"failed","amount":5000,"currency":"NGN","processor_response":"Insufficient funds"}"#,
    );
    assert_eq!(
        failed.settlement().unwrap(),
        Settlement::Failed {
            reason: "Flutterwave: Insufficient funds".into()
        }
    );
    let pending = transaction(
        r#"{"id":1,"tx_ref":"PAY-A","status":"pending","amount":5000,"currency":"NGN"}"#,
    );
    assert_eq!(pending.settlement().unwrap(), Settlement::Pending);
    let odd = transaction(
        r#"{"id":1,"tx_ref":"PAY-A","status":"successful","amount":"50.001","currency":"NGN"}"#,
    );
    assert!(
        odd.settlement().is_err(),
        "a fraction of a kobo is no amount"
    );
}

#[test]
fn the_ledger_sends_a_refund_key_once() {
    let mut ledger = RefundLedger::default();
    assert_eq!(ledger.begin("refund-1").unwrap(), None, "first: send");
    assert!(ledger.begin("refund-1").is_err(), "in flight: not again");
    let accepted = RefundOutcome::Pending {
        gateway_reference: Some("9".into()),
    };
    ledger.finish("refund-1", Some(Attempt::Accepted(accepted.clone())));
    assert_eq!(ledger.begin("refund-1").unwrap(), Some(accepted));
    // Refused outright: free to try again.
    assert_eq!(ledger.begin("refund-2").unwrap(), None);
    ledger.finish("refund-2", None);
    assert_eq!(ledger.begin("refund-2").unwrap(), None);
    // No clear answer: never sent again by this process.
    ledger.finish("refund-2", Some(Attempt::Unknown));
    assert!(ledger.begin("refund-2").is_err());
}

#[test]
fn the_currencies_are_flutterwaves() {
    let gw = gateway();
    for c in CURRENCIES {
        assert!(gw.supports_currency(c), "{c}");
    }
    assert!(!gw.supports_currency("JPY"));
    assert!(!gw.supports_currency("ngn"));
}
