//! Authentication extractors. [`AuthUser`] checks the bearer token's signature and expiry, then
//! its role, status and token version against the account (through [`AuthCache`], so the hot path
//! reads no database): a role change, suspension or erasure takes effect on the next request.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use moka::future::Cache;
use uuid::Uuid;

use super::model::{Role, UserStatus};
use crate::cache::ttl_map;
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// What authentication needs to know of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthState {
    /// Current role.
    pub role: Role,
    /// Current status.
    pub status: UserStatus,
    /// Current token version.
    pub token_version: i64,
}

/// Cache of [`AuthState`] by user id and of revoked sessions by session id; every change to an
/// account or session invalidates its entry here and, through the `auth` bus topic, on every
/// other instance (see [`super::sessions`]).
#[derive(Debug, Clone)]
pub struct AuthCache {
    entries: Cache<Uuid, Option<AuthState>>,
    sessions: Cache<Uuid, bool>,
}

impl Default for AuthCache {
    fn default() -> Self {
        Self {
            entries: ttl_map(100_000, Duration::from_secs(300)),
            sessions: ttl_map(200_000, Duration::from_secs(300)),
        }
    }
}

impl AuthCache {
    /// The account's state, from the cache or the database (`None` for an erased account).
    pub async fn get(&self, state: &AppState, user_id: Uuid) -> ApiResult<Option<AuthState>> {
        if let Some(hit) = self.entries.get(&user_id).await {
            return Ok(hit);
        }
        let row = state.store.auth_state(user_id).await?;
        let value = row.map(|(role, status, token_version)| AuthState {
            role: Role::parse(&role).unwrap_or(Role::User),
            status: UserStatus::parse(&status).unwrap_or(UserStatus::Suspended),
            token_version,
        });
        self.entries.insert(user_id, value).await;
        Ok(value)
    }

    /// Forgets an account's entry after a change.
    pub async fn invalidate(&self, user_id: Uuid) {
        self.entries.invalidate(&user_id).await;
    }

    /// Whether a session was revoked (logout, reuse of a refresh token, password change), from
    /// the cache or the database.
    pub async fn session_revoked(&self, state: &AppState, sid: Uuid) -> ApiResult<bool> {
        if let Some(hit) = self.sessions.get(&sid).await {
            return Ok(hit);
        }
        let revoked = state.store.session_revoked(sid).await?;
        self.sessions.insert(sid, revoked).await;
        Ok(revoked)
    }

    /// Forgets a session's entry after it was revoked.
    pub async fn invalidate_session(&self, sid: Uuid) {
        self.sessions.invalidate(&sid).await;
    }

    /// Forgets every entry, when revocations may have been missed.
    pub fn clear(&self) {
        self.entries.invalidate_all();
        self.sessions.invalidate_all();
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    /// User id.
    pub id: Uuid,
    /// Current role.
    pub role: Role,
    /// Session id of the token.
    pub sid: Uuid,
}

impl AuthUser {
    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Refuses a caller whose *current* role (the account's, not the token's) is neither
    /// ORGANIZER nor ADMIN: ownership of an event is not enough after a demotion (API.md §11.95).
    pub fn require_organizer(&self) -> Result<(), ApiError> {
        if matches!(self.role, Role::Admin | Role::Organizer) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::OrganizerNotApproved,
                "Only approved organizers can do this",
            ))
        }
    }
}

impl AuthUser {
    /// The caller behind a verified credential (an access token, or the console's session
    /// cookie) naming a user, a session and a token version: 401 when the account is gone, not
    /// ACTIVE, at another token version, or the session was revoked; the role is the current one.
    pub async fn resume(state: &AppState, id: Uuid, sid: Uuid, version: i64) -> ApiResult<Self> {
        let current = state
            .auth_cache
            .get(state, id)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        // Tokens go only to verified accounts, so an INACTIVE one was deactivated by an admin.
        if current.token_version != version || current.status != UserStatus::Active {
            return Err(ApiError::unauthorized());
        }
        if state.auth_cache.session_revoked(state, sid).await? {
            return Err(ApiError::unauthorized());
        }
        Ok(AuthUser {
            id,
            role: current.role,
            sid,
        })
    }
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(*user);
        }
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let claims = state.jwt.verify(token).ok_or_else(ApiError::unauthorized)?;
        let user = AuthUser::resume(state, claims.sub, claims.sid, claims.ver).await?;
        parts.extensions.insert(user);
        Ok(user)
    }
}

/// An authenticated caller when a valid token is present; anonymous otherwise.
#[derive(Debug, Clone, Copy)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if bearer(parts).is_none() {
            return Ok(MaybeAuthUser(None));
        }
        Ok(MaybeAuthUser(
            AuthUser::from_request_parts(parts, state).await.ok(),
        ))
    }
}

/// An authenticated ADMIN.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(ApiError::forbidden());
        }
        Ok(AdminUser(user))
    }
}

/// An authenticated ORGANIZER or ADMIN; a USER gets 403 `ORGANIZER_NOT_APPROVED`.
#[derive(Debug, Clone, Copy)]
pub struct OrganizerUser(pub AuthUser);

impl FromRequestParts<AppState> for OrganizerUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        user.require_organizer()?;
        Ok(OrganizerUser(user))
    }
}
