//! Several instances behind one load balancer: two servers on one database with one Redis
//! between them, and what a client must not notice when its requests land on either.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::json;
use ticketmax::users::model::Role;

use crate::dashboard_live::{open, stream_as, ticket};
use crate::fixtures::{TypeSpec, insert_event, suspend_in_storage};
use crate::helpers::{Backend, TestApp};

/// Runs a test on a [`pair`] of each backend (skipped without Redis outside CI).
macro_rules! on_pairs {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some((a, b)) = crate::helpers::pair(super::Backend::Sqlite).await {
                        super::$name(a, b).await
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some((a, b)) = crate::helpers::pair(super::Backend::Postgres).await {
                        super::$name(a, b).await
                    }
                }
            }
        )+
    };
}

async fn dashboard_streams_are_capped_per_user_across_instances(a: TestApp, b: TestApp) {
    let (_, user) = a.create_user(Role::User).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(stream_as(&a, &user).await);
    }
    for _ in 0..2 {
        streams.push(stream_as(&b, &user).await);
    }
    for app in [&a, &b] {
        let t = ticket(app, &user).await;
        app.get(&format!("/api/dashboard/updates?ticket={t}"))
            .await
            .assert_error(429, "RATE_LIMITED");
    }
    // A stream that ends on A gives its place back to the whole cluster.
    drop(streams.remove(0));
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let t = ticket(&a, &user).await;
    assert_eq!(open(&b, &t, None).await.0, 200);
}

async fn a_role_change_on_one_instance_is_honoured_by_the_other_at_once(a: TestApp, b: TestApp) {
    let (org_id, org) = a.create_user(Role::Organizer).await;
    let (event, _) = insert_event(
        &a,
        org_id,
        "PUBLISHED",
        None,
        Duration::days(30),
        &[TypeSpec::free(10)],
    )
    .await;
    let add_type = |name: &str| json!({"name": name, "price": 100, "capacity": 5});
    // B has read the organizer's account (and may keep it) before the change.
    b.post_as(
        &org,
        &format!("/api/events/{event}/ticket-types"),
        &add_type("B"),
    )
    .await
    .assert_status(201);
    let (_, admin) = a.admin().await;
    // Several flips, each checked on B at once: B learns of a change through Redis before A
    // answers, not through a bus message that may arrive a moment later.
    for round in 0..10 {
        for (role, expected) in [("USER", 403), ("ORGANIZER", 201)] {
            a.patch_as(
                &admin,
                &format!("/api/user/{org_id}/role"),
                &json!({ "role": role }),
            )
            .await
            .assert_status(200);
            let r = b
                .post_as(
                    &org,
                    &format!("/api/events/{event}/ticket-types"),
                    &add_type(&format!("B{round}")),
                )
                .await;
            assert_eq!(
                r.status.as_u16(),
                expected,
                "round {round}, role {role}: {}",
                r.body
            );
        }
    }
}

async fn a_logout_on_one_instance_ends_the_token_on_the_other_at_once(a: TestApp, b: TestApp) {
    let pw = "correct-horse-1";
    a.register_verified("cluster@example.com", pw).await;
    let r = a.login("cluster@example.com", pw).await;
    let access = r.data()["accessToken"].as_str().unwrap().to_string();
    let refresh = r.data()["refreshToken"].as_str().unwrap().to_string();
    b.get_as(&access, "/api/user/profile")
        .await
        .assert_status(200);
    a.post_as(
        &access,
        "/api/user/logout",
        &json!({"refreshToken": refresh}),
    )
    .await
    .assert_status(200);
    b.get_as(&access, "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

/// The bus message of a change may reach the other instance after the change's answer: the
/// stamp in Redis, written before that answer, is what makes the other instance honour it on
/// the next request. Here the change is stamped on A and never announced on the bus.
async fn a_stamped_change_is_honoured_by_the_other_instance_without_the_bus(
    a: TestApp,
    b: TestApp,
) {
    let (user_id, token) = a.create_user(Role::User).await;
    a.register_verified("stamped@example.com", "correct-horse-1")
        .await;
    let r = a.login("stamped@example.com", "correct-horse-1").await;
    let other = r.data()["accessToken"].as_str().unwrap().to_string();
    for t in [&token, &other] {
        b.get_as(t, "/api/user/profile").await.assert_status(200);
    }
    // The account: suspended in the database, stamped on A only.
    suspend_in_storage(&a, user_id).await;
    a.state.auth_cache.invalidate(user_id).await;
    b.get_as(&token, "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    // A session: revoked in the database, stamped on A only.
    let claims = a.state.jwt.verify(&other).unwrap();
    a.state
        .store
        .revoke_session(claims.sub, claims.sid)
        .await
        .unwrap();
    a.state.auth_cache.invalidate_session(claims.sid).await;
    b.get_as(&other, "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

on_pairs!(
    dashboard_streams_are_capped_per_user_across_instances,
    a_stamped_change_is_honoured_by_the_other_instance_without_the_bus,
    a_role_change_on_one_instance_is_honoured_by_the_other_at_once,
    a_logout_on_one_instance_ends_the_token_on_the_other_at_once,
);

/// A job's lease (a PostgreSQL advisory lock) is held by one holder at a time, and is free again
/// once that holder's round ends; another job's lease is free meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_lease_has_one_holder_at_a_time() {
    if !crate::helpers::postgres_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    let store = &app.state.store;
    // Keys of this test's own: every test's schema shares one database, and so its locks.
    let key = i64::from(uuid::Uuid::new_v4().as_u128() as u32);
    let held = store.lead(key).await.unwrap().expect("a free key");
    assert!(store.lead(key).await.unwrap().is_none());
    store
        .lead(key + 1)
        .await
        .unwrap()
        .expect("another key is free")
        .release()
        .await;
    held.release().await;
    store
        .lead(key)
        .await
        .unwrap()
        .expect("free again once given back")
        .release()
        .await;

    // Leases never take the connections requests need: with as many leases held as the app's
    // whole pool has connections (8 in tests), a request still reads the database at once.
    let mut held = Vec::new();
    for i in 0..8 {
        held.push(store.lead(key + 10 + i).await.unwrap().expect("free key"));
    }
    let started = std::time::Instant::now();
    app.get("/api/events").await.assert_status(200);
    app.get("/health/database").await.assert_status(200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "requests waited {:?} for a connection",
        started.elapsed()
    );
    for lease in held {
        lease.release().await;
    }
}
