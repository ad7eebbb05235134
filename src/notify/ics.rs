//! iCalendar (RFC 5545) files: the `event.ics` a booking confirmation carries, so the buyer's
//! calendar holds the event's start, end and place.
//!
//! Text values are escaped (§3.3.11), lines are folded at 75 octets without splitting a UTF-8
//! character (§3.1) and end with CRLF; times are written in UTC (`YYYYMMDDTHHMMSSZ`).

use chrono::{DateTime, Duration, Utc};

/// The product identifier of every calendar the server writes.
pub const PRODID: &str = "-//TicketMax//Tickets//EN";

/// How long an event without an end is taken to last in a calendar: a calendar entry needs an
/// end, and two hours covers a typical concert or show without claiming the whole evening.
pub const DEFAULT_LENGTH: Duration = Duration::hours(2);

/// One event to put in a calendar.
#[derive(Debug, Clone)]
pub struct CalendarEvent {
    /// Globally unique and stable: the same booking always gives the same `UID`.
    pub uid: String,
    /// When the file was written.
    pub stamp: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    /// The end (none: start + [`DEFAULT_LENGTH`]).
    pub ends_at: Option<DateTime<Utc>>,
    /// The title.
    pub summary: String,
    /// Venue and location.
    pub location: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
}

/// A `VCALENDAR` with this one `VEVENT`, published (not an invitation), lines folded and ended
/// with CRLF.
pub fn calendar(event: &CalendarEvent) -> String {
    let ends_at = event
        .ends_at
        .filter(|end| *end > event.starts_at)
        .unwrap_or(event.starts_at + DEFAULT_LENGTH);
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        format!("PRODID:{PRODID}"),
        "CALSCALE:GREGORIAN".to_string(),
        "METHOD:PUBLISH".to_string(),
        "BEGIN:VEVENT".to_string(),
        format!("UID:{}", text(&event.uid)),
        format!("DTSTAMP:{}", utc(event.stamp)),
        format!("DTSTART:{}", utc(event.starts_at)),
        format!("DTEND:{}", utc(ends_at)),
        format!("SUMMARY:{}", text(&event.summary)),
    ];
    if let Some(location) = event.location.as_deref().filter(|l| !l.is_empty()) {
        lines.push(format!("LOCATION:{}", text(location)));
    }
    if let Some(description) = event.description.as_deref().filter(|d| !d.is_empty()) {
        lines.push(format!("DESCRIPTION:{}", text(description)));
    }
    if let Some(url) = event.url.as_deref().filter(|u| !u.is_empty()) {
        // A URI value, not text: written as it is (RFC 5545 §3.3.13).
        lines.push(format!("URL:{url}"));
    }
    lines.push("END:VEVENT".to_string());
    lines.push("END:VCALENDAR".to_string());
    let mut out = String::new();
    for line in &lines {
        out.push_str(&fold(line));
    }
    out
}

/// An instant in the UTC form of a DATE-TIME: `20261231T193000Z`.
pub fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value: backslash, semicolon and comma escaped, line breaks as `\n`, other control
/// characters dropped (RFC 5545 §3.3.11 does not allow them).
pub fn text(value: &str) -> String {
    let value = value.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// One content line folded into lines of at most 75 octets (the continuations start with a
/// space, which counts), each ended with CRLF; a UTF-8 character is never split.
pub fn fold(line: &str) -> String {
    const LIMIT: usize = 75;
    let mut out = String::with_capacity(line.len() + line.len() / LIMIT * 3 + 2);
    let mut used = 0;
    for c in line.chars() {
        if used + c.len_utf8() > LIMIT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

/// The host of a base URL (`https://tickets.example.com:8443/x` → `tickets.example.com`), for
/// the right-hand side of a `UID`.
pub fn host_of(base_url: &str) -> String {
    let rest = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = if host.starts_with('[') {
        // An IPv6 literal keeps its brackets; only a port after them goes.
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    if host.is_empty() {
        "localhost".to_string()
    } else {
        host.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> CalendarEvent {
        CalendarEvent {
            uid: "0190a3b2-0000-7000-8000-000000000001@tickets.example.com".into(),
            stamp: Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 5).unwrap(),
            starts_at: Utc.with_ymd_and_hms(2026, 12, 31, 19, 30, 0).unwrap(),
            ends_at: Some(Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap()),
            summary: "Lagos Jazz Night".into(),
            location: Some("Muri Okunola Park, Ikoyi, Lagos".into()),
            description: Some("Booking TM-7KQ2X9PA\n2 × VIP".into()),
            url: Some("https://tickets.example.com/bookings/0190a3b2".into()),
        }
    }

    #[test]
    fn a_calendar_has_one_published_event_with_utc_times_and_crlf_lines() {
        let ics = calendar(&sample());
        assert!(
            ics.starts_with(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//TicketMax//Tickets//EN\r\n"
            )
        );
        assert!(ics.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
        assert!(ics.contains("\r\nMETHOD:PUBLISH\r\n"));
        assert_eq!(ics.matches("BEGIN:VEVENT").count(), 1);
        assert!(
            ics.contains("\r\nUID:0190a3b2-0000-7000-8000-000000000001@tickets.example.com\r\n")
        );
        assert!(ics.contains("\r\nDTSTAMP:20261201T100005Z\r\n"));
        assert!(ics.contains("\r\nDTSTART:20261231T193000Z\r\n"));
        assert!(ics.contains("\r\nDTEND:20261231T230000Z\r\n"));
        assert!(ics.contains("\r\nSUMMARY:Lagos Jazz Night\r\n"));
        assert!(ics.contains("\r\nLOCATION:Muri Okunola Park\\, Ikoyi\\, Lagos\r\n"));
        assert!(ics.contains("\r\nDESCRIPTION:Booking TM-7KQ2X9PA\\n2 × VIP\r\n"));
        assert!(ics.contains("\r\nURL:https://tickets.example.com/bookings/0190a3b2\r\n"));
        assert!(
            !ics.replace("\r\n", "").contains('\n'),
            "only CRLF line ends"
        );
        assert!(
            !ics.replace("\r\n", "").contains('\r'),
            "only CRLF line ends"
        );
    }

    #[test]
    fn times_are_converted_to_utc() {
        let lagos = chrono::FixedOffset::east_opt(3600).unwrap();
        let local = lagos.with_ymd_and_hms(2026, 12, 31, 20, 30, 0).unwrap();
        assert_eq!(utc(local.with_timezone(&Utc)), "20261231T193000Z");
    }

    #[test]
    fn an_event_without_an_end_lasts_two_hours() {
        let mut event = sample();
        event.ends_at = None;
        assert!(calendar(&event).contains("\r\nDTEND:20261231T213000Z\r\n"));
        event.ends_at = Some(event.starts_at);
        assert!(
            calendar(&event).contains("\r\nDTEND:20261231T213000Z\r\n"),
            "an empty span too"
        );
    }

    #[test]
    fn text_escapes_backslash_semicolon_comma_and_newlines() {
        assert_eq!(text(r"a\b;c,d"), r"a\\b\;c\,d");
        assert_eq!(text("one\r\ntwo\nthree\rfour"), r"one\ntwo\nthree\nfour");
        assert_eq!(text("bell\u{7}"), "bell");
        let mut event = sample();
        event.summary = "Rock; Roll, and \\ more".into();
        assert!(calendar(&event).contains("\r\nSUMMARY:Rock\\; Roll\\, and \\\\ more\r\n"));
    }

    #[test]
    fn long_lines_fold_at_75_octets() {
        let line = format!("DESCRIPTION:{}", "x".repeat(200));
        let folded = fold(&line);
        let parts: Vec<&str> = folded.trim_end_matches("\r\n").split("\r\n").collect();
        assert_eq!(parts[0].len(), 75);
        assert!(
            parts[1..]
                .iter()
                .all(|p| p.starts_with(' ') && p.len() <= 75)
        );
        assert_eq!(parts.concat().replace(' ', ""), line.replace(' ', ""));
        let short = fold("SUMMARY:Show");
        assert_eq!(short, "SUMMARY:Show\r\n");
    }

    #[test]
    fn folding_never_splits_a_multibyte_character() {
        // 73 ASCII octets, then "é" (2 octets) fits exactly; then "€" (3 octets) must move.
        let line = format!("{}é€tail", "a".repeat(73));
        let folded = fold(&line);
        assert_eq!(folded, format!("{}é\r\n €tail\r\n", "a".repeat(73)));
        // 74 ASCII octets: a 2-octet character would end at 76, so it starts the next line.
        let line = format!("{}éz", "a".repeat(74));
        assert_eq!(fold(&line), format!("{}\r\n éz\r\n", "a".repeat(74)));
        let long = "東京".repeat(60);
        for part in fold(&long).split("\r\n") {
            assert!(part.len() <= 75, "{}", part.len());
            assert!(std::str::from_utf8(part.as_bytes()).is_ok());
        }
        let unfolded: String = fold(&long).replace("\r\n ", "").trim_end().to_string();
        assert_eq!(unfolded, long);
    }

    #[test]
    fn the_uid_host_comes_from_the_base_url() {
        assert_eq!(
            host_of("https://Tickets.Example.com"),
            "tickets.example.com"
        );
        assert_eq!(host_of("http://localhost:3000/"), "localhost");
        assert_eq!(host_of("https://user@host.test:8443/app?x"), "host.test");
        assert_eq!(host_of("http://[::1]:3000"), "[::1]");
        assert_eq!(host_of(""), "localhost");
    }
}
