// Outbox SQL, compiled once per backend by `dual_backend!` (an included file cannot carry `//!`).

use sqlx::Transaction;

/// Writes a message inside the caller's transaction.
pub async fn insert_message(
    tx: &mut Transaction<'static, Db>,
    message: &crate::notify::NewMessage,
) -> sqlx::Result<()> {
    let now = chrono::Utc::now();
    sqlx::query(
        "INSERT INTO outbox (id, channel, recipient, template, payload, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, 'PENDING', 0, $6, $6)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(message.channel.as_str())
    .bind(&message.recipient)
    .bind(message.template)
    .bind(message.payload.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
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
