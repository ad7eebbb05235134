//! Outbox SQL.
//!
//! Written once against the backend alias `Db` and compiled once per dialect (the `sqlite` and
//! `postgres` modules of the area); where the dialects differ it branches on `PG`.

use super::{Db, PG};
use crate::store::placeholders;
use sqlx::Transaction;

/// Writes a message inside the caller's transaction.
pub async fn insert_message(
    tx: &mut Transaction<'static, Db>,
    message: &crate::notify::NewMessage,
) -> sqlx::Result<()> {
    insert_messages(tx, std::slice::from_ref(message)).await
}

/// Writes several messages inside the caller's transaction with one statement (on PostgreSQL
/// one array per column under `unnest`, so the statement has one shape whatever the count).
pub async fn insert_messages(
    tx: &mut Transaction<'static, Db>,
    messages: &[crate::notify::NewMessage],
) -> sqlx::Result<()> {
    write_messages(tx, messages, None).await?;
    // The worker may look before this transaction commits; it keeps looking briefly after a
    // wake-up, so the messages still go out at once.
    crate::notify::wake();
    Ok(())
}

/// Writes messages already claimed under `lease_until` (PROCESSING, one attempt counted), to be
/// handed to this instance's delivery loop once the caller's transaction commits
/// ([`crate::notify::handoff`]). Returns them as a claim would.
pub async fn insert_claimed_messages(
    tx: &mut Transaction<'static, Db>,
    messages: &[crate::notify::NewMessage],
    lease_until: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<Vec<crate::notify::ClaimedMessage>> {
    write_messages(tx, messages, Some(lease_until)).await
}

/// The one `INSERT` of [`insert_messages`] and [`insert_claimed_messages`].
async fn write_messages(
    tx: &mut Transaction<'static, Db>,
    messages: &[crate::notify::NewMessage],
    lease_until: Option<chrono::DateTime<chrono::Utc>>,
) -> sqlx::Result<Vec<crate::notify::ClaimedMessage>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let now = chrono::Utc::now();
    let (status, attempts) = match lease_until {
        Some(_) => ("PROCESSING", 1),
        None => ("PENDING", 0),
    };
    let written: Vec<crate::notify::ClaimedMessage> = messages
        .iter()
        .map(|m| crate::notify::ClaimedMessage {
            id: uuid::Uuid::now_v7(),
            channel: m.channel.as_str().to_string(),
            recipient: m.recipient.clone(),
            template: m.template.to_string(),
            payload: m.payload.to_string(),
            attempts,
        })
        .collect();
    if PG {
        let column = |f: fn(&crate::notify::ClaimedMessage) -> String| {
            crate::store::PgArray(written.iter().map(f).collect::<Vec<_>>())
        };
        sqlx::query(
            "INSERT INTO outbox (id, channel, recipient, template, payload, status, attempts, next_attempt_at,
                                 locked_until, created_at)
             SELECT id, channel, recipient, template, payload, $7, $8, $6, $9, $6
             FROM unnest(CAST($1 AS uuid[]), CAST($2 AS text[]), CAST($3 AS text[]), CAST($4 AS text[]),
                         CAST($5 AS text[])) AS m(id, channel, recipient, template, payload)",
        )
        .bind(crate::store::PgArray(
            written.iter().map(|m| m.id).collect::<Vec<_>>(),
        ))
        .bind(column(|m| m.channel.clone()))
        .bind(column(|m| m.recipient.clone()))
        .bind(column(|m| m.template.clone()))
        .bind(column(|m| m.payload.clone()))
        .bind(now)
        .bind(status)
        .bind(attempts)
        .bind(lease_until)
        .execute(&mut **tx)
        .await?;
    } else {
        let mut sql = String::from(
            "INSERT INTO outbox (id, channel, recipient, template, payload, status, attempts, next_attempt_at,
                                 locked_until, created_at) VALUES ",
        );
        for n in 0..written.len() {
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for m in &written {
            q = q
                .bind(m.id)
                .bind(m.channel.as_str())
                .bind(m.recipient.as_str())
                .bind(m.template.as_str())
                .bind(m.payload.as_str())
                .bind(status)
                .bind(attempts)
                .bind(now)
                .bind(lease_until)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(written)
}

/// The SMS of the hour since `since` that count toward the caps, inside the caller's
/// transaction (which checks them before it writes one more to `recipient`).
pub async fn sms_window(
    tx: &mut Transaction<'static, Db>,
    recipient: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<crate::notify::SmsWindow> {
    sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN recipient = $1 THEN 1 ELSE 0 END), 0) AS to_number,
                MIN(CASE WHEN recipient = $1 THEN created_at END) AS oldest_to_number,
                COUNT(*) AS total,
                MIN(created_at) AS oldest
         FROM outbox
         WHERE channel = 'sms' AND created_at > $2 AND COALESCE(last_error, '') <> $3",
    )
    .bind(recipient)
    .bind(since)
    .bind(crate::notify::SMS_CAP_SKIPPED)
    .fetch_one(&mut **tx)
    .await
}

/// The SMS written since `since` and before message `id` that count toward the caps: to its
/// number, and to anyone. Counting only the earlier ones lets the first messages of a burst
/// go, whatever order workers take them in.
pub async fn sms_before(
    pools: &crate::store::Pools<Db>,
    id: uuid::Uuid,
    since: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN o.recipient = m.recipient THEN 1 ELSE 0 END), 0), COUNT(o.id)
         FROM outbox m JOIN outbox o
           ON o.channel = 'sms' AND o.created_at > $2 AND COALESCE(o.last_error, '') <> $3
          AND (o.created_at < m.created_at OR (o.created_at = m.created_at AND o.id < m.id))
         WHERE m.id = $1",
    )
    .bind(id)
    .bind(since)
    .bind(crate::notify::SMS_CAP_SKIPPED)
    .fetch_one(&pools.read)
    .await
}

/// Messages of a recipient, newest first (tests and support).
pub async fn messages_for(
    pools: &crate::store::Pools<Db>,
    recipient: &str,
) -> sqlx::Result<Vec<crate::notify::OutboxRow>> {
    sqlx::query_as(
        "SELECT id, channel, recipient, template, payload, status, attempts, next_attempt_at, last_error, created_at, sent_at
         FROM outbox WHERE recipient = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(recipient)
    .fetch_all(&pools.read)
    .await
}

/// Claims up to `limit` due messages for one worker: PENDING ones whose time has come, and
/// PROCESSING ones whose lease ran out (their worker died). Each claimed row turns PROCESSING
/// with a new lease and one more attempt. PostgreSQL skips rows other workers are claiming;
/// SQLite's single writer connection makes the statement atomic; there a reader first looks
/// whether anything is due, so that the workers' polls, most of which find nothing, do not
/// queue for the one writer behind (and ahead of) the orders.
pub async fn claim_due(
    pools: &crate::store::Pools<Db>,
    now: chrono::DateTime<chrono::Utc>,
    lease_until: chrono::DateTime<chrono::Utc>,
    max_attempts: i32,
    limit: i64,
) -> sqlx::Result<Vec<crate::notify::ClaimedMessage>> {
    const DUE: &str = "((status = 'PENDING' AND next_attempt_at <= $2)
                 OR (status = 'PROCESSING' AND locked_until <= $2))
               AND attempts < $3";
    if !PG {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE {})",
            DUE.replace("$2", "$1").replace("$3", "$2")
        );
        let due: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(max_attempts)
            .fetch_one(&pools.read)
            .await?;
        if !due {
            return Ok(Vec::new());
        }
    }
    let sql = if PG {
        // Each branch an ordered scan of its partial index (migration 0021), which marks the dead
        // entries it passes (every message leaves one per status it went through) so that the
        // next claim skips them; one `OR` over both read them all again through a bitmap.
        "UPDATE outbox SET status = 'PROCESSING', locked_until = $1, attempts = attempts + 1
         WHERE id IN (
             SELECT id FROM (
                 SELECT id FROM outbox
                 WHERE status = 'PENDING' AND next_attempt_at <= $2 AND attempts < $3
                 ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) due
             UNION ALL
             SELECT id FROM (
                 SELECT id FROM outbox
                 WHERE status = 'PROCESSING' AND locked_until <= $2 AND attempts < $3
                 ORDER BY locked_until LIMIT $4 FOR UPDATE SKIP LOCKED) lapsed
             LIMIT $4)
         RETURNING id, channel, recipient, template, payload, attempts"
            .to_string()
    } else {
        format!(
            "UPDATE outbox SET status = 'PROCESSING', locked_until = $1, attempts = attempts + 1
             WHERE id IN (SELECT id FROM outbox WHERE {DUE} ORDER BY next_attempt_at LIMIT $4)
             RETURNING id, channel, recipient, template, payload, attempts"
        )
    };
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(lease_until)
        .bind(now)
        .bind(max_attempts)
        .bind(limit)
        .fetch_all(&pools.write)
        .await
}

/// Marks as FAILED the messages whose worker died during their last allowed attempt.
pub async fn fail_abandoned(
    pools: &crate::store::Pools<Db>,
    now: chrono::DateTime<chrono::Utc>,
    max_attempts: i32,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'FAILED', locked_until = NULL,
             last_error = 'delivery was interrupted on the last allowed attempt'
         WHERE status = 'PROCESSING' AND locked_until <= $1 AND attempts >= $2",
    )
    .bind(now)
    .bind(max_attempts)
    .execute(&pools.write)
    .await?;
    Ok(done.rows_affected())
}

/// Empties the payloads of messages finished before `before`: they may carry codes and links
/// that must not outlive their use in the database or its backups.
pub async fn redact_finished(
    pools: &crate::store::Pools<Db>,
    before: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<u64> {
    // Through the partial index of unredacted messages: without it SQLite's planner picks the
    // status index and reads every message ever sent, on the one writer connection, every
    // sweep (a soak's hold latencies grew with the outbox until this was found).
    let index = if PG {
        ""
    } else {
        "INDEXED BY outbox_unredacted"
    };
    let sql = format!(
        "UPDATE outbox {index} SET payload = '{{}}'
         WHERE payload <> '{{}}' AND created_at < $1 AND status IN ('SENT', 'FAILED')"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(before)
        .execute(&pools.write)
        .await?;
    Ok(done.rows_affected())
}

/// Records the outcome of a batch of deliveries in one transaction: delivered ones become SENT,
/// failed ones PENDING again (at their next attempt time) or FAILED. Only rows still held under
/// this worker's `lease` are touched: a worker that lost its claim cannot overwrite the outcome
/// of the one that took the message over.
pub async fn record_outcomes(
    pools: &crate::store::Pools<Db>,
    now: chrono::DateTime<chrono::Utc>,
    lease: chrono::DateTime<chrono::Utc>,
    sent: &[uuid::Uuid],
    failed: &[crate::notify::Failure],
) -> sqlx::Result<()> {
    // The usual outcome, a group of sent messages, is one statement: atomic without a
    // transaction, whose BEGIN and COMMIT would hold the one SQLite writer for two more round
    // trips each time.
    if failed.is_empty() && sent.len() <= SENT_CHUNK {
        if !sent.is_empty() {
            mark_sent(now, lease, sent).execute(&pools.write).await?;
        }
        return Ok(());
    }
    let mut tx = pools.write.begin().await?;
    for chunk in sent.chunks(SENT_CHUNK) {
        mark_sent(now, lease, chunk).execute(&mut *tx).await?;
    }
    for failure in failed {
        let (status, next) = match failure.retry_at {
            Some(at) => ("PENDING", at),
            None => ("FAILED", now),
        };
        sqlx::query(
            "UPDATE outbox SET status = $1, next_attempt_at = $2, last_error = $3, locked_until = NULL
             WHERE id = $4 AND status = 'PROCESSING' AND locked_until = $5",
        )
        .bind(status)
        .bind(next)
        .bind(&failure.error)
        .bind(failure.id)
        .bind(lease)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Most messages marked sent by one statement.
const SENT_CHUNK: usize = 500;

/// Marks `ids` SENT, those still held under `lease`.
fn mark_sent(
    now: chrono::DateTime<chrono::Utc>,
    lease: chrono::DateTime<chrono::Utc>,
    ids: &[uuid::Uuid],
) -> sqlx::query::Query<'static, Db, <Db as sqlx::Database>::Arguments> {
    // One array parameter on PostgreSQL: one statement to prepare whatever the chunk's size.
    let sql = format!(
        "UPDATE outbox SET status = 'SENT', sent_at = $1, locked_until = NULL, last_error = NULL
         WHERE status = 'PROCESSING' AND locked_until = $2 AND id {}",
        crate::store::id_list_from(PG, 3, ids.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(lease);
    if PG {
        query = query.bind(crate::store::PgArray(ids.to_vec()));
    } else {
        for id in ids {
            query = query.bind(*id);
        }
    }
    query
}

/// Gives claimed messages back untouched (shutdown before they were attempted): PENDING, due
/// now, and the claim's attempt not counted.
pub async fn release(
    pools: &crate::store::Pools<Db>,
    lease: chrono::DateTime<chrono::Utc>,
    ids: &[uuid::Uuid],
) -> sqlx::Result<()> {
    for chunk in ids.chunks(500) {
        let sql = format!(
            "UPDATE outbox SET status = 'PENDING', locked_until = NULL, attempts = attempts - 1
             WHERE status = 'PROCESSING' AND locked_until = $1 AND id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(lease);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&pools.write).await?;
    }
    Ok(())
}

/// A page of the outbox for the admin console, newest first, with the total count.
pub async fn list_messages(
    pools: &crate::store::Pools<Db>,
    status: Option<&'static str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<crate::notify::OutboxRow>, i64)> {
    let filter = "WHERE ($1 IS NULL OR status = $1)";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM outbox {filter}"
    )))
    .bind(status)
    .fetch_one(&pools.read)
    .await?;
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, channel, recipient, template, payload, status, attempts, next_attempt_at, last_error, created_at, sent_at
         FROM outbox {filter} ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(&pools.read)
    .await?;
    Ok((rows, total))
}

/// Writes a message in its own transaction (callers with no change of their own to commit).
pub async fn enqueue(
    pools: &crate::store::Pools<Db>,
    message: &crate::notify::NewMessage,
) -> sqlx::Result<()> {
    let mut tx = pools.write.begin().await?;
    insert_message(&mut tx, message).await?;
    tx.commit().await
}

/// Messages per unfinished or failed status, for the backlog gauge (the sent ones, nearly all
/// of them, are not counted: that would read the whole outbox every sweep).
pub async fn count_by_status(pools: &crate::store::Pools<Db>) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT status, COUNT(*) FROM outbox
         WHERE status IN ('PENDING', 'PROCESSING', 'FAILED') GROUP BY status",
    )
    .fetch_all(&pools.read)
    .await
}
