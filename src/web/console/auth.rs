//! Signing in and out of the console. Sign-in goes through the API login's service
//! ([`log_in`]: account lock, IP block, rate bucket, suspended and unverified answers, audit) and
//! keeps the session it opens in the cookie; only ORGANIZER and ADMIN accounts keep theirs.
//! A page that sent its visitor here names itself in `next` (the door does), and the sign-in
//! goes back there: only to a path of this site, never to another one.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use minijinja::Value;
use serde::Deserialize;

use super::{COOKIE, COOKIE_PATH, LOGIN_PATH, ROOT, Staff, local_path, see_other};
use crate::http::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::users::abuse::ClientIp;
use crate::users::model::Role;
use crate::users::routes::login::{LoginBody, log_in};
use crate::users::sessions;
use crate::web::session::{self, SessionClaims};

/// The sign-in form's double-submit cookie (no session exists yet to bind a token to).
const LOGIN_COOKIE: &str = "tm_login";

/// The sign-in form.
#[derive(Debug, Default, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// Where to go once signed in (see [`local_path`]).
    #[serde(default)]
    next: String,
}

/// The sign-in page's query.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Where a sign-in leads: `next` when it is a local path, else the console.
fn destination(next: &str) -> &str {
    local_path(next).unwrap_or(ROOT)
}

/// The sign-in page with a fresh form token; a problem, when given, is tied to its field.
fn login_page(
    state: &AppState,
    status: StatusCode,
    email: &str,
    next: &str,
    problem: Option<(&str, String)>,
) -> Response {
    let token = session::random_token();
    let (field, error) = problem.unzip();
    // Only a local path travels on in the form; anything else is dropped here already.
    let next = local_path(next).unwrap_or("");
    let mut response = crate::web::render(
        status,
        "console/login.html",
        minijinja::context! { shell => Value::UNDEFINED, csrf => token.clone(), email, field, error, next },
    );
    if let Some(v) = session::set_cookie(
        state,
        LOGIN_COOKIE,
        &token,
        LOGIN_PATH,
        Duration::from_secs(3600),
    ) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /admin/login[?next=/door]`: the form, or (for a session that still stands) the page
/// `next` names, else the console.
pub async fn show_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let next = serde_urlencoded::from_str::<LoginQuery>(raw.as_deref().unwrap_or(""))
        .unwrap_or_default()
        .next
        .unwrap_or_default();
    let signed_in =
        match session::cookie(&headers, COOKIE).and_then(|v| SessionClaims::open(&state, v)) {
            Some(claims) => claims
                .resume(&state)
                .await
                .is_ok_and(|u| u.role != Role::User),
            None => false,
        };
    if signed_in {
        return see_other(destination(&next));
    }
    login_page(&state, StatusCode::OK, "", &next, None)
}

/// What a refused sign-in says, and to which field.
pub(crate) fn refused(e: &ApiError) -> (&'static str, String) {
    let text = match e.code {
        ErrorCode::InvalidCredentials => {
            "That email and password do not match an account.".to_string()
        }
        ErrorCode::ValidationFailed => {
            return (
                "email",
                "Enter your email address, like name@example.com.".to_string(),
            );
        }
        ErrorCode::AccountLocked => format!(
            "Too many failed sign-ins: this account is locked. Try again in {} minute(s).",
            e.retry_after.unwrap_or(60).div_ceil(60)
        ),
        ErrorCode::AccountSuspended => {
            "This account is suspended or deactivated. Contact the platform's support.".to_string()
        }
        ErrorCode::EmailNotVerified => {
            "Verify your email address first, with the code we emailed you.".to_string()
        }
        ErrorCode::IpBlocked => {
            "Sign-ins from your network are blocked for a while after too many failures."
                .to_string()
        }
        _ => super::friendly(e),
    };
    ("password", text)
}

/// `POST /admin/login`: signs in with email and password; 303 to the console.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: SignInForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let same_form = session::cookie(&headers, LOGIN_COOKIE).is_some_and(|c| {
        !c.is_empty() && crate::crypto::constant_time_eq(c.as_bytes(), form.csrf.as_bytes())
    });
    if !same_form {
        return super::forbidden_form(Value::UNDEFINED);
    }
    let email = form.email.clone();
    let next = form.next;
    let login = LoginBody {
        email: form.email,
        password: form.password,
    };
    let pair = match log_in(&state, ip, login).await {
        Ok(pair) => pair,
        Err(e) => {
            if e.code.status().is_server_error() {
                tracing::error!(error = ?e, "console sign-in failed");
            }
            let (field, text) = refused(&e);
            return login_page(&state, e.code.status(), &email, &next, Some((field, text)));
        }
    };
    let Some(claims) = state.jwt.verify(&pair.access_token) else {
        return super::failure(
            Value::UNDEFINED,
            ApiError::internal(anyhow::anyhow!("a fresh access token did not verify")),
        );
    };
    if claims.role == Role::User {
        // The session the login opened would be of no use here: it ends at once.
        if let Err(e) = state.store.revoke_session(claims.sub, claims.sid).await {
            tracing::warn!(error = %e, "could not end a refused console session");
        }
        sessions::announce_sessions(&state, &[claims.sid]).await;
        return super::refusal();
    }
    let value = SessionClaims::new(claims.sub, claims.sid, claims.ver).seal(&state);
    let mut response = see_other(destination(&next));
    // The stale cookie an earlier version kept on `/admin` goes first, then the site-wide one.
    let cookies = [
        session::set_cookie(&state, COOKIE, "", ROOT, Duration::ZERO),
        session::set_cookie(&state, COOKIE, &value, COOKIE_PATH, session::SESSION_TTL),
        session::set_cookie(&state, LOGIN_COOKIE, "", LOGIN_PATH, Duration::ZERO),
    ];
    for v in cookies.into_iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `POST /admin/logout`: ends the session (here and on every instance) and forgets the cookie.
pub async fn sign_out(staff: Staff, State(state): State<AppState>, body: Bytes) -> Response {
    if let Err(page) = staff.form::<serde::de::IgnoredAny>(&state, &body) {
        return *page;
    }
    if let Err(e) = state
        .store
        .revoke_session(staff.user.id, staff.user.sid)
        .await
    {
        return staff.failure(e.into());
    }
    sessions::announce_sessions(&state, &[staff.user.sid]).await;
    super::to_sign_in(&state, None)
}
