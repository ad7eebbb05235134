//! The SQLite build of the payment queries: the SQL files below compiled with
//! `Db = sqlx::Sqlite`.

crate::dialect!(sqlite, bookings, notify);

#[path = "batches.rs"]
mod batches;
#[path = "queries.rs"]
mod queries;

pub use batches::*;
pub use queries::*;
