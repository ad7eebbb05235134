//! TicketMax: an event-ticketing server. The binary in `main.rs` only parses the command line;
//! everything else lives in this library so that tests drive the real application.

// Each area's `queries.rs` is compiled twice on purpose, once per SQL dialect (see `store`).
#![allow(clippy::duplicate_mod)]

/// The composition root: router assembly, start-up and the server loop with graceful shutdown.
pub mod app;
/// The audit log of security-relevant actions.
pub mod audit;
/// Bookings, the inventory engine, tickets and check-in.
pub mod bookings;
/// Cross-instance fan-out over Redis pub/sub, or in-process.
pub mod bus;
/// Shared response cache: in-process, or shared through Redis.
pub mod cache;
/// Settings read from the environment and `.env`, validated at start-up.
pub mod config;
/// Constant-time comparison, token digests and encryption at rest.
pub mod crypto;
/// Dashboard figures, analytics, exports and live updates, scoped by role.
pub mod dashboard;
/// Events, ticket types and the public catalogue.
pub mod events;
/// Uploaded files behind one interface: the local disk or an S3-compatible bucket.
pub mod files;
/// Health checks and the Prometheus endpoint.
pub mod health;
/// HTTP plumbing: envelope, errors, extractors, middleware, OpenAPI.
pub mod http;
/// Notification outbox: messages written with the change that causes them.
pub mod notify;
/// Organizer onboarding: applications, documents, encrypted banking data and admin review.
pub mod organizers;
/// Payments: gateways, checkouts, webhooks, verification and refunds.
pub mod payments;
/// The application state handlers and workers share.
pub mod state;
/// Storage: one interface over SQLite and PostgreSQL.
pub mod store;
/// Periodic background work until shutdown.
pub mod tasks;
/// Tracing and metrics set-up.
pub mod telemetry;
/// Accounts, tokens, roles and the authentication extractors.
pub mod users;
/// Server-rendered pages: the shared plumbing and the console at `/admin`.
pub mod web;

/// How many cases a property test of a parser runs: `FUZZ_CASES`, else `default` (a long run
/// sets e.g. `FUZZ_CASES=100000`).
#[cfg(test)]
pub(crate) fn fuzz_cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
