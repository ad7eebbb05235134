//! The PostgreSQL build of the account queries: the SQL files below compiled with
//! `Db = sqlx::Postgres`.

crate::dialect!(postgres, audit, notify);

#[path = "queries.rs"]
mod queries;
pub use queries::*;
