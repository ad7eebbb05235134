//! Abuse-protection SQL: account locks, IP blocks and abuse counters.
//!
//! Written once against the backend alias `Db` and compiled once per dialect (the `sqlite` and
//! `postgres` modules of the area); where the dialects differ it branches on `PG`.

use super::{Db, PG};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::store::Pools;
use crate::users::abuse::{BlockRow, Policy};

type Tx = sqlx::Transaction<'static, Db>;

async fn insert_event(
    tx: &mut Tx,
    kind: &str,
    ip: &str,
    subject: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO abuse_events (id, kind, ip, subject, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(kind)
    .bind(ip)
    .bind(subject)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// When an account (by lower-cased email) is locked until, if it is locked now.
pub async fn account_locked_until(
    pools: &Pools<Db>,
    subject: &str,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    still_ahead(
        pools,
        "SELECT locked_until FROM account_locks WHERE subject = $1",
        subject,
    )
    .await
}

/// The end a one-row lookup by `key` reads, if that end is still ahead.
async fn still_ahead(
    pools: &Pools<Db>,
    sql: &'static str,
    key: &str,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let until: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(sql)
        .bind(key)
        .fetch_optional(&pools.read)
        .await?;
    Ok(until.flatten().filter(|u| *u > Utc::now()))
}

/// Records a failed login: returns `(account locked until, IP blocked until)` for the locks
/// this failure has just placed.
pub async fn record_login_failure(
    pools: &Pools<Db>,
    ip: &str,
    subject: &str,
    policy: &Policy,
) -> sqlx::Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> {
    let now = Utc::now();
    let mut tx = pools.write.begin().await?;
    insert_event(&mut tx, "login_failure", ip, Some(subject), now).await?;
    let (locked_until, lock_count, failures) = lock_account(&mut tx, subject, policy, now).await?;
    let mut account_lock = None;
    if failures >= policy.account_failures {
        // Locks far in the past no longer count toward the progression.
        let previous = if locked_until.is_some_and(|u| u > now - Duration::days(1)) {
            lock_count
        } else {
            0
        };
        let until = now + Policy::step(&policy.account_steps, previous);
        sqlx::query("UPDATE account_locks SET locked_until = $1, counted_since = $1, lock_count = $2, updated_at = $3 WHERE subject = $4")
            .bind(until)
            .bind(previous + 1)
            .bind(now)
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        account_lock = Some(until);
    }
    let ip_block = maybe_block(
        &mut tx,
        ip,
        "login_failure",
        policy.ip_failures,
        policy,
        now,
        false,
    )
    .await?;
    tx.commit().await?;
    Ok((account_lock, ip_block))
}

/// Creates and locks an account's lock row (on PostgreSQL the row lock serializes concurrent
/// failures and attempts of one account, so each counts the others; SQLite's single writer
/// already does), and counts its failures since the last lock ended, within the window. Returns
/// `(locked_until, lock_count, failures)`.
async fn lock_account(
    tx: &mut Tx,
    subject: &str,
    policy: &Policy,
    now: DateTime<Utc>,
) -> sqlx::Result<(Option<DateTime<Utc>>, i64, i64)> {
    sqlx::query("INSERT INTO account_locks (subject, counted_since, lock_count, updated_at) VALUES ($1, $2, 0, $2) ON CONFLICT (subject) DO NOTHING")
        .bind(subject)
        .bind(now - Duration::days(1))
        .execute(&mut **tx)
        .await?;
    let lock_sql = if PG {
        "SELECT counted_since, locked_until, lock_count FROM account_locks WHERE subject = $1 FOR UPDATE"
    } else {
        "SELECT counted_since, locked_until, lock_count FROM account_locks WHERE subject = $1"
    };
    let (counted_since, locked_until, lock_count): (DateTime<Utc>, Option<DateTime<Utc>>, i64) =
        sqlx::query_as(lock_sql)
            .bind(subject)
            .fetch_one(&mut **tx)
            .await?;
    let since = counted_since.max(now - policy.account_window);
    let failures: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM abuse_events WHERE kind = 'login_failure' AND subject = $1 AND created_at > $2",
    )
    .bind(subject)
    .bind(since)
    .fetch_one(&mut **tx)
    .await?;
    Ok((locked_until, lock_count, failures))
}

/// How long a login attempt counts as running at most (a process that died mid-check).
const ATTEMPT_STALE: Duration = Duration::minutes(1);

/// Starts a login attempt for `subject` before its password is checked (API.md §11.94): refused
/// (`Err(until)`, `None` when the budget of guesses is spent rather than a lock set) when the
/// account is locked, or when its recent failures plus the attempts still running already reach
/// the lock threshold; otherwise the attempt is counted until [`end_login_attempt`].
pub async fn begin_login_attempt(
    pools: &Pools<Db>,
    subject: &str,
    policy: &Policy,
) -> sqlx::Result<Result<Uuid, Option<DateTime<Utc>>>> {
    let now = Utc::now();
    let mut tx = pools.write.begin().await?;
    let (locked_until, _, failures) = lock_account(&mut tx, subject, policy, now).await?;
    if let Some(until) = locked_until.filter(|u| *u > now) {
        return Ok(Err(Some(until)));
    }
    let running: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM login_attempts WHERE subject = $1 AND started_at > $2",
    )
    .bind(subject)
    .bind(now - ATTEMPT_STALE)
    .fetch_one(&mut *tx)
    .await?;
    if failures + running >= policy.account_failures {
        return Ok(Err(None));
    }
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO login_attempts (id, subject, started_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(subject)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM login_attempts WHERE started_at < $1")
        .bind(now - ATTEMPT_STALE)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// Ends a login attempt begun by [`begin_login_attempt`] (its outcome is recorded apart).
pub async fn end_login_attempt(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_attempts WHERE id = $1")
        .bind(id)
        .execute(&pools.write)
        .await?;
    Ok(())
}

/// Records a rate-limit rejection; returns when the IP is blocked until if this one blocked it.
pub async fn record_rate_limited(
    pools: &Pools<Db>,
    ip: &str,
    policy: &Policy,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let now = Utc::now();
    let mut tx = pools.write.begin().await?;
    insert_event(&mut tx, "rate_limited", ip, None, now).await?;
    let until = maybe_block(
        &mut tx,
        ip,
        "rate_limited",
        policy.rejections,
        policy,
        now,
        true,
    )
    .await?;
    tx.commit().await?;
    Ok(until)
}

async fn maybe_block(
    tx: &mut Tx,
    ip: &str,
    kind: &str,
    threshold: i64,
    policy: &Policy,
    now: DateTime<Utc>,
    progressive: bool,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let row: Option<(DateTime<Utc>, Option<DateTime<Utc>>, i64)> = sqlx::query_as(
        "SELECT counted_since, blocked_until, block_count FROM ip_blocks WHERE ip = $1",
    )
    .bind(ip)
    .fetch_optional(&mut **tx)
    .await?;
    let counted_since = row.map(|r| r.0).unwrap_or(now - Duration::days(1));
    let since = counted_since.max(now - policy.ip_window);
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM abuse_events WHERE kind = $1 AND ip = $2 AND created_at > $3",
    )
    .bind(kind)
    .bind(ip)
    .bind(since)
    .fetch_one(&mut **tx)
    .await?;
    if count < threshold {
        return Ok(None);
    }
    let previous = match row {
        Some((_, Some(until), n)) if until > now - Duration::days(1) => n,
        _ => 0,
    };
    let length = if progressive {
        Policy::step(&policy.rejection_steps, previous)
    } else {
        policy.ip_block
    };
    let until = now + length;
    sqlx::query(
        "INSERT INTO ip_blocks (ip, reason, counted_since, blocked_until, block_count, blocked_at) VALUES ($1, $2, $3, $3, $4, $5)
         ON CONFLICT (ip) DO UPDATE SET reason = $2, counted_since = $3, blocked_until = $3, block_count = $4, blocked_at = $5",
    )
    .bind(ip)
    .bind(kind)
    .bind(until)
    .bind(previous + 1)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(Some(until))
}

/// Clears an account's failure count after a successful login or a password reset (`reset`
/// also lifts a lock and forgets the progression).
pub async fn clear_account(pools: &Pools<Db>, subject: &str, reset: bool) -> sqlx::Result<()> {
    let now = Utc::now();
    let sql = if reset {
        "UPDATE account_locks SET counted_since = $1, locked_until = NULL, lock_count = 0, updated_at = $1 WHERE subject = $2"
    } else {
        "UPDATE account_locks SET counted_since = $1, updated_at = $1 WHERE subject = $2"
    };
    sqlx::query(sql)
        .bind(now)
        .bind(subject)
        .execute(&pools.write)
        .await?;
    Ok(())
}

/// When an IP is blocked until, if it is blocked now.
pub async fn ip_blocked_until(pools: &Pools<Db>, ip: &str) -> sqlx::Result<Option<DateTime<Utc>>> {
    still_ahead(
        pools,
        "SELECT blocked_until FROM ip_blocks WHERE ip = $1",
        ip,
    )
    .await
}

/// One page of the IPs blocked now, newest first, and the total.
pub async fn list_blocks(
    pools: &Pools<Db>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<BlockRow>, i64)> {
    let now = Utc::now();
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ip_blocks WHERE blocked_until > $1")
        .bind(now)
        .fetch_one(&pools.read)
        .await?;
    let rows = sqlx::query_as(
        "SELECT ip, reason, blocked_until, block_count, blocked_at FROM ip_blocks WHERE blocked_until > $1
         ORDER BY blocked_at DESC, ip LIMIT $2 OFFSET $3",
    )
    .bind(now)
    .bind(limit)
    .bind(offset)
    .fetch_all(&pools.read)
    .await?;
    Ok((rows, total))
}

/// Lifts a block now (failures before this moment no longer count); `false` when the IP was not
/// blocked.
pub async fn unblock(pools: &Pools<Db>, ip: &str) -> sqlx::Result<bool> {
    let now = Utc::now();
    let done = sqlx::query("UPDATE ip_blocks SET blocked_until = NULL, counted_since = $1 WHERE ip = $2 AND blocked_until > $1")
        .bind(now)
        .bind(ip)
        .execute(&pools.write)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes abuse events older than `before`.
pub async fn prune_events(pools: &Pools<Db>, before: DateTime<Utc>) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM abuse_events WHERE created_at < $1")
            .bind(before)
            .execute(&pools.write)
            .await?
            .rows_affected(),
    )
}
