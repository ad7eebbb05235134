//! Field checks shared by registration, the profile and admin seeding, for the fields that are
//! stored as given (emails, phones and names are parsed into `super::domain` types instead).

use chrono::Datelike;

use super::model::{Address, PreferencesInput};
use crate::http::Validator;

/// Whether a password has 8–128 characters.
pub fn password_ok(password: &str) -> bool {
    (8..=128).contains(&password.chars().count())
}

/// Whether a birth date is a real `YYYY-MM-DD` day in the past.
pub fn birth_date_ok(date: &str) -> bool {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok_and(|d| {
        date.len() == 10 && d < chrono::Utc::now().date_naive() && d.year_ce().1 >= 1900
    })
}

/// Checks a new password has 8–128 characters.
pub fn check_password(v: &mut Validator, password: &str) {
    v.check(
        password_ok(password),
        "password",
        "must be 8 to 128 characters",
    );
}

/// Checks a birth date, see [`birth_date_ok`].
pub fn check_birth_date(v: &mut Validator, date: &str) {
    v.check(
        birth_date_ok(date),
        "dateOfBirth",
        "must be a past date as YYYY-MM-DD",
    );
}

/// Checks a bio has at most 500 characters.
pub fn check_bio(v: &mut Validator, bio: &str) {
    v.check(
        bio.chars().count() <= 500,
        "bio",
        "must be at most 500 characters",
    );
}

/// Checks an address's fields (each at most 200 characters).
pub fn check_address(v: &mut Validator, address: &Address) {
    for (name, value) in [
        ("street", &address.street),
        ("city", &address.city),
        ("state", &address.state),
        ("zipCode", &address.zip_code),
        ("country", &address.country),
    ] {
        if let Some(value) = value {
            v.check(
                value.chars().count() <= 200,
                &format!("address.{name}"),
                "must be at most 200 characters",
            );
        }
    }
}

/// Checks preferences (a language code of 2–10 characters).
pub fn check_preferences(v: &mut Validator, prefs: &PreferencesInput) {
    if let Some(lang) = &prefs.language {
        v.check(
            (2..=10).contains(&lang.len())
                && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "preferences.language",
            "must be a language code such as en or fr-CA",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates_are_real_past_days() {
        assert!(birth_date_ok("1990-02-28"));
        assert!(!birth_date_ok("1990-02-30"));
        assert!(!birth_date_ok("2999-01-01"));
        assert!(!birth_date_ok("1990-2-3"));
    }
}
