//! The bookings' background work: the sweeper (expiry, event-cancel cascades, reminders, idempotency purge).

use super::model::*;
use super::*;
use crate::state::AppState;
use chrono::Utc;
use std::time::Duration;
use uuid::Uuid;

/// How long before an event its confirmed bookers are reminded (API.md §10).
pub const REMINDER_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Starts the background sweeper: about every second it marks lapsed PENDING bookings EXPIRED,
/// releases their seats, notifies their buyers and announces availability; it also cascades any
/// CANCELLED event that still has live bookings; every half minute it sends the reminders of
/// events starting within [`REMINDER_WINDOW`]; every ten minutes it purges idempotency keys
/// older than 24 h. Stops on shutdown.
/// Safe with several instances (conditional updates; `SKIP LOCKED` on PostgreSQL).
pub fn spawn_sweeper(state: AppState) {
    let mut shutdown = state.shutdown_signal();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            ticks += 1;
            // Idempotency keys older than 24 h, every ten minutes.
            if ticks % 600 == 1
                && let Err(e) = state.store.purge_idempotency_keys().await
            {
                tracing::warn!(error = %e, "idempotency key purge failed");
            }
            // Reminders for events starting within 24 h, every half minute.
            if ticks % 30 == 1 {
                let links = Links::from_config(&state.config);
                loop {
                    match state
                        .store
                        .send_event_reminders(Utc::now(), REMINDER_WINDOW, 500, &links)
                        .await
                    {
                        Ok(500) => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "event reminder round failed");
                            break;
                        }
                    }
                }
            }
            match state.store.cascade_cancelled_stragglers(Utc::now()).await {
                Ok(events) => {
                    for e in events {
                        announce(&state, e).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "event-cancel cascade sweep failed"),
            }
            loop {
                match state.store.sweep_expired_holds(500, Utc::now()).await {
                    Ok(released) => {
                        let mut events: Vec<Uuid> = released.iter().map(|r| r.event_id).collect();
                        events.sort();
                        events.dedup();
                        for e in events {
                            announce(&state, e).await;
                        }
                        if released.len() < 500 {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "hold sweep failed");
                        break;
                    }
                }
            }
        }
    });
}
