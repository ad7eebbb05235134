//! Registration and email verification: `/user/register`, `/user/verify-email` and
//! `/user/resend-verification`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{EmailBody, check_code, invalid_token, reload, suspended};
use crate::http::{ApiError, ApiJson, ApiResponse, ApiResult, ResultExt, Validator};
use crate::notify::NewMessage;
use crate::state::AppState;
use crate::users::codes::{self, CODE_TTL_MINUTES, NewCode, Purpose};
use crate::users::domain::{Email, PersonName, Phone, parse_field};
use crate::users::model::{
    Address, PreferencesInput, Registration, UserStatus, UserView, default_preferences,
    merge_preferences,
};
use crate::users::{password, sessions, validate, workers};

// The `///` lines on request and answer fields are their descriptions in the published,
// snapshot-tested OpenAPI document, so even the one-word ones (`/// Email.`) stay.

/// Registration body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterBody {
    /// 2–50 characters.
    #[schema(min_length = 2, max_length = 50, pattern = r"^\S(.*\S)?$")]
    pub first_name: String,
    /// 2–50 characters.
    #[schema(min_length = 2, max_length = 50, pattern = r"^\S(.*\S)?$")]
    pub last_name: String,
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
    )]
    pub email: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// E.164 phone.
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$")]
    pub phone: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// At most 500 characters.
    pub bio: Option<String>,
    /// Postal address.
    pub address: Option<Address>,
    pub preferences: Option<PreferencesInput>,
}

/// Registration answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// New account id.
    pub user_id: Uuid,
    pub email: String,
    /// Always false at first.
    pub email_verified: bool,
}

/// A fresh email-verification code of `user_id`: what to store, and the email carrying it.
fn verification_code(
    state: &AppState,
    user_id: Uuid,
    email: &str,
    first_name: &str,
) -> (NewCode, NewMessage) {
    let (code, stored) = codes::issue(
        &state.config.jwt_secret,
        user_id,
        Purpose::EmailVerify,
        None,
    );
    let message = NewMessage::email(
        email,
        "verification_code",
        json!({"firstName": first_name, "code": code, "expiresInMinutes": CODE_TTL_MINUTES}),
    );
    (stored, message)
}

/// Registers an account and emails a 6-digit verification code.
#[utoipa::path(post, path = "/user/register", tag = "users",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered; a code was emailed", body = Registered),
        (status = 409, description = "EMAIL_TAKEN"),
    ))]
pub(crate) async fn register_user(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<ApiResponse<Registered>> {
    let mut v = Validator::new();
    let first_name = parse_field(&mut v, "firstName", PersonName::parse(&body.first_name));
    let last_name = parse_field(&mut v, "lastName", PersonName::parse(&body.last_name));
    let email = parse_field(&mut v, "email", Email::parse(&body.email));
    validate::check_password(&mut v, &body.password);
    let phone = parse_field(
        &mut v,
        "phone",
        body.phone.as_deref().map(Phone::parse).transpose(),
    );
    if let Some(dob) = &body.date_of_birth {
        validate::check_birth_date(&mut v, dob);
    }
    if let Some(bio) = &body.bio {
        validate::check_bio(&mut v, bio);
    }
    if let Some(address) = &body.address {
        validate::check_address(&mut v, address);
    }
    if let Some(prefs) = &body.preferences {
        validate::check_preferences(&mut v, prefs);
    }
    v.finish()?;
    let (Some(first_name), Some(last_name), Some(email), Some(phone)) =
        (first_name, last_name, email, phone)
    else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "registration fields missing after validation passed"
        )));
    };
    let preferences = match &body.preferences {
        Some(p) => merge_preferences(&default_preferences(), p),
        None => default_preferences(),
    };
    let reg = Registration {
        email: email.to_string(),
        password_hash: password::hash(body.password).await?,
        first_name: first_name.into(),
        last_name: last_name.into(),
        phone: phone.map(String::from),
        date_of_birth: body.date_of_birth,
        bio: body.bio,
        address: body.address.map(|a| json!(a).to_string()),
        preferences: preferences.to_string(),
    };
    let id = Uuid::now_v7();
    let (stored, message) = verification_code(&state, id, email.as_str(), &reg.first_name);
    state
        .store
        .register_user(&reg, id, &stored, &message)
        .await
        .on_unique(crate::users::email_taken)?;
    Ok(ApiResponse::created(Registered {
        user_id: id,
        email: email.into(),
        email_verified: false,
    })
    .message("Registered; check your email for the verification code"))
}

/// Email and code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyEmailBody {
    /// Email of the account.
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
    )]
    pub email: String,
    /// The 6-digit code.
    pub code: String,
}

/// Proves an email with its code; the account becomes ACTIVE.
#[utoipa::path(post, path = "/user/verify-email", tag = "users",
    request_body = VerifyEmailBody,
    responses(
        (status = 200, description = "Verified", body = UserView),
        (status = 401, description = "INVALID_TOKEN: wrong, expired, used or burnt code"),
        (status = 403, description = "ACCOUNT_SUSPENDED"),
    ))]
pub(crate) async fn verify_email(
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

/// Sends a new verification code (always 200: no account enumeration).
#[utoipa::path(post, path = "/user/resend-verification", tag = "users",
    request_body = EmailBody,
    responses(
        (status = 200, description = "A code was sent if the account needs one"),
    ))]
pub(crate) async fn resend_verification(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmailBody>,
) -> ApiResult<ApiResponse<()>> {
    let email = body.email.trim().to_lowercase();
    // The lookup and the code are the background job's, so neither an account nor its
    // verification shows in the time of the answer; what cannot be an address (as login judges
    // it) is not worth a job.
    if email.len() <= 254 && email.contains('@') {
        workers::enqueue("verification_code", resend_code(state, email));
    }
    Ok(ApiResponse::ok(()).message("If the account needs verification, a new code was sent"))
}

/// Emails a new verification code to the account of `email`, voiding its previous one, when it
/// still waits for verification; nothing otherwise.
async fn resend_code(state: AppState, email: String) -> anyhow::Result<()> {
    if let Some(user) = state.store.user_by_email(&email).await?
        && !user.email_verified
        && user.status() == UserStatus::Inactive
    {
        let (stored, message) = verification_code(&state, user.id, &user.email, &user.first_name);
        state.store.issue_code(user.id, &stored, &[message]).await?;
    }
    Ok(())
}
