//! The audit log: every security-relevant action (logins, locks, role and status changes,
//! password resets, admin creation, erasure, IP unblocks) with actor, target, IP and time, and
//! `GET /api/admin/audit-log` for admins. Other areas record their own actions with [`record`]
//! (on its own) or, inside a queries file, within the transaction of the change:
//! `audit::insert_entry_tx(&mut tx, &entry).await?`, with `audit` named in the backend module's
//! `crate::dialect!(sqlite, audit)`.

pub mod model;
pub mod postgres;
pub mod routes;
pub mod sqlite;
mod store;

pub use model::*;
pub use routes::router;

use crate::store::Store;

/// An entry of `action` by the account `actor_id` (with its email as it is now) from `ip`.
pub async fn by_account(
    store: &Store,
    action: &'static str,
    actor_id: uuid::Uuid,
    ip: std::net::IpAddr,
) -> sqlx::Result<AuditEntry> {
    let email = store.user_by_id(actor_id).await?.map(|u| u.email);
    Ok(AuditEntry::new(action)
        .actor(Some(actor_id), email.as_deref())
        .ip(Some(ip)))
}

/// Records an entry on its own; a failure is logged, never shown to the caller (the action it
/// describes has already happened).
pub async fn record(store: &Store, entry: AuditEntry) {
    if let Err(e) = store.insert_audit(&entry).await {
        tracing::error!(error = %e, action = entry.action, "audit: could not record");
    }
}
