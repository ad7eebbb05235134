//! The outbox messages a confirmation writes (email, and SMS where the account allows it).

use super::*;

/// The name an email greets a booker by: none for a guest (API.md §11.93: an unverified
/// address gets no text the caller chose).
pub(super) fn greeted(user_id: Option<Uuid>, name: &str) -> &str {
    if user_id.is_some() { name } else { "" }
}

pub(super) fn confirmed_message(
    email: &str,
    name: &str,
    title: &str,
    reference: &str,
    booking_id: Uuid,
    tickets: &[TicketRow],
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
            "eventTitle": title,
            "reference": reference,
            "bookingId": booking_id,
            "tickets": tickets,
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
    let (token, hash) = crate::bookings::codes::new_guest_token();
    sqlx::query("INSERT INTO guest_links (token_hash, booking_id, created_at) VALUES ($1, $2, $3)")
        .bind(hash)
        .bind(booking_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(token)
}

/// The `sms_booking_confirmed` message for the booking's account, when it has a verified phone
/// and allows SMS (API.md §10, §11.74); guests get none.
pub(super) async fn confirmed_sms(
    tx: &mut Transaction<'static, Db>,
    user_id: Option<Uuid>,
    title: &str,
    reference: &str,
    starts_at: DateTime<Utc>,
) -> sqlx::Result<Option<NewMessage>> {
    user_sms(
        tx,
        user_id,
        "sms_booking_confirmed",
        json!({
            "eventTitle": title,
            "reference": reference,
            "eventStartsAt": starts_at,
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
