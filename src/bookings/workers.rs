//! The bookings' background work: the sweeper (expired holds, event-cancel cascades) and the
//! event reminders.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::announce;
use super::model::Links;
use crate::state::AppState;
use crate::tasks::{every_leading, lease};

/// How long before an event its confirmed bookers are reminded (API.md §10).
pub const REMINDER_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Rows one sweep statement handles; a full batch is followed by another at once. Each batch is
/// one transaction on the single SQLite writer, which holds are waiting for: a soak in which
/// 600 holds a second lapse measured the holds' p99 at ~40 ms with batches of 500 (one message
/// written per expired hold), and smaller batches let the holds' batches in between.
const BATCH: usize = 100;

/// Starts the background sweeper: about every second it marks lapsed PENDING bookings EXPIRED,
/// releases their seats, notifies their buyers and announces availability; it also cascades any
/// CANCELLED event that still has live bookings; every half minute it sends the reminders of
/// events starting within [`REMINDER_WINDOW`]. Stops on shutdown.
/// Each job runs on one instance per tick: the statements would be safe on several at once
/// (conditional updates; `SKIP LOCKED` on PostgreSQL), but every instance would pay for them.
pub fn spawn_sweeper(state: AppState) {
    let sweeper = state.clone();
    let second = Duration::from_secs(1);
    every_leading(&state, second, lease::HOLD_SWEEPER, move || {
        let state = sweeper.clone();
        async move {
            cascade_stragglers(&state).await;
            sweep_expired(&state).await;
        }
    });
    let reminders = state.clone();
    let half_minute = Duration::from_secs(30);
    every_leading(&state, half_minute, lease::REMINDERS, move || {
        let state = reminders.clone();
        async move { send_reminders(&state).await }
    });
}

async fn cascade_stragglers(state: &AppState) {
    match state.store.cascade_cancelled_stragglers(Utc::now()).await {
        Ok(events) => {
            for e in events {
                announce(state, e).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "event-cancel cascade sweep failed"),
    }
}

async fn sweep_expired(state: &AppState) {
    loop {
        match state
            .store
            .sweep_expired_holds(BATCH as i64, Utc::now())
            .await
        {
            Ok(released) => {
                let mut events: Vec<Uuid> = released.iter().map(|r| r.event_id).collect();
                events.sort();
                events.dedup();
                for e in events {
                    announce(state, e).await;
                }
                if released.len() < BATCH {
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

async fn send_reminders(state: &AppState) {
    let links = Links::from_config(&state.config);
    loop {
        match state
            .store
            .send_event_reminders(Utc::now(), REMINDER_WINDOW, BATCH as i64, &links)
            .await
        {
            Ok(n) if n == BATCH => continue,
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "event reminder round failed");
                break;
            }
        }
    }
}
