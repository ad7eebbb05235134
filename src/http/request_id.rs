//! The request id of the request being served, kept in a task-local so that any error built
//! anywhere in the handler can put it in its body without threading it through every call.

use axum::http::HeaderValue;

tokio::task_local! {
    static REQUEST_ID: HeaderValue;
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: Future>(id: HeaderValue, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Runs `f` with `id` as the current request id (the synchronous part of a service call).
pub fn sync_scope<R>(id: HeaderValue, f: impl FnOnce() -> R) -> R {
    REQUEST_ID.sync_scope(id, f)
}

/// The current request id, or an empty string outside a request.
pub fn current() -> String {
    REQUEST_ID
        .try_with(|id| id.to_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// Accepts an incoming id of 1–128 characters from `[A-Za-z0-9._-]` (API.md §11.3).
pub fn is_valid(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A fresh request id: 32 hex digits from the thread's random generator (a v4 UUID asked the
/// kernel for its bytes, a system call per request), as the header value it is echoed in.
pub fn generate() -> HeaderValue {
    let mut digits = [0u8; 32];
    // Sixteen random bytes always encode into 32 bytes.
    let _ = hex::encode_to_slice(rand::random::<[u8; 16]>(), &mut digits);
    HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(&digits))
        .unwrap_or(HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_ids_are_echoed() {
        assert!(is_valid("abc-123_x.y"));
        assert!(!is_valid(""));
        assert!(!is_valid("has space"));
        assert!(!is_valid(&"a".repeat(129)));
    }

    #[test]
    fn generated_ids_are_valid_and_fresh() {
        let (a, b) = (generate(), generate());
        let text = a.to_str().unwrap();
        assert!(is_valid(text) && text.len() == 32, "{text}");
        assert_ne!(a, b);
    }
}
