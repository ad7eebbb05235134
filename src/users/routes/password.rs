//! Passwords: `/user/forgot-password` and `/user/reset-password` (by emailed code) and
//! `/user/change-password` (logged in). Hashing itself is `crate::users::password`.

use std::net::IpAddr;

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{EmailBody, check_code, invalid_token, reload};
use crate::audit::{self, AuditEntry};
use crate::http::{ApiError, ApiJson, ApiResponse, ApiResult, ErrorCode};
use crate::notify::NewMessage;
use crate::state::AppState;
use crate::users::abuse::ClientIp;
use crate::users::codes::{self, CODE_TTL_MINUTES, Purpose};
use crate::users::{AuthUser, password, sessions, validate, workers};

/// Sends a password-reset code (always 200: no account enumeration).
#[utoipa::path(post, path = "/user/forgot-password", tag = "users",
    request_body = EmailBody,
    responses(
        (status = 200, description = "A code was sent if the account exists"),
    ))]
pub(crate) async fn forgot_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<EmailBody>,
) -> ApiResult<ApiResponse<()>> {
    let email = body.email.trim().to_lowercase();
    // The lookup and the code are the background job's, so an account costs the caller no more
    // time than no account; what cannot be an address (as login judges it) is not worth a job.
    if email.len() <= 254 && email.contains('@') {
        workers::enqueue("password_reset_code", send_reset_code(state, email, ip));
    }
    Ok(ApiResponse::ok(()).message("If the account exists, a reset code was sent"))
}

/// Emails (and texts, to a verified phone that allows it) a reset code to the account of
/// `email`, voiding its previous one; nothing when there is no such account.
async fn send_reset_code(state: AppState, email: String, ip: IpAddr) -> anyhow::Result<()> {
    let Some(user) = state.store.user_by_email(&email).await? else {
        return Ok(());
    };
    let (code, stored) = codes::issue(
        &state.config.jwt_secret,
        user.id,
        Purpose::PasswordReset,
        None,
    );
    let mut messages = vec![NewMessage::email(
        &user.email,
        "password_reset_code",
        json!({"firstName": user.first_name, "code": code, "expiresInMinutes": CODE_TTL_MINUTES}),
    )];
    if let Some(phone) = &user.phone
        && crate::notify::sms_allowed(&user)
    {
        messages.push(NewMessage::sms(
            phone,
            "sms_password_reset_code",
            json!({"code": code}),
        ));
    }
    state.store.issue_code(user.id, &stored, &messages).await?;
    audit::record(
        &state.store,
        AuditEntry::new("password.reset_requested")
            .actor(Some(user.id), Some(&user.email))
            .target("user", user.id)
            .ip(Some(ip)),
    )
    .await;
    Ok(())
}

// The `///` lines on request fields are their descriptions in the published, snapshot-tested
// OpenAPI document, so even the one-word ones (`/// Email.`) stay.

/// Reset request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetPasswordBody {
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
    )]
    pub email: String,
    /// The 6-digit code.
    pub code: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Sets a new password with a reset code; every session ends and a lock is lifted.
#[utoipa::path(post, path = "/user/reset-password", tag = "users",
    request_body = ResetPasswordBody,
    responses(
        (status = 200, description = "Password changed"),
        (status = 401, description = "INVALID_TOKEN: wrong, expired, used or burnt code"),
    ))]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ResetPasswordBody>,
) -> ApiResult<ApiResponse<()>> {
    if !validate::password_ok(&body.new_password) {
        return Err(ApiError::field(
            "newPassword",
            "must be 8 to 128 characters",
        ));
    }
    let email = body.email.trim().to_lowercase();
    let user = state.store.user_by_email(&email).await?;
    // An unknown email spends a try and hashes the new password like a known one with a wrong
    // code, so the time of the 401 does not tell whether the account exists.
    let code_id = reset_code_matches(&state, user.as_ref().map(|u| u.id), &body.code).await?;
    let hash = password::hash(body.new_password).await?;
    let (Some(user), Some(code_id)) = (user, code_id) else {
        return Err(invalid_token("reset code"));
    };
    let Some(ended) = state
        .store
        .set_password(user.id, &hash, None, Some(code_id))
        .await?
    else {
        return Err(invalid_token("reset code"));
    };
    state.store.clear_account_failures(&email, true).await?;
    sessions::announce_user(&state, user.id).await;
    sessions::announce_sessions(&state, &ended).await;
    audit::record(
        &state.store,
        AuditEntry::new("password.reset")
            .actor(Some(user.id), Some(&user.email))
            .target("user", user.id)
            .ip(Some(ip)),
    )
    .await;
    Ok(ApiResponse::ok(()).message("Password reset; log in with the new password"))
}

/// The id of the reset code `code` matches, spending one of its tries. Without an account the
/// same statement runs (for an id no account has) and the code is compared with a hash nothing
/// matches, so both cost the same.
async fn reset_code_matches(
    state: &AppState,
    user_id: Option<Uuid>,
    code: &str,
) -> ApiResult<Option<Uuid>> {
    let purpose = Purpose::PasswordReset;
    if let Some(id) = user_id {
        return Ok(check_code(state, id, purpose, code)
            .await?
            .map(|(id, _)| id));
    }
    let _ = state.store.try_code(Uuid::nil(), purpose.as_str()).await?;
    let given = codes::hash(&state.config.jwt_secret, Uuid::nil(), purpose, code.trim());
    let _ = crate::crypto::constant_time_eq(given.as_bytes(), codes::UNMATCHABLE_HASH.as_bytes());
    Ok(None)
}

/// Current and new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordBody {
    /// The current password.
    pub current_password: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Changes the password; this session stays, every other one ends.
#[utoipa::path(post, path = "/user/change-password", tag = "users",
    request_body = ChangePasswordBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Password changed"),
        (status = 401, description = "Not authenticated, or INVALID_CREDENTIALS for a wrong current password"),
    ))]
pub(super) async fn change_password(
    user: AuthUser,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> ApiResult<ApiResponse<()>> {
    if !validate::password_ok(&body.new_password) {
        return Err(ApiError::field(
            "newPassword",
            "must be 8 to 128 characters",
        ));
    }
    let row = reload(&state, user.id).await?;
    // Wrong current passwords count toward the account lock like failed logins (§11.94).
    let account = Some((row.id, row.password_hash.clone()));
    if !super::login::check_password(&state, ip, &row.email, account, body.current_password).await?
    {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "The current password is wrong",
        ));
    }
    let hash = password::hash(body.new_password).await?;
    let ended = state
        .store
        .set_password(user.id, &hash, Some(user.sid), None)
        .await?
        .unwrap_or_default();
    sessions::announce_sessions(&state, &ended).await;
    audit::record(
        &state.store,
        AuditEntry::new("password.change")
            .actor(Some(user.id), Some(&row.email))
            .target("user", user.id)
            .ip(Some(ip)),
    )
    .await;
    Ok(ApiResponse::ok(()).message("Password changed; other sessions were ended"))
}
