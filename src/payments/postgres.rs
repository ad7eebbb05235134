//! The PostgreSQL build of the payment queries: the SQL files below compiled with
//! `Db = sqlx::Postgres`.

crate::dialect!(postgres, bookings, notify);

#[path = "batches.rs"]
mod batches;
#[path = "queries.rs"]
mod queries;

pub use batches::*;
pub use queries::*;
