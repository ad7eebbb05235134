//! The contract's envelope on every kind of answer, including the ones axum and the layers make.

use crate::both_backends;
use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::json;

const SEED: &str = "/api/admin-seed/create-admin";

async fn seeded_app(backend: crate::helpers::Backend) -> TestApp {
    TestApp::builder(backend)
        .env("ADMIN_SEED_TOKEN", "seed-token")
        .spawn()
        .await
}

async fn unknown_route_returns_404_in_the_error_envelope(app: TestApp) {
    let r = app.get("/api/does-not-exist").await;
    r.assert_error(404, "NOT_FOUND");
}

async fn wrong_method_returns_405_in_the_error_envelope(app: TestApp) {
    let r = app.request(Method::DELETE, "/health").send().await;
    r.assert_error(405, "METHOD_NOT_ALLOWED");
}

async fn success_answers_use_the_success_envelope(app: TestApp) {
    let r = app.get("/health").await;
    r.assert_status(200);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["message"], "OK");
    assert!(r.body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r.data()["status"], "ok");
}

async fn malformed_json_returns_400_validation_failed(app: TestApp) {
    let app = seeded_app(app.backend).await;
    let r = app
        .request(Method::POST, SEED)
        .header("x-seed-token", "seed-token")
        .body("application/json", "{\"email\": ")
        .send()
        .await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "body");
}

async fn unknown_body_field_returns_400_naming_the_field(app: TestApp) {
    let app = seeded_app(app.backend).await;
    let r = app.request(Method::POST, SEED).header("x-seed-token", "seed-token")
        .json(&json!({"email":"a@b.co","password":"password123","firstName":"Ada","lastName":"Lovelace","role":"ADMIN"}))
        .send().await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "role");
}

async fn missing_body_field_returns_400_naming_the_field(app: TestApp) {
    let app = seeded_app(app.backend).await;
    let r = app
        .request(Method::POST, SEED)
        .header("x-seed-token", "seed-token")
        .json(&json!({"email":"a@b.co","password":"password123","firstName":"Ada"}))
        .send()
        .await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "lastName");
}

async fn wrong_content_type_returns_415(app: TestApp) {
    let app = seeded_app(app.backend).await;
    let r = app
        .request(Method::POST, SEED)
        .header("x-seed-token", "seed-token")
        .body("text/plain", "email=a")
        .send()
        .await;
    r.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
}

async fn body_over_one_mebibyte_returns_413(app: TestApp) {
    let app = seeded_app(app.backend).await;
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let r = app
        .request(Method::POST, SEED)
        .header("x-seed-token", "seed-token")
        .body("application/json", big)
        .send()
        .await;
    r.assert_error(413, "PAYLOAD_TOO_LARGE");
}

/// A form an extractor cannot read (here the test checkout's, without its `action`) is refused
/// like any other unreadable input: 400 VALIDATION_FAILED, never axum's bare 422 (found by
/// schemathesis as a 422 carrying the code INTERNAL).
async fn unreadable_form_returns_400_validation_failed(app: TestApp) {
    let r = app
        .request(Method::POST, "/api/payments/test/checkout/PAY-UNKNOWN")
        .body("application/x-www-form-urlencoded", "csrf=")
        .send()
        .await;
    r.assert_error(400, "VALIDATION_FAILED");
}

async fn valid_request_id_is_echoed_and_invalid_one_replaced(app: TestApp) {
    let r = app
        .request(Method::GET, "/health")
        .header("x-request-id", "abc-123.X_y")
        .send()
        .await;
    assert_eq!(r.header("x-request-id"), Some("abc-123.X_y"));
    let r = app
        .request(Method::GET, "/nope")
        .header("x-request-id", "bad id!")
        .send()
        .await;
    let id = r.header("x-request-id").unwrap().to_string();
    assert_ne!(id, "bad id!");
    assert_eq!(r.body["requestId"], id);
}

async fn every_answer_carries_the_security_headers(app: TestApp) {
    for path in ["/health", "/api/nope", "/api"] {
        let r = app.get(path).await;
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            r.header("x-xss-protection"),
            Some("1; mode=block"),
            "{path}"
        );
        assert_eq!(
            r.header("referrer-policy"),
            Some("strict-origin-when-cross-origin"),
            "{path}"
        );
        assert_eq!(
            r.header("permissions-policy"),
            Some("camera=(), microphone=(), geolocation=()"),
            "{path}"
        );
        assert!(
            r.header("strict-transport-security").is_none(),
            "no HSTS in development"
        );
    }
    let page = app.get("/api").await;
    assert!(
        page.header("content-security-policy").is_some(),
        "HTML pages carry a CSP"
    );
}

async fn cors_allows_only_configured_origins(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("CORS_ORIGINS", "https://shop.example")
        .spawn()
        .await;
    let ok = app
        .request(Method::OPTIONS, "/api/events")
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "GET")
        .send()
        .await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    let other = app
        .request(Method::GET, "/health")
        .header("origin", "https://evil.example")
        .send()
        .await;
    assert!(other.header("access-control-allow-origin").is_none());
}

async fn answers_are_compressed_when_the_client_accepts_it(app: TestApp) {
    let r = app
        .request(Method::GET, "/api-json")
        .header("accept-encoding", "gzip")
        .send()
        .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let r = app
        .request(Method::GET, "/api-json")
        .header("accept-encoding", "br")
        .send()
        .await;
    assert_eq!(r.header("content-encoding"), Some("br"));
}

both_backends!(
    unknown_route_returns_404_in_the_error_envelope,
    wrong_method_returns_405_in_the_error_envelope,
    success_answers_use_the_success_envelope,
    malformed_json_returns_400_validation_failed,
    unknown_body_field_returns_400_naming_the_field,
    missing_body_field_returns_400_naming_the_field,
    wrong_content_type_returns_415,
    body_over_one_mebibyte_returns_413,
    unreadable_form_returns_400_validation_failed,
    valid_request_id_is_echoed_and_invalid_one_replaced,
    every_answer_carries_the_security_headers,
    cors_allows_only_configured_origins,
    answers_are_compressed_when_the_client_accepts_it
);
