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
mod store;
pub mod tokens;
pub mod validate;

use uuid::Uuid;

use crate::http::{ApiError, ApiResult, ErrorCode, Validator};
use crate::store::{Store, is_unique_violation};
pub use extract::{AdminUser, AuthCache, AuthUser, MaybeAuthUser, OrganizerUser};
use model::{NewUser, Role, UserStatus};
use utoipa_axum::router::OpenApiRouter;

/// Every route of the area: `/user/...`, `/admin/blocked-ips`, `/admin/audit-log` (full paths,
/// merged, so other areas can add their own `/admin/...` routes).
pub fn router() -> OpenApiRouter<crate::state::AppState> {
    OpenApiRouter::new()
        .merge(routes::router())
        .merge(admin::router())
        .merge(abuse::router())
}

/// The SQLite build of the account queries.
#[path = "."]
pub mod sqlite {
    use crate::audit::sqlite as audit;
    use crate::notify::sqlite as notify;
    /// The backend these queries are compiled for.
    pub type Db = sqlx::Sqlite;
    /// Whether the dialect is PostgreSQL.
    #[allow(dead_code)]
    pub const PG: bool = false;
    // The same file as the other dialect's module, on purpose: one SQL source, two builds.
    #[allow(clippy::duplicate_mod)]
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
}

/// The PostgreSQL build of the account queries.
#[path = "."]
pub mod postgres {
    use crate::audit::postgres as audit;
    use crate::notify::postgres as notify;
    /// The backend these queries are compiled for.
    pub type Db = sqlx::Postgres;
    /// Whether the dialect is PostgreSQL.
    #[allow(dead_code)]
    pub const PG: bool = true;
    // The same file as the other dialect's module, on purpose: one SQL source, two builds.
    #[allow(clippy::duplicate_mod)]
    #[path = "queries.rs"]
    mod queries;
    pub use queries::*;
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
