//! The public pages: home (featured and upcoming events, search, categories) and an event's page
//! (its ticket types with prices, live availability and sales states). They are the same for
//! everyone, so a finished page is kept for under a second on the instance, like the API's
//! answers ([`catalogue::cached_answer`]): a page view costs no database read, and its counts
//! are never more than a second old. Live counts then arrive over the availability stream.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::catalogue;
use crate::events::model::{EventStatus, EventView, ListFilter, TicketTypeView, search_terms};
use crate::http::{ApiError, ApiResult, Meta, Page};
use crate::state::AppState;
use crate::web::{page, render_html, serialized};

/// Events per page of the home list.
const PAGE_SIZE: u32 = 12;

/// The home page's query: a search, a category, a page.
#[derive(Debug, Default, Deserialize)]
struct HomeQuery {
    q: Option<String>,
    category: Option<String>,
    page: Option<String>,
}

/// `GET /`: featured and upcoming events, a search box and the categories.
pub async fn home(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    let query: HomeQuery = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let q = query.q.as_deref().map(str::trim).unwrap_or("").to_string();
    let category = query
        .category
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    let page_no = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|p| (1..=1000).contains(p))
        .unwrap_or(1);
    // Only short queries are kept; a long one is rendered for its caller alone.
    let key =
        (q.len() + category.len() <= 200).then(|| format!("page:home?{q}&{category}&{page_no}"));
    let (state, q, category) = (&state, q.as_str(), category.as_str());
    cached(state, "page_home", key, || async move {
        render_home(state, q, category, page_no).await
    })
    .await
}

async fn render_home(
    state: &AppState,
    q: &str,
    category: &str,
    page_no: u32,
) -> ApiResult<Option<String>> {
    let now = Utc::now();
    let searching = !q.is_empty() || !category.is_empty();
    let mut filter = ListFilter::public(now);
    if !q.is_empty() {
        filter.terms = Some(search_terms(q)).filter(|t| !t.is_empty());
    }
    if !category.is_empty() {
        filter.category = Some(category.to_string());
    }
    let page = Page {
        page: page_no,
        limit: PAGE_SIZE,
    };
    let (events, total) = catalogue::list_views(state, &filter, page, None).await?;
    let featured = if searching || page_no > 1 {
        Vec::new()
    } else {
        let mut featured = ListFilter::public(now);
        featured.featured = Some(true);
        let page = Page { page: 1, limit: 6 };
        catalogue::list_views(state, &featured, page, None).await?.0
    };
    let categories = state.store.event_categories(now).await?;
    let meta = Meta::new(page, total);
    let html = render_html(
        "shop/home.html",
        minijinja::context! {
            section => "events",
            q, category, searching,
            events => serialized(&events.iter().map(Card::of).collect::<Vec<_>>()),
            featured => serialized(&featured.iter().map(Card::of).collect::<Vec<_>>()),
            categories => serialized(&categories),
            meta => serialized(&meta),
            query => encoded_query(q, category),
        },
    );
    Ok(Some(
        html.map_err(|e| ApiError::internal(anyhow::Error::new(e)))?,
    ))
}

/// `q=…&category=…` for the pager's links.
fn encoded_query(q: &str, category: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        out.append_pair("q", q);
    }
    if !category.is_empty() {
        out.append_pair("category", category);
    }
    out.finish()
}

/// What an event card shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Card<'a> {
    id: Uuid,
    title: &'a str,
    category: &'a str,
    venue: Option<&'a str>,
    location: &'a str,
    timezone: &'a str,
    starts_at: DateTime<Utc>,
    image_url: Option<&'a str>,
    currency: &'a str,
    min_price: Option<i64>,
    sold_out: bool,
    path: String,
}

impl<'a> Card<'a> {
    fn of(e: &'a EventView) -> Self {
        Card {
            id: e.id,
            title: &e.title,
            category: &e.category,
            venue: e.venue.as_deref(),
            location: &e.location,
            timezone: &e.timezone,
            starts_at: e.starts_at,
            image_url: e.image_url.as_deref(),
            currency: &e.currency,
            min_price: e.min_price,
            sold_out: e.tickets_available == 0,
            path: event_path(e.id, &e.title),
        }
    }
}

/// `/events/{id}/{slug}`: the slug is the title in lower-case words, for people and search
/// engines; the id alone finds the event.
pub fn event_path(id: Uuid, title: &str) -> String {
    let mut slug = String::new();
    for word in title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if slug.len() + word.len() > 60 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word.to_lowercase());
    }
    if slug.is_empty() {
        format!("/events/{id}")
    } else {
        format!("/events/{id}/{slug}")
    }
}

/// `GET /events/{id}`: an event's page.
pub async fn event(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    event_page(&state, &id).await
}

/// `GET /events/{id}/{slug}`: the same page (the slug is not checked).
pub async fn event_with_slug(
    State(state): State<AppState>,
    Path((id, _slug)): Path<(String, String)>,
) -> Response {
    event_page(&state, &id).await
}

async fn event_page(state: &AppState, id: &str) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found();
    };
    cached(
        state,
        "page_event",
        Some(format!("page:event:{id}")),
        || render_event(state, id),
    )
    .await
}

/// How a ticket type can be bought now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sale {
    /// On sale, with seats left.
    Open,
    /// On sale, none left.
    SoldOut,
    /// Its sales window opens later.
    NotYet,
    /// Its sales window has closed (or the event has started).
    Ended,
    /// The event is cancelled or over.
    Closed,
}

/// The sales state of a ticket type of an event, at `now`.
pub fn sale_of(event: &EventView, t: &TicketTypeView, now: DateTime<Utc>) -> Sale {
    if event.status != EventStatus::Published {
        return Sale::Closed;
    }
    if t.sales_start_at.is_some_and(|s| now < s) {
        return Sale::NotYet;
    }
    if now >= t.sales_end_at.unwrap_or(event.starts_at) {
        return Sale::Ended;
    }
    if t.available <= 0 {
        return Sale::SoldOut;
    }
    Sale::Open
}

/// The most one order may take of a ticket type now: its `maxPerOrder`, or fewer when fewer
/// are left (at least 1, so a quantity field always has a range).
pub fn most_per_order(t: &TicketTypeView) -> i64 {
    t.available.min(i64::from(t.max_per_order)).max(1)
}

/// A ticket type as the event page offers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Offer<'a> {
    #[serde(flatten)]
    ticket_type: &'a TicketTypeView,
    sale: Sale,
    /// The most one order may take now.
    most: i64,
}

async fn render_event(state: &AppState, id: Uuid) -> ApiResult<Option<String>> {
    let Some(record) = catalogue::record(state, id)
        .await?
        .filter(|r| catalogue::visible_to(r, None))
    else {
        return Ok(None);
    };
    let view = catalogue::live_view(state, &record).await?;
    let now = Utc::now();
    let offers: Vec<Offer> = view
        .ticket_types
        .iter()
        .map(|t| Offer {
            ticket_type: t,
            sale: sale_of(&view, t, now),
            most: most_per_order(t),
        })
        .collect();
    let html = render_html(
        "shop/event.html",
        minijinja::context! {
            section => "events",
            event => serialized(&view),
            offers => serialized(&offers),
            on_sale => offers.iter().any(|o| o.sale == Sale::Open),
            stream => format!("/api/events/{id}/availability/stream"),
        },
    );
    Ok(Some(
        html.map_err(|e| ApiError::internal(anyhow::Error::new(e)))?,
    ))
}

/// Serves a public page from the instance's live cache, or renders it (`None`: no such page).
async fn cached<F, Fut>(
    state: &AppState,
    label: &'static str,
    key: Option<String>,
    render: F,
) -> Response
where
    F: Fn() -> Fut,
    Fut: Future<Output = ApiResult<Option<String>>>,
{
    let outcome = std::sync::Mutex::new(None);
    let kept = match &key {
        Some(key) => {
            state
                .cache
                .live_get_or_insert(label, key, async {
                    match render().await {
                        Ok(Some(html)) => Some(Bytes::from(html)),
                        other => {
                            *outcome
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(other);
                            None
                        }
                    }
                })
                .await
        }
        None => None,
    };
    if let Some(html) = kept {
        return page(StatusCode::OK, html);
    }
    let mine = outcome
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let result = match mine {
        Some(result) => result,
        // Not kept (no key), or another request's render that this one waited for failed.
        None => render().await,
    };
    match result {
        Ok(Some(html)) => page(StatusCode::OK, html),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "a public page failed");
            public_message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Try again in a moment.",
            )
        }
    }
}

fn not_found() -> Response {
    public_message(
        StatusCode::NOT_FOUND,
        "Event not found",
        "This event does not exist or is not on sale. Browse the events on the home page.",
    )
}

/// A message page that is the same for everyone (no form, no session).
fn public_message(status: StatusCode, heading: &str, text: &str) -> Response {
    crate::web::render(
        status,
        "shop/message.html",
        minijinja::context! { heading, text },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_path_carries_a_short_slug_of_its_title() {
        let id = Uuid::nil();
        assert_eq!(
            event_path(id, "Lagos Jazz Night: Live!"),
            format!("/events/{id}/lagos-jazz-night-live")
        );
        assert_eq!(event_path(id, "!!!"), format!("/events/{id}"));
        assert!(event_path(id, &"word ".repeat(40)).len() < 110);
    }
}
