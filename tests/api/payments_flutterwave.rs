//! The Flutterwave gateway against a local fake of its API.
