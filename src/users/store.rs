//! The account storage interface: the [`Store`] methods of accounts, sessions and refresh tokens.

use super::model::{Erased, NewUser, ProfileChanges, Registration, UserFilter, UserRow};
use super::*;
use crate::store::Store;
use chrono::Utc;
use model::Rotation;
use uuid::Uuid;

impl Store {
    /// Inserts an account.
    pub async fn insert_user(&self, user: &NewUser) -> sqlx::Result<Uuid> {
        crate::dispatch!(self, crate::users => insert_user(user))
    }
    /// A live account by id.
    pub async fn user_by_id(&self, id: Uuid) -> sqlx::Result<Option<UserRow>> {
        crate::dispatch!(self, crate::users => user_by_id(id))
    }
    /// A live account by lower-cased email.
    pub async fn user_by_email(&self, email: &str) -> sqlx::Result<Option<UserRow>> {
        crate::dispatch!(self, crate::users => user_by_email(email))
    }
    /// Inserts the first admin, unless an admin exists (`None`), in one transaction.
    pub async fn insert_first_admin(&self, user: &NewUser) -> sqlx::Result<Option<Uuid>> {
        crate::dispatch!(self, crate::users => insert_first_admin(user))
    }
    /// Whether an admin exists.
    pub async fn admin_exists(&self) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::users => admin_exists())
    }
    /// Role, status and token version of a live account.
    pub async fn auth_state(&self, id: Uuid) -> sqlx::Result<Option<(String, String, i64)>> {
        crate::dispatch!(self, crate::users => auth_state(id))
    }
    /// Creates an INACTIVE USER with its verification code and email.
    pub async fn register_user(
        &self,
        reg: &Registration,
        id: Uuid,
        code: &codes::NewCode,
        message: &crate::notify::NewMessage,
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::users => register_user(reg, id, code, message))
    }
    /// Stores a new code (voiding the previous one) with the messages carrying it.
    pub async fn issue_code(
        &self,
        user_id: Uuid,
        code: &codes::NewCode,
        messages: &[crate::notify::NewMessage],
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::users => issue_code(user_id, code, messages))
    }
    /// Stores a phone code with its SMS, or `Err` of when a place frees up when an hourly SMS
    /// cap is reached (see `queries::issue_phone_code`).
    pub async fn issue_phone_code(
        &self,
        user_id: Uuid,
        code: &codes::NewCode,
        sms: &crate::notify::NewMessage,
        caps: crate::config::SmsCaps,
    ) -> sqlx::Result<Result<(), chrono::DateTime<Utc>>> {
        crate::dispatch!(self, crate::users => issue_phone_code(user_id, code, sms, caps))
    }
    /// Spends a try on the newest open code of a purpose: its id, hash and target.
    pub async fn try_code(
        &self,
        user_id: Uuid,
        purpose: &str,
    ) -> sqlx::Result<Option<(Uuid, String, Option<String>)>> {
        crate::dispatch!(self, crate::users => try_code(user_id, purpose))
    }
    /// Uses an email code: verified, ACTIVE, welcome email.
    pub async fn verify_email(
        &self,
        user_id: Uuid,
        code_id: Uuid,
        welcome: &crate::notify::NewMessage,
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::users => verify_email(user_id, code_id, welcome))
    }
    /// Uses a phone code for the given phone.
    pub async fn verify_phone(
        &self,
        user_id: Uuid,
        code_id: Uuid,
        phone: &str,
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::users => verify_phone(user_id, code_id, phone))
    }
    /// Sets a password hash and ends sessions (see `queries::set_password`).
    pub async fn set_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep: Option<Uuid>,
        code_id: Option<Uuid>,
    ) -> sqlx::Result<Option<Vec<Uuid>>> {
        crate::dispatch!(self, crate::users => set_password(user_id, password_hash, keep, code_id))
    }
    /// Applies profile changes.
    pub async fn update_profile(
        &self,
        user_id: Uuid,
        changes: &ProfileChanges,
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::users => update_profile(user_id, changes))
    }
    /// Changes a role, audited.
    pub async fn set_role(
        &self,
        user_id: Uuid,
        role: &str,
        audit: &crate::audit::AuditEntry,
    ) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::users => set_role(user_id, role, audit))
    }
    /// Changes a status, audited; returns the sessions it ended.
    pub async fn set_status(
        &self,
        user_id: Uuid,
        status: &str,
        audit: &crate::audit::AuditEntry,
    ) -> sqlx::Result<Option<Vec<Uuid>>> {
        crate::dispatch!(self, crate::users => set_status(user_id, status, audit))
    }
    /// Erases personal data, audited; returns the sessions it ended and the files to delete.
    pub async fn erase_user(
        &self,
        user_id: Uuid,
        unusable_hash: &str,
        audit: &crate::audit::AuditEntry,
    ) -> sqlx::Result<Option<Erased>> {
        crate::dispatch!(self, crate::users => erase_user(user_id, unusable_hash, audit))
    }
    /// A page of users and the total.
    pub async fn list_users(
        &self,
        filter: &UserFilter,
        limit: i64,
        offset: i64,
    ) -> sqlx::Result<(Vec<UserRow>, i64)> {
        crate::dispatch!(self, crate::users => list_users(filter, limit, offset))
    }
}

impl Store {
    /// Opens a session with its first refresh token.
    pub async fn create_session(
        &self,
        user_id: Uuid,
        sid: Uuid,
        token_hash: &str,
        expires_at: chrono::DateTime<Utc>,
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::users => create_session(user_id, sid, token_hash, expires_at))
    }
    /// Rotates a refresh token.
    pub async fn rotate_refresh(
        &self,
        token_hash: &str,
        new_hash: &str,
        expires_at: chrono::DateTime<Utc>,
    ) -> sqlx::Result<Rotation> {
        crate::dispatch!(self, crate::users => rotate_refresh(token_hash, new_hash, expires_at))
    }
    /// Revokes a session of a user.
    pub async fn revoke_session(&self, user_id: Uuid, sid: Uuid) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::users => revoke_session(user_id, sid))
    }
    /// Owner and family of a refresh token.
    pub async fn refresh_family(&self, token_hash: &str) -> sqlx::Result<Option<(Uuid, Uuid)>> {
        crate::dispatch!(self, crate::users => refresh_family(token_hash))
    }
    /// Whether a session was revoked.
    pub async fn session_revoked(&self, sid: Uuid) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::users => session_revoked(sid))
    }
    /// Every refresh-token hash (for the test that no answer leaks one).
    pub async fn refresh_token_hashes(&self) -> sqlx::Result<Vec<String>> {
        crate::dispatch!(self, crate::users => refresh_token_hashes())
    }
}
