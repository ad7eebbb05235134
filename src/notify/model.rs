//! The outbox's rows and the message a change writes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

crate::stored_names! {
    /// Delivery state of an outbox message.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Status as "message status" {
        /// Waiting for its next attempt.
        Pending = "PENDING",
        /// Claimed by a worker.
        Processing = "PROCESSING",
        /// Delivered.
        Sent = "SENT",
        /// Gave up; `last_error` says why.
        Failed = "FAILED",
    }
}

/// A message claimed by a worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedMessage {
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

/// `last_error` of an SMS skipped because an hourly cap was reached; such rows do not count
/// toward the caps.
pub const SMS_CAP_SKIPPED: &str = "skipped: the hourly SMS cap was reached";

/// The SMS written within the last hour that count toward the caps (all but those skipped for
/// a cap): to one number and to anyone, with the oldest of each.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct SmsWindow {
    pub to_number: i64,
    pub oldest_to_number: Option<DateTime<Utc>>,
    pub total: i64,
    pub oldest: Option<DateTime<Utc>>,
}

impl SmsWindow {
    /// Whether one more SMS to the number would pass a cap; if so, when the oldest SMS counted
    /// against that cap leaves the hour (the earliest a place frees up).
    pub fn full_until(
        &self,
        caps: crate::config::SmsCaps,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let full = |count: i64, cap: Option<u32>, oldest: Option<DateTime<Utc>>| {
            cap.is_some_and(|cap| count >= i64::from(cap))
                .then(|| oldest.unwrap_or(now) + chrono::Duration::hours(1))
        };
        let number = full(self.to_number, caps.per_number, self.oldest_to_number);
        let platform = full(self.total, caps.total, self.oldest);
        number.max(platform)
    }
}
