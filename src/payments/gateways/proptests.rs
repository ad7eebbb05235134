//! Property tests of the webhook readers, the parsers that take a gateway's (or an attacker's)
//! raw bytes: whatever the headers and the body, a reader answers `Ok` or `Err` without
//! panicking, a body is read only under its exact signature, and one changed byte of a signed
//! body is refused. Cases: `FUZZ_CASES` (default 256; a long run sets e.g. 100000).

use super::*;
use axum::http::{HeaderName, HeaderValue};
use proptest::prelude::*;

const PAYSTACK_KEY: &str = "sk_test_0123456789abcdef";
const STRIPE_SECRET: &str = "whsec_test_secret";
const FLUTTERWAVE_HASH: &str = "a-webhook-hash";
const TEST_KEY: &str = "test-signing-key";

fn client() -> reqwest::Client {
    crate::notify::install_crypto_provider();
    reqwest::Client::new()
}

fn paystack_gateway() -> paystack::Paystack {
    paystack::Paystack::new(
        client(),
        "http://127.0.0.1:9/",
        crate::config::Secret::new(PAYSTACK_KEY),
    )
}

fn stripe_gateway() -> stripe::StripeGateway {
    stripe::StripeGateway::new(client(), "http://127.0.0.1:9/", "sk_test_x", STRIPE_SECRET)
}

fn flutterwave_gateway() -> flutterwave::Flutterwave {
    flutterwave::Flutterwave::new(
        client(),
        "http://127.0.0.1:9/",
        "FLWSECK_TEST-x",
        FLUTTERWAVE_HASH,
    )
}

fn test_gateway() -> test::TestGateway {
    test::TestGateway::new("http://localhost:3000/api", TEST_KEY)
}

fn header(name: &str, value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
    }
    headers
}

/// Bodies a gateway could send: arbitrary bytes, arbitrary JSON values, and objects shaped like
/// each gateway's events with arbitrary leaves.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,24}".prop_map(serde_json::Value::from),
    ];
    let json = leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("event".to_string()),
                    Just("type".to_string()),
                    Just("data".to_string()),
                    Just("object".to_string()),
                    Just("reference".to_string()),
                    Just("tx_ref".to_string()),
                    Just("status".to_string()),
                    Just("amount".to_string()),
                    Just("amount_total".to_string()),
                    Just("currency".to_string()),
                    Just("metadata".to_string()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..8,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        json.prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

/// The same body with one byte changed.
fn tamper(body: &[u8], at: usize, with: u8) -> Option<Vec<u8>> {
    if body.is_empty() {
        return None;
    }
    let mut changed = body.to_vec();
    let at = at % changed.len();
    changed[at] = changed[at].wrapping_add(with.max(1));
    Some(changed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(256)))]

    #[test]
    fn any_header_and_body_is_answered_without_a_panic(
        name in prop_oneof![
            Just(paystack::SIGNATURE_HEADER),
            Just(stripe::SIGNATURE_HEADER),
            Just(flutterwave::HASH_HEADER),
            Just(test::SIGNATURE_HEADER),
        ],
        value in "[ -~]{0,200}",
        body in body(),
    ) {
        let headers = header(name, &value);
        let now = Utc::now();
        let _ = paystack_gateway().webhook(&headers, &body, now);
        let _ = stripe_gateway().webhook(&headers, &body, now);
        let _ = flutterwave_gateway().webhook(&headers, &body, now);
        let _ = test_gateway().webhook(&headers, &body, now);
    }

    #[test]
    fn a_stripe_signature_header_of_any_shape_is_refused_unless_it_signs_the_body(
        t in prop_oneof![any::<i64>().prop_map(|t| t.to_string()), "[0-9a-z=,-]{0,20}"],
        parts in proptest::collection::vec("(v0|v1|t|x)=[0-9a-f]{0,70}", 0..5),
        body in body(),
    ) {
        let value = format!("t={t},{}", parts.join(","));
        prop_assert!(stripe_gateway().webhook(&header(stripe::SIGNATURE_HEADER, &value), &body, Utc::now()).is_err());
    }

    #[test]
    fn a_signed_body_is_read_only_under_its_own_signature(
        body in body(),
        at in any::<usize>(),
        with in any::<u8>(),
    ) {
        let now = Utc::now();
        let paystack = paystack_gateway();
        let signed = header(paystack::SIGNATURE_HEADER, &paystack::signature(PAYSTACK_KEY, &body));
        // Signed: read or refused as unreadable, never a panic.
        let _ = paystack.webhook(&signed, &body, now);
        let stripe = stripe_gateway();
        let stripe_signed = header(
            stripe::SIGNATURE_HEADER,
            &format!("t={},v1={}", now.timestamp(), stripe.sign(now.timestamp(), &body)),
        );
        let _ = stripe.webhook(&stripe_signed, &body, now);
        let test = test_gateway();
        let test_signed = header(test::SIGNATURE_HEADER, &test.sign(&body));
        let _ = test.webhook(&test_signed, &body, now);
        if let Some(changed) = tamper(&body, at, with) {
            prop_assert!(paystack.webhook(&signed, &changed, now).is_err());
            prop_assert!(stripe.webhook(&stripe_signed, &changed, now).is_err());
            prop_assert!(test.webhook(&test_signed, &changed, now).is_err());
        }
    }

    #[test]
    fn a_stripe_signature_older_than_five_minutes_is_refused(age in 301i64..10_000_000, body in body()) {
        let now = Utc::now();
        let stripe = stripe_gateway();
        let then = now.timestamp() - age;
        let value = format!("t={then},v1={}", stripe.sign(then, &body));
        prop_assert!(stripe.webhook(&header(stripe::SIGNATURE_HEADER, &value), &body, now).is_err());
    }

    #[test]
    fn a_flutterwave_hash_other_than_the_configured_one_is_refused(guess in "[ -~]{0,64}", body in body()) {
        prop_assume!(guess != FLUTTERWAVE_HASH);
        prop_assert!(flutterwave_gateway().webhook(&header(flutterwave::HASH_HEADER, &guess), &body, Utc::now()).is_err());
    }
}
