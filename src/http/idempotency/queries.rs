//! Idempotency-key SQL.
//!
//! Written once against the backend alias `Db` and compiled once per dialect (the `sqlite` and
//! `postgres` modules of the area); where the dialects differ it branches on `PG`.

use super::Db;
use chrono::{DateTime, Utc};

use crate::store::Pools;

/// Claims `(scope, key)` for a new request; `false` when a live row exists. Rows older than
/// `stale_before`, and unfinished rows older than `abandoned_before` (the request died, e.g. its
/// client hung up), are replaced.
pub async fn claim(
    pools: &Pools<Db>,
    scope: &str,
    key: &str,
    hash: &str,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
    abandoned_before: DateTime<Utc>,
) -> sqlx::Result<bool> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2
           AND (created_at < $3 OR (status_code IS NULL AND created_at < $4))",
    )
    .bind(scope)
    .bind(key)
    .bind(stale_before)
    .bind(abandoned_before)
    .execute(&pools.write)
    .await?;
    let r = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(hash)
    .bind(now)
    .execute(&pools.write)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The stored `(request_hash, status, response)` of a key.
pub async fn lookup(
    pools: &Pools<Db>,
    scope: &str,
    key: &str,
) -> sqlx::Result<Option<(String, Option<i32>, Option<String>)>> {
    sqlx::query_as(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(&pools.write)
    .await
}

/// Stores the answer of a finished request.
pub async fn complete(
    pools: &Pools<Db>,
    scope: &str,
    key: &str,
    status: i32,
    response: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET status_code = $1, response = $2 WHERE scope = $3 AND key = $4",
    )
    .bind(status)
    .bind(response)
    .bind(scope)
    .bind(key)
    .execute(&pools.write)
    .await?;
    Ok(())
}

/// Forgets a key (the request failed with a 5xx, so it may be retried).
pub async fn release(pools: &Pools<Db>, scope: &str, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .execute(&pools.write)
        .await?;
    Ok(())
}

/// Deletes keys created before `before`.
pub async fn purge(pools: &Pools<Db>, before: DateTime<Utc>) -> sqlx::Result<u64> {
    let r = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(before)
        .execute(&pools.write)
        .await?;
    Ok(r.rows_affected())
}
