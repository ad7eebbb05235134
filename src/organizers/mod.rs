//! Organizer onboarding (API.md §6): a six-step application (personal, organization, address,
//! documents, banking, experience) filled in any order, submitted for review, and approved,
//! rejected or sent back for more information by an admin.
//!
//! The state machine: DRAFT → UNDER_REVIEW → APPROVED | REJECTED | REQUIRES_ADDITIONAL_INFO, and
//! REQUIRES_ADDITIONAL_INFO → UNDER_REVIEW again; anything else is 409 `INVALID_STATE`. A user
//! has at most one open (not REJECTED) application. Approval makes the applicant an ORGANIZER in
//! the same transaction, then tells every instance's authentication cache, so the applicant's
//! next request already acts as one. Documents live in the [file store](crate::files) under names
//! the server chooses; the bank account number is sealed with the [keyring](crate::crypto::Keyring)
//! and only its last four digits are ever shown.

pub mod documents;
pub mod model;
pub mod postgres;
pub mod review;
pub mod routes;
pub mod sqlite;
mod store;
pub mod validate;

pub use model::*;
pub use routes::router;
