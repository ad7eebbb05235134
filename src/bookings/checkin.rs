//! Check-in (API.md §4 "Tickets and check-in", §11.86): the signed code is checked without a
//! database read, then the scan is one conditional update, so two scanners racing on one ticket
//! get exactly one 200 and one 409 `ALREADY_CHECKED_IN`. The door's pages ([`crate::web::door`])
//! take the same steps ([`find`], [`require_confirmed`], [`scan`]), so the rules live here alone.

use crate::http::openapi::RoutesAt;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{BookingRow, BookingStatus, BookingView, TicketRow};
use crate::http::{ApiError, ApiJson, ApiResponse, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::users::extract::AuthUser;

/// Routes under `/checkin`.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(check_in))
        .routes_at(p, routes!(verify_ticket))
}

/// Body of a scan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeBody {
    /// The ticket code (what the QR encodes).
    pub code: String,
}

/// Finds the ticket of a code and its booking, checking the caller may scan it (the event's
/// owner with a current organizer role, or an admin), whatever the booking's status: a forged
/// or unknown code is 404, another organizer's ticket 403.
pub(crate) async fn find(
    state: &AppState,
    user: &AuthUser,
    code: &str,
) -> ApiResult<(TicketRow, BookingRow)> {
    let key = state.config.ticket_signing_key.expose();
    let id =
        super::codes::verify_ticket_code(key, code).ok_or_else(|| ApiError::not_found("Ticket"))?;
    let ticket = state
        .store
        .ticket_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Ticket"))?;
    let booking = state
        .store
        .booking_by_id(ticket.booking_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Ticket"))?;
    if !(user.is_admin() || booking.organizer_id == user.id) {
        return Err(ApiError::forbidden());
    }
    user.require_organizer()?;
    Ok((ticket, booking))
}

/// Refuses a ticket whose booking is not CONFIRMED (409 `INVALID_STATE`, naming the status).
pub(crate) fn require_confirmed(booking: &BookingRow) -> ApiResult<()> {
    if booking.status != BookingStatus::Confirmed {
        return Err(ApiError::invalid_state(format!(
            "This ticket belongs to a {} booking",
            booking.status
        )));
    }
    Ok(())
}

/// Finds a ticket the caller may scan, of a CONFIRMED booking.
async fn lookup(
    state: &AppState,
    user: &AuthUser,
    code: &str,
) -> ApiResult<(TicketRow, BookingRow)> {
    let (ticket, booking) = find(state, user, code).await?;
    require_confirmed(&booking)?;
    Ok((ticket, booking))
}

/// What a scan of a found ticket did.
pub(crate) enum Scan {
    /// Checked in now: the ticket as it is now, and every ticket of its booking.
    CheckedIn(TicketRow, Vec<TicketRow>),
    /// Already scanned, at that time; nothing changed.
    Already(DateTime<Utc>),
    /// Its booking stopped being CONFIRMED since it was found; nothing changed.
    NoLongerConfirmed,
}

/// Scans a found ticket: one conditional update, so of two scanners racing on one ticket
/// exactly one checks it in and the other learns when it was.
pub(crate) async fn scan(state: &AppState, user: &AuthUser, ticket: TicketRow) -> ApiResult<Scan> {
    let now = Utc::now();
    if !state.store.check_in_ticket(ticket.id, user.id, now).await? {
        let current = state.store.ticket_by_id(ticket.id).await?.unwrap_or(ticket);
        return Ok(match current.checked_in_at {
            Some(at) => Scan::Already(at),
            // Not scanned, so its booking stopped being CONFIRMED since the lookup.
            None => Scan::NoLongerConfirmed,
        });
    }
    let tickets = state.store.tickets_of(ticket.booking_id).await?;
    let ticket = tickets
        .iter()
        .find(|t| t.id == ticket.id)
        .cloned()
        .unwrap_or(ticket);
    Ok(Scan::CheckedIn(ticket, tickets))
}

fn answer(ticket: &TicketRow, booking: &BookingRow, tickets: &[TicketRow]) -> Value {
    let view = BookingView::new(booking, tickets, Utc::now());
    json!({
        "ticket": {
            "id": ticket.id,
            "code": ticket.code,
            "seat": ticket.seat,
            "checkedInAt": ticket.checked_in_at,
        },
        "booking": view,
        "checkedInAt": ticket.checked_in_at,
    })
}

/// How a scan of a ticket's code is refused before its booking's state is looked at.
#[derive(utoipa::IntoResponses)]
pub enum ScanRefusals {
    /// Not the event's owner
    #[response(status = 403)]
    NotOwner,
    /// Forged or unknown code
    #[response(status = 404)]
    UnknownCode,
}

/// Checks a ticket in (event owner or ADMIN).
#[utoipa::path(post, path = "/checkin", tag = "checkin",
    request_body = CodeBody,
    responses(
        (status = 200, description = "{ticket, booking, checkedInAt}"),
        ScanRefusals,
        (status = 409, description = "ALREADY_CHECKED_IN, or INVALID_STATE for a cancelled booking"),
    ))]
async fn check_in(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<ApiResponse<Value>> {
    let (ticket, booking) = lookup(&state, &user, &body.code).await?;
    match scan(&state, &user, ticket).await? {
        Scan::CheckedIn(ticket, tickets) => {
            Ok(ApiResponse::ok(answer(&ticket, &booking, &tickets)).message("Checked in"))
        }
        Scan::Already(at) => Err(ApiError::new(
            ErrorCode::AlreadyCheckedIn,
            "This ticket was already checked in",
        )
        .with_details(vec![json!({
            "field": "code",
            "message": "already checked in",
            "checkedInAt": at,
        })])),
        Scan::NoLongerConfirmed => Err(ApiError::invalid_state(
            "This ticket's booking is no longer confirmed",
        )),
    }
}

/// Verifies a ticket without checking it in (event owner or ADMIN).
#[utoipa::path(post, path = "/checkin/verify", tag = "checkin",
    request_body = CodeBody,
    responses(
        (status = 200, description = "{ticket, booking, checkedInAt} (checkedInAt null when not scanned)"),
        ScanRefusals,
        (status = 409, description = "INVALID_STATE for a cancelled booking"),
    ))]
async fn verify_ticket(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<ApiResponse<Value>> {
    let (ticket, booking) = lookup(&state, &user, &body.code).await?;
    let tickets = state.store.tickets_of(booking.id).await?;
    Ok(ApiResponse::ok(answer(&ticket, &booking, &tickets)))
}
