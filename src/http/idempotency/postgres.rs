//! The PostgreSQL build of the idempotency-key queries: the SQL files below compiled with
//! `Db = sqlx::Postgres`.

crate::dialect!(postgres);

#[path = "queries.rs"]
mod queries;
pub use queries::*;
