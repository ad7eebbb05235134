//! The door at `/door`: organizers and admins at a venue's entrance check tickets in from a
//! phone. It is signed in with the console's session (its cookie is site-wide, [`console`]); a
//! visitor without one goes to the console's sign-in and comes back. `/door` picks an event,
//! `/door/{id}` scans it: by camera (`scanner.js`) or by typing the code, both posting to
//! `/door/{id}/check-in`, which answers the page again (no script) or a small JSON (`Accept:
//! application/json`, from the script).
//!
//! Each code is decided by the API's check-in service ([`checkin`]: the signed code, the
//! caller's right to scan, the booking's status, the one atomic scan) with one rule of the door's
//! own before the scan: a ticket of another event is refused and stays unscanned.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::console::{self, Staff};
use super::serialized as ser;
use crate::bookings::checkin::{self, Scan};
use crate::bookings::{BookingRow, TicketRow};
use crate::events::model::{EventRow, ListFilter, search_terms};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::users::AuthUser;

/// Where the door lives.
pub const ROOT: &str = "/door";

/// `Permissions-Policy` of the door's answers: the camera, for this site only (every other
/// answer denies it, API.md §9).
pub const PERMISSIONS_POLICY: &str = "camera=(self), microphone=(), geolocation=()";

/// How many events the picker lists (an organizer has a handful on any one day).
const PICKER_LIMIT: i64 = 50;

/// The door's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(ROOT, get(pick_event))
        .route("/door/{id}", get(scanner))
        .route("/door/{id}/check-in", post(check_in))
        .layer(axum::middleware::map_response(allow_camera))
}

/// Whether a path is one of the door's.
pub fn is_door_path(path: &str) -> bool {
    path == ROOT || path.starts_with("/door/")
}

/// Whether a request is a check-in at the door (it spends the check-in rate tier, API.md §4).
pub fn is_check_in(path: &str) -> bool {
    path.strip_prefix("/door/")
        .and_then(|rest| rest.strip_suffix("/check-in"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

async fn allow_camera(mut response: Response) -> Response {
    response.headers_mut().insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(PERMISSIONS_POLICY),
    );
    response
}

/// The picker's search.
#[derive(Debug, Default, Deserialize)]
pub struct PickQuery {
    q: Option<String>,
}

/// `GET /door[?q=…]`: the caller's published events that have not ended, soonest first (an
/// admin's: everyone's), each leading to its scanner.
pub async fn pick_event(
    staff: Staff,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = serde_urlencoded::from_str::<PickQuery>(raw.as_deref().unwrap_or(""))
        .unwrap_or_default()
        .q
        .unwrap_or_default();
    let q = q.trim();
    let mut filter = ListFilter::public(Utc::now());
    filter.organizer_id = (!staff.user.is_admin()).then_some(staff.user.id);
    if !q.is_empty() {
        filter.terms = Some(search_terms(q));
    }
    let (records, total) = match state.store.list_events(&filter, PICKER_LIMIT, 0).await {
        Ok(listed) => listed,
        Err(e) => return staff.failure(e.into()),
    };
    let events: Vec<_> = records
        .iter()
        .map(|r| {
            let e = &r.event;
            minijinja::context! {
                id => e.id.to_string(), title => e.title.clone(), starts_at => ser(&e.starts_at),
                timezone => e.timezone.clone(), venue => e.venue.clone(),
                location => e.location.clone(),
            }
        })
        .collect();
    staff.render(
        "door/events.html",
        "door",
        minijinja::context! {
            product => "door", events, q, total, more => total > PICKER_LIMIT as u64,
        },
    )
}

/// `GET /door/{id}`: the scanner of one event (its owner or an admin; anyone else: not found).
pub async fn scanner(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let event = match door_event(&staff, &state, &id).await {
        Ok(event) => event,
        Err(e) => return staff.failure(e),
    };
    match counts(&state, event.id).await {
        Ok(counts) => scanner_page(&staff, &event, counts, None),
        Err(e) => staff.failure(e),
    }
}

/// The event of a door path, when the caller may scan its tickets.
async fn door_event(staff: &Staff, state: &AppState, id: &str) -> ApiResult<EventRow> {
    let id = id
        .parse::<Uuid>()
        .map_err(|_| ApiError::not_found("Event"))?;
    match state.store.event_record(id).await? {
        Some(r) if staff.user.is_admin() || r.event.organizer_id == staff.user.id => Ok(r.event),
        _ => Err(ApiError::not_found("Event")),
    }
}

/// The running count: tickets checked in and tickets sold (of CONFIRMED bookings).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    checked_in: i64,
    sold: i64,
}

async fn counts(state: &AppState, event: Uuid) -> ApiResult<Counts> {
    let (checked_in, sold) = state.store.checkin_counts(event).await?;
    Ok(Counts { checked_in, sold })
}

fn scanner_page(
    staff: &Staff,
    event: &EventRow,
    counts: Counts,
    answer: Option<&Answer>,
) -> Response {
    staff.render(
        "door/scanner.html",
        "door",
        minijinja::context! {
            product => "door",
            event => minijinja::context! {
                id => event.id.to_string(), title => event.title.clone(),
                starts_at => ser(&event.starts_at), timezone => event.timezone.clone(),
                venue => event.venue.clone(), location => event.location.clone(),
                status => event.status.as_str(),
            },
            counts => ser(&counts),
            answer => answer.map(ser),
        },
    )
}

/// The check-in form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// What the door says of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    /// Checked in now.
    Valid,
    /// Scanned before.
    Already,
    /// Forged, unknown, or of a booking that does not admit.
    Invalid,
    /// A genuine ticket of another event.
    WrongEvent,
}

impl Verdict {
    fn heading(self) -> &'static str {
        match self {
            Verdict::Valid => "Checked in",
            Verdict::Already => "Already checked in",
            Verdict::Invalid => "Invalid ticket",
            Verdict::WrongEvent => "Wrong event",
        }
    }
}

/// The answer to a code, as the page shows it and the script receives it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    result: Verdict,
    /// The big word(s).
    heading: &'static str,
    /// What happened, in a sentence.
    message: String,
    /// Why a code is invalid: `unknown` (forged or unknown) or the booking's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// As the API writes it (the same instant `POST /api/checkin/verify` gives).
    #[serde(skip_serializing_if = "Option::is_none")]
    checked_in_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    /// `2 of 3`: which ticket of its booking.
    #[serde(skip_serializing_if = "Option::is_none")]
    seat: Option<String>,
    counts: Counts,
}

impl Answer {
    fn new(result: Verdict, message: String, counts: Counts) -> Self {
        Self {
            result,
            heading: result.heading(),
            message,
            reason: None,
            checked_in_at: None,
            ticket_type: None,
            customer_name: None,
            reference: None,
            seat: None,
            counts,
        }
    }

    /// Adds whose ticket it is (for a ticket of this event only).
    fn of(mut self, booking: &BookingRow, ticket: &TicketRow) -> Self {
        self.ticket_type = Some(booking.ticket_type_name.clone());
        self.customer_name = Some(booking.customer_name.clone());
        self.reference = Some(booking.reference.clone());
        self.seat = Some(format!("{} of {}", ticket.seat, booking.quantity));
        self
    }

    fn at(mut self, at: DateTime<Utc>) -> Self {
        self.checked_in_at = Some(at);
        self
    }
}

/// A code's verdict before the counts are read again.
enum Decision {
    Valid(BookingRow, TicketRow),
    Already(BookingRow, TicketRow, DateTime<Utc>),
    Unknown,
    Empty,
    NotAdmitted(BookingRow, String),
    WrongEvent(Option<String>),
}

/// Decides a code for `event` with the check-in service's own steps.
async fn decide(
    state: &AppState,
    user: &AuthUser,
    event: &EventRow,
    code: &str,
) -> ApiResult<Decision> {
    let (ticket, booking) = match checkin::find(state, user, code).await {
        Ok(found) => found,
        Err(e) if e.code == ErrorCode::NotFound => return Ok(Decision::Unknown),
        // A genuine ticket of another organizer's event: nothing more of it is said.
        Err(e) if e.code == ErrorCode::Forbidden => return Ok(Decision::WrongEvent(None)),
        Err(e) => return Err(e),
    };
    // Before the scan, so a ticket of another event is never checked in here. A booking's event
    // never changes, so this read opens no race: the scan below stays the one atomic step.
    if booking.event_id != event.id {
        return Ok(Decision::WrongEvent(Some(booking.event_title)));
    }
    if let Err(e) = checkin::require_confirmed(&booking) {
        return Ok(Decision::NotAdmitted(booking, e.message));
    }
    Ok(match checkin::scan(state, user, ticket.clone()).await? {
        Scan::CheckedIn(ticket, _) => Decision::Valid(booking, ticket),
        Scan::Already(at) => Decision::Already(booking, ticket, at),
        Scan::NoLongerConfirmed => Decision::NotAdmitted(
            booking,
            "This ticket's booking is no longer confirmed".to_string(),
        ),
    })
}

fn answer(decision: Decision, event: &EventRow, counts: Counts) -> Answer {
    let local = |at: DateTime<Utc>| {
        super::format::datetime(
            minijinja::Value::from(at.to_rfc3339_opts(SecondsFormat::Secs, true)),
            Some(event.timezone.clone()),
        )
    };
    match decision {
        Decision::Valid(booking, ticket) => {
            let text = format!(
                "{} · {} · {}",
                booking.ticket_type_name, booking.customer_name, booking.reference
            );
            let at = ticket.checked_in_at.unwrap_or_else(Utc::now);
            Answer::new(Verdict::Valid, text, counts)
                .of(&booking, &ticket)
                .at(at)
        }
        Decision::Already(booking, ticket, at) => Answer::new(
            Verdict::Already,
            format!("This ticket was checked in at {}.", local(at)),
            counts,
        )
        .of(&booking, &ticket)
        .at(at),
        Decision::Unknown => {
            let mut a = Answer::new(
                Verdict::Invalid,
                "Unknown or forged code: no ticket of TicketMax has it.".to_string(),
                counts,
            );
            a.reason = Some("unknown".to_string());
            a
        }
        Decision::Empty => Answer::new(
            Verdict::Invalid,
            "No code was entered: type the code printed under the ticket's QR image.".to_string(),
            counts,
        ),
        Decision::NotAdmitted(booking, why) => {
            let mut a = Answer::new(
                Verdict::Invalid,
                format!("{why} ({}).", booking.reference),
                counts,
            );
            a.reason = Some(booking.status.as_str().to_ascii_lowercase());
            a.reference = Some(booking.reference);
            a
        }
        Decision::WrongEvent(title) => Answer::new(
            Verdict::WrongEvent,
            match title {
                Some(title) => format!("This ticket is for “{title}”, not this event."),
                None => "This ticket is not for this event.".to_string(),
            },
            counts,
        ),
    }
}

/// Whether the client asked for the JSON answer (the scanner script does).
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A refusal for the script: `{result: "error", heading, message}` with the page's status.
fn json_refusal(status: StatusCode, heading: &str, message: &str) -> Response {
    let body = serde_json::json!({"result": "error", "heading": heading, "message": message});
    (status, axum::Json(body)).into_response()
}

/// `POST /door/{id}/check-in` (`code`, `csrf`): decides a code for this event and answers the
/// scanner page with the verdict above the form, or the verdict as JSON for the script.
pub async fn check_in(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = wants_json(&headers);
    let fail = |e: ApiError| {
        if json {
            let status = e.code.status();
            if status.is_server_error() {
                tracing::error!(error = ?e, "a door check-in failed");
            }
            json_refusal(status, "Not checked", &console::friendly(&e))
        } else {
            staff.failure(e)
        }
    };
    let form: CodeForm = match staff.form(&state, &body) {
        Ok(form) => form,
        Err(page) if json => {
            return json_refusal(
                page.status(),
                "This page has expired",
                "Nothing was checked in. Reload the page and scan again.",
            );
        }
        Err(page) => return *page,
    };
    let event = match door_event(&staff, &state, &id).await {
        Ok(event) => event,
        Err(e) => return fail(e),
    };
    let code = form.code.trim();
    let decision = if code.is_empty() {
        Ok(Decision::Empty)
    } else {
        decide(&state, &staff.user, &event, code).await
    };
    let decision = match decision {
        Ok(decision) => decision,
        Err(e) => return fail(e),
    };
    let counts = match counts(&state, event.id).await {
        Ok(counts) => counts,
        Err(e) => return fail(e),
    };
    let answer = answer(decision, &event, counts);
    if json {
        return axum::Json(answer).into_response();
    }
    scanner_page(&staff, &event, counts, Some(&answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_door_check_in_path_is_a_check_in() {
        let id = Uuid::now_v7();
        assert!(is_check_in(&format!("/door/{id}/check-in")));
        assert!(!is_check_in(&format!("/door/{id}")));
        assert!(!is_check_in("/door//check-in"));
        assert!(!is_check_in("/door/a/b/check-in"));
        assert!(is_door_path("/door") && is_door_path(&format!("/door/{id}")));
        assert!(!is_door_path("/doorway"));
    }
}
