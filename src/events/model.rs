//! Catalogue types: stored rows, the public views with live counts, and the filters of a list.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

crate::stored_names! {
    /// An event's status (API.md §3), stored and served as its upper-case name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "UPPERCASE")]
    pub enum EventStatus as "event status" {
        /// Seen only by its organizer and admins.
        Draft = "DRAFT",
        /// Visible to everyone.
        Published = "PUBLISHED",
        /// Called off by its organizer or an admin.
        Cancelled = "CANCELLED",
        /// Over: past its end (or start when it has no end).
        Completed = "COMPLETED",
    }
}

impl EventStatus {
    /// The status of a name in any letter case (query strings and bodies accept either).
    pub fn parse_any_case(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

/// Ticket-type kinds.
pub const KINDS: &[&str] = &["general", "vip", "premium", "early_bird", "custom"];

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct EventRow {
    pub id: Uuid,
    /// Owner.
    pub organizer_id: Uuid,
    pub title: String,
    pub description: String,
    /// Free-text category.
    pub category: String,
    /// JSON array of tags.
    pub tags: String,
    /// Venue name.
    pub venue: Option<String>,
    /// City or address.
    pub location: String,
    /// IANA time zone its times are shown in (they are stored in UTC).
    pub timezone: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// Image path under `/uploads` or an absolute URL.
    pub image_url: Option<String>,
    /// Featured by an admin.
    pub featured: bool,
    #[sqlx(try_from = "String")]
    pub status: EventStatus,
    /// ISO 4217 code.
    pub currency: String,
    /// Event-wide cap over its ticket types.
    pub total_tickets: Option<i64>,
    /// Confirmed tickets (maintained only with a cap).
    pub sold: i64,
    /// Held tickets (maintained only with a cap).
    pub held: i64,
    /// Lowest ticket-type price.
    pub min_price: Option<i64>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl EventRow {
    /// When the event is over: its end, or its start when it has no end.
    pub fn finishes_at(&self) -> DateTime<Utc> {
        self.ends_at.unwrap_or(self.starts_at)
    }
}

/// A ticket type field a PATCH names: only these are written, so two PATCHes of different
/// fields of one type never undo each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketTypeField {
    /// `name`.
    Name,
    /// `kind`.
    Kind,
    /// `price`.
    Price,
    /// `capacity` (refused below `sold + held`).
    Capacity,
    /// `sales_start_at`.
    SalesStartAt,
    /// `sales_end_at`.
    SalesEndAt,
    /// `max_per_order`.
    MaxPerOrder,
}

/// A stored ticket type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct TicketTypeRow {
    pub id: Uuid,
    /// Its event.
    pub event_id: Uuid,
    /// Display name.
    pub name: String,
    /// general, vip, premium, early_bird or custom.
    pub kind: String,
    /// Price in minor units.
    pub price: i64,
    /// Seats.
    pub capacity: i64,
    /// Confirmed.
    pub sold: i64,
    /// Held by pending bookings (expired ones included until swept).
    pub held: i64,
    /// Sales open.
    pub sales_start_at: Option<DateTime<Utc>>,
    /// Sales close.
    pub sales_end_at: Option<DateTime<Utc>>,
    /// Most tickets per booking.
    pub max_per_order: i32,
    /// Display order.
    pub position: i32,
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// An event with its ticket types: what the catalogue caches (counts are read live).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The event.
    pub event: EventRow,
    /// Its ticket types, in display order.
    pub types: Vec<TicketTypeRow>,
}

/// Live inventory of one event: sold and unexpired-held per type, and at event level (cap).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// `(sold, held)` by ticket type id.
    pub types: HashMap<Uuid, (i64, i64)>,
    /// `(sold, held)` of the event row (meaningful only with a cap).
    pub event: (i64, i64),
}

/// A ticket type as clients see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketTypeView {
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// general, vip, premium, early_bird or custom.
    pub kind: String,
    /// Price in minor units.
    pub price: i64,
    /// Seats.
    pub capacity: i64,
    /// Confirmed tickets.
    pub sold: i64,
    /// Tickets in unexpired pending bookings.
    pub held: i64,
    /// Tickets that can be booked now.
    pub available: i64,
    /// Sales open (default: publication).
    pub sales_start_at: Option<DateTime<Utc>>,
    /// Sales close (default: the event's start).
    pub sales_end_at: Option<DateTime<Utc>>,
    /// Most tickets per booking.
    pub max_per_order: i32,
}

/// An event as clients see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub category: String,
    pub tags: Vec<String>,
    pub venue: Option<String>,
    pub location: String,
    /// IANA time zone (`Africa/Lagos`) pages and emails show its times in; times stay UTC here.
    pub timezone: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// Absolute image URL.
    pub image_url: Option<String>,
    pub featured: bool,
    pub status: EventStatus,
    pub currency: String,
    /// Owner.
    pub organizer_id: Uuid,
    pub ticket_types: Vec<TicketTypeView>,
    /// The event cap when set, else the sum of the types' capacities.
    pub total_tickets: i64,
    /// Confirmed tickets.
    pub tickets_sold: i64,
    /// Held tickets.
    pub tickets_held: i64,
    /// Bookable tickets.
    pub tickets_available: i64,
    /// Lowest price.
    pub min_price: Option<i64>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Top-level event fields accepted by `fields=`.
pub const EVENT_FIELDS: &[&str] = &[
    "id",
    "title",
    "description",
    "category",
    "tags",
    "venue",
    "location",
    "timezone",
    "startsAt",
    "endsAt",
    "imageUrl",
    "featured",
    "status",
    "currency",
    "organizerId",
    "ticketTypes",
    "totalTickets",
    "ticketsSold",
    "ticketsHeld",
    "ticketsAvailable",
    "minPrice",
    "cancelReason",
    "createdAt",
    "updatedAt",
];

/// One ticket type's availability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypeAvailability {
    /// Ticket type id.
    pub id: Uuid,
    /// Bookable now.
    pub available: i64,
}

/// `GET /api/events/{id}/availability` and each SSE `availability` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub event_id: Uuid,
    /// Per ticket type.
    pub ticket_types: Vec<TypeAvailability>,
    /// min(sum of the types' remaining, the event's remaining).
    pub total_available: i64,
}

/// A category with its number of published upcoming events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct CategoryCount {
    /// Category as first written.
    pub category: String,
    /// Events.
    pub count: i64,
}

/// `{favorited}` answer.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct FavoriteState {
    /// Whether the event is now among the caller's favorites.
    pub favorited: bool,
}

/// List order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sort {
    /// `startsAt` ascending (default).
    StartsAt,
    /// `-startsAt`.
    StartsAtDesc,
    /// `createdAt`.
    CreatedAt,
    /// `-createdAt`.
    CreatedAtDesc,
    /// `price` (minPrice) ascending.
    Price,
    /// `-price`.
    PriceDesc,
}

impl Sort {
    /// Parses the `sort` parameter.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "startsAt" => Sort::StartsAt,
            "-startsAt" => Sort::StartsAtDesc,
            "createdAt" => Sort::CreatedAt,
            "-createdAt" => Sort::CreatedAtDesc,
            "price" => Sort::Price,
            "-price" => Sort::PriceDesc,
            _ => return None,
        })
    }

    /// The ORDER BY clause (a fixed string per variant; never user text).
    pub fn order_by(self) -> &'static str {
        match self {
            Sort::StartsAt => "e.starts_at ASC, e.id ASC",
            Sort::StartsAtDesc => "e.starts_at DESC, e.id DESC",
            Sort::CreatedAt => "e.created_at ASC, e.id ASC",
            Sort::CreatedAtDesc => "e.created_at DESC, e.id DESC",
            Sort::Price => "e.min_price ASC NULLS LAST, e.id ASC",
            Sort::PriceDesc => "e.min_price DESC NULLS LAST, e.id DESC",
        }
    }
}

/// Which events a list selects; every value is bound, never formatted into SQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListFilter {
    /// Allowed statuses.
    pub statuses: Vec<EventStatus>,
    /// Only events not yet ended at `now`.
    pub only_unfinished: bool,
    /// Search terms (letters and digits only, lower-cased); `Some(empty)` matches nothing
    /// (a search made only of punctuation).
    pub terms: Option<Vec<String>>,
    /// Lower-cased category.
    pub category: Option<String>,
    /// Lower-cased location substring.
    pub location: Option<String>,
    /// `startsAt >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `startsAt < to`.
    pub to: Option<DateTime<Utc>>,
    /// `minPrice >= this`.
    pub min_price: Option<i64>,
    /// `minPrice <= this`.
    pub max_price: Option<i64>,
    /// Featured or not.
    pub featured: Option<bool>,
    /// Owner.
    pub organizer_id: Option<Uuid>,
    /// Only events this user favorited.
    pub favorited_by: Option<Uuid>,
    /// Order.
    pub sort: Sort,
    /// The reference instant.
    pub now: DateTime<Utc>,
}

impl ListFilter {
    /// Published, unfinished events in start order.
    pub fn public(now: DateTime<Utc>) -> Self {
        Self {
            statuses: vec![EventStatus::Published],
            only_unfinished: true,
            terms: None,
            category: None,
            location: None,
            from: None,
            to: None,
            min_price: None,
            max_price: None,
            featured: None,
            organizer_id: None,
            favorited_by: None,
            sort: Sort::StartsAt,
            now,
        }
    }
}

/// Splits a search text into terms of letters and digits, lower-cased, so that nothing of the
/// full-text query syntax (quotes, operators, column filters) can come from the client.
pub fn search_terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(8)
        .map(|t| t.to_lowercase())
        .collect()
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A new ticket type to store.
#[derive(Debug, Clone)]
pub struct NewTicketType {
    pub name: String,
    pub kind: String,
    pub price: i64,
    /// Seats.
    pub capacity: i64,
    /// Sales open.
    pub sales_start_at: Option<DateTime<Utc>>,
    /// Sales close.
    pub sales_end_at: Option<DateTime<Utc>>,
    /// Most per booking.
    pub max_per_order: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_drop_query_syntax() {
        assert_eq!(
            search_terms(r#"jazz" OR title:*  NEAR(x) -"#),
            vec!["jazz", "or", "title", "near", "x"]
        );
        assert!(search_terms("\"*'()").is_empty());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn every_sort_parses_and_unknown_is_refused() {
        for s in [
            "startsAt",
            "-startsAt",
            "createdAt",
            "-createdAt",
            "price",
            "-price",
        ] {
            assert!(Sort::parse(s).is_some());
        }
        assert!(Sort::parse("title; DROP").is_none());
    }
}
