//! HTTP routes of the catalogue (`/api/events…`, `/api/user/favorites`): request bodies, their
//! validation, ownership rules, and cache invalidation after every write.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::catalogue::{self, Fresh, Rendered};
use super::model::{
    CANCELLED, COMPLETED, CategoryCount, DRAFT, EVENT_FIELDS, EventRecord, EventRow, EventView,
    FavoriteState, KINDS, ListFilter, NewTicketType, PUBLISHED, Sort, TicketTypeField,
    TicketTypeView, search_terms,
};
use crate::cache::Tier;
use crate::http::extract::parse_query;
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResponse, ApiResult, ErrorCode, Meta, Page, Validator,
    parse_fields,
};
use crate::state::AppState;
use crate::store::is_check_violation;
use crate::users::model::Role;
use crate::users::{AuthUser, MaybeAuthUser, OrganizerUser};

/// Routes under `/events` and `/user/favorites`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events, create_event))
        .routes(routes!(list_featured_events))
        .routes(routes!(list_event_categories))
        .routes(routes!(list_events_by_category))
        .routes(routes!(get_event, update_event, delete_event))
        .routes(routes!(get_event_availability))
        .routes(routes!(super::stream::stream_event_availability))
        .routes(routes!(publish_event))
        .routes(routes!(cancel_event))
        .routes(routes!(create_ticket_type))
        .routes(routes!(update_ticket_type, delete_ticket_type))
        .routes(routes!(toggle_favorite, set_favorite, clear_favorite))
        .routes(routes!(list_favorites))
        .merge(super::image::router())
}

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
    /// Ticket types.
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
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// Venue (null clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub venue: Option<Option<String>>,
    /// Location.
    pub location: Option<String>,
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
    /// Name.
    pub name: Option<String>,
    /// Kind.
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
    pub min_price: Option<i64>,
    /// Event `minPrice` ≤ this.
    pub max_price: Option<i64>,
    /// Featured only / not featured.
    pub featured: Option<bool>,
    /// Owner.
    pub organizer_id: Option<Uuid>,
    /// Organizers (own events) and admins: DRAFT, PUBLISHED, CANCELLED or COMPLETED.
    pub status: Option<String>,
    /// startsAt, -startsAt, createdAt, -createdAt, price, -price.
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

/// Parses `from`/`to` into the validator's list of problems.
fn parse_when(raw: &str, field: &str, v: &mut Validator) -> Option<DateTime<Utc>> {
    match crate::http::parse_instant(raw, field) {
        Ok(t) => Some(t),
        Err(_) => {
            v.add(field, "must be an RFC 3339 time or a YYYY-MM-DD date");
            None
        }
    }
}

fn parse_status(raw: &str) -> Option<&'static str> {
    [DRAFT, PUBLISHED, CANCELLED, COMPLETED]
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(raw))
}

/// A parsed list request: the filter, the page, the selection, and whether it is public
/// (cacheable: the same answer for every caller).
struct ListRequest {
    filter: ListFilter,
    page: Page,
    fields: Option<Vec<String>>,
    public: bool,
}

fn parse_list(q: &ListQuery, viewer: Option<&AuthUser>) -> ApiResult<ListRequest> {
    let page = Page::parse(q.page, q.limit, 20)?;
    let fields = parse_fields(q.fields.as_deref(), EVENT_FIELDS)?;
    let mut v = Validator::new();
    let mut filter = ListFilter::public(Utc::now());
    if let Some(text) = &q.q {
        v.check(
            text.chars().count() <= 200,
            "q",
            "must be at most 200 characters",
        );
        if !text.trim().is_empty() {
            filter.terms = Some(search_terms(text));
        }
    }
    filter.category = q
        .category
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase);
    filter.location = q
        .location
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase);
    filter.from = q
        .from
        .as_deref()
        .and_then(|s| parse_when(s, "from", &mut v));
    filter.to = q.to.as_deref().and_then(|s| parse_when(s, "to", &mut v));
    if let (Some(a), Some(b)) = (filter.from, filter.to) {
        v.check(a < b, "to", "must be after from");
    }
    if let Some(p) = q.min_price {
        v.check(p >= 0, "minPrice", "must be at least 0");
    }
    if let Some(p) = q.max_price {
        v.check(p >= 0, "maxPrice", "must be at least 0");
        if let Some(min) = q.min_price {
            v.check(p >= min, "maxPrice", "must be at least minPrice");
        }
    }
    filter.min_price = q.min_price;
    filter.max_price = q.max_price;
    filter.featured = q.featured;
    filter.organizer_id = q.organizer_id;
    if let Some(s) = &q.sort {
        match Sort::parse(s) {
            Some(sort) => filter.sort = sort,
            None => {
                v.add(
                    "sort",
                    "must be one of startsAt, -startsAt, createdAt, -createdAt, price, -price",
                );
            }
        }
    }
    let status = match &q.status {
        None => None,
        Some(raw) => match parse_status(raw) {
            Some(s) => Some(s),
            None => {
                v.add("status", "must be DRAFT, PUBLISHED, CANCELLED or COMPLETED");
                None
            }
        },
    };
    v.finish()?;
    if filter.from.is_some() {
        filter.statuses = vec![PUBLISHED.into(), COMPLETED.into()];
        filter.only_unfinished = false;
    }
    let role = viewer.map(|u| u.role);
    let public = match (status, role) {
        (None, _) => true,
        (Some(s), None | Some(Role::User)) => {
            if s != PUBLISHED {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "Only organizers and admins may list events by status",
                ));
            }
            true
        }
        (Some(s), Some(role)) => {
            filter.statuses = vec![s.to_string()];
            filter.only_unfinished = false;
            if role != Role::Admin {
                filter.organizer_id = viewer.map(|u| u.id);
            }
            false
        }
    };
    Ok(ListRequest {
        filter,
        page,
        fields,
        public,
    })
}

fn cache_key(parts: &impl serde::Serialize) -> String {
    let text = serde_json::to_vec(parts).unwrap_or_default();
    hex::encode(&Sha256::digest(&text)[..16])
}

/// Serves a list request (cached when public).
async fn answer_list(
    state: &AppState,
    headers: &HeaderMap,
    req: ListRequest,
    label: &'static str,
    raw_key: Option<String>,
) -> ApiResult<Response> {
    let key = req.public.then(|| {
        raw_key.unwrap_or_else(|| {
            let mut f = req.filter.clone();
            f.now = DateTime::<Utc>::UNIX_EPOCH;
            format!(
                "list:{}",
                cache_key(&(&f, req.page.page, req.page.limit, &req.fields))
            )
        })
    });
    let (req, list_key) = (&req, key.as_deref());
    catalogue::cached_answer(state, label, key.clone(), headers, || async move {
        let (views, total) = catalogue::list_views(state, &req.filter, req.page, list_key).await?;
        let data: Vec<catalogue::Shaped> = views
            .into_iter()
            .map(|v| catalogue::to_value(v, req.fields.as_deref()))
            .collect();
        Ok(Fresh::shared(Rendered::new(
            &data,
            Some(Meta::new(req.page, total)),
        )?))
    })
    .await
}

/// The cache key of a list request that depends on its query string alone (no `status`, the
/// only parameter whose answer depends on the caller); None otherwise.
fn raw_list_key(scope: &str, raw: &str) -> Option<String> {
    if raw.contains("status") {
        return None;
    }
    Some(if scope.len() + raw.len() <= 200 {
        format!("raw:{scope}?{raw}")
    } else {
        format!("raw:{}", cache_key(&(scope, raw)))
    })
}

/// Serves a public list from the kept answer of the same query string, before any parsing.
async fn kept_list(
    state: &AppState,
    headers: &HeaderMap,
    key: Option<&String>,
) -> Option<Response> {
    let hit = catalogue::lookup(state, "events_list", key?).await?;
    Some(hit.respond(headers))
}

/// Lists events (published and upcoming for the public), with search, filters and sorting.
#[utoipa::path(get, path = "/events", tag = "events", params(ListQuery),
    responses(
        (status = 200, description = "A page of events (`meta` included); `ETag`, `Cache-Control: no-cache`", body = Vec<EventView>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Invalid query"),
        (status = 403, description = "`status` other than PUBLISHED from a user or anonymous caller"),
    ))]
async fn list_events(
    State(state): State<AppState>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let raw = raw.unwrap_or_default();
    let key = raw_list_key("", &raw);
    if let Some(hit) = kept_list(&state, &headers, key.as_ref()).await {
        return Ok(hit);
    }
    let q: ListQuery = parse_query(&raw)?;
    let req = parse_list(&q, viewer.as_ref())?;
    answer_list(&state, &headers, req, "events_list", key).await
}

/// Lists published upcoming events of one category (case-insensitive).
#[utoipa::path(get, path = "/events/category/{category}", tag = "events",
    params(("category" = String, Path, description = "Category"), ListQuery),
    responses(
        (status = 200, description = "A page of events", body = Vec<EventView>),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Invalid query"),
    ))]
async fn list_events_by_category(
    State(state): State<AppState>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    headers: HeaderMap,
    ApiPath(category): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let raw = raw.unwrap_or_default();
    let key = raw_list_key(&format!("category/{category}"), &raw);
    if let Some(hit) = kept_list(&state, &headers, key.as_ref()).await {
        return Ok(hit);
    }
    let mut q: ListQuery = parse_query(&raw)?;
    q.category = Some(category);
    let req = parse_list(&q, viewer.as_ref())?;
    answer_list(&state, &headers, req, "events_list", key).await
}

/// Featured, published, upcoming events (a bare array, no `meta`).
#[utoipa::path(get, path = "/events/featured", tag = "events", params(FeaturedQuery),
    responses(
        (status = 200, description = "Featured events", body = Vec<EventView>),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Invalid limit"),
    ))]
async fn list_featured_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<FeaturedQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(6);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::field("limit", "must be an integer from 1 to 20"));
    }
    let fields = parse_fields(q.fields.as_deref(), EVENT_FIELDS)?;
    let mut filter = ListFilter::public(Utc::now());
    filter.featured = Some(true);
    let page = Page {
        page: 1,
        limit: limit as u32,
    };
    let key = cache_key(&("featured", limit, &fields));
    let (state, filter, fields, list_key) = (&state, &filter, &fields, key.as_str());
    catalogue::cached_answer(
        state,
        "events_featured",
        Some(key.clone()),
        &headers,
        || async move {
            let (views, _) = catalogue::list_views(state, filter, page, Some(list_key)).await?;
            let data: Vec<catalogue::Shaped> = views
                .into_iter()
                .map(|v| catalogue::to_value(v, fields.as_deref()))
                .collect();
            Ok(Fresh::shared(Rendered::new(&data, None)?))
        },
    )
    .await
}

/// Categories of published upcoming events with their counts.
#[utoipa::path(get, path = "/events/categories", tag = "events",
    responses(
        (status = 200, description = "`[{category, count}]`", body = Vec<CategoryCount>),
        (status = 304, description = "Not modified"),
    ))]
async fn list_event_categories(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(bytes) = state
        .cache
        .get("events_categories", Tier::Long, "categories")
        .await
        && let Some(r) = Rendered::from_bytes(bytes)
    {
        return Ok(r.respond(&headers));
    }
    let generation = state.cache.generation();
    let categories = state.store.event_categories(Utc::now()).await?;
    let rendered = Rendered::new(&categories, None)?;
    state
        .cache
        .put(Tier::Long, "categories", generation, rendered.bytes())
        .await;
    Ok(rendered.respond(&headers))
}

/// One event; drafts only for their owner and admins (404 for others).
#[utoipa::path(get, path = "/events/{id}", tag = "events",
    params(("id" = Uuid, Path, description = "Event id"), FieldsQuery),
    responses(
        (status = 200, description = "The event; `ETag`, `Cache-Control: no-cache`", body = EventView),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Invalid id or fields"),
        (status = 404, description = "No such event, or a draft of someone else"),
    ))]
async fn get_event(
    State(state): State<AppState>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    // Only answers about non-drafts are kept, and those are the same for every caller (they
    // depend on the query string alone), so a kept answer is served before anything else.
    let raw = raw.unwrap_or_default();
    let key = catalogue::detail_key(id, &raw);
    if let Some(hit) = catalogue::lookup(&state, "event_detail", &key).await {
        return Ok(hit.respond(&headers));
    }
    let q: FieldsQuery = parse_query(&raw)?;
    let fields = parse_fields(q.fields.as_deref(), EVENT_FIELDS)?;
    let (state, viewer, fields) = (&state, viewer.as_ref(), &fields);
    catalogue::cached_answer(state, "event_detail", Some(key), &headers, || async move {
        let record = catalogue::record(state, id)
            .await?
            .filter(|r| catalogue::visible_to(r, viewer))
            .ok_or_else(|| ApiError::not_found("Event"))?;
        let counts = catalogue::counts_of(state, &record).await?;
        let view = catalogue::view(&record, counts.get(&id), &state.config.public_base_url);
        Ok(Fresh {
            rendered: Rendered::new(&catalogue::to_value(view, fields.as_deref()), None)?,
            keep: record.event.status != DRAFT,
        })
    })
    .await
}

/// Live availability of an event (never more than 1 s stale).
#[utoipa::path(get, path = "/events/{id}/availability", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "`{eventId, ticketTypes: [{id, available}], totalAvailable}`", body = super::model::Availability),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such event"),
    ))]
async fn get_event_availability(
    State(state): State<AppState>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    let key = catalogue::availability_key(id);
    if let Some(hit) = catalogue::lookup(&state, "event_availability", &key).await {
        return Ok(hit.respond(&headers));
    }
    let (state, viewer) = (&state, viewer.as_ref());
    catalogue::cached_answer(
        state,
        "event_availability",
        Some(key),
        &headers,
        || async move {
            let record = catalogue::record(state, id)
                .await?
                .filter(|r| catalogue::visible_to(r, viewer))
                .ok_or_else(|| ApiError::not_found("Event"))?;
            let counts = catalogue::counts_of(state, &record).await?;
            let view = catalogue::view(&record, counts.get(&id), &state.config.public_base_url);
            Ok(Fresh {
                rendered: Rendered::new(&catalogue::availability(&view), None)?,
                keep: record.event.status != DRAFT,
            })
        },
    )
    .await
}

/// Largest price (minor units): keeps every sum far from overflow.
const MAX_PRICE: i64 = 1_000_000_000_000;
/// Largest capacity of a ticket type or an event.
const MAX_SEATS: i64 = 10_000_000;

fn check_text(v: &mut Validator, field: &str, value: &str, min: usize, max: usize) {
    let n = value.trim().chars().count();
    v.check(
        (min..=max).contains(&n),
        field,
        &format!("must be {min} to {max} characters"),
    );
}

fn check_tags(v: &mut Validator, tags: &[String]) -> String {
    v.check(tags.len() <= 20, "tags", "at most 20 tags");
    for (i, t) in tags.iter().enumerate() {
        check_text(v, &format!("tags.{i}"), t, 1, 50);
    }
    let clean: Vec<&str> = tags.iter().map(|t| t.trim()).collect();
    serde_json::to_string(&clean).unwrap_or_else(|_| "[]".into())
}

fn check_currency(v: &mut Validator, raw: &str) -> String {
    let c = raw.trim().to_ascii_uppercase();
    v.check(
        c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()),
        "currency",
        "must be a 3-letter ISO 4217 code",
    );
    c
}

fn check_kind(v: &mut Validator, field: &str, kind: Option<&str>) -> String {
    let kind = kind.unwrap_or("general").to_string();
    v.check(
        KINDS.contains(&kind.as_str()),
        field,
        "must be general, vip, premium, early_bird or custom",
    );
    kind
}

fn check_type(v: &mut Validator, prefix: &str, t: &TicketTypeBody) -> NewTicketType {
    check_text(v, &format!("{prefix}name"), &t.name, 1, 100);
    let kind = check_kind(v, &format!("{prefix}kind"), t.kind.as_deref());
    v.check(
        (0..=MAX_PRICE).contains(&t.price),
        &format!("{prefix}price"),
        "must be from 0 to 1000000000000",
    );
    v.check(
        (1..=MAX_SEATS).contains(&t.capacity),
        &format!("{prefix}capacity"),
        "must be from 1 to 10000000",
    );
    let max = t.max_per_order.unwrap_or(10);
    v.check(
        max >= 1,
        &format!("{prefix}maxPerOrder"),
        "must be at least 1",
    );
    if let (Some(a), Some(b)) = (t.sales_start_at, t.sales_end_at) {
        v.check(
            a < b,
            &format!("{prefix}salesEndAt"),
            "must be after salesStartAt",
        );
    }
    NewTicketType {
        name: t.name.trim().to_string(),
        kind,
        price: t.price,
        capacity: t.capacity,
        sales_start_at: t.sales_start_at,
        sales_end_at: t.sales_end_at,
        max_per_order: max,
    }
}

/// The event of a write, read fresh from the database; only its owner or an admin may change it.
async fn owned_event(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<EventRecord> {
    let record = state
        .store
        .event_record(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    if !(user.is_admin() || record.event.organizer_id == user.id) {
        return Err(ApiError::forbidden());
    }
    Ok(record)
}

/// The fresh view of an event after a write.
async fn fresh_view(state: &AppState, id: Uuid) -> ApiResult<EventView> {
    let record = state
        .store
        .event_record(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let mut views = catalogue::views(state, std::slice::from_ref(&record)).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("event {id} vanished")))
}

/// Invalidates every cached catalogue answer and tells availability streams to look again.
async fn after_write(state: &AppState, id: Uuid, availability_changed: bool) {
    state.cache.invalidate().await;
    if availability_changed {
        state.bus.publish("availability", id.to_string()).await;
    }
}

/// Creates an event (ORGANIZER or ADMIN), with its ticket types.
#[utoipa::path(post, path = "/events", tag = "events", request_body = CreateEventBody,
    responses(
        (status = 201, description = "The event", body = EventView),
        (status = 400, description = "Invalid body"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "`ORGANIZER_NOT_APPROVED` for a USER; `FORBIDDEN` for `featured` from a non-admin"),
    ))]
async fn create_event(
    State(state): State<AppState>,
    OrganizerUser(user): OrganizerUser,
    ApiJson(body): ApiJson<CreateEventBody>,
) -> ApiResult<ApiResponse<EventView>> {
    if body.featured.is_some() && !user.is_admin() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only admins may feature events",
        ));
    }
    let now = Utc::now();
    let mut v = Validator::new();
    check_text(&mut v, "title", &body.title, 3, 200);
    check_text(&mut v, "description", &body.description, 1, 10_000);
    check_text(&mut v, "category", &body.category, 1, 50);
    check_text(&mut v, "location", &body.location, 1, 200);
    if let Some(venue) = &body.venue {
        check_text(&mut v, "venue", venue, 1, 200);
    }
    let tags = check_tags(&mut v, body.tags.as_deref().unwrap_or_default());
    v.check(body.starts_at > now, "startsAt", "must be in the future");
    if let Some(end) = body.ends_at {
        v.check(end > body.starts_at, "endsAt", "must be after startsAt");
    }
    let currency = check_currency(
        &mut v,
        body.currency
            .as_deref()
            .unwrap_or(&state.config.default_currency),
    );
    let status = match body.status.as_deref() {
        None => DRAFT,
        Some(s) if s.eq_ignore_ascii_case(DRAFT) => DRAFT,
        Some(s) if s.eq_ignore_ascii_case(PUBLISHED) => PUBLISHED,
        Some(_) => {
            v.add("status", "must be DRAFT or PUBLISHED");
            DRAFT
        }
    };
    let mut types = Vec::new();
    let mut cap = None;
    match &body.ticket_types {
        Some(list) => {
            v.check(list.len() <= 50, "ticketTypes", "at most 50 ticket types");
            for (i, t) in list.iter().enumerate() {
                types.push(check_type(&mut v, &format!("ticketTypes.{i}."), t));
            }
            v.check(
                body.price.is_none(),
                "price",
                "give either ticketTypes or price with totalTickets",
            );
            if let Some(total) = body.total_tickets {
                v.check(
                    (1..=MAX_SEATS).contains(&total),
                    "totalTickets",
                    "must be from 1 to 10000000",
                );
                cap = Some(total);
            }
        }
        None => match (body.price, body.total_tickets) {
            (Some(price), Some(total)) => {
                v.check(
                    (0..=MAX_PRICE).contains(&price),
                    "price",
                    "must be from 0 to 1000000000000",
                );
                v.check(
                    (1..=MAX_SEATS).contains(&total),
                    "totalTickets",
                    "must be from 1 to 10000000",
                );
                types.push(NewTicketType {
                    name: "General Admission".into(),
                    kind: "general".into(),
                    price,
                    capacity: total,
                    sales_start_at: None,
                    sales_end_at: None,
                    max_per_order: 10,
                });
            }
            (Some(_), None) => {
                v.add("totalTickets", "is required with price");
            }
            (None, Some(_)) => {
                v.add("price", "is required with totalTickets");
            }
            (None, None) => {}
        },
    }
    v.finish()?;
    let event = EventRow {
        id: Uuid::now_v7(),
        organizer_id: user.id,
        title: body.title.trim().to_string(),
        description: body.description.trim().to_string(),
        category: body.category.trim().to_string(),
        tags,
        venue: body.venue.map(|s| s.trim().to_string()),
        location: body.location.trim().to_string(),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        image_url: None,
        featured: body.featured.unwrap_or(false),
        status: status.to_string(),
        currency,
        total_tickets: cap,
        sold: 0,
        held: 0,
        min_price: None,
        cancel_reason: None,
        published_at: (status == PUBLISHED).then_some(now),
        created_at: now,
        updated_at: now,
    };
    state.store.insert_event(&event, &types).await?;
    after_write(&state, event.id, false).await;
    let view = fresh_view(&state, event.id).await?;
    Ok(ApiResponse::created(view).message("Event created"))
}

/// Changes an event's own fields (owner or ADMIN).
#[utoipa::path(patch, path = "/events/{id}", tag = "events", request_body = UpdateEventBody,
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 400, description = "Invalid body"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not the owner; `featured` from a non-admin"),
        (status = 404, description = "No such event"),
        (status = 409, description = "`totalTickets` below sold + held; currency after sales; a cancelled or completed event"),
    ))]
async fn update_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateEventBody>,
) -> ApiResult<ApiResponse<EventView>> {
    let record = owned_event(&state, &user, id).await?;
    if body.featured.is_some() && !user.is_admin() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only admins may feature events",
        ));
    }
    let mut e = record.event.clone();
    if e.status == CANCELLED || e.status == COMPLETED {
        return Err(ApiError::conflict(format!(
            "A {} event cannot be changed",
            e.status.to_lowercase()
        )));
    }
    let mut v = Validator::new();
    if let Some(t) = &body.title {
        check_text(&mut v, "title", t, 3, 200);
        e.title = t.trim().to_string();
    }
    if let Some(t) = &body.description {
        check_text(&mut v, "description", t, 1, 10_000);
        e.description = t.trim().to_string();
    }
    if let Some(t) = &body.category {
        check_text(&mut v, "category", t, 1, 50);
        e.category = t.trim().to_string();
    }
    if let Some(t) = &body.location {
        check_text(&mut v, "location", t, 1, 200);
        e.location = t.trim().to_string();
    }
    if let Some(venue) = &body.venue {
        if let Some(t) = venue {
            check_text(&mut v, "venue", t, 1, 200);
        }
        e.venue = venue.as_ref().map(|s| s.trim().to_string());
    }
    if let Some(tags) = &body.tags {
        e.tags = check_tags(&mut v, tags);
    }
    if let Some(start) = body.starts_at {
        v.check(start > Utc::now(), "startsAt", "must be in the future");
        e.starts_at = start;
    }
    if let Some(end) = body.ends_at {
        e.ends_at = end;
    }
    if let Some(end) = e.ends_at
        && (body.starts_at.is_some() || body.ends_at.is_some())
    {
        v.check(end > e.starts_at, "endsAt", "must be after startsAt");
    }
    if let Some(c) = &body.currency {
        e.currency = check_currency(&mut v, c);
    }
    if let Some(f) = body.featured {
        e.featured = f;
    }
    if let Some(Some(total)) = body.total_tickets {
        v.check(
            (0..=MAX_SEATS).contains(&total),
            "totalTickets",
            "must be from 0 to 10000000",
        );
    }
    v.finish()?;
    if e.currency != record.event.currency && state.store.event_has_bookings(id).await? {
        return Err(ApiError::conflict(
            "The currency cannot change once tickets have been booked",
        ));
    }
    e.updated_at = Utc::now();
    match state
        .store
        .update_event(&record.event, &e, body.total_tickets)
        .await
    {
        Ok(_) => {}
        Err(err) if is_check_violation(&err) => {
            return Err(ApiError::conflict(
                "totalTickets cannot be below the tickets already sold and held",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    after_write(&state, id, body.total_tickets.is_some()).await;
    Ok(ApiResponse::ok(fresh_view(&state, id).await?).message("Event updated"))
}

/// Publishes a draft (owner or ADMIN).
#[utoipa::path(post, path = "/events/{id}/publish", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The published event", body = EventView),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not the owner"),
        (status = 404, description = "No such event"),
        (status = 409, description = "`INVALID_STATE`: not a draft"),
    ))]
async fn publish_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<EventView>> {
    owned_event(&state, &user, id).await?;
    if !state.store.publish_event(id, Utc::now()).await? {
        return Err(ApiError::invalid_state("Only a draft can be published"));
    }
    after_write(&state, id, true).await;
    Ok(ApiResponse::ok(fresh_view(&state, id).await?).message("Event published"))
}

/// Cancels an event (owner or ADMIN).
#[utoipa::path(post, path = "/events/{id}/cancel", tag = "events", request_body = CancelEventBody,
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The cancelled event", body = EventView),
        (status = 400, description = "Invalid body"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not the owner"),
        (status = 404, description = "No such event"),
        (status = 409, description = "`INVALID_STATE`: already cancelled or completed"),
    ))]
async fn cancel_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CancelEventBody>,
) -> ApiResult<ApiResponse<EventView>> {
    let mut v = Validator::new();
    check_text(&mut v, "reason", &body.reason, 1, 500);
    v.finish()?;
    owned_event(&state, &user, id).await?;
    if !state
        .store
        .cancel_event(id, body.reason.trim(), Utc::now())
        .await?
    {
        return Err(ApiError::invalid_state(
            "Only a draft or published event can be cancelled",
        ));
    }
    after_write(&state, id, true).await;
    Ok(ApiResponse::ok(fresh_view(&state, id).await?).message("Event cancelled"))
}

/// Deletes an event that has no bookings (owner or ADMIN).
#[utoipa::path(delete, path = "/events/{id}", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "Deleted (`data: null`)"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not the owner"),
        (status = 404, description = "No such event"),
        (status = 409, description = "The event has bookings: cancel it instead"),
    ))]
async fn delete_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<()>> {
    owned_event(&state, &user, id).await?;
    let has_bookings =
        || ApiError::conflict("The event has bookings and cannot be deleted; cancel it instead");
    match state.store.delete_event(id).await {
        Ok(true) => {}
        Ok(false) => return Err(has_bookings()),
        // A booking committed between the check and the delete.
        Err(e) if crate::store::is_foreign_key_violation(&e) => return Err(has_bookings()),
        Err(e) => return Err(e.into()),
    }
    after_write(&state, id, true).await;
    Ok(ApiResponse::ok(()).message("Event deleted"))
}

fn type_view(state: &AppState, view: &EventView, type_id: Uuid) -> ApiResult<TicketTypeView> {
    let _ = state;
    view.ticket_types
        .iter()
        .find(|t| t.id == type_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Ticket type"))
}

fn editable(record: &EventRecord) -> ApiResult<()> {
    if record.event.status == CANCELLED || record.event.status == COMPLETED {
        return Err(ApiError::conflict(format!(
            "A {} event cannot be changed",
            record.event.status.to_lowercase()
        )));
    }
    Ok(())
}

/// Adds a ticket type to an event (owner or ADMIN).
#[utoipa::path(post, path = "/events/{id}/ticket-types", tag = "events", request_body = TicketTypeBody,
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 201, description = "The ticket type", body = TicketTypeView),
        (status = 400, description = "Invalid body"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not the owner"),
        (status = 404, description = "No such event"),
        (status = 409, description = "A cancelled or completed event"),
    ))]
async fn create_ticket_type(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TicketTypeBody>,
) -> ApiResult<ApiResponse<TicketTypeView>> {
    let record = owned_event(&state, &user, id).await?;
    editable(&record)?;
    let mut v = Validator::new();
    let t = check_type(&mut v, "", &body);
    v.finish()?;
    let type_id = state.store.insert_ticket_type(id, &t, Utc::now()).await?;
    after_write(&state, id, true).await;
    let view = fresh_view(&state, id).await?;
    Ok(ApiResponse::created(type_view(&state, &view, type_id)?).message("Ticket type created"))
}

/// Changes a ticket type (owner or ADMIN); capacity not below sold + held.
#[utoipa::path(patch, path = "/events/{id}/ticket-types/{typeId}", tag = "events",
    request_body = UpdateTicketTypeBody,
    params(("id" = Uuid, Path, description = "Event id"), ("typeId" = Uuid, Path, description = "Ticket type id")),
    responses(
        (status = 200, description = "The ticket type", body = TicketTypeView),
        (status = 400, description = "Invalid body"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not the owner"),
        (status = 404, description = "No such event or ticket type"),
        (status = 409, description = "Capacity below sold + held"),
    ))]
async fn update_ticket_type(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, type_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<UpdateTicketTypeBody>,
) -> ApiResult<ApiResponse<TicketTypeView>> {
    let record = owned_event(&state, &user, id).await?;
    editable(&record)?;
    let mut t = record
        .types
        .iter()
        .find(|t| t.id == type_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Ticket type"))?;
    let mut v = Validator::new();
    let mut fields = Vec::new();
    if let Some(name) = &body.name {
        check_text(&mut v, "name", name, 1, 100);
        t.name = name.trim().to_string();
        fields.push(TicketTypeField::Name);
    }
    if let Some(kind) = &body.kind {
        t.kind = check_kind(&mut v, "kind", Some(kind));
        fields.push(TicketTypeField::Kind);
    }
    if let Some(price) = body.price {
        v.check(
            (0..=MAX_PRICE).contains(&price),
            "price",
            "must be from 0 to 1000000000000",
        );
        t.price = price;
        fields.push(TicketTypeField::Price);
    }
    if let Some(capacity) = body.capacity {
        v.check(
            (0..=MAX_SEATS).contains(&capacity),
            "capacity",
            "must be from 0 to 10000000",
        );
        t.capacity = capacity;
        fields.push(TicketTypeField::Capacity);
    }
    if let Some(max) = body.max_per_order {
        v.check(max >= 1, "maxPerOrder", "must be at least 1");
        t.max_per_order = max;
        fields.push(TicketTypeField::MaxPerOrder);
    }
    if let Some(s) = body.sales_start_at {
        t.sales_start_at = s;
        fields.push(TicketTypeField::SalesStartAt);
    }
    if let Some(s) = body.sales_end_at {
        t.sales_end_at = s;
        fields.push(TicketTypeField::SalesEndAt);
    }
    if let (Some(a), Some(b)) = (t.sales_start_at, t.sales_end_at) {
        v.check(a < b, "salesEndAt", "must be after salesStartAt");
    }
    v.finish()?;
    let ok = match state
        .store
        .update_ticket_type(&t, &fields, Utc::now())
        .await
    {
        Ok(ok) => ok,
        Err(e) if is_check_violation(&e) => false,
        Err(e) => return Err(e.into()),
    };
    if !ok {
        return Err(ApiError::conflict(
            "capacity cannot be below the tickets already sold and held",
        ));
    }
    after_write(&state, id, true).await;
    let view = fresh_view(&state, id).await?;
    Ok(ApiResponse::ok(type_view(&state, &view, type_id)?).message("Ticket type updated"))
}

/// Deletes a never-booked ticket type (owner or ADMIN).
#[utoipa::path(delete, path = "/events/{id}/ticket-types/{typeId}", tag = "events",
    params(("id" = Uuid, Path, description = "Event id"), ("typeId" = Uuid, Path, description = "Ticket type id")),
    responses(
        (status = 200, description = "Deleted (`data: null`)"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not the owner"),
        (status = 404, description = "No such event or ticket type"),
        (status = 409, description = "The ticket type has bookings"),
    ))]
async fn delete_ticket_type(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, type_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<ApiResponse<()>> {
    let record = owned_event(&state, &user, id).await?;
    if !record.types.iter().any(|t| t.id == type_id) {
        return Err(ApiError::not_found("Ticket type"));
    }
    if !state
        .store
        .delete_ticket_type(id, type_id, Utc::now())
        .await?
    {
        return Err(ApiError::conflict(
            "The ticket type has bookings and cannot be deleted",
        ));
    }
    after_write(&state, id, true).await;
    Ok(ApiResponse::ok(()).message("Ticket type deleted"))
}

async fn favorite(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    want: Option<bool>,
) -> ApiResult<ApiResponse<FavoriteState>> {
    catalogue::record(state, id)
        .await?
        .filter(|r| catalogue::visible_to(r, Some(user)))
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let favorited = state
        .store
        .set_favorite(user.id, id, want, Utc::now())
        .await?;
    Ok(ApiResponse::ok(FavoriteState { favorited }))
}

/// Toggles the event among the caller's favorites.
#[utoipa::path(post, path = "/events/{id}/favorite", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "`{favorited}`", body = FavoriteState),
        (status = 401, description = "Not authenticated"),
        (status = 404, description = "No such event"),
    ))]
async fn toggle_favorite(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<FavoriteState>> {
    favorite(&state, &user, id, None).await
}

/// Adds the event to the caller's favorites (idempotent).
#[utoipa::path(put, path = "/events/{id}/favorite", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "`{favorited: true}`", body = FavoriteState),
        (status = 401, description = "Not authenticated"),
        (status = 404, description = "No such event"),
    ))]
async fn set_favorite(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<FavoriteState>> {
    favorite(&state, &user, id, Some(true)).await
}

/// Removes the event from the caller's favorites (idempotent).
#[utoipa::path(delete, path = "/events/{id}/favorite", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "`{favorited: false}`", body = FavoriteState),
        (status = 401, description = "Not authenticated"),
        (status = 404, description = "No such event"),
    ))]
async fn clear_favorite(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<FavoriteState>> {
    favorite(&state, &user, id, Some(false)).await
}

/// The caller's favorite events (drafts excluded), paginated.
#[utoipa::path(get, path = "/user/favorites", tag = "events", params(PageQuery),
    responses(
        (status = 200, description = "A page of events", body = Vec<EventView>),
        (status = 400, description = "Invalid query"),
        (status = 401, description = "Not authenticated"),
    ))]
async fn list_favorites(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Response> {
    let page = Page::parse(q.page, q.limit, 20)?;
    let fields = parse_fields(q.fields.as_deref(), EVENT_FIELDS)?;
    let mut filter = ListFilter::public(Utc::now());
    filter.statuses = vec![PUBLISHED.into(), COMPLETED.into(), CANCELLED.into()];
    filter.only_unfinished = false;
    filter.favorited_by = Some(user.id);
    let req = ListRequest {
        filter,
        page,
        fields,
        public: false,
    };
    answer_list(&state, &headers, req, "favorites", None).await
}
