//! The admin pages: organizer applications with their decisions, users with role and status
//! changes, the audit log, blocked IPs, and the notification outbox. Each calls the admin JSON
//! route's handler with the console's caller, so the checks, the audit entries and the cache
//! invalidations are the API's own.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::sales::{keep, query};
use super::{AdminStaff, Staff, done};
use crate::audit::routes::{AuditQuery, list_audit_log};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResponse, ApiResult, Meta};
use crate::notify::admin::{NotificationQuery, list_notifications};
use crate::organizers::review::{
    InfoBody, ListQuery, RejectBody, approve_application, list_applications, reject_application,
    request_more_info,
};
use crate::state::AppState;
use crate::users::AdminUser;
use crate::users::abuse::{ClientIp, PageQuery, delete_blocked_ip, list_blocked_ips};
use crate::users::admin::{
    RoleBody, StatusBody, UserListQuery, list_users, update_user_role, update_user_status,
};
use crate::users::model::{Role, UserStatus};
use crate::web::serialized;

/// Renders a list page from a list handler's answer.
fn list_page<T: serde::Serialize>(
    staff: &Staff,
    template: &str,
    section: &str,
    answer: ApiResult<ApiResponse<Vec<T>>>,
    extra: minijinja::Value,
    raw: Option<&str>,
) -> Response {
    match answer {
        Ok(answer) => {
            let (items, meta): (Vec<T>, Option<Meta>) = answer.into_parts();
            staff.render(
                template,
                section,
                minijinja::context! {
                    items => serialized(&items), meta => serialized(&meta),
                    query => keep(raw, &["page"]), ..extra
                },
            )
        }
        Err(e) => staff.failure(e),
    }
}

/// `GET /admin/applications`: applications by status (UNDER_REVIEW first shown), oldest first.
pub async fn applications(
    AdminStaff(staff): AdminStaff,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut q = match query::<ListQuery>(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return staff.failure(e),
    };
    let status = q
        .status
        .get_or_insert_with(|| "UNDER_REVIEW".to_string())
        .clone();
    let listed = list_applications(AdminUser(staff.user), State(state), ApiQuery(q)).await;
    list_page(
        &staff,
        "console/applications.html",
        "applications",
        listed,
        minijinja::context! {
            status,
            statuses => ["UNDER_REVIEW", "REQUIRES_ADDITIONAL_INFO", "APPROVED", "REJECTED", "DRAFT"],
        },
        raw.as_deref(),
    )
}

/// A decision's form: the reason of a rejection, the note of a request for information.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
}

/// `POST /admin/applications/{id}/{approve|reject|request-info}`: the review routes' decision.
pub async fn decide_application(
    AdminStaff(staff): AdminStaff,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((id, decision)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let form: DecisionForm = match staff.form(&state, &body) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return staff.failure(ApiError::not_found("Application"));
    };
    let (admin, st, ip, path) = (
        AdminUser(staff.user),
        State(state),
        ClientIp(ip),
        ApiPath(id),
    );
    let outcome = match decision.as_str() {
        "approve" => approve_application(admin, st, ip, path).await,
        "reject" => {
            let body = RejectBody {
                reason: form.reason,
            };
            reject_application(admin, st, ip, path, ApiJson(body)).await
        }
        "request-info" => {
            let body = InfoBody { note: form.note };
            request_more_info(admin, st, ip, path, ApiJson(body)).await
        }
        _ => return staff.failure(ApiError::not_found("Decision")),
    };
    let back = "/admin/applications";
    match outcome {
        Ok(_) => {
            let text = match decision.as_str() {
                "approve" => "Application approved: the applicant is now an organizer.",
                "reject" => "Application rejected; the applicant was told why.",
                _ => "More information requested from the applicant.",
            };
            done(back, "ok", text)
        }
        Err(e) if e.code.status().is_client_error() => done(back, "error", &super::friendly(&e)),
        Err(e) => staff.failure(e),
    }
}

/// `GET /admin/users`: users by search, role and status, newest first.
pub async fn users(
    AdminStaff(staff): AdminStaff,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = match query::<UserListQuery>(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return staff.failure(e),
    };
    let filters = minijinja::context! { q => q.q.clone(), role => q.role.clone(), status => q.status.clone() };
    let listed = list_users(AdminUser(staff.user), State(state), ApiQuery(q)).await;
    list_page(
        &staff,
        "console/users.html",
        "users",
        listed,
        minijinja::context! {
            filters,
            roles => ["USER", "ORGANIZER", "ADMIN"],
            statuses => ["ACTIVE", "INACTIVE", "SUSPENDED"],
        },
        raw.as_deref(),
    )
}

/// A role or status change's form.
#[derive(Debug, Deserialize)]
pub struct UserChangeForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    status: String,
}

/// `POST /admin/users/{id}/{role|status}`: the admin user routes' change (audited, at once).
pub async fn change_user(
    AdminStaff(staff): AdminStaff,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path((id, change)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let form: UserChangeForm = match staff.form(&state, &body) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return staff.failure(ApiError::not_found("User"));
    };
    let (admin, st, ip, path) = (
        AdminUser(staff.user),
        State(state),
        ClientIp(ip),
        ApiPath(id),
    );
    let outcome = match change.as_str() {
        "role" => match Role::parse(&form.role) {
            Some(role) => update_user_role(admin, st, ip, path, ApiJson(RoleBody { role }))
                .await
                .map(|_| "Role changed."),
            None => Err(ApiError::field("role", "must be ADMIN, ORGANIZER or USER")),
        },
        "status" => match UserStatus::parse(&form.status) {
            Some(status) => update_user_status(admin, st, ip, path, ApiJson(StatusBody { status }))
                .await
                .map(|_| "Status changed."),
            None => Err(ApiError::field(
                "status",
                "must be ACTIVE, INACTIVE or SUSPENDED",
            )),
        },
        _ => return staff.failure(ApiError::not_found("Change")),
    };
    match outcome {
        Ok(text) => done("/admin/users", "ok", text),
        Err(e) if e.code.status().is_client_error() => {
            done("/admin/users", "error", &super::friendly(&e))
        }
        Err(e) => staff.failure(e),
    }
}

/// `GET /admin/audit`: the audit log, filtered and paginated, newest first.
pub async fn audit_log(
    AdminStaff(staff): AdminStaff,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = match query::<AuditQuery>(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return staff.failure(e),
    };
    let filters = minijinja::context! {
        actor_id => q.actor_id.map(|id| id.to_string()), action => q.action.clone(), target_type => q.target_type.clone(),
        target_id => q.target_id.clone(), from => q.from.clone(), to => q.to.clone(),
    };
    let listed = list_audit_log(AdminUser(staff.user), State(state), ApiQuery(q)).await;
    list_page(
        &staff,
        "console/audit.html",
        "audit",
        listed,
        minijinja::context! { filters },
        raw.as_deref(),
    )
}

/// `GET /admin/blocked-ips`: the IPs blocked now, each with an unblock form.
pub async fn blocked_ips(
    AdminStaff(staff): AdminStaff,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = match query::<PageQuery>(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return staff.failure(e),
    };
    let listed = list_blocked_ips(AdminUser(staff.user), State(state), ApiQuery(q)).await;
    list_page(
        &staff,
        "console/blocked.html",
        "blocked",
        listed,
        minijinja::context! {},
        raw.as_deref(),
    )
}

/// The unblock form.
#[derive(Debug, Deserialize)]
pub struct UnblockForm {
    ip: String,
}

/// `POST /admin/blocked-ips/unblock`: lifts a block, as `DELETE /api/admin/blocked-ips/{ip}`.
pub async fn unblock_ip(
    AdminStaff(staff): AdminStaff,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    let form: UnblockForm = match staff.form(&state, &body) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    let back = "/admin/blocked-ips";
    let outcome = delete_blocked_ip(
        AdminUser(staff.user),
        State(state),
        ClientIp(ip),
        ApiPath(form.ip.clone()),
    )
    .await;
    match outcome {
        Ok(_) => done(back, "ok", &format!("{} is no longer blocked.", form.ip)),
        Err(e) if e.code.status().is_client_error() => done(back, "error", &super::friendly(&e)),
        Err(e) => staff.failure(e),
    }
}

/// `GET /admin/notifications`: the outbox with delivery status, newest first.
pub async fn notifications(
    AdminStaff(staff): AdminStaff,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = match query::<NotificationQuery>(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return staff.failure(e),
    };
    let status = q.status.clone();
    let listed = list_notifications(State(state), AdminUser(staff.user), ApiQuery(q)).await;
    list_page(
        &staff,
        "console/notifications.html",
        "notifications",
        listed,
        minijinja::context! { status, statuses => ["PENDING", "PROCESSING", "SENT", "FAILED"] },
        raw.as_deref(),
    )
}
