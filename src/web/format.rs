//! How pages word money, dates and rates: amounts in the currency's minor units with its symbol
//! (`₦5,000.00`, `$12.50`, `¥1,200`), instants in UTC or an event's time zone, the zone named.

use chrono::{DateTime, Utc};
use minijinja::Value;

use crate::payments::model::minor_per_major;

/// The symbol of the currencies TicketMax sells in; others are written with their code.
fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "NGN" => "₦",
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "GHS" => "GH₵",
        "KES" => "KSh",
        "ZAR" => "R",
        "INR" => "₹",
        _ => return None,
    })
}

/// `500000, "NGN"` → `₦5,000.00`; `-250, "USD"` → `-$2.50`; `1200, "JPY"` → `¥1,200`.
pub fn money(amount: i64, currency: &str) -> String {
    let currency = currency.to_ascii_uppercase();
    let per = minor_per_major(&currency).unsigned_abs();
    let digits = per.to_string().len() - 1;
    let abs = amount.unsigned_abs();
    let whole = (abs / per).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let number = if digits == 0 {
        grouped
    } else {
        format!("{grouped}.{:0digits$}", abs % per)
    };
    let sign = if amount < 0 { "-" } else { "" };
    match symbol(&currency) {
        Some(s) => format!("{sign}{s}{number}"),
        None => format!("{sign}{currency} {number}"),
    }
}

/// An amount in the currency's major units, for a chart's scale: `1250, "USD"` → `12.5`.
pub fn major(amount: i64, currency: &str) -> f64 {
    amount as f64 / minor_per_major(&currency.to_ascii_uppercase()) as f64
}

/// `"2026-03-01T09:30:00Z" | datetime` → `1 Mar 2026, 09:30 UTC`; with an event's IANA time
/// zone (API.md §11.106), `| datetime("Africa/Lagos")` → `1 Mar 2026, 10:30 WAT (Africa/Lagos)`;
/// empty for none, other text unchanged (and an unknown zone reads as UTC).
pub fn datetime(value: Value, zone: Option<String>) -> String {
    let Some(text) = value.as_str() else {
        return String::new();
    };
    let Ok(t) = DateTime::parse_from_rfc3339(text) else {
        return text.to_string();
    };
    match zone
        .as_deref()
        .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
    {
        Some(tz) if tz != chrono_tz::UTC => {
            let local = t.with_timezone(&tz);
            format!("{} ({})", local.format("%-d %b %Y, %H:%M %Z"), tz.name())
        }
        _ => t
            .with_timezone(&Utc)
            .format("%-d %b %Y, %H:%M UTC")
            .to_string(),
    }
}

/// A query-string value: `"Jazz & Soul" | urlencode` → `Jazz+%26+Soul`.
pub fn urlencode(value: String) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `0.8571 | percent` → `85.7%`; `—` for none (a rate whose denominator is 0).
pub fn percent(value: Value) -> String {
    match f64::try_from(value) {
        Ok(v) if v.is_finite() => format!("{:.1}%", v * 100.0),
        _ => "—".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_the_currencys_major_units_with_its_symbol() {
        assert_eq!(money(500_000, "NGN"), "₦5,000.00");
        assert_eq!(money(1250, "usd"), "$12.50");
        assert_eq!(money(1200, "JPY"), "¥1,200");
        assert_eq!(money(5, "USD"), "$0.05");
        assert_eq!(money(-250, "USD"), "-$2.50");
        assert_eq!(money(1_234_567, "KWD"), "KWD 1,234.567");
        assert_eq!(money(123_456_789, "XYZ"), "XYZ 1,234,567.89");
    }

    #[test]
    fn instants_name_their_zone_and_rates_read_as_percentages() {
        assert_eq!(
            datetime(Value::from("2026-03-01T09:30:00Z"), None),
            "1 Mar 2026, 09:30 UTC"
        );
        assert_eq!(
            datetime(
                Value::from("2026-03-01T09:30:00Z"),
                Some("Africa/Lagos".into())
            ),
            "1 Mar 2026, 10:30 WAT (Africa/Lagos)"
        );
        assert_eq!(
            datetime(
                Value::from("2026-03-01T09:30:00Z"),
                Some("Nowhere/Else".into())
            ),
            "1 Mar 2026, 09:30 UTC"
        );
        assert_eq!(datetime(Value::from(()), None), "");
        assert_eq!(percent(Value::from(6.0 / 7.0)), "85.7%");
        assert_eq!(percent(Value::from(())), "—");
    }
}
