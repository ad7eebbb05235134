//! Favorites: `/api/events/{id}/favorite` (toggle, set, clear) and the caller's list at
//! `/api/user/favorites`.

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use uuid::Uuid;

use super::catalogue::{self, IfNoneMatch};
use super::model::{EVENT_FIELDS, EventStatus, EventView, FavoriteState, ListFilter};
use super::reads::{ListRequest, answer_list};
use super::requests::PageQuery;
use crate::http::{ApiPath, ApiQuery, ApiResponse, ApiResult, Page, parse_fields};
use crate::state::AppState;
use crate::users::AuthUser;

/// Sets (`Some`) or toggles (`None`) a favorite of an event the caller may see.
async fn favorite(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    want: Option<bool>,
) -> ApiResult<ApiResponse<FavoriteState>> {
    catalogue::visible_record(state, id, Some(user)).await?;
    let favorited = state
        .store
        .set_favorite(user.id, id, want, Utc::now())
        .await?;
    Ok(ApiResponse::ok(FavoriteState { favorited }))
}

/// Toggles the event among the caller's favorites.
#[utoipa::path(post, path = "/events/{id}/favorite", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "`{favorited}`", body = FavoriteState),
        (status = 404, description = "No such event"),
    ))]
pub(super) async fn toggle_favorite(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<FavoriteState>> {
    favorite(&state, &user, id, None).await
}

/// Adds the event to the caller's favorites (idempotent).
#[utoipa::path(put, path = "/events/{id}/favorite", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "`{favorited: true}`", body = FavoriteState),
        (status = 404, description = "No such event"),
    ))]
pub(super) async fn set_favorite(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<FavoriteState>> {
    favorite(&state, &user, id, Some(true)).await
}

/// Removes the event from the caller's favorites (idempotent).
#[utoipa::path(delete, path = "/events/{id}/favorite", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "`{favorited: false}`", body = FavoriteState),
        (status = 404, description = "No such event"),
    ))]
pub(super) async fn clear_favorite(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<FavoriteState>> {
    favorite(&state, &user, id, Some(false)).await
}

/// The caller's favorite events (drafts excluded), paginated.
#[utoipa::path(get, path = "/user/favorites", tag = "events", params(PageQuery),
    responses(
        (status = 200, description = "A page of events", body = Vec<EventView>),
    ))]
pub(super) async fn list_favorites(
    State(state): State<AppState>,
    user: AuthUser,
    if_none_match: IfNoneMatch,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Response> {
    let page = Page::parse(q.page, q.limit, 20)?;
    let fields = parse_fields(q.fields.as_deref(), EVENT_FIELDS)?;
    let mut filter = ListFilter::public(Utc::now());
    filter.statuses = vec![
        EventStatus::Published,
        EventStatus::Completed,
        EventStatus::Cancelled,
    ];
    filter.only_unfinished = false;
    filter.favorited_by = Some(user.id);
    let req = ListRequest {
        filter,
        page,
        fields,
        public: false,
    };
    answer_list(&state, &if_none_match, req, "favorites", None).await
}
