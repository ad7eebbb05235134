//! Self-service account routes under `/api/user` (API.md §2), one file per seam:
//! [`registration`] (register, verify and resend), [`login`] (login, refresh, logout),
//! [`password`] (forgot, reset, change) and [`profile`] (the profile and its phone). This file
//! wires them and holds the helpers they share.

pub mod login;
pub mod password;
mod profile;
pub mod registration;

use crate::http::openapi::RoutesAt;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::codes::{self, Purpose};
use super::model::UserRow;
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// Self-service routes (full `/user/...` paths, merged into the API router).
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(registration::register_user))
        .routes_at(p, routes!(registration::verify_email))
        .routes_at(p, routes!(registration::resend_verification))
        .routes_at(p, routes!(login::login_user))
        .routes_at(p, routes!(login::refresh_tokens))
        .routes_at(p, routes!(login::logout_user))
        .routes_at(p, routes!(password::forgot_password))
        .routes_at(p, routes!(password::reset_password))
        .routes_at(p, routes!(password::change_password))
        .routes_at(p, routes!(profile::get_profile, profile::update_profile))
        .routes_at(p, routes!(profile::send_phone_code))
        .routes_at(p, routes!(profile::verify_phone))
}

// Shared by resend-verification and forgot-password. Its `///` lines are the schema's OpenAPI
// descriptions, so the one-word `/// Email.` stays.
/// An email address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailBody {
    /// Any text: the answer is the same whether an account has it (no enumeration).
    pub email: String,
}

fn invalid_token(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidToken,
        format!("The {what} is invalid or expired"),
    )
}

fn suspended() -> ApiError {
    ApiError::new(ErrorCode::AccountSuspended, "This account is suspended")
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

/// The user `id`, read again after a change, or 404.
pub(super) async fn reload(state: &AppState, id: Uuid) -> ApiResult<UserRow> {
    state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))
}
