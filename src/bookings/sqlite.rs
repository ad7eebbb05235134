//! The SQLite build of the booking queries: the SQL files below compiled with
//! `Db = sqlx::Sqlite`.

crate::dialect!(sqlite, notify);

#[path = "queries/mod.rs"]
mod queries;
pub use queries::*;
