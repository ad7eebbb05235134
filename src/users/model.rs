//! Account types: roles, statuses and the stored user row with its public view.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

crate::stored_names! {
    /// A user's role; nobody chooses their own.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "UPPERCASE")]
    pub enum Role as "role" {
        /// Runs the platform.
        Admin = "ADMIN",
        /// Publishes events.
        Organizer = "ORGANIZER",
        /// Buys tickets.
        User = "USER",
    }
}

crate::stored_names! {
    /// Account status.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "UPPERCASE")]
    pub enum UserStatus as "user status" {
        /// May log in.
        Active = "ACTIVE",
        /// Email not yet verified.
        Inactive = "INACTIVE",
        /// Locked out by an admin.
        Suspended = "SUSPENDED",
    }
}

/// A `users` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    /// Lower-cased email.
    pub email: String,
    /// Argon2id PHC string; never leaves the server.
    pub password_hash: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// E.164 phone.
    pub phone: Option<String>,
    /// Phone proven by SMS code.
    pub phone_verified: bool,
    /// Role name.
    pub role: String,
    /// Status name.
    pub status: String,
    /// Email proven by code.
    pub email_verified: bool,
    /// Free text.
    pub bio: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// JSON address.
    pub address: Option<String>,
    /// JSON preferences.
    pub preferences: String,
    /// Bumped to end every session at once.
    pub token_version: i64,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl UserRow {
    /// The role, defaulting to the least privileged for an unexpected value.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::User)
    }

    /// The status, treating an unexpected value as suspended.
    pub fn status(&self) -> UserStatus {
        UserStatus::parse(&self.status).unwrap_or(UserStatus::Suspended)
    }

    /// Whether an admin turned the account off: INACTIVE is a new account's status until its
    /// email is verified, so on a verified account only an admin can have set it.
    pub fn deactivated(&self) -> bool {
        self.email_verified && self.status() == UserStatus::Inactive
    }
}

/// The fields of a new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Lower-cased email.
    pub email: String,
    /// Argon2id hash.
    pub password_hash: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    pub role: Role,
    pub status: UserStatus,
    /// Whether the email is already proven (admins created by an operator).
    pub email_verified: bool,
}

/// Postal address of a user.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    /// Street and number.
    pub street: Option<String>,
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Postal code.
    pub zip_code: Option<String>,
    pub country: Option<String>,
}

/// The public user object of the contract (never a hash, token or code).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// E.164 phone.
    pub phone: Option<String>,
    /// ADMIN, ORGANIZER or USER.
    pub role: Role,
    /// ACTIVE, INACTIVE or SUSPENDED.
    pub status: UserStatus,
    /// Email proven.
    pub email_verified: bool,
    /// Phone proven.
    pub phone_verified: bool,
    /// Free text.
    pub bio: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Postal address.
    #[schema(value_type = Option<Address>)]
    pub address: Option<serde_json::Value>,
    /// Notification and language preferences.
    #[schema(value_type = Object)]
    pub preferences: serde_json::Value,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&UserRow> for UserView {
    fn from(row: &UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email.clone(),
            first_name: row.first_name.clone(),
            last_name: row.last_name.clone(),
            phone: row.phone.clone(),
            role: row.role(),
            status: row.status(),
            email_verified: row.email_verified,
            phone_verified: row.phone_verified,
            bio: row.bio.clone(),
            date_of_birth: row.date_of_birth.clone(),
            address: row
                .address
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok()),
            preferences: serde_json::from_str(&row.preferences)
                .unwrap_or_else(|_| serde_json::json!({})),
            last_login_at: row.last_login_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Notification switches of a user.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationPrefs {
    /// Emails.
    pub email: Option<bool>,
    /// Text messages.
    pub sms: Option<bool>,
    /// Push notifications.
    pub push: Option<bool>,
}

/// Preferences as a client sends them (every field optional; merged over the stored ones).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreferencesInput {
    /// Notification switches.
    pub notifications: Option<NotificationPrefs>,
    /// Language code (`en`, `fr`, …).
    pub language: Option<String>,
}

/// The default preferences of a new account.
pub fn default_preferences() -> serde_json::Value {
    serde_json::json!({"notifications": {"email": true, "sms": false, "push": false}, "language": "en"})
}

/// Merges client preferences over stored ones (unset fields keep their value).
pub fn merge_preferences(
    stored: &serde_json::Value,
    input: &PreferencesInput,
) -> serde_json::Value {
    let mut merged = default_preferences();
    if let Some(n) = stored.get("notifications").and_then(|v| v.as_object()) {
        for (k, v) in n {
            if v.is_boolean() {
                merged["notifications"][k] = v.clone();
            }
        }
    }
    if let Some(lang) = stored.get("language").and_then(|v| v.as_str()) {
        merged["language"] = lang.into();
    }
    if let Some(n) = &input.notifications {
        for (k, v) in [("email", n.email), ("sms", n.sms), ("push", n.push)] {
            if let Some(v) = v {
                merged["notifications"][k] = v.into();
            }
        }
    }
    if let Some(lang) = &input.language {
        merged["language"] = lang.clone().into();
    }
    merged
}

/// A validated registration, ready to store.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Lower-cased email.
    pub email: String,
    /// Argon2id hash.
    pub password_hash: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// E.164 phone.
    pub phone: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Free text.
    pub bio: Option<String>,
    /// Address JSON.
    pub address: Option<String>,
    /// Preferences JSON.
    pub preferences: String,
}

/// Validated profile changes: `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    /// New given name.
    pub first_name: Option<String>,
    /// New family name.
    pub last_name: Option<String>,
    /// New phone (or cleared).
    pub phone: Option<Option<String>>,
    /// New bio (or cleared).
    pub bio: Option<Option<String>>,
    /// New birth date (or cleared).
    pub date_of_birth: Option<Option<String>>,
    /// New address JSON (or cleared).
    pub address: Option<Option<String>>,
    /// New preferences JSON.
    pub preferences: Option<String>,
    /// Whether the phone differs from the stored one (it becomes unproven).
    pub phone_changed: bool,
}

/// What erasing a user ended and left to clean up.
#[derive(Debug)]
pub struct Erased {
    /// The sessions it ended.
    pub sessions: Vec<Uuid>,
    /// The user's organizer documents, for the file store to delete once committed.
    pub documents: Vec<String>,
}

/// Filters of the admin user listing.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Role name.
    pub role: Option<String>,
    /// Status name.
    pub status: Option<String>,
    /// Lower-cased `LIKE` pattern, escaped.
    pub q: Option<String>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Good token, rotated.
    Rotated {
        /// Owner.
        user_id: Uuid,
        /// Session.
        sid: Uuid,
    },
    /// A used token: its family is revoked.
    Reused {
        /// The revoked session.
        sid: Uuid,
    },
    /// Unknown, expired or revoked.
    Invalid,
}
