//! The request id of the request being served, in a thread-local slot while the request's
//! future is polled, so that any error built anywhere in the handler can put it in its body
//! without threading it through every call.

use std::cell::RefCell;

use axum::http::HeaderValue;

thread_local! {
    static CURRENT: RefCell<Option<HeaderValue>> = const { RefCell::new(None) };
}

/// Runs `f` with the id in `slot` as the current request id. The id is moved into the thread's
/// slot for the call and back out after it, as tokio's task-locals do on every poll, but without
/// a future of its own: the middleware calls this around each poll of the request's future.
pub fn scoped<R>(slot: &mut Option<HeaderValue>, f: impl FnOnce() -> R) -> R {
    /// Puts the outer id back even if `f` panics.
    struct Restore<'a> {
        slot: &'a mut Option<HeaderValue>,
        outer: Option<HeaderValue>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            *self.slot = CURRENT.with(|c| c.replace(self.outer.take()));
        }
    }
    let outer = CURRENT.with(|c| c.replace(slot.take()));
    let _restore = Restore { slot, outer };
    f()
}

/// The current request id, or an empty string outside a request.
pub fn current() -> String {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default()
            .to_string()
    })
}

/// Accepts an incoming id of 1–128 characters from `[A-Za-z0-9._-]` (API.md §11.3).
pub fn is_valid(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

thread_local! {
    /// This thread's ids: a random half drawn once per thread, and a count from a random start.
    static NEXT: std::cell::Cell<(u64, u64)> = std::cell::Cell::new(rand::random());
}

/// A fresh request id: 32 hex digits, unique in the process and (by the random halves) across
/// restarts and instances, as the header value it is echoed in. An id names a request in the
/// logs and is no secret; drawing all of its bytes afresh (or a v4 UUID, which asked the kernel
/// for them, a system call per request) cost more than the rest of the id together.
pub fn generate() -> HeaderValue {
    let (thread, count) = NEXT.get();
    NEXT.set((thread, count.wrapping_add(1)));
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&thread.to_be_bytes());
    raw[8..].copy_from_slice(&count.to_be_bytes());
    let mut digits = [0u8; 32];
    // Sixteen bytes always encode into 32 bytes.
    let _ = hex::encode_to_slice(raw, &mut digits);
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
    fn the_id_is_current_only_inside_its_scope_and_comes_back_out() {
        let mut outer = Some(HeaderValue::from_static("outer"));
        let mut inner = Some(HeaderValue::from_static("inner"));
        assert_eq!(current(), "");
        scoped(&mut outer, || {
            assert_eq!(current(), "outer");
            scoped(&mut inner, || assert_eq!(current(), "inner"));
            assert_eq!(current(), "outer");
        });
        assert_eq!(current(), "");
        assert_eq!(outer.unwrap(), "outer");
        assert_eq!(inner.unwrap(), "inner");
    }

    #[test]
    fn a_panic_inside_the_scope_still_gives_the_id_back() {
        let mut slot = Some(HeaderValue::from_static("kept"));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scoped(&mut slot, || panic!("boom"))
        }));
        assert!(caught.is_err());
        assert_eq!(current(), "");
        assert_eq!(slot.unwrap(), "kept");
    }

    #[test]
    fn generated_ids_are_valid_and_fresh() {
        let (a, b) = (generate(), generate());
        let text = a.to_str().unwrap();
        assert!(is_valid(text) && text.len() == 32, "{text}");
        assert_ne!(a, b);
        let elsewhere = std::thread::spawn(generate).join().unwrap();
        assert!(
            elsewhere != a && elsewhere != b,
            "another thread's ids are its own"
        );
    }
}
