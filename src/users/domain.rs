//! Account fields parsed once at the edge: an [`Email`], a [`Phone`] and a [`PersonName`] can
//! only be built by their `parse`, so code holding one never checks the string again.

use std::fmt;

use crate::http::Validator;

/// A trimmed, lower-cased email address of a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases `raw`, then checks its shape; the error is the field message.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be a valid email address");
        };
        // Lengths are in bytes, as the SMTP limits are.
        let ok = !local.is_empty()
            && local.len() <= 64
            && email.len() <= 254
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && !domain.contains('@');
        if ok {
            Ok(Self(email))
        } else {
            Err("must be a valid email address")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 form: `+`, then 8 to 15 digits, the first not a zero. Nothing is
/// trimmed or reformatted: the number is kept exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Checks `raw` is E.164; the error is the profile's field message (other forms may word
    /// their own).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let ok = raw.strip_prefix('+').is_some_and(|digits| {
            (8..=15).contains(&digits.len())
                && digits.chars().all(|c| c.is_ascii_digit())
                && !digits.starts_with('0')
        });
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err("must be an E.164 number such as +2348012345678")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A given or family name of 2 to 50 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    /// Trims `raw` and checks its length in characters; the error is the field message.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if (2..=50).contains(&name.chars().count()) {
            Ok(Self(name.to_string()))
        } else {
            Err("must be 2 to 50 characters")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The accessors every newtype here shares.
macro_rules! string_newtype {
    ($($ty:ident),*) => {$(
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.0
            }
        }
    )*};
}

string_newtype!(Email, Phone, PersonName);

/// Records a failed parse's message under `field` (in call order, which is the order the
/// envelope lists problems in) and hands the value back when it parsed.
pub fn parse_field<T>(
    v: &mut Validator,
    field: &str,
    parsed: Result<T, &'static str>,
) -> Option<T> {
    match parsed {
        Ok(value) => Some(value),
        Err(message) => {
            v.add(field, message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada@example.com");
        assert_eq!(email.to_string(), "ada@example.com");
        assert_eq!(String::from(email), "ada@example.com");
    }

    #[test]
    fn emails_of_the_wrong_shape_are_refused_with_the_field_message() {
        for raw in [
            "",
            "no-at-sign",
            "@example.com",
            "a@nodot",
            "a@.example.com",
            "a@example.com.",
            "a b@x.io",
            "a@b@x.io",
            "a\u{7}@x.io",
        ] {
            assert_eq!(
                Email::parse(raw),
                Err("must be a valid email address"),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn email_length_limits_count_bytes() {
        let local = "a".repeat(64);
        assert!(Email::parse(&format!("{local}@x.io")).is_ok());
        assert!(Email::parse(&format!("a{local}@x.io")).is_err());
        let domain = format!("{}.io", "d".repeat(254 - 2 - 3));
        assert!(Email::parse(&format!("a@{domain}")).is_ok());
        assert!(Email::parse(&format!("a@d{domain}")).is_err());
    }

    #[test]
    fn phones_must_be_e164() {
        assert_eq!(
            Phone::parse("+2348012345678").map(String::from),
            Ok("+2348012345678".into())
        );
        assert!(Phone::parse("+12345678").is_ok());
        assert!(Phone::parse("+123456789012345").is_ok());
        for raw in [
            "08012345678",
            "2348012345678",
            "+1234567",
            "+1234567890123456",
            "+0123456789",
            "+12ab45678",
            " +2348012345678",
            "+2348012345678 ",
            "++2348012345678",
            "+",
            "",
        ] {
            assert_eq!(
                Phone::parse(raw),
                Err("must be an E.164 number such as +2348012345678"),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn names_are_trimmed_and_need_2_to_50_characters() {
        let name = PersonName::parse("  Ada ").unwrap();
        assert_eq!(name.as_str(), "Ada");
        assert_eq!(name.as_ref(), "Ada");
        assert!(PersonName::parse("Ñu").is_ok());
        assert!(PersonName::parse(&"é".repeat(50)).is_ok());
        for raw in ["", "A", "  A  ", &"é".repeat(51)] {
            assert_eq!(
                PersonName::parse(raw),
                Err("must be 2 to 50 characters"),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn parse_field_records_failures_under_the_field_in_order() {
        let mut v = Validator::new();
        assert_eq!(
            parse_field(&mut v, "firstName", PersonName::parse("A")),
            None
        );
        assert!(parse_field(&mut v, "lastName", PersonName::parse("Lovelace")).is_some());
        assert!(parse_field(&mut v, "email", Email::parse("nope")).is_none());
        let err = v.finish().unwrap_err();
        assert_eq!(
            err.details,
            Some(vec![
                serde_json::json!({"field": "firstName", "message": "must be 2 to 50 characters"}),
                serde_json::json!({"field": "email", "message": "must be a valid email address"}),
            ])
        );
    }
}
