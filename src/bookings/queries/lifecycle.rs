//! The booking lifecycle after a hold: confirm, cancel, expiry sweep, the event-cancel cascade and check-in.

use super::*;

/// PENDING → CONFIRMED with one ticket per seat, if the hold is still alive.
pub async fn confirm(
    pools: &Pools<Db>,
    id: Uuid,
    now: DateTime<Utc>,
    links: &Links,
) -> sqlx::Result<ConfirmOutcome> {
    let mut tx = pools.write.begin().await?;
    let outcome = confirm_tx(&mut tx, id, now, links, false).await?;
    match outcome {
        ConfirmOutcome::Confirmed { .. } => tx.commit().await?,
        ConfirmOutcome::NotPending => tx.rollback().await?,
    }
    Ok(outcome)
}

/// Inside the caller's transaction: confirms the booking and issues its tickets. Without `paid`,
/// only a live PENDING hold is confirmed. With `paid` (its money has arrived, API.md §5), also a
/// hold that ran out: while its row is still PENDING its seats are still counted as held and
/// become sold; once it is EXPIRED the seats are taken again only if they are still free
/// (conditional updates, the event cap included). Anything else is not confirmed.
pub async fn confirm_tx(
    tx: &mut Transaction<'static, Db>,
    id: Uuid,
    now: DateTime<Utc>,
    links: &Links,
    paid: bool,
) -> sqlx::Result<ConfirmOutcome> {
    if let Some(&(_, event_id)) = confirm_many(tx, &[id], now, links, paid).await?.first() {
        return Ok(ConfirmOutcome::Confirmed { event_id });
    }
    if !paid {
        return Ok(ConfirmOutcome::NotPending);
    }
    let Some((row, b)) = retake_expired(tx, id, now).await? else {
        return Ok(ConfirmOutcome::NotPending);
    };
    let user_id: Option<Uuid> = row.try_get("user_id")?;
    let occasion = Occasion::from_row(&row)?;
    let event_id = b.event_id;
    issue_and_announce(tx, vec![(b, user_id, occasion)], now, links).await?;
    Ok(ConfirmOutcome::Confirmed { event_id })
}

/// A paid booking released by expiry: its seats are taken again if nobody took them meanwhile
/// (types before events, as every path locks them), and only then is it CONFIRMED, so that a
/// confirmation time, once set, is never taken back (the dashboard's counters count on it).
async fn retake_expired(
    tx: &mut Transaction<'static, Db>,
    id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<(<Db as sqlx::Database>::Row, Released)>> {
    let lock = if PG { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT {RELEASED_COLUMNS} FROM bookings WHERE id = $1 AND status = 'EXPIRED'{lock}"
    );
    let Some(b): Option<Released> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let typed = sqlx::query(
        "UPDATE ticket_types SET sold = sold + $1 WHERE id = $2 AND sold + held + $1 <= capacity",
    )
    .bind(b.quantity)
    .bind(b.ticket_type_id)
    .execute(&mut **tx)
    .await?;
    if typed.rows_affected() == 0 {
        return Ok(None);
    }
    let capped = sqlx::query(
        "UPDATE events SET sold = sold + $1
         WHERE id = $2 AND (total_tickets IS NULL OR sold + held + $1 <= total_tickets)",
    )
    .bind(b.quantity)
    .bind(b.event_id)
    .execute(&mut **tx)
    .await?;
    if capped.rows_affected() == 0 {
        // Gone: the caller's transaction must not keep the half-made change.
        sqlx::query("UPDATE ticket_types SET sold = sold - $1 WHERE id = $2")
            .bind(b.quantity)
            .bind(b.ticket_type_id)
            .execute(&mut **tx)
            .await?;
        return Ok(None);
    }
    let sql = format!(
        "UPDATE bookings SET status = 'CONFIRMED', confirmed_at = $1, updated_at = $1
         WHERE id = $2 AND status = 'EXPIRED'
         RETURNING {RELEASED_COLUMNS}, user_id, {OCCASION_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(Some((row, b)))
}

/// Cancels a booking that is still in `expected` state (a live PENDING hold, or CONFIRMED),
/// releasing its seats at once and recording `refund_due` for a paid confirmed one.
pub async fn cancel(
    pools: &Pools<Db>,
    id: Uuid,
    expected: BookingStatus,
    reason: Option<&str>,
    refund_due: Option<i64>,
    now: DateTime<Utc>,
) -> sqlx::Result<CancelOutcome> {
    let mut tx = pools.write.begin().await?;
    let sql = format!(
        "UPDATE bookings SET status = 'CANCELLED', cancelled_at = $1, updated_at = $1, cancellation_reason = $2,
                refund_due = $3
         WHERE id = $4 AND status = $5 AND (status <> 'PENDING' OR expires_at > $1)
         RETURNING {RELEASED_COLUMNS}"
    );
    let b: Option<Released> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(reason)
        .bind(refund_due)
        .bind(id)
        .bind(expected.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let Some(b) = b else {
        tx.rollback().await?;
        return Ok(CancelOutcome::Changed);
    };
    let (held, sold) = if expected == BookingStatus::Pending {
        (b.quantity, 0)
    } else {
        (0, b.quantity)
    };
    release_counters(
        &mut tx,
        std::iter::once((b.ticket_type_id, b.event_id, held, sold)),
    )
    .await?;
    if refund_due.is_some_and(|r| r > 0) {
        open_cancellation_refunds(&mut tx, "b.id", id, now).await?;
    }
    let title: String = sqlx::query_scalar("SELECT title FROM events WHERE id = $1")
        .bind(b.event_id)
        .fetch_one(&mut *tx)
        .await?;
    let user_id: Option<Uuid> = sqlx::query_scalar("SELECT user_id FROM bookings WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let mut payload = json!({
        "customerName": b.customer_name,
        "eventTitle": title,
        "reference": b.reference,
        "bookingId": id,
        "quantity": b.quantity,
        "reason": reason,
        "refundAmount": refund_due,
    });
    if user_id.is_none() {
        // The guest follows the refund on the booking page (API.md §11.58).
        payload["guestToken"] = json!(new_guest_link(&mut tx, id, now).await?);
    }
    let msg = NewMessage::email(b.customer_email, "booking_cancelled", payload);
    notify::insert_message(&mut tx, &msg).await?;
    tx.commit().await?;
    Ok(CancelOutcome::Cancelled {
        event_id: b.event_id,
    })
}

/// Opens, in the cancellation's transaction, the refund each cancelled paid booking is owed
/// (`refund_due`, at most what is left of its payment), so no crash between the two loses it; the
/// payments area executes them (at once, and its reconciliation job retries). Cash or transfers
/// taken offline are left to staff, who record the money they hand back. `column` is `b.id`
/// (one booking) or `b.event_id` (an event's cascade).
async fn open_cancellation_refunds(
    tx: &mut Transaction<'static, Db>,
    column: &'static str,
    id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let new_id = if PG {
        "gen_random_uuid()"
    } else {
        "randomblob(16)"
    };
    let sql = format!(
        "INSERT INTO refunds (id, payment_id, amount, status, reason, created_at, updated_at)
         SELECT {new_id}, p.id,
                CASE WHEN b.refund_due < p.amount - p.refunded_amount THEN b.refund_due
                     ELSE p.amount - p.refunded_amount END,
                'PENDING', 'Booking cancelled', $1, $1
         FROM bookings b JOIN payments p ON p.booking_id = b.id
         WHERE {column} = $2 AND b.status = 'CANCELLED' AND b.refund_due > 0
           AND p.status IN ('SUCCESS', 'PARTIALLY_REFUNDED') AND p.amount > p.refunded_amount
           AND p.gateway <> 'offline'
           AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.status = 'PENDING')"
    );
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected())
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
         RETURNING ticket_type_id, quantity, customer_email, CASE WHEN user_id IS NULL THEN '' ELSE customer_name END, CAST(0 AS BIGINT)",
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
         RETURNING ticket_type_id, quantity, customer_email, CASE WHEN user_id IS NULL THEN '' ELSE customer_name END, total_amount",
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
    open_cancellation_refunds(tx, "b.event_id", event_id, now).await?;
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
