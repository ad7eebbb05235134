//! The pages' session cookie and CSRF tokens.
//!
//! A sign-in opens a real session of the users area (the `sessions` row an API login opens), and
//! the cookie names it: `{user}.{sid}.{tokenVersion}.{expiry}.{mac}`, signed with HMAC-SHA256
//! under the server's JWT secret. Each request re-checks it through [`AuthUser::resume`], like
//! an access token, so sign-out, suspension, role and password changes take effect at once. The
//! cookie is no bearer for the API (it is not a JWT), and `HttpOnly` keeps it from scripts.
//!
//! A form's CSRF token is the HMAC of its session id: a page of this session can post it, another
//! site cannot know it. Before a session exists (the sign-in form) a double-submit token stands
//! in: a random value in a `SameSite=Strict` cookie, repeated in the form.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::http::ApiResult;
use crate::state::AppState;
use crate::users::AuthUser;

/// How long a console sign-in lasts; signing in again opens a new session.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// What the cookie names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionClaims {
    /// The account.
    pub user: Uuid,
    /// The session of the users area.
    pub sid: Uuid,
    /// The account's token version at sign-in.
    pub version: i64,
    /// Expiry, seconds since the epoch.
    pub expires: i64,
}

fn mac(state: &AppState, purpose: &str, message: &str) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(state.config.jwt_secret.expose().as_bytes())
            .expect("HMAC takes a key of any length");
    // The purpose keeps a session signature from ever serving as a CSRF token, and back.
    mac.update(purpose.as_bytes());
    mac.update(b"|");
    mac.update(message.as_bytes());
    mac
}

impl SessionClaims {
    /// Claims for a session opened now.
    pub fn new(user: Uuid, sid: Uuid, version: i64) -> Self {
        let expires = chrono::Utc::now().timestamp() + SESSION_TTL.as_secs() as i64;
        Self {
            user,
            sid,
            version,
            expires,
        }
    }

    fn payload(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.user, self.sid, self.version, self.expires
        )
    }

    /// The signed cookie value.
    pub fn seal(&self, state: &AppState) -> String {
        let payload = self.payload();
        let tag = hex::encode(mac(state, "session", &payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The claims of a cookie value whose signature holds and which has not expired.
    pub fn open(state: &AppState, value: &str) -> Option<Self> {
        let (payload, tag) = value.rsplit_once('.')?;
        let tag = hex::decode(tag).ok()?;
        mac(state, "session", payload).verify_slice(&tag).ok()?;
        let mut parts = payload.split('.');
        let claims = Self {
            user: parts.next()?.parse().ok()?,
            sid: parts.next()?.parse().ok()?,
            version: parts.next()?.parse().ok()?,
            expires: parts.next()?.parse().ok()?,
        };
        (claims.expires > chrono::Utc::now().timestamp()).then_some(claims)
    }

    /// The caller, when the session still stands (see [`AuthUser::resume`]).
    pub async fn resume(&self, state: &AppState) -> ApiResult<AuthUser> {
        AuthUser::resume(state, self.user, self.sid, self.version).await
    }
}

/// The CSRF token of a session's forms.
pub fn csrf_token(state: &AppState, sid: Uuid) -> String {
    hex::encode(mac(state, "csrf", &sid.to_string()).finalize().into_bytes())
}

/// Whether a form's token is its session's.
pub fn csrf_valid(state: &AppState, sid: Uuid, given: &str) -> bool {
    hex::decode(given).is_ok_and(|tag| {
        mac(state, "csrf", &sid.to_string())
            .verify_slice(&tag)
            .is_ok()
    })
}

/// The value of a cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// A one-shot message cookie (`{kind}:{url-encoded text}`): its kind and text.
pub fn flash(headers: &HeaderMap, name: &str) -> Option<(String, String)> {
    let raw = cookie(headers, name)?;
    let (kind, text) = raw.split_once(':')?;
    let text = form_urlencoded::parse(format!("t={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    Some((kind.to_string(), text))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, on `path`, `Secure` in production;
/// `max_age` 0 deletes it.
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: Duration,
) -> Option<HeaderValue> {
    cookie_header(state, name, value, path, max_age, "Strict")
}

/// [`set_cookie`] with `SameSite=Lax`: the storefront's, which must survive a buyer's return
/// from a payment gateway or an email link (a top-level navigation from another site).
pub fn set_lax_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Duration,
) -> Option<HeaderValue> {
    cookie_header(state, name, value, "/", max_age, "Lax")
}

fn cookie_header(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: Duration,
    same_site: &str,
) -> Option<HeaderValue> {
    let secure = if state.config.is_production() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite={same_site}{secure}",
        max_age.as_secs()
    ))
    .ok()
}

/// A random token for a double-submit cookie.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
