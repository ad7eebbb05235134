//! Payment SQL.
//!
//! Written once against the backend alias `Db` and compiled once per dialect (the `sqlite` and
//! `postgres` modules of the area); where the dialects differ it branches on `PG`. A payment and
//! its booking move in one transaction, locked in that order (payment, then booking, then the
//! booking's counters as the bookings area does).

use super::{Db, PG, bookings, notify};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Transaction;
use uuid::Uuid;

use crate::bookings::{ConfirmOutcome, Links};
use crate::payments::model::{
    Applied, Delivery, NewRefund, PaymentRow, PaymentStatus, RefundRow, Settled, Settlement,
};
use crate::store::Pools;

pub(super) const PAYMENT_COLUMNS: &str = "id, reference, booking_id, user_id, gateway, amount, currency, status, \
     refunded_amount, gateway_reference, authorization_url, callback_url, paid_at, failure_reason, created_at, updated_at";

pub(super) type Tx = Transaction<'static, Db>;

/// A payment by reference, locked for the rest of the transaction on PostgreSQL (SQLite's single
/// writer serializes the transaction anyway).
async fn locked_by_reference(tx: &mut Tx, reference: &str) -> sqlx::Result<Option<PaymentRow>> {
    let lock = if PG { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE reference = $1{lock}");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(reference)
        .fetch_optional(&mut **tx)
        .await
}

/// A payment by id.
pub async fn payment_by_id(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<Option<PaymentRow>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&pools.read)
        .await
}

/// A payment by reference.
pub async fn payment_by_reference(
    pools: &Pools<Db>,
    reference: &str,
) -> sqlx::Result<Option<PaymentRow>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE reference = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(reference)
        .fetch_optional(&pools.read)
        .await
}

/// A payment by reference with the title of its booking's event, in one read (the test
/// gateway's checkout page).
pub async fn payment_with_title(
    pools: &Pools<Db>,
    reference: &str,
) -> sqlx::Result<Option<(PaymentRow, String)>> {
    use sqlx::{FromRow, Row};
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS}, (SELECT e.title FROM bookings b JOIN events e ON e.id = b.event_id
                                    WHERE b.id = payments.booking_id) AS event_title
         FROM payments WHERE reference = $1"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reference)
        .fetch_optional(&pools.read)
        .await?
    else {
        return Ok(None);
    };
    let title: Option<String> = row.try_get("event_title")?;
    Ok(Some((
        PaymentRow::from_row(&row)?,
        title.unwrap_or_default(),
    )))
}

/// A user's payments, newest first, and their total.
pub async fn payments_of_user(
    pools: &Pools<Db>,
    user_id: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<PaymentRow>, i64)> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE user_id = $1
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&pools.read)
        .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&pools.read)
        .await?;
    Ok((rows, total))
}

/// The ids of a booking's payments, oldest first.
pub async fn payment_ids_of_booking(
    pools: &Pools<Db>,
    booking_id: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT id FROM payments WHERE booking_id = $1 ORDER BY created_at, id")
        .bind(booking_id)
        .fetch_all(&pools.read)
        .await
}

/// Records where the buyer pays and the gateway's id, once the gateway started the checkout.
pub async fn set_checkout(
    pools: &Pools<Db>,
    id: Uuid,
    authorization_url: &str,
    gateway_reference: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payments SET authorization_url = $1, gateway_reference = COALESCE($2, gateway_reference) WHERE id = $3",
    )
    .bind(authorization_url)
    .bind(gateway_reference)
    .bind(id)
    .execute(&pools.write)
    .await?;
    Ok(())
}

/// Gives up a payment whose checkout the gateway would not start.
pub async fn fail_payment(
    pools: &Pools<Db>,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payments SET status = 'FAILED', failure_reason = $1, updated_at = $2 WHERE id = $3 AND status = 'PENDING'",
    )
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(&pools.write)
    .await?;
    Ok(())
}

/// Records a webhook delivery by the gateway's event identity (a repeat changes nothing).
async fn record_delivery(
    tx: &mut Tx,
    d: &Delivery<'_>,
    reference: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    record_deliveries(tx, &[(*d, reference)], now).await
}

/// Applies what a gateway says of a payment, in one transaction with its booking (API.md §5):
/// a success whose amount and currency match marks the payment SUCCESS and confirms the booking
/// (even after its hold ran out, if its seats can still be had); a success that cannot confirm
/// its booking opens a full refund (returned for the caller to execute); a failure marks a
/// PENDING payment FAILED. A payment already settled is left as it is, so a webhook racing the
/// buyer's verify applies once. A webhook's `delivery` is recorded in the same transaction; a
/// delivery from another gateway than the payment's applies nothing (`None`).
pub async fn settle(
    pools: &Pools<Db>,
    reference: &str,
    settlement: &Settlement,
    delivery: Option<&Delivery<'_>>,
    links: &Links,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Settled>> {
    let mut tx = pools.write.begin().await?;
    let settled = settle_tx(&mut tx, reference, settlement, delivery, links, now).await?;
    tx.commit().await?;
    Ok(settled)
}

/// [`settle`] inside the caller's transaction (which writes nothing when it answers `None`).
pub(super) async fn settle_tx(
    tx: &mut Tx,
    reference: &str,
    settlement: &Settlement,
    delivery: Option<&Delivery<'_>>,
    links: &Links,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Settled>> {
    let Some(payment) = locked_by_reference(tx, reference).await? else {
        return Ok(None);
    };
    if delivery.is_some_and(|d| d.gateway != payment.gateway) {
        return Ok(None);
    }
    let open = matches!(
        payment.status,
        PaymentStatus::Pending | PaymentStatus::Failed | PaymentStatus::Abandoned
    );
    // Each branch that changes the payment reads it back with `RETURNING`.
    let returning = format!("RETURNING {PAYMENT_COLUMNS}");
    let (applied, after, refund) = match settlement {
        Settlement::Pending => (Applied::Pending, payment, None),
        _ if !open => (Applied::Unchanged, payment, None),
        Settlement::Failed { reason } => {
            if payment.status == PaymentStatus::Pending {
                let sql = format!(
                    "UPDATE payments SET status = 'FAILED', failure_reason = $1, updated_at = $2 WHERE id = $3 {returning}"
                );
                let after: PaymentRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(reason)
                    .bind(now)
                    .bind(payment.id)
                    .fetch_one(&mut **tx)
                    .await?;
                (Applied::Failed, after, None)
            } else {
                (Applied::Unchanged, payment, None)
            }
        }
        Settlement::Paid {
            amount,
            currency,
            gateway_reference,
        } => {
            if *amount != payment.amount || !currency.eq_ignore_ascii_case(&payment.currency) {
                let sql = format!(
                    "UPDATE payments SET failure_reason = $1, updated_at = $2 WHERE id = $3 {returning}"
                );
                let after: PaymentRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(format!(
                        "The gateway reported {amount} {currency}, not {} {}",
                        payment.amount, payment.currency
                    ))
                    .bind(now)
                    .bind(payment.id)
                    .fetch_one(&mut **tx)
                    .await?;
                (Applied::Mismatch, after, None)
            } else {
                let sql = format!(
                    "UPDATE payments SET status = 'SUCCESS', paid_at = $1, updated_at = $1, failure_reason = NULL,
                         gateway_reference = COALESCE($2, gateway_reference)
                     WHERE id = $3 {returning}"
                );
                let after: PaymentRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(gateway_reference)
                    .bind(payment.id)
                    .fetch_one(&mut **tx)
                    .await?;
                // A booking another payment paid meanwhile is CONFIRMED (or was, and is now
                // cancelled or refunded): `confirm_tx` confirms only a PENDING or EXPIRED booking,
                // so it is never confirmed twice and this payment's money goes back.
                match bookings::confirm_tx(tx, payment.booking_id, now, links, true).await? {
                    ConfirmOutcome::Confirmed { event_id } => {
                        (Applied::Confirmed { event_id }, after, None)
                    }
                    ConfirmOutcome::NotPending => {
                        let refund = insert_refund(
                            tx,
                            &NewRefund {
                                id: Uuid::now_v7(),
                                payment_id: payment.id,
                                amount: payment.amount,
                                reason: Some("The booking could not be confirmed".into()),
                                requested_by: None,
                            },
                            now,
                        )
                        .await?;
                        (Applied::RefundDue, after, Some(refund))
                    }
                }
            }
        }
    };
    if let Some(d) = delivery {
        record_delivery(tx, d, reference, now).await?;
    }
    Ok(Some((applied, after, refund)))
}

/// Records webhook deliveries (`(delivery, payment reference)`) with one statement; a repeat
/// changes nothing.
pub(super) async fn record_deliveries(
    tx: &mut Tx,
    deliveries: &[(Delivery<'_>, &str)],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    if PG {
        let column = |f: fn(&(Delivery<'_>, &str)) -> String| {
            crate::store::PgArray(deliveries.iter().map(f).collect::<Vec<_>>())
        };
        sqlx::query(
            "INSERT INTO webhook_events (gateway, event_id, reference, received_at)
             SELECT g, e, r, $4 FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS text[])) AS d(g, e, r)
             ON CONFLICT (gateway, event_id) DO NOTHING",
        )
        .bind(column(|(d, _)| d.gateway.to_string()))
        .bind(column(|(d, _)| d.event_id.to_string()))
        .bind(column(|(_, r)| r.to_string()))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    } else {
        let rows = vec!["(?, ?, ?, ?)"; deliveries.len()].join(", ");
        let sql = format!(
            "INSERT INTO webhook_events (gateway, event_id, reference, received_at) VALUES {rows}
             ON CONFLICT (gateway, event_id) DO NOTHING"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (d, reference) in deliveries {
            q = q
                .bind(d.gateway)
                .bind(d.event_id)
                .bind(*reference)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_refund(tx: &mut Tx, r: &NewRefund, now: DateTime<Utc>) -> sqlx::Result<RefundRow> {
    sqlx::query(
        "INSERT INTO refunds (id, payment_id, amount, status, reason, requested_by, created_at, updated_at)
         VALUES ($1, $2, $3, 'PENDING', $4, $5, $6, $6)",
    )
    .bind(r.id)
    .bind(r.payment_id)
    .bind(r.amount)
    .bind(&r.reason)
    .bind(r.requested_by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(RefundRow {
        id: r.id,
        payment_id: r.payment_id,
        amount: r.amount,
        status: "PENDING".into(),
        reason: r.reason.clone(),
        gateway_reference: None,
        created_at: now,
    })
}

/// Opens a refund of a paid payment if, with the refunds not failed, it stays within the amount
/// paid; `None` when it would not.
pub async fn open_refund(
    pools: &Pools<Db>,
    r: &NewRefund,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<RefundRow>> {
    let mut tx = pools.write.begin().await?;
    let lock = if PG { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT amount FROM payments WHERE id = $1 AND status IN ('SUCCESS', 'PARTIALLY_REFUNDED'){lock}"
    );
    let Some(paid): Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(r.payment_id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        tx.rollback().await?;
        return Ok(None);
    };
    let asked: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds WHERE payment_id = $1 AND status <> 'FAILED'",
    )
    .bind(r.payment_id)
    .fetch_one(&mut *tx)
    .await?;
    if asked + r.amount > paid {
        tx.rollback().await?;
        return Ok(None);
    }
    let row = insert_refund(&mut tx, r, now).await?;
    tx.commit().await?;
    Ok(Some(row))
}

/// Records that the gateway accepted a refund (its id), so it is never asked again.
pub async fn mark_refund_accepted(
    pools: &Pools<Db>,
    refund_id: Uuid,
    gateway_reference: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE refunds SET gateway_reference = $1 WHERE id = $2 AND status = 'PENDING'")
        .bind(gateway_reference)
        .bind(refund_id)
        .execute(&pools.write)
        .await?;
    Ok(())
}

/// What is left to refund of a payment: paid minus the refunds not failed.
pub async fn refundable(pools: &Pools<Db>, payment_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT p.amount - CAST(COALESCE((SELECT SUM(r.amount) FROM refunds r
                WHERE r.payment_id = p.id AND r.status <> 'FAILED'), 0) AS BIGINT)
         FROM payments p WHERE p.id = $1",
    )
    .bind(payment_id)
    .fetch_one(&pools.write)
    .await
}

/// Records what became of a refund: SUCCESS adds it to the payment's refunded amount (REFUNDED
/// when all of it went back, else PARTIALLY_REFUNDED) and, when all went back, moves a booking
/// that is not CONFIRMED (cancelled, expired, or never confirmed) to REFUNDED and records its
/// refund amount; FAILED frees the amount for another try.
pub async fn finish_refund(
    pools: &Pools<Db>,
    refund_id: Uuid,
    success: bool,
    gateway_reference: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<PaymentRow>> {
    let mut tx = pools.write.begin().await?;
    let done: Option<(Uuid, i64)> = sqlx::query_as(
        "UPDATE refunds SET status = $1, gateway_reference = COALESCE($2, gateway_reference), updated_at = $3
         WHERE id = $4 AND status = 'PENDING' RETURNING payment_id, amount",
    )
    .bind(if success { "SUCCESS" } else { "FAILED" })
    .bind(gateway_reference)
    .bind(now)
    .bind(refund_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((payment_id, amount)) = done else {
        tx.rollback().await?;
        return Ok(None);
    };
    if success {
        sqlx::query(
            "UPDATE payments SET refunded_amount = refunded_amount + $1,
                 status = CASE WHEN refunded_amount + $1 >= amount THEN 'REFUNDED' ELSE 'PARTIALLY_REFUNDED' END,
                 updated_at = $2
             WHERE id = $3",
        )
        .bind(amount)
        .bind(now)
        .bind(payment_id)
        .execute(&mut *tx)
        .await?;
        // The booking records what went back, and is REFUNDED once it is not CONFIRMED and has
        // all it is owed: what its cancellation promised, or the whole payment.
        sqlx::query(
            "UPDATE bookings SET refund_amount = COALESCE(refund_amount, 0) + $1, updated_at = $2,
                 status = CASE
                     WHEN status IN ('CANCELLED', 'EXPIRED', 'PENDING')
                          AND ((SELECT status FROM payments WHERE id = $3) = 'REFUNDED'
                               OR (refund_due IS NOT NULL AND COALESCE(refund_amount, 0) + $1 >= refund_due))
                     THEN 'REFUNDED' ELSE status END
             WHERE id = (SELECT booking_id FROM payments WHERE id = $3)",
        )
        .bind(amount)
        .bind(now)
        .bind(payment_id)
        .execute(&mut *tx)
        .await?;
        // A guest's address was never verified: no caller-chosen name in it (API.md §11.93).
        let (booking_id, user_id, email, name, reference, currency): (
            Uuid,
            Option<Uuid>,
            String,
            String,
            String,
            String,
        ) = sqlx::query_as(
            "SELECT b.id, b.user_id, b.customer_email,
                    CASE WHEN b.user_id IS NULL THEN '' ELSE b.customer_name END, b.reference, p.currency
             FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE p.id = $1",
        )
        .bind(payment_id)
        .fetch_one(&mut *tx)
        .await?;
        let mut payload = json!({
            "customerName": name,
            "reference": reference,
            "amount": amount,
            "currency": currency,
            "bookingId": booking_id,
        });
        if user_id.is_none() {
            payload["guestToken"] =
                json!(bookings::new_guest_link(&mut tx, booking_id, now).await?);
        }
        let msg = crate::notify::NewMessage::email(email, "refund_processed", payload);
        notify::insert_message(&mut tx, &msg).await?;
    }
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
    let after: PaymentRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(payment_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(after))
}

/// Confirms a PENDING booking paid offline (cash, transfer) and records the payment, in one
/// transaction (API.md §11.79): gateway `offline`, SUCCESS, the booking's total.
pub async fn confirm_offline(
    pools: &Pools<Db>,
    booking_id: Uuid,
    recorded_by: Uuid,
    links: &Links,
    now: DateTime<Utc>,
) -> sqlx::Result<ConfirmOutcome> {
    let mut tx = pools.write.begin().await?;
    let outcome = bookings::confirm_tx(&mut tx, booking_id, now, links, false).await?;
    if !matches!(outcome, ConfirmOutcome::Confirmed { .. }) {
        tx.rollback().await?;
        return Ok(outcome);
    }
    // Any checkout still open for it is moot now.
    sqlx::query(
        "UPDATE payments SET status = 'ABANDONED', updated_at = $1 WHERE booking_id = $2 AND status = 'PENDING'",
    )
    .bind(now)
    .bind(booking_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO payments (id, reference, booking_id, user_id, gateway, amount, currency, status,
             refunded_amount, gateway_reference, paid_at, created_at, updated_at)
         SELECT $1, $2, id, user_id, 'offline', total_amount, currency, 'SUCCESS', 0, $3, $4, $4, $4
         FROM bookings WHERE id = $5",
    )
    .bind(Uuid::now_v7())
    .bind(crate::payments::model::new_reference())
    .bind(format!("recorded-by:{recorded_by}"))
    .bind(now)
    .bind(booking_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Refunds opened but not settled (a gateway outage, a crash between the two steps), oldest
/// first, for the reconciliation job.
pub async fn pending_refunds(
    pools: &Pools<Db>,
    older_than: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<RefundRow>> {
    sqlx::query_as(
        "SELECT id, payment_id, amount, status, reason, gateway_reference, created_at FROM refunds
         WHERE status = 'PENDING' AND created_at < $1 ORDER BY created_at LIMIT $2",
    )
    .bind(older_than)
    .bind(limit)
    .fetch_all(&pools.write)
    .await
}

/// The PENDING refunds of a booking's payments.
pub async fn pending_refunds_of_booking(
    pools: &Pools<Db>,
    booking_id: Uuid,
) -> sqlx::Result<Vec<RefundRow>> {
    sqlx::query_as(
        "SELECT r.id, r.payment_id, r.amount, r.status, r.reason, r.gateway_reference, r.created_at
         FROM refunds r JOIN payments p ON p.id = r.payment_id
         WHERE p.booking_id = $1 AND r.status = 'PENDING' ORDER BY r.created_at",
    )
    .bind(booking_id)
    .fetch_all(&pools.write)
    .await
}

/// The bookings of an event with a refund PENDING.
pub async fn bookings_owed_refunds(pools: &Pools<Db>, event_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT DISTINCT p.booking_id FROM refunds r JOIN payments p ON p.id = r.payment_id
         JOIN bookings b ON b.id = p.booking_id
         WHERE b.event_id = $1 AND r.status = 'PENDING'",
    )
    .bind(event_id)
    .fetch_all(&pools.write)
    .await
}

/// Payments PENDING since before `older_than`, oldest first, for the reconciliation job.
pub async fn stale_pending(
    pools: &Pools<Db>,
    older_than: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<PaymentRow>> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE status = 'PENDING' AND created_at < $1
         ORDER BY created_at LIMIT $2"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(older_than)
        .bind(limit)
        .fetch_all(&pools.write)
        .await
}
