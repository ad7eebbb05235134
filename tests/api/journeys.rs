//! Journeys across areas, through HTTP only: an organizer publishes, buyers book, the event is
//! cancelled, and every booking reaches its final state with its buyer told.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use ticketmax::users::model::Role;

use crate::both_backends;
use crate::helpers::TestApp;

async fn publish_event(app: &TestApp, token: &str) -> Value {
    let starts = Utc::now() + Duration::days(20);
    let r = app
        .post_as(
            token,
            "/api/events",
            &json!({
                "title": "Afrobeats Live",
                "description": "Open air",
                "category": "Music",
                "location": "Lekki, Lagos",
                "startsAt": starts.to_rfc3339(),
                "status": "PUBLISHED",
                "ticketTypes": [
                    {"name": "Regular", "price": 500000, "capacity": 50},
                    {"name": "Free entry", "price": 0, "capacity": 20}
                ]
            }),
        )
        .await;
    r.assert_status(201);
    r.data().clone()
}

async fn cancelling_an_event_over_http_cancels_every_booking_and_tells_each_buyer(app: TestApp) {
    let (_, organizer) = app.create_user(Role::Organizer).await;
    let (buyer_id, buyer) = app.create_user(Role::User).await;
    let event = publish_event(&app, &organizer).await;
    let event_id = event["id"].as_str().unwrap();
    let paid_type = event["ticketTypes"][0]["id"].as_str().unwrap();
    let free_type = event["ticketTypes"][1]["id"].as_str().unwrap();

    let pending = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": event_id, "ticketTypeId": paid_type, "quantity": 2}),
        )
        .await;
    pending.assert_status(201);
    assert_eq!(pending.data()["status"], "PENDING");
    let free = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": event_id, "ticketTypeId": free_type, "quantity": 1}),
        )
        .await;
    free.assert_status(201);
    assert_eq!(free.data()["status"], "CONFIRMED");

    let r = app
        .post_as(
            &organizer,
            &format!("/api/events/{event_id}/cancel"),
            &json!({"reason": "Storm warning"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "CANCELLED");

    for booking in [&pending, &free] {
        let id = booking.data()["id"].as_str().unwrap();
        let b = app.get_as(&buyer, &format!("/api/bookings/{id}")).await;
        b.assert_status(200);
        assert_eq!(b.data()["status"], "CANCELLED", "{}", b.text);
    }
    let availability = app
        .get(&format!("/api/events/{event_id}/availability"))
        .await;
    availability.assert_status(200);
    let types = availability.data()["ticketTypes"].as_array().unwrap();
    let paid = types.iter().find(|t| t["id"] == paid_type).unwrap();
    assert_eq!(paid["available"], 50, "the pending hold was released");

    let user = app.state.store.user_by_id(buyer_id).await.unwrap().unwrap();
    let messages = app.state.store.messages_for(&user.email).await.unwrap();
    let told = messages
        .iter()
        .filter(|m| m.template == "event_cancelled")
        .count();
    assert_eq!(told, 2, "one event_cancelled message per booking");

    // A cancelled event sells nothing more.
    let late = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": event_id, "ticketTypeId": paid_type, "quantity": 1}),
        )
        .await;
    late.assert_error(409, "SALES_CLOSED");
    // And cannot be cancelled twice.
    let again = app
        .post_as(
            &organizer,
            &format!("/api/events/{event_id}/cancel"),
            &json!({"reason": "again"}),
        )
        .await;
    again.assert_error(409, "INVALID_STATE");
}

async fn a_booking_appears_in_the_events_availability_at_once(app: TestApp) {
    let (_, organizer) = app.create_user(Role::Organizer).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let event = publish_event(&app, &organizer).await;
    let event_id = event["id"].as_str().unwrap();
    let paid_type = event["ticketTypes"][0]["id"].as_str().unwrap();
    app.post_as(
        &buyer,
        "/api/bookings",
        &json!({"eventId": event_id, "ticketTypeId": paid_type, "quantity": 3}),
    )
    .await
    .assert_status(201);
    let a = app
        .get(&format!("/api/events/{event_id}/availability"))
        .await;
    let paid = a.data()["ticketTypes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == paid_type)
        .unwrap()
        .clone();
    assert_eq!(paid["available"], 47);
    assert_eq!(a.data()["totalAvailable"], 67);
}

both_backends!(
    cancelling_an_event_over_http_cancels_every_booking_and_tells_each_buyer,
    a_booking_appears_in_the_events_availability_at_once
);

async fn a_draft_cancelled_before_publication_stays_private(app: TestApp) {
    let (_, organizer) = app.create_user(Role::Organizer).await;
    let starts = Utc::now() + Duration::days(5);
    let r = app.post_as(&organizer, "/api/events", &json!({
        "title": "Secret plan", "description": "not yet", "category": "Music", "location": "Abuja",
        "startsAt": starts.to_rfc3339(), "price": 1000, "totalTickets": 10
    })).await;
    r.assert_status(201);
    assert_eq!(r.data()["status"], "DRAFT");
    let id = r.data()["id"].as_str().unwrap().to_string();
    app.post_as(
        &organizer,
        &format!("/api/events/{id}/cancel"),
        &json!({"reason": "dropped"}),
    )
    .await
    .assert_status(200);
    app.get(&format!("/api/events/{id}"))
        .await
        .assert_error(404, "NOT_FOUND");
    app.get_as(&organizer, &format!("/api/events/{id}"))
        .await
        .assert_status(200);
}

both_backends!(a_draft_cancelled_before_publication_stays_private);

async fn a_large_free_order_gets_one_distinct_ticket_per_seat(app: TestApp) {
    let (_, organizer) = app.create_user(Role::Organizer).await;
    let (_, buyer) = app.create_user(Role::User).await;
    let r = app.post_as(&organizer, "/api/events", &json!({
        "title": "Free festival", "description": "open to all", "category": "Music", "location": "Ibadan",
        "startsAt": (Utc::now() + Duration::days(9)).to_rfc3339(), "status": "PUBLISHED",
        "ticketTypes": [{"name": "Entry", "price": 0, "capacity": 1000, "maxPerOrder": 450}]
    })).await;
    r.assert_status(201);
    let event_id = r.data()["id"].as_str().unwrap().to_string();
    let type_id = r.data()["ticketTypes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": event_id, "ticketTypeId": type_id, "quantity": 450}),
        )
        .await;
    b.assert_status(201);
    assert_eq!(b.data()["status"], "CONFIRMED");
    let tickets = b.data()["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 450);
    let codes: std::collections::HashSet<&str> = tickets
        .iter()
        .map(|t| t["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 450, "every seat has its own code");
    let id = b.data()["id"].as_str().unwrap();
    let read = app.get_as(&buyer, &format!("/api/bookings/{id}")).await;
    assert_eq!(
        read.data()["tickets"].as_array().unwrap().len(),
        450,
        "the tickets were stored"
    );
}

both_backends!(a_large_free_order_gets_one_distinct_ticket_per_seat);
