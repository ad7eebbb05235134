//! `Idempotency-Key` handling (API.md §1, §11.54), reusable by any POST route: the first answer
//! (2xx or 4xx) is stored with a hash of the parsed JSON body and replayed for the same key and
//! body with `Idempotent-Replayed: true`; another body → 422 `IDEMPOTENCY_MISMATCH`; a request
//! still running → 409 `IDEMPOTENCY_IN_FLIGHT` (a request that died unfinished frees its key after
//! twice `REQUEST_TIMEOUT`); a 5xx is not stored. Keys live 24 h.
//!
//! A route whose effect must outlive that (a booking, API.md §11.99) takes the [`ScopedKey`]
//! extension and records it with its effect, so a retry after any delay finds the effect; a
//! route whose answer holds a secret (a guest token) marks it [`AnswerByRoute`], and then only
//! the status is stored and a retry runs the route again to answer from its recorded effect.
//!
//! Use: wrap the routes that take a key with [`layer`] (`route_layer(from_fn_with_state((state,
//! Scope::Account), idempotency::layer))`); their handlers take their typed body as usual.

pub mod postgres;
pub mod sqlite;
mod store;

use std::future::Future;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::extract::content_type_is_json;
use super::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::users::AuthUser;
use crate::users::abuse::ClientIp;

/// How long a key is remembered.
pub const KEY_TTL_HOURS: i64 = 24;

/// The validated `Idempotency-Key` of a request: `None` when absent, 400 when malformed.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::field(
            "Idempotency-Key",
            "must be 1 to 255 printable ASCII characters",
        )
    };
    let key = raw.to_str().map_err(|_| bad())?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(bad());
    }
    Ok(Some(key.to_string()))
}

/// Hash of a parsed JSON body, independent of key order and whitespace.
pub fn body_hash(body: &Value) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    canonical(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    canonical(body, &mut s);
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn replay(status: i32, stored: &str) -> Response {
    let mut body: Value = serde_json::from_str(stored).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut body {
        map.insert("timestamp".into(), Value::String(super::now_rfc3339()));
        if map.contains_key("requestId") {
            map.insert(
                "requestId".into(),
                Value::String(super::request_id::current()),
            );
        }
    }
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

/// The `Idempotency-Key` header as the document lists it on the routes that take one
/// (`params(KeyHeader)`); the [`layer`] reads it.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(names("Idempotency-Key"), parameter_in = Header)]
pub struct KeyHeader(
    /// 1–255 printable characters; replays the first answer
    pub Option<String>,
);

/// The request's `Idempotency-Key` hashed with its scope, as a request extension for the
/// route: a route whose effect outlives its stored answer (a booking) records it with the
/// effect, so a retry finds the effect whatever became of the first request (API.md §11.99).
#[derive(Debug, Clone)]
pub struct ScopedKey(pub String);

/// A response extension: the answer holds a secret (a guest token), so only its status is
/// stored, and a retry runs the route again, which must find its first effect by the
/// [`ScopedKey`] and answer it again.
#[derive(Debug, Clone, Copy)]
pub struct AnswerByRoute;

/// Whose key space a route's keys live in.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// The signed-in account's; a caller who is not signed in gets the route's own answer (401).
    Account,
    /// Anonymous callers of the route, per client network, under the route's name (§11.54).
    Anonymous(&'static str),
}

/// The route layer of `Idempotency-Key`: on a write with a key and a JSON body, it claims the
/// key, runs the route (extractors and handler) and stores or replays its answer. A request the
/// route would refuse before reading the key (not signed in, not JSON, not parseable) passes
/// through untouched, so its answer is the route's own and nothing is stored.
pub async fn layer(
    State((state, scope)): State<(AppState, Scope)>,
    req: Request,
    next: Next,
) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !writes || !req.headers().contains_key("idempotency-key") || !content_type_is_json(&req) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let scope = match scope {
        Scope::Account => match AuthUser::from_request_parts(&mut parts, &state).await {
            Ok(user) => format!("user:{}", user.id),
            Err(_) => return next.run(Request::from_parts(parts, body)).await,
        },
        // Per client network: one anonymous caller cannot replay (or block) another's key.
        Scope::Anonymous(route) => match ClientIp::from_request_parts(&mut parts, &state).await {
            Ok(ClientIp(ip)) => format!("anon:{route}:{ip}"),
            Err(e) => return e.into_response(),
        },
    };
    let bytes = match axum::body::to_bytes(body, crate::http::JSON_BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(ErrorCode::PayloadTooLarge, "The request body is too large")
                .into_response();
        }
    };
    let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    let key = match key_from(&parts.headers) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
        Err(e) => return e.into_response(),
    };
    parts
        .extensions
        .insert(ScopedKey(crate::crypto::sha256_hex(&format!(
            "{scope}\n{key}"
        ))));
    let handler = next.run(Request::from_parts(parts, Body::from(bytes)));
    run(&state, &scope, key, &json, handler).await
}

/// Runs `handler` under `key` in `scope`: claims it, or replays / refuses as the stored row says.
async fn run<F>(state: &AppState, scope: &str, key: String, body: &Value, handler: F) -> Response
where
    F: Future<Output = Response>,
{
    let hash = body_hash(body);
    let store = &state.store;
    // A request that never finished (its client hung up and the handler was dropped) frees its
    // key after twice the request timeout.
    let abandon_after = state.config.request_timeout * 2;
    match store.idem_claim(scope, &key, &hash, abandon_after).await {
        Ok(true) => {}
        Ok(false) => {
            return match store.idem_lookup(scope, &key).await {
                Ok(Some((stored_hash, _, _))) if stored_hash != hash => ApiError::new(
                    ErrorCode::IdempotencyMismatch,
                    "This Idempotency-Key was used with a different request body",
                )
                .into_response(),
                // The route answers again from its recorded effect.
                Ok(Some((_, Some(_), Some(resp)))) if resp.is_empty() => {
                    let mut response = handler.await;
                    response
                        .headers_mut()
                        .insert("idempotent-replayed", HeaderValue::from_static("true"));
                    response
                }
                Ok(Some((_, Some(status), Some(resp)))) => replay(status, &resp),
                Ok(Some(_)) => ApiError::new(
                    ErrorCode::IdempotencyInFlight,
                    "A request with this Idempotency-Key is still being processed",
                )
                .into_response(),
                // Deleted meanwhile (a 5xx released it): ask the client to retry.
                Ok(None) => ApiError::new(
                    ErrorCode::IdempotencyInFlight,
                    "A request with this Idempotency-Key is still being processed",
                )
                .into_response(),
                Err(e) => ApiError::from(e).into_response(),
            };
        }
        Err(e) => return ApiError::from(e).into_response(),
    }
    let response = handler.await;
    let status = response.status();
    if status.is_server_error() {
        let _ = store.idem_release(scope, &key).await;
        return response;
    }
    if response.extensions().get::<AnswerByRoute>().is_some() {
        if let Err(e) = store
            .idem_complete(scope, &key, i32::from(status.as_u16()), "")
            .await
        {
            tracing::warn!(error = %e, "could not store the idempotent answer");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    // The handler's answer is already in memory: read it whole (a cap here would turn a
    // committed booking into a 500 and let a retry book again).
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => {
            let _ = store.idem_release(scope, &key).await;
            return ApiError::internal(anyhow::anyhow!("unreadable response")).into_response();
        }
    };
    let text = String::from_utf8_lossy(&bytes).to_string();
    if let Err(e) = store
        .idem_complete(scope, &key, i32::from(status.as_u16()), &text)
        .await
    {
        tracing::warn!(error = %e, "could not store the idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Purges keys older than 24 h every ten minutes (on one instance of a cluster), until shutdown.
pub fn spawn_purger(state: &crate::state::AppState) {
    let purger = state.clone();
    let (period, key) = (
        std::time::Duration::from_secs(600),
        crate::tasks::lease::IDEMPOTENCY_PURGE,
    );
    crate::tasks::every_leading(state, period, key, move || {
        let state = purger.clone();
        async move {
            if let Err(e) = state.store.purge_idempotency_keys().await {
                tracing::warn!(error = %e, "idempotency key purge failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_hash_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"x":[1,2],"y":null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "b":{"y":null,"x":[1,2]}, "a":1 }"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"a":2,"b":{"x":[1,2],"y":null}}"#).unwrap();
        assert_eq!(body_hash(&a), body_hash(&b));
        assert_ne!(body_hash(&a), body_hash(&c));
    }

    #[test]
    fn keys_are_validated() {
        let mut h = HeaderMap::new();
        assert_eq!(key_from(&h).unwrap(), None);
        h.insert("idempotency-key", HeaderValue::from_static("abc-123"));
        assert_eq!(key_from(&h).unwrap().as_deref(), Some("abc-123"));
        h.insert(
            "idempotency-key",
            HeaderValue::from_str(&"x".repeat(256)).unwrap(),
        );
        assert!(key_from(&h).is_err());
    }
}
