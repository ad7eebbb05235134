//! The console at `/admin` (API.md §11.76): server-rendered pages for organizers (their events'
//! sales, check-in, bookings, exports) and admins (the platform's figures, applications, users,
//! the audit log, blocked IPs, the outbox). Every page and form calls the handler or service the
//! JSON route calls, with the caller taken from the session cookie ([`super::session`]) instead
//! of a bearer token, so no rule has a second copy here; their errors become friendly pages.
//!
//! It lives in `web` rather than `dashboard` because it spans every area (users, organizers,
//! audit, notifications, dashboard) and is a set of pages: the path `/admin` leads here.

mod admin;
pub(crate) mod auth;
mod sales;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Value;
use serde::de::DeserializeOwned;

use super::session::{self, SessionClaims};
use crate::http::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::users::AuthUser;
use crate::users::model::Role;

/// The session cookie's name.
pub const COOKIE: &str = "tm_console";
/// The session cookie's path: the whole site, so the door ([`crate::web::door`]) shares the
/// console's sign-in.
pub const COOKIE_PATH: &str = "/";
/// Where the console lives.
pub const ROOT: &str = "/admin";
/// The sign-in page (it shares the API login's rate-limit bucket).
pub const LOGIN_PATH: &str = "/admin/login";
/// The one-shot message shown by the next page after a form.
const FLASH_COOKIE: &str = "tm_flash";

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(LOGIN_PATH, get(auth::show_login).post(auth::sign_in))
        .route("/admin/logout", post(auth::sign_out))
        .route("/admin", get(sales::overview))
        .route("/admin/events", get(sales::events))
        .route("/admin/events/{id}", get(sales::event))
        .route("/admin/export", get(sales::export))
        .route("/admin/updates/ticket", post(sales::live_ticket))
        .route("/admin/applications", get(admin::applications))
        .route(
            "/admin/applications/{id}/{decision}",
            post(admin::decide_application),
        )
        .route("/admin/users", get(admin::users))
        .route("/admin/users/{id}/{change}", post(admin::change_user))
        .route("/admin/audit", get(admin::audit_log))
        .route("/admin/blocked-ips", get(admin::blocked_ips))
        .route("/admin/blocked-ips/unblock", post(admin::unblock_ip))
        .route("/admin/notifications", get(admin::notifications))
}

/// A signed-in ORGANIZER or ADMIN, with what every page's layout shows.
pub struct Staff {
    /// The caller, as the API's handlers take it.
    pub user: AuthUser,
    email: String,
    csrf: String,
    flash: Option<(String, String)>,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        // A page asked for without a session comes back after the sign-in; a form does not.
        let next = (parts.method == Method::GET)
            .then(|| parts.uri.path_and_query().map(|p| p.as_str()))
            .flatten();
        let claims = session::cookie(&parts.headers, COOKIE)
            .and_then(|v| SessionClaims::open(state, v))
            .ok_or_else(|| to_sign_in(state, next))?;
        let user = match claims.resume(state).await {
            Ok(user) => user,
            Err(e) if e.code == ErrorCode::Unauthorized => return Err(to_sign_in(state, next)),
            Err(e) => return Err(failure(Value::UNDEFINED, e)),
        };
        if !matches!(user.role, Role::Admin | Role::Organizer) {
            return Err(refusal());
        }
        let email = match state.store.user_by_id(user.id).await {
            Ok(Some(row)) => row.email,
            Ok(None) => return Err(to_sign_in(state, next)),
            Err(e) => return Err(failure(Value::UNDEFINED, e.into())),
        };
        let flash = session::flash(&parts.headers, FLASH_COOKIE);
        Ok(Staff {
            csrf: session::csrf_token(state, user.sid),
            user,
            email,
            flash,
        })
    }
}

/// A signed-in ADMIN; an organizer is refused with a 403 page.
pub struct AdminStaff(pub Staff);

impl FromRequestParts<AppState> for AdminStaff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let staff = Staff::from_request_parts(parts, state).await?;
        if staff.user.role != Role::Admin {
            return Err(super::message(
                StatusCode::FORBIDDEN,
                "Admins only",
                "This page is for platform admins. Your events are under Events.",
                staff.shell(),
            ));
        }
        Ok(AdminStaff(staff))
    }
}

impl Staff {
    /// What the layout shows: who is signed in, the admin links, the sign-out token, the flash.
    pub(crate) fn shell(&self) -> Value {
        minijinja::context! {
            email => self.email.clone(),
            admin => self.user.role == Role::Admin,
            csrf => self.csrf.clone(),
            flash => self.flash.as_ref().map(|(kind, text)| minijinja::context! { kind, text }),
        }
    }

    /// Renders a page of the console inside the layout (and forgets the flash it showed).
    pub(crate) fn render(&self, name: &str, section: &str, ctx: Value) -> Response {
        let ctx = minijinja::context! { shell => self.shell(), section, ..ctx };
        let mut response = super::render(StatusCode::OK, name, ctx);
        if self.flash.is_some()
            && let Ok(v) = HeaderValue::from_str(&format!(
                "{FLASH_COOKIE}=; Path={ROOT}; Max-Age=0; HttpOnly; SameSite=Strict"
            ))
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    }

    /// A service's refusal or failure as a page.
    pub(crate) fn failure(&self, e: ApiError) -> Response {
        failure(self.shell(), e)
    }

    /// A form's fields, once its CSRF token is found to be this session's; otherwise the 403
    /// page (boxed: a response is large), before anything happens.
    pub(crate) fn form<T: DeserializeOwned>(
        &self,
        state: &AppState,
        body: &[u8],
    ) -> Result<T, Box<Response>> {
        let token = form_urlencoded::parse(body)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !session::csrf_valid(state, self.user.sid, &token) {
            return Err(Box::new(forbidden_form(self.shell())));
        }
        serde_urlencoded::from_bytes(body).map_err(|_| {
            Box::new(super::message(
                StatusCode::BAD_REQUEST,
                "That form could not be read",
                "Go back, reload the page and try again.",
                self.shell(),
            ))
        })
    }
}

/// 403 for a form without this session's CSRF token.
fn forbidden_form(shell: Value) -> Response {
    super::message(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "Nothing was changed. Reload the page and submit the form again.",
        shell,
    )
}

/// 303 to a console page, with a one-shot message for it (`kind` is `ok` or `error`).
fn done(to: &str, kind: &str, text: &str) -> Response {
    let encoded: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
    let mut response = see_other(to);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{FLASH_COOKIE}={kind}:{encoded}; Path={ROOT}; Max-Age=60; HttpOnly; SameSite=Strict"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn see_other(to: &str) -> Response {
    let location = HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static(ROOT));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// 303 to the sign-in page (which comes back to `next`, a local path, once signed in),
/// forgetting a cookie that no longer opens a session.
fn to_sign_in(state: &AppState, next: Option<&str>) -> Response {
    let to = match next.and_then(local_path).filter(|n| *n != ROOT) {
        Some(next) => {
            // Encoded as a query value, keeping `/` readable.
            let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            format!("{LOGIN_PATH}?next={}", encoded.replace("%2F", "/"))
        }
        None => LOGIN_PATH.to_string(),
    };
    let mut response = see_other(&to);
    for v in forget_session(state) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `Set-Cookie` values that delete the session cookie, on its path and on `/admin`, where
/// earlier versions kept it (a stale cookie there would shadow the site-wide one).
fn forget_session(state: &AppState) -> impl Iterator<Item = HeaderValue> {
    [ROOT, COOKIE_PATH]
        .into_iter()
        .filter_map(|path| session::set_cookie(state, COOKIE, "", path, std::time::Duration::ZERO))
}

/// `next` when it is a path of this site (`/…`), never another origin (`//host`, `/\host`,
/// which browsers read as `//host`) nor a header-breaking control character.
pub fn local_path(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control);
    local.then_some(next)
}

/// 403 for an account that is neither ORGANIZER nor ADMIN.
fn refusal() -> Response {
    super::message(
        StatusCode::FORBIDDEN,
        "The console is for organizers",
        "Your account can buy tickets but not use the console. To sell tickets, apply to become an organizer.",
        Value::UNDEFINED,
    )
}

/// The words people see for a service's error; a server fault is logged and not described.
pub fn friendly(e: &ApiError) -> String {
    if e.code.status().is_server_error() {
        return "Something went wrong on our side. Try again in a moment.".to_string();
    }
    let fields: Vec<String> = e
        .details
        .iter()
        .flatten()
        .filter_map(|d| {
            Some(format!(
                "{} {}",
                d.get("field")?.as_str()?,
                d.get("message")?.as_str()?
            ))
        })
        .collect();
    if fields.is_empty() {
        e.message.clone()
    } else {
        format!("{}: {}.", e.message, fields.join("; "))
    }
}

fn failure(shell: Value, e: ApiError) -> Response {
    let status = e.code.status();
    if status.is_server_error() {
        tracing::error!(error = ?e, "a console page failed");
    }
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    let mut response = super::message(status, heading, &friendly(&e), shell);
    if let Some(secs) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The request guard's refusals (IP block, rate limit) on a console path, as a page.
pub fn guard_refusal(e: ApiError) -> Response {
    failure(Value::UNDEFINED, e)
}
