//! Sessions and refresh tokens.
//!
//! A login opens a session (`sessions` row, id `sid`) with a refresh-token family: each refresh
//! rotates the token inside the family, and presenting a used token again revokes the whole
//! family (a stolen token is worth one use, by the thief or by the owner, never both). Access
//! tokens carry `sid` and the user's token version, and [`super::AuthUser`] refuses one whose
//! session was revoked or whose version is old, through [`super::AuthCache`] (no database read
//! on a cache hit). Hence:
//! - logout revokes its session: its access token ends at once;
//! - change-password revokes every *other* session, keeping the caller's (no version bump);
//! - reset-password, suspension and erasure revoke every session, and reset/erasure also bump
//!   the token version.
//!
//! Every such change is announced on the `auth` bus topic (`user:<id>`, `session:<id>`,
//! `ip:<addr>`), and [`start_background`] applies the announcements of other instances to the
//! local caches.

use chrono::Utc;
use rand::RngCore;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{Rotation, UserRow, UserView};
use crate::bus::Received;
use crate::http::ApiResult;
use crate::state::AppState;

/// The answer of login and refresh.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// Short-lived JWT.
    pub access_token: String,
    /// Opaque, single-use refresh token.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// The account.
    pub user: UserView,
}

/// The stored form of a refresh token.
pub fn token_hash(token: &str) -> String {
    crate::crypto::sha256_hex(token)
}

/// A new random refresh token (256 bits, hex).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn refresh_expiry(state: &AppState) -> chrono::DateTime<Utc> {
    Utc::now()
        + chrono::Duration::from_std(state.config.refresh_token_expires_in)
            .unwrap_or(chrono::Duration::days(30))
}

/// The token answer for a user and session.
fn pair(state: &AppState, user: &UserRow, sid: Uuid, refresh: String) -> ApiResult<TokenPair> {
    let access = state
        .jwt
        .issue(user.id, user.role(), sid, user.token_version)?;
    Ok(TokenPair {
        access_token: access,
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: state.jwt.ttl.as_secs(),
        user: UserView::from(user),
    })
}

/// Opens a session for a user who just proved their password.
pub async fn open(state: &AppState, user: &UserRow) -> ApiResult<TokenPair> {
    let sid = Uuid::now_v7();
    let refresh = new_refresh_token();
    state
        .store
        .create_session(user.id, sid, &token_hash(&refresh), refresh_expiry(state))
        .await?;
    let user = state
        .store
        .user_by_id(user.id)
        .await?
        .unwrap_or_else(|| user.clone());
    pair(state, &user, sid, refresh)
}

/// Rotates a refresh token: the new pair, or `None` when the token is not (or no longer) good.
pub async fn rotate(state: &AppState, token: &str) -> ApiResult<Option<TokenPair>> {
    let refresh = new_refresh_token();
    let outcome = state
        .store
        .rotate_refresh(
            &token_hash(token),
            &token_hash(&refresh),
            refresh_expiry(state),
        )
        .await?;
    match outcome {
        Rotation::Invalid => Ok(None),
        Rotation::Reused { sid } => {
            announce_sessions(state, &[sid]).await;
            Ok(None)
        }
        Rotation::Rotated { user_id, sid } => {
            let Some(user) = state.store.user_by_id(user_id).await? else {
                return Ok(None);
            };
            if user.status() == super::model::UserStatus::Suspended || user.deactivated() {
                state.store.revoke_session(user_id, sid).await?;
                announce_sessions(state, &[sid]).await;
                return Ok(None);
            }
            Ok(Some(pair(state, &user, sid, refresh)?))
        }
    }
}

/// Invalidates an account's cached state here and on every instance.
pub async fn announce_user(state: &AppState, user_id: Uuid) {
    state.auth_cache.invalidate(user_id).await;
    state
        .bus
        .publish(crate::bus::topic::AUTH, format!("user:{user_id}"))
        .await;
}

/// Invalidates revoked sessions here and on every instance.
pub async fn announce_sessions(state: &AppState, sids: &[Uuid]) {
    for sid in sids {
        state.auth_cache.invalidate_session(*sid).await;
        state
            .bus
            .publish(crate::bus::topic::AUTH, format!("session:{sid}"))
            .await;
    }
}

/// Applies `auth` bus messages to the local caches, and prunes old abuse events (on one
/// instance of a cluster), until shutdown.
pub fn start_background(state: &AppState) {
    let pruner = state.clone();
    let period = std::time::Duration::from_secs(600);
    crate::tasks::every_leading(state, period, crate::tasks::lease::ABUSE_PRUNE, move || {
        let state = pruner.clone();
        async move {
            let before = Utc::now() - chrono::Duration::hours(2);
            if let Err(e) = state.store.prune_abuse_events(before).await {
                tracing::warn!(error = %e, "could not prune abuse events");
            }
        }
    });
    let state = state.clone();
    let mut bus = state.bus.subscribe();
    let mut shutdown = state.shutdown_signal();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                msg = crate::bus::receive(&mut bus) => match msg {
                    Received::Message(m) if m.topic == crate::bus::topic::AUTH => {
                        apply(&state, &m.payload).await
                    }
                    Received::Message(_) => {}
                    // A suspension, logout or unblock may be among the lost messages: every
                    // cached account, session and block is read again from the database.
                    Received::Resync => {
                        state.auth_cache.clear();
                        state.guard.blocks.clear();
                    }
                    Received::Closed => break,
                },
                _ = shutdown.changed() => break,
            }
        }
    });
}

async fn apply(state: &AppState, payload: &str) {
    let Some((kind, value)) = payload.split_once(':') else {
        return;
    };
    match kind {
        "user" => {
            if let Ok(id) = value.parse() {
                state.auth_cache.forget(id).await;
            }
        }
        "session" => {
            if let Ok(id) = value.parse() {
                state.auth_cache.forget_session(id).await;
            }
        }
        "ip" => {
            if let Ok(ip) = value.parse() {
                state.guard.blocks.invalidate(ip);
            }
        }
        _ => {}
    }
}
