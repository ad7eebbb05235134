//! Issuing a confirmed booking's tickets.

use super::*;

pub(super) async fn issue_tickets(
    tx: &mut Transaction<'static, Db>,
    booking_id: Uuid,
    quantity: i64,
    now: DateTime<Utc>,
    links: &Links,
) -> sqlx::Result<Vec<TicketRow>> {
    issue_tickets_of_many(tx, &[(booking_id, quantity)], now, links).await
}

/// The tickets of several bookings (`(booking, seats)`), written with multi-row inserts, in the
/// order of the bookings.
pub(super) async fn issue_tickets_of_many(
    tx: &mut Transaction<'static, Db>,
    bookings: &[(Uuid, i64)],
    now: DateTime<Utc>,
    links: &Links,
) -> sqlx::Result<Vec<TicketRow>> {
    let out: Vec<TicketRow> = bookings
        .iter()
        .flat_map(|&(booking_id, quantity)| {
            (1..=quantity).map(move |seat| {
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
