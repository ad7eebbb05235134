//! The idempotency-key storage interface.

use super::*;
use crate::store::Store;
use chrono::Utc;

impl Store {
    pub(super) async fn idem_claim(
        &self,
        scope: &str,
        key: &str,
        hash: &str,
        abandon_after: std::time::Duration,
    ) -> sqlx::Result<bool> {
        let now = Utc::now();
        let stale = now - chrono::Duration::hours(KEY_TTL_HOURS);
        let abandoned =
            now - chrono::Duration::from_std(abandon_after).unwrap_or(chrono::Duration::minutes(1));
        crate::dispatch!(self, crate::http::idempotency => claim(scope, key, hash, now, stale, abandoned))
    }
    #[allow(clippy::type_complexity)]
    pub(super) async fn idem_lookup(
        &self,
        scope: &str,
        key: &str,
    ) -> sqlx::Result<Option<(String, Option<i32>, Option<String>)>> {
        crate::dispatch!(self, crate::http::idempotency => lookup(scope, key))
    }
    pub(super) async fn idem_complete(
        &self,
        scope: &str,
        key: &str,
        status: i32,
        body: &str,
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::http::idempotency => complete(scope, key, status, body))
    }
    pub(super) async fn idem_release(&self, scope: &str, key: &str) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::http::idempotency => release(scope, key))
    }
    /// Deletes idempotency keys older than 24 h.
    pub async fn purge_idempotency_keys(&self) -> sqlx::Result<u64> {
        let before = Utc::now() - chrono::Duration::hours(KEY_TTL_HOURS);
        crate::dispatch!(self, crate::http::idempotency => purge(before))
    }
}
