//! A booking's tickets over HTTP (API.md §4): a ticket's QR code and the print-at-home PDF.

use crate::http::openapi::RoutesAt;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::BookingStatus;
use super::routes::{Access, Caller, access, view_as};
use crate::http::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

/// The ticket routes under `/bookings/{id}`.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(get_ticket_qr))
        .routes_at(p, routes!(get_tickets_pdf))
}

/// Query of a QR image.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QrQuery {
    /// `png` (default) or `svg`.
    pub format: Option<String>,
}

/// A ticket's QR code (owner only), PNG or `?format=svg`.
#[utoipa::path(get, path = "/bookings/{id}/tickets/{ticketId}/qr", tag = "bookings",
    params(
        ("id" = Uuid, Path, description = "Booking id"),
        ("ticketId" = Uuid, Path, description = "Ticket id"),
        QrQuery,
    ),
    responses(
        (status = 200, description = "image/png or image/svg+xml"),
        (status = 400, description = "Unknown format"),
        (status = 404, description = "No such ticket, or not yours"),
    ))]
async fn get_ticket_qr(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, ticket_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> ApiResult<Response> {
    let svg = match q.format.as_deref() {
        None | Some("png") => false,
        Some("svg") => true,
        Some(_) => return Err(ApiError::field("format", "must be png or svg")),
    };
    let (row, view) = view_as(&state, Some(&caller), id).await?;
    if access(&caller, &row, Utc::now())? != Access::Owner {
        return Err(ApiError::not_found("Ticket"));
    }
    let ticket = view
        .tickets
        .iter()
        .find(|t| t.id == ticket_id)
        .ok_or_else(|| ApiError::not_found("Ticket"))?;
    let not_encodable = || ApiError::internal(anyhow::anyhow!("QR encoding failed"));
    let headers = |ct: &'static str| {
        [
            (header::CONTENT_TYPE, ct),
            (header::CACHE_CONTROL, "private, no-store"),
        ]
    };
    if svg {
        let image = super::qr::svg(&ticket.code).ok_or_else(not_encodable)?;
        Ok((StatusCode::OK, headers("image/svg+xml"), image).into_response())
    } else {
        let image = super::qr::png(&ticket.code).ok_or_else(not_encodable)?;
        Ok((StatusCode::OK, headers("image/png"), image).into_response())
    }
}

/// The tickets of a CONFIRMED booking as a PDF, one A4 page each, answered as a download with
/// the rules of the other booking routes: its owner or guest token, the event's owner (current
/// role ORGANIZER) or an ADMIN; 404 for anyone else, 401 for another booking's guest token, 409
/// `INVALID_STATE` when the booking has no tickets. The API route and the web pages (which
/// resolve their caller from a session cookie or a `?token=` link) both answer with it.
#[tracing::instrument(skip_all, fields(booking_id = %id))]
pub async fn tickets_pdf_response(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<Response> {
    let (row, view) = view_as(state, Some(caller), id).await?;
    let now = Utc::now();
    access(caller, &row, now)?;
    let status = row.effective_status(now);
    if status != BookingStatus::Confirmed {
        return Err(ApiError::invalid_state(format!(
            "A {status} booking has no tickets"
        )));
    }
    let event = state
        .store
        .event_record(row.event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Booking"))?
        .event;
    let sheet = super::pdf::TicketSheet {
        when: crate::notify::templates::datetime(
            row.event_starts_at.to_rfc3339(),
            Some(event.timezone.clone()),
        ),
        event_title: row.event_title.clone(),
        venue: event.venue,
        location: event.location,
        ticket_type: row.ticket_type_name.clone(),
        buyer: row.customer_name.clone(),
        reference: row.reference.clone(),
        codes: view.tickets.into_iter().map(|t| t.code).collect(),
    };
    let pdf = tokio::task::spawn_blocking(move || super::pdf::tickets(&sheet))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("PDF rendering stopped: {e}")))?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("QR encoding failed")))?;
    let disposition = format!("attachment; filename=\"{}-tickets.pdf\"", row.reference);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        pdf,
    )
        .into_response())
}

/// The booking's tickets to print at home: a PDF, one A4 page per ticket with its QR code.
#[utoipa::path(get, path = "/bookings/{id}/tickets.pdf", tag = "bookings",
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "The tickets, one page each", content_type = "application/pdf"),
        (status = 401, description = "Not signed in, or a guest token of another booking"),
        (status = 404, description = "No such booking, or not yours"),
        (status = 409, description = "INVALID_STATE: the booking is not CONFIRMED"),
    ))]
async fn get_tickets_pdf(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    tickets_pdf_response(&state, &caller, id).await
}
