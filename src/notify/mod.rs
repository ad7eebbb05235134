//! The notification outbox. A message is written in the same transaction as the change that
//! causes it ([`queries`]'s `insert_message`), so a committed change always has its message and
//! a rolled-back one never does; delivery happens later, outside the request.
//!
//! The [`worker`] claims due messages in batches (`FOR UPDATE SKIP LOCKED` on PostgreSQL, an
//! atomic `UPDATE … RETURNING` on SQLite), renders them from the [`templates`] and hands them to
//! the [`email`] or [`sms`] transport, retrying with exponential backoff until a cap, then FAILED
//! with the last error. A claim is a lease: a worker that dies mid-delivery leaves its messages
//! PROCESSING until the lease ends, then another worker takes them. The admin console lists the
//! outbox through [`admin`].

pub mod model;
pub use model::*;
use std::sync::OnceLock;

use tokio::sync::watch;

pub mod admin;
pub mod email;
pub mod handoff;
pub mod ics;
pub mod postgres;
pub mod sms;
pub mod sqlite;
mod store;
pub mod templates;
pub mod worker;

/// Installs ring as the process's rustls provider (SMTP TLS and the Twilio client); a provider
/// already installed is kept.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Process-wide wake-up signal: bumped each time a message is written.
fn wake_channel() -> &'static watch::Sender<u64> {
    static WAKE: OnceLock<watch::Sender<u64>> = OnceLock::new();
    WAKE.get_or_init(|| watch::channel(0).0)
}

/// Wakes every outbox worker of this process (called by `insert_message`).
pub fn wake() {
    wake_channel().send_modify(|n| *n = n.wrapping_add(1));
}

/// A receiver that changes whenever a message is written in this process.
pub fn wake_signal() -> watch::Receiver<u64> {
    wake_channel().subscribe()
}

/// Whether a user should get SMS notifications: a verified phone and
/// `preferences.notifications.sms` set to `true`. (The phone verification code itself is sent
/// whatever this says: it is how the phone becomes verified.)
pub fn sms_allowed(user: &crate::users::model::UserRow) -> bool {
    sms_allowed_for(
        user.phone.as_deref(),
        user.phone_verified,
        &user.preferences,
    )
}

/// [`sms_allowed`] on the three facts it reads (phone, whether verified, preferences JSON).
pub fn sms_allowed_for(phone: Option<&str>, phone_verified: bool, preferences: &str) -> bool {
    let has_phone = phone.is_some_and(|p| !p.trim().is_empty());
    if !has_phone || !phone_verified {
        return false;
    }
    serde_json::from_str::<serde_json::Value>(preferences)
        .ok()
        .and_then(|p| p.pointer("/notifications/sms").and_then(|v| v.as_bool()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(phone: Option<&str>, verified: bool, preferences: &str) -> bool {
        sms_allowed_for(phone, verified, preferences)
    }

    #[test]
    fn sms_needs_a_verified_phone_and_the_preference() {
        let on = r#"{"notifications":{"sms":true}}"#;
        let off = r#"{"notifications":{"sms":false}}"#;
        let phone = Some("+2348012345678");
        assert!(user(phone, true, on));
        assert!(!user(phone, false, on));
        assert!(!user(None, true, on));
        assert!(!user(Some(" "), true, on));
        assert!(!user(phone, true, off));
        assert!(!user(phone, true, "{}"));
        assert!(!user(phone, true, "not json"));
    }

    #[test]
    fn status_names_round_trip() {
        for s in [
            Status::Pending,
            Status::Processing,
            Status::Sent,
            Status::Failed,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("pending"), None);
    }
}
