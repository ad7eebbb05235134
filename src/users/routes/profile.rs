//! The caller's own account: `/user/profile` (read and update) and its phone,
//! `/user/phone/send-code` and `/user/phone/verify`.

use axum::extract::State;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{check_code, invalid_token, reload};
use crate::http::{ApiError, ApiJson, ApiResponse, ApiResult, ErrorCode, Validator};
use crate::notify::NewMessage;
use crate::state::AppState;
use crate::users::codes::{self, Purpose};
use crate::users::domain::{PersonName, Phone, parse_field};
use crate::users::model::{Address, PreferencesInput, ProfileChanges, UserView, merge_preferences};
use crate::users::{AuthUser, abuse, validate};

/// The caller's profile.
#[utoipa::path(get, path = "/user/profile", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
    ))]
pub(super) async fn get_profile(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<ApiResponse<UserView>> {
    let row = reload(&state, user.id).await?;
    Ok(ApiResponse::ok(UserView::from(&row)))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
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
    ))]
pub(super) async fn update_profile(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ProfileBody>,
) -> ApiResult<ApiResponse<UserView>> {
    let row = reload(&state, user.id).await?;
    let mut v = Validator::new();
    // Each parsed field is `None` when it failed (and `finish` then refuses the body), else
    // `Some` of what the body asked for.
    let first_name = parse_field(
        &mut v,
        "firstName",
        body.first_name
            .as_deref()
            .map(PersonName::parse)
            .transpose(),
    );
    let last_name = parse_field(
        &mut v,
        "lastName",
        body.last_name.as_deref().map(PersonName::parse).transpose(),
    );
    let phone = parse_field(
        &mut v,
        "phone",
        body.phone
            .as_ref()
            .map(|p| p.as_deref().map(Phone::parse).transpose())
            .transpose(),
    );
    if let Some(Some(bio)) = &body.bio {
        validate::check_bio(&mut v, bio);
    }
    if let Some(Some(dob)) = &body.date_of_birth {
        validate::check_birth_date(&mut v, dob);
    }
    if let Some(Some(address)) = &body.address {
        validate::check_address(&mut v, address);
    }
    if let Some(prefs) = &body.preferences {
        validate::check_preferences(&mut v, prefs);
    }
    v.finish()?;
    let phone: Option<Option<String>> = phone.flatten().map(|p| p.map(String::from));
    let stored_prefs: serde_json::Value =
        serde_json::from_str(&row.preferences).unwrap_or_default();
    let changes = ProfileChanges {
        first_name: first_name.flatten().map(String::from),
        last_name: last_name.flatten().map(String::from),
        phone_changed: phone.as_ref().is_some_and(|p| *p != row.phone),
        phone,
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

/// The phone on the caller's profile, which phone codes go to and prove.
async fn profile_phone(state: &AppState, user_id: Uuid) -> ApiResult<String> {
    reload(state, user_id)
        .await?
        .phone
        .ok_or_else(|| ApiError::field("phone", "add a phone number to your profile first"))
}

/// Texts a 6-digit code to the profile's phone.
#[utoipa::path(post, path = "/user/phone/send-code", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Code sent"),
        (status = 400, description = "No phone on the profile"),
    ))]
pub(super) async fn send_phone_code(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<ApiResponse<()>> {
    let phone = profile_phone(&state, user.id).await?;
    let (code, stored) = codes::issue(
        &state.config.jwt_secret,
        user.id,
        Purpose::PhoneVerify,
        Some(phone.clone()),
    );
    let sms = NewMessage::sms(&phone, "sms_phone_verification_code", json!({"code": code}));
    // SMS cost money: the hourly caps (per number, and for the platform) are checked here,
    // where the caller can be told, and again by the outbox worker for every SMS.
    if let Err(until) = state
        .store
        .issue_phone_code(user.id, &stored, &sms, state.config.sms.caps)
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "Too many text messages were sent in the last hour; try again later",
        )
        .with_retry_after(abuse::seconds_until(until)));
    }
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
pub(super) async fn verify_phone(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PhoneCodeBody>,
) -> ApiResult<ApiResponse<UserView>> {
    let phone = profile_phone(&state, user.id).await?;
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
