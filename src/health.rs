//! Operational routes outside the API prefix: liveness, database and dependency health, and the
//! Prometheus text at `/metrics` (bearer-protected in production).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::http::{ApiError, ApiResponse, ApiResult, ErrorCode};
use crate::state::AppState;

/// The health routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(health_database))
        .routes(routes!(health_services))
        .routes(routes!(metrics))
}

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// Server version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_seconds: u64,
}

/// Database health answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseHealth {
    /// `up`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Round-trip time of a trivial query.
    pub latency_ms: f64,
}

/// One dependency's health.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceHealth {
    /// Dependency name.
    pub name: String,
    /// `up`, `down` or `disabled`.
    pub status: &'static str,
    /// Round-trip time when measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// When this status was probed (at most once per 30 s).
    #[schema(value_type = String, format = DateTime)]
    pub checked_at: DateTime<Utc>,
    /// What the status means here, where it needs saying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Whether the server cannot work without it.
    #[serde(skip)]
    pub required: bool,
}

/// How long a probe of the dependencies answers `/health/services` (API.md §11.98): an
/// anonymous caller cannot make the server open an SMTP connection per request.
pub const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// The last probe of the dependencies. One probe runs at a time; callers meanwhile wait for it.
#[derive(Debug, Default)]
pub struct ProbeCache(tokio::sync::Mutex<Option<(std::time::Instant, Vec<ServiceHealth>)>>);

impl ProbeCache {
    /// The last result if it is younger than [`PROBE_INTERVAL`], else a new probe.
    async fn get(&self, state: &AppState) -> Vec<ServiceHealth> {
        let mut last = self.0.lock().await;
        if let Some((at, services)) = last.as_ref()
            && at.elapsed() < PROBE_INTERVAL
        {
            return services.clone();
        }
        let services = probe(state).await;
        *last = Some((std::time::Instant::now(), services.clone()));
        services
    }
}

/// Whether the server is up (503 while shutting down).
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Serving", body = Health), (status = 503, description = "Shutting down")))]
async fn health(State(state): State<AppState>) -> ApiResult<ApiResponse<Health>> {
    if state.is_shutting_down() {
        return Err(ApiError::unavailable("The server is shutting down"));
    }
    Ok(ApiResponse::ok(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started_at.elapsed().as_secs(),
    }))
}

/// Whether the database answers.
#[utoipa::path(get, path = "/health/database", tag = "health",
    responses((status = 200, description = "Database answers", body = DatabaseHealth), (status = 503, description = "Database down")))]
async fn health_database(State(state): State<AppState>) -> ApiResult<ApiResponse<DatabaseHealth>> {
    let latency = ping_database(&state).await?;
    Ok(ApiResponse::ok(DatabaseHealth {
        status: "up",
        backend: state.store.backend(),
        latency_ms: latency,
    }))
}

async fn ping_database(state: &AppState) -> ApiResult<f64> {
    match tokio::time::timeout(std::time::Duration::from_secs(3), state.store.ping()).await {
        Ok(Ok(latency)) => Ok(latency.as_secs_f64() * 1000.0),
        _ => Err(
            ApiError::unavailable("The database does not answer").with_details(vec![json!({
                "field": "database", "message": "no answer", "status": "down"
            })]),
        ),
    }
}

/// Probes every dependency once.
async fn probe(state: &AppState) -> Vec<ServiceHealth> {
    let mut services = Vec::new();
    services.push(match ping_database(state).await {
        Ok(ms) => ServiceHealth {
            name: "database".into(),
            status: "up",
            latency_ms: Some(ms),
            checked_at: Utc::now(),
            required: true,
            detail: None,
        },
        Err(_) => ServiceHealth {
            name: "database".into(),
            status: "down",
            latency_ms: None,
            checked_at: Utc::now(),
            required: true,
            detail: None,
        },
    });
    services.push(redis_health(state).await);
    services.push(rate_limit_health(state));
    services.extend(payment_health(state));
    services.push(crate::notify::email::health(&state.config.email).await);
    services.push(crate::notify::sms::health(&state.config.sms));
    services
}

/// Each dependency's status: database, cache, email, SMS, as probed at most once per 30 s.
#[utoipa::path(get, path = "/health/services", tag = "health",
    responses((status = 200, description = "Dependencies, each with when it was checked", body = Vec<ServiceHealth>), (status = 503, description = "A required dependency is down")))]
async fn health_services(State(state): State<AppState>) -> Response {
    let services = state.health_probe.get(&state).await;
    let down: Vec<_> = services
        .iter()
        .filter(|s| s.required && s.status == "down")
        .collect();
    if down.is_empty() {
        ApiResponse::ok(services).into_response()
    } else {
        let mut details: Vec<_> = down
            .iter()
            .map(|s| json!({"field": s.name, "message": format!("{} is down", s.name), "status": s.status}))
            .collect();
        // What still works without it, e.g. rate limits counting in memory without Redis.
        details.extend(
            services
                .iter()
                .filter(|s| s.status == "up" && s.detail.is_some())
                .map(|s| json!({"field": s.name, "message": s.detail, "status": s.status})),
        );
        ApiError::new(ErrorCode::Unavailable, "A required service is down")
            .with_details(details)
            .into_response()
    }
}

/// Where the rate limits count: a limiter whose Redis failed counts in this instance only,
/// which limits hold but do not share across instances (API.md §9).
fn rate_limit_health(state: &AppState) -> ServiceHealth {
    use crate::users::rate_limit::LimiterMode;
    let detail = match state.guard.limiter.mode() {
        LimiterMode::Memory => "counted in this instance (no REDIS_URL)",
        LimiterMode::Shared => "shared by every instance through Redis",
        LimiterMode::Fallback => {
            "Redis is unreachable: counted in this instance only until it answers again"
        }
    };
    ServiceHealth {
        name: "rateLimits".into(),
        status: "up",
        latency_ms: None,
        checked_at: Utc::now(),
        detail: Some(detail.into()),
        required: false,
    }
}

/// One entry per payment gateway: `up` when configured (a health check never calls a paid API),
/// `disabled` otherwise. None is required: bookings and free tickets work without them.
fn payment_health(state: &AppState) -> Vec<ServiceHealth> {
    crate::payments::gateways::NAMES
        .into_iter()
        .map(|name| {
            let enabled = state.gateways.enabled(name);
            ServiceHealth {
                name: format!("payments.{name}"),
                status: if enabled { "up" } else { "disabled" },
                latency_ms: None,
                checked_at: Utc::now(),
                detail: (enabled && state.gateways.default_name() == Some(name))
                    .then(|| "the default gateway".to_string()),
                required: false,
            }
        })
        .collect()
}

/// Redis answers PING within a second, or is disabled when not configured. It is required when
/// configured: limits and cache invalidation across instances depend on it.
async fn redis_health(state: &AppState) -> ServiceHealth {
    let Some(conn) = &state.redis else {
        return ServiceHealth {
            name: "cache".into(),
            status: "disabled",
            latency_ms: None,
            checked_at: Utc::now(),
            required: false,
            detail: None,
        };
    };
    let mut conn = conn.clone();
    let started = std::time::Instant::now();
    let ping = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        redis::cmd("PING").query_async::<String>(&mut conn),
    )
    .await;
    match ping {
        Ok(Ok(_)) => ServiceHealth {
            name: "cache".into(),
            status: "up",
            latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            checked_at: Utc::now(),
            required: true,
            detail: None,
        },
        _ => ServiceHealth {
            name: "cache".into(),
            status: "down",
            latency_ms: None,
            checked_at: Utc::now(),
            required: true,
            detail: None,
        },
    }
}

/// Prometheus text: request counts and latency histograms by route and status, and more.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain"), (status = 401, description = "Wrong or missing bearer in production"), (status = 404, description = "No METRICS_TOKEN in production")))]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.config.is_production() {
        let Some(expected) = &state.config.metrics_token else {
            return ApiError::not_found("Route").into_response();
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !crate::crypto::constant_time_eq(given.as_bytes(), expected.expose().as_bytes()) {
            return ApiError::unauthorized().into_response();
        }
    }
    let body = crate::telemetry::prometheus().render();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}
