//! The SQLite build of the account queries: the SQL files below compiled with
//! `Db = sqlx::Sqlite`.

crate::dialect!(sqlite, audit, notify);

#[path = "queries.rs"]
mod queries;
pub use queries::*;
