//! The audit log: every security-relevant action (logins, locks, role and status changes,
//! password resets, admin creation, erasure, IP unblocks) with actor, target, IP and time, and
//! `GET /api/admin/audit-log` for admins. Other areas record their own actions with [`record`]
//! (on its own) or, inside a queries file, within the transaction of the change:
//! `audit::insert_entry_tx(&mut tx, &entry).await?` with `use crate::audit::sqlite as audit` (or
//! `postgres`) in the backend module.

mod store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::app::AppState;
use crate::http::{ApiQuery, ApiResponse, ApiResult, Meta, Page};
use crate::store::Store;
use crate::users::AdminUser;

/// The SQLite build of the audit-log queries.
#[path = "."]
pub mod sqlite {
    /// The backend these queries are compiled for.
    pub type Db = sqlx::Sqlite;
    /// Whether the dialect is PostgreSQL.
    #[allow(dead_code)]
    pub const PG: bool = false;
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
}

/// The PostgreSQL build of the audit-log queries.
#[path = "."]
pub mod postgres {
    /// The backend these queries are compiled for.
    pub type Db = sqlx::Postgres;
    /// Whether the dialect is PostgreSQL.
    #[allow(dead_code)]
    pub const PG: bool = true;
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
}

/// One action to record.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// Who did it (`None` for anonymous callers and the system).
    pub actor_id: Option<Uuid>,
    /// The actor's email at the time (or the email tried, for failed logins).
    pub actor_email: Option<String>,
    /// What happened, dotted (`login.success`, `user.role_change`, …).
    pub action: &'static str,
    /// Kind of the target (`user`, `ip`, `booking`, …).
    pub target_type: Option<&'static str>,
    /// Id of the target.
    pub target_id: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Extra facts (never a secret).
    pub details: Option<serde_json::Value>,
}

impl AuditEntry {
    /// An entry for an action.
    pub fn new(action: &'static str) -> Self {
        Self {
            action,
            ..Self::default()
        }
    }
    /// Sets the actor.
    pub fn actor(mut self, id: Option<Uuid>, email: Option<&str>) -> Self {
        self.actor_id = id;
        self.actor_email = email.map(str::to_string);
        self
    }
    /// Sets the target.
    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.target_type = Some(kind);
        self.target_id = Some(id.to_string());
        self
    }
    /// Sets the client IP.
    pub fn ip(mut self, ip: Option<std::net::IpAddr>) -> Self {
        self.ip = ip.map(|i| i.to_string());
        self
    }
    /// Sets the details.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// Filters of the audit-log listing.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Actor id.
    pub actor_id: Option<Uuid>,
    /// Exact action.
    pub action: Option<String>,
    /// Target kind.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub to: Option<DateTime<Utc>>,
}

/// A stored entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    /// Id.
    pub id: Uuid,
    /// Actor id.
    pub actor_id: Option<Uuid>,
    /// Actor email.
    pub actor_email: Option<String>,
    /// Action.
    pub action: String,
    /// Target kind.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// JSON details.
    pub details: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// An audit entry as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    /// Id.
    pub id: Uuid,
    /// Actor id.
    pub actor_id: Option<Uuid>,
    /// Actor email.
    pub actor_email: Option<String>,
    /// Action.
    pub action: String,
    /// Target kind.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Extra facts.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditView {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            actor_id: r.actor_id,
            actor_email: r.actor_email,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            ip: r.ip,
            details: r.details.and_then(|d| serde_json::from_str(&d).ok()),
            created_at: r.created_at,
        }
    }
}

/// Records an entry on its own; a failure is logged, never shown to the caller (the action it
/// describes has already happened).
pub async fn record(store: &Store, entry: AuditEntry) {
    if let Err(e) = store.insert_audit(&entry).await {
        tracing::error!(error = %e, action = entry.action, "audit: could not record");
    }
}

/// Routes under `/admin/audit-log`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_log))
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
    /// Actor id.
    pub actor_id: Option<Uuid>,
    /// Exact action (`login.failure`, …).
    pub action: Option<String>,
    /// Target kind.
    pub target_type: Option<String>,
    /// Target id.
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
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not an admin"),
    ))]
async fn list_audit_log(
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
    Ok(ApiResponse::page(items, Meta::new(page, total as u64)))
}
