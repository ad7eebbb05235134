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
///
/// The bus alone would leave a window: another instance applies the announcement a moment after
/// the change's response is sent. So with Redis every change also writes a fresh *stamp* for
/// the account or session (`auth:user:<id>`, `auth:session:<id>`), each entry remembers the
/// stamps it was read under (taken before the database read), and a hit is used only while they
/// are still current: one `MGET` per authenticated request instead of a database read, and a
/// change is honoured by every instance on the very next request.
#[derive(Debug, Clone)]
pub struct AuthCache {
    entries: Cache<Uuid, (Option<AuthState>, Stamp)>,
    sessions: Cache<Uuid, (bool, Stamp)>,
    shared: Option<(redis::aio::ConnectionManager, String)>,
}

/// The value of a Redis stamp when an entry was read (`None`: no change recorded).
type Stamp = Option<String>;

/// How long a stamp outlives its change: longer than any entry, so no entry read before the
/// change can outlive the stamp that makes it stale.
const STAMP_SECONDS: u64 = 900;

/// The key of an account's stamp, under the cache's prefix.
fn user_stamp(user_id: Uuid) -> String {
    format!("user:{user_id}")
}

/// The key of a session's stamp, under the cache's prefix.
fn session_stamp(sid: Uuid) -> String {
    format!("session:{sid}")
}

impl AuthCache {
    /// A cache checking its hits against stamps under `prefix` in Redis when given.
    pub fn new(redis: Option<redis::aio::ConnectionManager>, prefix: &str) -> Self {
        Self {
            entries: ttl_map(100_000, Duration::from_secs(300)),
            sessions: ttl_map(200_000, Duration::from_secs(300)),
            shared: redis.map(|conn| (conn, format!("{prefix}auth:"))),
        }
    }

    /// The account's state (`None` for an erased account) and whether the session was revoked
    /// (logout, reuse of a refresh token, password change), each from the cache or the database.
    pub async fn resolve(
        &self,
        state: &AppState,
        user_id: Uuid,
        sid: Uuid,
    ) -> ApiResult<(Option<AuthState>, bool)> {
        let Some(stamps) = self.stamps(user_id, sid).await else {
            // Redis cannot say whether an entry is current: the database can.
            return Ok((
                Self::read_account(state, user_id).await?,
                state.store.session_revoked(sid).await?,
            ));
        };
        let (user_stamp, session_stamp) = stamps;
        let account = match self.entries.get(&user_id).await {
            Some((value, seen)) if seen == user_stamp => value,
            _ => {
                let value = Self::read_account(state, user_id).await?;
                self.entries.insert(user_id, (value, user_stamp)).await;
                value
            }
        };
        let revoked = match self.sessions.get(&sid).await {
            Some((value, seen)) if seen == session_stamp => value,
            _ => {
                let value = state.store.session_revoked(sid).await?;
                self.sessions.insert(sid, (value, session_stamp)).await;
                value
            }
        };
        Ok((account, revoked))
    }

    async fn read_account(state: &AppState, user_id: Uuid) -> ApiResult<Option<AuthState>> {
        let row = state.store.auth_state(user_id).await?;
        Ok(row.map(|(role, status, token_version)| AuthState {
            role: Role::parse(&role).unwrap_or(Role::User),
            status: UserStatus::parse(&status).unwrap_or(UserStatus::Suspended),
            token_version,
        }))
    }

    /// The current stamps of an account and a session: both `None` without Redis (the bus
    /// alone keeps one instance current); `None` as a whole when Redis cannot answer.
    async fn stamps(&self, user_id: Uuid, sid: Uuid) -> Option<(Stamp, Stamp)> {
        let Some((conn, prefix)) = &self.shared else {
            return Some((None, None));
        };
        let read: redis::RedisResult<(Stamp, Stamp)> = redis::cmd("MGET")
            .arg(format!("{prefix}{}", user_stamp(user_id)))
            .arg(format!("{prefix}{}", session_stamp(sid)))
            .query_async(&mut conn.clone())
            .await;
        read.inspect_err(|e| tracing::warn!(error = %e, "auth: cannot read stamps"))
            .ok()
    }

    /// Records a change of an account or a session (its [`user_stamp`] or [`session_stamp`]) for every
    /// instance; call it after the change commits and before its response is sent.
    async fn stamp(&self, key: &str) {
        let Some((conn, prefix)) = &self.shared else {
            return;
        };
        let written: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("{prefix}{key}"))
            .arg(hex::encode(rand::random::<[u8; 8]>()))
            .arg("EX")
            .arg(STAMP_SECONDS)
            .query_async(&mut conn.clone())
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, key, "auth: cannot write a stamp");
        }
    }

    /// Forgets an account's entry after a change, here and (through its stamp) everywhere.
    pub async fn invalidate(&self, user_id: Uuid) {
        self.stamp(&user_stamp(user_id)).await;
        self.forget(user_id).await;
    }

    /// Forgets a session's entry after it was revoked, here and (through its stamp) everywhere.
    pub async fn invalidate_session(&self, sid: Uuid) {
        self.stamp(&session_stamp(sid)).await;
        self.forget_session(sid).await;
    }

    /// Forgets an account's entry on this instance (another instance announced its change).
    pub async fn forget(&self, user_id: Uuid) {
        self.entries.invalidate(&user_id).await;
    }

    /// Forgets a session's entry on this instance (another instance announced its revocation).
    pub async fn forget_session(&self, sid: Uuid) {
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
        let (current, revoked) = state.auth_cache.resolve(state, id, sid).await?;
        let current = current.ok_or_else(ApiError::unauthorized)?;
        // Tokens go only to verified accounts, so an INACTIVE one was deactivated by an admin.
        if current.token_version != version || current.status != UserStatus::Active || revoked {
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

/// How [`AdminUser`] refuses a signed-in caller, as a route's documented answer.
#[derive(utoipa::IntoResponses)]
#[response(status = 403, description = "Not an admin")]
pub struct AdminOnly;

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
