//! The SQLite build of the audit-log queries: the SQL files below compiled with
//! `Db = sqlx::Sqlite`.

crate::dialect!(sqlite);

#[path = "queries.rs"]
mod queries;
pub use queries::*;
