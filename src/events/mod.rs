//! Events, ticket types and the public catalogue: CRUD, publication and cancellation, search with
//! filters, sorting and pagination, cached reads with ETags, favorites, image upload, live
//! availability (with its Server-Sent Events stream) and the COMPLETED transition.

pub mod catalogue;
pub mod demo;
mod favorites;
pub mod image;
pub mod model;
mod reads;
mod requests;
pub mod routes;
mod store;
pub mod stream;
mod ticket_types;
mod validate;
pub mod workers;
mod writes;

pub use workers::spawn_workers;

/// The SQLite build of the catalogue queries.
#[path = "."]
pub mod sqlite {
    use crate::bookings::sqlite as bookings;
    /// The backend these queries are compiled for.
    pub type Db = sqlx::Sqlite;
    /// Whether the dialect is PostgreSQL.
    #[allow(dead_code)]
    pub const PG: bool = false;
    // The same file as the other dialect's module, on purpose: one SQL source, two builds.
    #[allow(clippy::duplicate_mod)]
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
}

/// The PostgreSQL build of the catalogue queries.
#[path = "."]
pub mod postgres {
    use crate::bookings::postgres as bookings;
    /// The backend these queries are compiled for.
    pub type Db = sqlx::Postgres;
    /// Whether the dialect is PostgreSQL.
    #[allow(dead_code)]
    pub const PG: bool = true;
    // The same file as the other dialect's module, on purpose: one SQL source, two builds.
    #[allow(clippy::duplicate_mod)]
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
}

pub use routes::router;
