//! The catalogue's background work: completing past events, search-index upkeep, and the availability listener.

use super::*;
use crate::state::AppState;
use chrono::Utc;
use std::time::Duration;
use uuid::Uuid;

/// How often finished events are marked COMPLETED.
pub const COMPLETION_INTERVAL: Duration = Duration::from_secs(5);

/// How often planner statistics are refreshed (and once at start).
pub const OPTIMIZE_INTERVAL: Duration = Duration::from_secs(3600);

/// Starts the catalogue's background work until shutdown: the cache's bus subscriber and the
/// task that marks finished events COMPLETED (and invalidates the cache when it does), which also
/// refreshes the planner statistics at start and hourly; one instance of a cluster per tick.
pub fn spawn_workers(state: &AppState) {
    state.cache.spawn_subscriber(state.shutdown_signal());
    spawn_availability_listener(state);
    let worker = state.clone();
    let mut last_optimized: Option<std::time::Instant> = None;
    let key = crate::tasks::lease::EVENT_COMPLETION;
    crate::tasks::every_leading(state, COMPLETION_INTERVAL, key, move || {
        let state = worker.clone();
        let optimize = last_optimized.is_none_or(|t| t.elapsed() >= OPTIMIZE_INTERVAL);
        if optimize {
            last_optimized = Some(std::time::Instant::now());
        }
        async move {
            if optimize && let Err(e) = state.store.optimize_catalogue().await {
                tracing::warn!(error = %e, "refreshing planner statistics failed");
            }
            match state.store.complete_finished_events(Utc::now()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(events = n, "marked finished events COMPLETED");
                    state.cache.invalidate().await;
                }
                Err(e) => tracing::warn!(error = %e, "completing finished events failed"),
            }
        }
    });
}

/// Drops this instance's kept availability and detail answers of an event as soon as a booking
/// changes its counts, so reads and streams see the change at once rather than within 1 s.
fn spawn_availability_listener(state: &AppState) {
    let state = state.clone();
    let mut shutdown = state.shutdown_signal();
    let mut rx = state.bus.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                msg = rx.recv() => match msg {
                    Ok(m) if m.topic == crate::bus::topic::AVAILABILITY => {
                        if let Ok(id) = m.payload.parse::<Uuid>() {
                            catalogue::forget_counts(&state, id).await;
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    });
}
