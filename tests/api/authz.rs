//! The route × role table: every route of the OpenAPI document is called as anonymous, USER,
//! ORGANIZER, ADMIN and "other owner" (a USER acting on another user's resource), and must give
//! the contract's answer. A route without an entry (or an entry without a route) fails the test,
//! so a new route cannot ship without deciding who may call it.
//!
//! `A` = allowed (the answer is neither 401 nor 403: the request reached the route's own rules,
//! e.g. 200, 400 for the empty body, 409 for a state conflict), `U` = 401, `F` = 403,
//! `O` = 403 `ORGANIZER_NOT_APPROVED`, `N` = 404 (a resource the caller may not know about).

use std::collections::BTreeSet;

use crate::both_backends;
use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::json;
use ticketmax::users::model::{NewUser, Role, UserStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    A,
    U,
    F,
    /// 403 `ORGANIZER_NOT_APPROVED`.
    O,
    N,
}
use Want::*;

/// (method, path, [anonymous, USER, ORGANIZER, ADMIN, other owner]).
///
/// The resources: the ORGANIZER owns a published event (with a booked ticket type); the USER owns
/// a pending paid booking and a confirmed free one (with a ticket) on it; "other owner" is a
/// second ORGANIZER who owns none of these. The event's organizer may read its bookings, so they
/// get 403 (not 404) where only the buyer may act. Destructive entries come last so that earlier ones
/// still find their resources.
const TABLE: &[(&str, &str, [Want; 5])] = &[
    ("GET", "/health", [A, A, A, A, A]),
    ("GET", "/health/database", [A, A, A, A, A]),
    ("GET", "/health/services", [A, A, A, A, A]),
    ("GET", "/metrics", [A, A, A, A, A]),
    ("POST", "/api/admin-seed/create-admin", [F, F, F, F, F]),
    ("POST", "/api/user/register", [A, A, A, A, A]),
    ("POST", "/api/user/verify-email", [A, A, A, A, A]),
    ("POST", "/api/user/resend-verification", [A, A, A, A, A]),
    ("POST", "/api/user/login", [A, A, A, A, A]),
    ("POST", "/api/user/refresh", [A, A, A, A, A]),
    ("POST", "/api/user/forgot-password", [A, A, A, A, A]),
    ("POST", "/api/user/reset-password", [A, A, A, A, A]),
    ("POST", "/api/user/change-password", [U, A, A, A, A]),
    ("GET", "/api/user/profile", [U, A, A, A, A]),
    ("PATCH", "/api/user/profile", [U, A, A, A, A]),
    ("GET", "/api/user/favorites", [U, A, A, A, A]),
    ("POST", "/api/user/phone/send-code", [U, A, A, A, A]),
    ("POST", "/api/user/phone/verify", [U, A, A, A, A]),
    ("GET", "/api/user", [U, F, F, A, F]),
    ("GET", "/api/user/{id}", [U, A, A, A, F]),
    ("PATCH", "/api/user/{id}/role", [U, F, F, A, F]),
    ("PATCH", "/api/user/{id}/status", [U, F, F, A, F]),
    ("GET", "/api/admin/blocked-ips", [U, F, F, A, F]),
    ("DELETE", "/api/admin/blocked-ips/{ip}", [U, F, F, A, F]),
    ("GET", "/api/admin/audit-log", [U, F, F, A, F]),
    ("GET", "/api/admin/notifications", [U, F, F, A, F]),
    ("GET", "/api/dashboard/stats", [U, A, A, A, A]),
    ("GET", "/api/dashboard/analytics/revenue", [U, A, A, A, A]),
    ("GET", "/api/dashboard/analytics/events", [U, A, A, A, A]),
    (
        "GET",
        "/api/dashboard/analytics/categories",
        [U, A, A, A, A],
    ),
    ("GET", "/api/dashboard/export", [U, A, A, A, A]),
    ("POST", "/api/dashboard/updates/ticket", [U, A, A, A, A]),
    // Authenticated by a single-use ticket, never by a bearer token: without one, 401 for all.
    ("GET", "/api/dashboard/updates", [U, U, U, U, U]),
    ("GET", "/api/events", [A, A, A, A, A]),
    ("GET", "/api/events/featured", [A, A, A, A, A]),
    ("GET", "/api/events/categories", [A, A, A, A, A]),
    ("GET", "/api/events/category/{category}", [A, A, A, A, A]),
    ("GET", "/api/events/{id}", [A, A, A, A, A]),
    ("GET", "/api/events/{id}/availability", [A, A, A, A, A]),
    (
        "GET",
        "/api/events/{id}/availability/stream",
        [A, A, A, A, A],
    ),
    ("GET", "/api/events/{id}/bookings", [U, N, A, A, N]),
    ("POST", "/api/events", [U, O, A, A, A]),
    ("PATCH", "/api/events/{id}", [U, F, A, A, F]),
    ("POST", "/api/events/{id}/ticket-types", [U, F, A, A, F]),
    (
        "PATCH",
        "/api/events/{id}/ticket-types/{typeId}",
        [U, F, A, A, F],
    ),
    (
        "DELETE",
        "/api/events/{id}/ticket-types/{typeId}",
        [U, F, A, A, F],
    ),
    ("POST", "/api/events/{id}/publish", [U, F, A, A, F]),
    ("POST", "/api/events/{id}/image", [U, F, A, A, F]),
    ("POST", "/api/events/{id}/favorite", [U, A, A, A, A]),
    ("PUT", "/api/events/{id}/favorite", [U, A, A, A, A]),
    ("DELETE", "/api/events/{id}/favorite", [U, A, A, A, A]),
    ("GET", "/api/bookings", [U, A, A, A, A]),
    ("POST", "/api/bookings", [U, A, A, A, A]),
    ("POST", "/api/bookings/guest", [A, A, A, A, A]),
    ("GET", "/api/bookings/stats", [U, A, A, A, A]),
    ("GET", "/api/bookings/{id}", [U, A, A, A, N]),
    (
        "GET",
        "/api/bookings/{id}/tickets/{ticketId}/qr",
        [U, A, N, N, N],
    ),
    ("GET", "/api/bookings/{id}/tickets.pdf", [U, A, A, A, N]),
    ("POST", "/api/payments/initiate", [U, A, A, A, A]),
    ("GET", "/api/payments/verify/{reference}", [U, A, N, A, N]),
    ("POST", "/api/payments/webhook/paystack", [U, U, U, U, U]),
    ("POST", "/api/payments/webhook/flutterwave", [U, U, U, U, U]),
    ("POST", "/api/payments/webhook/stripe", [U, U, U, U, U]),
    ("GET", "/api/payments/history", [U, A, A, A, A]),
    ("GET", "/api/payments/gateways", [A, A, A, A, A]),
    ("GET", "/api/payments/{id}", [U, A, A, A, N]),
    ("POST", "/api/payments/{id}/refund", [U, F, A, A, F]),
    (
        "GET",
        "/api/payments/test/checkout/{reference}",
        [A, A, A, A, A],
    ),
    (
        "POST",
        "/api/payments/test/checkout/{reference}",
        [A, A, A, A, A],
    ),
    ("POST", "/api/checkin/verify", [U, F, A, A, F]),
    ("POST", "/api/checkin", [U, F, A, A, F]),
    ("POST", "/api/organizer/onboarding/start", [U, A, A, A, A]),
    (
        "PATCH",
        "/api/organizer/onboarding/{id}/step",
        [U, A, N, N, N],
    ),
    (
        "POST",
        "/api/organizer/onboarding/{id}/documents",
        [U, A, N, N, N],
    ),
    (
        "GET",
        "/api/organizer/onboarding/{id}/status",
        [U, A, N, A, N],
    ),
    (
        "POST",
        "/api/organizer/onboarding/{id}/submit",
        [U, A, N, N, N],
    ),
    ("GET", "/api/organizer/me", [U, A, A, A, A]),
    (
        "GET",
        "/api/organizer/{id}/documents/{type}",
        [U, A, N, A, N],
    ),
    ("GET", "/api/organizer/admin/applications", [U, F, F, A, F]),
    ("POST", "/api/organizer/admin/{id}/approve", [U, F, F, A, F]),
    ("POST", "/api/organizer/admin/{id}/reject", [U, F, F, A, F]),
    (
        "POST",
        "/api/organizer/admin/{id}/request-info",
        [U, F, F, A, F],
    ),
    ("POST", "/api/bookings/{id}/confirm", [U, A, A, A, N]),
    ("POST", "/api/bookings/{id}/cancel", [U, A, F, A, N]),
    ("DELETE", "/api/bookings/{id}", [U, A, F, A, N]),
    ("DELETE", "/api/events/{id}", [U, F, A, A, F]),
    ("POST", "/api/events/{id}/cancel", [U, F, A, A, F]),
    ("POST", "/api/user/logout", [U, A, A, A, A]),
    ("DELETE", "/api/user/{id}", [U, F, F, A, F]),
];

const CALLERS: [&str; 5] = ["anonymous", "USER", "ORGANIZER", "ADMIN", "other organizer"];

/// Every (method, path) the OpenAPI document describes.
async fn documented_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let doc = app.get("/api-json").await.body;
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

async fn every_route_answers_each_role_as_the_contract_says(app: TestApp) {
    let documented = documented_routes(&app).await;
    let table: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes without an entry in the authz table: {missing:?}"
    );
    let stale: Vec<_> = table.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "authz entries for routes that do not exist: {stale:?}"
    );

    let (user_id, user) = app.create_user(Role::User).await;
    let (organizer_id, organizer) = app.create_user(Role::Organizer).await;
    let (_, admin) = app.create_user(Role::Admin).await;
    let (_, other) = app.create_user(Role::Organizer).await;
    let (victim_id, _) = app.create_user(Role::User).await;
    let r = app.post_as(&organizer, "/api/events", &json!({
        "title": "Authz Night", "description": "d", "category": "Music", "location": "Lagos",
        "startsAt": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
        "status": "PUBLISHED",
        "ticketTypes": [{"name": "Paid", "price": 1000, "capacity": 10}, {"name": "Free", "price": 0, "capacity": 10}]
    })).await;
    r.assert_status(201);
    let event_id = r.data()["id"].as_str().unwrap().to_string();
    let paid_type = r.data()["ticketTypes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let free_type = r.data()["ticketTypes"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pending = app
        .post_as(
            &user,
            "/api/bookings",
            &json!({"eventId": event_id, "ticketTypeId": paid_type, "quantity": 1}),
        )
        .await;
    pending.assert_status(201);
    let booking_id = pending.data()["id"].as_str().unwrap().to_string();
    let free = app
        .post_as(
            &user,
            "/api/bookings",
            &json!({"eventId": event_id, "ticketTypeId": free_type, "quantity": 1}),
        )
        .await;
    free.assert_status(201);
    let free_id = free.data()["id"].as_str().unwrap().to_string();
    let ticket_id = free.data()["tickets"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let code = free.data()["tickets"][0]["code"]
        .as_str()
        .unwrap()
        .to_string();

    let payment = app
        .post_as(
            &user,
            "/api/payments/initiate",
            &json!({"bookingId": booking_id, "gateway": "test"}),
        )
        .await;
    payment.assert_status(201);
    let reference = payment.data()["reference"].as_str().unwrap().to_string();
    let payment_id = app
        .get_as(&user, &format!("/api/payments/verify/{reference}"))
        .await
        .data()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The USER's organizer application, with its ID document.
    let application = app
        .post_as(&user, "/api/organizer/onboarding/start", &json!({}))
        .await;
    application.assert_status(201);
    let application_id = application.data()["id"].as_str().unwrap().to_string();
    let boundary = "authz-boundary";
    let upload = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"idDocument\"; filename=\"id.pdf\"\r\n\r\n%PDF-1.7 id\r\n--{boundary}--\r\n"
    );
    app.request(
        Method::POST,
        &format!("/api/organizer/onboarding/{application_id}/documents"),
    )
    .token(&user)
    .body(&format!("multipart/form-data; boundary={boundary}"), upload)
    .send()
    .await
    .assert_status(200);

    let mut failures = Vec::new();
    for (method, path, wants) in TABLE {
        for (i, want) in wants.iter().enumerate() {
            // The id each caller puts in a user `{id}`: its own, or someone else's for the
            // admin (so erasure does not remove the admin) and for "other owner".
            let (token, own_id) = match i {
                0 => (None, victim_id),
                1 => (Some(&user), user_id),
                2 => (Some(&organizer), organizer_id),
                3 => (Some(&admin), victim_id),
                _ => (Some(&other), victim_id),
            };
            let id = if path.starts_with("/api/user/") {
                own_id.to_string()
            } else if path.starts_with("/api/events/") {
                event_id.clone()
            } else if path.starts_with("/api/payments/") {
                payment_id.clone()
            } else if path.starts_with("/api/organizer/") {
                application_id.clone()
            } else if path.contains("{ticketId}") || path.ends_with("/tickets.pdf") {
                free_id.clone()
            } else {
                booking_id.clone()
            };
            let url = path
                .replace("{id}", &id)
                .replace("{typeId}", &paid_type)
                .replace("{ticketId}", &ticket_id)
                .replace("{category}", "music")
                .replace("{reference}", &reference)
                .replace("{ip}", "203.0.113.1")
                .replace("{type}", "idDocument");
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let status = if path.ends_with("/stream") {
                // A live stream never ends: only its status line is read.
                let mut req = app.client.get(format!("{}{url}", app.address));
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                req.send().await.expect("stream request").status().as_u16()
            } else {
                let mut req = app
                    .request(method.clone(), &url)
                    .header("user-agent", "authz-table");
                if let Some(t) = token {
                    req = req.token(t);
                }
                // A valid body where one is needed, so that the role and ownership rules
                // (not body validation) decide the answer.
                if path.starts_with("/api/checkin") {
                    req = req.json(&json!({"code": code}));
                } else if path.ends_with("/ticket-types") {
                    req = req.json(&json!({"name": "Extra", "price": 100, "capacity": 5}));
                } else if path.ends_with("/refund") {
                    req = req.json(&json!({"reason": "authz", "amount": 1}));
                } else if path.ends_with("/step") {
                    req = req.json(&json!({"step": 3, "address": {"city": "Lagos"}}));
                } else if *path == "/api/events/{id}/cancel" {
                    req = req.json(&json!({"reason": "authz"}));
                } else if method != Method::GET && method != Method::DELETE {
                    req = req.json(&json!({}));
                }
                let r = req.send().await;
                let status = r.status.as_u16();
                if *want == O && r.code() != "ORGANIZER_NOT_APPROVED" {
                    failures.push(format!(
                        "{method} {path} as {}: want ORGANIZER_NOT_APPROVED, got {}",
                        CALLERS[i], r.text
                    ));
                }
                status
            };
            let ok = match want {
                A => status != 401 && status != 403,
                U => status == 401,
                F | O => status == 403,
                N => status == 404,
            };
            if !ok {
                failures.push(format!(
                    "{method} {path} as {}: want {want:?}, got {status}",
                    CALLERS[i]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authz table mismatches:\n{}",
        failures.join("\n")
    );
}

async fn a_demoted_organizer_keeps_no_power_over_their_events(app: TestApp) {
    let (org_id, org) = app.create_user(Role::Organizer).await;
    let mut body = crate::fixtures::event_body("Demoted", 30);
    body["ticketTypes"] = json!([
        {"name": "Paid", "price": 500000, "capacity": 10},
        {"name": "Free", "price": 0, "capacity": 10}
    ]);
    let e = crate::fixtures::create(&app, &org, &body).await;
    let id = e["id"].as_str().unwrap().to_string();
    let (paid, free) = (
        e["ticketTypes"][0]["id"].as_str().unwrap().to_string(),
        e["ticketTypes"][1]["id"].as_str().unwrap().to_string(),
    );
    let (_, buyer) = app.create_user(Role::User).await;
    let pending = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": id, "ticketTypeId": paid, "quantity": 1}),
        )
        .await;
    pending.assert_status(201);
    let confirmed = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": id, "ticketTypeId": free, "quantity": 1}),
        )
        .await;
    confirmed.assert_status(201);
    let code = confirmed.data()["tickets"][0]["code"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, admin) = app.admin().await;
    app.patch_as(
        &admin,
        &format!("/api/user/{org_id}/role"),
        &json!({"role": "USER"}),
    )
    .await
    .assert_status(200);
    app.post_as(
        &org,
        &format!("/api/events/{id}/ticket-types"),
        &json!({"name": "More", "price": 100, "capacity": 5}),
    )
    .await
    .assert_error(403, "ORGANIZER_NOT_APPROVED");
    app.patch_as(
        &org,
        &format!("/api/events/{id}"),
        &json!({"title": "Still mine?"}),
    )
    .await
    .assert_error(403, "ORGANIZER_NOT_APPROVED");
    let booking = pending.data()["id"].as_str().unwrap();
    app.post_as(
        &org,
        &format!("/api/bookings/{booking}/confirm"),
        &json!({}),
    )
    .await
    .assert_error(403, "ORGANIZER_NOT_APPROVED");
    app.post_as(&org, "/api/checkin", &json!({"code": code}))
        .await
        .assert_error(403, "ORGANIZER_NOT_APPROVED");
    // Nothing changed: the unpaid booking is still unpaid, the ticket not scanned.
    let b = app
        .get_as(&buyer, &format!("/api/bookings/{booking}"))
        .await;
    assert_eq!(b.data()["status"], "PENDING");
}

/// INACTIVE is a new account's status until its email is verified; set by an admin on a
/// verified account it turns the account off like a suspension.
async fn a_verified_account_an_admin_deactivated_can_neither_log_in_nor_use_its_tokens(
    app: TestApp,
) {
    let (_, admin) = app.admin().await;
    let email = format!("deactivated-{}@example.com", uuid::Uuid::new_v4().simple());
    let user = app
        .state
        .store
        .insert_user(&NewUser {
            email: email.clone(),
            password_hash: crate::helpers::test_password_hash().to_string(),
            first_name: "Dee".into(),
            last_name: "Activated".into(),
            role: Role::User,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await
        .unwrap();
    let login = app.login(&email, "password123").await;
    login.assert_status(200);
    let access = login.data()["accessToken"].as_str().unwrap().to_string();
    let refresh = login.data()["refreshToken"].as_str().unwrap().to_string();
    app.get_as(&access, "/api/user/profile")
        .await
        .assert_status(200);

    app.patch_as(
        &admin,
        &format!("/api/user/{user}/status"),
        &json!({"status": "INACTIVE"}),
    )
    .await
    .assert_status(200);

    app.get_as(&access, "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post("/api/user/refresh", &json!({"refreshToken": refresh}))
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.login(&email, "password123")
        .await
        .assert_error(403, "ACCOUNT_SUSPENDED");
    // A wrong password still reveals nothing about the account's state.
    app.login(&email, "wrong-password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    app.patch_as(
        &admin,
        &format!("/api/user/{user}/status"),
        &json!({"status": "ACTIVE"}),
    )
    .await
    .assert_status(200);
    app.login(&email, "password123").await.assert_status(200);
}

/// A suspension whose announcement this instance missed (its bus lagged, or its Redis
/// subscription dropped) takes effect once the bus asks for a resync, not when the cache entry
/// happens to expire.
async fn a_missed_suspension_takes_effect_when_the_bus_resynchronizes(app: TestApp) {
    let (id, token) = app.create_user(Role::User).await;
    app.get_as(&token, "/api/user/profile")
        .await
        .assert_status(200);
    // The change reaches storage but its announcement is lost.
    crate::fixtures::suspend_in_storage(&app, id).await;
    app.get_as(&token, "/api/user/profile")
        .await
        .assert_status(200);

    app.state
        .bus
        .publish(ticketmax::bus::topic::RESYNC, "")
        .await;
    let mut refused = false;
    for _ in 0..50 {
        if app
            .get_as(&token, "/api/user/profile")
            .await
            .status
            .as_u16()
            == 401
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "the suspension applies after the resync");
}

both_backends!(
    every_route_answers_each_role_as_the_contract_says,
    a_demoted_organizer_keeps_no_power_over_their_events,
    a_verified_account_an_admin_deactivated_can_neither_log_in_nor_use_its_tokens,
    a_missed_suspension_takes_effect_when_the_bus_resynchronizes
);
