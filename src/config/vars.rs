//! Typed reads of raw variables: a blank value counts as unset, and a value that does not parse
//! is an error naming its variable.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use super::{ConfigError, Tier, bad};

/// Reads variables from a map: the process environment plus `.env`, or a test's own map.
pub(super) struct Vars<'a>(pub(super) &'a HashMap<String, String>);

impl Vars<'_> {
    /// The trimmed value; None when unset or blank.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub(super) fn string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    pub(super) fn parse<T: FromStr>(
        &self,
        key: &'static str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| bad(key, format!("cannot parse {v:?}"))),
        }
    }

    /// `1`, `true`, `yes`, `on` or their opposites, in any case.
    pub(super) fn boolean(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(bad(key, format!("expected true or false, got {v:?}"))),
        }
    }

    /// The option named by the value (in any case), or `default` when unset; any other value is
    /// an error saying `expected`.
    pub(super) fn choice<T: Copy>(
        &self,
        key: &'static str,
        default: T,
        options: &[(&str, T)],
        expected: &str,
    ) -> Result<T, ConfigError> {
        let Some(raw) = self.get(key) else {
            return Ok(default);
        };
        options
            .iter()
            .find(|(name, _)| raw.eq_ignore_ascii_case(name))
            .map(|&(_, option)| option)
            .ok_or_else(|| bad(key, expected))
    }

    /// A comma-separated list, blank entries dropped.
    pub(super) fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A cap: a whole number, where `0` means no cap (`None`).
    pub(super) fn cap(&self, key: &'static str, default: u32) -> Result<Option<u32>, ConfigError> {
        Ok(Some(self.parse(key, default)?).filter(|&n| n > 0))
    }

    /// A duration with a unit, see [`parse_duration`].
    pub(super) fn duration(
        &self,
        key: &'static str,
        default: &str,
    ) -> Result<Duration, ConfigError> {
        let raw = self.get(key).unwrap_or(default);
        parse_duration(raw)
            .ok_or_else(|| bad(key, format!("expected a duration like 15m, got {raw:?}")))
    }

    pub(super) fn millis(&self, key: &'static str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.parse(key, default)?))
    }

    pub(super) fn secs(&self, key: &'static str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.parse(key, default)?))
    }

    /// A rate-limit tier from its window (ms) and limit variables, neither of them zero.
    pub(super) fn tier(
        &self,
        ttl: &'static str,
        limit: &'static str,
        default_ms: u64,
        default_limit: u32,
    ) -> Result<Tier, ConfigError> {
        let window = self.millis(ttl, default_ms)?;
        let limit_value = self.parse(limit, default_limit)?;
        if window.is_zero() {
            return Err(bad(ttl, "must be greater than zero"));
        }
        if limit_value == 0 {
            return Err(bad(limit, "must be greater than zero"));
        }
        Ok(Tier {
            limit: limit_value,
            window,
        })
    }
}

/// Parses `900`, `900s`, `15m`, `2h`, `30d` into a duration (a bare number is seconds).
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (num, unit) = raw.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => return Some(Duration::from_millis(n)),
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("abc"), None);
    }
}
