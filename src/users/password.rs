//! Password hashing with Argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane).
//! Hashing is CPU-heavy, so callers run it on the blocking pool through the async wrappers.

use std::sync::LazyLock;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::http::ApiError;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a random password, verified against when the email is unknown so that an unknown
/// account costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking(&uuid::Uuid::new_v4().to_string()));

/// Hashes a password (blocking; prefer [`hash`]).
pub fn hash_blocking(password: &str) -> String {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .expect("argon2 hashing with valid parameters does not fail")
}

/// Checks a password against a stored PHC string (blocking; prefer [`verify`]).
pub fn verify_blocking(password: &str, phc: &str) -> bool {
    hasher().verify_password(password.as_bytes(), phc).is_ok()
}

/// Bounds the hashes running at once: each holds 19 MiB and a core, so a login flood queues
/// here instead of filling the blocking pool (up to 512 threads) and the memory.
static PERMITS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::sync::Semaphore::new(cores * 2)
});

/// Hashes on the blocking pool.
pub async fn hash(password: String) -> Result<String, ApiError> {
    let _permit = PERMITS.acquire().await.map_err(anyhow::Error::from)?;
    Ok(tokio::task::spawn_blocking(move || hash_blocking(&password)).await?)
}

/// Verifies on the blocking pool; with no stored hash it burns the same time and fails.
pub async fn verify(password: String, phc: Option<String>) -> Result<bool, ApiError> {
    let _permit = PERMITS.acquire().await.map_err(anyhow::Error::from)?;
    Ok(tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify_blocking(&password, &phc),
        None => {
            let _ = verify_blocking(&password, &DUMMY_HASH);
            false
        }
    })
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash_blocking("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_blocking("correct horse battery", &h));
        assert!(!verify_blocking("wrong", &h));
    }
}
