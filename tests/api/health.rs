//! Health, metrics and graceful shutdown.

use crate::both_backends;
use crate::helpers::TestApp;

async fn health_reports_ok_with_version_and_uptime(app: TestApp) {
    let r = app.get("/health").await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "ok");
    assert_eq!(r.data()["version"], env!("CARGO_PKG_VERSION"));
    assert!(r.data()["uptimeSeconds"].is_u64());
}

async fn database_health_names_the_backend(app: TestApp) {
    let r = app.get("/health/database").await;
    r.assert_status(200);
    let expected = match app.backend {
        crate::helpers::Backend::Sqlite => "sqlite",
        crate::helpers::Backend::Postgres => "postgres",
    };
    assert_eq!(r.data()["backend"], expected);
    assert_eq!(r.data()["status"], "up");
    assert!(r.data()["latencyMs"].is_number());
}

async fn database_health_is_503_when_the_database_is_gone(app: TestApp) {
    app.state.store.close().await;
    let r = app.get("/health/database").await;
    r.assert_error(503, "UNAVAILABLE");
    assert_eq!(r.body["error"]["details"][0]["field"], "database");
    let s = app.get("/health/services").await;
    s.assert_error(503, "UNAVAILABLE");
}

async fn services_health_lists_every_dependency(app: TestApp) {
    let r = app.get("/health/services").await;
    r.assert_status(200);
    let names: Vec<_> = r
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    for name in [
        "database",
        "cache",
        "email",
        "sms",
        "rateLimits",
        "payments.test",
        "payments.offline",
        "payments.paystack",
    ] {
        assert!(
            names.contains(&name.to_string()),
            "{name} missing from {names:?}"
        );
    }
    let email = r
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "email")
        .unwrap();
    assert_eq!(
        email["status"], "disabled",
        "the log transport delivers nothing"
    );
    let status_of = |name: &str| {
        r.data()
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["status"].clone())
    };
    assert_eq!(status_of("payments.test"), Some("up".into()));
    assert_eq!(status_of("payments.stripe"), Some("disabled".into()));
}

async fn services_health_probes_at_most_once_per_30_seconds(app: TestApp) {
    let first = app.get("/health/services").await;
    first.assert_status(200);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let second = app.get("/health/services").await;
    second.assert_status(200);
    let checked = |r: &crate::helpers::TestResponse| -> Vec<String> {
        r.data()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["checkedAt"].as_str().expect("checkedAt").to_string())
            .collect()
    };
    assert_eq!(
        checked(&first),
        checked(&second),
        "the second call answers the first probe"
    );
}

async fn metrics_count_requests_by_route_and_status(app: TestApp) {
    app.get("/health").await;
    app.get("/api/unknown-route").await;
    let r = app.get("/metrics").await;
    r.assert_status(200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert!(r.text.contains("http_requests_total{"), "{}", r.text);
    assert!(r.text.contains(r#"route="/health""#));
    assert!(r.text.contains(r#"status="404""#));
    assert!(r.text.contains("http_request_duration_seconds_bucket{"));
}

async fn metrics_in_production_need_the_bearer_token(app: TestApp) {
    let prod = |token: Option<&str>| {
        let mut b = TestApp::builder(app.backend)
            .env("APP_ENV", "production")
            .env("JWT_SECRET", "0123456789abcdef0123456789abcdef-prod")
            .env("ENCRYPTION_KEY", &"ab".repeat(32));
        if let Some(t) = token {
            b = b.env("METRICS_TOKEN", t);
        }
        b.spawn()
    };
    let none = prod(None).await;
    none.get("/metrics").await.assert_error(404, "NOT_FOUND");
    let with = prod(Some("metrics-secret")).await;
    with.get("/metrics").await.assert_error(401, "UNAUTHORIZED");
    with.get_as("wrong", "/metrics")
        .await
        .assert_error(401, "UNAUTHORIZED");
    with.get_as("metrics-secret", "/metrics")
        .await
        .assert_status(200);
    let h = with.get("/health").await;
    assert!(
        h.header("strict-transport-security").is_some(),
        "HSTS in production"
    );
}

async fn health_turns_503_once_shutdown_begins(app: TestApp) {
    app.state.begin_shutdown();
    app.get("/health").await.assert_error(503, "UNAVAILABLE");
}

both_backends!(
    health_reports_ok_with_version_and_uptime,
    database_health_names_the_backend,
    database_health_is_503_when_the_database_is_gone,
    services_health_lists_every_dependency,
    services_health_probes_at_most_once_per_30_seconds,
    metrics_count_requests_by_route_and_status,
    metrics_in_production_need_the_bearer_token,
    health_turns_503_once_shutdown_begins
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish_then_stops() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    // A slow client: the request is in flight when shutdown starts.
    let client = app.client.clone();
    let url = format!("{}/health/database", app.address);
    let in_flight =
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let address = app.address.clone();
    app.stop().await.expect("server stops cleanly");
    assert_eq!(in_flight.await.unwrap().unwrap(), 200);
    assert!(
        reqwest::get(format!("{address}/health")).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_messages_reach_every_instance_through_redis() {
    let Some(redis) = crate::helpers::redis_url() else {
        return;
    };
    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    let a = TestApp::builder(crate::helpers::Backend::Sqlite)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let b = TestApp::builder(crate::helpers::Backend::Sqlite)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let mut on_b = b.state.bus.subscribe();
    a.state.bus.publish("cache", "events:list").await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(2), on_b.recv())
        .await
        .expect("message within 2 s")
        .expect("open channel");
    assert_eq!(
        (got.topic.as_str(), got.payload.as_str()),
        ("cache", "events:list")
    );
}
