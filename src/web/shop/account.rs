//! The buyer's account pages: sign in and out, register, the emailed code, a forgotten password.
//! Each form calls the JSON route's handler (account lock, IP block, rate buckets, no account
//! enumeration, audit), and spends that route's rate-limit bucket
//! ([`crate::web::api_route_of`]).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::{
    COOKIE, LOGIN_PATH, PageResult, RESET_PATH, VERIFY_PATH, Visitor, done, field_errors, friendly,
    local_path, see_other,
};
use crate::http::{ApiError, ApiJson, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::users::abuse::ClientIp;
use crate::users::routes::EmailBody;
use crate::users::routes::login::{LoginBody, log_in};
use crate::users::routes::password::{ResetPasswordBody, forgot_password, reset_password};
use crate::users::routes::registration::{
    RegisterBody, VerifyEmailBody, register_user, resend_verification, verify_email,
};
use crate::users::sessions;
use crate::web::serialized;
use crate::web::session::{self, SessionClaims};

/// How long a buyer stays signed in.
const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Every account form's fields (each page uses some).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    action: String,
}

/// A query that pre-fills a form (`email`, `next`).
#[derive(Debug, Default, Deserialize)]
pub struct Prefill {
    email: Option<String>,
    next: Option<String>,
}

/// Renders an account page with the form's values, its fields' problems and a general one.
fn form_page(
    state: &AppState,
    visitor: &Visitor,
    status: StatusCode,
    template: &str,
    form: &AccountForm,
    errors: &[(String, String)],
    problem: Option<String>,
) -> Response {
    let errors: std::collections::BTreeMap<&str, &str> = errors
        .iter()
        .map(|(f, m)| (f.as_str(), m.as_str()))
        .collect();
    visitor.render(
        state,
        status,
        template,
        minijinja::context! {
            form => minijinja::context! {
                email => form.email.clone(),
                first_name => form.first_name.clone(),
                last_name => form.last_name.clone(),
                phone => form.phone.clone(),
                next => local_path(Some(&form.next)),
            },
            errors => serialized(&errors),
            problem,
        },
    )
}

/// 303 to the next account page with the email filled in, and a one-shot message for it.
fn onward(state: &AppState, path: &str, email: &str, text: &str) -> Response {
    let email: String = form_urlencoded::byte_serialize(email.trim().as_bytes()).collect();
    done(state, &format!("{path}?email={email}"), "ok", text)
}

fn prefilled(raw: Option<String>) -> AccountForm {
    let prefill: Prefill = super::query(raw);
    AccountForm {
        email: prefill.email.unwrap_or_default(),
        next: prefill.next.unwrap_or_default(),
        ..AccountForm::default()
    }
}

/// `GET /account/login`.
pub async fn show_login(
    State(state): State<AppState>,
    visitor: Visitor,
    RawQuery(raw): RawQuery,
) -> Response {
    let form = prefilled(raw);
    if visitor.user.is_some() {
        return see_other(&local_path(Some(&form.next)).unwrap_or_else(|| "/account".into()));
    }
    form_page(
        &state,
        &visitor,
        StatusCode::OK,
        "shop/login.html",
        &form,
        &[],
        None,
    )
}

/// `POST /account/login`: signs in through the API login's service, then back to `next`.
pub async fn sign_in(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> PageResult {
    let form: AccountForm = visitor.form(&state, &body)?;
    let login = LoginBody {
        email: form.email.clone(),
        password: form.password.clone(),
    };
    let pair = match log_in(&state, ip, login).await {
        Ok(pair) => pair,
        Err(e) => {
            if e.code.status().is_server_error() {
                tracing::error!(error = ?e, "a storefront sign-in failed");
            }
            let (field, text) = crate::web::console::auth::refused(&e);
            let unverified = e.code == ErrorCode::EmailNotVerified;
            let mut response = form_page(
                &state,
                &visitor,
                e.code.status(),
                "shop/login.html",
                &form,
                &[(field.to_string(), text)],
                unverified.then(|| "unverified".to_string()),
            );
            if let Some(secs) = e.retry_after
                && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(response);
        }
    };
    let Some(claims) = state.jwt.verify(&pair.access_token) else {
        return Ok(visitor.failure(
            &state,
            ApiError::internal(anyhow::anyhow!("a fresh access token did not verify")),
        ));
    };
    let mut sealed = SessionClaims::new(claims.sub, claims.sid, claims.ver);
    sealed.expires = chrono::Utc::now().timestamp() + SESSION_TTL.as_secs() as i64;
    let to = local_path(Some(&form.next)).unwrap_or_else(|| "/account".into());
    let mut response = see_other(&to);
    if let Some(v) = session::set_lax_cookie(&state, COOKIE, &sealed.seal(&state), SESSION_TTL) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// `POST /account/logout`: ends the session everywhere and forgets the cookie.
pub async fn sign_out(State(state): State<AppState>, visitor: Visitor, body: Bytes) -> PageResult {
    visitor.form::<serde::de::IgnoredAny>(&state, &body)?;
    if let Some(user) = &visitor.user {
        if let Err(e) = state.store.revoke_session(user.id, user.sid).await {
            return Ok(visitor.failure(&state, e.into()));
        }
        sessions::announce_sessions(&state, &[user.sid]).await;
    }
    let mut response = done(&state, LOGIN_PATH, "ok", "You are signed out.");
    if let Some(v) = session::set_lax_cookie(&state, COOKIE, "", Duration::ZERO) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// `GET` of an account form (`register`, `verify`, `forgot`, `reset`), filled from the query.
pub fn blank_form(
    template: &'static str,
) -> impl Fn(State<AppState>, Visitor, RawQuery) -> std::future::Ready<Response> + Clone {
    move |State(state), visitor, RawQuery(raw)| {
        std::future::ready(form_page(
            &state,
            &visitor,
            StatusCode::OK,
            template,
            &prefilled(raw),
            &[],
            None,
        ))
    }
}

/// What an account form's call came to: on to `next` (`(path, message)`, the email filled in),
/// or the form again with the refusal, `known`'s words under its field when the error has its
/// code (`(code, field, words)`).
fn settle<T>(
    (state, visitor, form): (&AppState, &Visitor, &AccountForm),
    template: &str,
    result: ApiResult<T>,
    rename: &[(&str, &str)],
    next: (&str, &str),
    known: Option<(ErrorCode, &str, &str)>,
) -> Response {
    let e = match result {
        Ok(_) => return onward(state, next.0, &form.email, next.1),
        Err(e) => e,
    };
    let mut errors = field_errors(&e, rename);
    if let Some((code, field, words)) = known
        && e.code == code
    {
        errors.push((field.to_string(), words.to_string()));
    }
    if e.code.status().is_server_error() {
        tracing::error!(error = ?e, template, "an account form failed");
    }
    let problem = if errors.is_empty() {
        friendly(&e)
    } else {
        "Check the highlighted fields.".to_string()
    };
    form_page(
        state,
        visitor,
        e.code.status(),
        template,
        form,
        &errors,
        Some(problem),
    )
}

/// `POST /account/register`: creates the account through the API's registration, which emails
/// a code; on to the code page.
pub async fn register(State(state): State<AppState>, visitor: Visitor, body: Bytes) -> PageResult {
    let form: AccountForm = visitor.form(&state, &body)?;
    let registration = RegisterBody {
        first_name: form.first_name.trim().to_string(),
        last_name: form.last_name.trim().to_string(),
        email: form.email.trim().to_string(),
        password: form.password.clone(),
        phone: super::non_empty(&form.phone),
        date_of_birth: None,
        bio: None,
        address: None,
        preferences: None,
    };
    let result = register_user(State(state.clone()), ApiJson(registration)).await;
    Ok(settle(
        (&state, &visitor, &form),
        "shop/register.html",
        result,
        &[],
        (
            VERIFY_PATH,
            "We emailed you a 6-digit code. Enter it to activate your account.",
        ),
        Some((
            ErrorCode::EmailTaken,
            "email",
            "already has an account: sign in, or reset its password",
        )),
    ))
}

/// `POST /account/verify`: proves the email with its code (or, `action=resend`, asks for a new
/// one), through the API's handlers.
pub async fn verify(State(state): State<AppState>, visitor: Visitor, body: Bytes) -> PageResult {
    let form: AccountForm = visitor.form(&state, &body)?;
    let page = (&state, &visitor, &form);
    if form.action == "resend" {
        let body = EmailBody {
            email: form.email.clone(),
        };
        let result = resend_verification(State(state.clone()), ApiJson(body)).await;
        return Ok(settle(
            page,
            "shop/verify.html",
            result,
            &[],
            (
                VERIFY_PATH,
                "If this account still needs a code, a new one is on its way.",
            ),
            None,
        ));
    }
    let body = VerifyEmailBody {
        email: form.email.clone(),
        code: form.code.trim().to_string(),
    };
    let result = verify_email(State(state.clone()), ApiJson(body)).await;
    Ok(settle(
        page,
        "shop/verify.html",
        result,
        &[],
        (LOGIN_PATH, "Your email is verified. Sign in to continue."),
        Some((
            ErrorCode::InvalidToken,
            "code",
            "is wrong or expired: check the latest email, or ask for a new code",
        )),
    ))
}

/// `POST /account/forgot`: asks for a reset code (the same answer whether or not the account
/// exists), then on to the reset page.
pub async fn forgot(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> PageResult {
    let form: AccountForm = visitor.form(&state, &body)?;
    let body = EmailBody {
        email: form.email.clone(),
    };
    let result = forgot_password(State(state.clone()), ClientIp(ip), ApiJson(body)).await;
    Ok(settle(
        (&state, &visitor, &form),
        "shop/forgot.html",
        result,
        &[],
        (
            RESET_PATH,
            "If an account uses this email, we sent it a 6-digit code.",
        ),
        None,
    ))
}

/// `POST /account/reset`: a new password with the code, through the API's reset.
pub async fn reset(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> PageResult {
    let form: AccountForm = visitor.form(&state, &body)?;
    let body = ResetPasswordBody {
        email: form.email.clone(),
        code: form.code.trim().to_string(),
        new_password: form.password.clone(),
    };
    let result = reset_password(State(state.clone()), ClientIp(ip), ApiJson(body)).await;
    Ok(settle(
        (&state, &visitor, &form),
        "shop/reset.html",
        result,
        &[("newPassword", "password")],
        (
            LOGIN_PATH,
            "Your password is changed, and every other sign-in ended. Sign in with the new one.",
        ),
        Some((
            ErrorCode::InvalidToken,
            "code",
            "is wrong or expired: ask for a new one",
        )),
    ))
}
