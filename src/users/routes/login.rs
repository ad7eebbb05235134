//! Sessions: `/user/login`, `/user/refresh` and `/user/logout`, with the failed-login
//! accounting behind account locks and IP blocks.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{invalid_token, suspended};
use crate::audit::{self, AuditEntry};
use crate::http::{ApiError, ApiJson, ApiResponse, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::users::abuse::{self, ClientIp};
use crate::users::model::UserStatus;
use crate::users::sessions::{self, TokenPair};
use crate::users::{AuthUser, password};

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "Invalid email or password")
}

// The `///` lines on request fields are their descriptions in the published, snapshot-tested
// OpenAPI document, so even the one-word ones (`/// Email.`) stay.

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginBody {
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
    )]
    pub email: String,
    pub password: String,
}

/// Logs in: an access token, a refresh token and the user.
#[utoipa::path(post, path = "/user/login", tag = "users",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "INVALID_CREDENTIALS"),
        (status = 403, description = "EMAIL_NOT_VERIFIED, ACCOUNT_SUSPENDED or IP_BLOCKED"),
        (status = 423, description = "ACCOUNT_LOCKED, with Retry-After"),
    ))]
pub(super) async fn login_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<ApiResponse<TokenPair>> {
    let tokens = log_in(&state, ip, body).await?;
    Ok(ApiResponse::ok(tokens).message("Logged in"))
}

/// The login service, shared by the API and the console's sign-in: the address check, the
/// account lock and IP-block accounting, the status answers, then a new session, audited.
pub async fn log_in(
    state: &AppState,
    ip: std::net::IpAddr,
    body: LoginBody,
) -> ApiResult<TokenPair> {
    let email = body.email.trim().to_lowercase();
    // Nothing is recorded (abuse counters, locks, audit) for what cannot be an address.
    if email.len() > 254 || !email.contains('@') {
        return Err(ApiError::field("email", "must be a valid email address"));
    }
    let user = state.store.user_by_email(&email).await?;
    let right = check_password(
        state,
        ip,
        &email,
        user.as_ref().map(|u| (u.id, u.password_hash.clone())),
        body.password,
    )
    .await?;
    let user = match (right, user) {
        (true, Some(user)) => user,
        _ => return Err(invalid_credentials()),
    };
    // A suspension comes first, whatever the email verification (API.md §11.103).
    if user.status() == UserStatus::Suspended {
        return Err(suspended());
    }
    if user.deactivated() {
        return Err(ApiError::new(
            ErrorCode::AccountSuspended,
            "This account has been deactivated",
        ));
    }
    if !user.email_verified {
        return Err(ApiError::new(
            ErrorCode::EmailNotVerified,
            "Verify your email before logging in",
        ));
    }
    state.store.clear_account_failures(&email, false).await?;
    let tokens = sessions::open(state, &user).await?;
    audit::record(
        &state.store,
        AuditEntry::new("login.success")
            .actor(Some(user.id), Some(&user.email))
            .target("user", user.id)
            .ip(Some(ip)),
    )
    .await;
    Ok(tokens)
}

/// Counts a failed login toward the account lock and the IP block, and audits it.
/// Checks `password` against an account (or, for an unknown email, against nothing, taking the
/// same time) under the account lock of API.md §11.94: the attempt is counted before the check,
/// so parallel guesses cannot exceed the lock threshold; a locked account, or one whose budget
/// of guesses is taken by attempts still running, answers 423; a wrong password is recorded as a
/// failed login (`Ok(false)`); a right one whose account was locked meanwhile answers 423.
pub(super) async fn check_password(
    state: &AppState,
    ip: std::net::IpAddr,
    email: &str,
    account: Option<(Uuid, String)>,
    password: String,
) -> ApiResult<bool> {
    let attempt = match state
        .store
        .begin_login_attempt(email, &state.guard.policy)
        .await?
    {
        Ok(id) => id,
        Err(until) => return Err(locked(until)),
    };
    let user_id = account.as_ref().map(|(id, _)| *id);
    let right = password::verify(password, account.map(|(_, hash)| hash)).await;
    // A failure is recorded before its attempt ends, so at every instant it counts as one or
    // the other for the attempts starting meanwhile.
    if matches!(right, Ok(false)) {
        let recorded = login_failed(state, ip, email, user_id).await;
        state.store.end_login_attempt(attempt).await?;
        recorded?;
        return Ok(false);
    }
    state.store.end_login_attempt(attempt).await?;
    right?;
    if let Some(until) = state.store.account_locked_until(email).await? {
        return Err(locked(Some(until)));
    }
    Ok(true)
}

/// 423 `ACCOUNT_LOCKED`, with `Retry-After` until the lock ends (1 s when the guesses still
/// running hold the account rather than a lock).
fn locked(until: Option<chrono::DateTime<chrono::Utc>>) -> ApiError {
    ApiError::new(
        ErrorCode::AccountLocked,
        "Too many failed logins; the account is locked for a while",
    )
    .with_retry_after(until.map_or(1, abuse::seconds_until))
}

async fn login_failed(
    state: &AppState,
    ip: std::net::IpAddr,
    email: &str,
    user_id: Option<Uuid>,
) -> ApiResult<()> {
    let (locked, blocked) = state
        .store
        .record_login_failure(&ip.to_string(), email, &state.guard.policy)
        .await?;
    let mut entry = AuditEntry::new("login.failure")
        .actor(user_id, Some(email))
        .ip(Some(ip));
    if let Some(id) = user_id {
        entry = entry.target("user", id);
    }
    audit::record(&state.store, entry).await;
    if let Some(until) = locked {
        audit::record(
            &state.store,
            AuditEntry::new("account.lock")
                .actor(user_id, Some(email))
                .target("account", email)
                .ip(Some(ip))
                .details(json!({"lockedUntil": until})),
        )
        .await;
    }
    if let Some(until) = blocked {
        abuse::announce_block_change(state, ip).await;
        audit::record(
            &state.store,
            AuditEntry::new("ip.block")
                .target("ip", ip)
                .ip(Some(ip))
                .details(json!({"reason": "login_failure", "blockedUntil": until})),
        )
        .await;
    }
    Ok(())
}

/// A refresh token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token from login or the last refresh.
    pub refresh_token: String,
}

/// Trades a refresh token for a new pair (the old one stops working; reusing it revokes the
/// whole family).
#[utoipa::path(post, path = "/user/refresh", tag = "users",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        (status = 401, description = "INVALID_TOKEN"),
    ))]
pub(super) async fn refresh_tokens(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<ApiResponse<TokenPair>> {
    match sessions::rotate(&state, body.refresh_token.trim()).await? {
        Some(pair) => Ok(ApiResponse::ok(pair).message("Tokens refreshed")),
        None => Err(invalid_token("refresh token")),
    }
}

/// Logs out: the refresh token's family is revoked and this session's access token ends.
#[utoipa::path(post, path = "/user/logout", tag = "users",
    request_body = RefreshBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Logged out"),
    ))]
pub(super) async fn logout_user(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<ApiResponse<()>> {
    let mut ended = vec![user.sid];
    if let Some((owner, family)) = state
        .store
        .refresh_family(&sessions::token_hash(body.refresh_token.trim()))
        .await?
        && owner == user.id
        && family != user.sid
    {
        ended.push(family);
    }
    for sid in &ended {
        state.store.revoke_session(user.id, *sid).await?;
    }
    sessions::announce_sessions(&state, &ended).await;
    Ok(ApiResponse::ok(()).message("Logged out"))
}
