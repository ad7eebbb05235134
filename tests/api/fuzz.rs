//! Generated input against the routes that parse a client's raw bytes: multipart uploads
//! (event images, onboarding documents), JSON bodies, webhook deliveries and ticket codes.
//! Whatever arrives, the answer is a 4xx in the error envelope (or a success the input earned),
//! never a 5xx; refused webhooks and ticket codes are never accepted, and no generated body
//! holds a seat. Inputs come from proptest strategies;
//! cases per test: `FUZZ_CASES` (default 64; a long run sets e.g. 5000). A failure prints the
//! input that caused it.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};
use ticketmax::users::model::Role;

use crate::both_backends;
use crate::fixtures::{create, event_body};
use crate::helpers::{TestApp, TestResponse};

fn cases() -> usize {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// `cases()` values of a strategy (generated up front: the requests that use them are async).
fn samples<S: Strategy>(strategy: S) -> Vec<S::Value> {
    let mut runner = TestRunner::new(Config::default());
    (0..cases())
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// A refusal in the contract's envelope, or a success: never a server error.
fn assert_answered(r: &TestResponse, input: &dyn std::fmt::Debug) {
    assert!(
        r.status.as_u16() < 500,
        "{} for input {input:?}: {}",
        r.status,
        r.text
    );
    if r.status.as_u16() >= 400 {
        assert_eq!(r.body["success"], false, "{input:?}: {}", r.text);
        assert!(
            r.body["error"]["code"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{input:?}: {}",
            r.text
        );
    }
}

/// One multipart part: a field name, an optional file name, a content type and its bytes.
#[derive(Debug, Clone)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: String,
    bytes: Vec<u8>,
}

/// Bytes that look like the start of an allowed file, or not at all.
fn file_bytes() -> impl Strategy<Value = Vec<u8>> {
    let magic = prop_oneof![
        Just(vec![0xFF, 0xD8, 0xFF]),
        Just(b"\x89PNG\r\n\x1a\n".to_vec()),
        Just(b"RIFF\0\0\0\0WEBPVP8 ".to_vec()),
        Just(b"%PDF-1.7\n".to_vec()),
        Just(b"MZ".to_vec()),
        Just(Vec::new()),
    ];
    (magic, proptest::collection::vec(any::<u8>(), 0..2048)).prop_map(|(mut m, rest)| {
        m.extend(rest);
        m
    })
}

fn part(names: &'static [&'static str]) -> impl Strategy<Value = Part> {
    (
        prop_oneof![
            proptest::sample::select(names).prop_map(String::from),
            "[ -~]{0,16}"
        ],
        proptest::option::of("[ -~]{0,24}"),
        prop_oneof![
            Just("image/png".to_string()),
            Just("application/pdf".to_string()),
            "[ -~]{0,24}",
        ],
        file_bytes(),
    )
        .prop_map(|(name, filename, content_type, bytes)| Part {
            name,
            filename,
            content_type,
            bytes,
        })
}

/// A multipart body: well formed, or cut short, or with a wrong boundary, or raw bytes.
#[derive(Debug, Clone)]
struct Multipart {
    content_type: String,
    body: Vec<u8>,
}

fn multipart(names: &'static [&'static str]) -> impl Strategy<Value = Multipart> {
    let boundary = "[a-zA-Z0-9'()+_,./:=?-]{1,40}";
    (
        boundary,
        proptest::collection::vec(part(names), 0..4),
        0u8..4,
        any::<usize>(),
        proptest::collection::vec(any::<u8>(), 0..256),
    )
        .prop_map(|(boundary, parts, shape, cut, raw)| {
            let mut body = Vec::new();
            for p in &parts {
                body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                let filename = p
                    .filename
                    .as_ref()
                    .map(|f| format!("; filename=\"{f}\""))
                    .unwrap_or_default();
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"{filename}\r\nContent-Type: {}\r\n\r\n",
                        p.name, p.content_type
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(&p.bytes);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            let declared = format!("multipart/form-data; boundary={boundary}");
            match shape {
                // Cut short anywhere.
                1 => {
                    let at = cut % (body.len() + 1);
                    body.truncate(at);
                    Multipart { content_type: declared, body }
                }
                // A boundary the body does not use.
                2 => Multipart {
                    content_type: "multipart/form-data; boundary=other-boundary".into(),
                    body,
                },
                // Bytes that are no multipart at all.
                3 => Multipart { content_type: declared, body: raw },
                _ => Multipart { content_type: declared, body },
            }
        })
}

async fn send(app: &TestApp, token: &str, path: &str, input: &Multipart) -> TestResponse {
    app.request(Method::POST, path)
        .token(token)
        .body(&input.content_type, input.body.clone())
        .send()
        .await
}

async fn any_multipart_upload_is_answered_with_a_4xx_or_stored_whole(app: TestApp) {
    let (_, organizer) = app.create_user(Role::Organizer).await;
    let event = create(&app, &organizer, &event_body("Uploads", 30)).await;
    let image_path = format!("/api/events/{}/image", event["id"].as_str().unwrap());
    let (_, applicant) = app.create_user(Role::User).await;
    let started = app
        .post_as(&applicant, "/api/organizer/onboarding/start", &json!({}))
        .await;
    started.assert_status(201);
    let documents_path = format!(
        "/api/organizer/onboarding/{}/documents",
        started.data()["id"].as_str().unwrap()
    );

    for input in samples(multipart(&["image"])) {
        let r = send(&app, &organizer, &image_path, &input).await;
        assert_answered(&r, &input);
        if r.status.as_u16() < 300 {
            // Only a real image is kept, and the event then shows it.
            assert!(r.data()["imageUrl"].is_string(), "{input:?}: {}", r.text);
        }
    }
    for input in samples(multipart(&[
        "identityDocument",
        "businessRegistration",
        "proofOfAddress",
        "bankStatement",
    ])) {
        let r = send(&app, &applicant, &documents_path, &input).await;
        assert_answered(&r, &input);
    }
}

/// Bytes that are JSON-ish: arbitrary values of the right keys, or raw bytes.
fn json_bytes(keys: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let object = proptest::collection::btree_map(proptest::sample::select(keys), value, 0..8)
        .prop_map(|m| {
            serde_json::to_vec(&Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            ))
            .unwrap()
        });
    prop_oneof![
        3 => object,
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

async fn any_json_body_is_answered_with_a_4xx_or_a_success(app: TestApp) {
    let (_, organizer) = app.create_user(Role::Organizer).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let event = create(&app, &organizer, &event_body("Bodies", 30)).await;
    let booking_keys: &'static [&'static str] = &[
        "eventId",
        "ticketTypeId",
        "quantity",
        "customerEmail",
        "customerName",
        "customerPhone",
        "specialRequests",
    ];
    let routes: [(&str, &str, &'static [&'static str]); 5] = [
        (
            "/api/events",
            organizer.as_str(),
            &[
                "title",
                "description",
                "category",
                "tags",
                "venue",
                "location",
                "startsAt",
                "endsAt",
                "currency",
                "status",
                "ticketTypes",
                "price",
                "totalTickets",
            ],
        ),
        ("/api/bookings", buyer.as_str(), booking_keys),
        ("/api/bookings/guest", "", booking_keys),
        (
            "/api/user/register",
            "",
            &[
                "firstName",
                "lastName",
                "email",
                "password",
                "phone",
                "dateOfBirth",
                "bio",
                "address",
                "preferences",
            ],
        ),
        (
            "/api/payments/initiate",
            buyer.as_str(),
            &["bookingId", "gateway", "callbackUrl"],
        ),
    ];
    for (path, token, keys) in routes {
        for bytes in samples(json_bytes(keys)) {
            let mut request = app
                .request(Method::POST, path)
                .body("application/json", bytes.clone());
            if !token.is_empty() {
                request = request.token(token);
            }
            let r = request.send().await;
            assert_answered(&r, &(path, String::from_utf8_lossy(&bytes)));
        }
    }
    // Nothing generated can be a valid hold of this event's type (its ids are not guessable),
    // so its counters are untouched.
    let after = app
        .get(&format!("/api/events/{}", event["id"].as_str().unwrap()))
        .await;
    assert_eq!(after.data()["ticketsHeld"], 0, "{}", after.text);
    assert_eq!(after.data()["ticketsSold"], 0, "{}", after.text);
}

async fn a_webhook_of_any_bytes_is_refused(app: TestApp) {
    const HEADERS: [&str; 4] = [
        "x-paystack-signature",
        "verif-hash",
        "stripe-signature",
        "x-test-signature",
    ];
    let inputs = samples((
        proptest::sample::select(&["paystack", "flutterwave", "stripe"][..]),
        proptest::sample::select(&HEADERS[..]),
        "[ -~]{0,120}",
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..512),
            json_bytes(&[
                "event",
                "type",
                "id",
                "data",
                "reference",
                "status",
                "amount"
            ]),
        ],
    ));
    for (gateway, header, value, body) in inputs {
        let r = app
            .request(Method::POST, &format!("/api/payments/webhook/{gateway}"))
            .header(header, &value)
            .body("application/json", body.clone())
            .send()
            .await;
        let input = (gateway, header, &value, String::from_utf8_lossy(&body));
        assert_answered(&r, &input);
        // No gateway key is configured here or none signs these bytes: never accepted.
        assert!(
            r.status.as_u16() >= 400,
            "{input:?} was accepted: {}",
            r.text
        );
    }
}

async fn a_ticket_code_of_any_text_is_refused_without_a_5xx(app: TestApp) {
    let (_, organizer) = app.create_user(Role::Organizer).await;
    let codes = samples(prop_oneof![
        "[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{0,60}",
        "[23456789abcdefghjkmnpqrstuvwxyz]{42}",
        "\\PC{0,80}",
    ]);
    for code in codes {
        for path in ["/api/checkin/verify", "/api/checkin"] {
            let r = app.post_as(&organizer, path, &json!({"code": code})).await;
            assert_answered(&r, &(path, &code));
            assert!(
                r.status.as_u16() >= 400,
                "{path} accepted {code:?}: {}",
                r.text
            );
        }
    }
}

both_backends!(
    any_multipart_upload_is_answered_with_a_4xx_or_stored_whole,
    any_json_body_is_answered_with_a_4xx_or_a_success,
    a_webhook_of_any_bytes_is_refused,
    a_ticket_code_of_any_text_is_refused_without_a_5xx
);
