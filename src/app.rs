//! The composition root: the router of every area with the middleware stack, start-up, the
//! background workers, and the server loop with graceful shutdown: on SIGTERM/SIGINT `/health` turns 503, the listener stops accepting, and in-flight
//! requests get `SHUTDOWN_TIMEOUT_SECS` to finish.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::http::body_limit::BodyLimitLayer;
use crate::http::bypass::BypassLayer;
use crate::http::{kept, middleware, openapi};
pub use crate::state::AppState;
use crate::store::Store;

/// The API routes of every area at their full paths under `prefix`, with their OpenAPI
/// descriptions.
fn api_routes(prefix: &str, state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(crate::users::admin_seed::router(prefix))
        .merge(crate::users::router(prefix))
        .merge(crate::audit::router(prefix))
        .merge(crate::notify::admin::router(prefix))
        .merge(crate::bookings::router(prefix, state))
        .merge(crate::payments::router(prefix, state))
        .merge(crate::organizers::router(prefix))
        .merge(crate::dashboard::router(prefix))
        .merge(crate::events::router(prefix))
}

/// The whole application: API, health, docs, and the middleware stack, with the catalogue's
/// kept answers served before routing ([`kept::App`]).
pub fn build_router(state: AppState) -> kept::App {
    let prefix = state.config.api_prefix.clone();
    let (api, doc) = OpenApiRouter::with_openapi(openapi::base_document())
        .merge(api_routes(&prefix, &state))
        .merge(crate::health::router())
        .split_for_parts();
    let doc = openapi::finish(doc);

    let router = Router::new()
        .merge(api)
        .merge(openapi::docs_router(&prefix, &doc))
        .merge(crate::events::image::uploads_router())
        .merge(crate::web::router())
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        // One layer of the whole stack: `Router::layer` boxes every route once per call, and
        // each box is a clone and an allocation on every request.
        .layer(middleware_stack(&state, None))
        .with_state(state.clone());
    kept::App::new(router, &state)
}

/// The middleware stack around every route, outermost first. `route` names the route for the
/// log and the metrics where axum's `MatchedPath` does not (the answers served before routing).
pub(crate) fn middleware_stack(state: &AppState, route: Option<Arc<str>>) -> MiddlewareStack {
    ServiceBuilder::new()
        .layer(middleware::ObserveLayer {
            production: state.config.is_production(),
            route,
        })
        .layer(BypassLayer::new(
            cors_layer(&state.config),
            CompressionLayer::new(),
        ))
        .layer(crate::users::rate_limit::GuardLayer(state.clone()))
        .layer(crate::http::timeout::TimeoutLayer {
            timeout: state.config.request_timeout,
        })
        .layer(BodyLimitLayer(DefaultBodyLimit::max(
            crate::http::JSON_BODY_LIMIT,
        )))
}

/// The type of [`middleware_stack`].
pub(crate) type MiddlewareStack = ServiceBuilder<
    Stack<
        BodyLimitLayer,
        Stack<
            crate::http::timeout::TimeoutLayer,
            Stack<
                crate::users::rate_limit::GuardLayer,
                Stack<BypassLayer, Stack<middleware::ObserveLayer, Identity>>,
            >,
        >,
    >,
>;

fn cors_layer(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("ratelimit-limit"),
            header::HeaderName::from_static("ratelimit-remaining"),
            header::HeaderName::from_static("ratelimit-reset"),
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Opens the store named by the configuration and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url, config.database_max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

/// Start-up work that needs the store: the admin from `ADMIN_EMAIL`/`ADMIN_PASSWORD`.
pub async fn bootstrap(state: &AppState) -> anyhow::Result<()> {
    let config = &state.config;
    if let Some(email) = &config.admin_email {
        let normalized = crate::users::parse_email(email).unwrap_or_default();
        if state.store.user_by_email(&normalized).await?.is_none() {
            crate::users::create_admin(
                &state.store,
                crate::users::AdminSeat::Any,
                email,
                config.admin_password.expose(),
                "Platform",
                "Admin",
            )
            .await
            .map_err(|e| anyhow::anyhow!("ADMIN_EMAIL/ADMIN_PASSWORD: {}", e.message))?;
            tracing::info!(email = %normalized, "created the admin account from ADMIN_EMAIL");
        }
    }
    Ok(())
}

/// Serves on a bound listener until `shutdown` resolves, then drains within the deadline.
pub async fn serve_on(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = build_router(state.clone());
    crate::users::sessions::start_background(&state);
    let outbox_worker = crate::notify::worker::spawn(&state)?;
    crate::bookings::spawn_sweeper(state.clone());
    crate::http::idempotency::spawn_purger(&state);
    crate::payments::workers::spawn_reconciler(&state);
    crate::events::spawn_workers(&state);
    crate::dashboard::spawn_feed(&state);
    crate::telemetry::spawn_upkeep(&state);
    spawn_checkpointer(&state);
    let deadline = state.config.shutdown_timeout;
    let signal_state = state.clone();
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
            std::net::SocketAddr,
        >(router),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutdown requested: finishing in-flight requests");
        signal_state.begin_shutdown();
        let _ = drain_tx.send(());
    });
    let mut server = tokio::spawn(async move { server.await });
    let flatten =
        |r: Result<std::io::Result<()>, tokio::task::JoinError>| -> anyhow::Result<()> { Ok(r??) };
    let result = tokio::select! {
        r = &mut server => flatten(r),
        _ = drain_rx => {
            match tokio::time::timeout(deadline, &mut server).await {
                Ok(r) => flatten(r),
                Err(_) => {
                    tracing::warn!("shutdown deadline passed with requests still in flight");
                    server.abort();
                    Ok(())
                }
            }
        }
    };
    // The outbox worker stops with the server: deliveries in flight finish, the rest is released.
    state.begin_shutdown();
    if tokio::time::timeout(deadline, outbox_worker).await.is_err() {
        tracing::warn!("shutdown deadline passed with outbox deliveries still in flight");
    }
    result
}

/// SQLite's write-ahead log, copied back into the database every 200 ms, mostly by a reader, and
/// started over ([`Store::checkpoint`]) rather than by whichever commit crosses the threshold.
/// Under a stream of holds the log grows by 4,000–10,000 pages in that time.
fn spawn_checkpointer(state: &AppState) {
    if !matches!(state.store, Store::Sqlite(_)) {
        return;
    }
    let store = state.store.clone();
    crate::tasks::every(state, std::time::Duration::from_millis(200), move || {
        let store = store.clone();
        async move {
            if let Err(e) = store.checkpoint().await {
                tracing::debug!(error = %e, "checkpoint failed");
            }
        }
    });
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// `ticketmax serve`: open the store, bootstrap, bind `PORT`, serve until a signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let state = AppState::build(config, store).await?;
    bootstrap(&state).await?;
    let addr = std::net::SocketAddr::from(([0, 0, 0, 0], state.config.port));
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, backend = state.store.backend(), "TicketMax is serving");
    let result = serve_on(listener, state.clone(), shutdown_signal()).await;
    state.store.close().await;
    result
}
