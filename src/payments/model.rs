//! Payment types: the stored row, its public view, statuses, and what gateways report.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

crate::stored_names! {
    /// A payment's status (API.md §5), stored as its upper-case name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum PaymentStatus as "payment status" {
        /// Waiting for the buyer or the gateway.
        Pending = "PENDING",
        /// Paid.
        Success = "SUCCESS",
        /// Declined or failed at the gateway.
        Failed = "FAILED",
        /// Replaced by a payment through another gateway before it settled.
        Abandoned = "ABANDONED",
        /// Every unit of money went back.
        Refunded = "REFUNDED",
        /// Part of the money went back.
        PartiallyRefunded = "PARTIALLY_REFUNDED",
    }
}

impl PaymentStatus {
    /// Whether money was received (and not all of it returned).
    pub fn paid(self) -> bool {
        matches!(self, Self::Success | Self::PartiallyRefunded)
    }
}

/// A stored payment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: Uuid,
    /// `PAY-…`, what the gateway knows the payment by.
    pub reference: String,
    pub booking_id: Uuid,
    /// The buyer (null for a guest).
    pub user_id: Option<Uuid>,
    pub gateway: String,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: String,
    #[sqlx(try_from = "String")]
    pub status: PaymentStatus,
    /// Returned so far, minor units.
    pub refunded_amount: i64,
    /// The gateway's own id of the transaction, once known.
    pub gateway_reference: Option<String>,
    /// Where the buyer pays.
    pub authorization_url: Option<String>,
    /// Where the buyer returns after paying (checked against the allowed origins).
    pub callback_url: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The payment object of API.md §5.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub id: Uuid,
    pub reference: String,
    pub booking_id: Uuid,
    pub user_id: Option<Uuid>,
    /// `paystack`, `flutterwave`, `stripe`, `test` or `offline`.
    pub gateway: String,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: String,
    pub status: PaymentStatus,
    /// Returned so far, minor units.
    pub refunded_amount: i64,
    pub paid_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&PaymentRow> for PaymentView {
    fn from(p: &PaymentRow) -> Self {
        Self {
            id: p.id,
            reference: p.reference.clone(),
            booking_id: p.booking_id,
            user_id: p.user_id,
            gateway: p.gateway.clone(),
            amount: p.amount,
            currency: p.currency.clone(),
            status: p.status,
            refunded_amount: p.refunded_amount,
            paid_at: p.paid_at,
            failure_reason: p.failure_reason.clone(),
            created_at: p.created_at,
        }
    }
}

/// A verified webhook delivery, recorded in the transaction that applies it, so a delivery is
/// on record exactly when what it said was applied (API.md §11.69).
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The gateway that sent it.
    pub gateway: &'a str,
    /// The gateway's identity of the event.
    pub event_id: &'a str,
}

/// A settlement waiting for its batch ([`crate::payments::engine`]): what [`Delivery`] and
/// [`Settlement`] say of a payment, owned.
#[derive(Debug, Clone)]
pub struct Settle {
    /// The payment's reference.
    pub reference: String,
    pub settlement: Settlement,
    /// The webhook delivery that said it: the gateway and its identity of the event.
    pub delivery: Option<(String, String)>,
}

impl Settle {
    /// The webhook delivery, borrowed.
    pub fn delivery(&self) -> Option<Delivery<'_>> {
        self.delivery
            .as_ref()
            .map(|(gateway, event_id)| Delivery { gateway, event_id })
    }
}

/// What settling a payment did, the payment after, and the full refund it opened, if any.
pub type Settled = (Applied, PaymentRow, Option<RefundRow>);

/// What a gateway says about a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The money arrived: how much (minor units) in which currency, and the gateway's id.
    Paid {
        amount: i64,
        currency: String,
        gateway_reference: Option<String>,
    },
    /// Declined, failed or abandoned at the gateway.
    Failed { reason: String },
    /// Not settled yet.
    Pending,
}

/// What applying a settlement did, for the answer and the buyer's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The payment succeeded and its booking (of this event) is CONFIRMED.
    Confirmed { event_id: Uuid },
    /// The payment succeeded but its booking could not be confirmed (its seats were gone, it was
    /// cancelled, or another payment paid it): the money goes back in full.
    RefundDue,
    /// The payment failed; the booking keeps its hold.
    Failed,
    /// The amount or currency did not match the payment: nothing was applied.
    Mismatch,
    /// The payment was already settled: nothing changed.
    Unchanged,
    /// The gateway has not settled it yet.
    Pending,
}

/// A payment to open for its booking ([`crate::payments::engine::open`]), extending the booking's
/// hold by `extension` the first time.
#[derive(Debug, Clone)]
pub struct Open {
    pub new: PaymentRow,
    pub extension: chrono::Duration,
}

/// What opening a payment did.
#[derive(Debug)]
pub enum Opened {
    /// A new PENDING payment (the booking's hold extended once).
    New(PaymentRow),
    /// The booking's PENDING payment through the same gateway, returned as it is.
    Existing(PaymentRow),
    /// The booking is no longer a live PENDING hold.
    NotPending,
}

/// A new refund row.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub id: Uuid,
    pub payment_id: Uuid,
    /// Minor units.
    pub amount: i64,
    pub reason: Option<String>,
    /// The admin or event owner who asked; none for an automatic refund.
    pub requested_by: Option<Uuid>,
}

/// A stored refund.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundRow {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount: i64,
    /// PENDING, SUCCESS or FAILED.
    pub status: String,
    pub reason: Option<String>,
    pub gateway_reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A new payment reference: `PAY-` and 16 base-32 characters of randomness.
pub fn new_reference() -> String {
    use rand::Rng;
    let bytes: [u8; 10] = rand::rng().random();
    format!("PAY-{}", crate::bookings::codes::base32(&bytes))
}

/// Minor units per major unit of a currency (ISO 4217 exponent): most have 100, some none.
pub fn minor_per_major(currency: &str) -> i64 {
    const ZERO_DECIMAL: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
        "XAF", "XOF", "XPF",
    ];
    const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];
    if ZERO_DECIMAL.contains(&currency) {
        1
    } else if THREE_DECIMAL.contains(&currency) {
        1000
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_references_are_distinct() {
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
        }
        assert_ne!(new_reference(), new_reference());
        assert!(new_reference().starts_with("PAY-"));
    }

    #[test]
    fn currencies_have_their_minor_units() {
        assert_eq!(minor_per_major("NGN"), 100);
        assert_eq!(minor_per_major("JPY"), 1);
        assert_eq!(minor_per_major("KWD"), 1000);
    }
}
