//! `GET /api/events/{id}/bookings`: an event's bookings for its organizer (API.md §11.105), the
//! attendee list and the door's manual lookup.

use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::bookings::{AttendeeFilter, BookingStatus, BookingView};
use crate::http::{ApiError, ApiPath, ApiQuery, ApiResponse, ApiResult, Meta, Page};
use crate::state::AppState;
use crate::users::AuthUser;

/// Query of the attendee list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttendeeQuery {
    /// PENDING, CONFIRMED, CANCELLED, EXPIRED or REFUNDED (effective status).
    pub status: Option<String>,
    /// Only this ticket type.
    pub ticket_type_id: Option<Uuid>,
    /// The reference (any part), or the start of a word of the customer's name or email,
    /// case-insensitively.
    pub q: Option<String>,
    /// `true`: bookings with a ticket checked in; `false`: with none.
    pub checked_in: Option<bool>,
    /// Page, from 1.
    pub page: Option<i64>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
}

/// An event's bookings with their tickets (event owner or ADMIN).
#[utoipa::path(get, path = "/events/{id}/bookings", tag = "events",
    params(("id" = Uuid, Path, description = "Event id"), AttendeeQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the event's bookings, newest first, each with customer name, email and phone, ticket type, quantity, amount, status, reference and its tickets with `checkedInAt` (tickets only on CONFIRMED bookings); `meta` paginates", body = [BookingView]),
        (status = 400, description = "Bad filter or page"),
        (status = 403, description = "ORGANIZER_NOT_APPROVED: the owner's current role is no longer ORGANIZER"),
        (status = 404, description = "No such event, or not the caller's"),
    ))]
pub async fn list_event_bookings(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<AttendeeQuery>,
) -> ApiResult<ApiResponse<Vec<BookingView>>> {
    let record = state
        .store
        .event_record(id)
        .await?
        .filter(|r| user.is_admin() || r.event.organizer_id == user.id)
        .ok_or_else(|| ApiError::not_found("Event"))?;
    if record.event.organizer_id == user.id {
        user.require_organizer()?;
    }
    let page = Page::parse(q.page, q.limit, 20)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(BookingStatus::parse(s).ok_or_else(|| {
            ApiError::field(
                "status",
                "must be PENDING, CONFIRMED, CANCELLED, EXPIRED or REFUNDED",
            )
        })?),
    };
    let search = q.q.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::field("q", "must be at most 200 characters"));
    }
    let now = Utc::now();
    let filter = AttendeeFilter {
        event_id: id,
        ticket_type_id: q.ticket_type_id,
        status,
        q: search,
        checked_in: q.checked_in,
        now,
        limit: i64::from(page.limit),
        offset: page.offset(),
    };
    let (rows, total) = state.store.event_bookings(&filter).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let tickets = state.store.tickets_of_many(&ids).await?;
    let views = rows
        .iter()
        .map(|r| BookingView::new(r, &tickets, now))
        .collect();
    Ok(ApiResponse::page(views, Meta::new(page, total)))
}
