//! Payments (API.md §5): checkouts through a gateway, signed webhooks stored once by the
//! gateway's event identity, verification, refunds, and offline payments recorded by staff.
//!
//! Money moves exactly once: a payment and its booking change in one transaction
//! ([`settle`](sqlite::settle)), a settled payment is never settled again, and a success that
//! cannot confirm its booking (its seats gone after the hold ran out, the booking cancelled, or
//! paid through another payment) opens a full refund at once, which [`flows`] executes through
//! the gateway.

pub mod checkout;
pub mod engine;
pub mod flows;
pub mod gateways;
pub mod model;
pub mod postgres;
pub mod routes;
pub mod sqlite;
mod store;
pub mod workers;

pub use model::*;
pub use routes::router;
