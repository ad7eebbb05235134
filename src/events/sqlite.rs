//! The SQLite build of the catalogue queries: the SQL files below compiled with
//! `Db = sqlx::Sqlite`.

crate::dialect!(sqlite, bookings);

#[path = "queries.rs"]
mod queries;
pub use queries::*;
