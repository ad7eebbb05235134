//! `POST /api/admin-seed/create-admin`: the first admin over HTTP, only for a caller holding
//! `ADMIN_SEED_TOKEN`, and only while no admin exists.

use crate::http::openapi::RoutesAt;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::UserView;
use crate::http::{ApiError, ApiJson, ApiResponse, ApiResult};
use crate::state::AppState;

/// Routes under `/admin-seed`.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes_at(p, routes!(create_admin))
}

/// Body of the seed request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAdminBody {
    pub email: String,
    /// Password, 8–128 characters.
    pub password: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
}

/// Proof that the caller sent the configured `X-Seed-Token`; checked before the body is even
/// read, so a caller without it learns nothing (not even validation rules).
pub struct SeedToken;

impl FromRequestParts<AppState> for SeedToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.config.admin_seed_token else {
            return Err(ApiError::forbidden());
        };
        let given = parts
            .headers
            .get("x-seed-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !crate::crypto::constant_time_eq(given.as_bytes(), expected.expose().as_bytes()) {
            return Err(ApiError::forbidden());
        }
        Ok(SeedToken)
    }
}

/// Creates the first admin (needs `X-Seed-Token`).
#[utoipa::path(post, path = "/admin-seed/create-admin", tag = "users",
    request_body = CreateAdminBody,
    params(("X-Seed-Token" = String, Header, description = "The configured ADMIN_SEED_TOKEN")),
    responses(
        (status = 201, description = "Admin created", body = UserView),
        (status = 403, description = "No or wrong seed token, or seeding disabled"),
        (status = 409, description = "An admin already exists"),
    ))]
async fn create_admin(
    State(state): State<AppState>,
    _token: SeedToken,
    ApiJson(body): ApiJson<CreateAdminBody>,
) -> ApiResult<ApiResponse<UserView>> {
    // A cheap refusal for the usual case; the insert itself decides under a lock.
    if state.store.admin_exists().await? {
        return Err(ApiError::conflict("An admin already exists"));
    }
    let id = super::create_admin(
        &state.store,
        super::AdminSeat::First,
        &body.email,
        &body.password,
        &body.first_name,
        &body.last_name,
    )
    .await?;
    let row =
        state.store.user_by_id(id).await?.ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("admin {id} vanished after insert"))
        })?;
    Ok(ApiResponse::created(UserView::from(&row)).message("Admin created"))
}
