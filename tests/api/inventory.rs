//! The inventory invariant under concurrency: 1,000 simultaneous attempts from 100 buyers for
//! 100 tickets hold exactly 100, on SQLite, on PostgreSQL, and on 3 instances sharing PostgreSQL.

use std::sync::Arc;

use serde_json::json;
use ticketmax::users::model::Role;

use crate::bookings::{TypeSpec, counters, published_event};
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
    let (event, types) = crate::bookings::insert_event(
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
