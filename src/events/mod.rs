//! Events, ticket types and the public catalogue: CRUD, publication and cancellation, search with
//! filters, sorting and pagination, cached reads with ETags, favorites, image upload, live
//! availability (with its Server-Sent Events stream) and the COMPLETED transition.

pub mod attendees;
pub mod catalogue;
pub mod demo;
mod favorites;
pub mod image;
pub mod kept;
pub mod model;
pub mod postgres;
mod reads;
mod requests;
pub mod routes;
pub mod sqlite;
mod store;
pub mod stream;
mod ticket_types;
mod validate;
pub mod workers;
mod writes;

pub use workers::spawn_workers;

pub use routes::router;
