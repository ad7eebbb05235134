//! The catalogue's reads: event lists with search, filters, sorting and pagination, the featured
//! list, categories, one event and its availability. Public answers are cached and carry ETags.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::catalogue::{self, Fresh, IfNoneMatch, Rendered};
use super::model::{
    Availability, CategoryCount, EVENT_FIELDS, EventStatus, EventView, ListFilter, Sort,
    search_terms,
};
use super::requests::{FeaturedQuery, FieldsQuery, ListQuery};
use crate::cache::Tier;
use crate::http::extract::parse_query;
use crate::http::{
    ApiError, ApiPath, ApiQuery, ApiResult, ErrorCode, Meta, Page, Validator, parse_fields,
};
use crate::state::AppState;
use crate::users::model::Role;
use crate::users::{AuthUser, MaybeAuthUser};

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

/// A parsed list request: the filter, the page, the selection, and whether it is public
/// (cacheable: the same answer for every caller).
pub(super) struct ListRequest {
    pub(super) filter: ListFilter,
    pub(super) page: Page,
    pub(super) fields: Option<Vec<String>>,
    pub(super) public: bool,
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
        Some(raw) => match EventStatus::parse_any_case(raw) {
            Some(s) => Some(s),
            None => {
                v.add("status", "must be DRAFT, PUBLISHED, CANCELLED or COMPLETED");
                None
            }
        },
    };
    v.finish()?;
    if filter.from.is_some() {
        filter.statuses = vec![EventStatus::Published, EventStatus::Completed];
        filter.only_unfinished = false;
    }
    let role = viewer.map(|u| u.role);
    let public = match (status, role) {
        (None, _) => true,
        (Some(s), None | Some(Role::User)) => {
            if s != EventStatus::Published {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "Only organizers and admins may list events by status",
                ));
            }
            true
        }
        (Some(s), Some(role)) => {
            filter.statuses = vec![s];
            filter.only_unfinished = false;
            // An organizer sees only their own events by status, and the filters combine
            // (API.md §11.104): naming another organizer selects nothing. No account has the nil
            // id, so the intersection of the two organizers is written as that id.
            if role != Role::Admin
                && let Some(me) = viewer.map(|u| u.id)
            {
                filter.organizer_id = match filter.organizer_id {
                    Some(other) if other != me => Some(Uuid::nil()),
                    _ => Some(me),
                };
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
pub(super) async fn answer_list(
    state: &AppState,
    if_none_match: &IfNoneMatch,
    req: ListRequest,
    label: &'static str,
    raw_key: Option<String>,
) -> ApiResult<Response> {
    let key = req.public.then(|| {
        raw_key.unwrap_or_else(|| {
            let mut f = req.filter.clone();
            f.now = DateTime::<Utc>::UNIX_EPOCH;
            let hash = cache_key(&(&f, req.page.page, req.page.limit, &req.fields));
            catalogue::answer_key(&["list:", &hash])
        })
    });
    let (req, list_key) = (&req, key.as_deref());
    catalogue::cached_answer(state, label, key.clone(), if_none_match, || async move {
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
pub(super) fn raw_list_key(scope: &str, raw: &str) -> Option<String> {
    if raw.contains("status") {
        return None;
    }
    Some(if scope.len() + raw.len() <= 200 {
        catalogue::answer_key(&["raw:", scope, "?", raw])
    } else {
        catalogue::answer_key(&["raw:", &cache_key(&(scope, raw))])
    })
}

/// Serves a public list from the kept answer of the same query string, before any parsing.
async fn kept_list(
    state: &AppState,
    if_none_match: &IfNoneMatch,
    key: Option<&String>,
) -> Option<Response> {
    let hit = catalogue::lookup(state, "events_list", key?).await?;
    Some(hit.respond(if_none_match))
}

/// Lists events (published and upcoming for the public), with search, filters and sorting.
#[utoipa::path(get, path = "/events", tag = "events", params(ListQuery),
    responses(
        (status = 200, description = "A page of events (`meta` included); `ETag`, `Cache-Control: no-cache`", body = Vec<EventView>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 403, description = "`status` other than PUBLISHED from a user or anonymous caller"),
    ))]
pub(super) async fn list_events(
    State(state): State<AppState>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    if_none_match: IfNoneMatch,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let raw = raw.unwrap_or_default();
    let key = raw_list_key("", &raw);
    if let Some(hit) = kept_list(&state, &if_none_match, key.as_ref()).await {
        return Ok(hit);
    }
    let q: ListQuery = parse_query(&raw)?;
    let req = parse_list(&q, viewer.as_ref())?;
    answer_list(&state, &if_none_match, req, "events_list", key).await
}

/// Lists published upcoming events of one category (case-insensitive).
#[utoipa::path(get, path = "/events/category/{category}", tag = "events",
    params(("category" = String, Path, description = "Category"), ListQuery),
    responses(
        (status = 200, description = "A page of events", body = Vec<EventView>),
        (status = 304, description = "Not modified"),
    ))]
pub(super) async fn list_events_by_category(
    State(state): State<AppState>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    if_none_match: IfNoneMatch,
    ApiPath(category): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let raw = raw.unwrap_or_default();
    let key = raw_list_key(&format!("category/{category}"), &raw);
    if let Some(hit) = kept_list(&state, &if_none_match, key.as_ref()).await {
        return Ok(hit);
    }
    let mut q: ListQuery = parse_query(&raw)?;
    q.category = Some(category);
    let req = parse_list(&q, viewer.as_ref())?;
    answer_list(&state, &if_none_match, req, "events_list", key).await
}

/// Featured, published, upcoming events (a bare array, no `meta`).
#[utoipa::path(get, path = "/events/featured", tag = "events", params(FeaturedQuery),
    responses(
        (status = 200, description = "Featured events", body = Vec<EventView>),
        (status = 304, description = "Not modified"),
    ))]
pub(super) async fn list_featured_events(
    State(state): State<AppState>,
    if_none_match: IfNoneMatch,
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
    let key = catalogue::answer_key(&[&cache_key(&("featured", limit, &fields))]);
    let (state, filter, fields, list_key) = (&state, &filter, &fields, key.as_str());
    catalogue::cached_answer(
        state,
        "events_featured",
        Some(key.clone()),
        &if_none_match,
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
pub(super) async fn list_event_categories(
    State(state): State<AppState>,
    if_none_match: IfNoneMatch,
) -> ApiResult<Response> {
    if let Some(bytes) = state
        .cache
        .get("events_categories", Tier::Long, "categories")
        .await
        && let Some(r) = Rendered::from_bytes(bytes)
    {
        return Ok(r.respond(&if_none_match));
    }
    let generation = state.cache.generation();
    let categories = state.store.event_categories(Utc::now()).await?;
    let rendered = Rendered::new(&categories, None)?;
    state
        .cache
        .put(Tier::Long, "categories", generation, rendered.bytes())
        .await;
    Ok(rendered.respond(&if_none_match))
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
pub(super) async fn get_event(
    State(state): State<AppState>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    if_none_match: IfNoneMatch,
    ApiPath(id): ApiPath<Uuid>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    // Only answers everyone may see are kept (never a draft, nor a cancelled never-published
    // event), and those are the same for every caller (they
    // depend on the query string alone), so a kept answer is served before anything else.
    let raw = raw.unwrap_or_default();
    let key = catalogue::detail_key(id, &raw);
    if let Some(hit) = catalogue::lookup(&state, "event_detail", &key).await {
        return Ok(hit.respond(&if_none_match));
    }
    let q: FieldsQuery = parse_query(&raw)?;
    let fields = parse_fields(q.fields.as_deref(), EVENT_FIELDS)?;
    let shape = |view| catalogue::to_value(view, fields.as_deref());
    let label = ("event_detail", key);
    live_event_answer(&state, viewer.as_ref(), &if_none_match, id, label, shape).await
}

/// Live availability of an event (never more than 1 s stale).
#[utoipa::path(get, path = "/events/{id}/availability", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "`{eventId, ticketTypes: [{id, available}], totalAvailable}`", body = Availability),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such event"),
    ))]
pub(super) async fn get_event_availability(
    State(state): State<AppState>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    if_none_match: IfNoneMatch,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    let key = catalogue::availability_key(id);
    if let Some(hit) = catalogue::lookup(&state, "event_availability", &key).await {
        return Ok(hit.respond(&if_none_match));
    }
    let shape = |view: EventView| catalogue::availability(&view);
    let label = ("event_availability", key);
    live_event_answer(&state, viewer.as_ref(), &if_none_match, id, label, shape).await
}

/// `shape` of the live view of the event `id` as `viewer` may see it, kept under the labelled
/// key when everyone may see the event (only such answers are the same for every caller).
async fn live_event_answer<T: serde::Serialize>(
    state: &AppState,
    viewer: Option<&AuthUser>,
    if_none_match: &IfNoneMatch,
    id: Uuid,
    (label, key): (&'static str, String),
    shape: impl Fn(EventView) -> T,
) -> ApiResult<Response> {
    let shape = &shape;
    catalogue::cached_answer(state, label, Some(key), if_none_match, || async move {
        let record = catalogue::visible_record(state, id, viewer).await?;
        let view = catalogue::live_view(state, &record).await?;
        Ok(Fresh {
            rendered: Rendered::new(&shape(view), None)?,
            keep: catalogue::visible_to(&record, None),
        })
    })
    .await
}
