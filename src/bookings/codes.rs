//! Booking references, signed ticket codes and guest tokens.
//!
//! A ticket code is the ticket id (16 random bytes) followed by the first 10 bytes of
//! HMAC-SHA256(`TICKET_SIGNING_KEY`, id), written in an unambiguous base-32 alphabet (no 0/O,
//! 1/I): the server can tell a genuine code from a forged one without reading the database.

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use uuid::Uuid;

/// The alphabet of references and codes: digits and capitals without 0, O, 1 and I.
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

const MAC_LEN: usize = 10;

/// A new random booking reference, `TM-` + 8 characters of [`ALPHABET`].
pub fn new_reference() -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(11);
    s.push_str("TM-");
    for _ in 0..8 {
        s.push(ALPHABET[rng.random_range(0..32)] as char);
    }
    s
}

/// Encodes bytes in base 32 with [`ALPHABET`] (no padding).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes [`base32`] text (case-insensitive); `None` on a character outside the alphabet.
pub fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let c = c.to_ascii_uppercase();
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

fn mac(key: &str, id: &Uuid) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC accepts keys of any length");
    m.update(b"ticket:");
    m.update(id.as_bytes());
    m.finalize().into_bytes().into()
}

/// The signed code of a ticket.
pub fn ticket_code(key: &str, id: Uuid) -> String {
    let mut bytes = Vec::with_capacity(16 + MAC_LEN);
    bytes.extend_from_slice(id.as_bytes());
    bytes.extend_from_slice(&mac(key, &id)[..MAC_LEN]);
    base32(&bytes)
}

/// The ticket id inside a genuine code; `None` for anything forged or malformed.
pub fn verify_ticket_code(key: &str, code: &str) -> Option<Uuid> {
    let code = code.trim();
    if code.len() > 64 {
        return None;
    }
    let bytes = unbase32(code)?;
    if bytes.len() != 16 + MAC_LEN {
        return None;
    }
    let id = Uuid::from_slice(&bytes[..16]).ok()?;
    let expected = mac(key, &id);
    crate::crypto::constant_time_eq(&bytes[16..], &expected[..MAC_LEN]).then_some(id)
}

/// A new guest token (`gt_` + 32 random bytes in base 32) and its stored hash.
pub fn new_guest_token() -> (String, String) {
    let bytes: [u8; 32] = rand::rng().random();
    let token = format!("gt_{}", base32(&bytes));
    let hash = hash_guest_token(&token);
    (token, hash)
}

/// The guest token of a booking made under an `Idempotency-Key` (its scoped hash), and its
/// stored hash: derived from the key with the server's signing key, so a retry of the request
/// gets the same token back without the token ever being stored in clear.
pub fn guest_token_for_key(signing_key: &str, scoped_key: &str) -> (String, String) {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(signing_key.as_bytes())
        .expect("HMAC accepts keys of any length");
    m.update(b"guest-token:");
    m.update(scoped_key.as_bytes());
    let token = format!("gt_{}", base32(&m.finalize().into_bytes()));
    let hash = hash_guest_token(&token);
    (token, hash)
}

/// The stored form of a guest token (SHA-256, hex).
pub fn hash_guest_token(token: &str) -> String {
    crate::crypto::sha256_hex(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_short_and_unambiguous() {
        for _ in 0..200 {
            let r = new_reference();
            assert_eq!(r.len(), 11);
            assert!(r.starts_with("TM-"));
            assert!(!r[3..].contains(['0', 'O', '1', 'I']));
        }
    }

    #[test]
    fn base32_round_trips() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(unbase32(&base32(&bytes)).unwrap()[..len], bytes[..]);
        }
    }

    #[test]
    fn ticket_codes_verify_and_forgeries_fail() {
        let id = Uuid::new_v4();
        let code = ticket_code("key-one", id);
        assert_eq!(verify_ticket_code("key-one", &code), Some(id));
        assert_eq!(verify_ticket_code("key-two", &code), None);
        let mut forged = code.clone().into_bytes();
        let last = forged.len() - 3;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            verify_ticket_code("key-one", std::str::from_utf8(&forged).unwrap()),
            None
        );
        assert_eq!(verify_ticket_code("key-one", "not a code"), None);
        assert_eq!(verify_ticket_code("key-one", ""), None);
    }

    mod generated {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(1024)))]

            #[test]
            fn any_text_is_refused_or_is_a_genuine_code(text in "\\PC{0,80}") {
                if let Some(id) = verify_ticket_code("key-one", &text) {
                    // Only text that decodes to a genuine code's bytes.
                    prop_assert_eq!(unbase32(text.trim()), unbase32(&ticket_code("key-one", id)));
                }
            }

            #[test]
            fn base32_round_trips_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
                let decoded = unbase32(&base32(&bytes)).unwrap();
                prop_assert_eq!(&decoded[..bytes.len()], &bytes[..]);
            }

            #[test]
            fn a_changed_character_never_makes_another_valid_code(
                at in 0usize..42,
                with in proptest::sample::select(&ALPHABET[..]),
            ) {
                let id = Uuid::new_v4();
                let code = ticket_code("key-one", id);
                let mut changed = code.clone().into_bytes();
                changed[at] = with;
                let changed = String::from_utf8(changed).unwrap();
                match verify_ticket_code("key-one", &changed) {
                    None => {}
                    // The last character carries two padding bits: a change there alone may
                    // decode to the same bytes, the same ticket.
                    Some(same) => {
                        prop_assert_eq!(same, id);
                        prop_assert_eq!(unbase32(&changed), unbase32(&code));
                    }
                }
            }
        }
    }
}
