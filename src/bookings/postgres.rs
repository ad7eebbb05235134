//! The PostgreSQL build of the booking queries: the SQL files below compiled with
//! `Db = sqlx::Postgres`.

crate::dialect!(postgres, notify);

#[path = "queries/mod.rs"]
mod queries;
pub use queries::*;
