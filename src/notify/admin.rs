//! `GET /api/admin/notifications`: the outbox with delivery status, for admins. The payload is
//! never shown: it may hold verification and reset codes.

use crate::http::openapi::RoutesAt;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{OutboxRow, Status};
use crate::http::{ApiError, ApiQuery, ApiResponse, ApiResult, Meta, Page};
use crate::state::AppState;
use crate::users::extract::{AdminOnly, AdminUser};

/// Routes under `/admin/notifications` (merged, so other `/admin/...` routes can live beside).
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes_at(p, routes!(list_notifications))
}

/// Query of the outbox list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// PENDING, PROCESSING, SENT or FAILED.
    pub status: Option<String>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
}

/// One outbox message as the admin console shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub id: Uuid,
    /// `email` or `sms`.
    pub channel: String,
    /// Email address or phone number.
    pub recipient: String,
    /// Template name.
    pub template: String,
    /// PENDING, PROCESSING, SENT or FAILED.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// When the message was written.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// Earliest next attempt (meaningful while PENDING).
    pub next_attempt_at: DateTime<Utc>,
}

impl From<OutboxRow> for NotificationView {
    fn from(r: OutboxRow) -> Self {
        Self {
            id: r.id,
            channel: r.channel,
            recipient: r.recipient,
            template: r.template,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
            next_attempt_at: r.next_attempt_at,
        }
    }
}

/// Lists the notification outbox, newest first.
#[utoipa::path(get, path = "/admin/notifications", tag = "admin",
    params(NotificationQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of outbox messages", body = Vec<NotificationView>),
        (status = 400, description = "Invalid status, page or limit"),
        AdminOnly,
    ))]
pub(crate) async fn list_notifications(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<NotificationQuery>,
) -> ApiResult<ApiResponse<Vec<NotificationView>>> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
            ApiError::field("status", "must be one of PENDING, PROCESSING, SENT, FAILED")
        })?),
    };
    let page = Page::parse(q.page, q.limit, 20)?;
    let (rows, total) = state
        .store
        .list_messages(status, i64::from(page.limit), page.offset())
        .await?;
    let items = rows.into_iter().map(NotificationView::from).collect();
    Ok(ApiResponse::page(items, Meta::of_count(page, total)))
}
