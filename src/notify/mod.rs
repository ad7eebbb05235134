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

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use uuid::Uuid;

pub mod admin;
pub mod email;
pub mod sms;
pub mod templates;
pub mod worker;

/// The SQLite build of the outbox queries.
#[path = "."]
pub mod sqlite {
    /// The backend these queries are compiled for.
    pub type Db = sqlx::Sqlite;
    /// Whether the dialect is PostgreSQL.
    #[allow(dead_code)]
    pub const PG: bool = false;
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
}

/// The PostgreSQL build of the outbox queries.
#[path = "."]
pub mod postgres {
    /// The backend these queries are compiled for.
    pub type Db = sqlx::Postgres;
    /// Whether the dialect is PostgreSQL.
    #[allow(dead_code)]
    pub const PG: bool = true;
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
}

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

/// Delivery state of an outbox message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a worker.
    Processing,
    /// Delivered.
    Sent,
    /// Gave up; `last_error` says why.
    Failed,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Processing => "PROCESSING",
            Status::Sent => "SENT",
            Status::Failed => "FAILED",
        }
    }

    /// Parses a stored or query value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Status::Pending),
            "PROCESSING" => Some(Status::Processing),
            "SENT" => Some(Status::Sent),
            "FAILED" => Some(Status::Failed),
            _ => None,
        }
    }
}

/// A message claimed by a worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedMessage {
    /// Id.
    pub id: Uuid,
    /// `email` or `sms`.
    pub channel: String,
    /// Address or number.
    pub recipient: String,
    /// Template name.
    pub template: String,
    /// JSON data.
    pub payload: String,
    /// Attempts including this one.
    pub attempts: i32,
}

/// A failed delivery to record.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The message.
    pub id: Uuid,
    /// What went wrong.
    pub error: String,
    /// When to try again; `None` gives up (FAILED).
    pub retry_at: Option<DateTime<Utc>>,
}

/// Delivery channel of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Email with HTML and text parts.
    Email,
    /// A text message.
    Sms,
}

impl Channel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// A message to deliver: channel, recipient, template name and the template's data.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Email or SMS.
    pub channel: Channel,
    /// Email address or E.164 phone number.
    pub recipient: String,
    /// Template name (`verification_code`, `booking_confirmed`, …).
    pub template: &'static str,
    /// Values the template renders.
    pub payload: serde_json::Value,
}

impl NewMessage {
    /// An email message.
    pub fn email(
        to: impl Into<String>,
        template: &'static str,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            channel: Channel::Email,
            recipient: to.into(),
            template,
            payload,
        }
    }

    /// An SMS message.
    pub fn sms(to: impl Into<String>, template: &'static str, payload: serde_json::Value) -> Self {
        Self {
            channel: Channel::Sms,
            recipient: to.into(),
            template,
            payload,
        }
    }
}

/// A stored outbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    /// Id.
    pub id: Uuid,
    /// `email` or `sms`.
    pub channel: String,
    /// Address or number.
    pub recipient: String,
    /// Template name.
    pub template: String,
    /// JSON data.
    pub payload: String,
    /// PENDING, PROCESSING, SENT or FAILED.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// Earliest next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
}

impl crate::store::Store {
    /// Messages written for a recipient, newest first.
    pub async fn messages_for(&self, recipient: &str) -> sqlx::Result<Vec<OutboxRow>> {
        crate::dispatch!(self, crate::notify => messages_for(recipient))
    }

    /// Writes one message in its own transaction.
    pub async fn enqueue_message(&self, message: &NewMessage) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::notify => enqueue(message))
    }

    /// Claims due messages for a worker (see the queries file).
    pub async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        max_attempts: i32,
        limit: i64,
    ) -> sqlx::Result<Vec<ClaimedMessage>> {
        crate::dispatch!(self, crate::notify => claim_due(now, lease_until, max_attempts, limit))
    }

    /// Empties the payloads of messages finished before `before`.
    pub async fn redact_finished_messages(&self, before: DateTime<Utc>) -> sqlx::Result<u64> {
        crate::dispatch!(self, crate::notify => redact_finished(before))
    }

    /// Fails messages a dead worker left in PROCESSING on their last allowed attempt.
    pub async fn fail_abandoned_messages(
        &self,
        now: DateTime<Utc>,
        max_attempts: i32,
    ) -> sqlx::Result<u64> {
        crate::dispatch!(self, crate::notify => fail_abandoned(now, max_attempts))
    }

    /// Records delivered and failed messages claimed under `lease`.
    pub async fn record_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: DateTime<Utc>,
        sent: &[Uuid],
        failed: &[Failure],
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::notify => record_outcomes(now, lease, sent, failed))
    }

    /// Gives messages claimed under `lease` back without counting an attempt.
    pub async fn release_messages(&self, lease: DateTime<Utc>, ids: &[Uuid]) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::notify => release(lease, ids))
    }

    /// A page of the outbox, newest first, and the total.
    pub async fn list_messages(
        &self,
        status: Option<Status>,
        limit: i64,
        offset: i64,
    ) -> sqlx::Result<(Vec<OutboxRow>, i64)> {
        let status = status.map(Status::as_str);
        crate::dispatch!(self, crate::notify => list_messages(status, limit, offset))
    }

    /// Message counts by status.
    pub async fn outbox_counts(&self) -> sqlx::Result<Vec<(String, i64)>> {
        crate::dispatch!(self, crate::notify => count_by_status())
    }
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
