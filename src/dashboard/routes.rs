//! Dashboard routes: stats, the revenue series, top events and categories, and the wiring of the
//! export and live-update routes.

use crate::http::openapi::RoutesAt;
use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{
    CategorySales, EventSales, GroupBy, Scope, SeriesPoint, SortBy, Stats, WindowQuery, categories,
    dense_series,
};
use super::{export, feed};
use crate::http::{ApiError, ApiQuery, ApiResponse, ApiResult};
use crate::state::AppState;
use crate::users::AuthUser;

/// Routes under `/dashboard`.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(get_stats))
        .routes_at(p, routes!(get_revenue_series))
        .routes_at(p, routes!(get_top_events))
        .routes_at(p, routes!(get_category_sales))
        .routes_at(p, routes!(export::export))
        .routes_at(p, routes!(feed::create_updates_ticket))
        .routes_at(p, routes!(feed::stream_updates))
}

/// The caller's figures over a window.
#[utoipa::path(get, path = "/dashboard/stats", tag = "dashboard",
    params(WindowQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures of the bookings created in the window, in the caller's scope (USER: own purchases; ORGANIZER: own events; ADMIN: all). An order is a booking that was confirmed (paid, free or offline); a customer is the booking account, or a guest's email.", body = Stats),
        (status = 400, description = "Unknown `period`, bad date, or `from` not before `to`"),
    ))]
pub(crate) async fn get_stats(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<ApiResponse<Stats>> {
    let now = Utc::now();
    let window = q.window(now)?;
    let parts = state
        .store
        .dashboard_stats(Scope::of(&user), window, now)
        .await?;
    Ok(ApiResponse::ok(Stats::from_parts(parts, window)))
}

/// Query of the revenue series.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// Inclusive start (RFC 3339 or `YYYY-MM-DD`); default 30 days before `to`.
    pub from: Option<String>,
    /// Exclusive end; default now.
    pub to: Option<String>,
    /// `day` (default), `week` (labelled by its Monday) or `month`; UTC.
    #[param(value_type = Option<String>)]
    pub group_by: Option<GroupBy>,
}

/// Net revenue, tickets and orders per day, week or month.
#[utoipa::path(get, path = "/dashboard/analytics/revenue", tag = "dashboard",
    params(SeriesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every bucket meeting `[from, to)`, oldest first, zero where nothing sold (at most 1000 buckets)", body = [SeriesPoint]),
        (status = 400, description = "Bad date or `groupBy`, `from` not before `to`, or more than 1000 buckets"),
    ))]
pub(crate) async fn get_revenue_series(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> ApiResult<ApiResponse<Vec<SeriesPoint>>> {
    let window = WindowQuery {
        period: None,
        from: q.from,
        to: q.to,
    }
    .window(Utc::now())?;
    let group = q.group_by.unwrap_or_default();
    let labels = group.labels(window.from, window.to)?;
    let rows = state
        .store
        .dashboard_revenue(Scope::of(&user), window, group)
        .await?;
    Ok(ApiResponse::ok(dense_series(labels, &rows)))
}

/// Query of the top events.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TopEventsQuery {
    /// `week`, `month` (default), `quarter` or `year`, ending now.
    #[param(value_type = Option<String>)]
    pub period: Option<super::model::Period>,
    /// Inclusive start; with `to`, replaces `period`.
    pub from: Option<String>,
    /// Exclusive end.
    pub to: Option<String>,
    /// How many, 1–100 (default 10).
    pub limit: Option<i64>,
    /// `revenue` (default) or `tickets`.
    #[param(value_type = Option<String>)]
    pub sort_by: Option<SortBy>,
}

/// The caller's best-selling events.
#[utoipa::path(get, path = "/dashboard/analytics/events", tag = "dashboard",
    params(TopEventsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Events with orders in the window, by net revenue (or tickets), in the caller's scope", body = [EventSales]),
        (status = 400, description = "Bad `limit`, `sortBy`, `period` or date"),
    ))]
pub(crate) async fn get_top_events(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<TopEventsQuery>,
) -> ApiResult<ApiResponse<Vec<EventSales>>> {
    let limit = q.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "must be an integer from 1 to 100"));
    }
    let window = WindowQuery {
        period: q.period,
        from: q.from,
        to: q.to,
    }
    .window(Utc::now())?;
    let events = state
        .store
        .dashboard_top_events(
            Scope::of(&user),
            window,
            q.sort_by.unwrap_or_default(),
            limit,
        )
        .await?;
    Ok(ApiResponse::ok(events))
}

/// The caller's sales per event category.
#[utoipa::path(get, path = "/dashboard/analytics/categories", tag = "dashboard",
    params(WindowQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Categories with bookings in the window, most tickets first, in the caller's scope", body = [CategorySales]),
        (status = 400, description = "Bad `period` or date"),
    ))]
async fn get_category_sales(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<ApiResponse<Vec<CategorySales>>> {
    let window = q.window(Utc::now())?;
    let rows = state
        .store
        .dashboard_categories(Scope::of(&user), window)
        .await?;
    Ok(ApiResponse::ok(categories(rows)))
}
