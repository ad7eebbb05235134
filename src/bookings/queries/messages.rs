//! The outbox messages a confirmation writes (email, and SMS where the account allows it).

use super::*;

/// The name an email greets a booker by: none for a guest (API.md §11.93: an unverified
/// address gets no text the caller chose).
pub(super) fn greeted(user_id: Option<Uuid>, name: &str) -> &str {
    if user_id.is_some() { name } else { "" }
}

/// What a buyer needs at the door and in their calendar (API.md §11.107): when (shown in the
/// event's time zone), where, what and for how much.
pub(super) struct Occasion {
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub venue: Option<String>,
    pub location: String,
    pub timezone: String,
    pub ticket_type: String,
    pub quantity: i64,
    pub amount: i64,
    pub currency: String,
}

impl Occasion {
    /// The occasion of a booking from a row that carries [`OCCASION_COLUMNS`].
    pub(super) fn from_row(row: &<Db as sqlx::Database>::Row) -> sqlx::Result<Self> {
        Ok(Self {
            title: row.try_get("event_title")?,
            starts_at: row.try_get("event_starts_at")?,
            ends_at: row.try_get("event_ends_at")?,
            venue: row.try_get("event_venue")?,
            location: row.try_get("event_location")?,
            timezone: row.try_get("event_timezone")?,
            ticket_type: row.try_get("ticket_type_name")?,
            quantity: row.try_get("quantity")?,
            amount: row.try_get("total_amount")?,
            currency: row.try_get("currency")?,
        })
    }
}

/// The booking's event and ticket type facts an [`Occasion`] reads, as columns of a statement
/// on `bookings` (read with the confirming `UPDATE … RETURNING`: no statement more).
pub(super) const OCCASION_COLUMNS: &str = "total_amount, currency, \
     (SELECT e.title FROM events e WHERE e.id = bookings.event_id) AS event_title, \
     (SELECT e.starts_at FROM events e WHERE e.id = bookings.event_id) AS event_starts_at, \
     (SELECT e.ends_at FROM events e WHERE e.id = bookings.event_id) AS event_ends_at, \
     (SELECT e.venue FROM events e WHERE e.id = bookings.event_id) AS event_venue, \
     (SELECT e.location FROM events e WHERE e.id = bookings.event_id) AS event_location, \
     (SELECT e.timezone FROM events e WHERE e.id = bookings.event_id) AS event_timezone, \
     (SELECT t.name FROM ticket_types t WHERE t.id = bookings.ticket_type_id) AS ticket_type_name";

pub(super) fn confirmed_message(
    email: &str,
    name: &str,
    reference: &str,
    booking_id: Uuid,
    tickets: &[TicketRow],
    occasion: &Occasion,
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
            "eventTitle": occasion.title,
            "reference": reference,
            "bookingId": booking_id,
            "tickets": tickets,
            "eventStartsAt": occasion.starts_at,
            "eventEndsAt": occasion.ends_at,
            "venue": occasion.venue,
            "location": occasion.location,
            "timezone": occasion.timezone,
            "ticketTypeName": occasion.ticket_type,
            "quantity": occasion.quantity,
            "totalAmount": occasion.amount,
            "currency": occasion.currency,
        }),
    )
}

/// A fresh guest token for a later email about a guest booking, stored hashed in the caller's
/// transaction (API.md §11.58): the guest gets back in from any of their emails.
pub async fn new_guest_link(
    tx: &mut Transaction<'static, Db>,
    booking_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<String> {
    let mut tokens = new_guest_links(tx, &[booking_id], now).await?;
    Ok(tokens.pop().unwrap_or_default())
}

/// The `sms_booking_confirmed` message for the booking's account, when it has a verified phone
/// and allows SMS (API.md §10, §11.74); guests get none.
pub(super) async fn confirmed_sms(
    tx: &mut Transaction<'static, Db>,
    user_id: Option<Uuid>,
    reference: &str,
    occasion: &Occasion,
) -> sqlx::Result<Option<NewMessage>> {
    user_sms(
        tx,
        user_id,
        "sms_booking_confirmed",
        json!({
            "eventTitle": occasion.title,
            "reference": reference,
            "eventStartsAt": occasion.starts_at,
            "timezone": occasion.timezone,
        }),
    )
    .await
}

/// An SMS to a booker's account phone, when the account has a verified phone and allows SMS.
pub(super) async fn user_sms(
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
