//! The dashboard (API.md §7, §11.33–35, §11.62–64, §11.72, §11.81, §11.83): figures, analytics
//! and exports of the caller's scope, and live updates.
//!
//! Scope follows the caller's *current* role ([`Scope`]): a USER sees their own purchases, an
//! ORGANIZER the sales of their events, an ADMIN the platform. Every figure is over the bookings
//! created in a window (a trailing `period`, or `from`/`to`), computed by the database on both
//! backends from one covering index (migration 0015); see [`model::Stats`] for what an order and
//! a customer are. Exports stream page by page ([`export`]); live updates come from a change
//! watcher through the bus ([`feed`]).

pub mod changes;
pub mod export;
pub mod feed;
pub mod model;
pub mod postgres;
pub mod routes;
pub mod sqlite;
mod store;

pub use feed::{Hub, spawn as spawn_feed};
pub use model::*;
pub use routes::router;
