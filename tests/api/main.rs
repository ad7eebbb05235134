//! The integration suite: one binary, a module per area, every test on SQLite and (with
//! `TEST_DATABASE_URL`) on PostgreSQL.

mod helpers;

mod envelope;
mod events;
mod events_catalogue;
mod health;
mod openapi;
mod users_seed;
