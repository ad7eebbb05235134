//! Print-at-home tickets (`GET /api/bookings/{id}/tickets.pdf`): who may download them, one page
//! per ticket with its code, the download headers, and 409 for a booking without tickets.

use serde_json::json;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::{TypeSpec, book, published_event};
use crate::helpers::{TestApp, TestResponse};

fn pdf_path(id: &str) -> String {
    format!("/api/bookings/{id}/tickets.pdf")
}

/// Asserts a PDF download of `codes.len()` pages, each code on its page, with the download
/// headers of `reference`.
#[track_caller]
fn assert_tickets_pdf(r: &TestResponse, reference: &str, codes: &[String]) {
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"{reference}-tickets.pdf\"").as_str())
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.text.starts_with("%PDF-1.4\n"), "{}", &r.text[..20]);
    assert!(r.text.ends_with("%%EOF\n"));
    assert_eq!(
        r.text.matches("/Type /Page ").count(),
        codes.len(),
        "one page per ticket"
    );
    assert!(r.text.contains(&format!("/Count {}", codes.len())));
    for (i, code) in codes.iter().enumerate() {
        assert!(r.text.contains(&format!("({code}) Tj")), "the code {code}");
        assert!(
            r.text
                .contains(&format!("(Ticket {} of {}) Tj", i + 1, codes.len()))
        );
    }
    assert!(r.text.contains(&format!("({reference}) Tj")));
}

fn codes_of(booking: &serde_json::Value) -> Vec<String> {
    booking["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap().to_string())
        .collect()
}

async fn the_owner_the_event_owner_and_an_admin_get_one_page_per_ticket(app: TestApp) {
    let (_, organizer, event, types) = published_event(&app, &[TypeSpec::free(10)]).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let b = book(&app, &buyer, event, types[0], 3).await;
    b.assert_status(201);
    let id = b.data()["id"].as_str().unwrap();
    let reference = b.data()["reference"].as_str().unwrap();
    let codes = codes_of(b.data());
    assert_eq!(codes.len(), 3);
    let (_, admin) = app.admin().await;
    for token in [&buyer, &organizer, &admin] {
        let r = app.get_as(token, &pdf_path(id)).await;
        assert_tickets_pdf(&r, reference, &codes);
    }
    // The page says what, where and for whom.
    let r = app.get_as(&buyer, &pdf_path(id)).await;
    for text in [
        "(Afrobeats Night) Tj",
        "(Lagos) Tj",
        "(Type 0) Tj",
        "(Test Person) Tj",
    ] {
        assert!(r.text.contains(text), "{text}");
    }
}

async fn a_guest_gets_their_tickets_with_their_token_and_not_another_bookings(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::free(10)]).await;
    let guest = |email: &str| {
        json!({"eventId": event, "ticketTypeId": types[0], "quantity": 2,
               "customerEmail": email, "customerName": "Gee Guest"})
    };
    let mine = app
        .post("/api/bookings/guest", &guest("gee@example.com"))
        .await;
    mine.assert_status(201);
    let theirs = app
        .post("/api/bookings/guest", &guest("hal@example.com"))
        .await;
    theirs.assert_status(201);
    let token = mine.data()["guestToken"].as_str().unwrap();
    let id = mine.data()["id"].as_str().unwrap();
    let r = app.get_as(token, &pdf_path(id)).await;
    assert_tickets_pdf(
        &r,
        mine.data()["reference"].as_str().unwrap(),
        &codes_of(mine.data()),
    );
    let other = theirs.data()["id"].as_str().unwrap();
    app.get_as(token, &pdf_path(other))
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.get_as(token, &pdf_path(&Uuid::new_v4().to_string()))
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.get_as("gt_notarealtoken", &pdf_path(id))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn strangers_get_404_and_anonymous_callers_401(app: TestApp) {
    let (_, _, event, types) = published_event(&app, &[TypeSpec::free(10)]).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let b = book(&app, &buyer, event, types[0], 1).await;
    b.assert_status(201);
    let id = b.data()["id"].as_str().unwrap();
    let (_, stranger) = app.create_user(Role::User).await;
    app.get_as(&stranger, &pdf_path(id))
        .await
        .assert_error(404, "NOT_FOUND");
    let (_, other_organizer) = app.create_user(Role::Organizer).await;
    app.get_as(&other_organizer, &pdf_path(id))
        .await
        .assert_error(404, "NOT_FOUND");
    app.get_as(&buyer, &pdf_path(&Uuid::new_v4().to_string()))
        .await
        .assert_error(404, "NOT_FOUND");
    app.get(&pdf_path(id))
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.get_as(&buyer, &pdf_path("not-a-uuid"))
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

async fn a_booking_that_is_not_confirmed_has_no_tickets_to_print(app: TestApp) {
    let (_, organizer, event, types) = published_event(&app, &[TypeSpec::paid(10)]).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let b = book(&app, &buyer, event, types[0], 2).await;
    b.assert_status(201);
    assert_eq!(b.data()["status"], "PENDING");
    let id = b.data()["id"].as_str().unwrap();
    for token in [&buyer, &organizer] {
        let r = app.get_as(token, &pdf_path(id)).await;
        r.assert_error(409, "INVALID_STATE");
        assert!(r.body["message"].as_str().unwrap().contains("PENDING"));
    }
    app.post_as(&buyer, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await
        .assert_status(200);
    app.get_as(&buyer, &pdf_path(id))
        .await
        .assert_error(409, "INVALID_STATE");
}

async fn a_demoted_event_owner_may_no_longer_print_its_bookings_tickets(app: TestApp) {
    let (organizer_id, organizer, event, types) =
        published_event(&app, &[TypeSpec::free(10)]).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let b = book(&app, &buyer, event, types[0], 1).await;
    b.assert_status(201);
    let id = b.data()["id"].as_str().unwrap();
    let (_, admin) = app.admin().await;
    app.patch_as(
        &admin,
        &format!("/api/user/{organizer_id}/role"),
        &json!({"role": "USER"}),
    )
    .await
    .assert_status(200);
    app.get_as(&organizer, &pdf_path(id))
        .await
        .assert_error(403, "ORGANIZER_NOT_APPROVED");
}

both_backends!(
    the_owner_the_event_owner_and_an_admin_get_one_page_per_ticket,
    a_guest_gets_their_tickets_with_their_token_and_not_another_bookings,
    strangers_get_404_and_anonymous_callers_401,
    a_booking_that_is_not_confirmed_has_no_tickets_to_print,
    a_demoted_event_owner_may_no_longer_print_its_bookings_tickets
);
