//! The inventory invariant under concurrency: 1,000 simultaneous attempts from 100 buyers for
//! 100 tickets hold exactly 100, on SQLite, on PostgreSQL, and on 3 instances sharing PostgreSQL.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use ticketmax::bookings::{HoldOutcome, Links, NewHold};
use ticketmax::store::Store;
use ticketmax::users::model::Role;

use crate::both_backends;
use crate::fixtures::{TypeSpec, counters, guest_hold, insert_event, published_event};
use crate::helpers::{Backend, TestApp, postgres_available};

/// Fires 10 attempts for each of 100 users at once, spread over `apps`, and checks the result.
async fn thousand_attempts(apps: &[TestApp]) {
    let app = &apps[0];
    let (_, _, event, types) = published_event(app, &[TypeSpec::paid(100)]).await;
    let mut tokens = Vec::new();
    for _ in 0..100 {
        tokens.push(app.create_user(Role::User).await.1);
    }
    let addresses: Vec<String> = apps.iter().map(|a| a.address.clone()).collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = Vec::with_capacity(1000);
    for i in 0..1000 {
        let client = client.clone();
        let url = format!("{}/api/bookings", addresses[i % addresses.len()]);
        let token = tokens[i % 100].clone();
        let start = start.clone();
        let ty = types[0];
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let r = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"eventId": event, "ticketTypeId": ty, "quantity": 1}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (
                status,
                body["error"]["code"].as_str().unwrap_or("").to_string(),
            )
        }));
    }
    let mut held = 0;
    let mut sold_out = 0;
    let mut other = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (201, _) => held += 1,
            (409, code) if code == "SOLD_OUT" => sold_out += 1,
            x => other.push(x),
        }
    }
    assert!(
        other.is_empty(),
        "unexpected answers: {:?}",
        &other[..other.len().min(5)]
    );
    assert_eq!(held, 100);
    assert_eq!(sold_out, 900);
    let (capacity, sold, held_counter, pending, confirmed) = counters(app, types[0]).await;
    assert_eq!((capacity, sold, held_counter), (100, 0, 100));
    assert_eq!(
        (pending, confirmed),
        (100, 0),
        "counters equal the sum of the bookings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_attempts_hold_exactly_the_capacity_on_sqlite() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    thousand_attempts(&[app]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_attempts_hold_exactly_the_capacity_on_postgres() {
    if !postgres_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    thousand_attempts(&[app]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_sharing_postgres_never_oversell() {
    if !postgres_available() {
        return;
    }
    let first = TestApp::spawn(Backend::Postgres).await;
    let store = first.state.store.clone();
    let second = TestApp::builder(Backend::Postgres)
        .store(store.clone())
        .spawn()
        .await;
    let third = TestApp::builder(Backend::Postgres)
        .store(store)
        .spawn()
        .await;
    thousand_attempts(&[first, second, third]).await;
}

/// 600 simultaneous attempts on two types of an event capped at 50 hold exactly 50.
async fn capped_event_attempts(apps: &[TestApp]) {
    let app = &apps[0];
    let (org, _) = app.create_user(Role::Organizer).await;
    let (event, types) = crate::fixtures::insert_event(
        app,
        org,
        "PUBLISHED",
        Some(50),
        chrono::Duration::days(10),
        &[TypeSpec::paid(40), TypeSpec::paid(40)],
    )
    .await;
    let mut tokens = Vec::new();
    for _ in 0..60 {
        tokens.push(app.create_user(Role::User).await.1);
    }
    let client = reqwest::Client::new();
    let start = Arc::new(tokio::sync::Barrier::new(600));
    let mut tasks = Vec::new();
    for i in 0..600 {
        let client = client.clone();
        let url = format!("{}/api/bookings", apps[i % apps.len()].address);
        let token = tokens[i % 60].clone();
        let ty = types[i % 2];
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"eventId": event, "ticketTypeId": ty, "quantity": 1}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut held = 0;
    for t in tasks {
        match t.await.unwrap() {
            201 => held += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(held, 50);
    let a = counters(app, types[0]).await;
    let b = counters(app, types[1]).await;
    assert!(a.1 + a.2 <= 40 && b.1 + b.2 <= 40);
    assert_eq!(a.2 + b.2, 50);
    assert_eq!(
        (a.2, b.2),
        (a.3, b.3),
        "counters equal the sum of the bookings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_cap_holds_under_concurrency_on_sqlite() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    capped_event_attempts(&[app]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_cap_holds_across_three_instances_on_postgres() {
    if !postgres_available() {
        return;
    }
    let first = TestApp::spawn(Backend::Postgres).await;
    let store = first.state.store.clone();
    let second = TestApp::builder(Backend::Postgres)
        .store(store.clone())
        .spawn()
        .await;
    let third = TestApp::builder(Backend::Postgres)
        .store(store)
        .spawn()
        .await;
    capped_event_attempts(&[first, second, third]).await;
}

async fn one_transaction_mixing_types_and_events_decides_each_request_on_its_own(app: TestApp) {
    let (org, _) = app.create_user(Role::Organizer).await;
    let (open, open_types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        chrono::Duration::days(30),
        &[TypeSpec::paid(1), TypeSpec::paid(5), TypeSpec::free(2)],
    )
    .await;
    let (capped, capped_types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        Some(2),
        chrono::Duration::days(30),
        &[TypeSpec::paid(5), TypeSpec::paid(5)],
    )
    .await;
    let [a, b, free] = open_types[..] else {
        panic!("three types")
    };
    let [c, d] = capped_types[..] else {
        panic!("two types")
    };
    let requests = [
        guest_hold(open, a, "x@example.com", 1),
        guest_hold(open, a, "y@example.com", 1),
        guest_hold(open, b, "x@example.com", 3),
        guest_hold(open, b, "x@example.com", 8),
        guest_hold(open, free, "z@example.com", 1),
        guest_hold(capped, c, "w@example.com", 1),
        guest_hold(capped, d, "w@example.com", 2),
        guest_hold(capped, d, "v@example.com", 1),
    ];
    let store = &app.state.store;
    let mut items = Vec::new();
    for r in &requests {
        assert!(store.resolve_hold(r).await.unwrap().is_ok(), "on sale");
        items.push(r.clone());
    }
    let links = Links {
        public_base: "http://localhost".into(),
        api_base: "http://localhost/api".into(),
        signing_key: "test-key".into(),
    };
    let outcomes = store.hold_batch(&items, &links).await.unwrap();
    let held = |o: &HoldOutcome| matches!(o, HoldOutcome::Held { .. });
    assert!(held(&outcomes[0]), "{:?}", outcomes[0]);
    assert!(
        matches!(outcomes[1], HoldOutcome::SoldOut { available: 0 }),
        "the sold-out type refuses only its own request: {:?}",
        outcomes[1]
    );
    assert!(held(&outcomes[2]), "{:?}", outcomes[2]);
    assert!(
        matches!(
            outcomes[3],
            HoldOutcome::HoldingLimit {
                max: 10,
                holding: 3
            }
        ),
        "the holding limit counts the batch's earlier hold: {:?}",
        outcomes[3]
    );
    assert!(held(&outcomes[4]), "{:?}", outcomes[4]);
    assert!(held(&outcomes[5]), "{:?}", outcomes[5]);
    assert!(
        matches!(outcomes[6], HoldOutcome::SoldOut { available: 1 }),
        "the event cap counts the other type's hold: {:?}",
        outcomes[6]
    );
    assert!(held(&outcomes[7]), "{:?}", outcomes[7]);

    assert_eq!(counters(&app, a).await, (1, 0, 1, 1, 0));
    assert_eq!(counters(&app, b).await, (5, 0, 3, 3, 0));
    assert_eq!(counters(&app, free).await, (2, 1, 0, 0, 1));
    assert_eq!(counters(&app, c).await, (5, 0, 1, 1, 0));
    assert_eq!(counters(&app, d).await, (5, 0, 1, 1, 0));
    let now = Utc::now();
    assert_eq!(
        store.live_available(d, now).await.unwrap(),
        Some(0),
        "event cap reached"
    );
    // Each booking's message was written with it.
    let pending = store.messages_for("x@example.com").await.unwrap();
    assert_eq!(
        pending
            .iter()
            .filter(|m| m.template == "booking_pending")
            .count(),
        2
    );
    let confirmed = store.messages_for("z@example.com").await.unwrap();
    assert!(confirmed.iter().any(|m| m.template == "booking_confirmed"));
}

async fn the_holding_limit_counts_an_account_and_a_guest_email_apart(app: TestApp) {
    // §11.65: an account's holdings are its own bookings whatever email they carry; a guest's
    // are the guest bookings of that email. Both kinds in one batch, sharing one email.
    let (org, _) = app.create_user(Role::Organizer).await;
    let (event, types) = insert_event(
        &app,
        org,
        "PUBLISHED",
        None,
        chrono::Duration::days(30),
        &[TypeSpec::paid(50)],
    )
    .await;
    let ty = types[0];
    let (user, _) = app.create_user(Role::User).await;
    let shared = "shared@example.com";
    let account = |quantity| NewHold {
        user_id: Some(user),
        ..guest_hold(event, ty, shared, quantity)
    };
    let links = &Links {
        public_base: "http://localhost".into(),
        api_base: "http://localhost/api".into(),
        signing_key: "test-key".into(),
    };
    let store = &app.state.store;
    let batch =
        |requests: Vec<NewHold>| async move { store.hold_batch(&requests, links).await.unwrap() };
    // The account holds 8 of 10; the guest with the same email holds 9 of 10.
    let first = batch(vec![account(8), guest_hold(event, ty, shared, 9)]).await;
    assert!(
        first.iter().all(|o| matches!(o, HoldOutcome::Held { .. })),
        "{first:?}"
    );
    let second = batch(vec![
        account(3),
        guest_hold(event, ty, shared, 2),
        account(2),
        guest_hold(event, ty, shared, 1),
    ])
    .await;
    assert!(
        matches!(
            second[0],
            HoldOutcome::HoldingLimit {
                max: 10,
                holding: 8
            }
        ),
        "{:?}",
        second[0]
    );
    assert!(
        matches!(
            second[1],
            HoldOutcome::HoldingLimit {
                max: 10,
                holding: 9
            }
        ),
        "{:?}",
        second[1]
    );
    assert!(
        matches!(second[2], HoldOutcome::Held { .. }),
        "{:?}",
        second[2]
    );
    assert!(
        matches!(second[3], HoldOutcome::Held { .. }),
        "{:?}",
        second[3]
    );
    assert_eq!(counters(&app, ty).await, (50, 0, 20, 20, 0));
}

both_backends!(
    one_transaction_mixing_types_and_events_decides_each_request_on_its_own,
    the_holding_limit_counts_an_account_and_a_guest_email_apart
);

/// A hold's locks on its ticket type and capped event exclude other writers, not the
/// `FOR KEY SHARE` that a foreign-key check of another transaction takes on them (starting a
/// payment rewrites its booking, which checks its event, then its type). With `FOR UPDATE` the
/// hold waited here; under load the two orders deadlocked, and PostgreSQL broke each cycle after
/// a second with a 500 (found by scripts/crash-test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_does_not_wait_for_a_foreign_key_check_on_its_type_or_event() {
    if !postgres_available() {
        return;
    }
    // Arrange: another transaction holds what a foreign-key check of a booking write holds.
    let app = TestApp::spawn(Backend::Postgres).await;
    let (organizer, _) = app.create_user(Role::Organizer).await;
    let (event, types) = insert_event(
        &app,
        organizer,
        "PUBLISHED",
        Some(1000),
        chrono::Duration::days(30),
        &[TypeSpec::paid(100)],
    )
    .await;
    let Store::Postgres(pools) = &app.state.store else {
        unreachable!("a PostgreSQL app")
    };
    let mut checking = pools.write.begin().await.unwrap();
    for table in ["events", "ticket_types"] {
        let id = if table == "events" { event } else { types[0] };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT 1 FROM {table} WHERE id = $1 FOR KEY SHARE"
        )))
        .bind(id)
        .execute(&mut *checking)
        .await
        .unwrap();
    }

    // Act
    let hold = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        app.post(
            "/api/bookings/guest",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 2,
                    "customerEmail": "keyshare@example.com", "customerName": "Key Share"}),
        ),
    )
    .await;
    checking.rollback().await.unwrap();

    // Assert
    let hold = hold.expect("the hold waited for a transaction that only references its rows");
    hold.assert_status(201);
    let (_, sold, held, _, _) = counters(&app, types[0]).await;
    assert_eq!((sold, held), (0, 2));
}
