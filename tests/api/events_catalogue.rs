//! The catalogue at scale (filters, search and sorting over hundreds of seeded events), the
//! availability stream, image upload, seed-demo, and the cache across instances through Redis.

use std::collections::HashSet;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use futures_util::StreamExt;
use serde_json::{Value, json};
use ticketmax::events::model::{EventRow, NewTicketType};
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::{create, event_body, hold, seeded_event};
use crate::helpers::{Backend, TestApp};

const CATEGORIES: &[&str] = &["Music", "Tech", "Food", "Sports", "Art"];
const LOCATIONS: &[&str] = &["Victoria Island, Lagos", "Abuja", "Port Harcourt", "Kano"];

struct Seeded {
    events: Vec<(EventRow, i64)>,
    organizers: [Uuid; 2],
}

async fn seed_catalogue(app: &TestApp, n: usize) -> Seeded {
    let (a, _) = app.create_user(Role::Organizer).await;
    let (b, _) = app.create_user(Role::Organizer).await;
    let now = Utc::now();
    let mut rows = Vec::new();
    let mut events = Vec::new();
    for i in 0..n {
        let mut e = seeded_event(if i % 3 == 0 { a } else { b }, i, now);
        e.category = CATEGORIES[i % CATEGORIES.len()].to_string();
        e.location = LOCATIONS[i % LOCATIONS.len()].to_string();
        e.title = if i % 7 == 0 {
            format!("Jazz evening {i}")
        } else {
            format!("Gathering {i}")
        };
        e.description = if i % 11 == 0 {
            "Live saxophone all night".into()
        } else {
            "An ordinary event".into()
        };
        e.starts_at = now + Duration::days((i % 90) as i64 + 1) + Duration::minutes(i as i64);
        e.featured = i % 10 == 0;
        let price = (i % 10) as i64 * 100_000;
        rows.push((
            e.clone(),
            vec![NewTicketType {
                name: "General".into(),
                kind: "general".into(),
                price,
                capacity: 100,
                sales_start_at: None,
                sales_end_at: None,
                max_per_order: 10,
            }],
        ));
        events.push((e, price));
    }
    app.state.store.insert_events_bulk(&rows).await.unwrap();
    Seeded {
        events,
        organizers: [a, b],
    }
}

fn total(r: &crate::helpers::TestResponse) -> u64 {
    r.assert_status(200);
    r.body["meta"]["total"].as_u64().unwrap()
}

fn count(s: &Seeded, f: impl Fn(&EventRow, i64) -> bool) -> u64 {
    s.events.iter().filter(|(e, p)| f(e, *p)).count() as u64
}

async fn filters_search_and_sorting_work_on_a_catalogue_of_hundreds(app: TestApp) {
    let s = seed_catalogue(&app, 300).await;
    assert_eq!(total(&app.get("/api/events").await), 300);
    assert_eq!(
        total(&app.get("/api/events?category=MUSIC").await),
        count(&s, |e, _| e.category == "Music")
    );
    assert_eq!(
        total(&app.get("/api/events/category/music").await),
        count(&s, |e, _| e.category == "Music")
    );
    assert_eq!(
        total(&app.get("/api/events?location=port%20HAR").await),
        count(&s, |e, _| e.location == "Port Harcourt")
    );
    assert_eq!(
        total(&app.get("/api/events?location=lagos").await),
        count(&s, |e, _| e.location.contains("Lagos"))
    );
    assert_eq!(
        total(&app.get("/api/events?q=JAZZ").await),
        count(&s, |e, _| e.title.starts_with("Jazz"))
    );
    assert_eq!(
        total(&app.get("/api/events?q=saxo").await),
        count(&s, |e, _| e.description.contains("saxophone")),
        "word prefixes match"
    );
    assert_eq!(
        total(&app.get("/api/events?q=jazz%20evening").await),
        count(&s, |e, _| e.title.starts_with("Jazz"))
    );
    assert_eq!(
        total(&app.get("/api/events?q=abuja").await),
        count(&s, |e, _| e.location == "Abuja"),
        "location is searched"
    );
    assert_eq!(
        total(&app.get("/api/events?minPrice=300000&maxPrice=500000").await),
        count(&s, |_, p| (300_000..=500_000).contains(&p))
    );
    assert_eq!(
        total(&app.get("/api/events?featured=true").await),
        count(&s, |e, _| e.featured)
    );
    assert_eq!(
        total(&app.get("/api/events?featured=false").await),
        count(&s, |e, _| !e.featured)
    );
    let org = s.organizers[0];
    assert_eq!(
        total(&app.get(&format!("/api/events?organizerId={org}")).await),
        count(&s, |e, _| e.organizer_id == org)
    );
    let (from, to) = (
        Utc::now() + Duration::days(10),
        Utc::now() + Duration::days(20),
    );
    let q = serde_urlencoded::to_string([("from", from.to_rfc3339()), ("to", to.to_rfc3339())])
        .unwrap();
    assert_eq!(
        total(&app.get(&format!("/api/events?{q}")).await),
        count(&s, |e, _| e.starts_at >= from && e.starts_at < to)
    );
    assert_eq!(
        total(
            &app.get("/api/events?category=music&location=abuja&featured=true&q=jazz")
                .await
        ),
        count(&s, |e, _| e.category == "Music"
            && e.location == "Abuja"
            && e.featured
            && e.title.starts_with("Jazz"))
    );

    // Sorting.
    let prices = |r: &crate::helpers::TestResponse| {
        r.data()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["minPrice"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let asc = prices(&app.get("/api/events?sort=price&limit=100").await);
    assert!(asc.windows(2).all(|w| w[0] <= w[1]), "{asc:?}");
    let desc = prices(&app.get("/api/events?sort=-price&limit=100").await);
    assert!(desc.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(desc[0], 900_000);
    let starts = |r: &crate::helpers::TestResponse| {
        r.data()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["startsAt"]
                    .as_str()
                    .unwrap()
                    .parse::<chrono::DateTime<Utc>>()
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    let s1 = starts(&app.get("/api/events?limit=100").await);
    assert!(
        s1.windows(2).all(|w| w[0] <= w[1]),
        "default sort is startsAt"
    );
    let s2 = starts(&app.get("/api/events?sort=-startsAt&limit=100").await);
    assert!(s2.windows(2).all(|w| w[0] >= w[1]));
    let newest = app.get("/api/events?sort=-createdAt&limit=1").await;
    assert_eq!(newest.data()[0]["title"], "Gathering 299");

    // Pagination.
    let mut seen = HashSet::new();
    for page in 1..=6 {
        let r = app
            .get(&format!("/api/events?limit=50&page={page}&sort=createdAt"))
            .await;
        assert_eq!(
            r.body["meta"],
            json!({"page": page, "limit": 50, "total": 300, "totalPages": 6})
        );
        for e in r.data().as_array().unwrap() {
            assert!(
                seen.insert(e["id"].as_str().unwrap().to_string()),
                "pages overlap"
            );
        }
    }
    assert_eq!(seen.len(), 300);
    assert!(
        app.get("/api/events?limit=50&page=7")
            .await
            .data()
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Categories and featured.
    let cats = app.get("/api/events/categories").await;
    cats.assert_status(200);
    let music = cats
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "Music")
        .unwrap();
    assert_eq!(
        music["count"].as_u64().unwrap(),
        count(&s, |e, _| e.category == "Music")
    );
    let featured = app.get("/api/events/featured").await;
    assert_eq!(featured.data().as_array().unwrap().len(), 6);
    assert!(
        featured
            .data()
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["featured"] == true)
    );
    assert_eq!(
        app.get("/api/events/featured?limit=20")
            .await
            .data()
            .as_array()
            .unwrap()
            .len(),
        20
    );
}

async fn the_availability_stream_sends_the_current_state_then_each_change(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Streamed", 5)).await;
    let id: Uuid = e["id"].as_str().unwrap().parse().unwrap();
    let type_id: Uuid = e["ticketTypes"][0]["id"].as_str().unwrap().parse().unwrap();
    let response = app
        .client
        .get(format!(
            "{}/api/events/{id}/availability/stream",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut events = sse_events(response);
    let first = tokio::time::timeout(StdDuration::from_secs(2), events.next())
        .await
        .expect("first event")
        .unwrap();
    assert_eq!(first["totalAvailable"], 110);
    assert_eq!(first["eventId"], id.to_string());
    // A booking happens: the engine holds seats and announces it on the bus.
    hold(&app, id, type_id, 3, 600).await;
    app.state.bus.publish("availability", id.to_string()).await;
    let next = tokio::time::timeout(StdDuration::from_secs(1), events.next())
        .await
        .expect("update within 1 s")
        .unwrap();
    assert_eq!(next["totalAvailable"], 107);
    app.get(&format!(
        "/api/events/{}/availability/stream",
        Uuid::new_v4()
    ))
    .await
    .assert_error(404, "NOT_FOUND");
}

/// However many watch an event, one poller reads its state for them (API.md §11.97), and it
/// stops with the last of them.
async fn the_streams_of_one_event_share_one_poller(app: TestApp) {
    let (id, type_id, mut first) = streamed_event(&app, "Shared").await;
    let url = format!("{}/api/events/{id}/availability/stream", app.address);
    let mut others = Vec::new();
    for _ in 0..3 {
        let mut s = sse_events(app.client.get(&url).send().await.unwrap());
        let state = tokio::time::timeout(StdDuration::from_secs(2), s.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state["totalAvailable"], 110);
        others.push(s);
    }
    assert_eq!(
        app.state.streams.pollers.running(),
        1,
        "one poller for four streams"
    );
    hold(&app, id, type_id, 2, 600).await;
    app.state
        .bus
        .publish(ticketmax::bus::topic::AVAILABILITY, id.to_string())
        .await;
    let next = tokio::time::timeout(StdDuration::from_secs(1), first.next())
        .await
        .expect("the first stream gets the change")
        .unwrap();
    assert_eq!(next["totalAvailable"], 108);
    for s in others.iter_mut() {
        let next = tokio::time::timeout(StdDuration::from_secs(1), s.next())
            .await
            .expect("every stream gets the change")
            .unwrap();
        assert_eq!(next["totalAvailable"], 108);
    }
    drop(first);
    drop(others);
    let mut stopped = false;
    for _ in 0..100 {
        if app.state.streams.pollers.running() == 0 {
            stopped = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    assert!(stopped, "the poller stops with its last stream");
}

async fn availability_streams_are_capped_per_client_ip(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("MAX_STREAMS_PER_IP", "2")
        .spawn()
        .await;
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Watched", 5)).await;
    let url = format!(
        "{}/api/events/{}/availability/stream",
        app.address,
        e["id"].as_str().unwrap()
    );
    let open = || app.client.get(&url).send();
    let first = open().await.unwrap();
    let second = open().await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open().await.unwrap();
    assert_eq!(third.status().as_u16(), 429);
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // A stream that ends gives its slot back.
    drop(first);
    let mut reopened = 0;
    for _ in 0..50 {
        if open().await.unwrap().status().as_u16() == 200 {
            reopened += 1;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert_eq!(reopened, 1, "the closed stream's slot was not given back");
    drop(second);
}

async fn the_availability_stream_coalesces_a_burst_of_changes(app: TestApp) {
    let (id, type_id, mut events) = streamed_event(&app, "Hot on-sale").await;
    // 40 holds over ~0.6 s, each announced: one event per change would be ~40 events.
    for _ in 0..40 {
        hold(&app, id, type_id, 1, 600).await;
        app.state.bus.publish("availability", id.to_string()).await;
        tokio::time::sleep(StdDuration::from_millis(15)).await;
    }
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + StdDuration::from_millis(1500);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.next()).await {
        seen.push(ev["totalAvailable"].as_i64().unwrap());
    }
    // At most 4 a second: over the burst and the wait after it, well under one per change.
    assert!(
        !seen.is_empty() && seen.len() <= 12,
        "events sent during the burst: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "each event a newer state: {seen:?}"
    );
    assert_eq!(
        *seen.last().unwrap(),
        70,
        "the final state arrives within 1 s: {seen:?}"
    );
}

async fn the_availability_stream_sends_each_of_a_few_quick_changes(app: TestApp) {
    let (id, type_id, mut events) = streamed_event(&app, "Quiet sale").await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        hold(&app, id, type_id, 1, 600).await;
        app.state.bus.publish("availability", id.to_string()).await;
        let ev = tokio::time::timeout(StdDuration::from_millis(500), events.next())
            .await
            .expect("an event per change")
            .unwrap();
        seen.push(ev["totalAvailable"].as_i64().unwrap());
    }
    assert_eq!(seen, vec![109, 108, 107]);
}

async fn the_availability_stream_ends_when_the_server_shuts_down(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Closing", 5)).await;
    let url = format!(
        "{}/api/events/{}/availability/stream",
        app.address,
        e["id"].as_str().unwrap()
    );
    let mut events = sse_events(app.client.get(url).send().await.unwrap());
    tokio::time::timeout(StdDuration::from_secs(2), events.next())
        .await
        .unwrap()
        .unwrap();
    app.state.begin_shutdown();
    let end = tokio::time::timeout(StdDuration::from_secs(2), events.next()).await;
    assert!(matches!(end, Ok(None)), "the stream closes at shutdown");
}

async fn images_are_checked_by_content_stripped_and_served_for_a_year(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let (_, other) = app.create_user(Role::Organizer).await;
    let e = create(&app, &token, &event_body("Pictured", 5)).await;
    let path = format!("/api/events/{}/image", e["id"].as_str().unwrap());
    let (ct, body) = multipart("image", "photo.png", &png(4, 3));
    let r = app
        .request(reqwest::Method::POST, &path)
        .token(&token)
        .body(&ct, body.clone())
        .send()
        .await;
    r.assert_status(200);
    let url = r.data()["imageUrl"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/uploads/", app.address)),
        "{url}"
    );
    let got = app.client.get(&url).send().await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(
        got.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(got.headers()["content-type"], "image/png");
    let bytes = got.bytes().await.unwrap();
    assert!(
        !bytes.windows(6).any(|w| w == b"secret"),
        "metadata is stripped"
    );
    assert_eq!(
        app.get(&format!("/api/events/{}", e["id"].as_str().unwrap()))
            .await
            .data()["imageUrl"],
        url.as_str()
    );
    app.request(reqwest::Method::POST, &path)
        .token(&other)
        .body(&ct, body)
        .send()
        .await
        .assert_error(403, "FORBIDDEN");
    let (ct, fake) = multipart("image", "evil.png", b"<?php echo 1; ?> not an image at all");
    app.request(reqwest::Method::POST, &path)
        .token(&token)
        .body(&ct, fake)
        .send()
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let (ct, huge) = multipart("image", "huge.png", &png(10_000, 5_000));
    app.request(reqwest::Method::POST, &path)
        .token(&token)
        .body(&ct, huge)
        .send()
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let mut big = png(4, 3);
    big.extend(std::iter::repeat_n(0u8, 6 * 1024 * 1024));
    let (ct, big) = multipart("image", "big.png", &big);
    app.request(reqwest::Method::POST, &path)
        .token(&token)
        .body(&ct, big)
        .send()
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    app.request(reqwest::Method::POST, &path)
        .token(&token)
        .body("application/json", "{}")
        .send()
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    app.get("/uploads/../../etc/passwd")
        .await
        .assert_status(404);
}

async fn seed_demo_fills_an_empty_catalogue_once(app: TestApp) {
    let seeded = ticketmax::events::demo::seed(&app.state.store, 12)
        .await
        .unwrap();
    assert_eq!(seeded.events, 12);
    let list = app.get("/api/events?limit=100").await;
    assert_eq!(list.body["meta"]["total"], 12);
    let cats = app.get("/api/events/categories").await;
    assert!(
        cats.data().as_array().unwrap().len() >= 8,
        "many categories"
    );
    let prices: HashSet<i64> = list
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["minPrice"].as_i64().unwrap())
        .collect();
    assert!(prices.len() >= 4, "several price tiers");
    assert!(
        ticketmax::events::demo::seed(&app.state.store, 12)
            .await
            .is_err(),
        "refuses a non-empty catalogue"
    );
    let org = app
        .state
        .store
        .user_by_email(&seeded.organizer_email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(org.role(), Role::Organizer);
}

both_backends!(
    filters_search_and_sorting_work_on_a_catalogue_of_hundreds,
    the_availability_stream_sends_the_current_state_then_each_change,
    availability_streams_are_capped_per_client_ip,
    the_availability_stream_coalesces_a_burst_of_changes,
    the_availability_stream_sends_each_of_a_few_quick_changes,
    the_availability_stream_ends_when_the_server_shuts_down,
    the_streams_of_one_event_share_one_poller,
    images_are_checked_by_content_stripped_and_served_for_a_year,
    seed_demo_fills_an_empty_catalogue_once
);

/// A new published event (110 seats: 100 + 10) with an availability stream open on it, whose
/// first event (the full 110) is read: `(event id, first ticket type id, the stream)`.
async fn streamed_event(
    app: &TestApp,
    title: &str,
) -> (Uuid, Uuid, impl futures_util::Stream<Item = Value> + Unpin) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let e = create(app, &token, &event_body(title, 5)).await;
    let id: Uuid = e["id"].as_str().unwrap().parse().unwrap();
    let type_id: Uuid = e["ticketTypes"][0]["id"].as_str().unwrap().parse().unwrap();
    let url = format!("{}/api/events/{id}/availability/stream", app.address);
    let mut events = sse_events(app.client.get(url).send().await.unwrap());
    let first = tokio::time::timeout(StdDuration::from_secs(2), events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first["totalAvailable"], 110);
    (id, type_id, events)
}

/// Parses an SSE response into its `availability` payloads.
fn sse_events(response: reqwest::Response) -> impl futures_util::Stream<Item = Value> + Unpin {
    let mut buffer = String::new();
    Box::pin(response.bytes_stream().flat_map(move |chunk| {
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap_or_default()));
        let mut out = Vec::new();
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: availability") {
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                out.push(serde_json::from_str(&data).unwrap());
            }
        }
        futures_util::stream::iter(out)
    }))
}

/// A PNG header of the given size with a text chunk (pixels are never decoded).
/// A PNG with a `tEXt` chunk saying "secret": real pixels when small, a header alone (refused
/// before any decoding) above 40 megapixels.
fn png(width: u32, height: u32) -> Vec<u8> {
    use crate::images::png_chunk;
    let mut b = if u64::from(width) * u64::from(height) <= 1_000_000 {
        crate::images::png(&crate::images::picture(width, height, 7))
    } else {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png_chunk(&mut b, b"IHDR", &ihdr);
        png_chunk(&mut b, b"IEND", b"");
        b
    };
    // After the signature (8 bytes) and IHDR (25).
    let mut text = Vec::new();
    png_chunk(&mut text, b"tEXt", b"Comment\0secret");
    b.splice(33..33, text);
    b
}

fn multipart(field: &str, filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "tm-boundary-7f3a";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_page_is_kept_from_its_second_asking_on() {
    let Some(redis) = crate::helpers::redis_url() else {
        return;
    };
    let prefix = format!("test-{}:", Uuid::new_v4().simple());
    let app = TestApp::builder(Backend::Sqlite)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let (_, token) = app.create_user(Role::Organizer).await;
    create(&app, &token, &event_body("Kept", 5)).await;
    // What the shared level-one cache holds (the answers kept 0.9 s never leave the instance).
    let mut conn = redis::Client::open(redis.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pattern = format!("{prefix}cache:g[0-9]*");
    let mut kept = async || -> Vec<String> {
        redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    let path = "/api/events?q=kept&limit=7";
    assert_eq!(app.get(path).await.data()[0]["title"], "Kept");
    assert_eq!(
        kept().await,
        Vec::<String>::new(),
        "the first asking stored nothing"
    );
    // Past the kept answer's 0.9 s, the next asking reaches the level-one cache.
    tokio::time::sleep(StdDuration::from_millis(1000)).await;
    assert_eq!(app.get(path).await.data()[0]["title"], "Kept");
    assert_eq!(kept().await.len(), 1, "the second asking stored the page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_one_instance_reach_the_cache_and_streams_of_another_through_redis() {
    let Some(redis) = crate::helpers::redis_url() else {
        return;
    };
    let prefix = format!("test-{}:", Uuid::new_v4().simple());
    let a = TestApp::builder(Backend::Sqlite)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let b = TestApp::builder(Backend::Sqlite)
        .store(a.state.store.clone())
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let (_, token) = a.create_user(Role::Organizer).await;
    let e = create(&a, &token, &event_body("Shared", 5)).await;
    let id: Uuid = e["id"].as_str().unwrap().parse().unwrap();
    let path = format!("/api/events/{id}");
    assert_eq!(b.get(&path).await.data()["title"], "Shared");
    assert_eq!(b.get("/api/events").await.data()[0]["title"], "Shared");
    let stream = b
        .client
        .get(format!("{}{path}/availability/stream", b.address))
        .send()
        .await
        .unwrap();
    let mut events = sse_events(stream);
    tokio::time::timeout(StdDuration::from_secs(2), events.next())
        .await
        .unwrap()
        .unwrap();

    a.patch_as(&token, &path, &json!({"title": "Renamed"}))
        .await
        .assert_status(200);
    let mut seen = false;
    for _ in 0..20 {
        if b.get("/api/events").await.data()[0]["title"] == "Renamed"
            && b.get(&path).await.data()["title"] == "Renamed"
        {
            seen = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert!(
        seen,
        "instance B dropped its cached answers within a second"
    );

    let type_id: Uuid = e["ticketTypes"][0]["id"].as_str().unwrap().parse().unwrap();
    hold(&a, id, type_id, 5, 600).await;
    a.state.bus.publish("availability", id.to_string()).await;
    let next = tokio::time::timeout(StdDuration::from_secs(1), events.next())
        .await
        .expect("update within 1 s")
        .unwrap();
    assert_eq!(next["totalAvailable"], 105);
}
