//! `GET /api/admin/audit-log`: the audit log for admins.

use super::model::*;
use crate::http::openapi::RoutesAt;
use crate::http::{ApiQuery, ApiResponse, ApiResult, Meta, Page};
use crate::state::AppState;
use crate::users::{AdminOnly, AdminUser};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

/// Routes under `/admin/audit-log`.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes_at(p, routes!(list_audit_log))
}

/// Query of the audit-log listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    pub actor_id: Option<Uuid>,
    /// Exact action (`login.failure`, …).
    pub action: Option<String>,
    /// Target kind.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// From (RFC 3339 or YYYY-MM-DD), inclusive.
    pub from: Option<String>,
    /// To (RFC 3339 or YYYY-MM-DD), exclusive.
    pub to: Option<String>,
}

/// Lists the audit log (ADMIN), newest first.
#[utoipa::path(get, path = "/admin/audit-log", tag = "admin",
    params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of entries", body = [AuditView]),
        (status = 400, description = "Invalid filter"),
        AdminOnly,
    ))]
pub(crate) async fn list_audit_log(
    _admin: AdminUser,
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<ApiResponse<Vec<AuditView>>> {
    let page = Page::parse(q.page, q.limit, 20)?;
    let filter = AuditFilter {
        actor_id: q.actor_id,
        action: q.action,
        target_type: q.target_type,
        target_id: q.target_id,
        from: q
            .from
            .as_deref()
            .map(|f| crate::http::parse_instant(f, "from"))
            .transpose()?,
        to: q
            .to
            .as_deref()
            .map(|t| crate::http::parse_instant(t, "to"))
            .transpose()?,
    };
    let (rows, total) = state
        .store
        .list_audit(&filter, i64::from(page.limit), page.offset())
        .await?;
    let items = rows.into_iter().map(AuditView::from).collect();
    Ok(ApiResponse::page(items, Meta::of_count(page, total)))
}
