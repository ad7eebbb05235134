//! The Stripe gateway against a local fake of its API.
