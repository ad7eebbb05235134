//! Checkout: the buyer's details for a ticket type and quantity (`/events/{id}/checkout`), the
//! hold it makes through the booking service, the pay page with the hold's countdown
//! (`/checkout/{bookingId}`), and the hand-off to the payment gateway through the payment
//! service; the gateway sends the buyer back to the booking's page.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bookings::{Occasion, Opened, open, open_at};
use super::catalogue::{Sale, event_path, most_per_order, sale_of};
use super::{
    BookingPath, Detour, PageResult, Visitor, done, field_errors, friendly, non_empty, see_other,
};
use crate::bookings::routes::{self as api, Access, Booker, CreateBookingBody};
use crate::events::catalogue;
use crate::events::model::{EventView, TicketTypeView};
use crate::http::{ApiError, ApiJson, ErrorCode};
use crate::payments::routes::{InitiateBody, initiate_payment};
use crate::state::AppState;
use crate::users::abuse::ClientIp;
use crate::web::serialized;

/// The details page's query: which ticket type, how many.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Choice {
    ticket_type: Option<String>,
    quantity: Option<String>,
}

/// The details form.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailsForm {
    #[serde(default)]
    ticket_type: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    notes: String,
}

/// What the details form shows back after a refusal.
#[derive(Debug, Default, Serialize)]
struct Filled {
    name: String,
    email: String,
    phone: String,
    notes: String,
    quantity: i64,
}

/// The service's field names → the form's.
const FIELDS: [(&str, &str); 4] = [
    ("customerName", "name"),
    ("customerEmail", "email"),
    ("customerPhone", "phone"),
    ("specialRequests", "notes"),
];

/// An event on sale and one of its types, live; `Err` is the page to show instead.
async fn offer(
    state: &AppState,
    visitor: &Visitor,
    event_id: &str,
    type_id: Option<&str>,
) -> Result<(EventView, TicketTypeView), Detour> {
    let event_id = event_id.parse::<Uuid>().ok();
    let record = match event_id {
        Some(id) => catalogue::record(state, id).await,
        None => Ok(None),
    };
    let record = match record {
        Ok(Some(r)) if catalogue::visible_to(&r, None) => r,
        Ok(_) => {
            return Err(visitor.failure(state, ApiError::not_found("Event")).into());
        }
        Err(e) => return Err(visitor.failure(state, e).into()),
    };
    let view = catalogue::live_view(state, &record)
        .await
        .map_err(|e| Detour::from(visitor.failure(state, e)))?;
    let chosen = type_id
        .and_then(|t| t.parse::<Uuid>().ok())
        .and_then(|t| view.ticket_types.iter().find(|x| x.id == t))
        .or_else(|| (view.ticket_types.len() == 1).then(|| &view.ticket_types[0]))
        .cloned();
    let Some(ticket_type) = chosen else {
        return Err(see_other(&event_path(view.id, &view.title)).into());
    };
    Ok((view, ticket_type))
}

/// The details page, with the form as filled and its problems.
fn details_page(
    state: &AppState,
    visitor: &Visitor,
    status: StatusCode,
    (event, ticket_type): &(EventView, TicketTypeView),
    filled: &Filled,
    errors: &[(String, String)],
    problem: Option<String>,
) -> Response {
    let sale = sale_of(event, ticket_type, Utc::now());
    let most = most_per_order(ticket_type);
    let error_of = |field: &str| {
        errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.clone())
    };
    visitor.render(
        state,
        status,
        "shop/details.html",
        minijinja::context! {
            event => serialized(event),
            event_path => event_path(event.id, &event.title),
            ticket_type => serialized(ticket_type),
            open => sale == Sale::Open,
            sale => serialized(&sale),
            most,
            form => serialized(filled),
            errors => minijinja::context! {
                name => error_of("name"),
                email => error_of("email"),
                phone => error_of("phone"),
                notes => error_of("notes"),
                quantity => error_of("quantity"),
            },
            problem,
            next => format!("/events/{}/checkout?ticketType={}&quantity={}", event.id, ticket_type.id, filled.quantity),
        },
    )
}

/// `GET /events/{id}/checkout?ticketType=…&quantity=…`: the buyer's details.
pub async fn details(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(event_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let choice: Choice = super::query(raw);
    let offered = offer(&state, &visitor, &event_id, choice.ticket_type.as_deref()).await?;
    let mut filled = Filled {
        quantity: choice
            .quantity
            .and_then(|q| q.parse::<i64>().ok())
            .unwrap_or(1)
            .max(1),
        ..Filled::default()
    };
    if let Some(user) = &visitor.user
        && let Ok(Some(account)) = state.store.user_by_id(user.id).await
    {
        filled.name = format!("{} {}", account.first_name, account.last_name);
        filled.email = account.email;
        filled.phone = account.phone.unwrap_or_default();
    }
    Ok(details_page(
        &state,
        &visitor,
        StatusCode::OK,
        &offered,
        &filled,
        &[],
        None,
    ))
}

/// `POST /events/{id}/checkout`: holds the tickets through the booking service, then on to
/// paying (or, for free tickets, straight to the confirmed booking).
pub async fn hold(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientIp(ip): ClientIp,
    Path(event_id): Path<String>,
    body: Bytes,
) -> PageResult {
    let form: DetailsForm = visitor.form(&state, &body)?;
    let offered = offer(&state, &visitor, &event_id, Some(&form.ticket_type)).await?;
    let (event, ticket_type) = &offered;
    let filled = Filled {
        quantity: form.quantity.trim().parse::<i64>().unwrap_or(0),
        name: form.name.trim().to_string(),
        email: form.email.trim().to_string(),
        phone: form.phone.trim().to_string(),
        notes: form.notes.trim().to_string(),
    };
    let body = CreateBookingBody {
        event_id: event.id,
        ticket_type_id: Some(ticket_type.id),
        quantity: filled.quantity,
        customer_email: non_empty(&filled.email),
        customer_name: non_empty(&filled.name),
        customer_phone: non_empty(&filled.phone),
        special_requests: non_empty(&filled.notes),
    };
    let booker = match &visitor.user {
        Some(user) => Booker::Account(user.id),
        None => Booker::Guest(ip),
    };
    let booking = match api::book(&state, booker, body).await {
        Ok(booking) => booking,
        Err(e) => {
            let errors = field_errors(&e, &FIELDS);
            let problem = match e.code {
                ErrorCode::ValidationFailed if !errors.is_empty() => {
                    Some("Check the highlighted fields.".to_string())
                }
                ErrorCode::SoldOut => Some(
                    "Not enough tickets are left for that quantity. Choose fewer, or another ticket type."
                        .to_string(),
                ),
                _ => Some(friendly(&e)),
            };
            if e.code.status().is_server_error() {
                tracing::error!(error = ?e, "a checkout hold failed");
            }
            return Ok(details_page(
                &state,
                &visitor,
                e.code.status(),
                &offered,
                &filled,
                &errors,
                problem,
            ));
        }
    };
    let mut response = if booking.status == "CONFIRMED" {
        done(
            &state,
            &format!("/bookings/{}", booking.id),
            "ok",
            "Your free tickets are confirmed.",
        )
    } else {
        see_other(&format!("/checkout/{}", booking.id))
    };
    if let Some(token) = &booking.guest_token
        && let Some(v) = visitor.remember_guest(&state, token)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// The gateways a buyer may choose (enabled, not `offline`), the default first.
fn gateways(state: &AppState) -> Vec<&'static str> {
    let g = &state.gateways;
    let mut names: Vec<&'static str> = crate::payments::gateways::NAMES
        .into_iter()
        .filter(|n| g.enabled(n) && *n != "offline")
        .collect();
    names.sort_by_key(|n| g.default_name() != Some(*n));
    names
}

/// The pay page of a PENDING booking, with a problem when the last attempt had one.
fn pay_page(
    state: &AppState,
    visitor: &Visitor,
    opened: &Opened,
    status: StatusCode,
    problem: Option<String>,
) -> Response {
    if opened.view.status != "PENDING" || opened.access != Access::Owner {
        return see_other(&format!("/bookings/{}", opened.view.id));
    }
    visitor.render(
        state,
        status,
        "shop/checkout.html",
        minijinja::context! {
            booking => serialized(&opened.view),
            event => opened.event.as_ref().map(|r| serialized(&Occasion::of(r))),
            gateways => gateways(state),
            problem,
        },
    )
}

/// `GET /checkout/{id}`: pay for a held booking before its hold runs out.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    BookingPath(id): BookingPath,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let (opened, _) = open_at(&state, &visitor, id, &format!("/checkout/{id}"), raw).await?;
    Ok(pay_page(&state, &visitor, &opened, StatusCode::OK, None))
}

/// The pay form.
#[derive(Debug, Default, Deserialize)]
pub struct PayForm {
    gateway: Option<String>,
}

/// `POST /checkout/{id}/pay`: starts the payment through the payment service and sends the
/// buyer to the gateway, which sends them back to the booking's page.
pub async fn pay(
    State(state): State<AppState>,
    visitor: Visitor,
    BookingPath(id): BookingPath,
    body: Bytes,
) -> PageResult {
    let form: PayForm = visitor.form(&state, &body)?;
    let opened = open(&state, &visitor, id, &format!("/checkout/{id}")).await?;
    let base = state.config.public_base_url.trim_end_matches('/');
    let initiate = InitiateBody {
        booking_id: id,
        gateway: form.gateway.filter(|g| !g.is_empty()),
        callback_url: Some(format!("{base}/bookings/{id}")),
    };
    match initiate_payment(
        State(state.clone()),
        opened.caller.clone(),
        ApiJson(initiate),
    )
    .await
    {
        Ok(answer) => {
            let (started, _) = answer.into_parts();
            Ok(see_other(&started.authorization_url))
        }
        Err(e) if matches!(e.code, ErrorCode::HoldExpired | ErrorCode::InvalidState) => {
            Ok(see_other(&format!("/bookings/{id}")))
        }
        Err(e) => {
            if e.code.status().is_server_error() && e.code != ErrorCode::Unavailable {
                tracing::error!(error = ?e, "a payment could not start");
            }
            let status = e.code.status();
            Ok(pay_page(
                &state,
                &visitor,
                &opened,
                status,
                Some(friendly(&e)),
            ))
        }
    }
}

/// `POST /checkout/{id}/cancel`: lets the held tickets go, through the booking service.
pub async fn cancel(
    State(state): State<AppState>,
    visitor: Visitor,
    BookingPath(id): BookingPath,
    body: Bytes,
) -> PageResult {
    visitor.form::<serde::de::IgnoredAny>(&state, &body)?;
    let opened = open(&state, &visitor, id, &format!("/checkout/{id}")).await?;
    let reason = Some("Released by the buyer at checkout".to_string());
    Ok(match api::cancel(&state, opened.caller, id, reason).await {
        Ok(_) => done(
            &state,
            &format!("/bookings/{id}"),
            "ok",
            "Your held tickets were released.",
        ),
        Err(e) => visitor.failure(&state, e),
    })
}
