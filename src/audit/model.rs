//! The audit log's entries, filters and the entry of the listing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

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
    pub actor_id: Option<Uuid>,
    /// Exact action.
    pub action: Option<String>,
    /// Target kind.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub to: Option<DateTime<Utc>>,
}

/// A stored entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub action: String,
    /// Target kind.
    pub target_type: Option<String>,
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
    pub id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub action: String,
    /// Target kind.
    pub target_type: Option<String>,
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
