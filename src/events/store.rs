//! The catalogue storage interface: events, ticket types, favorites and images.

use super::model::{
    CategoryCount, EventRecord, EventRow, ListFilter, LiveCounts, NewTicketType, TicketTypeField,
    TicketTypeRow,
};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

impl Store {
    /// Whether any event shows this image.
    pub async fn image_in_use(&self, url: &str) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::events => image_in_use(url))
    }
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
