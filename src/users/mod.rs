//! Accounts: the stored user, passwords, access tokens, the authentication extractors and the
//! admin bootstrap shared by the command line, the environment and the seed endpoint.

pub mod abuse;
pub mod admin;
pub mod admin_seed;
pub mod codes;
pub mod domain;
pub mod extract;
pub mod model;
pub mod password;
pub mod postgres;
pub mod rate_limit;
pub mod routes;
pub mod sessions;
pub mod sqlite;
mod store;
pub mod tokens;
pub mod validate;
pub mod workers;

use uuid::Uuid;

use crate::http::{ApiError, ApiResult, ErrorCode, ResultExt, Validator};
use crate::store::Store;
use domain::parse_field;
pub use domain::{Email, PersonName, Phone};
pub use extract::{AdminOnly, AdminUser, AuthCache, AuthUser, MaybeAuthUser, OrganizerUser};
use model::{NewUser, Role, UserStatus};
use utoipa_axum::router::OpenApiRouter;

/// Every route of the area: `/user/...`, `/admin/blocked-ips`, `/admin/audit-log` (full paths,
/// merged, so other areas can add their own `/admin/...` routes).
pub fn router(p: &str) -> OpenApiRouter<crate::state::AppState> {
    OpenApiRouter::new()
        .merge(routes::router(p))
        .merge(admin::router(p))
        .merge(abuse::router(p))
}

/// [`Email::parse`] as a plain string, for the other areas that store one (bookings' contact,
/// the `ADMIN_EMAIL` lookup).
pub fn parse_email(raw: &str) -> Option<String> {
    Email::parse(raw).ok().map(String::from)
}

/// The answer to a new account whose email another account already has.
pub(crate) fn email_taken() -> ApiError {
    ApiError::new(
        ErrorCode::EmailTaken,
        "An account with this email already exists",
    )
}

/// Whether an admin may be created beside others (command line, `ADMIN_EMAIL`) or only as the
/// platform's first (the admin-seed endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminSeat {
    /// Whatever admins exist.
    Any,
    /// Only while no admin exists; 409 otherwise.
    First,
}

/// Creates an ACTIVE, verified ADMIN (command line, `ADMIN_EMAIL`, admin-seed endpoint).
pub async fn create_admin(
    store: &Store,
    seat: AdminSeat,
    email: &str,
    password: &str,
    first_name: &str,
    last_name: &str,
) -> ApiResult<Uuid> {
    let mut v = Validator::new();
    let email = parse_field(&mut v, "email", Email::parse(email));
    validate::check_password(&mut v, password);
    let first_name = parse_field(&mut v, "firstName", PersonName::parse(first_name));
    let last_name = parse_field(&mut v, "lastName", PersonName::parse(last_name));
    v.finish()?;
    let (Some(email), Some(first_name), Some(last_name)) = (email, first_name, last_name) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "admin fields missing after validation passed"
        )));
    };
    let password_hash = password::hash(password.to_string()).await?;
    let user = NewUser {
        email: email.into(),
        password_hash,
        first_name: first_name.into(),
        last_name: last_name.into(),
        role: Role::Admin,
        status: UserStatus::Active,
        email_verified: true,
    };
    let email = user.email.clone();
    let id = match seat {
        AdminSeat::Any => store.insert_user(&user).await.on_unique(email_taken)?,
        AdminSeat::First => store
            .insert_first_admin(&user)
            .await
            .on_unique(email_taken)?
            .ok_or_else(|| ApiError::conflict("An admin already exists"))?,
    };
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
    fn parse_email_hands_back_the_normalized_string() {
        assert_eq!(
            parse_email("  Ada@Example.COM "),
            Some("ada@example.com".into())
        );
        assert_eq!(parse_email("a@nodot"), None);
    }
}
