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
use sqlx::{Row, Transaction};
use uuid::Uuid;

use crate::bookings::{
    BookingRow, CancelOutcome, ConfirmOutcome, EventFacts, HoldOutcome, Links, ListFilter, NewHold,
    Released, TicketRow, TypeFacts, refusal,
};
use crate::notify::NewMessage;
use crate::store::{PgArray, Pools};

const BOOKING_SELECT: &str = "SELECT b.id, b.reference, b.user_id, b.event_id, b.ticket_type_id, b.quantity, b.unit_price, \
     b.total_amount, b.currency, b.status, b.expires_at, b.customer_email, b.customer_name, b.customer_phone, \
     b.special_requests, b.guest_token_hash, b.refund_due, b.refund_amount, b.confirmed_at, b.cancelled_at, \
     b.cancellation_reason, b.created_at, b.updated_at, e.title AS event_title, t.name AS ticket_type_name, \
     e.starts_at AS event_starts_at, e.organizer_id AS organizer_id \
     FROM bookings b JOIN events e ON e.id = b.event_id JOIN ticket_types t ON t.id = b.ticket_type_id";

const RELEASED_COLUMNS: &str =
    "id, reference, event_id, ticket_type_id, quantity, customer_email, customer_name";

/// The event row facts a booking needs.
pub async fn event_facts(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<Option<EventFacts>> {
    sqlx::query_as(
        "SELECT id, organizer_id, title, status, starts_at, ends_at, published_at, currency, total_tickets, sold, held
         FROM events WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&pools.read)
    .await
}

/// The ticket types of an event, in display order.
pub async fn type_facts(pools: &Pools<Db>, event_id: Uuid) -> sqlx::Result<Vec<TypeFacts>> {
    sqlx::query_as(
        "SELECT id, event_id, name, kind, price, capacity, sold, held, sales_start_at, sales_end_at, max_per_order
         FROM ticket_types WHERE event_id = $1 ORDER BY position, created_at, id",
    )
    .bind(event_id)
    .fetch_all(&pools.read)
    .await
}

/// Seats of a ticket type in PENDING bookings whose hold has lapsed but that no sweep has
/// released yet.
async fn expired_unswept(
    conn: &mut <Db as sqlx::Database>::Connection,
    type_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM bookings
         WHERE ticket_type_id = $1 AND status = 'PENDING' AND expires_at <= $2",
    )
    .bind(type_id)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Live availability of a ticket type: capacity − sold − held + lapsed holds, capped by the
/// event's own remaining seats when the event has a cap.
pub async fn live_available(
    pools: &Pools<Db>,
    type_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    let mut conn = pools.read.acquire().await?;
    live_available_on(&mut conn, type_id, now).await
}

async fn live_available_on(
    conn: &mut <Db as sqlx::Database>::Connection,
    type_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64, i64, i64, Uuid)> =
        sqlx::query_as("SELECT capacity, sold, held, event_id FROM ticket_types WHERE id = $1")
            .bind(type_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((capacity, sold, held, event_id)) = row else {
        return Ok(None);
    };
    let lapsed = expired_unswept(&mut *conn, type_id, now).await?;
    let mut available = capacity - sold - held + lapsed;
    let cap: Option<(Option<i64>, i64, i64)> =
        sqlx::query_as("SELECT total_tickets, sold, held FROM events WHERE id = $1")
            .bind(event_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((Some(total), esold, eheld)) = cap {
        let event_lapsed: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM bookings
             WHERE event_id = $1 AND status = 'PENDING' AND expires_at <= $2",
        )
        .bind(event_id)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        available = available.min(total - esold - eheld + event_lapsed);
    }
    Ok(Some(available.max(0)))
}

/// Marks lapsed PENDING bookings EXPIRED (of one type, of one event, or the oldest `limit` of
/// all), releases their seats and writes `booking_expired` messages, inside `tx`.
pub async fn release_expired_tx(
    tx: &mut Transaction<'static, Db>,
    type_id: Option<Uuid>,
    limit: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Released>> {
    // SKIP LOCKED (PostgreSQL): a lapsed booking another transaction is already expiring,
    // confirming or cancelling is left to it, so this never waits on booking rows while holding
    // a ticket type's lock (the lock order is bookings → types → events).
    let lock = if PG { "FOR UPDATE SKIP LOCKED" } else { "" };
    let released: Vec<Released> = match type_id {
        Some(type_id) => {
            let sql = format!(
                "UPDATE bookings SET status = 'EXPIRED', updated_at = $1
                 WHERE id IN (SELECT id FROM bookings WHERE ticket_type_id = $2 AND status = 'PENDING'
                              AND expires_at <= $1 {lock})
                   AND status = 'PENDING' AND expires_at <= $1
                 RETURNING {RELEASED_COLUMNS}"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(type_id)
                .fetch_all(&mut **tx)
                .await?
        }
        None => {
            let sql = format!(
                "UPDATE bookings SET status = 'EXPIRED', updated_at = $1
                 WHERE id IN (SELECT id FROM bookings WHERE status = 'PENDING' AND expires_at <= $1
                              ORDER BY expires_at LIMIT $2 {lock})
                   AND status = 'PENDING' AND expires_at <= $1
                 RETURNING {RELEASED_COLUMNS}"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(limit)
                .fetch_all(&mut **tx)
                .await?
        }
    };
    finish_release(tx, released).await
}

/// [`release_expired_tx`] for several ticket types at once (one statement when nothing lapsed).
async fn release_expired_types_tx(
    tx: &mut Transaction<'static, Db>,
    type_ids: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Released>> {
    if type_ids.is_empty() {
        return Ok(Vec::new());
    }
    let lock = if PG { "FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE bookings SET status = 'EXPIRED', updated_at = $1
         WHERE id IN (SELECT id FROM bookings WHERE ticket_type_id IN ({}) AND status = 'PENDING'
                      AND expires_at <= $1 {lock})
           AND status = 'PENDING' AND expires_at <= $1
         RETURNING {RELEASED_COLUMNS}",
        placeholders(2, type_ids.len())
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now);
    for t in type_ids {
        q = q.bind(*t);
    }
    let released: Vec<Released> = q.fetch_all(&mut **tx).await?;
    finish_release(tx, released).await
}

/// Gives the seats of just-expired bookings back and writes their `booking_expired` messages.
async fn finish_release(
    tx: &mut Transaction<'static, Db>,
    released: Vec<Released>,
) -> sqlx::Result<Vec<Released>> {
    if released.is_empty() {
        return Ok(released);
    }
    release_counters(
        tx,
        released
            .iter()
            .map(|r| (r.ticket_type_id, r.event_id, r.quantity, 0)),
    )
    .await?;
    let mut titles: BTreeMap<Uuid, String> = BTreeMap::new();
    for r in &released {
        if let std::collections::btree_map::Entry::Vacant(slot) = titles.entry(r.event_id) {
            let title: String = sqlx::query_scalar("SELECT title FROM events WHERE id = $1")
                .bind(r.event_id)
                .fetch_one(&mut **tx)
                .await?;
            slot.insert(title);
        }
        let msg = NewMessage::email(
            r.customer_email.clone(),
            "booking_expired",
            json!({
                "customerName": r.customer_name,
                "eventTitle": titles[&r.event_id],
                "reference": r.reference,
                "quantity": r.quantity,
            }),
        );
        notify::insert_message(tx, &msg).await?;
    }
    Ok(released)
}

/// Gives seats back: `(type, event, held seats, sold seats)` per booking; types then events in
/// ascending id order (the lock order).
async fn release_counters(
    tx: &mut Transaction<'static, Db>,
    items: impl Iterator<Item = (Uuid, Uuid, i64, i64)>,
) -> sqlx::Result<()> {
    let mut types: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
    let mut events: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
    for (t, e, held, sold) in items {
        let ty = types.entry(t).or_default();
        ty.0 += held;
        ty.1 += sold;
        let ev = events.entry(e).or_default();
        ev.0 += held;
        ev.1 += sold;
    }
    for (id, (held, sold)) in types {
        sqlx::query("UPDATE ticket_types SET held = held - $1, sold = sold - $2 WHERE id = $3")
            .bind(held)
            .bind(sold)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    for (id, (held, sold)) in events {
        sqlx::query(
            "UPDATE events SET held = CASE WHEN held >= $1 THEN held - $1 ELSE 0 END,
                               sold = CASE WHEN sold >= $2 THEN sold - $2 ELSE 0 END
             WHERE id = $3 AND total_tickets IS NOT NULL",
        )
        .bind(held)
        .bind(sold)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Takes the seats with conditional updates (type, then the event's cap). `true` when taken.
async fn take_seats(
    tx: &mut Transaction<'static, Db>,
    ty: &TypeFacts,
    capped: bool,
    quantity: i64,
    confirm_now: bool,
) -> sqlx::Result<bool> {
    let (held, sold) = if confirm_now {
        (0, quantity)
    } else {
        (quantity, 0)
    };
    let r = sqlx::query(
        "UPDATE ticket_types SET held = held + $1, sold = sold + $2
         WHERE id = $3 AND sold + held + $4 <= capacity
           AND EXISTS (SELECT 1 FROM events e WHERE e.id = ticket_types.event_id AND e.status = 'PUBLISHED')",
    )
    .bind(held)
    .bind(sold)
    .bind(ty.id)
    .bind(quantity)
    .execute(&mut **tx)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    if capped {
        let r = sqlx::query(
            "UPDATE events SET held = held + $1, sold = sold + $2
             WHERE id = $3 AND total_tickets IS NOT NULL AND sold + held + $4 <= total_tickets",
        )
        .bind(held)
        .bind(sold)
        .bind(ty.event_id)
        .bind(quantity)
        .execute(&mut **tx)
        .await?;
        if r.rows_affected() == 0 {
            // Give the type's seats back within this transaction.
            sqlx::query("UPDATE ticket_types SET held = held - $1, sold = sold - $2 WHERE id = $3")
                .bind(held)
                .bind(sold)
                .bind(ty.id)
                .execute(&mut **tx)
                .await?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// Releases lapsed holds of a whole event (used when the event cap is the blocker).
async fn release_expired_event_tx(
    tx: &mut Transaction<'static, Db>,
    event_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<usize> {
    let type_ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT ticket_type_id FROM bookings WHERE event_id = $1 AND status = 'PENDING' AND expires_at <= $2",
    )
    .bind(event_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    let mut n = 0;
    let mut sorted = type_ids;
    sorted.sort();
    for t in sorted {
        n += release_expired_tx(tx, Some(t), 0, now).await?.len();
    }
    Ok(n)
}

/// The request with its ticket type: as named (no read: the batch checks it under its lock), or
/// the event's default (its only type, else its first `general` one), which takes one read.
pub async fn resolve_type(
    pools: &Pools<Db>,
    req: &NewHold,
) -> sqlx::Result<Result<NewHold, HoldOutcome>> {
    if req.ticket_type_id.is_some() {
        return Ok(Ok(req.clone()));
    }
    Ok(resolve(pools, req).await?.map(|(_, ty)| NewHold {
        ticket_type_id: Some(ty.id),
        ..req.clone()
    }))
}

/// The checks before any lock: event and type lookup (404, DRAFT → 404), quantity against
/// `maxPerOrder` (400) and the sales window (409 `SALES_CLOSED`). `Err(outcome)` is the refusal.
pub async fn resolve(
    pools: &Pools<Db>,
    req: &NewHold,
) -> sqlx::Result<Result<(EventFacts, TypeFacts), HoldOutcome>> {
    if let Some(type_id) = req.ticket_type_id {
        // One read for both rows on the hot path.
        let row = sqlx::query(
            "SELECT e.id, e.organizer_id, e.title, e.status, e.starts_at, e.ends_at, e.published_at, e.currency,
                    e.total_tickets, e.sold, e.held,
                    t.id, t.event_id, t.name, t.kind, t.price, t.capacity, t.sold, t.held, t.sales_start_at,
                    t.sales_end_at, t.max_per_order
             FROM ticket_types t JOIN events e ON e.id = t.event_id
             WHERE t.id = $1 AND t.event_id = $2",
        )
        .bind(type_id)
        .bind(req.event_id)
        .fetch_optional(&pools.read)
        .await?;
        let Some(row) = row else {
            return Ok(Err(HoldOutcome::NotFound));
        };
        let (event, ty) = facts_of(&row)?;
        return Ok(check_sale(req, event, ty));
    }
    let Some(event) = event_facts(pools, req.event_id).await? else {
        return Ok(Err(HoldOutcome::NotFound));
    };
    if event.status == "DRAFT" {
        return Ok(Err(HoldOutcome::NotFound));
    }
    let types = type_facts(pools, req.event_id).await?;
    let ty = if types.len() == 1 {
        types.into_iter().next().expect("one type")
    } else if let Some(t) = types.iter().find(|t| t.kind == "general") {
        t.clone()
    } else if types.is_empty() {
        return Ok(Err(HoldOutcome::NotFound));
    } else {
        return Ok(Err(HoldOutcome::NeedType));
    };
    Ok(check_sale(req, event, ty))
}

/// DRAFT → 404, quantity against `maxPerOrder`, then the sales window.
fn check_sale(
    req: &NewHold,
    event: EventFacts,
    ty: TypeFacts,
) -> Result<(EventFacts, TypeFacts), HoldOutcome> {
    match refusal(req, &event, &ty) {
        Some(refused) => Err(refused),
        None => Ok((event, ty)),
    }
}

/// A free booking (CONFIRMED at once, with its tickets) inside the caller's transaction, under
/// the batch's locks: the conditional counter updates (after releasing lapsed holds of the type
/// once per transaction when they are in the way), the row, the tickets and the outbox messages.
/// A refused request leaves no change. Free types have no holding limit: nothing is held.
async fn hold_free_in_tx(
    tx: &mut Transaction<'static, Db>,
    req: &NewHold,
    event: &EventFacts,
    ty: &TypeFacts,
    links: &Links,
    released: &mut std::collections::BTreeSet<Uuid>,
) -> sqlx::Result<HoldOutcome> {
    debug_assert_eq!(ty.price, 0);
    let capped = event.total_tickets.is_some();
    let mut taken = take_seats(tx, ty, capped, req.quantity, true).await?;
    if !taken && released.insert(ty.id) {
        // Lapsed holds still counted in `held` may be what blocks us: release them (once per
        // type and transaction) and retry.
        let mut freed = release_expired_tx(tx, Some(ty.id), 0, req.now).await?.len();
        if capped {
            freed += release_expired_event_tx(tx, event.id, req.now).await?;
        }
        if freed > 0 {
            taken = take_seats(tx, ty, capped, req.quantity, true).await?;
        }
    }
    if !taken {
        let available = live_available_on(tx, ty.id, req.now).await?.unwrap_or(0);
        return Ok(HoldOutcome::SoldOut { available });
    }
    let id = Uuid::now_v7();
    let mut reference = crate::bookings::codes::new_reference();
    loop {
        let r = sqlx::query(
            "INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                 currency, status, customer_email, customer_name, customer_phone, special_requests,
                 guest_token_hash, confirmed_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, 'CONFIRMED', $8, $9, $10, $11, $12, $13, $13, $13)
             ON CONFLICT (reference) DO NOTHING",
        )
        .bind(id)
        .bind(&reference)
        .bind(req.user_id)
        .bind(event.id)
        .bind(ty.id)
        .bind(req.quantity)
        .bind(&event.currency)
        .bind(&req.customer_email)
        .bind(&req.customer_name)
        .bind(&req.customer_phone)
        .bind(&req.special_requests)
        .bind(&req.guest_token_hash)
        .bind(req.now)
        .execute(&mut **tx)
        .await?;
        if r.rows_affected() == 1 {
            break;
        }
        reference = crate::bookings::codes::new_reference();
    }
    let tickets = issue_tickets(tx, id, req.quantity, req.now, links).await?;
    let msg = confirmed_message(
        &req.customer_email,
        &req.customer_name,
        &event.title,
        &reference,
        id,
        &tickets,
        links,
    );
    notify::insert_message(tx, &msg).await?;
    let sms = confirmed_sms(tx, req.user_id, &event.title, &reference, event.starts_at).await?;
    if let Some(sms) = sms {
        notify::insert_message(tx, &sms).await?;
    }
    Ok(HoldOutcome::Held {
        id,
        event_id: event.id,
    })
}

/// Runs several hold requests (each naming its ticket type), of any ticket types and events, in
/// ONE transaction and decides each one on its own: one sold-out type or one buyer over the limit
/// refuses only its own requests. An error fails the whole batch (nothing is written; the engine then runs the
/// requests one by one).
///
/// Steps, each one statement for the whole batch:
/// 1. lock the batch's ticket type rows in ascending id order, then its capped events' rows in
///    ascending id order (the lock order of this file; PostgreSQL `FOR UPDATE`, SQLite's single
///    writer), reading everything the decision needs as of the lock: counters, price,
///    `maxPerOrder`, sales window and the event's status (never the caller's earlier snapshot);
/// 2. release lapsed holds of the types (and capped events) that would otherwise refuse someone,
///    and read the counters again;
/// 3. read every buyer's current holdings of the batch's types;
/// 4. decide paid requests in arrival order against those locked numbers (status → SALES_CLOSED,
///    holding limit, then seats → SOLD_OUT with the live `available`);
/// 5. take the accepted seats with ONE conditional `UPDATE … WHERE sold + held + n <= capacity`
///    over the types (and one over the capped events); if it touched fewer rows than expected the
///    batch fails and rolls back, so the invariant never rests on the arithmetic of step 4, and
///    the CHECK constraints back it in any case;
/// 6. insert the bookings and their `booking_pending` outbox messages with multi-row inserts.
///
/// Free types (CONFIRMED at once, with tickets) run request by request in the same transaction,
/// under the locks of step 1.
pub async fn hold_batch(
    pools: &Pools<Db>,
    items: &[NewHold],
    links: &Links,
) -> sqlx::Result<Vec<HoldOutcome>> {
    let mut tx = pools.write.begin().await?;
    let out = hold_many(&mut tx, items, links).await?;
    tx.commit().await?;
    Ok(out)
}

/// A ticket type and its event as read under the type's lock, with the seats left of the type.
#[derive(Debug, Clone)]
struct LockedType {
    ty: TypeFacts,
    event: EventFacts,
    remaining: i64,
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// On PostgreSQL the batch statements take each list as ONE array parameter ([`PgArray`], binary),
// and a batch of rows as one array per column under `unnest`, so each statement has a single
// shape whatever the batch size: a connection parses and plans it once and then reuses it. With
// one parameter per item, every batch size was a new statement to prepare on each of the pool's
// connections; with text array literals or JSON, the server spent its time parsing them. SQLite
// (in process, cheap to prepare) keeps one parameter per item.

/// Step 1: locks (PostgreSQL) and reads the types, then the capped events, in ascending id order.
/// Returns every fact a decision needs as of the lock (status, sales window, price,
/// `maxPerOrder`, seats left), never the caller's earlier snapshot, and the capped events' seats
/// left.
async fn lock_counters(
    tx: &mut Transaction<'static, Db>,
    type_ids: &[Uuid],
    event_ids: &[Uuid],
) -> sqlx::Result<(BTreeMap<Uuid, LockedType>, BTreeMap<Uuid, i64>)> {
    let lock = if PG { " FOR UPDATE OF t" } else { "" };
    let sql = format!(
        "SELECT e.id, e.organizer_id, e.title, e.status, e.starts_at, e.ends_at, e.published_at, e.currency,
                e.total_tickets, e.sold, e.held,
                t.id, t.event_id, t.name, t.kind, t.price, t.capacity, t.sold, t.held, t.sales_start_at,
                t.sales_end_at, t.max_per_order
         FROM ticket_types t JOIN events e ON e.id = t.event_id
         WHERE t.id {} ORDER BY t.id{lock}",
        id_list(type_ids.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if PG {
        q = q.bind(PgArray(type_ids.to_vec()));
    } else {
        for id in type_ids {
            q = q.bind(*id);
        }
    }
    let mut types = BTreeMap::new();
    for row in q.fetch_all(&mut **tx).await? {
        let (event, ty) = facts_of(&row)?;
        let remaining = ty.capacity - ty.sold - ty.held;
        types.insert(
            ty.id,
            LockedType {
                ty,
                event,
                remaining,
            },
        );
    }
    let lock = if PG { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT id, total_tickets, sold, held FROM events
         WHERE id {} AND total_tickets IS NOT NULL ORDER BY id{lock}",
        id_list(event_ids.len())
    );
    let mut q = sqlx::query_as::<_, (Uuid, Option<i64>, i64, i64)>(sqlx::AssertSqlSafe(sql));
    if PG {
        q = q.bind(PgArray(event_ids.to_vec()));
    } else {
        for id in event_ids {
            q = q.bind(*id);
        }
    }
    let events: BTreeMap<Uuid, i64> = q
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .filter_map(|(id, total, sold, held)| total.map(|t| (id, t - sold - held)))
        .collect();
    Ok((types, events))
}

/// `IN` over one array parameter (PostgreSQL) or `IN ($1, …, $n)` (SQLite). On PostgreSQL the
/// array is unnested so that each id is a primary-key probe: as `= ANY($1)` on a counter table
/// full of dead row versions (a sale updates it every batch) and not yet analyzed, the planner
/// chose a sequential scan, measured at 40 ms per batch.
fn id_list(n: usize) -> String {
    if PG {
        "IN (SELECT unnest(CAST($1 AS uuid[])))".to_string()
    } else {
        format!("IN ({})", placeholders(1, n))
    }
}

/// The event and ticket type of a row of `e.…` (11 columns) then `t.…` (11 columns).
fn facts_of(row: &<Db as sqlx::Database>::Row) -> sqlx::Result<(EventFacts, TypeFacts)> {
    let event = EventFacts {
        id: row.try_get(0)?,
        organizer_id: row.try_get(1)?,
        title: row.try_get(2)?,
        status: row.try_get(3)?,
        starts_at: row.try_get(4)?,
        ends_at: row.try_get(5)?,
        published_at: row.try_get(6)?,
        currency: row.try_get(7)?,
        total_tickets: row.try_get(8)?,
        sold: row.try_get(9)?,
        held: row.try_get(10)?,
    };
    let ty = TypeFacts {
        id: row.try_get(11)?,
        event_id: row.try_get(12)?,
        name: row.try_get(13)?,
        kind: row.try_get(14)?,
        price: row.try_get(15)?,
        capacity: row.try_get(16)?,
        sold: row.try_get(17)?,
        held: row.try_get(18)?,
        sales_start_at: row.try_get(19)?,
        sales_end_at: row.try_get(20)?,
        max_per_order: row.try_get(21)?,
    };
    Ok((event, ty))
}

/// Step 3: seats each buyer holds of each of `type_ids` in unexpired PENDING bookings.
async fn holdings_of(
    tx: &mut Transaction<'static, Db>,
    reqs: &[&NewHold],
    type_ids: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<BTreeMap<(Uuid, Buyer), i64>> {
    let mut users: Vec<Uuid> = reqs.iter().filter_map(|r| r.user_id).collect();
    users.sort();
    users.dedup();
    let mut emails: Vec<&str> = reqs
        .iter()
        .filter(|r| r.user_id.is_none())
        .map(|r| r.customer_email.as_str())
        .collect();
    emails.sort();
    emails.dedup();
    let mut holdings = BTreeMap::new();
    if users.is_empty() && emails.is_empty() {
        return Ok(holdings);
    }
    // Each branch first takes the buyers' bookings through the buyer's own index (a buyer has
    // few), and only then filters type, status, expiry and (guests) `user_id IS NULL`. Written as
    // one filter, a planner with stale statistics (a new, hot ticket type) may walk the type's
    // index instead: every PENDING booking of the type, per batch, which grows with the on-sale
    // (measured on PostgreSQL: 40–60 ms per batch after 30,000 holds). On PostgreSQL each buyer
    // is a separate probe (`LATERAL … OFFSET 0` keeps it one): a list of 128 emails against a
    // table never analyzed is estimated at most of the table and read by a sequential scan.
    let sql = if PG {
        // $1 now, $2 types, $3 accounts, $4 guest emails: one shape for every batch.
        "WITH mine AS MATERIALIZED (
             SELECT 'account' AS via, b.* FROM unnest(CAST($3 AS uuid[])) AS k(key) CROSS JOIN LATERAL (
                 SELECT ticket_type_id, user_id, customer_email, quantity, status, expires_at
                 FROM bookings WHERE user_id = k.key OFFSET 0) AS b
             UNION ALL
             SELECT 'guest' AS via, b.* FROM unnest(CAST($4 AS text[])) AS k(key)
             CROSS JOIN LATERAL (
                 SELECT ticket_type_id, user_id, customer_email, quantity, status, expires_at
                 FROM bookings WHERE customer_email = k.key OFFSET 0) AS b)
         SELECT ticket_type_id, user_id, customer_email, CAST(SUM(quantity) AS BIGINT) FROM mine
         WHERE ticket_type_id = ANY(CAST($2 AS uuid[])) AND status = 'PENDING' AND expires_at > $1
           AND (via = 'account' OR user_id IS NULL)
         GROUP BY ticket_type_id, user_id, customer_email"
            .to_string()
    } else {
        let from = 2 + type_ids.len();
        let mut branches = Vec::new();
        if !users.is_empty() {
            branches.push(format!(
                "SELECT 'account' AS via, ticket_type_id, user_id, customer_email, quantity, status, expires_at
                 FROM bookings WHERE user_id IN ({})",
                placeholders(from, users.len())
            ));
        }
        if !emails.is_empty() {
            branches.push(format!(
                "SELECT 'guest' AS via, ticket_type_id, user_id, customer_email, quantity, status, expires_at
                 FROM bookings WHERE customer_email IN ({})",
                placeholders(from + users.len(), emails.len())
            ));
        }
        format!(
            "WITH mine AS MATERIALIZED ({})
             SELECT ticket_type_id, user_id, customer_email, CAST(SUM(quantity) AS BIGINT) FROM mine
             WHERE ticket_type_id IN ({}) AND status = 'PENDING' AND expires_at > $1
               AND (via = 'account' OR user_id IS NULL)
             GROUP BY ticket_type_id, user_id, customer_email",
            branches.join(" UNION ALL "),
            placeholders(2, type_ids.len()),
        )
    };
    let mut q =
        sqlx::query_as::<_, (Uuid, Option<Uuid>, String, i64)>(sqlx::AssertSqlSafe(sql)).bind(now);
    if PG {
        q = q
            .bind(PgArray(type_ids.to_vec()))
            .bind(PgArray(users.clone()))
            .bind(PgArray(emails.iter().map(|e| e.to_string()).collect()));
    } else {
        for t in type_ids {
            q = q.bind(*t);
        }
        for u in &users {
            q = q.bind(*u);
        }
        for e in &emails {
            q = q.bind(e.to_string());
        }
    }
    for (ty, user, email, n) in q.fetch_all(&mut **tx).await? {
        let key = match user {
            Some(u) => Buyer::User(u),
            None => Buyer::Guest(email),
        };
        *holdings.entry((ty, key)).or_default() += n;
    }
    Ok(holdings)
}

/// Step 5: adds `n` to `column` of each row of `table` with ONE conditional update
/// (`sold + held + n <= limit`); an error unless every row took its seats.
async fn take_many(
    tx: &mut Transaction<'static, Db>,
    table: &str,
    limit: &str,
    extra: &str,
    amounts: &BTreeMap<Uuid, i64>,
) -> sqlx::Result<()> {
    if amounts.is_empty() {
        return Ok(());
    }
    let q = if PG {
        let sql = format!(
            "UPDATE {table} SET held = held + v.n
             FROM unnest(CAST($1 AS uuid[]), CAST($2 AS bigint[])) AS v(row_id, n)
             WHERE id = v.row_id{extra} AND sold + held + v.n <= {limit}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(PgArray(amounts.keys().copied().collect()))
            .bind(PgArray(amounts.values().copied().collect()))
    } else {
        let mut case = String::from("CASE id");
        for n in 0..amounts.len() {
            case.push_str(&format!(" WHEN ${} THEN ${}", 2 * n + 1, 2 * n + 2));
        }
        case.push_str(" END");
        let ids = (0..amounts.len())
            .map(|n| format!("${}", 2 * n + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE {table} SET held = held + {case}
             WHERE id IN ({ids}){extra} AND sold + held + {case} <= {limit}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, n) in amounts {
            q = q.bind(*id).bind(*n);
        }
        q
    };
    let touched = q.execute(&mut **tx).await?.rows_affected();
    if touched != amounts.len() as u64 {
        // Cannot happen while the locks of step 1 are held; failing rolls everything back and
        // the engine reruns the requests one by one.
        return Err(sqlx::Error::Protocol(format!(
            "{table}: {touched} of {} counter updates applied under lock",
            amounts.len()
        )));
    }
    Ok(())
}

/// Every step of [`hold_batch`] inside the caller's transaction.
async fn hold_many(
    tx: &mut Transaction<'static, Db>,
    items: &[NewHold],
    links: &Links,
) -> sqlx::Result<Vec<HoldOutcome>> {
    let mut out: Vec<Option<HoldOutcome>> = vec![None; items.len()];
    let mut type_ids: Vec<Uuid> = items.iter().filter_map(|r| r.ticket_type_id).collect();
    type_ids.sort();
    type_ids.dedup();
    let mut event_ids: Vec<Uuid> = items.iter().map(|r| r.event_id).collect();
    event_ids.sort();
    event_ids.dedup();
    let now = items.iter().map(|r| r.now).max().unwrap_or_else(Utc::now);
    let (mut types, mut events) = lock_counters(tx, &type_ids, &event_ids).await?;
    // Each request's ticket type, if it exists and belongs to the request's event (else 404).
    let type_of: Vec<Option<Uuid>> = items
        .iter()
        .map(|r| {
            r.ticket_type_id
                .filter(|t| types.get(t).is_some_and(|l| l.event.id == r.event_id))
        })
        .collect();
    for (i, ty) in type_of.iter().enumerate() {
        if ty.is_none() {
            out[i] = Some(HoldOutcome::NotFound);
        }
    }

    // Paid or free as of the lock.
    let paid: Vec<usize> = (0..items.len())
        .filter(|&i| type_of[i].is_some_and(|t| types[&t].ty.price > 0))
        .collect();
    if !paid.is_empty() {
        // Step 2: lazy release where the lapsed holds may be in the way.
        let mut type_wanted: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut event_wanted: BTreeMap<Uuid, i64> = BTreeMap::new();
        for &i in &paid {
            let (req, ty) = (&items[i], type_of[i].expect("paid types exist"));
            let t = &types[&ty];
            if refusal(req, &t.event, &t.ty).is_some() {
                continue;
            }
            *type_wanted.entry(ty).or_default() += req.quantity;
            if events.contains_key(&t.event.id) {
                *event_wanted.entry(t.event.id).or_default() += req.quantity;
            }
        }
        let short_types: Vec<Uuid> = type_wanted
            .iter()
            .filter(|(id, w)| **w > types[*id].remaining)
            .map(|(id, _)| *id)
            .collect();
        let short_events: Vec<Uuid> = event_wanted
            .iter()
            .filter(|(id, w)| **w > events[*id])
            .map(|(id, _)| *id)
            .collect();
        if !short_types.is_empty() || !short_events.is_empty() {
            let mut freed = release_expired_types_tx(tx, &short_types, now).await?.len();
            for e in &short_events {
                freed += release_expired_event_tx(tx, *e, now).await?;
            }
            if freed > 0 {
                (types, events) = lock_counters(tx, &type_ids, &event_ids).await?;
            }
        }

        // Steps 3 and 4.
        let paid_types: Vec<Uuid> = type_wanted.keys().copied().collect();
        let reqs: Vec<&NewHold> = paid.iter().map(|&i| &items[i]).collect();
        let mut holdings = if paid_types.is_empty() {
            BTreeMap::new()
        } else {
            holdings_of(tx, &reqs, &paid_types, now).await?
        };
        let mut take_types: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut take_events: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut accepted: Vec<usize> = Vec::new();
        for &i in &paid {
            let (req, ty) = (&items[i], type_of[i].expect("paid types exist"));
            let Some(t) = types.get_mut(&ty) else {
                out[i] = Some(HoldOutcome::NotFound);
                continue;
            };
            if let Some(refused) = refusal(req, &t.event, &t.ty) {
                out[i] = Some(refused);
                continue;
            }
            let max = i64::from(t.ty.max_per_order);
            let key = (ty, buyer_of(req));
            let have = holdings.get(&key).copied().unwrap_or(0);
            let event_left = events.get(&t.event.id).copied();
            let available = event_left
                .map_or(t.remaining, |e| t.remaining.min(e))
                .max(0);
            if have + req.quantity > max {
                out[i] = Some(HoldOutcome::HoldingLimit { max, holding: have });
            } else if req.quantity > available {
                out[i] = Some(HoldOutcome::SoldOut { available });
            } else {
                t.remaining -= req.quantity;
                *take_types.entry(ty).or_default() += req.quantity;
                if let Some(e) = events.get_mut(&t.event.id) {
                    *e -= req.quantity;
                    *take_events.entry(t.event.id).or_default() += req.quantity;
                }
                *holdings.entry(key).or_default() += req.quantity;
                accepted.push(i);
            }
        }

        // Step 5.
        take_many(tx, "ticket_types", "capacity", "", &take_types).await?;
        take_many(
            tx,
            "events",
            "total_tickets",
            " AND total_tickets IS NOT NULL",
            &take_events,
        )
        .await?;

        // Step 6, with the price, currency and title read under the locks.
        let rows: Vec<(usize, &NewHold, &LockedType)> = accepted
            .iter()
            .map(|&i| {
                (
                    i,
                    &items[i],
                    &types[&type_of[i].expect("accepted types exist")],
                )
            })
            .collect();
        for chunk in rows.chunks(INSERT_CHUNK) {
            for (i, id) in insert_pending(tx, chunk, links).await? {
                out[i] = Some(HoldOutcome::Held {
                    id,
                    event_id: items[i].event_id,
                });
            }
        }
    }

    // Free types (as of the locks), one by one under the same locks.
    let mut released = std::collections::BTreeSet::new();
    for (i, req) in items.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let Some(t) = type_of[i].and_then(|ty| types.get(&ty)) else {
            out[i] = Some(HoldOutcome::NotFound);
            continue;
        };
        if let Some(refused) = refusal(req, &t.event, &t.ty) {
            out[i] = Some(refused);
            continue;
        }
        out[i] = Some(hold_free_in_tx(tx, req, &t.event, &t.ty, links, &mut released).await?);
    }
    Ok(out.into_iter().map(|o| o.expect("decided")).collect())
}

/// Rows per multi-row insert (17 binds each, well under both backends' parameter limits).
const INSERT_CHUNK: usize = 256;

/// Step 6: the PENDING bookings of the accepted requests (request index, request, locked facts)
/// and their `booking_pending` messages, in two statements (a reference collision retries just
/// that row). Returns `(request index, booking id)`.
async fn insert_pending(
    tx: &mut Transaction<'static, Db>,
    accepted: &[(usize, &NewHold, &LockedType)],
    links: &Links,
) -> sqlx::Result<Vec<(usize, Uuid)>> {
    let mut rows: Vec<(Uuid, String, usize)> = (0..accepted.len())
        .map(|k| (Uuid::now_v7(), crate::bookings::codes::new_reference(), k))
        .collect();
    let mut pending_rows: Vec<usize> = (0..rows.len()).collect();
    while !pending_rows.is_empty() {
        let q = if PG {
            // One array per column, in the order of `unnest` below.
            let mut ids = Vec::with_capacity(pending_rows.len());
            let mut references = Vec::with_capacity(pending_rows.len());
            let mut users = Vec::with_capacity(pending_rows.len());
            let mut events = Vec::with_capacity(pending_rows.len());
            let mut types = Vec::with_capacity(pending_rows.len());
            let mut quantities = Vec::with_capacity(pending_rows.len());
            let mut prices = Vec::with_capacity(pending_rows.len());
            let mut totals = Vec::with_capacity(pending_rows.len());
            let mut currencies = Vec::with_capacity(pending_rows.len());
            let mut expiries = Vec::with_capacity(pending_rows.len());
            let mut emails = Vec::with_capacity(pending_rows.len());
            let mut names = Vec::with_capacity(pending_rows.len());
            let mut phones = Vec::with_capacity(pending_rows.len());
            let mut requests = Vec::with_capacity(pending_rows.len());
            let mut token_hashes = Vec::with_capacity(pending_rows.len());
            let mut created = Vec::with_capacity(pending_rows.len());
            for &r in &pending_rows {
                let (id, reference, k) = &rows[r];
                let (_, req, locked) = accepted[*k];
                let (event, ty) = (&locked.event, &locked.ty);
                ids.push(*id);
                references.push(reference.clone());
                users.push(req.user_id);
                events.push(event.id);
                types.push(ty.id);
                quantities.push(req.quantity);
                prices.push(ty.price);
                totals.push(ty.price * req.quantity);
                currencies.push(event.currency.clone());
                expiries.push(req.now + req.hold);
                emails.push(req.customer_email.clone());
                names.push(req.customer_name.clone());
                phones.push(req.customer_phone.clone());
                requests.push(req.special_requests.clone());
                token_hashes.push(req.guest_token_hash.clone());
                created.push(req.now);
            }
            sqlx::query_scalar::<_, Uuid>(
                "INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price,
                     total_amount, currency, status, expires_at, customer_email, customer_name, customer_phone,
                     special_requests, guest_token_hash, created_at, updated_at)
                 SELECT id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                     currency, 'PENDING', expires_at, customer_email, customer_name, customer_phone,
                     special_requests, guest_token_hash, created_at, created_at
                 FROM unnest(CAST($1 AS uuid[]), CAST($2 AS text[]), CAST($3 AS uuid[]), CAST($4 AS uuid[]),
                     CAST($5 AS uuid[]), CAST($6 AS bigint[]), CAST($7 AS bigint[]), CAST($8 AS bigint[]),
                     CAST($9 AS text[]), CAST($10 AS timestamptz[]), CAST($11 AS text[]), CAST($12 AS text[]),
                     CAST($13 AS text[]), CAST($14 AS text[]), CAST($15 AS text[]), CAST($16 AS timestamptz[]))
                     AS r(id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                     currency, expires_at, customer_email, customer_name, customer_phone, special_requests,
                     guest_token_hash, created_at)
                 ON CONFLICT (reference) DO NOTHING RETURNING id",
            )
            .bind(PgArray(ids))
            .bind(PgArray(references))
            .bind(PgArray(users))
            .bind(PgArray(events))
            .bind(PgArray(types))
            .bind(PgArray(quantities))
            .bind(PgArray(prices))
            .bind(PgArray(totals))
            .bind(PgArray(currencies))
            .bind(PgArray(expiries))
            .bind(PgArray(emails))
            .bind(PgArray(names))
            .bind(PgArray(phones))
            .bind(PgArray(requests))
            .bind(PgArray(token_hashes))
            .bind(PgArray(created))
        } else {
            let mut sql = String::from(
            "INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                 currency, status, expires_at, customer_email, customer_name, customer_phone, special_requests,
                 guest_token_hash, created_at, updated_at) VALUES ",
        );
            // Anonymous `?` parameters, bound in the order they appear: SQLite looks a numbered
            // parameter's name up in a list, so binding n of them costs n² (measured: 17% of the
            // hold benchmark's CPU with 64 rows of `$N`).
            let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?)";
            for n in 0..pending_rows.len() {
                if n > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(row);
            }
            sql.push_str(" ON CONFLICT (reference) DO NOTHING RETURNING id");
            let mut q = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql));
            for &r in &pending_rows {
                let (id, reference, k) = &rows[r];
                let (_, req, locked) = accepted[*k];
                let (event, ty) = (&locked.event, &locked.ty);
                q = q
                    .bind(*id)
                    .bind(reference.clone())
                    .bind(req.user_id)
                    .bind(event.id)
                    .bind(ty.id)
                    .bind(req.quantity)
                    .bind(ty.price)
                    .bind(ty.price * req.quantity)
                    .bind(event.currency.clone())
                    .bind(req.now + req.hold)
                    .bind(req.customer_email.clone())
                    .bind(req.customer_name.clone())
                    .bind(req.customer_phone.clone())
                    .bind(req.special_requests.clone())
                    .bind(req.guest_token_hash.clone())
                    .bind(req.now)
                    .bind(req.now);
            }
            q
        };
        let inserted: std::collections::HashSet<Uuid> =
            q.fetch_all(&mut **tx).await?.into_iter().collect();
        pending_rows.retain(|&r| !inserted.contains(&rows[r].0));
        for &r in &pending_rows {
            rows[r].1 = crate::bookings::codes::new_reference();
        }
    }
    // The `booking_pending` messages, in one statement (same columns as `notify::insert_message`).
    let written = Utc::now();
    let messages: Vec<(Uuid, &str, String)> = rows
        .iter()
        .map(|(id, reference, k)| {
            let (_, req, locked) = accepted[*k];
            let (event, ty) = (&locked.event, &locked.ty);
            let mut pay_url = format!("{}/bookings/{id}/pay", links.public_base);
            if let Some(token) = &req.guest_token {
                pay_url.push_str("?guestToken=");
                pay_url.push_str(token);
            }
            let payload = json!({
                "customerName": req.customer_name,
                "eventTitle": event.title,
                "reference": reference,
                "quantity": req.quantity,
                "totalAmount": ty.price * req.quantity,
                "currency": event.currency,
                "expiresAt": req.now + req.hold,
                "payUrl": pay_url,
            });
            (
                Uuid::now_v7(),
                req.customer_email.as_str(),
                payload.to_string(),
            )
        })
        .collect();
    if PG {
        let mut ids = Vec::with_capacity(messages.len());
        let mut recipients = Vec::with_capacity(messages.len());
        let mut payloads = Vec::with_capacity(messages.len());
        for (id, recipient, payload) in messages {
            ids.push(id);
            recipients.push(recipient.to_string());
            payloads.push(payload);
        }
        sqlx::query(
            "INSERT INTO outbox (id, channel, recipient, template, payload, status, attempts, next_attempt_at, created_at)
             SELECT id, 'email', recipient, 'booking_pending', payload, 'PENDING', 0, $4, $4
             FROM unnest(CAST($1 AS uuid[]), CAST($2 AS text[]), CAST($3 AS text[])) AS r(id, recipient, payload)",
        )
        .bind(PgArray(ids))
        .bind(PgArray(recipients))
        .bind(PgArray(payloads))
        .bind(written)
        .execute(&mut **tx)
        .await?;
    } else {
        let mut sql = String::from(
            "INSERT INTO outbox (id, channel, recipient, template, payload, status, attempts, next_attempt_at, created_at) VALUES ",
        );
        // Anonymous parameters, as in the bookings insert above.
        for n in 0..messages.len() {
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?, 'email', ?, 'booking_pending', ?, 'PENDING', 0, ?, ?)");
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, recipient, payload) in messages {
            q = q
                .bind(id)
                .bind(recipient.to_string())
                .bind(payload)
                .bind(written)
                .bind(written);
        }
        q.execute(&mut **tx).await?;
    }
    crate::notify::wake();
    Ok(rows
        .into_iter()
        .map(|(id, _, k)| (accepted[k].0, id))
        .collect())
}

/// Who the holding limit counts: the account, or the guest's email.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Buyer {
    User(Uuid),
    Guest(String),
}

fn buyer_of(req: &NewHold) -> Buyer {
    match req.user_id {
        Some(u) => Buyer::User(u),
        None => Buyer::Guest(req.customer_email.clone()),
    }
}

fn confirmed_message(
    email: &str,
    name: &str,
    title: &str,
    reference: &str,
    booking_id: Uuid,
    tickets: &[TicketRow],
    links: &Links,
) -> NewMessage {
    let tickets: Vec<_> = tickets
        .iter()
        .map(|t| {
            json!({
                "code": t.code,
                "qrUrl": format!("{}/bookings/{booking_id}/tickets/{}/qr", links.api_base, t.id),
            })
        })
        .collect();
    NewMessage::email(
        email.to_string(),
        "booking_confirmed",
        json!({
            "customerName": name,
            "eventTitle": title,
            "reference": reference,
            "tickets": tickets,
        }),
    )
}

/// The `sms_booking_confirmed` message for the booking's account, when it has a verified phone
/// and allows SMS (API.md §10, §11.74); guests get none.
async fn confirmed_sms(
    tx: &mut Transaction<'static, Db>,
    user_id: Option<Uuid>,
    title: &str,
    reference: &str,
    starts_at: DateTime<Utc>,
) -> sqlx::Result<Option<NewMessage>> {
    user_sms(
        tx,
        user_id,
        "sms_booking_confirmed",
        json!({
            "eventTitle": title,
            "reference": reference,
            "eventStartsAt": starts_at,
        }),
    )
    .await
}

/// An SMS to a booker's account phone, when the account has a verified phone and allows SMS.
async fn user_sms(
    tx: &mut Transaction<'static, Db>,
    user_id: Option<Uuid>,
    template: &'static str,
    payload: serde_json::Value,
) -> sqlx::Result<Option<NewMessage>> {
    let Some(user_id) = user_id else {
        return Ok(None);
    };
    let row: Option<(Option<String>, bool, String)> =
        sqlx::query_as("SELECT phone, phone_verified, preferences FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((Some(phone), verified, preferences)) = row else {
        return Ok(None);
    };
    if !crate::notify::sms_allowed_for(Some(&phone), verified, &preferences) {
        return Ok(None);
    }
    Ok(Some(NewMessage::sms(phone, template, payload)))
}

/// Claims up to `limit` CONFIRMED bookings of PUBLISHED events that start within `window` of
/// `now` and have had no reminder, marks them reminded and writes each booker's
/// `event_reminder` email (and `sms_event_reminder` when the account allows SMS), in one
/// transaction: a reminder is never sent twice, whatever the number of instances (PostgreSQL
/// claims with `SKIP LOCKED`). Returns how many bookings were reminded.
pub async fn send_event_reminders(
    pools: &Pools<Db>,
    now: DateTime<Utc>,
    window: chrono::Duration,
    limit: i64,
    links: &Links,
) -> sqlx::Result<usize> {
    let skip = if PG {
        " FOR UPDATE OF b SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE bookings SET reminded_at = $1
         WHERE id IN (SELECT b.id FROM bookings b JOIN events e ON e.id = b.event_id
                      WHERE b.status = 'CONFIRMED' AND b.reminded_at IS NULL AND e.status = 'PUBLISHED'
                        AND e.starts_at > $1 AND e.starts_at <= $2
                      ORDER BY e.starts_at LIMIT $3{skip})
           AND reminded_at IS NULL
         RETURNING id, reference, user_id, event_id, customer_email, customer_name"
    );
    let mut tx = pools.write.begin().await?;
    let claimed: Vec<(Uuid, String, Option<Uuid>, Uuid, String, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(now + window)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
    let mut events: BTreeMap<Uuid, (String, DateTime<Utc>, Option<String>)> = BTreeMap::new();
    for (id, reference, user_id, event_id, email, name) in &claimed {
        if !events.contains_key(event_id) {
            let row: (String, DateTime<Utc>, Option<String>) =
                sqlx::query_as("SELECT title, starts_at, venue FROM events WHERE id = $1")
                    .bind(*event_id)
                    .fetch_one(&mut *tx)
                    .await?;
            events.insert(*event_id, row);
        }
        let (title, starts_at, venue) = &events[event_id];
        let email_msg = NewMessage::email(
            email.clone(),
            "event_reminder",
            json!({
                "customerName": name,
                "eventTitle": title,
                "eventStartsAt": starts_at,
                "venue": venue,
                "reference": reference,
                "bookingId": id,
                "bookingUrl": format!("{}/bookings/{id}", links.public_base),
            }),
        );
        notify::insert_message(&mut tx, &email_msg).await?;
        let sms = user_sms(
            &mut tx,
            *user_id,
            "sms_event_reminder",
            json!({
                "eventTitle": title,
                "eventStartsAt": starts_at,
                "venue": venue,
                "reference": reference,
            }),
        )
        .await?;
        if let Some(sms) = sms {
            notify::insert_message(&mut tx, &sms).await?;
        }
    }
    tx.commit().await?;
    if !claimed.is_empty() {
        crate::notify::wake();
    }
    Ok(claimed.len())
}

async fn issue_tickets(
    tx: &mut Transaction<'static, Db>,
    booking_id: Uuid,
    quantity: i64,
    now: DateTime<Utc>,
    links: &Links,
) -> sqlx::Result<Vec<TicketRow>> {
    let out: Vec<TicketRow> = (1..=quantity)
        .map(|seat| {
            let id = Uuid::new_v4();
            TicketRow {
                id,
                booking_id,
                code: crate::bookings::codes::ticket_code(&links.signing_key, id),
                seat: seat as i32,
                checked_in_at: None,
                checked_in_by: None,
                created_at: now,
            }
        })
        .collect();
    // Multi-row inserts keep a large order to a few statements inside the hold transaction.
    for chunk in out.chunks(200) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 5;
                format!(
                    "(${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO tickets (id, booking_id, code, seat, created_at) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for t in chunk {
            query = query
                .bind(t.id)
                .bind(t.booking_id)
                .bind(&t.code)
                .bind(t.seat)
                .bind(t.created_at);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(out)
}

/// One booking with its event title and type name.
pub async fn booking_by_id(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<Option<BookingRow>> {
    let sql = format!("{BOOKING_SELECT} WHERE b.id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&pools.read)
        .await
}

/// Tickets of a booking, by seat.
pub async fn tickets_of(pools: &Pools<Db>, booking_id: Uuid) -> sqlx::Result<Vec<TicketRow>> {
    sqlx::query_as(
        "SELECT id, booking_id, code, seat, checked_in_at, checked_in_by, created_at FROM tickets
         WHERE booking_id = $1 ORDER BY seat",
    )
    .bind(booking_id)
    .fetch_all(&pools.read)
    .await
}

/// Tickets of several bookings.
pub async fn tickets_of_many(pools: &Pools<Db>, ids: &[Uuid]) -> sqlx::Result<Vec<TicketRow>> {
    let mut out = Vec::new();
    for id in ids {
        out.extend(tickets_of(pools, *id).await?);
    }
    Ok(out)
}

/// One ticket.
pub async fn ticket_by_id(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<Option<TicketRow>> {
    sqlx::query_as(
        "SELECT id, booking_id, code, seat, checked_in_at, checked_in_by, created_at FROM tickets WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&pools.read)
    .await
}

fn where_filter(filter: &ListFilter) -> String {
    let mut sql = String::from(
        " WHERE b.user_id = $1 AND ($2 IS NULL OR b.event_id = $2)
        AND ($3 IS NULL OR b.created_at >= $3) AND ($4 IS NULL OR b.created_at < $4)",
    );
    match filter.status.as_deref() {
        Some("PENDING") => sql.push_str(" AND b.status = 'PENDING' AND b.expires_at > $5"),
        Some("EXPIRED") => sql.push_str(
            " AND (b.status = 'EXPIRED' OR (b.status = 'PENDING' AND b.expires_at <= $5))",
        ),
        Some("CONFIRMED") => sql.push_str(" AND b.status = 'CONFIRMED' AND $5 IS NOT NULL"),
        Some("CANCELLED") => sql.push_str(" AND b.status = 'CANCELLED' AND $5 IS NOT NULL"),
        Some("REFUNDED") => sql.push_str(" AND b.status = 'REFUNDED' AND $5 IS NOT NULL"),
        _ => sql.push_str(" AND $5 IS NOT NULL"),
    }
    sql
}

/// A page of a user's bookings (newest first) and the total count.
pub async fn list_bookings(
    pools: &Pools<Db>,
    filter: &ListFilter,
) -> sqlx::Result<(Vec<BookingRow>, u64)> {
    let filter_sql = where_filter(filter);
    let count_sql = format!("SELECT COUNT(*) FROM bookings b{filter_sql}");
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
        .bind(filter.user_id)
        .bind(filter.event_id)
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.now)
        .fetch_one(&pools.read)
        .await?;
    let sql = format!(
        "{BOOKING_SELECT}{filter_sql} ORDER BY b.created_at DESC, b.id DESC LIMIT $6 OFFSET $7"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(filter.user_id)
        .bind(filter.event_id)
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.now)
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(&pools.read)
        .await?;
    Ok((rows, total as u64))
}

/// Counts by effective status and net money paid by currency of one user.
pub async fn booking_stats(
    pools: &Pools<Db>,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<(Vec<(String, i64)>, Vec<(String, i64)>)> {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT CASE WHEN status = 'PENDING' AND expires_at <= $2 THEN 'EXPIRED' ELSE status END AS s,
                COUNT(*) FROM bookings WHERE user_id = $1 GROUP BY 1",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&pools.read)
    .await?;
    let spent: Vec<(String, i64)> = sqlx::query_as(
        "SELECT currency, CAST(COALESCE(SUM(total_amount - COALESCE(refund_amount, refund_due, 0)), 0) AS BIGINT)
         FROM bookings WHERE user_id = $1 AND confirmed_at IS NOT NULL AND total_amount > 0
           AND status IN ('CONFIRMED', 'CANCELLED', 'REFUNDED')
         GROUP BY currency",
    )
    .bind(user_id)
    .fetch_all(&pools.read)
    .await?;
    Ok((counts, spent))
}

/// PENDING → CONFIRMED with one ticket per seat, if the hold is still alive.
pub async fn confirm(
    pools: &Pools<Db>,
    id: Uuid,
    now: DateTime<Utc>,
    links: &Links,
) -> sqlx::Result<ConfirmOutcome> {
    let mut tx = pools.write.begin().await?;
    let sql = "UPDATE bookings SET status = 'CONFIRMED', confirmed_at = $1, updated_at = $1
               WHERE id = $2 AND status = 'PENDING' AND expires_at > $1
               RETURNING reference, event_id, ticket_type_id, quantity, customer_email, customer_name, user_id";
    let row = sqlx::query(sql)
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(ConfirmOutcome::NotPending);
    };
    let reference: String = row.try_get(0)?;
    let event_id: Uuid = row.try_get(1)?;
    let type_id: Uuid = row.try_get(2)?;
    let quantity: i64 = row.try_get(3)?;
    let email: String = row.try_get(4)?;
    let name: String = row.try_get(5)?;
    let user_id: Option<Uuid> = row.try_get(6)?;
    sqlx::query("UPDATE ticket_types SET held = held - $1, sold = sold + $1 WHERE id = $2")
        .bind(quantity)
        .bind(type_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE events SET held = CASE WHEN held >= $1 THEN held - $1 ELSE 0 END, sold = sold + $1
         WHERE id = $2 AND total_tickets IS NOT NULL",
    )
    .bind(quantity)
    .bind(event_id)
    .execute(&mut *tx)
    .await?;
    let tickets = issue_tickets(&mut tx, id, quantity, now, links).await?;
    let (title, starts_at): (String, DateTime<Utc>) =
        sqlx::query_as("SELECT title, starts_at FROM events WHERE id = $1")
            .bind(event_id)
            .fetch_one(&mut *tx)
            .await?;
    let msg = confirmed_message(&email, &name, &title, &reference, id, &tickets, links);
    notify::insert_message(&mut tx, &msg).await?;
    if let Some(sms) = confirmed_sms(&mut tx, user_id, &title, &reference, starts_at).await? {
        notify::insert_message(&mut tx, &sms).await?;
    }
    tx.commit().await?;
    Ok(ConfirmOutcome::Confirmed { event_id })
}

/// Cancels a booking that is still in `expected` state (a live PENDING hold, or CONFIRMED),
/// releasing its seats at once and recording `refund_due` for a paid confirmed one.
pub async fn cancel(
    pools: &Pools<Db>,
    id: Uuid,
    expected: &str,
    reason: Option<&str>,
    refund_due: Option<i64>,
    now: DateTime<Utc>,
) -> sqlx::Result<CancelOutcome> {
    let mut tx = pools.write.begin().await?;
    let row = sqlx::query(
        "UPDATE bookings SET status = 'CANCELLED', cancelled_at = $1, updated_at = $1, cancellation_reason = $2,
                refund_due = $3
         WHERE id = $4 AND status = $5 AND (status <> 'PENDING' OR expires_at > $1)
         RETURNING reference, event_id, ticket_type_id, quantity, customer_email, customer_name",
    )
    .bind(now)
    .bind(reason)
    .bind(refund_due)
    .bind(id)
    .bind(expected)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(CancelOutcome::Changed);
    };
    let reference: String = row.try_get(0)?;
    let event_id: Uuid = row.try_get(1)?;
    let type_id: Uuid = row.try_get(2)?;
    let quantity: i64 = row.try_get(3)?;
    let email: String = row.try_get(4)?;
    let name: String = row.try_get(5)?;
    let (held, sold) = if expected == "PENDING" {
        (quantity, 0)
    } else {
        (0, quantity)
    };
    release_counters(&mut tx, std::iter::once((type_id, event_id, held, sold))).await?;
    let title: String = sqlx::query_scalar("SELECT title FROM events WHERE id = $1")
        .bind(event_id)
        .fetch_one(&mut *tx)
        .await?;
    let msg = NewMessage::email(
        email,
        "booking_cancelled",
        json!({
            "customerName": name,
            "eventTitle": title,
            "reference": reference,
            "quantity": quantity,
            "reason": reason,
            "refundAmount": refund_due,
        }),
    );
    notify::insert_message(&mut tx, &msg).await?;
    tx.commit().await?;
    Ok(CancelOutcome::Cancelled { event_id })
}

/// One sweep: expires up to `limit` lapsed holds. Returns what was released.
pub async fn sweep_expired(
    pools: &Pools<Db>,
    limit: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Released>> {
    let mut tx = pools.write.begin().await?;
    let released = release_expired_tx(&mut tx, None, limit, now).await?;
    tx.commit().await?;
    Ok(released)
}

/// Inside the caller's transaction (the event's cancellation; call it BEFORE updating the event
/// row, to keep the lock order bookings → types → events): first expires the holds that have
/// already lapsed (they are EXPIRED, and their buyers get `booking_expired`, as at any other
/// moment), then cancels the live PENDING bookings, releasing their holds; marks CONFIRMED ones CANCELLED with `refund_due` = `total_amount` (a
/// full refund the payments work executes; 0 for free ones); releases the counters and writes an
/// `event_cancelled` message to every booker. Returns the number of bookings changed.
pub async fn cascade_event_cancel(
    tx: &mut Transaction<'static, Db>,
    event_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let expired = release_expired_event_tx(tx, event_id, now).await?;
    // `expires_at > now`: a lapsed hold the release above skipped (another transaction held its
    // row) is left to the expiry sweep.
    let pending: Vec<(Uuid, i64, String, String, i64)> = sqlx::query_as(
        "UPDATE bookings SET status = 'CANCELLED', cancelled_at = $1, updated_at = $1, cancellation_reason = $2
         WHERE event_id = $3 AND status = 'PENDING' AND expires_at > $1
         RETURNING ticket_type_id, quantity, customer_email, customer_name, CAST(0 AS BIGINT)",
    )
    .bind(now)
    .bind(reason)
    .bind(event_id)
    .fetch_all(&mut **tx)
    .await?;
    let confirmed: Vec<(Uuid, i64, String, String, i64)> = sqlx::query_as(
        "UPDATE bookings SET status = 'CANCELLED', cancelled_at = $1, updated_at = $1, cancellation_reason = $2,
                refund_due = total_amount
         WHERE event_id = $3 AND status = 'CONFIRMED'
         RETURNING ticket_type_id, quantity, customer_email, customer_name, total_amount",
    )
    .bind(now)
    .bind(reason)
    .bind(event_id)
    .fetch_all(&mut **tx)
    .await?;
    let items = pending
        .iter()
        .map(|p| (p.0, event_id, p.1, 0))
        .chain(confirmed.iter().map(|c| (c.0, event_id, 0, c.1)));
    release_counters(tx, items).await?;
    let title: String = sqlx::query_scalar("SELECT title FROM events WHERE id = $1")
        .bind(event_id)
        .fetch_one(&mut **tx)
        .await?;
    for (_, _, email, name, refund) in pending.iter().chain(confirmed.iter()) {
        let msg = NewMessage::email(
            email.clone(),
            "event_cancelled",
            json!({
                "customerName": name,
                "eventTitle": title,
                "reason": reason,
                "refundAmount": refund,
            }),
        );
        notify::insert_message(tx, &msg).await?;
    }
    Ok((expired + pending.len() + confirmed.len()) as u64)
}

/// Safety net run by the sweeper: cascades the cancellation of events that are CANCELLED but
/// still have PENDING or CONFIRMED bookings (a hold that raced the cancellation, or a cancel
/// path that did not cascade). Returns the events handled.
pub async fn cascade_stragglers(pools: &Pools<Db>, now: DateTime<Utc>) -> sqlx::Result<Vec<Uuid>> {
    let events: Vec<(Uuid, Option<String>)> = sqlx::query_as(
        "SELECT e.id, e.cancel_reason FROM events e
         WHERE e.status = 'CANCELLED'
           AND EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = e.id AND b.status IN ('PENDING', 'CONFIRMED'))
         LIMIT 20",
    )
    .fetch_all(&pools.read)
    .await?;
    let mut done = Vec::new();
    for (id, reason) in events {
        let mut tx = pools.write.begin().await?;
        let reason = reason.unwrap_or_else(|| "The event was cancelled".to_string());
        if cascade_event_cancel(&mut tx, id, &reason, now).await? > 0 {
            done.push(id);
        }
        tx.commit().await?;
    }
    Ok(done)
}

/// Cancels an event and cascades to its bookings in one transaction (tests and the events
/// area's cancel route).
pub async fn cancel_event_cascade(
    pools: &Pools<Db>,
    event_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let mut tx = pools.write.begin().await?;
    // Cascade first, then the event row: the lock order (bookings → types → events) of every
    // other path, so a concurrent hold on a capped event cannot deadlock with the cancellation.
    let n = cascade_event_cancel(&mut tx, event_id, reason, now).await?;
    sqlx::query(
        "UPDATE events SET status = 'CANCELLED', cancel_reason = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(reason)
    .bind(now)
    .bind(event_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Marks a ticket checked in, only if it was not and its booking is still CONFIRMED (a cancel
/// may land between the scanner's lookup and this update): `false` when it did not.
pub async fn check_in(
    pools: &Pools<Db>,
    ticket_id: Uuid,
    by: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "UPDATE tickets SET checked_in_at = $1, checked_in_by = $2
         WHERE id = $3 AND checked_in_at IS NULL
           AND EXISTS (SELECT 1 FROM bookings b WHERE b.id = tickets.booking_id AND b.status = 'CONFIRMED')",
    )
    .bind(now)
    .bind(by)
    .bind(ticket_id)
    .execute(&pools.write)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Counter check for tests and the property test: per type `(capacity, sold, held, sum of
/// PENDING quantities, sum of CONFIRMED quantities)`.
pub async fn type_counters(
    pools: &Pools<Db>,
    type_id: Uuid,
) -> sqlx::Result<(i64, i64, i64, i64, i64)> {
    let (capacity, sold, held): (i64, i64, i64) =
        sqlx::query_as("SELECT capacity, sold, held FROM ticket_types WHERE id = $1")
            .bind(type_id)
            .fetch_one(&pools.write)
            .await?;
    let (pending, confirmed): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'PENDING' THEN quantity ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN status = 'CONFIRMED' THEN quantity ELSE 0 END), 0) AS BIGINT)
         FROM bookings WHERE ticket_type_id = $1",
    )
    .bind(type_id)
    .fetch_one(&pools.write)
    .await?;
    Ok((capacity, sold, held, pending, confirmed))
}
