//! The integration suite: one binary, a module per area, every test on SQLite and (with
//! `TEST_DATABASE_URL`) on PostgreSQL.

mod fixtures;
mod helpers;
mod pages;
mod webdriver;

mod authz;
mod bookings;
mod browser;
mod checkin;
mod cli;
mod cluster;
mod console;
mod dashboard;
mod dashboard_exports;
mod dashboard_live;
mod door;
mod envelope;
mod events;
mod events_catalogue;
mod fuzz;
mod health;
mod images;
mod inventory;
mod journeys;
mod notify;
mod onboarding;
mod openapi;
mod payments;
mod payments_flutterwave;
mod payments_paystack;
mod payments_stripe;
mod rate_limit;
mod storefront;
mod tickets_pdf;
mod users;
mod users_seed;
