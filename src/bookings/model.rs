//! Bookings' rows, views and domain rules: the facts a hold is decided on, the hold request and its outcomes, the booking object of API.md §4.

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::routes::CreateBookingBody;
use crate::events::model::EventStatus;

/// Facts of an event that bookings need.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventFacts {
    pub id: Uuid,
    /// Owner.
    pub organizer_id: Uuid,
    pub title: String,
    #[sqlx(try_from = "String")]
    pub status: EventStatus,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// Publication time.
    pub published_at: Option<DateTime<Utc>>,
    pub currency: String,
    /// Event-wide cap.
    pub total_tickets: Option<i64>,
    /// Confirmed seats (capped events only).
    pub sold: i64,
    /// Held seats (capped events only).
    pub held: i64,
}

/// Facts of a ticket type that bookings need.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TypeFacts {
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    pub kind: String,
    /// Unit price, minor units.
    pub price: i64,
    /// Seats.
    pub capacity: i64,
    /// Confirmed seats.
    pub sold: i64,
    /// Held seats.
    pub held: i64,
    /// Sales open (default: publication).
    pub sales_start_at: Option<DateTime<Utc>>,
    /// Sales close (default: the event's start).
    pub sales_end_at: Option<DateTime<Utc>>,
    /// Largest order, and the most one buyer may hold at once.
    pub max_per_order: i32,
}

/// Whether a type is on sale now (API.md §11.15, §11.43).
pub fn on_sale(event: &EventFacts, ty: &TypeFacts, now: DateTime<Utc>) -> bool {
    if event.status != EventStatus::Published {
        return false;
    }
    let end = ty.sales_end_at.unwrap_or(event.starts_at);
    let over = event
        .ends_at
        .unwrap_or(event.starts_at)
        .max(event.starts_at);
    if now >= end || now >= over {
        return false;
    }
    match ty.sales_start_at.or(event.published_at) {
        Some(start) => now >= start,
        None => true,
    }
}

/// Why `req` cannot be held against these facts, if it cannot: DRAFT → 404, quantity above
/// `maxPerOrder`, outside the sales window or not PUBLISHED.
pub(crate) fn refusal(req: &NewHold, event: &EventFacts, ty: &TypeFacts) -> Option<HoldOutcome> {
    if event.status == EventStatus::Draft {
        return Some(HoldOutcome::NotFound);
    }
    if req.quantity > i64::from(ty.max_per_order) {
        return Some(HoldOutcome::TooMany {
            max: i64::from(ty.max_per_order),
        });
    }
    if !crate::bookings::on_sale(event, ty, req.now) {
        return Some(HoldOutcome::SalesClosed);
    }
    None
}

crate::stored_names! {
    /// A booking's status (API.md §4), stored as its upper-case name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum BookingStatus as "booking status" {
        /// Holding its seats until `expiresAt`.
        Pending = "PENDING",
        /// Paid or free, with tickets.
        Confirmed = "CONFIRMED",
        /// Cancelled; a paid one becomes REFUNDED when its refund settles.
        Cancelled = "CANCELLED",
        /// The hold lapsed unpaid.
        Expired = "EXPIRED",
        /// The money went back.
        Refunded = "REFUNDED",
    }
}

/// A stored booking with its event title and type name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BookingRow {
    pub id: Uuid,
    /// `TM-XXXXXXXX`.
    pub reference: String,
    /// Booker (null for guests).
    pub user_id: Option<Uuid>,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    /// Seats.
    pub quantity: i64,
    /// Price per seat.
    pub unit_price: i64,
    /// Total.
    pub total_amount: i64,
    pub currency: String,
    /// Stored status (see [`BookingRow::effective_status`]).
    #[sqlx(try_from = "String")]
    pub status: BookingStatus,
    /// End of the hold.
    pub expires_at: Option<DateTime<Utc>>,
    /// Contact email.
    pub customer_email: String,
    /// Contact name.
    pub customer_name: String,
    /// Contact phone.
    pub customer_phone: Option<String>,
    /// Notes.
    pub special_requests: Option<String>,
    /// SHA-256 of the guest token.
    pub guest_token_hash: Option<String>,
    /// Refund owed (cancellations before the payments module executes it).
    pub refund_due: Option<i64>,
    /// Refund paid.
    pub refund_amount: Option<i64>,
    /// Confirmation time.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Cancellation time.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why.
    pub cancellation_reason: Option<String>,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    pub event_title: String,
    pub ticket_type_name: String,
    /// Event start.
    pub event_starts_at: DateTime<Utc>,
    /// Event owner.
    pub organizer_id: Uuid,
}

impl BookingRow {
    /// The status as readers see it: a lapsed PENDING hold is EXPIRED.
    pub fn effective_status(&self, now: DateTime<Utc>) -> BookingStatus {
        if self.status == BookingStatus::Pending && self.expires_at.is_none_or(|e| e <= now) {
            BookingStatus::Expired
        } else {
            self.status
        }
    }
}

/// A stored ticket.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub id: Uuid,
    pub booking_id: Uuid,
    /// Signed code.
    pub code: String,
    /// Seat number within the booking, from 1.
    pub seat: i32,
    /// Scan time.
    pub checked_in_at: Option<DateTime<Utc>>,
    /// Scanner.
    pub checked_in_by: Option<Uuid>,
    /// Issue time.
    pub created_at: DateTime<Utc>,
}

/// A booking a state change returns: released by expiry or cancellation, or confirmed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Released {
    /// Booking id.
    pub id: Uuid,
    pub reference: String,
    pub event_id: Uuid,
    /// Type.
    pub ticket_type_id: Uuid,
    /// Seats released.
    pub quantity: i64,
    /// Booker's email.
    pub customer_email: String,
    /// Booker's name.
    pub customer_name: String,
}

/// A hold request, validated.
#[derive(Debug, Clone)]
pub struct NewHold {
    pub event_id: Uuid,
    /// Type (default: the only or first general type).
    pub ticket_type_id: Option<Uuid>,
    /// Seats.
    pub quantity: i64,
    /// Booker (None for a guest).
    pub user_id: Option<Uuid>,
    /// Contact email.
    pub customer_email: String,
    /// Contact name.
    pub customer_name: String,
    /// Contact phone.
    pub customer_phone: Option<String>,
    /// Notes.
    pub special_requests: Option<String>,
    /// Hash of the guest token.
    pub guest_token_hash: Option<String>,
    /// The guest token itself, for the pay link in the email.
    pub guest_token: Option<String>,
    /// The scoped hash of the request's `Idempotency-Key`, stored with the booking.
    pub idempotency_key: Option<String>,
    /// The booking's creation time, in whole microseconds (what PostgreSQL keeps), so that an
    /// answer built from the request says what a later read of the booking says.
    pub now: DateTime<Utc>,
    /// Hold length.
    pub hold: chrono::Duration,
}

impl NewHold {
    /// A signed-in buyer's hold: the contact details default to the account's (API.md §11.22).
    pub fn for_account(
        body: CreateBookingBody,
        account: &crate::users::model::UserRow,
        hold: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            event_id: body.event_id,
            ticket_type_id: body.ticket_type_id,
            quantity: body.quantity,
            user_id: Some(account.id),
            customer_email: body
                .customer_email
                .as_deref()
                .and_then(crate::users::parse_email)
                .unwrap_or_else(|| account.email.clone()),
            customer_name: body
                .customer_name
                .map(|n| n.trim().to_string())
                .unwrap_or_else(|| format!("{} {}", account.first_name, account.last_name)),
            customer_phone: body.customer_phone,
            special_requests: body.special_requests,
            guest_token_hash: None,
            guest_token: None,
            idempotency_key: None,
            now: now.trunc_subsecs(6),
            hold,
        }
    }

    /// A guest's hold, authorized later by `token` (stored only as `token_hash`); the body's
    /// contact details were required and checked by the caller.
    pub fn for_guest(
        body: CreateBookingBody,
        token: &str,
        token_hash: String,
        hold: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            event_id: body.event_id,
            ticket_type_id: body.ticket_type_id,
            quantity: body.quantity,
            user_id: None,
            customer_email: body
                .customer_email
                .as_deref()
                .and_then(crate::users::parse_email)
                .unwrap_or_default(),
            customer_name: body.customer_name.unwrap_or_default().trim().to_string(),
            customer_phone: body.customer_phone,
            special_requests: body.special_requests,
            guest_token_hash: Some(token_hash),
            guest_token: Some(token.to_string()),
            idempotency_key: None,
            now: now.trunc_subsecs(6),
            hold,
        }
    }
}

/// What links and codes need.
#[derive(Debug, Clone)]
pub struct Links {
    /// `PUBLIC_BASE_URL`.
    pub public_base: String,
    /// `PUBLIC_BASE_URL` + `API_PREFIX`.
    pub api_base: String,
    /// `TICKET_SIGNING_KEY`.
    pub signing_key: String,
}

impl Links {
    /// From the configuration.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let base = config.public_base_url.trim_end_matches('/').to_string();
        Self {
            api_base: format!("{base}{}", config.api_prefix),
            public_base: base,
            signing_key: config.ticket_signing_key.expose().to_string(),
        }
    }
}

/// Result of a hold attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    /// Booking created.
    Held {
        /// Booking id.
        id: Uuid,
        /// Its event.
        event_id: Uuid,
        /// The booking as written, when the path that wrote it knows all of it (a batch's
        /// PENDING holds): the answer needs no read back. `None`: read it.
        row: Option<Box<BookingRow>>,
    },
    /// Unknown or draft event, or unknown type.
    NotFound,
    /// No type given and no default.
    NeedType,
    /// Quantity above `maxPerOrder`.
    TooMany {
        /// The limit.
        max: i64,
    },
    /// Outside the sales window, event cancelled or past.
    SalesClosed,
    /// The buyer already holds too many.
    HoldingLimit {
        /// The limit.
        max: i64,
        /// What they hold.
        holding: i64,
    },
    /// Not enough seats.
    SoldOut {
        /// Seats left.
        available: i64,
    },
    /// The instance's hold queue is full: nothing was decided, the caller may retry shortly.
    Busy,
}

/// Result of a confirm attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// Confirmed now.
    Confirmed {
        /// Its event.
        event_id: Uuid,
    },
    /// Not a live PENDING hold any more.
    NotPending,
}

/// Result of a cancel attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled now.
    Cancelled {
        /// Its event.
        event_id: Uuid,
    },
    /// The booking changed state meanwhile.
    Changed,
}

/// Filters of the booking list.
#[derive(Debug, Clone)]
pub struct ListFilter {
    /// Owner.
    pub user_id: Uuid,
    /// Effective status.
    pub status: Option<String>,
    pub event_id: Option<Uuid>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    /// Now (for effective status).
    pub now: DateTime<Utc>,
    /// Page size.
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

/// Filters of an event's booking list (API.md §11.105).
#[derive(Debug, Clone)]
pub struct AttendeeFilter {
    pub event_id: Uuid,
    /// Only this ticket type.
    pub ticket_type_id: Option<Uuid>,
    /// Effective status.
    pub status: Option<BookingStatus>,
    /// Matches the reference, or the start of a word of the name or email (case-insensitive).
    pub q: Option<String>,
    /// With (true) or without (false) a ticket checked in.
    pub checked_in: Option<bool>,
    /// Now (for effective status).
    pub now: DateTime<Utc>,
    /// Page size.
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

/// A ticket in the booking object.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketView {
    pub id: Uuid,
    /// Signed code (what the QR encodes).
    pub code: String,
    /// Scan time.
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// The booking object of API.md §4.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingView {
    pub id: Uuid,
    /// `TM-XXXXXXXX`.
    pub reference: String,
    /// Booker (null for guests).
    pub user_id: Option<Uuid>,
    pub event_id: Uuid,
    pub event_title: String,
    pub ticket_type_id: Uuid,
    pub ticket_type_name: String,
    /// Seats.
    pub quantity: i64,
    /// Price per seat.
    pub unit_price: i64,
    /// Total.
    pub total_amount: i64,
    pub currency: String,
    /// PENDING, CONFIRMED, CANCELLED, EXPIRED, REFUNDED.
    pub status: String,
    /// End of the hold (PENDING only; `null` otherwise).
    pub expires_at: Option<DateTime<Utc>>,
    /// Contact email.
    pub customer_email: String,
    /// Contact name.
    pub customer_name: String,
    /// Contact phone.
    pub customer_phone: Option<String>,
    /// Notes.
    pub special_requests: Option<String>,
    /// Tickets (CONFIRMED only).
    pub tickets: Vec<TicketView>,
    /// Payments of the booking.
    pub payment_ids: Vec<Uuid>,
    /// Confirmation time.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Cancellation time.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why.
    pub cancellation_reason: Option<String>,
    /// Refund paid, or owed while the refund is pending.
    pub refund_amount: Option<i64>,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Guest bookings only, in the creation answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_token: Option<String>,
}

/// Field names accepted by `fields=`.
pub const BOOKING_FIELDS: &[&str] = &[
    "id",
    "reference",
    "userId",
    "eventId",
    "eventTitle",
    "ticketTypeId",
    "ticketTypeName",
    "quantity",
    "unitPrice",
    "totalAmount",
    "currency",
    "status",
    "expiresAt",
    "customerEmail",
    "customerName",
    "customerPhone",
    "specialRequests",
    "tickets",
    "paymentIds",
    "confirmedAt",
    "cancelledAt",
    "cancellationReason",
    "refundAmount",
    "createdAt",
];

impl BookingView {
    /// The view of a row with its tickets (shown only when CONFIRMED).
    pub fn new(row: &BookingRow, tickets: &[TicketRow], now: DateTime<Utc>) -> Self {
        let status = row.effective_status(now).to_string();
        let tickets = if status == "CONFIRMED" {
            tickets
                .iter()
                .filter(|t| t.booking_id == row.id)
                .map(|t| TicketView {
                    id: t.id,
                    code: t.code.clone(),
                    checked_in_at: t.checked_in_at,
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            id: row.id,
            reference: row.reference.clone(),
            user_id: row.user_id,
            event_id: row.event_id,
            event_title: row.event_title.clone(),
            ticket_type_id: row.ticket_type_id,
            ticket_type_name: row.ticket_type_name.clone(),
            quantity: row.quantity,
            unit_price: row.unit_price,
            total_amount: row.total_amount,
            currency: row.currency.clone(),
            expires_at: if status == "PENDING" {
                row.expires_at
            } else {
                None
            },
            status,
            customer_email: row.customer_email.clone(),
            customer_name: row.customer_name.clone(),
            customer_phone: row.customer_phone.clone(),
            special_requests: row.special_requests.clone(),
            tickets,
            payment_ids: Vec::new(),
            confirmed_at: row.confirmed_at,
            cancelled_at: row.cancelled_at,
            cancellation_reason: row.cancellation_reason.clone(),
            refund_amount: row.refund_amount.or(row.refund_due),
            created_at: row.created_at,
            guest_token: None,
        }
    }

    /// As JSON, keeping only `fields` when given.
    pub fn to_json(&self, fields: Option<&[String]>) -> Value {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        match fields {
            Some(f) => crate::http::select_fields(value, f),
            None => value,
        }
    }
}
