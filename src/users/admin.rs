//! Admin user management under `/api/user` (API.md §2): listing, reading (admin or self),
//! role and status changes, and erasure. Every change is audited in the same transaction and
//! takes effect on the very next request (caches invalidated on every instance).

use std::net::IpAddr;

use crate::http::openapi::RoutesAt;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::abuse::ClientIp;
use super::model::{Role, UserFilter, UserStatus, UserView};
use super::routes::reload;
use super::{AdminOnly, AdminUser, AuthUser, sessions};
use crate::audit::{self, AuditEntry};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResponse, ApiResult, Meta, Page};
use crate::state::AppState;

/// Admin routes on users (full `/user...` paths).
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(list_users))
        .routes_at(p, routes!(get_user, delete_user))
        .routes_at(p, routes!(update_user_role))
        .routes_at(p, routes!(update_user_status))
}

/// Filters and paging of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// ADMIN, ORGANIZER or USER.
    pub role: Option<String>,
    /// ACTIVE, INACTIVE or SUSPENDED.
    pub status: Option<String>,
    /// Case-insensitive substring of email, first or last name.
    pub q: Option<String>,
    /// Page, from 1.
    pub page: Option<i64>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Lists users (ADMIN), newest first.
#[utoipa::path(get, path = "/user", tag = "users",
    params(UserListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = [UserView]),
        (status = 400, description = "Invalid filter"),
        AdminOnly,
    ))]
pub(crate) async fn list_users(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<UserListQuery>,
) -> ApiResult<ApiResponse<Vec<UserView>>> {
    let page = Page::parse(q.page, q.limit, 20)?;
    let mut v = crate::http::Validator::new();
    if let Some(r) = &q.role {
        v.check(
            Role::parse(r).is_some(),
            "role",
            "must be ADMIN, ORGANIZER or USER",
        );
    }
    if let Some(s) = &q.status {
        v.check(
            UserStatus::parse(s).is_some(),
            "status",
            "must be ACTIVE, INACTIVE or SUSPENDED",
        );
    }
    v.finish()?;
    let filter = UserFilter {
        role: q.role,
        status: q.status,
        q: q.q
            .filter(|s| !s.trim().is_empty())
            .map(|s| like_pattern(s.trim())),
    };
    let (rows, total) = state
        .store
        .list_users(&filter, i64::from(page.limit), page.offset())
        .await?;
    let views = rows.iter().map(UserView::from).collect();
    Ok(ApiResponse::page(views, Meta::of_count(page, total)))
}

/// Reads a user (ADMIN, or the user themself).
#[utoipa::path(get, path = "/user/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 403, description = "Another user's record"),
        (status = 404, description = "No such user"),
    ))]
async fn get_user(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<UserView>> {
    if !user.is_admin() && user.id != id {
        return Err(ApiError::forbidden());
    }
    let row = reload(&state, id).await?;
    Ok(ApiResponse::ok(UserView::from(&row)))
}

/// A new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleBody {
    /// ADMIN, ORGANIZER or USER.
    pub role: Role,
}

/// The audit entry of an admin's `action` on the user `id`.
async fn admin_entry(
    state: &AppState,
    action: &'static str,
    admin_id: Uuid,
    id: Uuid,
    ip: IpAddr,
) -> ApiResult<AuditEntry> {
    Ok(audit::by_account(&state.store, action, admin_id, ip)
        .await?
        .target("user", id))
}

/// Changes a user's role (ADMIN); effective on the user's next request.
#[utoipa::path(patch, path = "/user/{id}/role", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = RoleBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated user", body = UserView),
        (status = 400, description = "Invalid role or id"),
        AdminOnly,
        (status = 404, description = "No such user"),
    ))]
pub(crate) async fn update_user_role(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RoleBody>,
) -> ApiResult<ApiResponse<UserView>> {
    let before = reload(&state, id).await?;
    let entry = admin_entry(&state, "user.role_change", admin.id, id, ip)
        .await?
        .details(json!({"from": before.role, "to": body.role.as_str()}));
    if !state.store.set_role(id, body.role.as_str(), &entry).await? {
        return Err(ApiError::not_found("User"));
    }
    sessions::announce_user(&state, id).await;
    let row = reload(&state, id).await?;
    Ok(ApiResponse::ok(UserView::from(&row)).message("Role changed"))
}

/// A new status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusBody {
    /// ACTIVE, INACTIVE or SUSPENDED.
    pub status: UserStatus,
}

/// Changes a user's status (ADMIN); SUSPENDED ends every token of the user at once.
#[utoipa::path(patch, path = "/user/{id}/status", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = StatusBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated user", body = UserView),
        (status = 400, description = "Invalid status or id"),
        AdminOnly,
        (status = 404, description = "No such user"),
    ))]
pub(crate) async fn update_user_status(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<StatusBody>,
) -> ApiResult<ApiResponse<UserView>> {
    let before = reload(&state, id).await?;
    let entry = admin_entry(&state, "user.status_change", admin.id, id, ip)
        .await?
        .details(json!({"from": before.status, "to": body.status.as_str()}));
    let ended = state
        .store
        .set_status(id, body.status.as_str(), &entry)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    sessions::announce_user(&state, id).await;
    sessions::announce_sessions(&state, &ended).await;
    let row = reload(&state, id).await?;
    Ok(ApiResponse::ok(UserView::from(&row)).message("Status changed"))
}

/// Erases a user's personal data (ADMIN); bookings and payments stay for accounting, the email
/// can register again, and every token of the user ends. Organizer applications lose what the
/// applicant wrote and their documents (the files too).
#[utoipa::path(delete, path = "/user/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Erased"),
        AdminOnly,
        (status = 404, description = "No such user"),
    ))]
async fn delete_user(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<()>> {
    let entry = admin_entry(&state, "user.erase", admin.id, id, ip).await?;
    // Not a PHC string: no password ever verifies against it.
    let erased = state
        .store
        .erase_user(id, "!erased", &entry)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    sessions::announce_user(&state, id).await;
    sessions::announce_sessions(&state, &erased.sessions).await;
    for name in &erased.documents {
        if let Err(e) = state.files.delete(name).await {
            tracing::warn!(error = %e, file = %name, "an erased applicant's document could not be deleted");
        }
    }
    Ok(ApiResponse::ok(()).message("User erased"))
}
