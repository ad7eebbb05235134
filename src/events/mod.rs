//! Events, ticket types and the public catalogue: CRUD, publication and cancellation, search with
//! filters, sorting and pagination, cached reads with ETags, favorites, image upload, live
//! availability (with its Server-Sent Events stream) and the COMPLETED transition.

pub mod attendees;
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
    crate::dialect!(sqlite, bookings);
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
}

/// The PostgreSQL build of the catalogue queries.
#[path = "."]
pub mod postgres {
    crate::dialect!(postgres, bookings);
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
}

pub use routes::router;
