//! Booking and inventory SQL.
//!
//! Written once against the backend alias `Db` and compiled once per dialect (the `sqlite` and
//! `postgres` modules of the area); where the dialects differ it branches on `PG`.
//!
//! Lock order, the same on every path so PostgreSQL never deadlocks: booking rows, then ticket
//! types (ascending id), then events (ascending id). Every counter change is a conditional UPDATE
//! inside one transaction on `pools.write`; the CHECK constraints back the invariant.

use super::{Db, PG, notify};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{FromRow, Row, Transaction};
use uuid::Uuid;

use crate::bookings::{
    BookingRow, BookingStatus, CancelOutcome, ConfirmOutcome, EventFacts, HoldOutcome, Links,
    ListFilter, NewHold, Released, TicketRow, TypeFacts, refusal,
};
use crate::events::model::EventStatus;
use crate::notify::NewMessage;
use crate::store::{PgArray, Pools, placeholders};

pub(super) const BOOKING_SELECT: &str = "SELECT b.id, b.reference, b.user_id, b.event_id, b.ticket_type_id, b.quantity, b.unit_price, \
     b.total_amount, b.currency, b.status, b.expires_at, b.customer_email, b.customer_name, b.customer_phone, \
     b.special_requests, b.guest_token_hash, b.refund_due, b.refund_amount, b.confirmed_at, b.cancelled_at, \
     b.cancellation_reason, b.created_at, b.updated_at, e.title AS event_title, t.name AS ticket_type_name, \
     e.starts_at AS event_starts_at, e.organizer_id AS organizer_id \
     FROM bookings b JOIN events e ON e.id = b.event_id JOIN ticket_types t ON t.id = b.ticket_type_id";

/// A released booking; its name is the one emails greet by: none for a guest, whose email goes
/// to an address nobody verified and must carry no text the caller chose (API.md §11.93).
pub(super) const RELEASED_COLUMNS: &str = "id, reference, event_id, ticket_type_id, quantity, customer_email, \
     CASE WHEN user_id IS NULL THEN '' ELSE customer_name END AS customer_name";

/// A statement and the parameters bound to it so far.
type Statement<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

/// A page of the bookings `where_sql` selects (newest first) and how many it selects in all.
/// `bind` binds the filter's `params` parameters, `$1` on, to each of the two statements; the
/// page's limit and offset follow them.
pub(super) async fn booking_page<'q>(
    pools: &Pools<Db>,
    where_sql: &str,
    params: usize,
    limit: i64,
    offset: i64,
    bind: impl Fn(Statement<'q>) -> Statement<'q>,
) -> sqlx::Result<(Vec<BookingRow>, u64)> {
    let count_sql = format!("SELECT COUNT(*) FROM bookings b{where_sql}");
    let total: i64 = bind(sqlx::query(sqlx::AssertSqlSafe(count_sql)))
        .fetch_one(&pools.read)
        .await?
        .try_get(0)?;
    let sql = format!(
        "{BOOKING_SELECT}{where_sql} ORDER BY b.created_at DESC, b.id DESC LIMIT ${} OFFSET ${}",
        params + 1,
        params + 2
    );
    let rows = bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .bind(limit)
        .bind(offset)
        .try_map(|row| BookingRow::from_row(&row))
        .fetch_all(&pools.read)
        .await?;
    Ok((rows, total as u64))
}

mod attendees;
mod batch;
mod confirm;
mod counters;
mod holds;
mod lifecycle;
mod messages;
mod reads;
mod reminders;
mod tickets;

pub use attendees::*;
use batch::*;
pub use confirm::*;
pub use counters::*;
pub use holds::*;
pub use lifecycle::*;
pub use messages::new_guest_link;
use messages::*;
pub use reads::*;
pub use reminders::*;
use tickets::*;
