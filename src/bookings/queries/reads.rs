//! Reading bookings and tickets: one, a buyer's list with filters, the buyer's stats, and an
//! event's check-in count.

use super::*;

/// One booking with its event title and type name.
pub async fn booking_by_id(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<Option<BookingRow>> {
    let sql = format!("{BOOKING_SELECT} WHERE b.id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&pools.read)
        .await
}

/// The booking created under a scoped `Idempotency-Key` hash, if any (read on the writer, so a
/// retry right after the hold's commit sees it).
pub async fn booking_by_idempotency_key(
    pools: &Pools<Db>,
    key: &str,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM bookings WHERE idempotency_key = $1 LIMIT 1")
        .bind(key)
        .fetch_optional(&pools.write)
        .await
}

/// The first guest token's hash of the booking a later guest token was sent for.
pub async fn guest_link(pools: &Pools<Db>, token_hash: &str) -> sqlx::Result<Option<String>> {
    let first: Option<Option<String>> = sqlx::query_scalar(
        "SELECT b.guest_token_hash FROM guest_links l JOIN bookings b ON b.id = l.booking_id
         WHERE l.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&pools.read)
    .await?;
    Ok(first.flatten())
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

/// `(checked in, issued)` tickets of an event's CONFIRMED bookings: the door's running count.
pub async fn checkin_counts(pools: &Pools<Db>, event_id: Uuid) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT COUNT(t.checked_in_at), COUNT(*) FROM tickets t JOIN bookings b ON b.id = t.booking_id
         WHERE b.event_id = $1 AND b.status = 'CONFIRMED'",
    )
    .bind(event_id)
    .fetch_one(&pools.read)
    .await
}

pub(super) fn where_filter(filter: &ListFilter) -> String {
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
    // `where_filter`'s parameters, $1 to $5.
    booking_page(
        pools,
        &where_filter(filter),
        5,
        filter.limit,
        filter.offset,
        |s| {
            s.bind(filter.user_id)
                .bind(filter.event_id)
                .bind(filter.from)
                .bind(filter.to)
                .bind(filter.now)
        },
    )
    .await
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

/// Live (PENDING, unexpired) guest bookings of an event made from one client network.
pub async fn live_guest_holds(
    pools: &Pools<Db>,
    event_id: Uuid,
    client_ip: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM guest_holds g JOIN bookings b ON b.id = g.booking_id
         WHERE g.event_id = $1 AND g.client_ip = $2 AND b.status = 'PENDING' AND b.expires_at > $3",
    )
    .bind(event_id)
    .bind(client_ip)
    .bind(now)
    .fetch_one(&pools.read)
    .await
}

/// Remembers the client network of a guest booking.
pub async fn record_guest_hold(
    pools: &Pools<Db>,
    booking_id: Uuid,
    event_id: Uuid,
    client_ip: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO guest_holds (booking_id, event_id, client_ip, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(booking_id)
    .bind(event_id)
    .bind(client_ip)
    .bind(now)
    .execute(&pools.write)
    .await?;
    Ok(())
}
