//! The booking storage interface: holds, the booking lifecycle, tickets and check-in.

use super::*;
use crate::store::Store;
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl Store {
    /// Takes a hold (or confirms a free booking) atomically, batched with concurrent holds of
    /// any type on this store (see [`engine`]).
    pub async fn hold_booking(&self, req: &NewHold, links: &Links) -> sqlx::Result<HoldOutcome> {
        engine::hold(self, req, links).await
    }
    /// The lock-free checks of a hold: `Err` is the refusal.
    pub async fn resolve_hold(
        &self,
        req: &NewHold,
    ) -> sqlx::Result<Result<(EventFacts, TypeFacts), HoldOutcome>> {
        crate::dispatch!(self, crate::bookings => resolve(req))
    }
    /// The request with its ticket type (the event's default when it names none).
    pub async fn resolve_hold_type(
        &self,
        req: &NewHold,
    ) -> sqlx::Result<Result<NewHold, HoldOutcome>> {
        crate::dispatch!(self, crate::bookings => resolve_type(req))
    }
    /// Several holds, each naming its ticket type, of any types and events, in one transaction;
    /// each is decided on its own, on the rows as they are under the batch's locks.
    pub async fn hold_batch(
        &self,
        items: &[NewHold],
        links: &Links,
    ) -> sqlx::Result<Vec<HoldOutcome>> {
        crate::dispatch!(self, crate::bookings => hold_batch(items, links))
    }
    /// One booking.
    pub async fn booking_by_id(&self, id: Uuid) -> sqlx::Result<Option<BookingRow>> {
        crate::dispatch!(self, crate::bookings => booking_by_id(id))
    }
    /// The booking created under a scoped `Idempotency-Key` hash (API.md §11.99).
    pub async fn booking_by_idempotency_key(&self, key: &str) -> sqlx::Result<Option<Uuid>> {
        crate::dispatch!(self, crate::bookings => booking_by_idempotency_key(key))
    }
    /// The first guest token's hash of the booking a later guest token was sent for.
    pub async fn guest_link(&self, token_hash: &str) -> sqlx::Result<Option<String>> {
        crate::dispatch!(self, crate::bookings => guest_link(token_hash))
    }
    /// Tickets of a booking.
    pub async fn tickets_of(&self, id: Uuid) -> sqlx::Result<Vec<TicketRow>> {
        crate::dispatch!(self, crate::bookings => tickets_of(id))
    }
    /// Tickets of several bookings.
    pub async fn tickets_of_many(&self, ids: &[Uuid]) -> sqlx::Result<Vec<TicketRow>> {
        crate::dispatch!(self, crate::bookings => tickets_of_many(ids))
    }
    /// One ticket.
    pub async fn ticket_by_id(&self, id: Uuid) -> sqlx::Result<Option<TicketRow>> {
        crate::dispatch!(self, crate::bookings => ticket_by_id(id))
    }
    /// A page of an event's bookings (newest first) and the total.
    pub async fn event_bookings(&self, f: &AttendeeFilter) -> sqlx::Result<(Vec<BookingRow>, u64)> {
        crate::dispatch!(self, crate::bookings => event_bookings(f))
    }
    /// A page of a user's bookings and the total.
    pub async fn list_bookings(&self, f: &ListFilter) -> sqlx::Result<(Vec<BookingRow>, u64)> {
        crate::dispatch!(self, crate::bookings => list_bookings(f))
    }
    /// Counts by status and money paid by currency.
    #[allow(clippy::type_complexity)]
    pub async fn booking_stats(
        &self,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> sqlx::Result<(Vec<(String, i64)>, Vec<(String, i64)>)> {
        crate::dispatch!(self, crate::bookings => booking_stats(user, now))
    }
    /// PENDING → CONFIRMED with tickets.
    pub async fn confirm_booking(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        links: &Links,
    ) -> sqlx::Result<ConfirmOutcome> {
        crate::dispatch!(self, crate::bookings => confirm(id, now, links))
    }
    /// Cancels a booking still in `expected` state.
    pub async fn cancel_booking(
        &self,
        id: Uuid,
        expected: BookingStatus,
        reason: Option<&str>,
        refund_due: Option<i64>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<CancelOutcome> {
        crate::dispatch!(self, crate::bookings => cancel(id, expected, reason, refund_due, now))
    }
    /// One sweep of lapsed holds.
    pub async fn sweep_expired_holds(
        &self,
        limit: i64,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Vec<Released>> {
        crate::dispatch!(self, crate::bookings => sweep_expired(limit, now))
    }
    /// Cancels an event and cascades to its bookings (one transaction).
    pub async fn cancel_event_cascade(
        &self,
        event_id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<u64> {
        crate::dispatch!(self, crate::bookings => cancel_event_cascade(event_id, reason, now))
    }
    /// One round of event reminders (see [`send_event_reminders`](sqlite::send_event_reminders)).
    pub async fn send_event_reminders(
        &self,
        now: DateTime<Utc>,
        window: chrono::Duration,
        limit: i64,
        links: &Links,
    ) -> sqlx::Result<usize> {
        crate::dispatch!(self, crate::bookings => send_event_reminders(now, window, limit, links))
    }
    /// Cascades cancelled events that still have live bookings (sweeper safety net).
    pub async fn cascade_cancelled_stragglers(
        &self,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Vec<Uuid>> {
        crate::dispatch!(self, crate::bookings => cascade_stragglers(now))
    }
    /// Live seats left of a type (lapsed holds count as free).
    pub async fn live_available(
        &self,
        type_id: Uuid,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<i64>> {
        crate::dispatch!(self, crate::bookings => live_available(type_id, now))
    }
    /// Event facts.
    pub async fn booking_event_facts(&self, id: Uuid) -> sqlx::Result<Option<EventFacts>> {
        crate::dispatch!(self, crate::bookings => event_facts(id))
    }
    /// Marks a ticket checked in unless it already was or its booking is no longer CONFIRMED.
    pub async fn check_in_ticket(
        &self,
        id: Uuid,
        by: Uuid,
        now: DateTime<Utc>,
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::bookings => check_in(id, by, now))
    }
    /// `(checked in, issued)` tickets of an event's CONFIRMED bookings.
    pub async fn checkin_counts(&self, event_id: Uuid) -> sqlx::Result<(i64, i64)> {
        crate::dispatch!(self, crate::bookings => checkin_counts(event_id))
    }
    /// `(capacity, sold, held, pending seats, confirmed seats)` of a type.
    pub async fn type_counters(&self, id: Uuid) -> sqlx::Result<(i64, i64, i64, i64, i64)> {
        crate::dispatch!(self, crate::bookings => type_counters(id))
    }
    /// Live guest bookings of an event from one client network (API.md §11.93).
    pub async fn live_guest_holds(
        &self,
        event_id: Uuid,
        client_ip: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<i64> {
        crate::dispatch!(self, crate::bookings => live_guest_holds(event_id, client_ip, now))
    }
    /// Remembers the client network of a guest booking.
    pub async fn record_guest_hold(
        &self,
        booking_id: Uuid,
        event_id: Uuid,
        client_ip: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::bookings => record_guest_hold(booking_id, event_id, client_ip, now))
    }
}
