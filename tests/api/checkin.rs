//! Tickets and check-in (API.md §4, §11.5, §11.86): signed codes, atomic scans, QR images.

use chrono::Duration;
use serde_json::json;
use ticketmax::users::model::Role;

use crate::both_backends;
use crate::fixtures::{TypeSpec, book, insert_event, published_event};
use crate::helpers::TestApp;

/// A confirmed booking of 2 free tickets: (organizer token, buyer token, booking id, tickets).
async fn confirmed(app: &TestApp) -> (String, String, String, Vec<serde_json::Value>) {
    let (_, org_token, event, types) = published_event(app, &[TypeSpec::free(10)]).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let r = book(app, &buyer, event, types[0], 2).await;
    r.assert_status(201);
    let id = r.data()["id"].as_str().unwrap().to_string();
    let tickets = r.data()["tickets"].as_array().unwrap().clone();
    (org_token, buyer, id, tickets)
}

async fn a_ticket_checks_in_once_and_the_second_scan_is_409(app: TestApp) {
    let (org, _, id, tickets) = confirmed(&app).await;
    let code = tickets[0]["code"].as_str().unwrap();
    let v = app
        .post_as(&org, "/api/checkin/verify", &json!({"code": code}))
        .await;
    v.assert_status(200);
    assert_eq!(v.data()["checkedInAt"], serde_json::Value::Null);
    assert_eq!(v.data()["booking"]["id"], id);
    let first = app
        .post_as(&org, "/api/checkin", &json!({"code": code}))
        .await;
    first.assert_status(200);
    assert!(first.data()["checkedInAt"].is_string());
    assert_eq!(first.data()["ticket"]["id"], tickets[0]["id"]);
    let second = app
        .post_as(&org, "/api/checkin", &json!({"code": code}))
        .await;
    second.assert_error(409, "ALREADY_CHECKED_IN");
    assert_eq!(second.body["error"]["details"][0]["field"], "code");
    assert_eq!(
        second.body["error"]["details"][0]["checkedInAt"],
        first.data()["checkedInAt"]
    );
    let v = app
        .post_as(&org, "/api/checkin/verify", &json!({"code": code}))
        .await;
    assert_eq!(v.data()["checkedInAt"], first.data()["checkedInAt"]);
    // The other seat is still unscanned.
    app.post_as(&org, "/api/checkin", &json!({"code": tickets[1]["code"]}))
        .await
        .assert_status(200);
}

async fn two_scanners_at_once_get_exactly_one_success(app: TestApp) {
    let (org, _, _, tickets) = confirmed(&app).await;
    let code = tickets[0]["code"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = app.client.clone();
        let url = format!("{}/api/checkin", app.address);
        let org = org.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(org)
                .json(&json!({"code": code}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
}

async fn forged_codes_and_strangers_are_refused(app: TestApp) {
    let (_, buyer, _, tickets) = confirmed(&app).await;
    let code = tickets[0]["code"].as_str().unwrap();
    let (_, admin) = app.create_user(Role::Admin).await;
    let (_, other_org) = app.create_user(Role::Organizer).await;
    let mut forged = code.to_string().into_bytes();
    let i = forged.len() - 2;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    app.post_as(&admin, "/api/checkin", &json!({"code": forged}))
        .await
        .assert_error(404, "NOT_FOUND");
    app.post_as(&admin, "/api/checkin/verify", &json!({"code": "garbage"}))
        .await
        .assert_error(404, "NOT_FOUND");
    // A well-signed code of a ticket that does not exist.
    let unknown = ticketmax::bookings::codes::ticket_code(
        app.state.config.ticket_signing_key.expose(),
        uuid::Uuid::new_v4(),
    );
    app.post_as(&admin, "/api/checkin", &json!({"code": unknown}))
        .await
        .assert_error(404, "NOT_FOUND");
    app.post_as(&other_org, "/api/checkin", &json!({"code": code}))
        .await
        .assert_error(403, "FORBIDDEN");
    app.post_as(&buyer, "/api/checkin", &json!({"code": code}))
        .await
        .assert_error(403, "FORBIDDEN");
    app.post("/api/checkin", &json!({"code": code}))
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post_as(&admin, "/api/checkin", &json!({}))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    // An admin may scan any event.
    app.post_as(&admin, "/api/checkin", &json!({"code": code}))
        .await
        .assert_status(200);
}

async fn a_ticket_of_a_cancelled_booking_cannot_check_in(app: TestApp) {
    let (org, buyer, id, tickets) = confirmed(&app).await;
    app.post_as(&buyer, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await
        .assert_status(200);
    let code = tickets[0]["code"].as_str().unwrap();
    app.post_as(&org, "/api/checkin", &json!({"code": code}))
        .await
        .assert_error(409, "INVALID_STATE");
    app.post_as(&org, "/api/checkin/verify", &json!({"code": code}))
        .await
        .assert_error(409, "INVALID_STATE");
}

async fn a_scan_racing_a_cancellation_does_not_check_the_ticket_in(app: TestApp) {
    // The scanner looked the ticket up while the booking was CONFIRMED; the buyer cancels
    // before the scan is written: the write itself refuses.
    let (_, buyer, id, tickets) = confirmed(&app).await;
    let ticket: uuid::Uuid = tickets[0]["id"].as_str().unwrap().parse().unwrap();
    app.post_as(&buyer, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await
        .assert_status(200);
    let scanned = app
        .state
        .store
        .check_in_ticket(ticket, uuid::Uuid::new_v4(), chrono::Utc::now())
        .await
        .unwrap();
    assert!(!scanned, "a ticket of a cancelled booking was checked in");
    let row = app.state.store.ticket_by_id(ticket).await.unwrap().unwrap();
    assert!(row.checked_in_at.is_none());
}

async fn the_owner_gets_qr_codes_as_png_and_svg(app: TestApp) {
    let (org, buyer, id, tickets) = confirmed(&app).await;
    let tid = tickets[0]["id"].as_str().unwrap();
    let path = format!("/api/bookings/{id}/tickets/{tid}/qr");
    let png = app.get_as(&buyer, &path).await;
    png.assert_status(200);
    assert_eq!(png.header("content-type"), Some("image/png"));
    let svg = app.get_as(&buyer, &format!("{path}?format=svg")).await;
    svg.assert_status(200);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(svg.text.contains("<svg"));
    app.get_as(&buyer, &format!("{path}?format=gif"))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.get_as(&org, &path).await.assert_error(404, "NOT_FOUND");
    let (_, stranger) = app.create_user(Role::User).await;
    app.get_as(&stranger, &path)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get_as(
        &buyer,
        &format!("/api/bookings/{id}/tickets/{}/qr", uuid::Uuid::new_v4()),
    )
    .await
    .assert_error(404, "NOT_FOUND");
}

async fn a_guest_gets_the_qr_of_a_confirmed_free_booking(app: TestApp) {
    let (org, _) = app.create_user(Role::Organizer).await;
    let (event, types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        Duration::days(3),
        &[TypeSpec::free(5)],
    )
    .await;
    let r = app
        .post(
            "/api/bookings/guest",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1,
        "customerEmail": "guest@example.com", "customerName": "Guest Person"}),
        )
        .await;
    r.assert_status(201);
    let token = r.data()["guestToken"].as_str().unwrap();
    let id = r.data()["id"].as_str().unwrap();
    let tid = r.data()["tickets"][0]["id"].as_str().unwrap();
    let png = app
        .get_as(token, &format!("/api/bookings/{id}/tickets/{tid}/qr"))
        .await;
    png.assert_status(200);
    assert!(png.text.len() > 100 || png.headers.get("content-length").is_some());
}

both_backends!(
    a_ticket_checks_in_once_and_the_second_scan_is_409,
    two_scanners_at_once_get_exactly_one_success,
    forged_codes_and_strangers_are_refused,
    a_ticket_of_a_cancelled_booking_cannot_check_in,
    a_scan_racing_a_cancellation_does_not_check_the_ticket_in,
    the_owner_gets_qr_codes_as_png_and_svg,
    a_guest_gets_the_qr_of_a_confirmed_free_booking
);
