//! What clients send to the catalogue routes: the JSON bodies of event and ticket-type writes and
//! the query strings of the reads. Field doc comments here are the OpenAPI descriptions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Deserializes a field that may be absent (outer None), null (Some(None)) or a value.
fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A ticket type in a create body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketTypeBody {
    /// Display name, 1–100 characters.
    pub name: String,
    /// general (default), vip, premium, early_bird or custom.
    pub kind: Option<String>,
    /// Price in minor units, ≥ 0.
    pub price: i64,
    /// Seats, ≥ 1.
    pub capacity: i64,
    /// Sales open (default: publication).
    pub sales_start_at: Option<DateTime<Utc>>,
    /// Sales close (default: the event's start).
    pub sales_end_at: Option<DateTime<Utc>>,
    /// Most tickets per booking (default 10).
    pub max_per_order: Option<i32>,
}

/// `POST /api/events` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEventBody {
    /// Title, 3–200 characters.
    pub title: String,
    /// Description, 1–10000 characters.
    pub description: String,
    /// Free-text category, 1–50 characters.
    pub category: String,
    /// Up to 20 tags.
    pub tags: Option<Vec<String>>,
    /// Venue name.
    pub venue: Option<String>,
    /// City or address.
    pub location: String,
    /// IANA time zone name, e.g. `Africa/Lagos` (default `DEFAULT_TIMEZONE`).
    pub timezone: Option<String>,
    /// Start (future).
    pub starts_at: DateTime<Utc>,
    /// End (after the start).
    pub ends_at: Option<DateTime<Utc>>,
    /// ISO 4217 (default `DEFAULT_CURRENCY`).
    pub currency: Option<String>,
    /// ADMIN only.
    pub featured: Option<bool>,
    /// DRAFT (default) or PUBLISHED.
    pub status: Option<String>,
    pub ticket_types: Option<Vec<TicketTypeBody>>,
    /// With `totalTickets` and no `ticketTypes`: one `general` type at this price.
    pub price: Option<i64>,
    /// With `price`: that type's capacity; with `ticketTypes`: an event-wide cap.
    pub total_tickets: Option<i64>,
}

/// `PATCH /api/events/{id}` body: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEventBody {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    /// Venue (null clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub venue: Option<Option<String>>,
    pub location: Option<String>,
    /// IANA time zone name.
    pub timezone: Option<String>,
    /// Start.
    pub starts_at: Option<DateTime<Utc>>,
    /// End (null clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// Currency (fixed once anything is sold).
    pub currency: Option<String>,
    /// ADMIN only.
    pub featured: Option<bool>,
    /// Event-wide cap (null lifts it); not below sold + held.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub total_tickets: Option<Option<i64>>,
}

/// `PATCH /api/events/{id}/ticket-types/{typeId}` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTicketTypeBody {
    pub name: Option<String>,
    pub kind: Option<String>,
    /// Price (new bookings only).
    pub price: Option<i64>,
    /// Capacity, not below sold + held.
    pub capacity: Option<i64>,
    /// Sales open (null: from publication).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sales_start_at: Option<Option<DateTime<Utc>>>,
    /// Sales close (null: until the start).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sales_end_at: Option<Option<DateTime<Utc>>>,
    /// Most per booking.
    pub max_per_order: Option<i32>,
}

/// `POST /api/events/{id}/cancel` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelEventBody {
    /// Why (1–500 characters); told to every booker.
    pub reason: String,
}

/// Query of the event lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Text over title, description, venue and location (word prefixes, all words must match).
    pub q: Option<String>,
    /// Category (case-insensitive).
    pub category: Option<String>,
    /// Location substring (case-insensitive).
    pub location: Option<String>,
    /// `startsAt` ≥ this (RFC 3339 or YYYY-MM-DD); also lists COMPLETED events.
    pub from: Option<String>,
    /// `startsAt` < this.
    pub to: Option<String>,
    /// Event `minPrice` ≥ this.
    #[param(minimum = 0)]
    pub min_price: Option<i64>,
    /// Event `minPrice` ≤ this.
    #[param(minimum = 0)]
    pub max_price: Option<i64>,
    /// Featured only / not featured.
    pub featured: Option<bool>,
    /// Owner.
    pub organizer_id: Option<Uuid>,
    /// Organizers (own events) and admins: DRAFT, PUBLISHED, CANCELLED or COMPLETED.
    #[param(pattern = "^(DRAFT|PUBLISHED|CANCELLED|COMPLETED)$")]
    pub status: Option<String>,
    /// startsAt, -startsAt, createdAt, -createdAt, price, -price.
    #[param(pattern = "^-?(startsAt|createdAt|price)$")]
    pub sort: Option<String>,
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// Top-level fields to return (`id` always).
    pub fields: Option<String>,
}

/// Query of one event.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FieldsQuery {
    /// Top-level fields to return (`id` always).
    pub fields: Option<String>,
}

/// Query of the featured list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeaturedQuery {
    /// 1–20, default 6.
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<i64>,
    /// Top-level fields to return.
    pub fields: Option<String>,
}

/// Query of the favorites list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// Top-level fields to return.
    pub fields: Option<String>,
}
