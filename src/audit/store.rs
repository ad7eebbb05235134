//! The audit-log storage interface.

use super::*;
use crate::store::Store;

impl Store {
    /// Writes an audit entry.
    pub async fn insert_audit(&self, entry: &AuditEntry) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::audit => insert_entry(entry))
    }
    /// One page of audit entries, newest first, and the total.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> sqlx::Result<(Vec<AuditRow>, i64)> {
        crate::dispatch!(self, crate::audit => list_entries(filter, limit, offset))
    }
}
