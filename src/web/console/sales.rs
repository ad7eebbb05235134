//! The sales pages, for organizers (their events) and admins (the platform): the overview with
//! the dashboard's figures, revenue series and top events; the events list; an event's page with
//! its ticket types, check-in progress and bookings (updated live); the exports' downloads.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::Staff;
use crate::dashboard::export::{ExportQuery, export as export_file};
use crate::dashboard::feed::issue_ticket;
use crate::dashboard::routes::{
    SeriesQuery, TopEventsQuery, get_revenue_series, get_stats, get_top_events,
};
use crate::dashboard::{GroupBy, WindowQuery};
use crate::events::attendees::{AttendeeQuery, list_event_bookings};
use crate::events::model::{EventStatus, ListFilter, Sort};
use crate::http::extract::parse_query;
use crate::http::{ApiError, ApiPath, ApiQuery, ApiResult, Meta};
use crate::state::AppState;
use crate::web::{serialized as ser, session};

/// A query string without its empty fields (a form's blank inputs), parsed as the API would.
pub(super) fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> ApiResult<T> {
    parse_query(&keep(raw, &[]))
}

/// A query string without its empty fields and the `drop`ped ones (for paging links).
pub(super) fn keep(raw: Option<&str>, drop: &[&str]) -> String {
    let pairs = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .filter(|(k, v)| !v.trim().is_empty() && !drop.contains(&k.as_ref()));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `GET /admin`: the caller's figures over a window (default: the last 30 days), the revenue
/// series (a table, drawn as a chart when scripts run) and the best-selling events.
pub async fn overview(
    staff: Staff,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Response {
    match overview_context(&staff, &state, raw.as_deref()).await {
        Ok(ctx) => staff.render("console/overview.html", "overview", ctx),
        Err(e) => staff.failure(e),
    }
}

async fn overview_context(
    staff: &Staff,
    state: &AppState,
    raw: Option<&str>,
) -> ApiResult<minijinja::Value> {
    let window: WindowQuery = query(raw)?;
    let form = minijinja::context! {
        period => ser(&window.period),
        from => window.from.clone(),
        to => window.to.clone(),
    };
    let (stats, _) = get_stats(State(state.clone()), staff.user, ApiQuery(window))
        .await?
        .into_parts();
    let from = stats.from.to_rfc3339_opts(SecondsFormat::Secs, true);
    let to = stats.to.to_rfc3339_opts(SecondsFormat::Secs, true);
    // Days up to a quarter, weeks beyond: a readable number of rows either way.
    let (group_by, unit) = if stats.to - stats.from <= Duration::days(92) {
        (GroupBy::Day, "day")
    } else {
        (GroupBy::Week, "week (from its Monday)")
    };
    let series_query = SeriesQuery {
        from: Some(from.clone()),
        to: Some(to.clone()),
        group_by: Some(group_by),
    };
    let (series, _) = get_revenue_series(State(state.clone()), staff.user, ApiQuery(series_query))
        .await?
        .into_parts();
    let top_query = TopEventsQuery {
        period: None,
        from: Some(from),
        to: Some(to),
        limit: Some(10),
        sort_by: None,
    };
    let (top, _) = get_top_events(State(state.clone()), staff.user, ApiQuery(top_query))
        .await?
        .into_parts();
    let currencies: std::collections::BTreeSet<&String> =
        series.iter().flat_map(|p| p.revenue.keys()).collect();
    Ok(minijinja::context! {
        stats => ser(&stats), series => ser(&series), top => ser(&top), form,
        currencies => ser(&currencies), unit,
        exports => ["bookings", "payments", "events"],
    })
}

/// Paging of the events list.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    page: Option<u32>,
}

/// `GET /admin/events`: the caller's events (all of them for an admin), latest start first.
pub async fn events(
    staff: Staff,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Response {
    let page = query::<EventsQuery>(raw.as_deref())
        .ok()
        .and_then(|q| q.page)
        .unwrap_or(1)
        .max(1);
    let mut filter = ListFilter::public(Utc::now());
    filter.statuses = EventStatus::ALL.to_vec();
    filter.only_unfinished = false;
    filter.sort = Sort::StartsAtDesc;
    filter.organizer_id = (!staff.user.is_admin()).then_some(staff.user.id);
    let limit = 25;
    let listed = state
        .store
        .list_events(&filter, limit, i64::from(page - 1) * limit)
        .await;
    match listed {
        Ok((records, total)) => {
            let events: Vec<_> = records
                .iter()
                .map(|r| {
                    let e = &r.event;
                    let capacity: i64 = r.types.iter().map(|t| t.capacity).sum();
                    minijinja::context! {
                        id => e.id.to_string(), title => e.title.clone(), status => e.status.as_str(),
                        starts_at => ser(&e.starts_at), timezone => e.timezone.clone(),
                        location => e.location.clone(),
                        sold => e.sold, capacity => e.total_tickets.unwrap_or(capacity),
                    }
                })
                .collect();
            let meta = Meta::new(
                crate::http::Page {
                    page,
                    limit: limit as u32,
                },
                total,
            );
            staff.render(
                "console/events.html",
                "events",
                minijinja::context! { events, meta => ser(&meta), query => "" },
            )
        }
        Err(e) => staff.failure(e.into()),
    }
}

/// Filters of an event's bookings.
#[derive(Debug, Deserialize)]
pub struct BookingsQuery {
    q: Option<String>,
    status: Option<String>,
    page: Option<i64>,
}

/// `GET /admin/events/{id}`: an event's sales per ticket type, check-in progress, revenue, and
/// its bookings (the attendee list, newest first; new ones appear live).
pub async fn event(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return staff.failure(ApiError::not_found("Event"));
    };
    match event_context(&staff, &state, id, raw.as_deref()).await {
        Ok(ctx) => staff.render("console/event.html", "events", ctx),
        Err(e) => staff.failure(e),
    }
}

/// One page of the event's bookings through the attendee-list route (ownership, current role).
async fn bookings(
    staff: &Staff,
    state: &AppState,
    id: Uuid,
    q: AttendeeQuery,
) -> ApiResult<(Vec<crate::bookings::BookingView>, Meta)> {
    let (rows, meta) =
        list_event_bookings(State(state.clone()), staff.user, ApiPath(id), ApiQuery(q))
            .await?
            .into_parts();
    let meta = meta.ok_or_else(|| ApiError::internal(anyhow::anyhow!("a list without paging")))?;
    Ok((rows, meta))
}

fn attendees(
    status: Option<&str>,
    checked_in: Option<bool>,
    q: Option<String>,
    page: Option<i64>,
    limit: i64,
) -> AttendeeQuery {
    AttendeeQuery {
        status: status.map(str::to_string),
        ticket_type_id: None,
        q,
        checked_in,
        page,
        limit: Some(limit),
    }
}

async fn event_context(
    staff: &Staff,
    state: &AppState,
    id: Uuid,
    raw: Option<&str>,
) -> ApiResult<minijinja::Value> {
    let filters: BookingsQuery = query(raw)?;
    // First, as it refuses another organizer's event (404) and a demoted owner (403).
    let (list, meta) = bookings(
        staff,
        state,
        id,
        attendees(
            filters.status.as_deref(),
            None,
            filters.q.clone(),
            filters.page,
            20,
        ),
    )
    .await?;
    let (_, confirmed) = bookings(
        staff,
        state,
        id,
        attendees(Some("CONFIRMED"), None, None, None, 1),
    )
    .await?;
    let (_, checked_in) = bookings(
        staff,
        state,
        id,
        attendees(Some("CONFIRMED"), Some(true), None, None, 1),
    )
    .await?;
    let record = state
        .store
        .event_record(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    // The catalogue's live counts and view: the same numbers (event cap included) as the API.
    let view = crate::events::catalogue::live_view(state, &record).await?;
    let types: Vec<_> = view
        .ticket_types
        .iter()
        .map(|t| {
            minijinja::context! {
                name => t.name.clone(), price => t.price, capacity => t.capacity,
                sold => t.sold, held => t.held, available => t.available,
            }
        })
        .collect();
    // Over all its bookings, from the dashboard's daily counters: one currency per event.
    let sales = state
        .store
        .event_totals(id)
        .await?
        .into_iter()
        .find(|t| t.currency == record.event.currency)
        .map(|t| {
            minijinja::context! {
                currency => t.currency, revenue => t.revenue, orders => t.orders,
                ticketsSold => t.tickets,
            }
        });
    let ticket = issue_ticket(state, &staff.user).await?;
    let e = &record.event;
    Ok(minijinja::context! {
        event => minijinja::context! {
            id => e.id.to_string(), title => e.title.clone(), status => e.status.as_str(),
            starts_at => ser(&e.starts_at), ends_at => ser(&e.ends_at), venue => e.venue.clone(),
            timezone => e.timezone.clone(),
            location => e.location.clone(), currency => e.currency.clone(),
        },
        types, sales, bookings => ser(&list), meta => ser(&meta),
        checkin => minijinja::context! { done => checked_in.total, of => confirmed.total },
        filters => minijinja::context! { q => filters.q, status => filters.status },
        query => keep(raw, &["page"]),
        statuses => ["PENDING", "CONFIRMED", "CANCELLED", "EXPIRED", "REFUNDED"],
        live_ticket => ticket.ticket,
    })
}

/// `GET /admin/export?type=…&format=…`: the dashboard export of the caller's scope, as a
/// download (the same service as `GET /api/dashboard/export`, under the cookie session).
pub async fn export(
    staff: Staff,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: ExportQuery = match query(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return staff.failure(e),
    };
    match export_file(State(state), staff.user, ApiQuery(q)).await {
        Ok(file) => file,
        Err(e) => staff.failure(e),
    }
}

/// `POST /admin/updates/ticket` (header `X-CSRF-Token`): a new single-use ticket for the live
/// stream, when the page's own was used by a stream that then dropped.
pub async fn live_ticket(
    staff: Staff,
    State(state): State<AppState>,
    headers: HeaderMap,
    _body: Bytes,
) -> Response {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !session::csrf_valid(&state, staff.user.sid, token) {
        return (StatusCode::FORBIDDEN, Json(json!({"error": "csrf"}))).into_response();
    }
    match issue_ticket(&state, &staff.user).await {
        Ok(t) => (StatusCode::CREATED, Json(json!({"ticket": t.ticket}))).into_response(),
        Err(e) => e.into_response(),
    }
}
