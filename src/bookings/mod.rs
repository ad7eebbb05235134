//! Bookings and the inventory engine: holds that expire, confirmation with signed tickets,
//! cancellation, the background sweeper, check-in, QR codes and print-at-home PDF tickets.
//!
//! The invariant `sold + held ≤ capacity` (and the event's `total_tickets` cap) is kept by
//! conditional `UPDATE … WHERE sold + held + q <= capacity` statements inside one transaction per
//! change, backed by CHECK constraints; see [`queries`](self::sqlite) for the lock order. A
//! PENDING booking past `expires_at` reads as EXPIRED everywhere; its seats count as available
//! at once (lazy release on the next hold of the type) and the [sweeper](spawn_sweeper) rewrites
//! it within about a second.
//!
//! Outbox templates and their payload keys:
//! - `booking_pending` {customerName, eventTitle, reference, quantity, totalAmount, currency,
//!   expiresAt, payUrl} (`payUrl` is the checkout page `/checkout/{id}`; guests: `?token=…`)
//! - `booking_confirmed` {customerName, eventTitle, reference, bookingId, tickets: [{code,
//!   qrUrl}], eventStartsAt, eventEndsAt, venue, location, timezone, ticketTypeName, quantity,
//!   totalAmount, currency} (guests: guestToken), rendered with links to the booking page and
//!   the PDF tickets and an `event.ics` attachment
//! - `sms_booking_confirmed` {eventTitle, reference, eventStartsAt}, to the account's phone when
//!   it is verified and allows SMS (written with the confirmation, free or by staff)
//! - `booking_expired` {customerName, eventTitle, eventId, reference, quantity}
//! - `booking_cancelled` {customerName, eventTitle, reference, bookingId, quantity, reason,
//!   refundAmount} (guests: guestToken)
//! - `event_reminder` {customerName, eventTitle, eventStartsAt, venue, timezone, reference,
//!   bookingId, bookingUrl} (guests: guestToken, and `bookingUrl` carries `?token=…`)
//! - `event_cancelled` {customerName, eventTitle, reason, refundAmount}

pub mod checkin;
pub mod codes;
pub mod engine;
pub mod model;
pub mod pdf;
pub mod postgres;
#[cfg(test)]
mod proptests;
pub mod qr;
pub mod routes;
pub mod sqlite;
mod store;
pub mod ticket_routes;
pub mod workers;

pub use model::*;
pub use workers::{REMINDER_WINDOW, spawn_sweeper};

use uuid::Uuid;

use crate::state::AppState;

pub use routes::router;

/// Tells availability subscribers (SSE streams on every instance) that an event changed.
pub async fn announce(state: &AppState, event_id: Uuid) {
    state
        .bus
        .publish(crate::bus::topic::AVAILABILITY, event_id.to_string())
        .await;
}
