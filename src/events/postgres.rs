//! The PostgreSQL build of the catalogue queries: the SQL files below compiled with
//! `Db = sqlx::Postgres`.

crate::dialect!(postgres, bookings);

#[path = "queries.rs"]
mod queries;
pub use queries::*;
