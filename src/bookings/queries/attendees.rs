//! An event's bookings for its organizer (API.md §11.105): the attendee list and the door's
//! manual lookup, newest first, filtered and searched.

use super::*;
use crate::bookings::AttendeeFilter;

/// Characters after which a word of a name or email starts.
const WORD_BREAKS: [&str; 6] = [" ", ".", "@", "\\_", "-", "+"];

/// Escapes `LIKE` wildcards (with `\` as the escape character).
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The filter's conditions after `WHERE b.event_id = $1`: `$2` type, `$3` now, `$4` the search
/// text (lower-cased, wildcards escaped).
fn conditions(filter: &AttendeeFilter) -> String {
    let mut sql = String::from(" WHERE b.event_id = $1 AND ($2 IS NULL OR b.ticket_type_id = $2)");
    sql.push_str(match filter.status {
        Some(BookingStatus::Pending) => " AND b.status = 'PENDING' AND b.expires_at > $3",
        Some(BookingStatus::Expired) => {
            " AND (b.status = 'EXPIRED' OR (b.status = 'PENDING' AND b.expires_at <= $3))"
        }
        Some(BookingStatus::Confirmed) => " AND b.status = 'CONFIRMED' AND $3 IS NOT NULL",
        Some(BookingStatus::Cancelled) => " AND b.status = 'CANCELLED' AND $3 IS NOT NULL",
        Some(BookingStatus::Refunded) => " AND b.status = 'REFUNDED' AND $3 IS NOT NULL",
        None => " AND $3 IS NOT NULL",
    });
    let mut search = vec!["lower(b.reference) LIKE '%' || $4 || '%' ESCAPE '\\'".to_string()];
    for column in ["b.customer_name", "b.customer_email"] {
        search.push(format!("lower({column}) LIKE $4 || '%' ESCAPE '\\'"));
        for sep in WORD_BREAKS {
            search.push(format!(
                "lower({column}) LIKE '%{sep}' || $4 || '%' ESCAPE '\\'"
            ));
        }
    }
    sql.push_str(&format!(" AND ($4 IS NULL OR {})", search.join(" OR ")));
    let checked = "EXISTS (SELECT 1 FROM tickets t WHERE t.booking_id = b.id AND t.checked_in_at IS NOT NULL)";
    match filter.checked_in {
        Some(true) => sql.push_str(&format!(" AND {checked}")),
        Some(false) => sql.push_str(&format!(" AND NOT {checked}")),
        None => {}
    }
    sql
}

/// A page of an event's bookings (newest first) and the total.
pub async fn event_bookings(
    pools: &Pools<Db>,
    filter: &AttendeeFilter,
) -> sqlx::Result<(Vec<BookingRow>, u64)> {
    let q = filter.q.as_deref().map(|q| like_escaped(&q.to_lowercase()));
    // `conditions`' parameters, $1 to $4.
    booking_page(
        pools,
        &conditions(filter),
        4,
        filter.limit,
        filter.offset,
        |s| {
            s.bind(filter.event_id)
                .bind(filter.ticket_type_id)
                .bind(filter.now)
                .bind(q.as_deref())
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_in_the_search_text_match_themselves() {
        assert_eq!(like_escaped("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(like_escaped("ada"), "ada");
    }
}
