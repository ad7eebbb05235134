//! `POST /api/admin-seed/create-admin` and the admin from `ADMIN_EMAIL`/`ADMIN_PASSWORD`.

use crate::both_backends;
use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::json;

const SEED: &str = "/api/admin-seed/create-admin";

fn body() -> serde_json::Value {
    json!({"email":"Root@Example.com","password":"a-long-password-1","firstName":"Ada","lastName":"Lovelace"})
}

async fn admin_seed_without_configured_token_is_forbidden(app: TestApp) {
    let r = app
        .request(Method::POST, SEED)
        .header("x-seed-token", "x")
        .json(&body())
        .send()
        .await;
    r.assert_error(403, "FORBIDDEN");
}

async fn admin_seed_with_wrong_token_is_forbidden(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("ADMIN_SEED_TOKEN", "right")
        .spawn()
        .await;
    let r = app
        .request(Method::POST, SEED)
        .header("x-seed-token", "wrong")
        .json(&body())
        .send()
        .await;
    r.assert_error(403, "FORBIDDEN");
    let r = app.post(SEED, &body()).await;
    r.assert_error(403, "FORBIDDEN");
}

async fn admin_seed_creates_one_verified_admin_then_conflicts(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("ADMIN_SEED_TOKEN", "right")
        .spawn()
        .await;
    let r = app
        .request(Method::POST, SEED)
        .header("x-seed-token", "right")
        .json(&body())
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["email"], "root@example.com");
    assert_eq!(r.data()["role"], "ADMIN");
    assert_eq!(r.data()["status"], "ACTIVE");
    assert_eq!(r.data()["emailVerified"], true);
    assert!(r.data().get("passwordHash").is_none());
    assert!(!r.text.contains("argon2"));
    let again = app.request(Method::POST, SEED).header("x-seed-token", "right")
        .json(&json!({"email":"other@example.com","password":"a-long-password-1","firstName":"Bob","lastName":"Other"}))
        .send().await;
    again.assert_error(409, "CONFLICT");
}

/// The check for an existing admin and the insert are one transaction: seed requests racing
/// each other create one admin, not one each.
async fn concurrent_seed_requests_create_exactly_one_admin(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("ADMIN_SEED_TOKEN", "right")
        .spawn()
        .await;
    let attempts = (0..6).map(|i| {
        app.request(Method::POST, SEED)
            .header("x-seed-token", "right")
            .json(&json!({
                "email": format!("root{i}@example.com"),
                "password": "a-long-password-1",
                "firstName": "Ada",
                "lastName": "Lovelace",
            }))
            .send()
    });
    let answers = futures_util::future::join_all(attempts).await;
    let created = answers.iter().filter(|r| r.status.as_u16() == 201).count();
    assert_eq!(created, 1, "exactly one seed request creates an admin");
    for r in answers.iter().filter(|r| r.status.as_u16() != 201) {
        r.assert_error(409, "CONFLICT");
    }
    let admins = app
        .state
        .store
        .list_users(
            &ticketmax::users::model::UserFilter {
                role: Some("ADMIN".into()),
                status: None,
                q: None,
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(admins.1, 1, "one admin in storage");
}

async fn admin_seed_validates_fields(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("ADMIN_SEED_TOKEN", "right")
        .spawn()
        .await;
    let r = app
        .request(Method::POST, SEED)
        .header("x-seed-token", "right")
        .json(&json!({"email":"nope","password":"short","firstName":"A","lastName":"Lovelace"}))
        .send()
        .await;
    r.assert_error(400, "VALIDATION_FAILED");
    let fields: Vec<_> = r.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, vec!["email", "password", "firstName"]);
}

async fn admin_from_environment_is_created_once_and_verified(app: TestApp) {
    let store = app.state.store.clone();
    let first = TestApp::builder(app.backend)
        .store(store.clone())
        .env("ADMIN_EMAIL", "boss@example.com")
        .env("ADMIN_PASSWORD", "boss-password-1")
        .spawn()
        .await;
    let row = first
        .state
        .store
        .user_by_email("boss@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.role, "ADMIN");
    assert!(row.email_verified);
    // A second start with the same variables leaves the account alone.
    let second = TestApp::builder(app.backend)
        .store(store)
        .env("ADMIN_EMAIL", "boss@example.com")
        .env("ADMIN_PASSWORD", "boss-password-1")
        .spawn()
        .await;
    let again = second
        .state
        .store
        .user_by_email("boss@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.id, again.id);
}

both_backends!(
    concurrent_seed_requests_create_exactly_one_admin,
    admin_seed_without_configured_token_is_forbidden,
    admin_seed_with_wrong_token_is_forbidden,
    admin_seed_creates_one_verified_admin_then_conflicts,
    admin_seed_validates_fields,
    admin_from_environment_is_created_once_and_verified
);
