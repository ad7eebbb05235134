//! One-time 6-digit codes (email verification, password reset, phone verification): drawn
//! from the operating system's CSPRNG through `rand`'s thread generator, valid 10 minutes,
//! single use, 5 tries. Only an HMAC-SHA256 of the code (keyed with the server secret and bound
//! to the user and purpose) is stored, so a database leak does not reveal live codes.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use uuid::Uuid;

use crate::config::Secret;

/// How long a code stays valid.
pub const CODE_TTL_MINUTES: i64 = 10;

/// What a code proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The email address.
    EmailVerify,
    /// The right to set a new password.
    PasswordReset,
    /// The phone number.
    PhoneVerify,
}

impl Purpose {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::EmailVerify => "email_verify",
            Purpose::PasswordReset => "password_reset",
            Purpose::PhoneVerify => "phone_verify",
        }
    }
}

/// A code ready to store (the plain code goes only into the outbox message).
#[derive(Debug, Clone)]
pub struct NewCode {
    pub purpose: Purpose,
    /// Where it was sent (the phone for phone codes).
    pub target: Option<String>,
    /// Keyed hash of the code.
    pub hash: String,
    /// End of validity.
    pub expires_at: DateTime<Utc>,
}

/// Stands in for a stored hash when there is no code to check, so that costs what a check
/// does; no code matches it (hashes are lowercase hex).
pub const UNMATCHABLE_HASH: &str =
    "----------------------------------------------------------------";

/// A fresh random 6-digit code.
pub fn generate() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// The keyed hash of a code for a user and purpose.
pub fn hash(secret: &Secret, user_id: Uuid, purpose: Purpose, code: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{}:{}:{}", user_id, purpose.as_str(), code).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A new code and its stored form.
pub fn issue(
    secret: &Secret,
    user_id: Uuid,
    purpose: Purpose,
    target: Option<String>,
) -> (String, NewCode) {
    let code = generate();
    let stored = NewCode {
        purpose,
        target,
        hash: hash(secret, user_id, purpose, &code),
        expires_at: Utc::now() + chrono::Duration::minutes(CODE_TTL_MINUTES),
    };
    (code, stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_six_digits_and_hashes_bind_user_and_purpose() {
        let code = generate();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        let key = Secret::new("k".repeat(32));
        let user = Uuid::new_v4();
        let h = hash(&key, user, Purpose::EmailVerify, "123456");
        assert_eq!(h, hash(&key, user, Purpose::EmailVerify, "123456"));
        assert_ne!(h, hash(&key, user, Purpose::PasswordReset, "123456"));
        assert_ne!(
            h,
            hash(&key, Uuid::new_v4(), Purpose::EmailVerify, "123456")
        );
        assert!(!h.contains("123456"));
        assert_eq!(h.len(), UNMATCHABLE_HASH.len());
    }
}
