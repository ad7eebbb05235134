//! The storefront (WEB.md): the pages buyers use. Home and event pages are public and served
//! from the response cache; checkout, the booking page, "my tickets" and the account pages are
//! personal. Every form calls the service the JSON route calls (booking, payment, login,
//! registration, codes), so no rule has a second copy here; their refusals become sentences.
//!
//! Who is buying:
//! - a signed-in buyer has the `tm_session` cookie: a session of the users area, sealed like the
//!   console's ([`super::session`]) but `SameSite=Lax`, so it survives the return from a payment
//!   gateway or an email link;
//! - a guest has the `tm_guest` cookie: the guest tokens of their recent bookings, set when they
//!   book here or open the link of a booking email (`?token=gt_…`, then redirected to the same
//!   page without it, so the token leaves the address bar and the history at once).
//!
//! Forms carry a CSRF token: the HMAC of the session for a signed-in buyer, else a random value
//! repeated in the `tm_form` cookie (double submit).

mod account;
mod bookings;
mod catalogue;
mod checkout;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Value;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::console::friendly;
use super::session::{self, SessionClaims};
use crate::http::ApiError;
use crate::state::AppState;
use crate::users::AuthUser;

/// The buyer's session cookie.
pub const COOKIE: &str = "tm_session";
/// The guest tokens of the bookings made or opened in this browser.
const GUEST_COOKIE: &str = "tm_guest";
/// The double-submit token of forms shown to someone not signed in.
const FORM_COOKIE: &str = "tm_form";
/// The one-shot message shown by the next page.
const FLASH_COOKIE: &str = "tm_note";
/// How many guest tokens the cookie keeps (the latest).
const GUEST_TOKENS_KEPT: usize = 8;
/// How long the guest cookie lasts: a token itself stops working 30 days after its event.
const GUEST_COOKIE_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// The sign-in page.
pub const LOGIN_PATH: &str = "/account/login";
/// The registration page.
pub const REGISTER_PATH: &str = "/account/register";
/// The email-code page.
pub const VERIFY_PATH: &str = "/account/verify";
/// The "forgot password" page.
pub const FORGOT_PATH: &str = "/account/forgot";
/// The password-reset page.
pub const RESET_PATH: &str = "/account/reset";

/// The storefront's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(catalogue::home))
        .route("/events/{id}", get(catalogue::event))
        .route("/events/{id}/{slug}", get(catalogue::event_with_slug))
        .route(
            "/events/{id}/checkout",
            get(checkout::details).post(checkout::hold),
        )
        .route("/checkout/{id}", get(checkout::show))
        .route("/checkout/{id}/pay", post(checkout::pay))
        .route("/checkout/{id}/cancel", post(checkout::cancel))
        .route("/bookings/{id}", get(bookings::show))
        .route("/bookings/{id}/tickets.pdf", get(bookings::tickets_pdf))
        .route("/account", get(bookings::mine))
        .route(LOGIN_PATH, get(account::show_login).post(account::sign_in))
        .route("/account/logout", post(account::sign_out))
        .route(
            REGISTER_PATH,
            get(account::blank_form("shop/register.html")).post(account::register),
        )
        .route(
            VERIFY_PATH,
            get(account::blank_form("shop/verify.html")).post(account::verify),
        )
        .route(
            FORGOT_PATH,
            get(account::blank_form("shop/forgot.html")).post(account::forgot),
        )
        .route(
            RESET_PATH,
            get(account::blank_form("shop/reset.html")).post(account::reset),
        )
}

/// Another answer than the page asked for (a refusal, a redirect to sign in), returned early
/// with `?` (boxed: a response is large).
pub struct Detour(Box<Response>);

impl From<Response> for Detour {
    fn from(response: Response) -> Self {
        Detour(Box::new(response))
    }
}

impl IntoResponse for Detour {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// What a page handler answers.
pub type PageResult = Result<Response, Detour>;

/// A booking id from the path; anything else is the "not found" page.
pub struct BookingPath(pub Uuid);

impl FromRequestParts<AppState> for BookingPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let id = parts
            .uri
            .path()
            .split('/')
            .nth(2)
            .and_then(|segment| segment.parse::<Uuid>().ok());
        match id {
            Some(id) => Ok(BookingPath(id)),
            None => {
                let visitor = Visitor::from_request_parts(parts, state)
                    .await
                    .unwrap_or_else(|never| match never {});
                Err(visitor.failure(state, ApiError::not_found("Booking")))
            }
        }
    }
}

/// Whoever is on a personal page: a signed-in buyer or not, their guest tokens, the form token.
pub struct Visitor {
    /// The signed-in account, when its session still stands.
    pub user: Option<AuthUser>,
    /// Guest tokens from the cookie (newest first).
    guest_tokens: Vec<String>,
    csrf: String,
    /// A form token to set in the cookie (none was there).
    new_form_token: bool,
    flash: Option<(String, String)>,
    /// The session cookie no longer opens a session: forget it.
    stale_session: bool,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let claims = session::cookie(&parts.headers, COOKIE).map(|v| SessionClaims::open(state, v));
        let user = match claims {
            Some(Some(claims)) => claims.resume(state).await.ok(),
            _ => None,
        };
        let stale_session = claims.is_some() && user.is_none();
        let guest_tokens = session::cookie(&parts.headers, GUEST_COOKIE)
            .map(parse_tokens)
            .unwrap_or_default();
        let (csrf, new_form_token) = match &user {
            Some(user) => (session::csrf_token(state, user.sid), false),
            None => match session::cookie(&parts.headers, FORM_COOKIE) {
                Some(token) if token.len() == 32 => (token.to_string(), false),
                _ => (session::random_token(), true),
            },
        };
        let flash = session::flash(&parts.headers, FLASH_COOKIE);
        Ok(Visitor {
            user,
            guest_tokens,
            csrf,
            new_form_token,
            flash,
            stale_session,
        })
    }
}

/// Guest tokens from the cookie's value: `gt_…` words separated by dots.
fn parse_tokens(value: &str) -> Vec<String> {
    value
        .split('.')
        .filter(|t| {
            t.starts_with("gt_")
                && t.len() <= 100
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .take(GUEST_TOKENS_KEPT)
        .map(str::to_string)
        .collect()
}

impl Visitor {
    /// What the layout shows.
    fn shell(&self) -> Value {
        minijinja::context! {
            signed_in => self.user.is_some(),
            csrf => self.csrf.clone(),
            flash => self.flash.as_ref().map(|(kind, text)| minijinja::context! { kind, text }),
        }
    }

    /// Renders a personal page inside the layout, with the cookies the visit needs.
    fn render(&self, state: &AppState, status: StatusCode, name: &str, ctx: Value) -> Response {
        let ctx = minijinja::context! { shell => self.shell(), ..ctx };
        let response = super::render(status, name, ctx);
        self.finish(state, response)
    }

    /// Adds the cookies of the visit to an answer: a new form token, a forgotten flash or
    /// stale session.
    fn finish(&self, state: &AppState, mut response: Response) -> Response {
        let mut cookies = Vec::new();
        if self.new_form_token {
            cookies.push(session::set_lax_cookie(
                state,
                FORM_COOKIE,
                &self.csrf,
                Duration::from_secs(24 * 3600),
            ));
        }
        if self.flash.is_some() {
            cookies.push(session::set_lax_cookie(
                state,
                FLASH_COOKIE,
                "",
                Duration::ZERO,
            ));
        }
        if self.stale_session {
            cookies.push(session::set_lax_cookie(state, COOKIE, "", Duration::ZERO));
        }
        for v in cookies.into_iter().flatten() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    }

    /// A page with a heading and a sentence, in the storefront's layout.
    fn message(&self, state: &AppState, status: StatusCode, heading: &str, text: &str) -> Response {
        self.render(
            state,
            status,
            "shop/message.html",
            minijinja::context! { heading, text },
        )
    }

    /// A service's refusal or failure as a page.
    fn failure(&self, state: &AppState, e: ApiError) -> Response {
        let status = e.code.status();
        if status.is_server_error() {
            tracing::error!(error = ?e, "a storefront page failed");
        }
        let heading = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::UNAUTHORIZED => "This link does not open that booking",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::TOO_MANY_REQUESTS => "Too many requests",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let mut response = self.message(state, status, heading, &friendly(&e));
        if let Some(secs) = e.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }

    /// A form's fields once its CSRF token is found to be this visitor's; otherwise the 403
    /// page, before anything happens.
    fn form<T: DeserializeOwned>(&self, state: &AppState, body: &[u8]) -> Result<T, Detour> {
        let given = form_urlencoded::parse(body)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let valid = match &self.user {
            Some(user) => session::csrf_valid(state, user.sid, &given),
            None => {
                !self.new_form_token
                    && crate::crypto::constant_time_eq(given.as_bytes(), self.csrf.as_bytes())
            }
        };
        if !valid {
            return Err(self
                .message(
                    state,
                    StatusCode::FORBIDDEN,
                    "This form has expired",
                    "Nothing was changed. Go back, reload the page and submit the form again.",
                )
                .into());
        }
        serde_urlencoded::from_bytes(body).map_err(|_| {
            self.message(
                state,
                StatusCode::BAD_REQUEST,
                "That form could not be read",
                "Go back, reload the page and try again.",
            )
            .into()
        })
    }

    /// The guest cookie with `token` added in front (the oldest dropped past the limit).
    fn remember_guest(&self, state: &AppState, token: &str) -> Option<HeaderValue> {
        let mut tokens = vec![token.to_string()];
        tokens.extend(
            self.guest_tokens
                .iter()
                .filter(|t| t.as_str() != token)
                .take(GUEST_TOKENS_KEPT - 1)
                .cloned(),
        );
        session::set_lax_cookie(state, GUEST_COOKIE, &tokens.join("."), GUEST_COOKIE_TTL)
    }
}

/// A page's query string read leniently: what cannot be read is left at its default (a page
/// answers a hand-edited address rather than refusing it).
fn query<T: DeserializeOwned + Default>(raw: Option<String>) -> T {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default()
}

/// A form's text, trimmed; `None` when empty (an optional field left blank).
fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// 303 to a page of this site (anything else goes home).
fn see_other(to: &str) -> Response {
    let location = HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// 303 to a page with a one-shot message for it (`kind` is `ok` or `error`).
fn done(state: &AppState, to: &str, kind: &str, text: &str) -> Response {
    let encoded: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
    let mut response = see_other(to);
    if let Some(v) = session::set_lax_cookie(
        state,
        FLASH_COOKIE,
        &format!("{kind}:{encoded}"),
        Duration::from_secs(60),
    ) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// A local path to return to after signing in: `/…` but never `//…` or `/\…` (another site).
fn local_path(next: Option<&str>) -> Option<String> {
    let next = next?;
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && !next.chars().any(char::is_control);
    safe.then(|| next.to_string())
}

/// A service's refusal tied to the form field it names: `(field, message)` pairs under the
/// form's own field names (`rename` maps the API's names to them).
fn field_errors(e: &ApiError, rename: &[(&str, &str)]) -> Vec<(String, String)> {
    e.details
        .iter()
        .flatten()
        .filter_map(|d| {
            let field = d.get("field")?.as_str()?;
            let message = d.get("message")?.as_str()?;
            let field = rename
                .iter()
                .find(|(api, _)| *api == field)
                .map_or(field, |(_, form)| form);
            Some((field.to_string(), message.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path(Some("/account")), Some("/account".into()));
        assert_eq!(
            local_path(Some("/events/1/checkout?quantity=2")),
            Some("/events/1/checkout?quantity=2".into())
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
            "evil",
        ] {
            assert_eq!(local_path(Some(bad)), None, "{bad}");
        }
        assert_eq!(local_path(None), None);
    }

    #[test]
    fn the_guest_cookie_keeps_only_well_formed_tokens() {
        let tokens = parse_tokens("gt_abc234.nonsense.gt_x;y.gt_DEF567");
        assert_eq!(
            tokens,
            vec!["gt_abc234".to_string(), "gt_DEF567".to_string()]
        );
    }
}
