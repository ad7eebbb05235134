//! `/organizer/admin`: the review of applications by admins (API.md §6). The reviewer is always
//! the caller; each decision writes its audit entry and the applicant's email in the transaction
//! that changes the application, and an approval grants the ORGANIZER role in that same
//! transaction, then tells every instance to forget the applicant's cached role.

use crate::http::openapi::RoutesAt;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{ApplicationStatus, ApplicationView, Decision};
use super::routes::{application_url, first_name_of};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResponse, ApiResult, Meta, Page};
use crate::notify::NewMessage;
use crate::state::AppState;
use crate::users::abuse::ClientIp;
use crate::users::{AdminOnly, AdminUser};

/// The review routes.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(list_applications))
        .routes_at(p, routes!(approve_application))
        .routes_at(p, routes!(reject_application))
        .routes_at(p, routes!(request_more_info))
}

/// Query of the review list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// DRAFT, UNDER_REVIEW, REQUIRES_ADDITIONAL_INFO, APPROVED or REJECTED.
    pub status: Option<String>,
    /// From 1.
    pub page: Option<i64>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
}

/// Applications, oldest submission first (ADMIN).
#[utoipa::path(get, path = "/organizer/admin/applications", tag = "organizer",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of applications, with `meta`", body = [ApplicationView]),
        (status = 400, description = "Unknown status, or page/limit out of range"),
        AdminOnly,
    ))]
pub(crate) async fn list_applications(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiResponse<Vec<ApplicationView>>> {
    let status = match q.status.as_deref() {
        None => None,
        Some(name) => Some(
            ApplicationStatus::parse(&name.to_ascii_uppercase()).ok_or_else(|| {
                ApiError::field(
                    "status",
                    "must be DRAFT, UNDER_REVIEW, REQUIRES_ADDITIONAL_INFO, APPROVED or REJECTED",
                )
            })?,
        ),
    };
    let page = Page::parse(q.page, q.limit, 20)?;
    let (apps, total) = state
        .store
        .list_applications(status, i64::from(page.limit), page.offset())
        .await?;
    let views = apps.iter().map(ApplicationView::from).collect();
    Ok(ApiResponse::page(views, Meta::of_count(page, total)))
}

/// Why an application is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RejectBody {
    /// 1–1000 characters, sent to the applicant.
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub reason: String,
}

/// What more the reviewers need.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InfoBody {
    /// 1–1000 characters, sent to the applicant.
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub note: String,
}

/// A reason or note of 1–1000 characters, trimmed.
fn remark(field: &str, text: &str) -> ApiResult<String> {
    let text = text.trim();
    if (1..=1000).contains(&text.chars().count()) {
        Ok(text.to_string())
    } else {
        Err(ApiError::field(field, "must be 1 to 1000 characters"))
    }
}

/// How [`decide`] refuses.
#[derive(utoipa::IntoResponses)]
pub enum DecisionRefusals {
    /// No such application
    #[response(status = 404)]
    NoApplication,
    /// INVALID_STATE: not UNDER_REVIEW
    #[response(status = 409)]
    NotUnderReview,
}

/// Applies a decision to an application UNDER_REVIEW: audit entry, email and (on approval)
/// role in one transaction; 404 when there is no such application, 409 `INVALID_STATE` when it
/// is not UNDER_REVIEW.
async fn decide(
    state: &AppState,
    ip: std::net::IpAddr,
    id: Uuid,
    decision: Decision<'_>,
) -> ApiResult<ApiResponse<ApplicationView>> {
    let app = state
        .store
        .application_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Application"))?;
    let invalid = || {
        ApiError::invalid_state(format!(
            "Only an application UNDER_REVIEW can be decided; this one is {}",
            app.row.status.as_str()
        ))
    };
    if app.row.status != ApplicationStatus::UnderReview {
        return Err(invalid());
    }
    let applicant = state
        .store
        .user_by_id(app.row.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Application"))?;
    let first_name = first_name_of(&app, &applicant.first_name);
    let (action, message) = match decision.to {
        ApplicationStatus::Approved => (
            "organizer.application_approve",
            NewMessage::email(
                &applicant.email,
                "organizer_application_approved",
                json!({"firstName": first_name}),
            ),
        ),
        ApplicationStatus::Rejected => (
            "organizer.application_reject",
            NewMessage::email(
                &applicant.email,
                "organizer_application_rejected",
                json!({"firstName": first_name, "reason": decision.reason}),
            ),
        ),
        _ => (
            "organizer.application_request_info",
            NewMessage::email(
                &applicant.email,
                "organizer_application_info_requested",
                json!({"firstName": first_name, "message": decision.note, "applicationId": id, "applicationUrl": application_url(id)}),
            ),
        ),
    };
    let entry = crate::audit::by_account(&state.store, action, decision.reviewer, ip)
        .await?
        .target("organizer_application", id)
        .details(json!({
            "userId": app.row.user_id,
            "from": app.row.status.as_str(),
            "to": decision.to.as_str(),
            "reason": decision.reason,
            "note": decision.note,
        }));
    if !state
        .store
        .decide_application(id, &decision, &entry, &message)
        .await?
    {
        return Err(invalid());
    }
    if decision.to == ApplicationStatus::Approved {
        crate::users::sessions::announce_user(state, app.row.user_id).await;
    }
    let after = state
        .store
        .application_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Application"))?;
    Ok(ApiResponse::ok(ApplicationView::from(&after)))
}

/// Approves an application UNDER_REVIEW; its applicant becomes an ORGANIZER at once (ADMIN).
#[utoipa::path(post, path = "/organizer/admin/{id}/approve", tag = "organizer",
    params(("id" = Uuid, Path, description = "Application id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The application, APPROVED", body = ApplicationView),
        AdminOnly,
        DecisionRefusals,
    ))]
pub(crate) async fn approve_application(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<ApplicationView>> {
    let decision = Decision::by(admin.id, ApplicationStatus::Approved);
    Ok(decide(&state, ip, id, decision)
        .await?
        .message("Application approved"))
}

/// Rejects an application UNDER_REVIEW with a reason (ADMIN).
#[utoipa::path(post, path = "/organizer/admin/{id}/reject", tag = "organizer",
    params(("id" = Uuid, Path, description = "Application id")),
    request_body = RejectBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The application, REJECTED", body = ApplicationView),
        (status = 400, description = "No reason, or longer than 1000 characters"),
        AdminOnly,
        DecisionRefusals,
    ))]
pub(crate) async fn reject_application(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RejectBody>,
) -> ApiResult<ApiResponse<ApplicationView>> {
    let reason = remark("reason", &body.reason)?;
    let decision = Decision {
        reason: Some(&reason),
        ..Decision::by(admin.id, ApplicationStatus::Rejected)
    };
    Ok(decide(&state, ip, id, decision)
        .await?
        .message("Application rejected"))
}

/// Sends an application UNDER_REVIEW back to its applicant with a note (ADMIN).
#[utoipa::path(post, path = "/organizer/admin/{id}/request-info", tag = "organizer",
    params(("id" = Uuid, Path, description = "Application id")),
    request_body = InfoBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The application, REQUIRES_ADDITIONAL_INFO", body = ApplicationView),
        (status = 400, description = "No note, or longer than 1000 characters"),
        AdminOnly,
        DecisionRefusals,
    ))]
pub(crate) async fn request_more_info(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<InfoBody>,
) -> ApiResult<ApiResponse<ApplicationView>> {
    let note = remark("note", &body.note)?;
    let decision = Decision {
        note: Some(&note),
        ..Decision::by(admin.id, ApplicationStatus::RequiresAdditionalInfo)
    };
    Ok(decide(&state, ip, id, decision)
        .await?
        .message("More information requested"))
}
