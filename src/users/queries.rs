// Account SQL, compiled once per backend by `dual_backend!` (an included file cannot carry `//!`).

use crate::store::Pools;
use crate::users::model::{NewUser, UserRow};

const USER_COLUMNS: &str = "id, email, password_hash, first_name, last_name, phone, phone_verified, role, status, \
     email_verified, bio, date_of_birth, address, preferences, token_version, last_login_at, created_at, updated_at";

/// Inserts an account; a taken email is a unique violation.
pub async fn insert_user(pools: &Pools<Db>, user: &NewUser) -> sqlx::Result<uuid::Uuid> {
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
    .execute(&pools.write)
    .await?;
    Ok(id)
}

/// A live (not erased) account by id.
pub async fn user_by_id(pools: &Pools<Db>, id: uuid::Uuid) -> sqlx::Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&pools.read).await
}

/// A live account by (lower-cased) email.
pub async fn user_by_email(pools: &Pools<Db>, email: &str) -> sqlx::Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1 AND deleted_at IS NULL");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(email).fetch_optional(&pools.read).await
}

/// Whether any live admin exists.
pub async fn admin_exists(pools: &Pools<Db>) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'ADMIN' AND deleted_at IS NULL")
        .fetch_one(&pools.read)
        .await?;
    Ok(n > 0)
}

/// What authentication needs on every request: role, status and token version.
pub async fn auth_state(
    pools: &Pools<Db>,
    id: uuid::Uuid,
) -> sqlx::Result<Option<(String, String, i64)>> {
    sqlx::query_as("SELECT role, status, token_version FROM users WHERE id = $1 AND deleted_at IS NULL")
        .bind(id)
        .fetch_optional(&pools.read)
        .await
}
