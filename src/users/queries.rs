//! Account SQL.
//!
//! Written once against the backend alias `Db` and compiled once per dialect (the `sqlite` and
//! `postgres` modules of the area); where the dialects differ it branches on `PG`.

use super::{Db, PG, audit, notify};
use crate::store::Pools;
use crate::users::model::{Erased, NewUser, Rotation, UserRow};

const USER_COLUMNS: &str = "id, email, password_hash, first_name, last_name, phone, phone_verified, role, status, \
     email_verified, bio, date_of_birth, address, preferences, token_version, last_login_at, created_at, updated_at";

/// Inserts an account; a taken email is a unique violation.
pub async fn insert_user(pools: &Pools<Db>, user: &NewUser) -> sqlx::Result<uuid::Uuid> {
    let mut conn = pools.write.acquire().await?;
    insert_user_on(&mut conn, user).await
}

async fn insert_user_on(
    conn: &mut <Db as sqlx::Database>::Connection,
    user: &NewUser,
) -> sqlx::Result<uuid::Uuid> {
    let id = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, first_name, last_name, role, status, email_verified, preferences, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(id)
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(&user.first_name)
    .bind(&user.last_name)
    .bind(user.role.as_str())
    .bind(user.status.as_str())
    .bind(user.email_verified)
    .bind(r#"{"notifications":{"email":true,"sms":false,"push":false},"language":"en"}"#)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Inserts `user` as the first admin, unless a live admin exists (`None`). Two seed requests at
/// once cannot both succeed: on PostgreSQL they queue on a transaction-scoped advisory lock
/// before the check, and SQLite runs one write transaction at a time.
pub async fn insert_first_admin(
    pools: &Pools<Db>,
    user: &NewUser,
) -> sqlx::Result<Option<uuid::Uuid>> {
    let mut tx = pools.write.begin().await?;
    if PG {
        // The key is arbitrary; only this path takes it.
        sqlx::query("SELECT pg_advisory_xact_lock(7412001)")
            .execute(&mut *tx)
            .await?;
    }
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'ADMIN' AND deleted_at IS NULL",
    )
    .fetch_one(&mut *tx)
    .await?;
    if exists > 0 {
        return Ok(None);
    }
    let id = insert_user_on(&mut tx, user).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// A live (not erased) account by id.
pub async fn user_by_id(pools: &Pools<Db>, id: uuid::Uuid) -> sqlx::Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&pools.read)
        .await
}

/// A live account by (lower-cased) email.
pub async fn user_by_email(pools: &Pools<Db>, email: &str) -> sqlx::Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1 AND deleted_at IS NULL");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .fetch_optional(&pools.read)
        .await
}

/// Whether any live admin exists.
pub async fn admin_exists(pools: &Pools<Db>) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'ADMIN' AND deleted_at IS NULL",
    )
    .fetch_one(&pools.read)
    .await?;
    Ok(n > 0)
}

/// What authentication needs on every request: role, status and token version.
pub async fn auth_state(
    pools: &Pools<Db>,
    id: uuid::Uuid,
) -> sqlx::Result<Option<(String, String, i64)>> {
    sqlx::query_as(
        "SELECT role, status, token_version FROM users WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(&pools.read)
    .await
}

// ---- registration, profile and administration -------------------------------------------

use crate::notify::NewMessage;
use crate::users::model::{ProfileChanges, Registration, UserFilter};
use chrono::{DateTime, Utc};
use uuid::Uuid;

type Tx = sqlx::Transaction<'static, Db>;

/// Voids the open codes of a purpose and stores a new one (inside `tx`).
async fn insert_code(
    tx: &mut Tx,
    user_id: Uuid,
    code: &crate::users::codes::NewCode,
) -> sqlx::Result<()> {
    let now = Utc::now();
    sqlx::query("UPDATE verification_codes SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL")
        .bind(now)
        .bind(user_id)
        .bind(code.purpose.as_str())
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO verification_codes (id, user_id, purpose, target, code_hash, attempts, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(code.purpose.as_str())
    .bind(code.target.as_deref())
    .bind(&code.hash)
    .bind(code.expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Creates an INACTIVE USER with its first verification code and email, in one transaction.
/// The code hash depends on the new id, so the caller passes a function that makes it.
pub async fn register_user(
    pools: &Pools<Db>,
    reg: &Registration,
    id: Uuid,
    code: &crate::users::codes::NewCode,
    message: &NewMessage,
) -> sqlx::Result<()> {
    let now = Utc::now();
    let mut tx = pools.write.begin().await?;
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, first_name, last_name, phone, role, status, email_verified,
            bio, date_of_birth, address, preferences, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'USER', 'INACTIVE', FALSE, $7, $8, $9, $10, $11, $11)",
    )
    .bind(id)
    .bind(&reg.email)
    .bind(&reg.password_hash)
    .bind(&reg.first_name)
    .bind(&reg.last_name)
    .bind(reg.phone.as_deref())
    .bind(reg.bio.as_deref())
    .bind(reg.date_of_birth.as_deref())
    .bind(reg.address.as_deref())
    .bind(&reg.preferences)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    insert_code(&mut tx, id, code).await?;
    notify::insert_message(&mut tx, message).await?;
    tx.commit().await
}

/// Stores a new code (voiding the previous one of its purpose) with the messages that carry it.
pub async fn issue_code(
    pools: &Pools<Db>,
    user_id: Uuid,
    code: &crate::users::codes::NewCode,
    messages: &[NewMessage],
) -> sqlx::Result<()> {
    let mut tx = pools.write.begin().await?;
    insert_code(&mut tx, user_id, code).await?;
    for m in messages {
        notify::insert_message(&mut tx, m).await?;
    }
    tx.commit().await
}

/// Key of the PostgreSQL advisory lock that makes counting the hour's SMS and writing one more
/// a single step across instances ("tmsmscap").
const SMS_CAP_LOCK: i64 = 0x746d_736d_7363_6170;

/// Stores a phone code (voiding the previous one) with the SMS that carries it, unless one more
/// SMS to its number would pass an hourly cap: then nothing is written and `Err` holds when the
/// oldest SMS counted against the cap leaves the hour. The count and the write are one step:
/// SQLite's single writer connection serializes them, PostgreSQL an advisory lock.
pub async fn issue_phone_code(
    pools: &Pools<Db>,
    user_id: Uuid,
    code: &crate::users::codes::NewCode,
    sms: &NewMessage,
    caps: crate::config::SmsCaps,
) -> sqlx::Result<Result<(), DateTime<Utc>>> {
    let now = Utc::now();
    let mut tx = pools.write.begin().await?;
    if PG {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SMS_CAP_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    let window =
        notify::sms_window(&mut tx, &sms.recipient, now - chrono::Duration::hours(1)).await?;
    if let Some(until) = window.full_until(caps, now) {
        return Ok(Err(until));
    }
    insert_code(&mut tx, user_id, code).await?;
    notify::insert_message(&mut tx, sms).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Spends one try on the newest open code of a purpose: returns its id, hash and target, or
/// `None` when there is no code left to try (none, expired, used, or 5 tries spent).
pub async fn try_code(
    pools: &Pools<Db>,
    user_id: Uuid,
    purpose: &str,
) -> sqlx::Result<Option<(Uuid, String, Option<String>)>> {
    let now = Utc::now();
    sqlx::query_as(
        "UPDATE verification_codes SET attempts = attempts + 1
         WHERE id = (SELECT id FROM verification_codes
                     WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 AND attempts < 5
                     ORDER BY created_at DESC LIMIT 1)
           AND attempts < 5 AND used_at IS NULL
         RETURNING id, code_hash, target",
    )
    .bind(user_id)
    .bind(purpose)
    .bind(now)
    .fetch_optional(&pools.write)
    .await
}

async fn consume_code(tx: &mut Tx, code_id: Uuid) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE verification_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(Utc::now())
            .bind(code_id)
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses an email-verification code: the email is proven, INACTIVE becomes ACTIVE, and the
/// welcome email is written. `false` when the code was used meanwhile.
pub async fn verify_email(
    pools: &Pools<Db>,
    user_id: Uuid,
    code_id: Uuid,
    welcome: &NewMessage,
) -> sqlx::Result<bool> {
    let mut tx = pools.write.begin().await?;
    if !consume_code(&mut tx, code_id).await? {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE users SET email_verified = TRUE,
            status = CASE WHEN status = 'INACTIVE' THEN 'ACTIVE' ELSE status END, updated_at = $1
         WHERE id = $2",
    )
    .bind(Utc::now())
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    notify::insert_message(&mut tx, welcome).await?;
    tx.commit().await?;
    Ok(true)
}

/// Uses a phone code: the phone is proven if it is still the one the code was sent to.
pub async fn verify_phone(
    pools: &Pools<Db>,
    user_id: Uuid,
    code_id: Uuid,
    phone: &str,
) -> sqlx::Result<bool> {
    let mut tx = pools.write.begin().await?;
    if !consume_code(&mut tx, code_id).await? {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE users SET phone_verified = TRUE, updated_at = $1 WHERE id = $2 AND phone = $3",
    )
    .bind(Utc::now())
    .bind(user_id)
    .bind(phone)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// Revokes the sessions (and their refresh tokens) of a user, except `keep`; returns the ids.
async fn revoke_sessions_tx(
    tx: &mut Tx,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> sqlx::Result<Vec<Uuid>> {
    let now = Utc::now();
    let keep = keep.unwrap_or(Uuid::nil());
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL RETURNING id",
    )
    .bind(now)
    .bind(user_id)
    .bind(keep)
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND family_id <> $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(user_id)
        .bind(keep)
        .execute(&mut **tx)
        .await?;
    Ok(ids)
}

/// Sets a new password hash. With `keep`, that session survives and the others end; without,
/// every session ends and the token version is bumped (every access token ends too). With a
/// code id, the code is used in the same transaction (`None` returned if it was used meanwhile).
pub async fn set_password(
    pools: &Pools<Db>,
    user_id: Uuid,
    password_hash: &str,
    keep: Option<Uuid>,
    code_id: Option<Uuid>,
) -> sqlx::Result<Option<Vec<Uuid>>> {
    let mut tx = pools.write.begin().await?;
    if let Some(code_id) = code_id
        && !consume_code(&mut tx, code_id).await?
    {
        return Ok(None);
    }
    let bump: i64 = if keep.is_some() { 0 } else { 1 };
    sqlx::query("UPDATE users SET password_hash = $1, token_version = token_version + $2, updated_at = $3 WHERE id = $4")
        .bind(password_hash)
        .bind(bump)
        .bind(Utc::now())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let ids = revoke_sessions_tx(&mut tx, user_id, keep).await?;
    tx.commit().await?;
    Ok(Some(ids))
}

/// Applies profile changes; a new phone is unproven.
pub async fn update_profile(
    pools: &Pools<Db>,
    user_id: Uuid,
    c: &ProfileChanges,
) -> sqlx::Result<()> {
    let mut sets = vec!["updated_at = $1".to_string()];
    let mut n = 2;
    let mut push = |col: &str| {
        sets.push(format!("{col} = ${n}"));
        n += 1;
    };
    if c.first_name.is_some() {
        push("first_name");
    }
    if c.last_name.is_some() {
        push("last_name");
    }
    if c.phone.is_some() {
        push("phone");
    }
    if c.bio.is_some() {
        push("bio");
    }
    if c.date_of_birth.is_some() {
        push("date_of_birth");
    }
    if c.address.is_some() {
        push("address");
    }
    if c.preferences.is_some() {
        push("preferences");
    }
    if c.phone_changed {
        sets.push("phone_verified = FALSE".into());
    }
    let sql = format!(
        "UPDATE users SET {} WHERE id = ${n} AND deleted_at IS NULL",
        sets.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(Utc::now());
    if let Some(v) = &c.first_name {
        q = q.bind(v.clone());
    }
    if let Some(v) = &c.last_name {
        q = q.bind(v.clone());
    }
    if let Some(v) = &c.phone {
        q = q.bind(v.clone());
    }
    if let Some(v) = &c.bio {
        q = q.bind(v.clone());
    }
    if let Some(v) = &c.date_of_birth {
        q = q.bind(v.clone());
    }
    if let Some(v) = &c.address {
        q = q.bind(v.clone());
    }
    if let Some(v) = &c.preferences {
        q = q.bind(v.clone());
    }
    q.bind(user_id).execute(&pools.write).await?;
    Ok(())
}

/// Changes a role; the audit entry is written in the same transaction.
pub async fn set_role(
    pools: &Pools<Db>,
    user_id: Uuid,
    role: &str,
    audit: &crate::audit::AuditEntry,
) -> sqlx::Result<bool> {
    let mut tx = pools.write.begin().await?;
    let done = sqlx::query(
        "UPDATE users SET role = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL",
    )
    .bind(role)
    .bind(Utc::now())
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    audit::insert_entry_tx(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}

/// Changes a status; SUSPENDED ends every session. Returns the revoked session ids, or `None`
/// when there is no such live user.
pub async fn set_status(
    pools: &Pools<Db>,
    user_id: Uuid,
    status: &str,
    audit: &crate::audit::AuditEntry,
) -> sqlx::Result<Option<Vec<Uuid>>> {
    let mut tx = pools.write.begin().await?;
    let done = sqlx::query(
        "UPDATE users SET status = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL",
    )
    .bind(status)
    .bind(Utc::now())
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let ids = if status == "SUSPENDED" {
        revoke_sessions_tx(&mut tx, user_id, None).await?
    } else {
        Vec::new()
    };
    audit::insert_entry_tx(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(Some(ids))
}

/// Erases an account's personal data; keeps the row (bookings and payments point at it).
pub async fn erase_user(
    pools: &Pools<Db>,
    user_id: Uuid,
    unusable_hash: &str,
    audit: &crate::audit::AuditEntry,
) -> sqlx::Result<Option<Erased>> {
    let now = Utc::now();
    let mut tx = pools.write.begin().await?;
    let placeholder = format!("erased-{}@erased.invalid", user_id.simple());
    let done = sqlx::query(
        "UPDATE users SET email = $1, password_hash = $2, first_name = 'Erased', last_name = 'User', phone = NULL,
            phone_verified = FALSE, bio = NULL, date_of_birth = NULL, address = NULL, preferences = '{}',
            token_version = token_version + 1, deleted_at = $3, updated_at = $3
         WHERE id = $4 AND deleted_at IS NULL",
    )
    .bind(placeholder)
    .bind(unusable_hash)
    .bind(now)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    sqlx::query("DELETE FROM verification_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    // Organizer applications keep their status and dates (the review is audited) but lose every
    // section the applicant wrote, the sealed account number and the documents.
    let documents: Vec<String> = sqlx::query_scalar(
        "SELECT d.object_name FROM organizer_documents d
           JOIN organizer_applications a ON a.id = d.application_id
         WHERE a.user_id = $1",
    )
    .bind(user_id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM organizer_documents
         WHERE application_id IN (SELECT id FROM organizer_applications WHERE user_id = $1)",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE organizer_applications SET personal_information = '{}', organization_details = '{}',
             address = '{}', banking_information = '{}', account_number_sealed = NULL,
             account_key_id = NULL, experience_details = '{}', version = version + 1, updated_at = $1
         WHERE user_id = $2",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    let sessions = revoke_sessions_tx(&mut tx, user_id, None).await?;
    audit::insert_entry_tx(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(Some(Erased {
        sessions,
        documents,
    }))
}

/// One page of live users matching the filter, newest first, and the total.
pub async fn list_users(
    pools: &Pools<Db>,
    f: &UserFilter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<UserRow>, i64)> {
    let mut clauses = vec!["deleted_at IS NULL".to_string()];
    let mut n = 0;
    if f.role.is_some() {
        n += 1;
        clauses.push(format!("role = ${n}"));
    }
    if f.status.is_some() {
        n += 1;
        clauses.push(format!("status = ${n}"));
    }
    if f.q.is_some() {
        n += 1;
        clauses.push(format!(
            "(lower(email) LIKE ${n} ESCAPE '\\' OR lower(first_name) LIKE ${n} ESCAPE '\\' OR lower(last_name) LIKE ${n} ESCAPE '\\')"
        ));
    }
    let where_sql = clauses.join(" AND ");
    let count_sql = format!("SELECT COUNT(*) FROM users WHERE {where_sql}");
    let list_sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {where_sql} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    macro_rules! bind_filter {
        ($q:expr) => {{
            let mut q = $q;
            if let Some(v) = &f.role {
                q = q.bind(v.clone());
            }
            if let Some(v) = &f.status {
                q = q.bind(v.clone());
            }
            if let Some(v) = &f.q {
                q = q.bind(v.clone());
            }
            q
        }};
    }
    let total: i64 = bind_filter!(sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)))
        .fetch_one(&pools.read)
        .await?;
    let rows = bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(list_sql)))
        .bind(limit)
        .bind(offset)
        .fetch_all(&pools.read)
        .await?;
    Ok((rows, total))
}

// ---- sessions and refresh tokens ----------------------------------------------------------

/// Opens a session with its first refresh token and records the login.
pub async fn create_session(
    pools: &Pools<Db>,
    user_id: Uuid,
    sid: Uuid,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let now = Utc::now();
    let mut tx = pools.write.begin().await?;
    sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(sid)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(sid)
    .bind(token_hash)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Rotates a refresh token atomically; a reused one revokes its family.
pub async fn rotate_refresh(
    pools: &Pools<Db>,
    token_hash: &str,
    new_hash: &str,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<Rotation> {
    let now = Utc::now();
    let mut tx = pools.write.begin().await?;
    type TokenRow = (
        Uuid,
        Uuid,
        Uuid,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, user_id, sid, expires, used_at, revoked_at)) = row else {
        return Ok(Rotation::Invalid);
    };
    if revoked_at.is_some() || expires <= now {
        return Ok(Rotation::Invalid);
    }
    let claimed = if used_at.is_none() {
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1
    } else {
        false
    };
    if !claimed {
        revoke_family_tx(&mut tx, sid).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused { sid });
    }
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(sid)
    .bind(new_hash)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { user_id, sid })
}

async fn revoke_family_tx(tx: &mut Tx, sid: Uuid) -> sqlx::Result<()> {
    let now = Utc::now();
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(sid)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(sid)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Revokes a session of a user (logout).
pub async fn revoke_session(pools: &Pools<Db>, user_id: Uuid, sid: Uuid) -> sqlx::Result<()> {
    let mut tx = pools.write.begin().await?;
    let owner: Option<Uuid> = sqlx::query_scalar("SELECT user_id FROM sessions WHERE id = $1")
        .bind(sid)
        .fetch_optional(&mut *tx)
        .await?;
    if owner == Some(user_id) {
        revoke_family_tx(&mut tx, sid).await?;
    }
    tx.commit().await
}

/// The family of a refresh token and its owner.
pub async fn refresh_family(
    pools: &Pools<Db>,
    token_hash: &str,
) -> sqlx::Result<Option<(Uuid, Uuid)>> {
    sqlx::query_as("SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&pools.read)
        .await
}

/// Whether a session was revoked (`false` for a session with no row).
pub async fn session_revoked(pools: &Pools<Db>, sid: Uuid) -> sqlx::Result<bool> {
    let row: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT revoked_at FROM sessions WHERE id = $1")
            .bind(sid)
            .fetch_optional(&pools.read)
            .await?;
    Ok(matches!(row, Some(Some(_))))
}

/// All refresh-token hashes ever issued (tests check no answer carries one).
pub async fn refresh_token_hashes(pools: &Pools<Db>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
        .fetch_all(&pools.read)
        .await
}
