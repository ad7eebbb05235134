//! Events, ticket types and the public catalogue: CRUD, publication and cancellation, search with
//! filters, sorting and pagination, cached reads with ETags, favorites, image upload, live
//! availability (with its Server-Sent Events stream) and the COMPLETED transition.

pub mod catalogue;
pub mod demo;
pub mod image;
pub mod model;
pub mod routes;
pub mod stream;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::app::AppState;
use crate::store::Store;
use model::{
    CategoryCount, EventRecord, EventRow, ListFilter, LiveCounts, NewTicketType, TicketTypeField,
    TicketTypeRow,
};

crate::dual_backend!("events/queries.rs");

pub use routes::router;

impl Store {
    /// Inserts an event with its ticket types.
    pub async fn insert_event(
        &self,
        event: &EventRow,
        types: &[NewTicketType],
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::events => insert_event(event, types))
    }
    /// Inserts many events with their ticket types in one transaction.
    pub async fn insert_events_bulk(
        &self,
        events: &[(EventRow, Vec<NewTicketType>)],
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::events => insert_events_bulk(events))
    }
    /// An event with its ticket types.
    pub async fn event_record(&self, id: Uuid) -> sqlx::Result<Option<EventRecord>> {
        crate::dispatch!(self, crate::events => event_record(id))
    }
    /// A page of events and the total.
    pub async fn list_events(
        &self,
        filter: &ListFilter,
        limit: i64,
        offset: i64,
    ) -> sqlx::Result<(Vec<EventRecord>, u64)> {
        crate::dispatch!(self, crate::events => list_events(filter, limit, offset))
    }
    /// Categories of published upcoming events.
    pub async fn event_categories(&self, now: DateTime<Utc>) -> sqlx::Result<Vec<CategoryCount>> {
        crate::dispatch!(self, crate::events => categories(now))
    }
    /// Live counts of the given events (`capped`: those with a `totalTickets` cap), by event id.
    pub async fn live_counts(
        &self,
        ids: &[Uuid],
        capped: &[Uuid],
        now: DateTime<Utc>,
    ) -> sqlx::Result<HashMap<Uuid, LiveCounts>> {
        let (types, events) =
            crate::dispatch!(self, crate::events => live_counts(ids, capped, now))?;
        let mut out: HashMap<Uuid, LiveCounts> = HashMap::new();
        for (type_id, event_id, sold, held) in types {
            out.entry(event_id)
                .or_default()
                .types
                .insert(type_id, (sold, held.max(0)));
        }
        for (event_id, sold, held) in events {
            out.entry(event_id).or_default().event = (sold, held.max(0));
        }
        Ok(out)
    }
    /// Writes the event fields that changed and, when given, its cap, in one transaction.
    pub async fn update_event(
        &self,
        before: &EventRow,
        after: &EventRow,
        total: Option<Option<i64>>,
    ) -> sqlx::Result<u64> {
        crate::dispatch!(self, crate::events => update_event(before, after, total))
    }
    /// DRAFT → PUBLISHED.
    pub async fn publish_event(&self, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::events => publish_event(id, now))
    }
    /// DRAFT/PUBLISHED → CANCELLED, in its own transaction.
    pub async fn cancel_event(
        &self,
        id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::events => cancel_event_committed(id, reason, now))
    }
    /// Deletes an event without bookings.
    pub async fn delete_event(&self, id: Uuid) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::events => delete_event(id))
    }
    /// Whether the event has any booking.
    pub async fn event_has_bookings(&self, id: Uuid) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::events => event_has_bookings(id))
    }
    /// Adds a ticket type.
    pub async fn insert_ticket_type(
        &self,
        event_id: Uuid,
        t: &NewTicketType,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Uuid> {
        crate::dispatch!(self, crate::events => insert_ticket_type(event_id, t, now))
    }
    /// Writes the named fields of a ticket type from `t`; false when the capacity would fall
    /// below sold + held (or the type is gone).
    pub async fn update_ticket_type(
        &self,
        t: &TicketTypeRow,
        fields: &[TicketTypeField],
        now: DateTime<Utc>,
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::events => update_ticket_type(t, fields, now))
    }
    /// Deletes a never-booked ticket type; false when booked.
    pub async fn delete_ticket_type(
        &self,
        event_id: Uuid,
        type_id: Uuid,
        now: DateTime<Utc>,
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::events => delete_ticket_type(event_id, type_id, now))
    }
    /// Sets, clears or toggles a favorite; returns the new state.
    pub async fn set_favorite(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        want: Option<bool>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::events => set_favorite(user_id, event_id, want, now))
    }
    /// Marks finished PUBLISHED events COMPLETED.
    pub async fn complete_finished_events(&self, now: DateTime<Utc>) -> sqlx::Result<u64> {
        crate::dispatch!(self, crate::events => complete_finished(now))
    }
    /// Refreshes planner statistics (SQLite).
    pub async fn optimize_catalogue(&self) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::events => optimize())
    }
    /// Number of events.
    pub async fn count_events(&self) -> sqlx::Result<i64> {
        crate::dispatch!(self, crate::events => count_events())
    }
}

/// How often finished events are marked COMPLETED.
pub const COMPLETION_INTERVAL: Duration = Duration::from_secs(5);

/// How often planner statistics are refreshed (and once at start).
pub const OPTIMIZE_INTERVAL: Duration = Duration::from_secs(3600);

/// Starts the catalogue's background work until shutdown: the cache's bus subscriber and the
/// task that marks finished events COMPLETED (and invalidates the cache when it does), which also
/// refreshes the planner statistics at start and hourly.
pub fn spawn_workers(state: &AppState) {
    state.cache.spawn_subscriber(state.shutdown_signal());
    spawn_availability_listener(state);
    let state = state.clone();
    let mut shutdown = state.shutdown_signal();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(COMPLETION_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_optimized: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tick.tick() => {}
            }
            if *shutdown.borrow() {
                break;
            }
            if last_optimized.is_none_or(|t| t.elapsed() >= OPTIMIZE_INTERVAL) {
                last_optimized = Some(std::time::Instant::now());
                if let Err(e) = state.store.optimize_catalogue().await {
                    tracing::warn!(error = %e, "refreshing planner statistics failed");
                }
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
                    Ok(m) if m.topic == "availability" => {
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
