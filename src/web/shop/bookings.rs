//! A booking's page (its state, and when confirmed each ticket with its QR code and the PDF),
//! reached by its buyer, a guest with its token (from this browser's cookie or an email link)
//! or the event's staff; and "my tickets", a signed-in buyer's bookings.

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use base64::Engine;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BookingPath, Detour, LOGIN_PATH, PageResult, Visitor, see_other};
use crate::bookings::model::BookingView;
use crate::bookings::routes::{self as api, Access, Caller};
use crate::events::catalogue;
use crate::events::model::EventRecord;
use crate::http::{ApiError, ApiQuery, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::web::serialized;

/// The booking page's query: a guest token from an email link, or a gateway's return.
#[derive(Debug, Default, Deserialize)]
pub struct BookingQuery {
    token: Option<String>,
    status: Option<String>,
    reference: Option<String>,
}

impl BookingQuery {
    /// The guest token of an email link.
    fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }
}

/// A booking a visitor may see, as whom, and its event.
pub struct Opened {
    /// Who the visitor acts as.
    pub caller: Caller,
    /// How that caller relates to it.
    pub access: Access,
    pub view: BookingView,
    /// Its event (for when and where).
    pub event: Option<EventRecord>,
}

/// Opens a booking for a visitor: through one of their guest tokens, else their account. A
/// booking nobody of them may see is "not found", as in the API; to someone not signed in it is
/// the sign-in page, which comes back to `back`.
pub async fn open(
    state: &AppState,
    visitor: &Visitor,
    id: Uuid,
    back: &str,
) -> Result<Opened, Detour> {
    match find(state, visitor, id).await {
        Ok(opened) => Ok(opened),
        Err(e) if e.code == ErrorCode::NotFound && visitor.user.is_none() => {
            Err(see_other(&format!("{LOGIN_PATH}?next={back}")).into())
        }
        Err(e) => Err(visitor.failure(state, e).into()),
    }
}

/// The booking of the page at `path`: an email link's `?token=` is adopted first (answered with
/// a redirect to `path` without it), then the booking is opened; with the page's query.
pub async fn open_at(
    state: &AppState,
    visitor: &Visitor,
    id: Uuid,
    path: &str,
    raw: Option<String>,
) -> Result<(Opened, BookingQuery), Detour> {
    let query: BookingQuery = super::query(raw);
    if let Some(token) = query.token() {
        return Err(adopt_token(state, visitor, id, token, path).await.into());
    }
    Ok((open(state, visitor, id, path).await?, query))
}

async fn find(state: &AppState, visitor: &Visitor, id: Uuid) -> ApiResult<Opened> {
    let (row, view) = api::view_as(state, None, id).await?;
    let now = Utc::now();
    let mut found: Option<(Caller, Access)> = None;
    // A token of this very booking first (no lookup), then the account, then a token from a
    // later email that stands for this booking's first one.
    for token in &visitor.guest_tokens {
        let caller = Caller::Guest(crate::bookings::codes::hash_guest_token(token));
        if let Ok(access) = api::access(&caller, &row, now) {
            found = Some((caller, access));
            break;
        }
    }
    if found.is_none()
        && let Some(user) = &visitor.user
    {
        let caller = Caller::User(*user);
        if let Ok(access) = api::access(&caller, &row, now) {
            found = Some((caller, access));
        }
    }
    if found.is_none() {
        for token in &visitor.guest_tokens {
            let caller = Caller::guest(state, token).await?;
            if let Ok(access) = api::access(&caller, &row, now) {
                found = Some((caller, access));
                break;
            }
        }
    }
    let (caller, access) = found.ok_or_else(|| ApiError::not_found("Booking"))?;
    let event = catalogue::record(state, row.event_id).await?;
    Ok(Opened {
        caller,
        access,
        view,
        event,
    })
}

/// A booking link's guest token: if it opens this booking, the browser keeps it and `path` is
/// shown again without it in the address; otherwise a page says the link does not open it.
pub async fn adopt_token(
    state: &AppState,
    visitor: &Visitor,
    id: Uuid,
    token: &str,
    path: &str,
) -> Response {
    let opens = match Caller::guest(state, token).await {
        Ok(caller) => match api::view_as(state, Some(&caller), id).await {
            Ok((row, _)) => api::access(&caller, &row, Utc::now()).is_ok(),
            Err(_) => false,
        },
        Err(_) => false,
    };
    if !opens {
        return visitor.message(
            state,
            StatusCode::UNAUTHORIZED,
            "This link does not open that booking",
            "The link may be incomplete, or it expired 30 days after the event. If you booked with an account, sign in to see your tickets.",
        );
    }
    let mut response = see_other(path);
    if let Some(v) = visitor.remember_guest(state, token) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The event facts a booking's pages show.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Occasion {
    title: String,
    starts_at: String,
    ends_at: Option<String>,
    timezone: String,
    venue: Option<String>,
    location: String,
    path: String,
}

impl Occasion {
    /// The facts of an event record.
    pub fn of(record: &EventRecord) -> Self {
        let e = &record.event;
        Occasion {
            title: e.title.clone(),
            starts_at: e.starts_at.to_rfc3339(),
            ends_at: e.ends_at.map(|t| t.to_rfc3339()),
            timezone: e.timezone.clone(),
            venue: e.venue.clone(),
            location: e.location.clone(),
            path: super::catalogue::event_path(e.id, &e.title),
        }
    }
}

/// A ticket with its QR image (an SVG data URL: the page's CSP allows `data:` images).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TicketCard {
    code: String,
    qr: String,
    checked_in_at: Option<String>,
}

/// `GET /bookings/{id}`: the booking's page.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    BookingPath(id): BookingPath,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let (opened, query) = open_at(&state, &visitor, id, &format!("/bookings/{id}"), raw).await?;
    let tickets: Vec<TicketCard> = opened
        .view
        .tickets
        .iter()
        .map(|t| TicketCard {
            qr: crate::bookings::qr::svg(&t.code)
                .map(|svg| {
                    format!(
                        "data:image/svg+xml;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(svg)
                    )
                })
                .unwrap_or_default(),
            code: t.code.clone(),
            checked_in_at: t.checked_in_at.map(|t| t.to_rfc3339()),
        })
        .collect();
    // Back from a gateway: its word on the payment, until the booking says more.
    let returned = query
        .reference
        .as_ref()
        .and(query.status.as_deref())
        .map(|s| if s == "success" { "success" } else { "failed" });
    let waiting = returned == Some("success") && opened.view.status == "PENDING";
    let mut response = visitor.render(
        &state,
        StatusCode::OK,
        "shop/booking.html",
        minijinja::context! {
            booking => serialized(&opened.view),
            event => opened.event.as_ref().map(|r| serialized(&Occasion::of(r))),
            tickets => serialized(&tickets),
            staff => opened.access == Access::Staff,
            returned,
            waiting,
        },
    );
    if waiting {
        // The gateway's webhook is on its way: look again in two seconds (no script needed).
        response
            .headers_mut()
            .insert("refresh", axum::http::HeaderValue::from_static("2"));
    }
    Ok(response)
}

/// `GET /bookings/{id}/tickets.pdf`: the print-at-home tickets, for whoever may open the
/// booking's page (an email link's `?token=` is kept, as on the page).
pub async fn tickets_pdf(
    State(state): State<AppState>,
    visitor: Visitor,
    BookingPath(id): BookingPath,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let path = format!("/bookings/{id}/tickets.pdf");
    let (opened, _) = open_at(&state, &visitor, id, &path, raw).await?;
    Ok(api::tickets_pdf_response(&state, &opened.caller, id)
        .await
        .unwrap_or_else(|e| visitor.failure(&state, e)))
}

/// `GET /account`: a signed-in buyer's bookings, newest first.
pub async fn mine(
    State(state): State<AppState>,
    visitor: Visitor,
    RawQuery(raw): RawQuery,
) -> Response {
    let query: PageQuery = super::query(raw);
    let Some(user) = visitor.user else {
        return see_other(&format!("{LOGIN_PATH}?next=/account"));
    };
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let list = api::list_bookings(
        State(state.clone()),
        user,
        ApiQuery(api::ListQuery {
            status: None,
            event_id: None,
            from: None,
            to: None,
            page: Some(page),
            limit: Some(20),
            fields: None,
        }),
    )
    .await;
    let (bookings, meta) = match list {
        Ok(answer) => answer.into_parts(),
        Err(e) => return visitor.failure(&state, e),
    };
    let account = match state.store.user_by_id(user.id).await {
        Ok(row) => row,
        Err(e) => return visitor.failure(&state, e.into()),
    };
    visitor.render(
        &state,
        StatusCode::OK,
        "shop/tickets.html",
        minijinja::context! {
            section => "account",
            bookings => serialized(&bookings),
            meta => meta.as_ref().map(serialized),
            email => account.map(|a| a.email),
        },
    )
}

/// A list page's query.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}
