//! Accounts: the stored user, passwords, access tokens, the authentication extractors and the
//! admin bootstrap shared by the command line, the environment and the seed endpoint.

pub mod abuse;
pub mod admin;
pub mod admin_seed;
pub mod codes;
pub mod extract;
pub mod model;
pub mod password;
pub mod rate_limit;
pub mod routes;
pub mod sessions;
pub mod tokens;
pub mod validate;

use uuid::Uuid;

use crate::http::{ApiError, ApiResult, ErrorCode, Validator};
use crate::store::{Store, is_unique_violation};
pub use extract::{AdminUser, AuthCache, AuthUser, MaybeAuthUser, OrganizerUser};
use model::{NewUser, ProfileChanges, Registration, Role, UserFilter, UserRow, UserStatus};
use utoipa_axum::router::OpenApiRouter;

/// Every route of the area: `/user/...`, `/admin/blocked-ips`, `/admin/audit-log` (full paths,
/// merged, so other areas can add their own `/admin/...` routes).
pub fn router() -> OpenApiRouter<crate::app::AppState> {
    OpenApiRouter::new()
        .merge(routes::router())
        .merge(admin::router())
        .merge(abuse::router())
        .merge(crate::audit::router())
}

crate::dual_backend!("users/queries.rs");

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
    /// Erases personal data, audited; returns the sessions it ended.
    pub async fn erase_user(
        &self,
        user_id: Uuid,
        unusable_hash: &str,
        audit: &crate::audit::AuditEntry,
    ) -> sqlx::Result<Option<Vec<Uuid>>> {
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

/// Normalizes an email (trimmed, lower-cased) and checks its shape.
pub fn parse_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && email.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@');
    ok.then_some(email)
}

/// Creates an ACTIVE, verified ADMIN (command line, `ADMIN_EMAIL`, admin-seed endpoint).
pub async fn create_admin(
    store: &Store,
    email: &str,
    password: &str,
    first_name: &str,
    last_name: &str,
) -> ApiResult<Uuid> {
    let mut v = Validator::new();
    let email = parse_email(email);
    v.check(email.is_some(), "email", "must be a valid email address");
    v.check(
        (8..=128).contains(&password.chars().count()),
        "password",
        "must be 8 to 128 characters",
    );
    v.check(
        (2..=50).contains(&first_name.trim().chars().count()),
        "firstName",
        "must be 2 to 50 characters",
    );
    v.check(
        (2..=50).contains(&last_name.trim().chars().count()),
        "lastName",
        "must be 2 to 50 characters",
    );
    v.finish()?;
    let email = email.unwrap_or_default();
    let password_hash = password::hash(password.to_string()).await?;
    let user = NewUser {
        email,
        password_hash,
        first_name: first_name.trim().to_string(),
        last_name: last_name.trim().to_string(),
        role: Role::Admin,
        status: UserStatus::Active,
        email_verified: true,
    };
    let email = user.email.clone();
    let id = store.insert_user(&user).await.map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::new(
                ErrorCode::EmailTaken,
                "An account with this email already exists",
            )
        } else {
            ApiError::from(e)
        }
    })?;
    crate::audit::record(
        store,
        crate::audit::AuditEntry::new("admin.create")
            .actor(None, Some(&email))
            .target("user", id),
    )
    .await;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            parse_email("  Ada@Example.COM "),
            Some("ada@example.com".into())
        );
        assert_eq!(parse_email("no-at-sign"), None);
        assert_eq!(parse_email("a@nodot"), None);
        assert_eq!(parse_email("a b@x.io"), None);
    }
}
