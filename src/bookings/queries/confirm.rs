//! Confirming bookings, one or many at once (the payments' settlement batch): seats held → sold,
//! tickets issued, confirmation messages written.

use sqlx::FromRow;

use super::*;

/// Inside the caller's transaction: confirms those of `ids` that are PENDING with their hold
/// still running (with `paid`, whose money has arrived, also one whose hold ran out but was not
/// swept yet: its seats are still counted as held), with a few statements for all of them: one
/// `UPDATE … RETURNING` of the bookings, one counter update per ticket type and per event
/// (ascending ids, the lock order of every path), and multi-row inserts of their tickets, guest
/// links and messages. Returns each confirmed booking with its event; the others (a hold swept
/// as EXPIRED, a booking cancelled or confirmed already) are left untouched for [`confirm_tx`],
/// which knows what each of them needs.
pub async fn confirm_many(
    tx: &mut Transaction<'static, Db>,
    ids: &[Uuid],
    now: DateTime<Utc>,
    links: &Links,
    paid: bool,
) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (at, paid_at) = if PG {
        (2, 3)
    } else {
        (ids.len() + 1, ids.len() + 2)
    };
    let sql = format!(
        "UPDATE bookings SET status = 'CONFIRMED', confirmed_at = ${at}, updated_at = ${at}
         WHERE id {} AND status = 'PENDING' AND (expires_at > ${at} OR ${paid_at})
         RETURNING {RELEASED_COLUMNS}, user_id, {OCCASION_COLUMNS}",
        id_list(ids.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if PG {
        q = q.bind(PgArray(ids.to_vec()));
    } else {
        for id in ids {
            q = q.bind(*id);
        }
    }
    let rows = q.bind(now).bind(paid).fetch_all(&mut **tx).await?;
    let mut confirmed = Vec::with_capacity(rows.len());
    for row in &rows {
        let user_id: Option<Uuid> = row.try_get("user_id")?;
        confirmed.push((Released::from_row(row)?, user_id, Occasion::from_row(row)?));
    }
    // Their seats were counted as held: they become sold.
    let mut types: BTreeMap<Uuid, i64> = BTreeMap::new();
    let mut events: BTreeMap<Uuid, i64> = BTreeMap::new();
    for (b, _, _) in &confirmed {
        *types.entry(b.ticket_type_id).or_default() += b.quantity;
        *events.entry(b.event_id).or_default() += b.quantity;
    }
    for (id, seats) in types {
        sqlx::query("UPDATE ticket_types SET held = held - $1, sold = sold + $1 WHERE id = $2")
            .bind(seats)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    for (id, seats) in events {
        sqlx::query(
            "UPDATE events SET held = CASE WHEN held >= $1 THEN held - $1 ELSE 0 END, sold = sold + $1
             WHERE id = $2 AND total_tickets IS NOT NULL",
        )
        .bind(seats)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    let out = confirmed
        .iter()
        .map(|(b, _, _)| (b.id, b.event_id))
        .collect();
    issue_and_announce(tx, confirmed, now, links).await?;
    Ok(out)
}

/// Issues the tickets of bookings just confirmed and writes their confirmation messages (a
/// guest's with a fresh guest link, an SMS where the account allows it), with multi-row inserts.
pub(super) async fn issue_and_announce(
    tx: &mut Transaction<'static, Db>,
    confirmed: Vec<(Released, Option<Uuid>, Occasion)>,
    now: DateTime<Utc>,
    links: &Links,
) -> sqlx::Result<()> {
    let seats: Vec<(Uuid, i64)> = confirmed
        .iter()
        .map(|(b, _, _)| (b.id, b.quantity))
        .collect();
    let tickets = issue_tickets_of_many(tx, &seats, now, links).await?;
    let guests: Vec<Uuid> = confirmed
        .iter()
        .filter(|(_, user_id, _)| user_id.is_none())
        .map(|(b, _, _)| b.id)
        .collect();
    let mut tokens = new_guest_links(tx, &guests, now).await?.into_iter();
    let mut messages = Vec::with_capacity(confirmed.len());
    for (b, user_id, occasion) in &confirmed {
        let own: Vec<TicketRow> = tickets
            .iter()
            .filter(|t| t.booking_id == b.id)
            .cloned()
            .collect();
        let mut msg = confirmed_message(
            &b.customer_email,
            &b.customer_name,
            &b.reference,
            b.id,
            &own,
            occasion,
            links,
        );
        if user_id.is_none()
            && let Some(token) = tokens.next()
        {
            msg.payload["guestToken"] = json!(token);
        }
        messages.push(msg);
        if let Some(sms) = confirmed_sms(tx, *user_id, &b.reference, occasion).await? {
            messages.push(sms);
        }
    }
    notify::insert_messages(tx, &messages).await
}

/// Fresh guest tokens for later emails about guest bookings, one per booking in order, stored
/// hashed with one statement.
pub(super) async fn new_guest_links(
    tx: &mut Transaction<'static, Db>,
    bookings: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<String>> {
    if bookings.is_empty() {
        return Ok(Vec::new());
    }
    let (tokens, hashes): (Vec<String>, Vec<String>) = bookings
        .iter()
        .map(|_| crate::bookings::codes::new_guest_token())
        .unzip();
    if PG {
        sqlx::query(
            "INSERT INTO guest_links (token_hash, booking_id, created_at)
             SELECT h, b, $3 FROM unnest(CAST($1 AS text[]), CAST($2 AS uuid[])) AS g(h, b)",
        )
        .bind(PgArray(hashes))
        .bind(PgArray(bookings.to_vec()))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    } else {
        let rows = vec!["(?, ?, ?)"; bookings.len()].join(", ");
        let sql =
            format!("INSERT INTO guest_links (token_hash, booking_id, created_at) VALUES {rows}");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (hash, booking) in hashes.iter().zip(bookings) {
            q = q.bind(hash).bind(*booking).bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(tokens)
}
