//! Booking routes (API.md §4): create (hold), guest create, list, stats, read, confirm, cancel;
//! a ticket's QR code and the PDF tickets are in [`super::ticket_routes`].

use std::collections::BTreeMap;

use crate::http::openapi::RoutesAt;
use axum::Extension;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    BOOKING_FIELDS, BookingRow, BookingStatus, BookingView, HoldOutcome, Links, ListFilter, NewHold,
};
use crate::http::idempotency::{AnswerByRoute, ScopedKey};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResponse, ApiResult, ErrorCode, Meta, OptionalApiJson,
    Page, Validator, idempotency,
};
use crate::state::AppState;
use crate::users::abuse::ClientIp;
use crate::users::extract::{AuthUser, bearer};

pub use super::ticket_routes::tickets_pdf_response;

/// Routes under `/bookings` and `/checkin`.
pub fn router(p: &str, state: &AppState) -> OpenApiRouter<AppState> {
    let keyed =
        |scope| axum::middleware::from_fn_with_state((state.clone(), scope), idempotency::layer);
    OpenApiRouter::new()
        .merge(
            OpenApiRouter::new()
                .routes_at(p, routes!(create_booking, list_bookings))
                .route_layer(keyed(idempotency::Scope::Account)),
        )
        .merge(
            OpenApiRouter::new()
                .routes_at(p, routes!(create_guest_booking))
                .route_layer(keyed(idempotency::Scope::Anonymous("POST /bookings/guest"))),
        )
        .routes_at(p, routes!(get_booking_stats))
        .routes_at(p, routes!(get_booking, delete_booking))
        .routes_at(p, routes!(confirm_booking))
        .routes_at(p, routes!(cancel_booking))
        .merge(super::ticket_routes::router(p))
        .merge(super::checkin::router(p))
}

/// Body of a booking request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBookingBody {
    pub event_id: Uuid,
    /// Ticket type (default: the event's only, or first general, type).
    pub ticket_type_id: Option<Uuid>,
    /// Seats, 1..maxPerOrder.
    #[schema(minimum = 1)]
    pub quantity: i64,
    /// Contact email (default: the account's; required for guests).
    pub customer_email: Option<String>,
    /// Contact name (default: the account's full name; required for guests).
    pub customer_name: Option<String>,
    /// Contact phone.
    pub customer_phone: Option<String>,
    /// Notes for the organizer, up to 1000 characters.
    pub special_requests: Option<String>,
}

/// Body of a cancellation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelBody {
    /// Why, up to 500 characters.
    pub reason: Option<String>,
}

/// Query of the booking list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// PENDING, CONFIRMED, CANCELLED, EXPIRED or REFUNDED.
    pub status: Option<String>,
    /// Only this event.
    pub event_id: Option<Uuid>,
    /// Created at or after (RFC 3339 or YYYY-MM-DD).
    pub from: Option<String>,
    /// Created before (RFC 3339 or YYYY-MM-DD).
    pub to: Option<String>,
    /// Page, from 1.
    pub page: Option<i64>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// Fields to return.
    pub fields: Option<String>,
}

/// Query of a single booking.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FieldsQuery {
    /// Fields to return.
    pub fields: Option<String>,
}

/// Who is calling a booking route that also accepts guest tokens.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A signed-in account.
    User(AuthUser),
    /// A guest token (stored form).
    Guest(String),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts) {
            Some(token) if token.starts_with("gt_") => Caller::guest(state, token).await,
            _ => Ok(Caller::User(
                AuthUser::from_request_parts(parts, state).await?,
            )),
        }
    }
}

impl Caller {
    /// The caller a guest token (`gt_…`, from the API's bearer or a page link's `?token=`)
    /// stands for. Whether it opens a given booking is [`access`]'s decision.
    pub async fn guest(state: &AppState, token: &str) -> ApiResult<Self> {
        let hash = super::codes::hash_guest_token(token);
        // A token from a later email stands for its booking's first token.
        let first = state.store.guest_link(&hash).await?;
        Ok(Caller::Guest(first.unwrap_or(hash)))
    }
}

/// How a caller relates to a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Its buyer, or its guest token.
    Owner,
    /// An admin, or the organizer of its event.
    Staff,
}

/// The caller's access to a booking: 404 for strangers, 401 for a guest token of another one.
pub(crate) fn access(caller: &Caller, row: &BookingRow, now: DateTime<Utc>) -> ApiResult<Access> {
    match caller {
        Caller::User(user) => {
            if row.user_id == Some(user.id) {
                Ok(Access::Owner)
            } else if user.is_admin() || row.organizer_id == user.id {
                // A demoted organizer keeps no power over their events' bookings (§11.95).
                user.require_organizer()?;
                Ok(Access::Staff)
            } else {
                Err(ApiError::not_found("Booking"))
            }
        }
        Caller::Guest(hash) => {
            let valid_until = row.event_starts_at + chrono::Duration::days(30);
            let matches = row
                .guest_token_hash
                .as_deref()
                .is_some_and(|h| crate::crypto::constant_time_eq(h.as_bytes(), hash.as_bytes()));
            if matches && now < valid_until {
                Ok(Access::Owner)
            } else {
                Err(ApiError::unauthorized())
            }
        }
    }
}

async fn view_of(state: &AppState, id: Uuid) -> ApiResult<(BookingRow, BookingView)> {
    view_as(state, None, id).await
}

/// [`view_of`] for a route that also takes guest tokens: a guest token names one booking, so on
/// any other id, even one that does not exist, it is 401 (§11.21) rather than 404.
pub(crate) async fn view_as(
    state: &AppState,
    caller: Option<&Caller>,
    id: Uuid,
) -> ApiResult<(BookingRow, BookingView)> {
    let row = state
        .store
        .booking_by_id(id)
        .await?
        .ok_or_else(|| match caller {
            Some(Caller::Guest(_)) => ApiError::unauthorized(),
            _ => ApiError::not_found("Booking"),
        })?;
    let tickets = if row.status == BookingStatus::Confirmed {
        state.store.tickets_of(id).await?
    } else {
        Vec::new()
    };
    let view = BookingView::new(&row, &tickets, Utc::now());
    Ok((row, view))
}

fn validate_contact(v: &mut Validator, body: &CreateBookingBody) {
    if let Some(email) = &body.customer_email {
        v.check(
            crate::users::parse_email(email).is_some(),
            "customerEmail",
            "must be a valid email address",
        );
    }
    if let Some(name) = &body.customer_name {
        let n = name.trim().chars().count();
        v.check(
            (2..=100).contains(&n),
            "customerName",
            "must be 2 to 100 characters",
        );
    }
    if let Some(phone) = &body.customer_phone {
        v.check(
            crate::users::Phone::parse(phone).is_ok(),
            "customerPhone",
            "must be a phone number in E.164 form (+2348012345678)",
        );
    }
    if let Some(s) = &body.special_requests {
        v.check(
            s.chars().count() <= 1000,
            "specialRequests",
            "must be at most 1000 characters",
        );
    }
    v.check(
        (1..=1_000_000).contains(&body.quantity),
        "quantity",
        "must be from 1 to the ticket type's maxPerOrder",
    );
}

/// The answer to a retry of a booking request whose first attempt created a booking: found by
/// its scoped `Idempotency-Key` for as long as the booking exists, whether or not the first
/// request lived to store its answer (API.md §11.99). A guest's token is derived again from the
/// key; it is never stored in clear, so the stored answer holds only the status.
async fn earlier_answer(
    state: &AppState,
    key: Option<&str>,
    guest: bool,
) -> ApiResult<Option<Response>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let Some(id) = state.store.booking_by_idempotency_key(key).await? else {
        return Ok(None);
    };
    let (_, mut view) = view_of(state, id).await?;
    if guest {
        let signing = state.config.ticket_signing_key.expose();
        view.guest_token = Some(super::codes::guest_token_for_key(signing, key).0);
    }
    let mut response = ApiResponse::created(view).into_response();
    response.headers_mut().insert(
        "idempotent-replayed",
        axum::http::HeaderValue::from_static("true"),
    );
    if guest {
        response.extensions_mut().insert(AnswerByRoute);
    }
    Ok(Some(response))
}

/// Runs a validated hold and turns its outcome into the booking (a guest's with its token).
async fn place(
    state: &AppState,
    req: NewHold,
    guest: Option<(String, std::net::IpAddr)>,
) -> ApiResult<BookingView> {
    let links = Links::from_config(&state.config);
    let outcome = match state.store.hold_booking(&req, &links).await {
        Ok(o) => o,
        // Defence in depth: a CHECK constraint refusing the counters means no seats.
        Err(e) if crate::store::is_check_violation(&e) => HoldOutcome::SoldOut {
            available: state
                .store
                .live_available(req.ticket_type_id.unwrap_or_default(), Utc::now())
                .await?
                .unwrap_or(0),
        },
        Err(e) => return Err(e.into()),
    };
    match outcome {
        HoldOutcome::Held { id, event_id, row } => {
            if let Some((_, ip)) = &guest
                && state.config.guest_max_holds_per_ip > 0
            {
                let ip = ip.to_string();
                state
                    .store
                    .record_guest_hold(id, event_id, &ip, Utc::now())
                    .await?;
            }
            super::announce(state, event_id).await;
            let mut view = match row {
                Some(row) => BookingView::new(&row, &[], Utc::now()),
                None => view_of(state, id).await?.1,
            };
            view.guest_token = guest.map(|(token, _)| token);
            Ok(view)
        }
        HoldOutcome::NotFound => Err(ApiError::not_found("Event or ticket type")),
        HoldOutcome::Busy => Err(ApiError::new(
            ErrorCode::Unavailable,
            "Too many bookings are waiting; try again in a moment",
        )
        .with_retry_after(1)),
        HoldOutcome::NeedType => Err(ApiError::field(
            "ticketTypeId",
            "is required: this event has several ticket types",
        )),
        HoldOutcome::TooMany { max } => Err(ApiError::field(
            "quantity",
            format!("must be from 1 to {max} (the ticket type's maxPerOrder)"),
        )),
        HoldOutcome::SalesClosed => Err(ApiError::new(
            ErrorCode::SalesClosed,
            "Tickets of this type are not on sale",
        )),
        HoldOutcome::HoldingLimit { max, holding } => Err(ApiError::conflict(format!(
            "You already hold {holding} of at most {max} tickets of this type in pending bookings"
        ))),
        HoldOutcome::SoldOut { available } => Err(ApiError::new(
            ErrorCode::SoldOut,
            "Not enough tickets left",
        )
        .with_details(vec![json!({
            "field": "quantity",
            "message": format!("only {available} left"),
            "available": available,
        })])),
    }
}

/// The refusals of a booking request, account or guest, beyond a bad body.
#[derive(utoipa::IntoResponses)]
pub enum HoldRefusals {
    /// Unknown or draft event, unknown ticket type
    #[response(status = 404)]
    NotFound,
    /// SALES_CLOSED, CONFLICT (holding limit), SOLD_OUT, IDEMPOTENCY_IN_FLIGHT
    #[response(status = 409)]
    Conflict,
    /// IDEMPOTENCY_MISMATCH
    #[response(status = 422)]
    Mismatch,
}

/// Books tickets: holds them until `expiresAt` (free tickets are confirmed at once).
#[utoipa::path(post, path = "/bookings", tag = "bookings",
    request_body = CreateBookingBody,
    params(idempotency::KeyHeader),
    responses(
        (status = 201, description = "PENDING booking holding its tickets, or CONFIRMED when free", body = BookingView),
        (status = 400, description = "Invalid body or Idempotency-Key"),
        HoldRefusals,
    ))]
async fn create_booking(
    State(state): State<AppState>,
    user: AuthUser,
    key: Option<Extension<ScopedKey>>,
    ApiJson(body): ApiJson<CreateBookingBody>,
) -> ApiResult<Response> {
    book_keyed(&state, Booker::Account(user.id), key, body).await
}

/// Books tickets without an account; answers the booking plus a `guestToken`.
#[utoipa::path(post, path = "/bookings/guest", tag = "bookings",
    request_body = CreateBookingBody,
    params(idempotency::KeyHeader),
    responses(
        (status = 201, description = "Booking with its guestToken", body = BookingView),
        (status = 400, description = "Invalid body (customerEmail and customerName are required)"),
        HoldRefusals,
    ))]
async fn create_guest_booking(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    key: Option<Extension<ScopedKey>>,
    ApiJson(body): ApiJson<CreateBookingBody>,
) -> ApiResult<Response> {
    book_keyed(&state, Booker::Guest(ip), key, body).await
}

/// Books as [`book`] does, under the request's `Idempotency-Key`: a retry gets the answer of the
/// attempt that created the booking, a first attempt a new hold (201).
async fn book_keyed(
    state: &AppState,
    booker: Booker,
    key: Option<Extension<ScopedKey>>,
    body: CreateBookingBody,
) -> ApiResult<Response> {
    check_body(&body, &booker)?;
    let guest = matches!(booker, Booker::Guest(_));
    let key = key.map(|Extension(ScopedKey(k))| k);
    if let Some(answer) = earlier_answer(state, key.as_deref(), guest).await? {
        return Ok(answer);
    }
    let view = hold(state, booker, body, key).await?;
    let mut response = ApiResponse::created(view).into_response();
    if guest {
        // The answer holds the guest token: an idempotent retry is answered from the booking
        // instead of a stored copy.
        response.extensions_mut().insert(AnswerByRoute);
    }
    Ok(response)
}

/// Who books: an account, or a guest from a client address.
#[derive(Debug, Clone, Copy)]
pub enum Booker {
    /// A signed-in account.
    Account(Uuid),
    /// A buyer without an account (its address counts toward the guest-hold cap).
    Guest(std::net::IpAddr),
}

/// The body's checks (400 naming the field): a guest must give an email and a name.
fn check_body(body: &CreateBookingBody, booker: &Booker) -> ApiResult<()> {
    let mut v = Validator::new();
    if let Booker::Guest(_) = booker {
        v.check(
            body.customer_email.is_some(),
            "customerEmail",
            "is required",
        );
        v.check(body.customer_name.is_some(), "customerName", "is required");
    }
    validate_contact(&mut v, body);
    v.finish()
}

/// Books tickets as the JSON routes do (the pages call this too): checks the body, then holds
/// them until `expiresAt`, or confirms them at once when free. A guest's booking comes back with
/// its `guestToken`.
pub async fn book(
    state: &AppState,
    booker: Booker,
    body: CreateBookingBody,
) -> ApiResult<BookingView> {
    check_body(&body, &booker)?;
    hold(state, booker, body, None).await
}

/// [`book`] after the body's checks, under an optional scoped `Idempotency-Key`.
async fn hold(
    state: &AppState,
    booker: Booker,
    body: CreateBookingBody,
    key: Option<String>,
) -> ApiResult<BookingView> {
    match booker {
        Booker::Account(user_id) => {
            let account = state
                .store
                .user_by_id(user_id)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            let mut req = NewHold::for_account(body, &account, hold_length(state), Utc::now());
            req.idempotency_key = key;
            place(state, req, None).await
        }
        Booker::Guest(ip) => {
            // Anyone could otherwise hold every seat with invented emails (API.md §11.93).
            let cap = state.config.guest_max_holds_per_ip;
            if cap > 0 {
                let live = state
                    .store
                    .live_guest_holds(body.event_id, &ip.to_string(), Utc::now())
                    .await?;
                if live >= cap {
                    return Err(ApiError::conflict(format!(
                        "This network already holds {live} pending guest bookings for this event; pay or cancel one first"
                    )));
                }
            }
            let (token, hash) = match &key {
                Some(key) => {
                    super::codes::guest_token_for_key(state.config.ticket_signing_key.expose(), key)
                }
                None => super::codes::new_guest_token(),
            };
            let mut req = NewHold::for_guest(body, &token, hash, hold_length(state), Utc::now());
            req.idempotency_key = key;
            place(state, req, Some((token, ip))).await
        }
    }
}

/// How long a new hold lasts (`BOOKING_HOLD_MINUTES`).
fn hold_length(state: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(state.config.booking_hold).unwrap_or(chrono::Duration::minutes(10))
}

/// Lists the caller's bookings, newest first.
#[utoipa::path(get, path = "/bookings", tag = "bookings",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of bookings", body = [BookingView]),
    ))]
pub(crate) async fn list_bookings(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiResponse<Vec<Value>>> {
    let page = Page::parse(q.page, q.limit, 20)?;
    let fields = crate::http::parse_fields(q.fields.as_deref(), BOOKING_FIELDS)?;
    let mut v = Validator::new();
    let status = q.status.map(|s| s.to_uppercase());
    if let Some(s) = &status {
        v.check(
            BookingStatus::parse(s).is_some(),
            "status",
            "must be PENDING, CONFIRMED, CANCELLED, EXPIRED or REFUNDED",
        );
    }
    v.finish()?;
    let from = q
        .from
        .as_deref()
        .map(|r| crate::http::parse_instant(r, "from"))
        .transpose()?;
    let to =
        q.to.as_deref()
            .map(|r| crate::http::parse_instant(r, "to"))
            .transpose()?;
    let now = Utc::now();
    let filter = ListFilter {
        user_id: user.id,
        status,
        event_id: q.event_id,
        from,
        to,
        now,
        limit: i64::from(page.limit),
        offset: page.offset(),
    };
    let (rows, total) = state.store.list_bookings(&filter).await?;
    let confirmed: Vec<Uuid> = rows
        .iter()
        .filter(|r| r.status == BookingStatus::Confirmed)
        .map(|r| r.id)
        .collect();
    let tickets = state.store.tickets_of_many(&confirmed).await?;
    let data = rows
        .iter()
        .map(|r| BookingView::new(r, &tickets, now).to_json(fields.as_deref()))
        .collect();
    Ok(ApiResponse::page(data, Meta::new(page, total)))
}

/// The caller's booking statistics.
#[utoipa::path(get, path = "/bookings/stats", tag = "bookings",
    responses(
        (status = 200, description = "{totalBookings, totalSpent, byStatus}"),
    ))]
async fn get_booking_stats(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<ApiResponse<Value>> {
    let (counts, spent) = state.store.booking_stats(user.id, Utc::now()).await?;
    let mut by_status: BTreeMap<&str, i64> =
        BookingStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut total = 0;
    for (s, n) in &counts {
        total += n;
        if let Some(slot) = by_status.get_mut(s.as_str()) {
            *slot += n;
        }
    }
    let total_spent: BTreeMap<String, i64> = spent.into_iter().filter(|(_, v)| *v > 0).collect();
    Ok(ApiResponse::ok(json!({
        "totalBookings": total,
        "totalSpent": total_spent,
        "byStatus": by_status,
    })))
}

/// One booking (owner, event owner, ADMIN, or its guest token).
#[utoipa::path(get, path = "/bookings/{id}", tag = "bookings",
    params(("id" = Uuid, Path, description = "Booking id"), FieldsQuery),
    responses(
        (status = 200, description = "The booking", body = BookingView),
        (status = 400, description = "Invalid id or fields"),
        (status = 404, description = "No such booking, or not yours"),
    ))]
async fn get_booking(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<FieldsQuery>,
) -> ApiResult<ApiResponse<Value>> {
    let fields = crate::http::parse_fields(q.fields.as_deref(), BOOKING_FIELDS)?;
    let (row, mut view) = view_as(&state, Some(&caller), id).await?;
    access(&caller, &row, Utc::now())?;
    view.payment_ids = state.store.payment_ids_of_booking(id).await?;
    Ok(ApiResponse::ok(view.to_json(fields.as_deref())))
}

/// Confirms a PENDING booking and issues its tickets.
#[utoipa::path(post, path = "/bookings/{id}/confirm", tag = "bookings",
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "The CONFIRMED booking with its tickets", body = BookingView),
        (status = 402, description = "Paid booking without payment"),
        (status = 404, description = "No such booking, or not yours"),
        (status = 409, description = "Cancelled or refunded"),
        (status = 410, description = "The hold has expired"),
    ))]
async fn confirm_booking(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<BookingView>> {
    let links = Links::from_config(&state.config);
    for _ in 0..3 {
        let (row, view) = view_of(&state, id).await?;
        let now = Utc::now();
        let role = access(&Caller::User(user), &row, now)?;
        match row.effective_status(now) {
            BookingStatus::Confirmed => {
                return Ok(ApiResponse::ok(view).message("Booking already confirmed"));
            }
            BookingStatus::Expired => {
                return Err(ApiError::new(
                    ErrorCode::HoldExpired,
                    "The hold on this booking has expired",
                ));
            }
            BookingStatus::Pending => {}
            other => {
                return Err(ApiError::invalid_state(format!(
                    "A {other} booking cannot be confirmed"
                )));
            }
        }
        // The owner confirms only free bookings; staff confirm offline payments.
        let staff =
            user.is_admin() || (row.organizer_id == user.id && user.require_organizer().is_ok());
        if role == Access::Owner && !staff && row.total_amount > 0 {
            return Err(ApiError::new(
                ErrorCode::PaymentRequired,
                "This booking must be paid before it is confirmed",
            ));
        }
        // Staff confirming a paid booking record the money they took (API.md §11.79).
        let outcome = if staff && row.total_amount > 0 {
            state
                .store
                .confirm_offline(id, user.id, &links, Utc::now())
                .await?
        } else {
            state.store.confirm_booking(id, Utc::now(), &links).await?
        };
        if let super::ConfirmOutcome::Confirmed { event_id } = outcome {
            super::announce(&state, event_id).await;
            let (_, view) = view_of(&state, id).await?;
            return Ok(ApiResponse::ok(view).message("Booking confirmed"));
        }
    }
    Err(ApiError::conflict(
        "The booking changed meanwhile, try again",
    ))
}

pub(crate) async fn cancel(
    state: &AppState,
    caller: Caller,
    id: Uuid,
    reason: Option<String>,
) -> ApiResult<ApiResponse<BookingView>> {
    let mut v = Validator::new();
    if let Some(r) = &reason {
        v.check(
            r.chars().count() <= 500,
            "reason",
            "must be at most 500 characters",
        );
    }
    v.finish()?;
    for _ in 0..3 {
        let now = Utc::now();
        let (row, _) = view_as(state, Some(&caller), id).await?;
        if access(&caller, &row, now)? == Access::Staff {
            let is_admin = matches!(&caller, Caller::User(u) if u.is_admin());
            if !is_admin {
                return Err(ApiError::forbidden());
            }
        }
        let (expected, refund_due) = match row.effective_status(now) {
            BookingStatus::Pending => (BookingStatus::Pending, None),
            BookingStatus::Confirmed => {
                let cutoff = chrono::Duration::from_std(state.config.cancellation_cutoff)
                    .unwrap_or(chrono::Duration::hours(24));
                if now > row.event_starts_at - cutoff {
                    return Err(ApiError::invalid_state(
                        "Too late to cancel: the cancellation cutoff before the event has passed",
                    ));
                }
                let fee = (row.total_amount / 10).min(state.config.cancellation_fee_cap);
                let refund = if row.total_amount > 0 {
                    Some(row.total_amount - fee)
                } else {
                    None
                };
                (BookingStatus::Confirmed, refund)
            }
            other => {
                return Err(ApiError::invalid_state(format!(
                    "A {other} booking cannot be cancelled"
                )));
            }
        };
        if let super::CancelOutcome::Cancelled { event_id } = state
            .store
            .cancel_booking(id, expected, reason.as_deref(), refund_due, now)
            .await?
        {
            super::announce(state, event_id).await;
            if refund_due.is_some_and(|r| r > 0) {
                // The refund was opened with the cancellation; ask for it now (the payments
                // area's reconciliation retries it if the gateway fails).
                crate::payments::flows::refund_owed(state, id).await;
            }
            let (_, view) = view_of(state, id).await?;
            return Ok(ApiResponse::ok(view).message("Booking cancelled"));
        }
    }
    Err(ApiError::conflict(
        "The booking changed meanwhile, try again",
    ))
}

/// How a cancellation is refused ([`cancel`]).
#[derive(utoipa::IntoResponses)]
pub enum CancelRefusals {
    /// The event owner cannot cancel a buyer's booking
    #[response(status = 403)]
    OwnerOfEvent,
    /// No such booking, or not yours
    #[response(status = 404)]
    NoBooking,
    /// Wrong state or past the cancellation cutoff
    #[response(status = 409)]
    TooLate,
}

/// Cancels a booking (owner, ADMIN, or its guest token).
#[utoipa::path(post, path = "/bookings/{id}/cancel", tag = "bookings",
    params(("id" = Uuid, Path, description = "Booking id")),
    request_body(content = Option<CancelBody>, description = "Optional reason"),
    responses(
        (status = 200, description = "The CANCELLED booking", body = BookingView),
        CancelRefusals,
    ))]
async fn cancel_booking(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    OptionalApiJson(body): OptionalApiJson<CancelBody>,
) -> ApiResult<ApiResponse<BookingView>> {
    cancel(&state, caller, id, body.reason).await
}

/// Cancels a booking, like `POST /bookings/{id}/cancel` (any body is ignored).
#[utoipa::path(delete, path = "/bookings/{id}", tag = "bookings",
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "The CANCELLED booking", body = BookingView),
        CancelRefusals,
    ))]
async fn delete_booking(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<BookingView>> {
    cancel(&state, caller, id, None).await
}
