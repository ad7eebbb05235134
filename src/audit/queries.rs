//! Audit-log SQL.
//!
//! Written once against the backend alias `Db` and compiled once per dialect (the `sqlite` and
//! `postgres` modules of the area); where the dialects differ it branches on `PG`.

use super::Db;
use crate::audit::{AuditEntry, AuditFilter, AuditRow};
use crate::store::Pools;

const INSERT: &str = "INSERT INTO audit_log (id, actor_id, actor_email, action, target_type, target_id, ip, details, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Writes an entry inside the caller's transaction.
pub async fn insert_entry_tx(
    tx: &mut sqlx::Transaction<'static, Db>,
    entry: &AuditEntry,
) -> sqlx::Result<()> {
    sqlx::query(INSERT)
        .bind(uuid::Uuid::now_v7())
        .bind(entry.actor_id)
        .bind(entry.actor_email.as_deref())
        .bind(entry.action)
        .bind(entry.target_type)
        .bind(entry.target_id.as_deref())
        .bind(entry.ip.as_deref())
        .bind(entry.details.as_ref().map(|d| d.to_string()))
        .bind(chrono::Utc::now())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Writes an entry on its own.
pub async fn insert_entry(pools: &Pools<Db>, entry: &AuditEntry) -> sqlx::Result<()> {
    let mut tx = pools.write.begin().await?;
    insert_entry_tx(&mut tx, entry).await?;
    tx.commit().await
}

/// One page of entries matching the filter, newest first, with the total count.
pub async fn list_entries(
    pools: &Pools<Db>,
    filter: &AuditFilter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<AuditRow>, i64)> {
    // One numbered placeholder per filter given, in the order `bind_filter!` binds them.
    let clauses: Vec<String> = [
        (filter.actor_id.is_some(), "actor_id ="),
        (filter.action.is_some(), "action ="),
        (filter.target_type.is_some(), "target_type ="),
        (filter.target_id.is_some(), "target_id ="),
        (filter.from.is_some(), "created_at >="),
        (filter.to.is_some(), "created_at <"),
    ]
    .into_iter()
    .filter(|(given, _)| *given)
    .enumerate()
    .map(|(i, (_, test))| format!("{test} ${}", i + 1))
    .collect();
    let n = clauses.len();
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let count_sql = format!("SELECT COUNT(*) FROM audit_log{where_sql}");
    let list_sql = format!(
        "SELECT id, actor_id, actor_email, action, target_type, target_id, ip, details, created_at
         FROM audit_log{where_sql} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    macro_rules! bind_filter {
        ($q:expr) => {{
            let mut q = $q;
            if let Some(v) = filter.actor_id {
                q = q.bind(v);
            }
            if let Some(v) = &filter.action {
                q = q.bind(v.clone());
            }
            if let Some(v) = &filter.target_type {
                q = q.bind(v.clone());
            }
            if let Some(v) = &filter.target_id {
                q = q.bind(v.clone());
            }
            if let Some(v) = filter.from {
                q = q.bind(v);
            }
            if let Some(v) = filter.to {
                q = q.bind(v);
            }
            q
        }};
    }
    let total: i64 = bind_filter!(sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)))
        .fetch_one(&pools.read)
        .await?;
    let rows: Vec<AuditRow> = bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(list_sql)))
        .bind(limit)
        .bind(offset)
        .fetch_all(&pools.read)
        .await?;
    Ok((rows, total))
}
