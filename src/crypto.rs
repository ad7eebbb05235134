//! Small cryptographic helpers the areas share: constant-time comparison of secrets, the
//! SHA-256 digest under which tokens are stored, and the [`Keyring`] that encrypts data at rest
//! (organizers' bank account numbers) with AES-256-GCM.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::Rng;
use sha2::{Digest, Sha256};

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The lower-case hex SHA-256 of a string: the stored form of refresh and guest tokens.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A 256-bit key written as 64 hex digits or as standard base64 (44 characters with padding).
pub fn parse_key(raw: &str) -> Option<[u8; 32]> {
    let raw = raw.trim();
    let bytes = if raw.len() == 64 && raw.bytes().all(|c| c.is_ascii_hexdigit()) {
        hex::decode(raw).ok()?
    } else {
        BASE64.decode(raw).ok()?
    };
    bytes.try_into().ok()
}

/// The public name of a key, stored beside each value it sealed so that a value sealed before a
/// rotation still finds its key: 16 hex digits of a digest of the key, which reveals nothing of it.
pub fn key_id(key: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(b"ticketmax key id\0")
        .chain_update(key)
        .finalize();
    hex::encode(&digest[..8])
}

/// A value sealed by a [`Keyring`]: the id of its key, and base64 of the random 96-bit nonce
/// followed by the AES-256-GCM ciphertext and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Which key sealed it.
    pub key_id: String,
    /// `base64(nonce ‖ ciphertext ‖ tag)`.
    pub ciphertext: String,
}

struct KeyEntry {
    id: String,
    cipher: Aes256Gcm,
}

/// The keys of data at rest: the current one seals, it and the previous ones (after a rotation)
/// open. Each value has a fresh random nonce, and is bound to a context (the id of the row it
/// belongs to) so that a ciphertext copied into another row does not open there.
pub struct Keyring {
    current: KeyEntry,
    previous: Vec<KeyEntry>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("previous", &self.previous.len())
            .finish()
    }
}

fn entry(key: &[u8; 32]) -> KeyEntry {
    KeyEntry {
        id: key_id(key),
        cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
    }
}

/// Length of an AES-GCM nonce.
const NONCE_LEN: usize = 12;

impl Keyring {
    /// A keyring sealing with `current` and still opening what `previous` keys sealed.
    pub fn new(current: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        Self {
            current: entry(current),
            previous: previous.iter().map(entry).collect(),
        }
    }

    /// The keyring of the settings: `ENCRYPTION_KEY` (and `ENCRYPTION_KEYS_PREVIOUS`) when set
    /// (production requires it); otherwise a development key kept in `dev_key_file`, created
    /// with a warning the first time, so that a restart still opens what was sealed.
    pub fn from_settings(
        current: Option<[u8; 32]>,
        previous: &[[u8; 32]],
        dev_key_file: &Path,
    ) -> anyhow::Result<Self> {
        let key = match current {
            Some(key) => key,
            None => development_key(dev_key_file)?,
        };
        Ok(Self::new(&key, previous))
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Encrypts `plaintext` bound to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Sealed {
        let nonce: [u8; NONCE_LEN] = rand::rng().random();
        let payload = Payload {
            msg: plaintext,
            aad: context,
        };
        // Encryption fails only for inputs of gigabytes, never for the values sealed here.
        let sealed = self
            .current
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Sealed {
            key_id: self.current.id.clone(),
            ciphertext: BASE64.encode(out),
        }
    }

    /// Decrypts a sealed value with the key it names; `None` when that key is not in the ring,
    /// the context differs, or a byte was changed.
    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Option<Vec<u8>> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == sealed.key_id)?;
        let bytes = BASE64.decode(&sealed.ciphertext).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let payload = Payload {
            msg: ciphertext,
            aad: context,
        };
        key.cipher.decrypt(&Nonce::from(nonce), payload).ok()
    }
}

/// The development key in `path`, created (hex, readable by the owner only) when missing.
fn development_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return parse_key(&text)
            .ok_or_else(|| anyhow::anyhow!("{} does not hold a 32-byte hex key", path.display()));
    }
    let key: [u8; 32] = rand::rng().random();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => std::io::Write::write_all(&mut file, hex::encode(key).as_bytes())?,
        // Another process created it meanwhile: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return development_key(path);
        }
        Err(e) => return Err(e.into()),
    }
    tracing::warn!(
        file = %path.display(),
        "ENCRYPTION_KEY is not set: generated a development key; set ENCRYPTION_KEY in production"
    );
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_secrets_compare_equal_and_different_ones_do_not() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secrets"));
    }

    #[test]
    fn the_digest_is_the_known_sha256_of_the_text() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_context_only() {
        let ring = Keyring::new(&[7u8; 32], &[]);
        let sealed = ring.seal(b"0123456789", b"application-1");
        assert_eq!(sealed.key_id, key_id(&[7u8; 32]));
        assert!(!sealed.ciphertext.contains("0123456789"));
        assert_eq!(
            ring.open(&sealed, b"application-1").as_deref(),
            Some(&b"0123456789"[..])
        );
        assert_ne!(
            ring.seal(b"0123456789", b"application-1"),
            sealed,
            "fresh nonce"
        );
        assert_eq!(ring.open(&sealed, b"application-2"), None, "another row");
        let other = Keyring::new(&[8u8; 32], &[]);
        assert_eq!(other.open(&sealed, b"application-1"), None, "another key");
        let forged = Sealed {
            key_id: other.current_key_id().to_string(),
            ..sealed.clone()
        };
        assert_eq!(other.open(&forged, b"application-1"), None, "wrong key");
    }

    #[test]
    fn a_tampered_ciphertext_does_not_open() {
        let ring = Keyring::new(&[1u8; 32], &[]);
        let sealed = ring.seal(b"12345678", b"ctx");
        let mut bytes = BASE64.decode(&sealed.ciphertext).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let tampered = Sealed {
                ciphertext: BASE64.encode(&bytes),
                ..sealed.clone()
            };
            assert_eq!(ring.open(&tampered, b"ctx"), None, "byte {i}");
            bytes[i] ^= 1;
        }
        let short = Sealed {
            ciphertext: BASE64.encode([0u8; 5]),
            ..sealed
        };
        assert_eq!(ring.open(&short, b"ctx"), None);
    }

    #[test]
    fn a_rotated_ring_opens_what_the_previous_key_sealed() {
        let old = Keyring::new(&[1u8; 32], &[]);
        let sealed = old.seal(b"12345678", b"ctx");
        let rotated = Keyring::new(&[2u8; 32], &[[1u8; 32]]);
        assert_eq!(
            rotated.open(&sealed, b"ctx").as_deref(),
            Some(&b"12345678"[..])
        );
        assert_ne!(rotated.seal(b"x", b"ctx").key_id, sealed.key_id);
    }

    #[test]
    fn keys_are_read_as_hex_or_base64_of_32_bytes() {
        let hex_key = "ab".repeat(32);
        assert_eq!(parse_key(&hex_key), Some([0xab; 32]));
        assert_eq!(parse_key(&BASE64.encode([9u8; 32])), Some([9; 32]));
        assert_eq!(parse_key("ab"), None);
        assert_eq!(parse_key(&BASE64.encode([9u8; 16])), None);
        assert_eq!(parse_key("not a key at all"), None);
    }

    #[test]
    fn the_development_key_is_created_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("ticketmax-key-{}", uuid::Uuid::new_v4()));
        let file = dir.join("keys").join("dev.key");
        let first = Keyring::from_settings(None, &[], &file).unwrap();
        let sealed = first.seal(b"12345678", b"ctx");
        let again = Keyring::from_settings(None, &[], &file).unwrap();
        assert_eq!(
            again.open(&sealed, b"ctx").as_deref(),
            Some(&b"12345678"[..])
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
