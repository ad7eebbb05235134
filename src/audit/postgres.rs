//! The PostgreSQL build of the audit-log queries: the SQL files below compiled with
//! `Db = sqlx::Postgres`.

crate::dialect!(postgres);

#[path = "queries.rs"]
mod queries;
pub use queries::*;
