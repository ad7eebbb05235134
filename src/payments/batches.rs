//! Payment SQL for the payments engine's batches ([`crate::payments::engine`]): opening payments
//! and settling them, many in one transaction.
//!
//! Compiled once per dialect beside `queries.rs`, whose single-payment steps it falls back on.
//! Where SQLite and PostgreSQL differ it branches on `PG`: lists are one array parameter under
//! `unnest` on PostgreSQL (one statement shape whatever the batch size) and one parameter per
//! item on SQLite.

use super::queries::{PAYMENT_COLUMNS, Tx, record_deliveries, settle_tx};
use super::{Db, PG, bookings};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

use crate::bookings::Links;
use crate::payments::model::{
    Applied, Open, Opened, PaymentRow, PaymentStatus, Settle, Settled, Settlement,
};
use crate::store::Pools;

/// Opens PENDING payments for live PENDING bookings, at most one per booking (API.md §11.56), in
/// one transaction; answers in the order of `batch`, each as if opened alone in that order. An
/// existing payment of the booking through the same gateway is returned; one through another
/// gateway becomes ABANDONED. The first payment of a booking extends its hold by its
/// `extension`, once. Requests for distinct bookings are written together, a statement per step
/// for all of them; a booking named again in the batch waits for the next round.
pub async fn open_many(
    pools: &Pools<Db>,
    batch: &[Open],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Opened>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    for (i, o) in batch.iter().enumerate() {
        let round = seen.entry(o.new.booking_id).or_insert(0);
        if rounds.len() <= *round {
            rounds.push(Vec::new());
        }
        rounds[*round].push(i);
        *round += 1;
    }
    let mut tx = pools.write.begin().await?;
    let mut out: Vec<Option<Opened>> = batch.iter().map(|_| None).collect();
    for round in rounds {
        let items: Vec<&Open> = round.iter().map(|&i| &batch[i]).collect();
        for (i, opened) in round
            .into_iter()
            .zip(open_round(&mut tx, &items, now).await?)
        {
            out[i] = Some(opened);
        }
    }
    tx.commit().await?;
    Ok(out
        .into_iter()
        .map(|o| o.unwrap_or(Opened::NotPending))
        .collect())
}

/// [`open_many`] for requests of distinct bookings.
async fn open_round(tx: &mut Tx, items: &[&Open], now: DateTime<Utc>) -> sqlx::Result<Vec<Opened>> {
    let ids: Vec<Uuid> = items.iter().map(|o| o.new.booking_id).collect();
    let list = crate::store::id_list(PG, ids.len());
    // The booking rows first: concurrent opens of one booking queue here.
    let at = if PG { 2 } else { ids.len() + 1 };
    let sql = format!(
        "UPDATE bookings SET updated_at = ${at} WHERE id {list} AND status = 'PENDING' AND expires_at > ${at}
         RETURNING id, expires_at, hold_extended"
    );
    let live: HashMap<Uuid, (DateTime<Utc>, bool)> =
        bind_uuids(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &ids)
            .bind(now)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|(id, expires_at, extended): (Uuid, DateTime<Utc>, bool)| {
                (id, (expires_at, extended))
            })
            .collect();
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE booking_id {list} AND status = 'PENDING'"
    );
    let pending: HashMap<Uuid, PaymentRow> = bind_uuids(
        sqlx::query_as::<_, PaymentRow>(sqlx::AssertSqlSafe(sql)),
        &ids,
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|p| (p.booking_id, p))
    .collect();
    let mut abandon = Vec::new();
    let mut extend = Vec::new();
    let mut insert = Vec::new();
    let out: Vec<Opened> = items
        .iter()
        .map(|o| {
            let Some(&(expires_at, extended)) = live.get(&o.new.booking_id) else {
                return Opened::NotPending;
            };
            if let Some(p) = pending.get(&o.new.booking_id) {
                if p.gateway == o.new.gateway {
                    return Opened::Existing(p.clone());
                }
                abandon.push(p.id);
            }
            if !extended {
                extend.push((o.new.booking_id, expires_at + o.extension));
            }
            insert.push(&o.new);
            Opened::New(o.new.clone())
        })
        .collect();
    if !abandon.is_empty() {
        let at = if PG { 2 } else { abandon.len() + 1 };
        let sql = format!(
            "UPDATE payments SET status = 'ABANDONED', updated_at = ${at} WHERE id {} AND status = 'PENDING'",
            crate::store::id_list(PG, abandon.len())
        );
        bind_uuids(sqlx::query(sqlx::AssertSqlSafe(sql)), &abandon)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    extend_holds(tx, &extend).await?;
    insert_payments(tx, &insert, now).await?;
    Ok(out)
}

/// Binds the ids of a [`crate::store::id_list`].
fn bind_uuids<'q, Q: Bindable<'q>>(q: Q, ids: &[Uuid]) -> Q {
    if PG {
        q.bind_one(crate::store::PgArray(ids.to_vec()))
    } else {
        ids.iter().fold(q, |q, id| q.bind_one(*id))
    }
}

/// The statements [`bind_uuids`] binds to.
trait Bindable<'q>: Sized {
    fn bind_one<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Db> + sqlx::Type<Db>;
}

impl<'q> Bindable<'q> for sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments> {
    fn bind_one<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Db> + sqlx::Type<Db>,
    {
        self.bind(value)
    }
}

impl<'q, O> Bindable<'q> for sqlx::query::QueryAs<'q, Db, O, <Db as sqlx::Database>::Arguments> {
    fn bind_one<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Db> + sqlx::Type<Db>,
    {
        self.bind(value)
    }
}

/// Extends the holds of bookings (`(booking, new expiry)`) with one statement, marking each
/// extended so that it is never extended again.
async fn extend_holds(tx: &mut Tx, extend: &[(Uuid, DateTime<Utc>)]) -> sqlx::Result<()> {
    if extend.is_empty() {
        return Ok(());
    }
    if PG {
        sqlx::query(
            "UPDATE bookings SET expires_at = v.expires, hold_extended = TRUE
             FROM unnest(CAST($1 AS uuid[]), CAST($2 AS timestamptz[])) AS v(bid, expires)
             WHERE bookings.id = v.bid",
        )
        .bind(crate::store::PgArray(
            extend.iter().map(|e| e.0).collect::<Vec<_>>(),
        ))
        .bind(crate::store::PgArray(
            extend.iter().map(|e| e.1).collect::<Vec<_>>(),
        ))
        .execute(&mut **tx)
        .await?;
    } else {
        // `CASE` over the ids, not `UPDATE … FROM (VALUES …)`: SQLite planned the latter as a
        // scan of every booking probing the list (28 ms a batch with 400,000 bookings).
        let n = extend.len();
        let cases = (0..n)
            .map(|k| format!("WHEN ${} THEN ${}", 2 * k + 1, 2 * k + 2))
            .collect::<Vec<_>>()
            .join(" ");
        let ids = (0..n)
            .map(|k| format!("${}", 2 * k + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE bookings SET expires_at = CASE id {cases} END, hold_extended = TRUE WHERE id IN ({ids})"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, expires) in extend {
            q = q.bind(*id).bind(*expires);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Inserts new PENDING payments with one statement.
async fn insert_payments(tx: &mut Tx, new: &[&PaymentRow], now: DateTime<Utc>) -> sqlx::Result<()> {
    if new.is_empty() {
        return Ok(());
    }
    const COLUMNS: &str = "id, reference, booking_id, user_id, gateway, amount, currency, status, \
         refunded_amount, gateway_reference, authorization_url, callback_url, created_at, updated_at";
    if PG {
        let texts = |f: fn(&PaymentRow) -> Option<String>| {
            crate::store::PgArray(new.iter().map(|p| f(p)).collect::<Vec<_>>())
        };
        let sql = format!(
            "INSERT INTO payments ({COLUMNS})
             SELECT id, reference, booking_id, user_id, gateway, amount, currency, 'PENDING', 0,
                    gateway_reference, authorization_url, callback_url, $11, $11
             FROM unnest(CAST($1 AS uuid[]), CAST($2 AS text[]), CAST($3 AS uuid[]), CAST($4 AS uuid[]),
                         CAST($5 AS text[]), CAST($6 AS bigint[]), CAST($7 AS text[]), CAST($8 AS text[]),
                         CAST($9 AS text[]), CAST($10 AS text[]))
                  AS p(id, reference, booking_id, user_id, gateway, amount, currency, gateway_reference,
                       authorization_url, callback_url)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(crate::store::PgArray(
                new.iter().map(|p| p.id).collect::<Vec<_>>(),
            ))
            .bind(texts(|p| Some(p.reference.clone())))
            .bind(crate::store::PgArray(
                new.iter().map(|p| p.booking_id).collect::<Vec<_>>(),
            ))
            .bind(crate::store::PgArray(
                new.iter().map(|p| p.user_id).collect::<Vec<_>>(),
            ))
            .bind(texts(|p| Some(p.gateway.clone())))
            .bind(crate::store::PgArray(
                new.iter().map(|p| p.amount).collect::<Vec<_>>(),
            ))
            .bind(texts(|p| Some(p.currency.clone())))
            .bind(texts(|p| p.gateway_reference.clone()))
            .bind(texts(|p| p.authorization_url.clone()))
            .bind(texts(|p| p.callback_url.clone()))
            .bind(now)
            .execute(&mut **tx)
            .await?;
    } else {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, 'PENDING', 0, ?, ?, ?, ?, ?)"; new.len()].join(", ");
        let sql = format!("INSERT INTO payments ({COLUMNS}) VALUES {rows}");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in new {
            q = q
                .bind(p.id)
                .bind(&p.reference)
                .bind(p.booking_id)
                .bind(p.user_id)
                .bind(&p.gateway)
                .bind(p.amount)
                .bind(&p.currency)
                .bind(&p.gateway_reference)
                .bind(&p.authorization_url)
                .bind(&p.callback_url)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Settles a batch of payments in one transaction, each as [`settle`] would have alone, in
/// order; answers are in the order of `batch`. The common case, a matching success of an open
/// payment whose booking is still PENDING, takes a few statements for the whole batch: the payments
/// locked by one `SELECT` (in id order on PostgreSQL), their bookings confirmed together
/// ([`bookings::confirm_many`]), the payments marked paid by one `UPDATE … RETURNING`, and the
/// webhook deliveries recorded by one `INSERT`. Everything else (a failure, a mismatch, a
/// payment settled already or named twice in the batch, a hold swept as EXPIRED, a booking that
/// cannot be confirmed) goes through [`settle`]'s own steps afterwards, in the same transaction.
pub async fn settle_many(
    pools: &Pools<Db>,
    batch: &[Settle],
    links: &Links,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Option<Settled>>> {
    let mut tx = pools.write.begin().await?;
    let payments = locked_by_references(&mut tx, batch).await?;
    // The common case, each payment at most once.
    let mut named = std::collections::HashSet::new();
    let common: Vec<(usize, &PaymentRow)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let p = payments.get(&s.reference)?;
            let open = matches!(
                p.status,
                PaymentStatus::Pending | PaymentStatus::Failed | PaymentStatus::Abandoned
            );
            let matching = matches!(&s.settlement, Settlement::Paid { amount, currency, .. }
                if *amount == p.amount && currency.eq_ignore_ascii_case(&p.currency));
            let ours = s.delivery().is_none_or(|d| d.gateway == p.gateway);
            (open && matching && ours && named.insert(s.reference.as_str())).then_some((i, p))
        })
        .collect();
    let booking_ids: Vec<Uuid> = common.iter().map(|(_, p)| p.booking_id).collect();
    let confirmed: HashMap<Uuid, Uuid> =
        bookings::confirm_many(&mut tx, &booking_ids, now, links, true)
            .await?
            .into_iter()
            .collect();
    let paid: Vec<(usize, &PaymentRow, Uuid)> = common
        .into_iter()
        .filter_map(|(i, p)| confirmed.get(&p.booking_id).map(|event| (i, p, *event)))
        .collect();
    let mut after = mark_paid(&mut tx, batch, &paid, now).await?;
    let mut out: Vec<Option<Settled>> = vec![None; batch.len()];
    let mut deliveries = Vec::new();
    for (i, p, event_id) in &paid {
        let row = after.remove(&p.id).ok_or(sqlx::Error::RowNotFound)?;
        out[*i] = Some((
            Applied::Confirmed {
                event_id: *event_id,
            },
            row,
            None,
        ));
        deliveries.extend(batch[*i].delivery().map(|d| (d, p.reference.as_str())));
    }
    record_deliveries(&mut tx, &deliveries, now).await?;
    for (i, s) in batch.iter().enumerate() {
        if out[i].is_none() {
            out[i] = settle_tx(
                &mut tx,
                &s.reference,
                &s.settlement,
                s.delivery().as_ref(),
                links,
                now,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// The payments a batch names, by reference, locked for the rest of the transaction in id order
/// on PostgreSQL.
async fn locked_by_references(
    tx: &mut Tx,
    batch: &[Settle],
) -> sqlx::Result<HashMap<String, PaymentRow>> {
    let references: Vec<String> = batch.iter().map(|s| s.reference.clone()).collect();
    let sql = if PG {
        format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE reference IN (SELECT unnest(CAST($1 AS text[])))
             ORDER BY id FOR UPDATE"
        )
    } else {
        let list = vec!["?"; references.len()].join(", ");
        format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE reference IN ({list})")
    };
    let mut q = sqlx::query_as::<_, PaymentRow>(sqlx::AssertSqlSafe(sql));
    if PG {
        q = q.bind(crate::store::PgArray(references));
    } else {
        for r in references {
            q = q.bind(r);
        }
    }
    Ok(q.fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|p| (p.reference.clone(), p))
        .collect())
}

/// Marks paid, with one statement, the payments whose bookings a batch confirmed, each with the
/// gateway's id of its transaction; returns them as they are after, by id.
async fn mark_paid(
    tx: &mut Tx,
    batch: &[Settle],
    paid: &[(usize, &PaymentRow, Uuid)],
    now: DateTime<Utc>,
) -> sqlx::Result<HashMap<Uuid, PaymentRow>> {
    if paid.is_empty() {
        return Ok(Default::default());
    }
    let gateway_reference = |i: usize| match &batch[i].settlement {
        Settlement::Paid {
            gateway_reference, ..
        } => gateway_reference.clone(),
        _ => None,
    };
    let sql = if PG {
        format!(
            "UPDATE payments SET status = 'SUCCESS', paid_at = $1, updated_at = $1, failure_reason = NULL,
                 gateway_reference = COALESCE(v.gref, payments.gateway_reference)
             FROM unnest(CAST($2 AS uuid[]), CAST($3 AS text[])) AS v(pid, gref)
             WHERE payments.id = v.pid RETURNING {PAYMENT_COLUMNS}"
        )
    } else {
        // `CASE` over the ids, not `UPDATE … FROM (VALUES …)`, which SQLite plans as a scan of
        // the whole table probing the list.
        let cases = (0..paid.len())
            .map(|k| format!("WHEN ${} THEN ${}", 2 + 2 * k, 3 + 2 * k))
            .collect::<Vec<_>>()
            .join(" ");
        let ids = (0..paid.len())
            .map(|k| format!("${}", 2 + 2 * k))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "UPDATE payments SET status = 'SUCCESS', paid_at = $1, updated_at = $1, failure_reason = NULL,
                 gateway_reference = COALESCE(CASE id {cases} END, gateway_reference)
             WHERE id IN ({ids}) RETURNING {PAYMENT_COLUMNS}"
        )
    };
    let mut q = sqlx::query_as::<_, PaymentRow>(sqlx::AssertSqlSafe(sql)).bind(now);
    if PG {
        q = q
            .bind(crate::store::PgArray(
                paid.iter().map(|(_, p, _)| p.id).collect::<Vec<_>>(),
            ))
            .bind(crate::store::PgArray(
                paid.iter()
                    .map(|(i, _, _)| gateway_reference(*i))
                    .collect::<Vec<_>>(),
            ));
    } else {
        for (i, p, _) in paid {
            q = q.bind(p.id).bind(gateway_reference(*i));
        }
    }
    Ok(q.fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect())
}
