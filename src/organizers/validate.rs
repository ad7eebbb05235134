//! Format checks of the sections a step carries (API.md §11.29, §11.63): each field given is
//! checked at once and named in the 400; required fields and the company rule wait for submit
//! (see [`super::model::missing_by_step`]). Values come back trimmed and normalized.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::model::{
    Address, BankingInput, ExperienceDetails, OrganizationDetails, PersonalInformation,
};
use crate::http::Validator;
use crate::users::{Email, PersonName, Phone};

/// ISO 3166-1 alpha-2 country codes (the officially assigned ones).
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE \
DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS \
GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW \
KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW \
MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO \
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM \
TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code (upper case).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split_whitespace().any(|c| c == code)
}

/// Whether a text is an absolute http(s) URL with a host.
pub fn is_web_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    url.len() <= 2048
        && !host.is_empty()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
}

/// A trimmed text whose length in characters is within `min..=max`, recorded under `field`.
fn text(
    v: &mut Validator,
    field: &str,
    value: &Option<String>,
    min: usize,
    max: usize,
) -> Option<String> {
    let value = value.as_deref()?.trim();
    let n = value.chars().count();
    if (min..=max).contains(&n) {
        Some(value.to_string())
    } else {
        v.add(field, &format!("must be {min} to {max} characters"));
        None
    }
}

fn parsed<T: Into<String>>(
    v: &mut Validator,
    field: &str,
    value: &Option<String>,
    parse: fn(&str) -> Result<T, &'static str>,
) -> Option<String> {
    match parse(value.as_deref()?) {
        Ok(ok) => Some(ok.into()),
        Err(message) => {
            v.add(field, message);
            None
        }
    }
}

/// Step 1: names 2–50, an email, an E.164 phone, a past birth date.
pub fn personal(v: &mut Validator, p: &PersonalInformation) -> PersonalInformation {
    const S: &str = "personalInformation";
    let first_name = parsed(
        v,
        &format!("{S}.firstName"),
        &p.first_name,
        PersonName::parse,
    );
    let last_name = parsed(v, &format!("{S}.lastName"), &p.last_name, PersonName::parse);
    let email = parsed(v, &format!("{S}.email"), &p.email, Email::parse);
    let phone = parsed(v, &format!("{S}.phone"), &p.phone, Phone::parse);
    let date_of_birth = p.date_of_birth.as_deref().map(str::trim).and_then(|d| {
        if crate::users::validate::birth_date_ok(d) {
            Some(d.to_string())
        } else {
            v.add(
                &format!("{S}.dateOfBirth"),
                "must be a past date as YYYY-MM-DD",
            );
            None
        }
    });
    PersonalInformation {
        first_name,
        last_name,
        email,
        phone,
        date_of_birth,
    }
}

/// Step 2: organization name 2–100, registration number and tax id 2–50, a web URL, a
/// description of 10–500 characters.
pub fn organization(v: &mut Validator, o: &OrganizationDetails) -> OrganizationDetails {
    const S: &str = "organizationDetails";
    let website = o.website.as_deref().map(str::trim).and_then(|w| {
        if is_web_url(w) {
            Some(w.to_string())
        } else {
            v.add(&format!("{S}.website"), "must be an http(s) URL");
            None
        }
    });
    OrganizationDetails {
        organization_type: o.organization_type,
        organization_name: text(
            v,
            &format!("{S}.organizationName"),
            &o.organization_name,
            2,
            100,
        ),
        business_registration_number: text(
            v,
            &format!("{S}.businessRegistrationNumber"),
            &o.business_registration_number,
            2,
            50,
        ),
        tax_id: text(v, &format!("{S}.taxId"), &o.tax_id, 2, 50),
        website,
        description: text(v, &format!("{S}.description"), &o.description, 10, 500),
    }
}

/// Step 3: street 2–200, city and state 2–100, zip code 3–10, an ISO 3166-1 alpha-2 country.
pub fn address(v: &mut Validator, a: &Address) -> Address {
    const S: &str = "address";
    let zip_code = a.zip_code.as_deref().map(str::trim).and_then(|z| {
        let ok = (3..=10).contains(&z.chars().count())
            && z.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
        if ok {
            Some(z.to_string())
        } else {
            v.add(
                &format!("{S}.zipCode"),
                "must be 3 to 10 letters, digits, spaces or hyphens",
            );
            None
        }
    });
    let country = a
        .country
        .as_deref()
        .map(|c| c.trim().to_ascii_uppercase())
        .and_then(|c| {
            if is_country(&c) {
                Some(c)
            } else {
                v.add(
                    &format!("{S}.country"),
                    "must be an ISO 3166-1 alpha-2 code such as NG",
                );
                None
            }
        });
    Address {
        address: text(v, &format!("{S}.address"), &a.address, 2, 200),
        city: text(v, &format!("{S}.city"), &a.city, 2, 100),
        state: text(v, &format!("{S}.state"), &a.state, 2, 100),
        zip_code,
        country,
    }
}

/// Step 5: bank name and holder 2–100, an account number of 8–20 digits, a routing number of
/// 3–20 letters or digits. The account number comes back on its own, to be sealed.
pub fn banking(v: &mut Validator, b: &BankingInput) -> BankingInput {
    const S: &str = "bankingInformation";
    let account_number = b.account_number.as_deref().map(str::trim).and_then(|n| {
        if (8..=20).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit()) {
            Some(n.to_string())
        } else {
            v.add(&format!("{S}.accountNumber"), "must be 8 to 20 digits");
            None
        }
    });
    let routing_number = b.routing_number.as_deref().map(str::trim).and_then(|n| {
        if (3..=20).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_alphanumeric()) {
            Some(n.to_string())
        } else {
            v.add(
                &format!("{S}.routingNumber"),
                "must be 3 to 20 letters or digits",
            );
            None
        }
    });
    BankingInput {
        bank_name: text(v, &format!("{S}.bankName"), &b.bank_name, 2, 100),
        account_number,
        account_holder_name: text(
            v,
            &format!("{S}.accountHolderName"),
            &b.account_holder_name,
            2,
            100,
        ),
        routing_number,
    }
}

/// Step 6: previous events at most 1000 characters (the choices are checked by their types).
pub fn experience(v: &mut Validator, e: &ExperienceDetails) -> ExperienceDetails {
    ExperienceDetails {
        event_experience: e.event_experience,
        previous_events: text(
            v,
            "experienceDetails.previousEvents",
            &e.previous_events,
            1,
            1000,
        ),
        expected_event_volume: e.expected_event_volume,
    }
}

/// `stored` with every field that `update` gives replacing its own (a step edits only the
/// fields it carries).
pub fn overlay<T: Serialize + DeserializeOwned + Clone>(stored: &T, update: &T) -> T {
    let (Ok(mut base), Ok(patch)) = (serde_json::to_value(stored), serde_json::to_value(update))
    else {
        return stored.clone();
    };
    if let (Some(base), Some(patch)) = (base.as_object_mut(), patch.as_object()) {
        for (key, value) in patch {
            if !value.is_null() {
                base.insert(key.clone(), value.clone());
            }
        }
    }
    serde_json::from_value(base).unwrap_or_else(|_| stored.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ApiError;

    fn fields(result: Result<(), ApiError>) -> Vec<String> {
        result
            .err()
            .and_then(|e| e.details)
            .unwrap_or_default()
            .iter()
            .map(|d| d["field"].as_str().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn each_bad_field_is_named_and_good_ones_are_normalized() {
        let mut v = Validator::new();
        let p = personal(
            &mut v,
            &PersonalInformation {
                first_name: Some(" Ada ".into()),
                last_name: Some("L".into()),
                email: Some("ADA@Example.com".into()),
                phone: Some("0801".into()),
                date_of_birth: Some("2999-01-01".into()),
            },
        );
        assert_eq!(p.first_name.as_deref(), Some("Ada"));
        assert_eq!(p.email.as_deref(), Some("ada@example.com"));
        assert_eq!(
            fields(v.finish()),
            [
                "personalInformation.lastName",
                "personalInformation.phone",
                "personalInformation.dateOfBirth"
            ]
        );
    }

    #[test]
    fn organization_address_and_banking_formats_are_checked() {
        let mut v = Validator::new();
        organization(
            &mut v,
            &OrganizationDetails {
                organization_name: Some("X".into()),
                website: Some("ftp://example.com".into()),
                description: Some("too short".into()),
                ..Default::default()
            },
        );
        let a = address(
            &mut v,
            &Address {
                zip_code: Some("12".into()),
                country: Some("ng".into()),
                ..Default::default()
            },
        );
        assert_eq!(a.country.as_deref(), Some("NG"));
        address(
            &mut v,
            &Address {
                country: Some("XX".into()),
                ..Default::default()
            },
        );
        banking(
            &mut v,
            &BankingInput {
                account_number: Some("1234-5678".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            fields(v.finish()),
            [
                "organizationDetails.website",
                "organizationDetails.organizationName",
                "organizationDetails.description",
                "address.zipCode",
                "address.country",
                "bankingInformation.accountNumber"
            ]
        );
    }

    #[test]
    fn urls_need_a_scheme_and_a_plain_host() {
        assert!(is_web_url("https://example.com"));
        assert!(is_web_url("http://example.com:8080/about?x=1"));
        for bad in [
            "example.com",
            "https://",
            "https://exa mple.com",
            "javascript:alert(1)",
            "https://-x.com",
        ] {
            assert!(!is_web_url(bad), "{bad}");
        }
    }

    #[test]
    fn a_step_overlays_only_the_fields_it_carries() {
        let stored = Address {
            city: Some("Lagos".into()),
            country: Some("NG".into()),
            ..Default::default()
        };
        let update = Address {
            city: Some("Abuja".into()),
            zip_code: Some("900001".into()),
            ..Default::default()
        };
        let merged = overlay(&stored, &update);
        assert_eq!(merged.city.as_deref(), Some("Abuja"));
        assert_eq!(merged.country.as_deref(), Some("NG"));
        assert_eq!(merged.zip_code.as_deref(), Some("900001"));
    }
}
