//! The audit log: every security-relevant action (logins, locks, role and status changes,
//! password resets, admin creation, erasure, IP unblocks) with actor, target, IP and time, and
//! `GET /api/admin/audit-log` for admins. Other areas record their own actions with [`record`]
//! (on its own) or, inside a queries file, within the transaction of the change:
//! `audit::insert_entry_tx(&mut tx, &entry).await?` with `use crate::audit::sqlite as audit` (or
//! `postgres`) in the backend module.

pub mod model;
pub mod routes;
mod store;

pub use model::*;
pub use routes::router;

use crate::store::Store;

/// The SQLite build of the audit-log queries.
#[path = "."]
pub mod sqlite {
    /// The backend these queries are compiled for.
    pub type Db = sqlx::Sqlite;
    /// Whether the dialect is PostgreSQL.
    #[allow(dead_code)]
    pub const PG: bool = false;
    // The same file as the other dialect's module, on purpose: one SQL source, two builds.
    #[allow(clippy::duplicate_mod)]
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
    // The same file as the other dialect's module, on purpose: one SQL source, two builds.
    #[allow(clippy::duplicate_mod)]
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
}

/// Records an entry on its own; a failure is logged, never shown to the caller (the action it
/// describes has already happened).
pub async fn record(store: &Store, entry: AuditEntry) {
    if let Err(e) = store.insert_audit(&entry).await {
        tracing::error!(error = %e, action = entry.action, "audit: could not record");
    }
}
