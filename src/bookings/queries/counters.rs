//! Availability as the hold path sees it: event and type facts, live counts net of lapsed holds, and the release of lapsed holds.

use super::*;

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
pub(super) async fn expired_unswept(
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

pub(super) async fn live_available_on(
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
pub(super) async fn release_expired_types_tx(
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
pub(super) async fn finish_release(
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
                "eventId": r.event_id,
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
pub(super) async fn release_counters(
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
pub(super) async fn take_seats(
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
pub(super) async fn release_expired_event_tx(
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
