//! The Paystack gateway against a local fake of its API.
