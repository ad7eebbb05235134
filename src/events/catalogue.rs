//! Catalogue reads: turning stored rows and live counts into views, the two cache levels, and
//! the answers with `ETag` / `Cache-Control: no-cache` / 304.
//!
//! Level one keeps what queries return (events with their ticket types) for the tier's TTL,
//! shared through Redis when configured; counts are never taken from it. Level two keeps the
//! finished answer (with live counts) for one second on this instance, which is what makes hot
//! GETs cheap while counts stay at most one second old (API.md §71).

use std::collections::HashMap;
use std::convert::Infallible;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::{
    Availability, EventRecord, EventStatus, EventView, ListFilter, LiveCounts, TicketTypeView,
    TypeAvailability,
};
use crate::cache::Tier;
use crate::http::{ApiError, ApiResult, Meta, Page, select_fields, timestamp_tail};
use crate::state::AppState;

/// Builds the public view of an event from its record and live counts.
pub fn view(record: &EventRecord, counts: Option<&LiveCounts>, base_url: &str) -> EventView {
    let e = &record.event;
    let event_remaining = e.total_tickets.map(|cap| {
        let (sold, held) = counts.map(|c| c.event).unwrap_or((e.sold, e.held));
        (cap - sold - held).max(0)
    });
    let mut sold_sum = 0;
    let mut held_sum = 0;
    let mut remaining_sum = 0;
    let mut capacity_sum = 0;
    let ticket_types = record
        .types
        .iter()
        .map(|t| {
            let (sold, held) = counts
                .and_then(|c| c.types.get(&t.id).copied())
                .unwrap_or((t.sold, t.held));
            let remaining = (t.capacity - sold - held).max(0);
            sold_sum += sold;
            held_sum += held;
            remaining_sum += remaining;
            capacity_sum += t.capacity;
            TicketTypeView {
                id: t.id,
                name: t.name.clone(),
                kind: t.kind.clone(),
                price: t.price,
                capacity: t.capacity,
                sold,
                held,
                available: event_remaining.map_or(remaining, |r| remaining.min(r)),
                sales_start_at: t.sales_start_at,
                sales_end_at: t.sales_end_at,
                max_per_order: t.max_per_order,
            }
        })
        .collect();
    EventView {
        id: e.id,
        title: e.title.clone(),
        description: e.description.clone(),
        category: e.category.clone(),
        tags: serde_json::from_str(&e.tags).unwrap_or_default(),
        venue: e.venue.clone(),
        location: e.location.clone(),
        timezone: e.timezone.clone(),
        starts_at: e.starts_at,
        ends_at: e.ends_at,
        image_url: e.image_url.as_deref().map(|u| absolute_url(base_url, u)),
        featured: e.featured,
        status: e.status,
        currency: e.currency.clone(),
        organizer_id: e.organizer_id,
        ticket_types,
        total_tickets: e.total_tickets.unwrap_or(capacity_sum),
        tickets_sold: sold_sum,
        tickets_held: held_sum,
        tickets_available: event_remaining.map_or(remaining_sum, |r| remaining_sum.min(r)),
        min_price: e.min_price,
        cancel_reason: e.cancel_reason.clone(),
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

/// A stored path made absolute with `PUBLIC_BASE_URL` (absolute URLs pass through).
pub fn absolute_url(base_url: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_string()
    } else {
        format!("{}{}", base_url.trim_end_matches('/'), path)
    }
}

/// Availability of an event from its view (§14, §59).
pub fn availability(view: &EventView) -> Availability {
    Availability {
        event_id: view.id,
        ticket_types: view
            .ticket_types
            .iter()
            .map(|t| TypeAvailability {
                id: t.id,
                available: t.available,
            })
            .collect(),
        total_available: view.tickets_available,
    }
}

/// Whether a caller may see an event: drafts only by their owner and admins.
pub fn visible_to(record: &EventRecord, viewer: Option<&crate::users::AuthUser>) -> bool {
    // A draft stays private, and so does a draft that was cancelled without ever being published.
    let private = match record.event.status {
        EventStatus::Draft => true,
        EventStatus::Cancelled => record.event.published_at.is_none(),
        EventStatus::Published | EventStatus::Completed => false,
    };
    !private || viewer.is_some_and(|u| u.is_admin() || u.id == record.event.organizer_id)
}

/// Views with live counts for a set of records.
pub async fn views(state: &AppState, records: &[EventRecord]) -> ApiResult<Vec<EventView>> {
    let ids: Vec<Uuid> = records.iter().map(|r| r.event.id).collect();
    let capped: Vec<Uuid> = records
        .iter()
        .filter(|r| r.event.total_tickets.is_some())
        .map(|r| r.event.id)
        .collect();
    let counts = state.store.live_counts(&ids, &capped, Utc::now()).await?;
    let base = &state.config.public_base_url;
    Ok(records
        .iter()
        .map(|r| view(r, counts.get(&r.event.id), base))
        .collect())
}

/// An event as sent: the whole view (fields in contract order), or the `fields=` selection.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Shaped {
    /// Every field.
    Full(Box<EventView>),
    /// Only the selected top-level fields.
    Selected(serde_json::Value),
}

/// A view reduced to the `fields=` selection when given.
pub fn to_value(view: EventView, fields: Option<&[String]>) -> Shaped {
    match fields {
        Some(f) => Shaped::Selected(select_fields(
            serde_json::to_value(&view).unwrap_or_default(),
            f,
        )),
        None => Shaped::Full(Box::new(view)),
    }
}

/// An event record from the level-one cache or the database.
pub async fn record(state: &AppState, id: Uuid) -> ApiResult<Option<EventRecord>> {
    let key = format!("event:{id}");
    if let Some(bytes) = state.cache.get("event", Tier::Medium, &key).await
        && let Ok(record) = serde_json::from_slice::<Option<EventRecord>>(&bytes)
    {
        return Ok(record);
    }
    let generation = state.cache.generation();
    let record = state.store.event_record(id).await?;
    if let Ok(bytes) = serde_json::to_vec(&record) {
        state
            .cache
            .put(Tier::Medium, &key, generation, Bytes::from(bytes))
            .await;
    }
    Ok(record)
}

/// The record of event `id` if `viewer` may see it; 404 when there is no such event or it is
/// hidden from `viewer`.
pub async fn visible_record(
    state: &AppState,
    id: Uuid,
    viewer: Option<&crate::users::AuthUser>,
) -> ApiResult<EventRecord> {
    record(state, id)
        .await?
        .filter(|r| visible_to(r, viewer))
        .ok_or_else(|| ApiError::not_found("Event"))
}

/// The view of one record with its live counts.
pub async fn live_view(state: &AppState, record: &EventRecord) -> ApiResult<EventView> {
    let counts = counts_of(state, record).await?;
    Ok(view(
        record,
        counts.get(&record.event.id),
        &state.config.public_base_url,
    ))
}

/// A page of event views and the total. Counts are live either way: a page read from the
/// database carries them already (read in the same queries); a page from the level-one cache
/// gets them from one live-count query.
pub async fn list_views(
    state: &AppState,
    filter: &ListFilter,
    page: Page,
    cache_key: Option<&str>,
) -> ApiResult<(Vec<EventView>, u64)> {
    let (records, total, live) = list_records(state, filter, page, cache_key).await?;
    let views = if live {
        let base = &state.config.public_base_url;
        records.iter().map(|r| view(r, None, base)).collect()
    } else {
        views(state, &records).await?
    };
    Ok((views, total))
}

/// A page of event records, the total, and whether the records came from the database just now
/// (their counts live) rather than from the level-one cache.
async fn list_records(
    state: &AppState,
    filter: &ListFilter,
    page: Page,
    cache_key: Option<&str>,
) -> ApiResult<(Vec<EventRecord>, u64, bool)> {
    let limit = i64::from(page.limit);
    let Some(key) = cache_key else {
        let (records, total) = state
            .store
            .list_events(filter, limit, page.offset())
            .await?;
        return Ok((records, total, true));
    };
    let key = format!("list:{key}");
    let mut found = None;
    if let Some(bytes) = state.cache.get("events_list", Tier::Long, &key).await {
        found = serde_json::from_slice::<(Vec<EventRecord>, u64)>(&bytes).ok();
    }
    let live = found.is_none();
    let (mut records, mut total) = match found {
        Some(v) => v,
        None => {
            let generation = state.cache.generation();
            let v = state
                .store
                .list_events(filter, limit, page.offset())
                .await?;
            if state.cache.asked_before(&key)
                && let Ok(bytes) = serde_json::to_vec(&v)
            {
                state
                    .cache
                    .put(Tier::Long, &key, generation, Bytes::from(bytes))
                    .await;
            }
            v
        }
    };
    if filter.only_unfinished {
        // An event that ended while its page sat in the cache leaves the list at once, before
        // the COMPLETED task runs and invalidates the page.
        let now = Utc::now();
        let before = records.len();
        records.retain(|r| r.event.finishes_at() > now);
        total = total.saturating_sub((before - records.len()) as u64);
    }
    Ok((records, total, live))
}

/// A finished answer: its strong ETag and the envelope up to the timestamp's value.
#[derive(Debug, Clone)]
pub struct Rendered(Bytes);

impl Rendered {
    /// Serializes `data` (and `meta`) into the envelope and tags it.
    pub fn new(data: &impl Serialize, meta: Option<Meta>) -> ApiResult<Self> {
        let mut body = BytesMut::with_capacity(4096);
        body.put_slice(br#"{"success":true,"data":"#);
        serde_json::to_writer((&mut body).writer(), data).map_err(ApiError::internal)?;
        body.put_slice(br#","message":"OK""#);
        if let Some(meta) = meta {
            body.put_slice(br#","meta":"#);
            serde_json::to_writer((&mut body).writer(), &meta).map_err(ApiError::internal)?;
        }
        body.put_slice(br#","timestamp":""#);
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", hex::encode(&digest[..16]));
        let mut out = BytesMut::with_capacity(etag.len() + 1 + body.len());
        out.put_slice(etag.as_bytes());
        out.put_u8(b'\n');
        out.put_slice(&body);
        Ok(Self(out.freeze()))
    }

    /// Wraps bytes made by [`Rendered::new`] (from the cache).
    pub fn from_bytes(bytes: Bytes) -> Option<Self> {
        bytes.iter().position(|b| *b == b'\n').map(|_| Self(bytes))
    }

    /// The bytes to cache.
    pub fn bytes(&self) -> Bytes {
        self.0.clone()
    }

    fn split(&self) -> (Bytes, Bytes) {
        let at = self.0.iter().position(|b| *b == b'\n').unwrap_or(0);
        (self.0.slice(..at), self.0.slice(at + 1..))
    }

    /// The answer: 304 when `If-None-Match` names the tag, else 200 with the body. Built
    /// directly on the kept bytes (the tag shares them): the timestamp is the only work.
    pub fn respond(&self, if_none_match: &IfNoneMatch) -> Response {
        let (etag, prefix) = self.split();
        let matched = if_none_match.matches(&etag);
        let mut response = if matched {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            Response::new(Body::new(KeptBody([Some(prefix), Some(timestamp_tail())])))
        };
        // Room for every header the answer leaves with (these, the middleware's, the length):
        // the map otherwise grows, and is copied, twice on the way.
        *response.headers_mut() = HeaderMap::with_capacity(ANSWER_HEADERS);
        let headers = response.headers_mut();
        headers.insert(
            header::ETAG,
            HeaderValue::from_maybe_shared(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if !matched {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        response
    }
}

/// A kept answer's body: the kept bytes up to the timestamp's value, then the timestamp and the
/// envelope's end. Two frames, so that the kept bytes go out as they are (hyper writes both in
/// one vectored write) instead of being copied into a new buffer for every request, 16 KB for a
/// page of the list.
struct KeptBody([Option<Bytes>; 2]);

impl http_body::Body for KeptBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let next = self.get_mut().0.iter_mut().find_map(Option::take);
        std::task::Poll::Ready(next.map(|bytes| Ok(http_body::Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let len = self.0.iter().flatten().map(Bytes::len).sum::<usize>();
        http_body::SizeHint::with_exact(len as u64)
    }
}

/// How many headers a kept answer leaves with, at most: its own three, `Vary` twice, the request
/// id, the six security headers (HSTS in production), and `Content-Length`.
const ANSWER_HEADERS: usize = 16;

/// The request's `If-None-Match`: all of its headers that a kept answer depends on. (axum's
/// `HeaderMap` extractor copies the whole map, on every cached read.)
#[derive(Debug, Default)]
pub struct IfNoneMatch(Option<HeaderValue>);

impl IfNoneMatch {
    /// The `If-None-Match` of `headers`.
    pub fn of(headers: &HeaderMap) -> Self {
        Self(headers.get(header::IF_NONE_MATCH).cloned())
    }

    /// Whether it matches the tag (weak comparison, as RFC 9110 says for it).
    fn matches(&self, etag: &[u8]) -> bool {
        let Some(value) = self.0.as_ref().and_then(|v| v.to_str().ok()) else {
            return false;
        };
        value.split(',').map(str::trim).any(|candidate| {
            candidate == "*" || candidate.trim_start_matches("W/").as_bytes() == etag
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::of(&parts.headers))
    }
}

/// A rendered answer and whether it may be kept for every caller (a draft's may not).
#[derive(Debug)]
pub struct Fresh {
    /// The answer.
    pub rendered: Rendered,
    /// Whether every caller would get the same answer.
    pub keep: bool,
}

impl Fresh {
    /// An answer the same for everyone.
    pub fn shared(rendered: Rendered) -> Self {
        Self {
            rendered,
            keep: true,
        }
    }
}

/// Serves from level two (the finished answer, under a second) or renders with `render`; `key`
/// None means "never kept" (a per-caller answer). Concurrent misses of one key render once: the
/// others wait for that answer instead of all hitting the database when an entry expires.
pub async fn cached_answer<F, Fut>(
    state: &AppState,
    label: &'static str,
    key: Option<String>,
    if_none_match: &IfNoneMatch,
    render: F,
) -> ApiResult<Response>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ApiResult<Fresh>>,
{
    // Boxed: a miss reads the store, and the handler's future would otherwise carry that read's
    // whole state machine, copied on every request, the kept answers' included.
    Box::pin(async move {
        let Some(key) = key else {
            return Ok(render().await?.rendered.respond(if_none_match));
        };
        let own: std::sync::Mutex<Option<ApiResult<Rendered>>> = std::sync::Mutex::new(None);
        let kept = state
            .cache
            .live_get_or_insert(label, &key, async {
                let outcome = render().await;
                let mut slot = own
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match outcome {
                    Ok(Fresh {
                        rendered,
                        keep: true,
                    }) => Some(rendered.bytes()),
                    Ok(Fresh { rendered, .. }) => {
                        *slot = Some(Ok(rendered));
                        None
                    }
                    Err(e) => {
                        *slot = Some(Err(e));
                        None
                    }
                }
            })
            .await;
        if let Some(rendered) = kept.and_then(Rendered::from_bytes) {
            return Ok(rendered.respond(if_none_match));
        }
        let mine = own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match mine {
            Some(result) => Ok(result?.respond(if_none_match)),
            // The render this request waited for was not kept (an error, or a draft): its own.
            None => Ok(render().await?.rendered.respond(if_none_match)),
        }
    })
    .await
}

/// A finished answer kept in level two, if any.
pub async fn lookup(state: &AppState, label: &'static str, key: &str) -> Option<Rendered> {
    let bytes = state.cache.live_get(label, key).await?;
    Rendered::from_bytes(bytes)
}

/// Key of a kept answer: `answer:` and `parts`. Written out rather than with `format!`, whose
/// machinery (a `Uuid`'s `Display` included) cost ~1,500 instructions on every cached read.
pub fn answer_key(parts: &[&str]) -> String {
    const PREFIX: &str = "answer:";
    let mut key =
        String::with_capacity(PREFIX.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    key.push_str(PREFIX);
    for part in parts {
        key.push_str(part);
    }
    key
}

/// Key of a kept detail answer.
/// (`raw` is the request's query string: the answer depends on nothing else.)
pub fn detail_key(id: Uuid, raw: &str) -> String {
    let mut buf = Uuid::encode_buffer();
    let id = id.hyphenated().encode_lower(&mut buf);
    if raw.len() <= 200 {
        answer_key(&["event:", id, "?", raw])
    } else {
        let digest = hex::encode(&Sha256::digest(raw.as_bytes())[..16]);
        answer_key(&["event:", id, "#", &digest])
    }
}

/// Key of a kept availability answer.
pub fn availability_key(id: Uuid) -> String {
    let mut buf = Uuid::encode_buffer();
    answer_key(&["availability:", id.hyphenated().encode_lower(&mut buf)])
}

/// Forgets the kept availability and full detail answers of an event on this instance.
pub async fn forget_counts(state: &AppState, id: Uuid) {
    for key in [availability_key(id), detail_key(id, "")] {
        state.cache.forget_local(&key).await;
    }
}

/// Live counts of one event keyed for [`view`].
async fn counts_of(state: &AppState, record: &EventRecord) -> ApiResult<HashMap<Uuid, LiveCounts>> {
    let id = record.event.id;
    let capped: &[Uuid] = if record.event.total_tickets.is_some() {
        &[id]
    } else {
        &[]
    };
    Ok(state.store.live_counts(&[id], capped, Utc::now()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::model::{EventRow, TicketTypeRow};

    fn record(cap: Option<i64>) -> EventRecord {
        let now = Utc::now();
        let id = Uuid::now_v7();
        let t = |cap: i64| TicketTypeRow {
            id: Uuid::now_v7(),
            event_id: id,
            name: "t".into(),
            kind: "general".into(),
            price: 100,
            capacity: cap,
            sold: 0,
            held: 0,
            sales_start_at: None,
            sales_end_at: None,
            max_per_order: 10,
            position: 0,
            created_at: now,
            updated_at: now,
        };
        EventRecord {
            event: EventRow {
                id,
                organizer_id: Uuid::now_v7(),
                title: "x".into(),
                description: "x".into(),
                category: "music".into(),
                tags: "[]".into(),
                venue: None,
                location: "Lagos".into(),
                timezone: "Africa/Lagos".into(),
                starts_at: now,
                ends_at: None,
                image_url: Some("/uploads/a.png".into()),
                featured: false,
                status: EventStatus::Published,
                currency: "NGN".into(),
                total_tickets: cap,
                sold: 0,
                held: 0,
                min_price: Some(100),
                cancel_reason: None,
                published_at: None,
                created_at: now,
                updated_at: now,
            },
            types: vec![t(10), t(20)],
        }
    }

    #[test]
    fn an_event_cap_limits_every_type_and_the_total() {
        let r = record(Some(12));
        let mut counts = LiveCounts::default();
        counts.types.insert(r.types[0].id, (2, 1));
        counts.types.insert(r.types[1].id, (5, 0));
        counts.event = (7, 1);
        let v = view(&r, Some(&counts), "http://h");
        assert_eq!(v.ticket_types[0].available, 4);
        assert_eq!(v.ticket_types[1].available, 4);
        assert_eq!(v.tickets_available, 4);
        assert_eq!(v.total_tickets, 12);
        assert_eq!(v.image_url.as_deref(), Some("http://h/uploads/a.png"));
    }

    #[test]
    fn without_a_cap_availability_is_the_sum_of_the_types() {
        let r = record(None);
        let v = view(&r, None, "http://h");
        assert_eq!(v.tickets_available, 30);
        assert_eq!(v.total_tickets, 30);
        assert_eq!(availability(&v).total_available, 30);
    }

    #[test]
    fn a_matching_if_none_match_gives_304() {
        let r = Rendered::new(&serde_json::json!({"a": 1}), None).unwrap();
        let (etag, _) = r.split();
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_bytes(&etag).unwrap(),
        );
        assert_eq!(
            r.respond(&IfNoneMatch::of(&h)).status(),
            StatusCode::NOT_MODIFIED
        );
        let weak = IfNoneMatch(Some(
            HeaderValue::from_str(&format!("\"x\", W/{}", String::from_utf8_lossy(&etag))).unwrap(),
        ));
        assert_eq!(r.respond(&weak).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.respond(&IfNoneMatch::default()).status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_kept_answer_is_the_whole_envelope_with_its_exact_length() {
        use http_body_util::BodyExt;
        let r = Rendered::new(&serde_json::json!({"a": 1}), None).unwrap();
        let body = r.respond(&IfNoneMatch::default()).into_body();
        let announced = http_body::Body::size_hint(&body).exact();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(announced, Some(bytes.len() as u64));
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["success"], true);
        assert_eq!(v["data"]["a"], 1);
        assert_eq!(v["message"], "OK");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'), "{v}");
    }
}
