//! Event reminders to confirmed bookers, once, a day before the event.

use super::*;

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
    type EventFacts = (String, DateTime<Utc>, Option<String>, String);
    let mut events: BTreeMap<Uuid, EventFacts> = BTreeMap::new();
    for (id, reference, user_id, event_id, email, name) in &claimed {
        if !events.contains_key(event_id) {
            let row: EventFacts = sqlx::query_as(
                "SELECT title, starts_at, venue, timezone FROM events WHERE id = $1",
            )
            .bind(*event_id)
            .fetch_one(&mut *tx)
            .await?;
            events.insert(*event_id, row);
        }
        let (title, starts_at, venue, timezone) = &events[event_id];
        let mut booking_url = format!("{}/bookings/{id}", links.public_base);
        let mut payload = json!({
            "customerName": greeted(*user_id, name),
            "eventTitle": title,
            "eventStartsAt": starts_at,
            "venue": venue,
            "timezone": timezone,
            "reference": reference,
            "bookingId": id,
        });
        if user_id.is_none() {
            // A guest opens the booking page and the PDF tickets with a token (API.md §11.58).
            let token = new_guest_link(&mut tx, *id, now).await?;
            booking_url.push_str("?token=");
            booking_url.push_str(&token);
            payload["guestToken"] = json!(token);
        }
        payload["bookingUrl"] = json!(booking_url);
        let email_msg = NewMessage::email(email.clone(), "event_reminder", payload);
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
