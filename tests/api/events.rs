//! Events, ticket types and the catalogue: CRUD and ownership rules, caching with ETags and
//! invalidation, live availability and its stream, favorites, images, COMPLETED, seed-demo.

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::{create, event_body, hold, seeded_event};
use crate::helpers::TestApp;

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

async fn an_organizer_creates_an_event_with_ticket_types_and_anyone_reads_it(app: TestApp) {
    let (org, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Lagos Jazz Night", 10)).await;
    assert_eq!(e["organizerId"], org.to_string());
    assert_eq!(e["status"], "PUBLISHED");
    assert_eq!(e["currency"], "NGN");
    assert_eq!(e["ticketTypes"].as_array().unwrap().len(), 2);
    assert_eq!(e["ticketTypes"][0]["kind"], "general");
    assert_eq!(e["ticketTypes"][1]["maxPerOrder"], 2);
    assert_eq!(e["totalTickets"], 110);
    assert_eq!(e["ticketsAvailable"], 110);
    assert_eq!(e["minPrice"], 500000);
    assert_eq!(e["featured"], false);
    assert!(e["imageUrl"].is_null());
    let r = app
        .get(&format!("/api/events/{}", e["id"].as_str().unwrap()))
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["title"], "Lagos Jazz Night");
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.header("etag").is_some());
}

async fn an_event_has_a_time_zone_named_by_iana_defaulting_to_utc(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let plain = create(&app, &token, &event_body("No zone named", 10)).await;
    assert_eq!(plain["timezone"], "UTC");

    let mut body = event_body("Lagos time", 10);
    body["timezone"] = json!("Africa/Lagos");
    let lagos = create(&app, &token, &body).await;
    assert_eq!(lagos["timezone"], "Africa/Lagos");
    let path = format!("/api/events/{}", lagos["id"].as_str().unwrap());
    assert_eq!(app.get(&path).await.data()["timezone"], "Africa/Lagos");

    let r = app
        .patch_as(&token, &path, &json!({"timezone": "America/New_York"}))
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["timezone"], "America/New_York");
    assert_eq!(app.get(&path).await.data()["timezone"], "America/New_York");

    // An unknown name is refused, naming the field, and changes nothing.
    let r = app
        .patch_as(&token, &path, &json!({"timezone": "Mars/Olympus_Mons"}))
        .await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "timezone");
    assert_eq!(app.get(&path).await.data()["timezone"], "America/New_York");
    let mut body = event_body("Nowhere time", 10);
    body["timezone"] = json!("Lagos");
    let r = app.post_as(&token, "/api/events", &body).await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "timezone");
}

async fn price_and_total_tickets_make_one_general_type(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let mut body = event_body("Simple", 5);
    body.as_object_mut().unwrap().remove("ticketTypes");
    body["price"] = json!(250000);
    body["totalTickets"] = json!(300);
    let e = create(&app, &token, &body).await;
    let types = e["ticketTypes"].as_array().unwrap();
    assert_eq!(types.len(), 1);
    assert_eq!(types[0]["kind"], "general");
    assert_eq!(types[0]["price"], 250000);
    assert_eq!(types[0]["capacity"], 300);
    assert_eq!(e["totalTickets"], 300);
}

async fn a_user_creating_an_event_gets_organizer_not_approved(app: TestApp) {
    let (_, token) = app.create_user(Role::User).await;
    app.post_as(&token, "/api/events", &event_body("Nope", 5))
        .await
        .assert_error(403, "ORGANIZER_NOT_APPROVED");
    app.post("/api/events", &event_body("Nope", 5))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn only_admins_may_feature_events(app: TestApp) {
    let (_, org) = app.create_user(Role::Organizer).await;
    let (_, admin) = app.create_user(Role::Admin).await;
    let mut body = event_body("Featured", 5);
    body["featured"] = json!(true);
    app.post_as(&org, "/api/events", &body)
        .await
        .assert_error(403, "FORBIDDEN");
    let e = create(&app, &admin, &body).await;
    assert_eq!(e["featured"], true);
    let f = app.get("/api/events/featured").await;
    f.assert_status(200);
    assert!(f.data().is_array(), "featured is a bare array");
    assert!(f.body.get("meta").is_none());
    assert_eq!(f.data()[0]["id"], e["id"]);
}

async fn invalid_bodies_name_the_field(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let mut body = event_body("Bad", 5);
    body["ticketTypes"][0]["price"] = json!(-1);
    let r = app.post_as(&token, "/api/events", &body).await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(
        r.body["error"]["details"][0]["field"],
        "ticketTypes.0.price"
    );
    let mut body = event_body("Bad", 5);
    body["startsAt"] = json!((Utc::now() - Duration::days(1)).to_rfc3339());
    body.as_object_mut().unwrap().remove("endsAt");
    let r = app.post_as(&token, "/api/events", &body).await;
    assert_eq!(r.body["error"]["details"][0]["field"], "startsAt");
    let mut body = event_body("Bad", 5);
    body["role"] = json!("ADMIN");
    app.post_as(&token, "/api/events", &body)
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

async fn drafts_are_visible_only_to_their_owner_and_admins(app: TestApp) {
    let (_, owner) = app.create_user(Role::Organizer).await;
    let (_, other) = app.create_user(Role::Organizer).await;
    let (_, admin) = app.create_user(Role::Admin).await;
    let mut body = event_body("Secret draft", 5);
    body["status"] = json!("DRAFT");
    let e = create(&app, &owner, &body).await;
    let path = format!("/api/events/{}", e["id"].as_str().unwrap());
    app.get(&path).await.assert_error(404, "NOT_FOUND");
    app.get_as(&other, &path)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get_as(&owner, &path).await.assert_status(200);
    app.get_as(&admin, &path).await.assert_status(200);
    let list = app.get("/api/events").await;
    assert!(
        list.data().as_array().unwrap().is_empty(),
        "a draft is not listed"
    );
}

async fn editing_someone_elses_event_is_forbidden(app: TestApp) {
    let (_, owner) = app.create_user(Role::Organizer).await;
    let (_, other) = app.create_user(Role::Organizer).await;
    let (_, admin) = app.create_user(Role::Admin).await;
    let e = create(&app, &owner, &event_body("Mine", 5)).await;
    let path = format!("/api/events/{}", e["id"].as_str().unwrap());
    app.patch_as(&other, &path, &json!({"title": "Stolen"}))
        .await
        .assert_error(403, "FORBIDDEN");
    app.delete_as(&other, &path)
        .await
        .assert_error(403, "FORBIDDEN");
    app.post_as(&other, &format!("{path}/cancel"), &json!({"reason": "x"}))
        .await
        .assert_error(403, "FORBIDDEN");
    let r = app
        .patch_as(&admin, &path, &json!({"title": "Renamed by admin"}))
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["title"], "Renamed by admin");
}

async fn a_stale_read_cannot_follow_a_successful_write(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Before", 5)).await;
    let path = format!("/api/events/{}", e["id"].as_str().unwrap());
    // Warm every cache level.
    for _ in 0..3 {
        assert_eq!(app.get(&path).await.data()["title"], "Before");
        assert_eq!(app.get("/api/events").await.data()[0]["title"], "Before");
    }
    app.patch_as(&token, &path, &json!({"title": "After", "venue": null}))
        .await
        .assert_status(200);
    let d = app.get(&path).await;
    assert_eq!(d.data()["title"], "After");
    assert!(d.data()["venue"].is_null());
    assert_eq!(app.get("/api/events").await.data()[0]["title"], "After");
    assert_eq!(
        app.get("/api/events?q=after").await.data()[0]["title"],
        "After"
    );
}

async fn etags_answer_304_and_change_after_a_write(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Tagged", 5)).await;
    let path = format!("/api/events/{}", e["id"].as_str().unwrap());
    for p in [
        path.as_str(),
        "/api/events",
        "/api/events/categories",
        "/api/events/featured",
    ] {
        let first = app.get(p).await;
        first.assert_status(200);
        assert_eq!(first.header("cache-control"), Some("no-cache"), "{p}");
        let tag = first.header("etag").unwrap().to_string();
        let again = app
            .request(Method::GET, p)
            .header("if-none-match", &tag)
            .send()
            .await;
        assert_eq!(again.status.as_u16(), 304, "{p}");
        assert!(again.text.is_empty());
    }
    let tag = app.get(&path).await.header("etag").unwrap().to_string();
    app.patch_as(&token, &path, &json!({"description": "Changed"}))
        .await
        .assert_status(200);
    let after = app
        .request(Method::GET, &path)
        .header("if-none-match", &tag)
        .send()
        .await;
    after.assert_status(200);
    assert_ne!(after.header("etag").unwrap(), tag);
}

/// One request through the application service as the server runs it, on this thread: the
/// kept answers served before routing are the ones this thread holds a copy of.
async fn through_the_app(
    app: &TestApp,
    method: Method,
    uri: &str,
    if_none_match: Option<&str>,
    copy: Option<(&'static str, &str)>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    use tower::Service;
    // Anything this router answers was routed: it answers 418 to every request.
    let teapot = axum::Router::new().fallback(|| async { StatusCode::IM_A_TEAPOT });
    let mut service = ticketmax::http::kept::App::new(teapot, &app.state);
    let mut request = axum::http::Request::builder().method(method).uri(uri);
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    let request = request.body(axum::body::Body::empty()).unwrap();
    if let Some((label, key)) = copy {
        // The thread's copy lives 50 ms: taken right before the call, on this thread.
        assert!(
            app.state.cache.live_get(label, key).await.is_some(),
            "{key} is kept"
        );
    }
    let response = service.call(request).await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

/// [`through_the_app`] with this thread's copy of `key` taken first. The copy lives 50 ms: a
/// thread descheduled that long between the two finds none and is routed (418), so it tries
/// again, up to five times.
async fn from_the_copy(
    app: &TestApp,
    uri: &str,
    if_none_match: Option<&str>,
    (label, key): (&'static str, &str),
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut answer =
        through_the_app(app, Method::GET, uri, if_none_match, Some((label, key))).await;
    for _ in 0..5 {
        if answer.0 != StatusCode::IM_A_TEAPOT {
            break;
        }
        answer = through_the_app(app, Method::GET, uri, if_none_match, Some((label, key))).await;
    }
    answer
}

async fn kept_answers_are_served_before_routing_through_the_whole_stack(app: TestApp) {
    use ticketmax::events::catalogue::{availability_key, detail_key};
    use ticketmax::events::kept::KeptRoute;
    let (_, token) = app.create_user(Role::Organizer).await;
    let id = id_of(&create(&app, &token, &event_body("Kept", 5)).await);
    let path = format!("/api/events/{id}");
    let availability = format!("{path}/availability");
    let detail = detail_key(id, "");
    let counts = availability_key(id);
    // The server keeps each answer as it serves it.
    let served = app.get(&path).await;
    served.assert_status(200);
    let served_list = app.get("/api/events").await;
    let served_counts = app.get(&availability).await;
    let without_time = |mut v: Value| {
        v["timestamp"] = Value::Null;
        v
    };

    // Served from the copy: the handler's answer, with every header of the middleware stack.
    let (status, headers, body) = from_the_copy(&app, &path, None, ("event_detail", &detail)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(without_time(body), without_time(served.body.clone()));
    for name in [
        "etag",
        "cache-control",
        "content-type",
        "x-content-type-options",
        "vary",
    ] {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            served.header(name),
            "{name}"
        );
    }
    assert!(headers.contains_key("x-request-id"));
    let tag = served.header("etag").unwrap();
    let (status, _, body) = from_the_copy(&app, &path, Some(tag), ("event_detail", &detail)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_null());
    for (uri, label, key, served) in [
        ("/api/events", "events_list", "answer:raw:?", &served_list),
        (
            availability.as_str(),
            "event_availability",
            counts.as_str(),
            &served_counts,
        ),
    ] {
        let (status, _, body) = from_the_copy(&app, uri, None, (label, key)).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(
            without_time(body),
            without_time(served.body.clone()),
            "{uri}"
        );
    }
    // Their log and metrics name the routes as axum names them (the paths it registered).
    let document = app.get("/api/openapi.json").await;
    for route in KeptRoute::ALL {
        let name = route.path("/api");
        assert!(document.body["paths"].get(&name).is_some(), "{name}");
    }

    // Routed: another method, another path, a query whose answer is never kept, no copy.
    let other = format!("/api/events/{}", Uuid::now_v7());
    let routed = [
        (Method::POST, path.as_str()),
        (Method::HEAD, path.as_str()),
        (Method::GET, "/api/events?status=PUBLISHED"),
        (Method::GET, &format!("{path}/bookings")),
        (Method::GET, &format!("{path}/")),
        (Method::GET, other.as_str()),
    ];
    for (method, uri) in routed {
        let copy = Some(("event_detail", detail.as_str()));
        let (status, _, _) = through_the_app(&app, method.clone(), uri, None, copy).await;
        assert_eq!(status, StatusCode::IM_A_TEAPOT, "{method} {uri}");
    }
    // And nothing kept on this thread: routed too.
    let (status, _, _) = through_the_app(&app, Method::GET, "/api/events?page=2", None, None).await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
}

async fn field_selection_returns_only_the_named_fields(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Fields", 5)).await;
    let r = app
        .get(&format!(
            "/api/events/{}?fields=title,startsAt",
            e["id"].as_str().unwrap()
        ))
        .await;
    r.assert_status(200);
    let keys: Vec<_> = r.data().as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.contains(&"id".to_string()));
    let l = app.get("/api/events?fields=title").await;
    assert_eq!(l.data()[0].as_object().unwrap().len(), 2);
    app.get("/api/events?fields=passwordHash")
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

async fn capacity_below_sold_plus_held_is_a_conflict(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let mut body = event_body("Capped", 5);
    body["totalTickets"] = json!(50);
    let e = create(&app, &token, &body).await;
    let id = id_of(&e);
    let type_id = id_of(&e["ticketTypes"][0]);
    hold(&app, id, type_id, 30, 600).await;
    let tpath = format!("/api/events/{id}/ticket-types/{type_id}");
    app.patch_as(&token, &tpath, &json!({"capacity": 20}))
        .await
        .assert_error(409, "CONFLICT");
    let ok = app
        .patch_as(&token, &tpath, &json!({"capacity": 30, "price": 400000}))
        .await;
    ok.assert_status(200);
    assert_eq!(ok.data()["capacity"], 30);
    assert_eq!(ok.data()["available"], 0);
    let path = format!("/api/events/{id}");
    app.patch_as(
        &token,
        &path,
        &json!({"totalTickets": 10, "title": "Not applied"}),
    )
    .await
    .assert_error(409, "CONFLICT");
    assert_eq!(
        app.get(&path).await.data()["title"],
        "Capped",
        "a refused change changes nothing"
    );
    let r = app
        .patch_as(&token, &path, &json!({"totalTickets": 35}))
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["totalTickets"], 35);
    assert_eq!(r.data()["ticketsAvailable"], 5);
    assert_eq!(r.data()["minPrice"], 400000);
}

async fn a_ticket_type_patch_writes_only_the_fields_it_names(app: TestApp) {
    // Two organizers' tabs, each read the type before the other's change: the second PATCH
    // (its name) must not put back the price the first one changed.
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Two tabs", 5)).await;
    let id = id_of(&e);
    let type_id = id_of(&e["ticketTypes"][0]);
    let stale = app
        .state
        .store
        .event_record(id)
        .await
        .unwrap()
        .unwrap()
        .types[0]
        .clone();
    let tpath = format!("/api/events/{id}/ticket-types/{type_id}");
    app.patch_as(&token, &tpath, &json!({"price": 9999}))
        .await
        .assert_status(200);
    let mut renamed = stale.clone();
    renamed.name = "Balcony".into();
    use ticketmax::events::model::TicketTypeField;
    assert!(
        app.state
            .store
            .update_ticket_type(&renamed, &[TicketTypeField::Name], Utc::now())
            .await
            .unwrap()
    );
    let now = app
        .state
        .store
        .event_record(id)
        .await
        .unwrap()
        .unwrap()
        .types[0]
        .clone();
    assert_eq!((now.name.as_str(), now.price), ("Balcony", 9999));
    // Over HTTP: each PATCH answers with both changes.
    let r = app
        .patch_as(&token, &tpath, &json!({"maxPerOrder": 4}))
        .await;
    r.assert_status(200);
    assert_eq!(
        (
            r.data()["name"].as_str(),
            r.data()["price"].as_i64(),
            r.data()["maxPerOrder"].as_i64()
        ),
        (Some("Balcony"), Some(9999), Some(4))
    );
}

async fn the_currency_is_fixed_once_tickets_are_booked(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Money", 5)).await;
    let path = format!("/api/events/{}", e["id"].as_str().unwrap());
    app.patch_as(&token, &path, &json!({"currency": "USD"}))
        .await
        .assert_status(200);
    hold(&app, id_of(&e), id_of(&e["ticketTypes"][0]), 1, 600).await;
    app.patch_as(&token, &path, &json!({"currency": "NGN"}))
        .await
        .assert_error(409, "CONFLICT");
}

async fn publish_then_cancel_follow_the_life_cycle(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let mut body = event_body("Cycle", 5);
    body["status"] = json!("DRAFT");
    let e = create(&app, &token, &body).await;
    let path = format!("/api/events/{}", e["id"].as_str().unwrap());
    let p = app
        .post_as(&token, &format!("{path}/publish"), &json!({}))
        .await;
    p.assert_status(200);
    assert_eq!(p.data()["status"], "PUBLISHED");
    assert_eq!(
        app.get("/api/events")
            .await
            .data()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.post_as(&token, &format!("{path}/publish"), &json!({}))
        .await
        .assert_error(409, "INVALID_STATE");
    app.post_as(&token, &format!("{path}/cancel"), &json!({}))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let c = app
        .post_as(
            &token,
            &format!("{path}/cancel"),
            &json!({"reason": "Venue flooded"}),
        )
        .await;
    c.assert_status(200);
    assert_eq!(c.data()["status"], "CANCELLED");
    assert_eq!(c.data()["cancelReason"], "Venue flooded");
    assert!(
        app.get("/api/events")
            .await
            .data()
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.post_as(
        &token,
        &format!("{path}/cancel"),
        &json!({"reason": "again"}),
    )
    .await
    .assert_error(409, "INVALID_STATE");
}

async fn an_event_with_bookings_cannot_be_deleted(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let free = create(&app, &token, &event_body("Unbooked", 5)).await;
    let booked = create(&app, &token, &event_body("Booked", 5)).await;
    hold(
        &app,
        id_of(&booked),
        id_of(&booked["ticketTypes"][0]),
        2,
        600,
    )
    .await;
    let r = app
        .delete_as(
            &token,
            &format!("/api/events/{}", booked["id"].as_str().unwrap()),
        )
        .await;
    r.assert_error(409, "CONFLICT");
    let path = format!("/api/events/{}", free["id"].as_str().unwrap());
    let d = app.delete_as(&token, &path).await;
    d.assert_status(200);
    assert!(d.data().is_null());
    app.get(&path).await.assert_error(404, "NOT_FOUND");
}

async fn ticket_types_are_added_changed_and_deleted_unless_booked(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Types", 5)).await;
    let id = id_of(&e);
    let r = app
        .post_as(
            &token,
            &format!("/api/events/{id}/ticket-types"),
            &json!({"name": "Early bird", "kind": "early_bird", "price": 100000, "capacity": 20}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["kind"], "early_bird");
    assert_eq!(r.data()["maxPerOrder"], 10);
    let new_id = r.data()["id"].as_str().unwrap().to_string();
    let ev = app.get(&format!("/api/events/{id}")).await;
    assert_eq!(
        ev.data()["minPrice"],
        100000,
        "the new cheapest price shows at once"
    );
    app.post_as(
        &token,
        &format!("/api/events/{id}/ticket-types"),
        &json!({"name": "X", "kind": "platinum", "price": 1, "capacity": 1}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    let d = app
        .delete_as(&token, &format!("/api/events/{id}/ticket-types/{new_id}"))
        .await;
    d.assert_status(200);
    assert!(d.data().is_null());
    let booked = id_of(&e["ticketTypes"][0]);
    hold(&app, id, booked, 1, 600).await;
    app.delete_as(&token, &format!("/api/events/{id}/ticket-types/{booked}"))
        .await
        .assert_error(409, "CONFLICT");
    app.delete_as(
        &token,
        &format!("/api/events/{id}/ticket-types/{}", Uuid::new_v4()),
    )
    .await
    .assert_error(404, "NOT_FOUND");
}

async fn availability_respects_the_event_cap_and_frees_expired_holds_at_once(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let mut body = event_body("Avail", 5);
    body["totalTickets"] = json!(60);
    let e = create(&app, &token, &body).await;
    let id = id_of(&e);
    let (regular, vip) = (id_of(&e["ticketTypes"][0]), id_of(&e["ticketTypes"][1]));
    hold(&app, id, regular, 55, 600).await;
    let a = app.get(&format!("/api/events/{id}/availability")).await;
    a.assert_status(200);
    assert_eq!(a.data()["eventId"], id.to_string());
    assert_eq!(a.data()["totalAvailable"], 5);
    let types = a.data()["ticketTypes"].as_array().unwrap();
    let of =
        |t: Uuid| types.iter().find(|x| x["id"] == t.to_string()).unwrap()["available"].clone();
    assert_eq!(of(regular), 5);
    assert_eq!(of(vip), 5, "min(own remaining 10, event remaining 5)");
    // A hold that has already expired counts as free, before any sweep.
    hold(&app, id, vip, 4, -5).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let a = app.get(&format!("/api/events/{id}/availability")).await;
    assert_eq!(a.data()["totalAvailable"], 5);
    let ev = app.get(&format!("/api/events/{id}")).await;
    assert_eq!(ev.data()["ticketsHeld"], 55);
    assert_eq!(ev.data()["ticketsAvailable"], 5);
}

async fn counts_in_cached_answers_are_at_most_one_second_old(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Fresh counts", 5)).await;
    let id = id_of(&e);
    assert_eq!(
        app.get(&format!("/api/events/{id}")).await.data()["ticketsAvailable"],
        110
    );
    assert_eq!(
        app.get("/api/events").await.data()[0]["ticketsAvailable"],
        110
    );
    hold(&app, id, id_of(&e["ticketTypes"][0]), 10, 600).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        app.get(&format!("/api/events/{id}")).await.data()["ticketsAvailable"],
        100
    );
    assert_eq!(
        app.get("/api/events").await.data()[0]["ticketsAvailable"],
        100
    );
}

async fn favorites_toggle_set_clear_and_list(app: TestApp) {
    let (_, org) = app.create_user(Role::Organizer).await;
    let (_, user) = app.create_user(Role::User).await;
    let e = create(&app, &org, &event_body("Fav", 5)).await;
    let path = format!("/api/events/{}/favorite", e["id"].as_str().unwrap());
    app.post(&path, &json!({}))
        .await
        .assert_error(401, "UNAUTHORIZED");
    let t = app.request(Method::POST, &path).token(&user).send().await;
    assert_eq!(t.data()["favorited"], true);
    let list = app.get_as(&user, "/api/user/favorites").await;
    list.assert_status(200);
    assert_eq!(list.data()[0]["id"], e["id"]);
    assert_eq!(list.body["meta"]["total"], 1);
    let t = app.request(Method::POST, &path).token(&user).send().await;
    assert_eq!(t.data()["favorited"], false);
    for _ in 0..2 {
        let s = app.request(Method::PUT, &path).token(&user).send().await;
        assert_eq!(s.data()["favorited"], true);
    }
    for _ in 0..2 {
        let c = app.request(Method::DELETE, &path).token(&user).send().await;
        assert_eq!(c.data()["favorited"], false);
    }
    assert_eq!(
        app.get_as(&user, "/api/user/favorites").await.body["meta"]["total"],
        0
    );
    app.request(
        Method::PUT,
        &format!("/api/events/{}/favorite", Uuid::new_v4()),
    )
    .token(&user)
    .send()
    .await
    .assert_error(404, "NOT_FOUND");
}

async fn status_filters_are_for_organizers_and_admins(app: TestApp) {
    let (_, org) = app.create_user(Role::Organizer).await;
    let (_, other) = app.create_user(Role::Organizer).await;
    let (_, admin) = app.create_user(Role::Admin).await;
    let (_, user) = app.create_user(Role::User).await;
    let mut body = event_body("Draft A", 5);
    body["status"] = json!("DRAFT");
    create(&app, &org, &body).await;
    body["title"] = json!("Draft B");
    create(&app, &other, &body).await;
    app.get("/api/events?status=DRAFT")
        .await
        .assert_error(403, "FORBIDDEN");
    app.get_as(&user, "/api/events?status=DRAFT")
        .await
        .assert_error(403, "FORBIDDEN");
    app.get_as(&user, "/api/events?status=PUBLISHED")
        .await
        .assert_status(200);
    app.get_as(&org, "/api/events?status=BOGUS")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let mine = app.get_as(&org, "/api/events?status=DRAFT").await;
    assert_eq!(mine.data().as_array().unwrap().len(), 1);
    assert_eq!(mine.data()[0]["title"], "Draft A");
    assert_eq!(
        app.get_as(&admin, "/api/events?status=DRAFT").await.body["meta"]["total"],
        2
    );
}

async fn ended_events_leave_the_list_and_become_completed_without_anyone_calling(app: TestApp) {
    let (org, _) = app.create_user(Role::Organizer).await;
    let now = Utc::now();
    let mut past = seeded_event(org, 0, now);
    past.starts_at = now - Duration::hours(3);
    past.ends_at = Some(now - Duration::hours(1));
    let mut no_end = seeded_event(org, 1, now);
    no_end.starts_at = now - Duration::minutes(1);
    no_end.ends_at = None;
    let live = seeded_event(org, 2, now);
    app.state
        .store
        .insert_events_bulk(&[
            (past.clone(), vec![]),
            (no_end.clone(), vec![]),
            (live.clone(), vec![]),
        ])
        .await
        .unwrap();
    let list = app.get("/api/events").await;
    assert_eq!(
        list.body["meta"]["total"], 1,
        "only the event not yet ended"
    );
    // Up to 30 s: the completion round runs every 5 s on the instance that takes its lease, and
    // on PostgreSQL every test app (one schema each, one database) contends for that one
    // advisory lock, whose holder may be slow under a full parallel run.
    let mut completed = false;
    for _ in 0..120 {
        let r = app.get(&format!("/api/events/{}", past.id)).await;
        let s = app.get(&format!("/api/events/{}", no_end.id)).await;
        if r.data()["status"] == "COMPLETED" && s.data()["status"] == "COMPLETED" {
            completed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(completed, "finished events become COMPLETED on their own");
    assert_eq!(
        app.get(&format!("/api/events/{}", live.id)).await.data()["status"],
        "PUBLISHED"
    );
    let from = (now - Duration::days(1)).format("%Y-%m-%d").to_string();
    let with_from = app.get(&format!("/api/events?from={from}")).await;
    assert_eq!(
        with_from.body["meta"]["total"], 3,
        "with from, COMPLETED events in range too"
    );
}

async fn hostile_search_text_is_just_text(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    create(&app, &token, &event_body("Normal", 5)).await;
    for q in [
        "%",
        "_",
        "\"",
        "' OR 1=1 --",
        "title:x OR",
        "NEAR(a b)",
        "*",
        "a\\b",
        "(",
        "x&y|!z:*",
    ] {
        for name in ["q", "location", "category"] {
            let query = serde_urlencoded::to_string([(name, q)]).unwrap();
            let r = app.get(&format!("/api/events?{query}")).await;
            r.assert_status(200);
            assert!(
                r.data().as_array().unwrap().is_empty(),
                "{name}={q} matched something"
            );
        }
    }
}

async fn bad_list_queries_are_400(app: TestApp) {
    for q in [
        "page=0",
        "limit=101",
        "sort=title",
        "from=yesterday",
        "minPrice=-1",
        "minPrice=10&maxPrice=5",
        "featured=maybe",
        "organizerId=x",
    ] {
        app.get(&format!("/api/events?{q}"))
            .await
            .assert_error(400, "VALIDATION_FAILED");
    }
    app.get("/api/events/featured?limit=21")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.get("/api/events/not-a-uuid")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.get(&format!("/api/events/{}", Uuid::new_v4()))
        .await
        .assert_error(404, "NOT_FOUND");
}

async fn unknown_fields_and_missing_resources_are_refused(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Edges", 5)).await;
    let path = format!("/api/events/{}", e["id"].as_str().unwrap());
    let r = app
        .patch_as(&token, &path, &json!({"status": "PUBLISHED"}))
        .await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "status");
    app.patch_as(
        &token,
        &path,
        &json!({"endsAt": (Utc::now() + Duration::days(1)).to_rfc3339()}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    app.patch_as(
        &token,
        &format!("/api/events/{}", Uuid::new_v4()),
        &json!({"title": "Nobody"}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.patch_as(
        &token,
        &format!("{path}/ticket-types/{}", Uuid::new_v4()),
        &json!({"price": 1}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.patch_as(
        &token,
        &format!(
            "{path}/ticket-types/{}",
            e["ticketTypes"][0]["id"].as_str().unwrap()
        ),
        &json!({"capacity": -1}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    let mut body = event_body("Huge", 5);
    body["ticketTypes"][0]["capacity"] = json!(i64::MAX);
    body["ticketTypes"][1]["capacity"] = json!(i64::MAX);
    let r = app.post_as(&token, "/api/events", &body).await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(
        r.body["error"]["details"][0]["field"],
        "ticketTypes.0.capacity"
    );
    let mut body = event_body("Both", 5);
    body["price"] = json!(100);
    app.post_as(&token, "/api/events", &body)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let mut body = event_body("Half", 5);
    body.as_object_mut().unwrap().remove("ticketTypes");
    body["price"] = json!(100);
    let r = app.post_as(&token, "/api/events", &body).await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "totalTickets");
}

async fn an_organizer_listing_by_status_sees_only_their_own_events(app: TestApp) {
    let (_, a) = app.create_user(Role::Organizer).await;
    let (_, b) = app.create_user(Role::Organizer).await;
    create(&app, &a, &event_body("A's", 5)).await;
    create(&app, &b, &event_body("B's", 5)).await;
    let mine = app.get_as(&a, "/api/events?status=PUBLISHED").await;
    assert_eq!(mine.body["meta"]["total"], 1);
    assert_eq!(mine.data()[0]["title"], "A's");
    assert_eq!(
        app.get("/api/events?status=published").await.body["meta"]["total"],
        2
    );
}

async fn cache_hits_and_misses_show_in_metrics(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    create(&app, &token, &event_body("Metrics", 5)).await;
    app.get("/api/events").await;
    app.get("/api/events").await;
    let m = app.get("/metrics").await;
    assert!(m.text.contains("cache_hits_total{"), "{}", m.text);
    assert!(m.text.contains("cache_misses_total{"), "{}", m.text);
    assert!(m.text.contains(r#"cache="events_list""#));
}

async fn max_per_order_is_from_1_to_1000(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let mut body = event_body("Big order", 30);
    body["ticketTypes"] =
        json!([{"name": "GA", "price": 0, "capacity": 5000, "maxPerOrder": 1001}]);
    let r = app.post_as(&token, "/api/events", &body).await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(
        r.body["error"]["details"][0]["field"],
        "ticketTypes.0.maxPerOrder"
    );
    body["ticketTypes"][0]["maxPerOrder"] = json!(1000);
    let r = app.post_as(&token, "/api/events", &body).await;
    r.assert_status(201);
    let id = r.data()["id"].as_str().unwrap().to_string();
    let type_id = r.data()["ticketTypes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch_as(
        &token,
        &format!("/api/events/{id}/ticket-types/{type_id}"),
        &json!({"maxPerOrder": 1_000_000}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    app.post_as(
        &token,
        &format!("/api/events/{id}/ticket-types"),
        &json!({"name": "VIP", "price": 100, "capacity": 10, "maxPerOrder": 0}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
}

async fn an_organizers_status_list_and_another_organizers_id_combine_to_nothing(app: TestApp) {
    let (me, mine_token) = app.create_user(Role::Organizer).await;
    let (other, other_token) = app.create_user(Role::Organizer).await;
    create(&app, &mine_token, &event_body("Mine", 30)).await;
    create(&app, &other_token, &event_body("Theirs", 30)).await;
    let r = app
        .get_as(
            &mine_token,
            &format!("/api/events?status=PUBLISHED&organizerId={other}"),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["meta"]["total"], 0, "{}", r.body);
    let r = app
        .get_as(
            &mine_token,
            &format!("/api/events?status=PUBLISHED&organizerId={me}"),
        )
        .await;
    assert_eq!(r.body["meta"]["total"], 1);
    assert_eq!(r.data()[0]["title"], "Mine");
}

async fn a_cancelled_never_published_event_stays_private_after_its_owner_reads_it(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let mut body = event_body("Never shown", 30);
    body["status"] = json!("DRAFT");
    let e = create(&app, &token, &body).await;
    let path = format!("/api/events/{}", e["id"].as_str().unwrap());
    app.post_as(
        &token,
        &format!("{path}/cancel"),
        &json!({"reason": "Plans changed"}),
    )
    .await
    .assert_status(200);
    // The owner reads it (and its availability) first...
    app.get_as(&token, &path).await.assert_status(200);
    app.get_as(&token, &format!("{path}/availability"))
        .await
        .assert_status(200);
    // ...and an anonymous caller still gets 404, never the kept answer.
    app.get(&path).await.assert_error(404, "NOT_FOUND");
    app.get(&format!("{path}/availability"))
        .await
        .assert_error(404, "NOT_FOUND");
}

both_backends!(
    a_cancelled_never_published_event_stays_private_after_its_owner_reads_it,
    an_organizers_status_list_and_another_organizers_id_combine_to_nothing,
    max_per_order_is_from_1_to_1000,
    an_organizer_creates_an_event_with_ticket_types_and_anyone_reads_it,
    an_event_has_a_time_zone_named_by_iana_defaulting_to_utc,
    price_and_total_tickets_make_one_general_type,
    a_user_creating_an_event_gets_organizer_not_approved,
    only_admins_may_feature_events,
    invalid_bodies_name_the_field,
    drafts_are_visible_only_to_their_owner_and_admins,
    editing_someone_elses_event_is_forbidden,
    a_stale_read_cannot_follow_a_successful_write,
    etags_answer_304_and_change_after_a_write,
    field_selection_returns_only_the_named_fields,
    capacity_below_sold_plus_held_is_a_conflict,
    a_ticket_type_patch_writes_only_the_fields_it_names,
    the_currency_is_fixed_once_tickets_are_booked,
    publish_then_cancel_follow_the_life_cycle,
    an_event_with_bookings_cannot_be_deleted,
    ticket_types_are_added_changed_and_deleted_unless_booked,
    availability_respects_the_event_cap_and_frees_expired_holds_at_once,
    counts_in_cached_answers_are_at_most_one_second_old,
    favorites_toggle_set_clear_and_list,
    status_filters_are_for_organizers_and_admins,
    ended_events_leave_the_list_and_become_completed_without_anyone_calling,
    hostile_search_text_is_just_text,
    bad_list_queries_are_400,
    unknown_fields_and_missing_resources_are_refused,
    an_organizer_listing_by_status_sees_only_their_own_events,
    cache_hits_and_misses_show_in_metrics,
    kept_answers_are_served_before_routing_through_the_whole_stack
);
