//! Self-service account routes under `/api/user` (API.md §2): registration and email
//! verification, login, refresh, logout, password reset and change, the profile, and phone
//! verification.

use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::abuse::{self, ClientIp};
use super::codes::{self, CODE_TTL_MINUTES, Purpose};
use super::model::{
    Address, PreferencesInput, ProfileChanges, Registration, UserRow, UserStatus, UserView,
    default_preferences, merge_preferences,
};
use super::sessions::{self, TokenPair};
use super::{AuthUser, password, validate};
use crate::audit::{self, AuditEntry};
use crate::http::{ApiError, ApiJson, ApiResponse, ApiResult, ErrorCode, Validator};
use crate::notify::NewMessage;
use crate::state::AppState;

/// Self-service routes (full `/user/...` paths, merged into the API router).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_user))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(login_user))
        .routes(routes!(refresh_tokens))
        .routes(routes!(logout_user))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(change_password))
        .routes(routes!(get_profile, update_profile))
        .routes(routes!(send_phone_code))
        .routes(routes!(verify_phone))
}

fn invalid_token(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidToken,
        format!("The {what} is invalid or expired"),
    )
}

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "Invalid email or password")
}

fn suspended() -> ApiError {
    ApiError::new(ErrorCode::AccountSuspended, "This account is suspended")
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Registration body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterBody {
    /// 2–50 characters.
    pub first_name: String,
    /// 2–50 characters.
    pub last_name: String,
    /// Email.
    pub email: String,
    /// 8–128 characters.
    pub password: String,
    /// E.164 phone.
    pub phone: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// At most 500 characters.
    pub bio: Option<String>,
    /// Postal address.
    pub address: Option<Address>,
    /// Preferences.
    pub preferences: Option<PreferencesInput>,
}

/// Registration answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// New account id.
    pub user_id: Uuid,
    /// Email.
    pub email: String,
    /// Always false at first.
    pub email_verified: bool,
}

/// Registers an account and emails a 6-digit verification code.
#[utoipa::path(post, path = "/user/register", tag = "users",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered; a code was emailed", body = Registered),
        (status = 400, description = "Invalid body"),
        (status = 409, description = "EMAIL_TAKEN"),
        (status = 429, description = "Rate limited"),
    ))]
async fn register_user(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<ApiResponse<Registered>> {
    let mut v = Validator::new();
    v.check(
        validate::name_ok(&body.first_name),
        "firstName",
        "must be 2 to 50 characters",
    );
    v.check(
        validate::name_ok(&body.last_name),
        "lastName",
        "must be 2 to 50 characters",
    );
    let email = super::parse_email(&body.email);
    v.check(email.is_some(), "email", "must be a valid email address");
    v.check(
        validate::password_ok(&body.password),
        "password",
        "must be 8 to 128 characters",
    );
    if let Some(phone) = &body.phone {
        v.check(
            validate::phone_ok(phone),
            "phone",
            "must be an E.164 number such as +2348012345678",
        );
    }
    if let Some(dob) = &body.date_of_birth {
        v.check(
            validate::birth_date_ok(dob),
            "dateOfBirth",
            "must be a past date as YYYY-MM-DD",
        );
    }
    if let Some(bio) = &body.bio {
        v.check(
            bio.chars().count() <= 500,
            "bio",
            "must be at most 500 characters",
        );
    }
    if let Some(address) = &body.address {
        validate::check_address(&mut v, address);
    }
    if let Some(prefs) = &body.preferences {
        validate::check_preferences(&mut v, prefs);
    }
    v.finish()?;
    let email = email.unwrap_or_default();
    let preferences = match &body.preferences {
        Some(p) => merge_preferences(&default_preferences(), p),
        None => default_preferences(),
    };
    let reg = Registration {
        email: email.clone(),
        password_hash: password::hash(body.password).await?,
        first_name: body.first_name.trim().to_string(),
        last_name: body.last_name.trim().to_string(),
        phone: body.phone,
        date_of_birth: body.date_of_birth,
        bio: body.bio,
        address: body.address.map(|a| json!(a).to_string()),
        preferences: preferences.to_string(),
    };
    let id = Uuid::now_v7();
    let (code, stored) = codes::issue(&state.config.jwt_secret, id, Purpose::EmailVerify, None);
    let message = NewMessage::email(
        &email,
        "verification_code",
        json!({"firstName": reg.first_name, "code": code, "expiresInMinutes": CODE_TTL_MINUTES}),
    );
    state
        .store
        .register_user(&reg, id, &stored, &message)
        .await
        .map_err(|e| {
            if crate::store::is_unique_violation(&e) {
                ApiError::new(
                    ErrorCode::EmailTaken,
                    "An account with this email already exists",
                )
            } else {
                e.into()
            }
        })?;
    Ok(ApiResponse::created(Registered {
        user_id: id,
        email,
        email_verified: false,
    })
    .message("Registered; check your email for the verification code"))
}

/// Checks a code against the newest open one of a purpose, spending one of its 5 tries.
/// Returns the code's id and target when it matches.
async fn check_code(
    state: &AppState,
    user_id: Uuid,
    purpose: Purpose,
    code: &str,
) -> ApiResult<Option<(Uuid, Option<String>)>> {
    let Some((id, stored, target)) = state.store.try_code(user_id, purpose.as_str()).await? else {
        return Ok(None);
    };
    let given = codes::hash(&state.config.jwt_secret, user_id, purpose, code.trim());
    Ok(
        crate::crypto::constant_time_eq(given.as_bytes(), stored.as_bytes())
            .then_some((id, target)),
    )
}

/// Email and code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyEmailBody {
    /// Email of the account.
    pub email: String,
    /// The 6-digit code.
    pub code: String,
}

/// Proves an email with its code; the account becomes ACTIVE.
#[utoipa::path(post, path = "/user/verify-email", tag = "users",
    request_body = VerifyEmailBody,
    responses(
        (status = 200, description = "Verified", body = UserView),
        (status = 400, description = "Invalid body"),
        (status = 401, description = "INVALID_TOKEN: wrong, expired, used or burnt code"),
        (status = 403, description = "ACCOUNT_SUSPENDED"),
        (status = 429, description = "Rate limited"),
    ))]
async fn verify_email(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VerifyEmailBody>,
) -> ApiResult<ApiResponse<UserView>> {
    let email = body.email.trim().to_lowercase();
    let Some(user) = state.store.user_by_email(&email).await? else {
        return Err(invalid_token("verification code"));
    };
    if user.status() == UserStatus::Suspended {
        return Err(suspended());
    }
    let Some((code_id, _)) = check_code(&state, user.id, Purpose::EmailVerify, &body.code).await?
    else {
        return Err(invalid_token("verification code"));
    };
    let welcome = NewMessage::email(
        &user.email,
        "welcome",
        json!({"firstName": user.first_name}),
    );
    if !state.store.verify_email(user.id, code_id, &welcome).await? {
        return Err(invalid_token("verification code"));
    }
    sessions::announce_user(&state, user.id).await;
    let user = reload(&state, user.id).await?;
    Ok(ApiResponse::ok(UserView::from(&user)).message("Email verified"))
}

async fn reload(state: &AppState, id: Uuid) -> ApiResult<UserRow> {
    state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))
}

/// An email address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailBody {
    /// Email.
    pub email: String,
}

/// Sends a new verification code (always 200: no account enumeration).
#[utoipa::path(post, path = "/user/resend-verification", tag = "users",
    request_body = EmailBody,
    responses(
        (status = 200, description = "A code was sent if the account needs one"),
        (status = 400, description = "Invalid body"),
        (status = 429, description = "Rate limited"),
    ))]
async fn resend_verification(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmailBody>,
) -> ApiResult<ApiResponse<()>> {
    let email = body.email.trim().to_lowercase();
    if let Some(user) = state.store.user_by_email(&email).await?
        && !user.email_verified
        && user.status() == UserStatus::Inactive
    {
        let (code, stored) = codes::issue(
            &state.config.jwt_secret,
            user.id,
            Purpose::EmailVerify,
            None,
        );
        let message = NewMessage::email(
            &user.email,
            "verification_code",
            json!({"firstName": user.first_name, "code": code, "expiresInMinutes": CODE_TTL_MINUTES}),
        );
        state.store.issue_code(user.id, &stored, &[message]).await?;
    }
    Ok(ApiResponse::ok(()).message("If the account needs verification, a new code was sent"))
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginBody {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// Logs in: an access token, a refresh token and the user.
#[utoipa::path(post, path = "/user/login", tag = "users",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 400, description = "Invalid body"),
        (status = 401, description = "INVALID_CREDENTIALS"),
        (status = 403, description = "EMAIL_NOT_VERIFIED, ACCOUNT_SUSPENDED or IP_BLOCKED"),
        (status = 423, description = "ACCOUNT_LOCKED, with Retry-After"),
        (status = 429, description = "Rate limited"),
    ))]
async fn login_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<ApiResponse<TokenPair>> {
    let email = body.email.trim().to_lowercase();
    if let Some(until) = state.store.account_locked_until(&email).await? {
        return Err(ApiError::new(
            ErrorCode::AccountLocked,
            "Too many failed logins; the account is locked for a while",
        )
        .with_retry_after(abuse::seconds_until(until)));
    }
    let user = state.store.user_by_email(&email).await?;
    let ok = password::verify(
        body.password,
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await?;
    let user = match (ok, user) {
        (true, Some(user)) => user,
        (_, user) => {
            login_failed(&state, ip, &email, user.map(|u| u.id)).await?;
            return Err(invalid_credentials());
        }
    };
    if !user.email_verified {
        return Err(ApiError::new(
            ErrorCode::EmailNotVerified,
            "Verify your email before logging in",
        ));
    }
    if user.status() == UserStatus::Suspended {
        return Err(suspended());
    }
    state.store.clear_account_failures(&email, false).await?;
    let tokens = sessions::open(&state, &user).await?;
    audit::record(
        &state.store,
        AuditEntry::new("login.success")
            .actor(Some(user.id), Some(&user.email))
            .target("user", user.id)
            .ip(Some(ip)),
    )
    .await;
    Ok(ApiResponse::ok(tokens).message("Logged in"))
}

/// Counts a failed login toward the account lock and the IP block, and audits it.
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
        (status = 400, description = "Invalid body"),
        (status = 401, description = "INVALID_TOKEN"),
    ))]
async fn refresh_tokens(
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
        (status = 400, description = "Invalid body"),
        (status = 401, description = "Not authenticated"),
    ))]
async fn logout_user(
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

/// Sends a password-reset code (always 200: no account enumeration).
#[utoipa::path(post, path = "/user/forgot-password", tag = "users",
    request_body = EmailBody,
    responses(
        (status = 200, description = "A code was sent if the account exists"),
        (status = 400, description = "Invalid body"),
        (status = 429, description = "Rate limited"),
    ))]
async fn forgot_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<EmailBody>,
) -> ApiResult<ApiResponse<()>> {
    let email = body.email.trim().to_lowercase();
    if let Some(user) = state.store.user_by_email(&email).await? {
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
        let prefs: serde_json::Value = serde_json::from_str(&user.preferences).unwrap_or_default();
        let sms_allowed = prefs["notifications"]["sms"].as_bool() == Some(true);
        if let Some(phone) = &user.phone
            && user.phone_verified
            && sms_allowed
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
    }
    Ok(ApiResponse::ok(()).message("If the account exists, a reset code was sent"))
}

/// Reset request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetPasswordBody {
    /// Email.
    pub email: String,
    /// The 6-digit code.
    pub code: String,
    /// 8–128 characters.
    pub new_password: String,
}

/// Sets a new password with a reset code; every session ends and a lock is lifted.
#[utoipa::path(post, path = "/user/reset-password", tag = "users",
    request_body = ResetPasswordBody,
    responses(
        (status = 200, description = "Password changed"),
        (status = 400, description = "Invalid body"),
        (status = 401, description = "INVALID_TOKEN: wrong, expired, used or burnt code"),
        (status = 429, description = "Rate limited"),
    ))]
async fn reset_password(
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
    let Some(user) = state.store.user_by_email(&email).await? else {
        return Err(invalid_token("reset code"));
    };
    let Some((code_id, _)) =
        check_code(&state, user.id, Purpose::PasswordReset, &body.code).await?
    else {
        return Err(invalid_token("reset code"));
    };
    let hash = password::hash(body.new_password).await?;
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

/// Current and new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordBody {
    /// The current password.
    pub current_password: String,
    /// 8–128 characters.
    pub new_password: String,
}

/// Changes the password; this session stays, every other one ends.
#[utoipa::path(post, path = "/user/change-password", tag = "users",
    request_body = ChangePasswordBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Password changed"),
        (status = 400, description = "Invalid body"),
        (status = 401, description = "Not authenticated, or INVALID_CREDENTIALS for a wrong current password"),
    ))]
async fn change_password(
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
    if !password::verify(body.current_password, Some(row.password_hash.clone())).await? {
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

/// The caller's profile.
#[utoipa::path(get, path = "/user/profile", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "Not authenticated"),
    ))]
async fn get_profile(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<ApiResponse<UserView>> {
    let row = reload(&state, user.id).await?;
    Ok(ApiResponse::ok(UserView::from(&row)))
}

/// Profile changes (email, role and status are not changeable here).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileBody {
    /// 2–50 characters.
    pub first_name: Option<String>,
    /// 2–50 characters.
    pub last_name: Option<String>,
    /// E.164 phone, or null to remove it; a new phone is unverified.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// At most 500 characters, or null.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub bio: Option<Option<String>>,
    /// `YYYY-MM-DD`, or null.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub date_of_birth: Option<Option<String>>,
    /// Postal address, or null.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Address>)]
    pub address: Option<Option<Address>>,
    /// Preferences, merged over the stored ones.
    pub preferences: Option<PreferencesInput>,
}

/// Updates the caller's profile.
#[utoipa::path(patch, path = "/user/profile", tag = "users",
    request_body = ProfileBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated user", body = UserView),
        (status = 400, description = "Invalid body"),
        (status = 401, description = "Not authenticated"),
    ))]
async fn update_profile(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ProfileBody>,
) -> ApiResult<ApiResponse<UserView>> {
    let row = reload(&state, user.id).await?;
    let mut v = Validator::new();
    if let Some(n) = &body.first_name {
        v.check(
            validate::name_ok(n),
            "firstName",
            "must be 2 to 50 characters",
        );
    }
    if let Some(n) = &body.last_name {
        v.check(
            validate::name_ok(n),
            "lastName",
            "must be 2 to 50 characters",
        );
    }
    if let Some(Some(phone)) = &body.phone {
        v.check(
            validate::phone_ok(phone),
            "phone",
            "must be an E.164 number such as +2348012345678",
        );
    }
    if let Some(Some(bio)) = &body.bio {
        v.check(
            bio.chars().count() <= 500,
            "bio",
            "must be at most 500 characters",
        );
    }
    if let Some(Some(dob)) = &body.date_of_birth {
        v.check(
            validate::birth_date_ok(dob),
            "dateOfBirth",
            "must be a past date as YYYY-MM-DD",
        );
    }
    if let Some(Some(address)) = &body.address {
        validate::check_address(&mut v, address);
    }
    if let Some(prefs) = &body.preferences {
        validate::check_preferences(&mut v, prefs);
    }
    v.finish()?;
    let stored_prefs: serde_json::Value =
        serde_json::from_str(&row.preferences).unwrap_or_default();
    let changes = ProfileChanges {
        first_name: body.first_name.map(|n| n.trim().to_string()),
        last_name: body.last_name.map(|n| n.trim().to_string()),
        phone_changed: body.phone.as_ref().is_some_and(|p| *p != row.phone),
        phone: body.phone,
        bio: body.bio,
        date_of_birth: body.date_of_birth,
        address: body.address.map(|a| a.map(|a| json!(a).to_string())),
        preferences: body
            .preferences
            .map(|p| merge_preferences(&stored_prefs, &p).to_string()),
    };
    state.store.update_profile(user.id, &changes).await?;
    let row = reload(&state, user.id).await?;
    Ok(ApiResponse::ok(UserView::from(&row)).message("Profile updated"))
}

/// Texts a 6-digit code to the profile's phone.
#[utoipa::path(post, path = "/user/phone/send-code", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Code sent"),
        (status = 400, description = "No phone on the profile"),
        (status = 401, description = "Not authenticated"),
        (status = 429, description = "Rate limited"),
    ))]
async fn send_phone_code(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<ApiResponse<()>> {
    let row = reload(&state, user.id).await?;
    let Some(phone) = row.phone.clone() else {
        return Err(ApiError::field(
            "phone",
            "add a phone number to your profile first",
        ));
    };
    let (code, stored) = codes::issue(
        &state.config.jwt_secret,
        user.id,
        Purpose::PhoneVerify,
        Some(phone.clone()),
    );
    let sms = NewMessage::sms(&phone, "sms_phone_verification_code", json!({"code": code}));
    state.store.issue_code(user.id, &stored, &[sms]).await?;
    Ok(ApiResponse::ok(()).message("A code was sent to your phone"))
}

/// A phone code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhoneCodeBody {
    /// The 6-digit code.
    pub code: String,
}

/// Proves the profile's phone with the code sent to it.
#[utoipa::path(post, path = "/user/phone/verify", tag = "users",
    request_body = PhoneCodeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Phone verified", body = UserView),
        (status = 400, description = "Invalid body or no phone"),
        (status = 401, description = "Not authenticated, or INVALID_TOKEN for a bad code"),
    ))]
async fn verify_phone(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PhoneCodeBody>,
) -> ApiResult<ApiResponse<UserView>> {
    let row = reload(&state, user.id).await?;
    let Some(phone) = row.phone.clone() else {
        return Err(ApiError::field(
            "phone",
            "add a phone number to your profile first",
        ));
    };
    let Some((code_id, target)) =
        check_code(&state, user.id, Purpose::PhoneVerify, &body.code).await?
    else {
        return Err(invalid_token("phone code"));
    };
    if target.as_deref() != Some(phone.as_str())
        || !state.store.verify_phone(user.id, code_id, &phone).await?
    {
        return Err(invalid_token("phone code"));
    }
    let row = reload(&state, user.id).await?;
    Ok(ApiResponse::ok(UserView::from(&row)).message("Phone verified"))
}
