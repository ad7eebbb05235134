//! What the dashboard's change watcher reads (bookings, payments and check-ins that changed) and
//! the live [`Update`]s each change reports ([`super::feed`] publishes and streams them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A booking that changed, as the watcher reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookingChange {
    pub id: Uuid,
    pub reference: String,
    pub event_id: Uuid,
    pub organizer_id: Uuid,
    pub user_id: Option<Uuid>,
    pub status: String,
    pub quantity: i64,
    pub total_amount: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A settled or refunded payment that changed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentChange {
    pub id: Uuid,
    pub reference: String,
    pub booking_id: Uuid,
    pub event_id: Uuid,
    pub organizer_id: Uuid,
    pub user_id: Option<Uuid>,
    pub status: String,
    pub amount: i64,
    pub refunded_amount: i64,
    pub currency: String,
    pub updated_at: DateTime<Utc>,
}

/// A ticket checked in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckInChange {
    pub id: Uuid,
    pub booking_id: Uuid,
    pub reference: String,
    pub event_id: Uuid,
    pub organizer_id: Uuid,
    pub user_id: Option<Uuid>,
    pub checked_in_at: DateTime<Utc>,
}

/// One live update: the `data:` of an SSE event, whose `event:` is `kind` and `id:` is `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Update {
    /// Stable id of what it reports (the SSE `id`, for `Last-Event-ID`).
    pub id: String,
    /// `booking.created`, `booking.confirmed`, `booking.cancelled`, `booking.expired`,
    /// `booking.refunded`, `payment.settled`, `payment.refunded` or `checkin`.
    pub kind: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    pub event_id: Uuid,
    /// The event's organizer.
    pub organizer_id: Uuid,
    /// The buyer (null for guests).
    pub user_id: Option<Uuid>,
    pub booking_id: Uuid,
    /// The booking's reference.
    pub reference: String,
    /// The booking's status (bookings), or the payment's (payments).
    pub status: String,
    /// Seats (bookings).
    pub quantity: Option<i64>,
    /// The booking's total, or the payment's amount, in minor units.
    pub amount: Option<i64>,
    /// Money refunded so far (payments).
    pub refunded_amount: Option<i64>,
    pub currency: Option<String>,
    /// The payment (payments).
    pub payment_id: Option<Uuid>,
    /// The ticket (check-ins).
    pub ticket_id: Option<Uuid>,
}

impl Update {
    fn of_booking(b: &BookingChange, kind: &str, tag: &str, at: DateTime<Utc>) -> Self {
        Update {
            id: format!("b.{}.{tag}", b.id),
            kind: kind.to_string(),
            at,
            event_id: b.event_id,
            organizer_id: b.organizer_id,
            user_id: b.user_id,
            booking_id: b.id,
            reference: b.reference.clone(),
            status: b.status.clone(),
            quantity: Some(b.quantity),
            amount: Some(b.total_amount),
            refunded_amount: None,
            currency: Some(b.currency.clone()),
            payment_id: None,
            ticket_id: None,
        }
    }
}

/// The updates a booking's row reports since `since`: its creation, and the status it reached
/// (each when it happened after `since`, so a later unrelated write does not report it again).
pub(super) fn booking_updates(b: &BookingChange, since: DateTime<Utc>, out: &mut Vec<Update>) {
    if b.created_at > since {
        out.push(Update::of_booking(
            b,
            "booking.created",
            "created",
            b.created_at,
        ));
    }
    let (kind, at) = match b.status.as_str() {
        "CONFIRMED" => ("booking.confirmed", b.confirmed_at),
        "CANCELLED" => ("booking.cancelled", b.cancelled_at),
        "EXPIRED" => ("booking.expired", Some(b.updated_at)),
        "REFUNDED" => ("booking.refunded", Some(b.updated_at)),
        _ => return,
    };
    if let Some(at) = at.filter(|t| *t > since) {
        out.push(Update::of_booking(b, kind, &b.status, at));
    }
}

pub(super) fn payment_update(p: &PaymentChange) -> Update {
    let (kind, tag) = if p.status == "SUCCESS" {
        ("payment.settled", "settled".to_string())
    } else {
        ("payment.refunded", p.refunded_amount.to_string())
    };
    Update {
        id: format!("p.{}.{tag}", p.id),
        kind: kind.to_string(),
        at: p.updated_at,
        event_id: p.event_id,
        organizer_id: p.organizer_id,
        user_id: p.user_id,
        booking_id: p.booking_id,
        reference: p.reference.clone(),
        status: p.status.clone(),
        quantity: None,
        amount: Some(p.amount),
        refunded_amount: Some(p.refunded_amount),
        currency: Some(p.currency.clone()),
        payment_id: Some(p.id),
        ticket_id: None,
    }
}

pub(super) fn check_in_update(t: &CheckInChange) -> Update {
    Update {
        id: format!("t.{}", t.id),
        kind: "checkin".to_string(),
        at: t.checked_in_at,
        event_id: t.event_id,
        organizer_id: t.organizer_id,
        user_id: t.user_id,
        booking_id: t.booking_id,
        reference: t.reference.clone(),
        status: "CHECKED_IN".to_string(),
        quantity: None,
        amount: None,
        refunded_amount: None,
        currency: None,
        payment_id: None,
        ticket_id: Some(t.id),
    }
}
