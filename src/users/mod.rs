//! Accounts: the stored user, passwords, access tokens, the authentication extractors and the
//! admin bootstrap shared by the command line, the environment and the seed endpoint.

pub mod admin_seed;
pub mod extract;
pub mod model;
pub mod password;
pub mod tokens;

use uuid::Uuid;

use crate::http::{ApiError, ApiResult, ErrorCode, Validator};
use crate::store::{Store, is_unique_violation};
pub use extract::{AdminUser, AuthCache, AuthUser, MaybeAuthUser, OrganizerUser};
use model::{NewUser, Role, UserRow, UserStatus};

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
    store.insert_user(&user).await.map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::new(
                ErrorCode::EmailTaken,
                "An account with this email already exists",
            )
        } else {
            e.into()
        }
    })
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
