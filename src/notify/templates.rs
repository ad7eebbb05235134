//! Message templates: files under `src/notify/templates/`, embedded in the binary and rendered
//! with minijinja. An email template has a subject (`name.subject.txt`), an HTML part
//! (`name.html`, auto-escaped, on the shared `_layout.html`) and a plain-text part (`name.txt`);
//! an SMS template is one `name.txt`. `templates/README.md` lists the payload keys of each.
//!
//! Every template sees the payload's keys plus `product` and `base_url`, the function
//! `url(path)` (absolute link from `PUBLIC_BASE_URL`) and the filters `money(currency)` (minor
//! units → `NGN 5,000.00`) and `datetime` (RFC 3339 → `Thu, 31 Dec 2026 19:30 UTC`). A missing
//! required key, or an unknown template, is a [`RenderError`] (the worker fails the message).

use std::sync::OnceLock;

use minijinja::value::Value;
use minijinja::{Environment, State, UndefinedBehavior};

use super::Channel;

/// The product name shown in every message.
pub const PRODUCT: &str = "TicketMax";

/// One template: its name, channel and the payload keys it cannot do without.
#[derive(Debug, Clone, Copy)]
pub struct TemplateSpec {
    /// Name used in `NewMessage`.
    pub name: &'static str,
    /// Email or SMS.
    pub channel: Channel,
    /// Payload keys that must be present.
    pub required: &'static [&'static str],
    subject: &'static str,
    html: &'static str,
    text: &'static str,
}

macro_rules! email_template {
    ($name:literal, [$($key:literal),* $(,)?]) => {
        TemplateSpec {
            name: $name,
            channel: Channel::Email,
            required: &[$($key),*],
            subject: include_str!(concat!("templates/", $name, ".subject.txt")),
            html: include_str!(concat!("templates/", $name, ".html")),
            text: include_str!(concat!("templates/", $name, ".txt")),
        }
    };
}

macro_rules! sms_template {
    ($name:literal, [$($key:literal),* $(,)?]) => {
        TemplateSpec {
            name: $name,
            channel: Channel::Sms,
            required: &[$($key),*],
            subject: "",
            html: "",
            text: include_str!(concat!("templates/", $name, ".txt")),
        }
    };
}

/// Every template the server can send. Only the keys a message cannot make sense without are
/// required; the rest render when present (see `templates/README.md`).
pub const TEMPLATES: &[TemplateSpec] = &[
    email_template!(
        "verification_code",
        ["firstName", "code", "expiresInMinutes"]
    ),
    email_template!(
        "password_reset_code",
        ["firstName", "code", "expiresInMinutes"]
    ),
    email_template!("welcome", ["firstName"]),
    email_template!(
        "booking_pending",
        [
            "customerName",
            "eventTitle",
            "reference",
            "totalAmount",
            "currency",
            "expiresAt"
        ]
    ),
    email_template!(
        "booking_confirmed",
        ["customerName", "eventTitle", "reference", "tickets"]
    ),
    email_template!(
        "booking_expired",
        ["customerName", "eventTitle", "reference"]
    ),
    email_template!(
        "booking_cancelled",
        ["customerName", "eventTitle", "reference"]
    ),
    email_template!(
        "refund_processed",
        ["customerName", "reference", "amount", "currency"]
    ),
    email_template!("event_cancelled", ["customerName", "eventTitle"]),
    email_template!(
        "event_reminder",
        ["customerName", "eventTitle", "eventStartsAt"]
    ),
    email_template!("organizer_application_started", ["firstName"]),
    email_template!("organizer_application_submitted", ["firstName"]),
    email_template!(
        "organizer_application_submitted_admin",
        ["applicantName", "applicantEmail"]
    ),
    email_template!("organizer_application_approved", ["firstName"]),
    email_template!("organizer_application_rejected", ["firstName"]),
    email_template!(
        "organizer_application_info_requested",
        ["firstName", "message"]
    ),
    sms_template!("sms_password_reset_code", ["code"]),
    sms_template!("sms_booking_confirmed", ["eventTitle", "reference"]),
    sms_template!("sms_event_reminder", ["eventTitle", "eventStartsAt"]),
    sms_template!("sms_phone_verification_code", ["code"]),
];

/// Why a message could not be rendered (a permanent failure: retrying cannot help).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// One-line subject.
    pub subject: String,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
    /// Images the HTML part shows as `cid:…` (sent with it as `multipart/related`).
    pub inline: Vec<InlineImage>,
    /// Files attached to the message (`multipart/mixed`).
    pub attachments: Vec<FileAttachment>,
}

/// A file carried by an email as an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAttachment {
    /// The name it is saved under.
    pub filename: String,
    /// Its `Content-Type`, parameters included.
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The `Content-Type` of the calendar a booking confirmation carries (RFC 5545 §8.1, with the
/// method of its `METHOD` property).
pub const CALENDAR_CONTENT_TYPE: &str = "text/calendar; charset=utf-8; method=PUBLISH";

/// An image carried inside an email and referenced from its HTML by `cid:{content_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineImage {
    /// The `Content-ID`, without angle brackets.
    pub content_id: String,
    /// PNG bytes.
    pub png: Vec<u8>,
}

/// The most tickets whose QR codes an email carries inline (each PNG is tens of KB); a larger
/// booking's email lists the codes and links to the booking instead (API.md §11.92).
pub const MAX_INLINE_QR: usize = 10;

/// Email templates that show their tickets' QR codes inline.
const QR_TEMPLATES: &[&str] = &["booking_confirmed"];

/// Email templates that carry the event as an `event.ics` attachment.
const CALENDAR_TEMPLATES: &[&str] = &["booking_confirmed"];

/// Renders the QR code of every `tickets[].code` as an inline PNG and gives the ticket its
/// `qrCid` (API.md §10: the booking email carries the tickets with their QR codes; a link to
/// the QR route would need a bearer token the reader of the email does not have).
fn inline_ticket_qrs(payload: &mut serde_json::Value) -> Vec<InlineImage> {
    let Some(tickets) = payload
        .get_mut("tickets")
        .and_then(serde_json::Value::as_array_mut)
    else {
        return Vec::new();
    };
    if tickets.len() > MAX_INLINE_QR {
        // A large order links to its tickets instead: its email stays small (API.md §11.92).
        if let Some(object) = payload.as_object_mut() {
            object.insert("qrLinked".into(), true.into());
        }
        return Vec::new();
    }
    let mut images = Vec::new();
    for (i, ticket) in tickets.iter_mut().enumerate() {
        let Some(code) = ticket.get("code").and_then(serde_json::Value::as_str) else {
            continue;
        };
        let Some(png) = crate::bookings::qr::png(code) else {
            continue;
        };
        let content_id = format!("ticket-{}-qr@ticketmax", i + 1);
        if let Some(object) = ticket.as_object_mut() {
            object.insert("qrCid".into(), content_id.clone().into());
            images.push(InlineImage { content_id, png });
        }
    }
    images
}

/// The template of this name.
pub fn spec(name: &str) -> Option<&'static TemplateSpec> {
    TEMPLATES.iter().find(|t| t.name == name)
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Optional keys may be tested with `{% if key %}`; printing a missing one is an error.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_formatter(html_formatter);
        env.add_function("url", url);
        env.add_filter("money", money);
        env.add_filter("datetime", datetime);
        let shared = [
            ("_layout.html", include_str!("templates/_layout.html")),
            ("_footer.txt", include_str!("templates/_footer.txt")),
        ];
        for (name, source) in shared {
            env.add_template(name, source)
                .expect("shared templates are valid (checked by tests)");
        }
        for t in TEMPLATES {
            let files = [
                (format!("{}.subject.txt", t.name), t.subject),
                (format!("{}.html", t.name), t.html),
                (format!("{}.txt", t.name), t.text),
            ];
            for (name, source) in files {
                if !source.is_empty() {
                    env.add_template_owned(name, source)
                        .expect("embedded templates are valid (checked by tests)");
                }
            }
        }
        env
    })
}

/// HTML-escapes `& < > " '` in HTML templates (minijinja's default also escapes `/`, which
/// turns every link into `https:&#x2f;&#x2f;…`: valid, but unreadable in the source and in
/// tests); everything else goes to the default formatter.
pub(crate) fn html_formatter(
    out: &mut minijinja::Output,
    state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let plain = matches!(state.auto_escape(), minijinja::AutoEscape::Html)
        && !value.is_safe()
        && matches!(
            value.kind(),
            minijinja::value::ValueKind::String | minijinja::value::ValueKind::Number
        );
    if !plain {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value.to_string();
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            c => escaped.push(c),
        }
    }
    out.write_str(&escaped)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
}

/// `url("/api/events")` → `{base_url}/api/events`; absolute URLs pass through.
fn url(state: &State, path: String) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        return path;
    }
    let base = state
        .lookup("base_url")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}

/// Currencies whose minor unit is the unit itself.
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// `500000 | money("NGN")` → `NGN 5,000.00`.
pub fn money(amount: i64, currency: String) -> String {
    let currency = currency.to_ascii_uppercase();
    let negative = amount < 0;
    let abs = amount.unsigned_abs();
    let (units, cents) = if ZERO_DECIMAL.contains(&currency.as_str()) {
        (abs, None)
    } else {
        (abs / 100, Some(abs % 100))
    };
    let digits = units.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if negative { "-" } else { "" };
    match cents {
        Some(c) => format!("{currency} {sign}{grouped}.{c:02}"),
        None => format!("{currency} {sign}{grouped}"),
    }
}

/// `"2026-12-31T19:30:00Z" | datetime` → `Thu, 31 Dec 2026 19:30 UTC`; other text unchanged.
/// An RFC 3339 time for people, in the IANA time zone `zone` when one is given (an event's,
/// API.md §11.106), named after the time: `Sat, 12 Dec 2026 19:30 WAT (Africa/Lagos)`; in UTC
/// otherwise. Anything else is shown as it is.
pub fn datetime(value: String, zone: Option<String>) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(&value) else {
        return value;
    };
    match zone
        .as_deref()
        .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
    {
        Some(tz) if tz != chrono_tz::UTC => {
            let local = t.with_timezone(&tz);
            format!("{} ({})", local.format("%a, %d %b %Y %H:%M %Z"), tz.name())
        }
        _ => t
            .with_timezone(&chrono::Utc)
            .format("%a, %d %b %Y %H:%M UTC")
            .to_string(),
    }
}

/// Links the templates show, when the payload allows them. Booking links open the web pages
/// (`/bookings/{id}`, `/checkout/{id}`), with the guest token as `?token=` for a guest.
struct Links {
    booking: Option<String>,
    tickets_pdf: Option<String>,
    pay: Option<String>,
    application: Option<String>,
}

/// `bookingUrl` / `payUrl` / `applicationUrl` as given (made absolute), else built from
/// `bookingId` (+ `guestToken`) and `applicationId`; the PDF tickets' link from `bookingId`.
fn links(payload: &serde_json::Map<String, serde_json::Value>, base: &str) -> Links {
    let text = |key: &str| match payload.get(key) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let absolute = |link: String| {
        if link.starts_with("http://") || link.starts_with("https://") {
            link
        } else if link.starts_with('/') {
            format!("{base}{link}")
        } else {
            format!("{base}/{link}")
        }
    };
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let token = text("guestToken")
        .map(|t| format!("?token={}", encode(&t)))
        .unwrap_or_default();
    let page = |path: &str| {
        text("bookingId").map(|id| format!("{base}{}{token}", path.replace("{id}", &encode(&id))))
    };
    Links {
        booking: text("bookingUrl")
            .map(absolute)
            .or_else(|| page("/bookings/{id}")),
        tickets_pdf: page("/bookings/{id}/tickets.pdf"),
        pay: text("payUrl")
            .map(absolute)
            .or_else(|| page("/checkout/{id}")),
        application: text("applicationUrl").map(absolute).or_else(|| {
            text("applicationId").map(|id| format!("{base}/api/organizer/{}", encode(&id)))
        }),
    }
}

/// The `event.ics` of a booking confirmation (API.md §11.107): the event's start and end, its
/// place, the booking's reference and what was bought, and the booking page's link. `None`
/// without a `bookingId` and a readable `eventStartsAt` (a calendar entry needs both).
fn booking_calendar(
    payload: &serde_json::Map<String, serde_json::Value>,
    base: &str,
    booking_link: Option<&str>,
) -> Option<FileAttachment> {
    let text = |key: &str| {
        payload
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let instant = |key: &str| {
        text(key)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let booking_id = text("bookingId")?;
    let starts_at = instant("eventStartsAt")?;
    let place = [text("venue"), text("location")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let mut description = Vec::new();
    if let Some(reference) = text("reference") {
        description.push(format!("Booking {reference}"));
    }
    if let Some(ticket_type) = text("ticketTypeName") {
        let quantity = payload
            .get("quantity")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(1);
        description.push(format!("{ticket_type} × {quantity}"));
    }
    if let Some(link) = booking_link {
        description.push(format!("Your booking: {link}"));
    }
    let event = super::ics::CalendarEvent {
        uid: format!("{booking_id}@{}", super::ics::host_of(base)),
        stamp: chrono::Utc::now(),
        starts_at,
        ends_at: instant("eventEndsAt"),
        summary: text("eventTitle").unwrap_or(PRODUCT).to_string(),
        location: (!place.is_empty()).then_some(place),
        description: Some(description.join("\n")),
        url: booking_link.map(str::to_string),
    };
    Some(FileAttachment {
        filename: "event.ics".into(),
        content_type: CALENDAR_CONTENT_TYPE.into(),
        body: super::ics::calendar(&event).into_bytes(),
    })
}

fn context(
    spec: &TemplateSpec,
    payload: &serde_json::Value,
    base_url: &str,
) -> Result<Value, RenderError> {
    let Some(object) = payload.as_object() else {
        return Err(RenderError(format!(
            "template {}: the payload must be a JSON object",
            spec.name
        )));
    };
    let missing: Vec<&str> = spec
        .required
        .iter()
        .copied()
        .filter(|k| object.get(*k).is_none_or(serde_json::Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(RenderError(format!(
            "template {}: missing payload key(s) {}",
            spec.name,
            missing.join(", ")
        )));
    }
    let base = base_url.trim_end_matches('/');
    let mut ctx = object.clone();
    ctx.insert("product".into(), PRODUCT.into());
    ctx.insert("base_url".into(), base.into());
    let links = links(object, base);
    for (key, link) in [
        ("booking_link", links.booking),
        ("tickets_pdf_link", links.tickets_pdf),
        ("pay_link", links.pay),
        ("application_link", links.application),
    ] {
        if let Some(link) = link {
            ctx.insert(key.into(), link.into());
        }
    }
    Ok(Value::from(minijinja::value::Serde(ctx)))
}

fn render_one(name: &str, ctx: &Value) -> Result<String, RenderError> {
    let template = environment()
        .get_template(name)
        .map_err(|e| RenderError(format!("template {name}: {e}")))?;
    template
        .render(ctx)
        .map_err(|e| RenderError(format!("template {name}: {e}")))
}

fn lookup(name: &str, channel: Channel) -> Result<&'static TemplateSpec, RenderError> {
    let spec = spec(name).ok_or_else(|| RenderError(format!("unknown template {name:?}")))?;
    if spec.channel != channel {
        return Err(RenderError(format!(
            "template {name} is not an {} template",
            channel.as_str()
        )));
    }
    Ok(spec)
}

/// Renders an email template: subject, HTML part and text part.
pub fn render_email(
    name: &str,
    payload: &serde_json::Value,
    base_url: &str,
) -> Result<RenderedEmail, RenderError> {
    let spec = lookup(name, Channel::Email)?;
    let mut payload = payload.clone();
    let inline = if QR_TEMPLATES.contains(&name) {
        inline_ticket_qrs(&mut payload)
    } else {
        Vec::new()
    };
    let ctx = context(spec, &payload, base_url)?;
    let subject = render_one(&format!("{name}.subject.txt"), &ctx)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut attachments = Vec::new();
    if CALENDAR_TEMPLATES.contains(&name)
        && let Some(object) = payload.as_object()
    {
        let base = base_url.trim_end_matches('/');
        let booking_link = links(object, base).booking;
        attachments.extend(booking_calendar(object, base, booking_link.as_deref()));
    }
    Ok(RenderedEmail {
        subject,
        html: render_one(&format!("{name}.html"), &ctx)?,
        text: render_one(&format!("{name}.txt"), &ctx)?,
        inline,
        attachments,
    })
}

/// Renders an SMS template to its one-line body.
pub fn render_sms(
    name: &str,
    payload: &serde_json::Value,
    base_url: &str,
) -> Result<String, RenderError> {
    let spec = lookup(name, Channel::Sms)?;
    let ctx = context(spec, payload, base_url)?;
    Ok(render_one(&format!("{name}.txt"), &ctx)?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "https://tickets.example.com";

    /// Sample data covering every key any template reads.
    fn sample() -> serde_json::Value {
        json!({
            "firstName": "Ada",
            "customerName": "Ada Obi",
            "code": "482913",
            "expiresInMinutes": 15,
            "eventTitle": "Lagos Jazz Night",
            "eventStartsAt": "2026-12-31T19:30:00Z",
            "venue": "Muri Okunola Park",
            "location": "Ikoyi, Lagos",
            "timezone": "Africa/Lagos",
            "ticketTypeName": "VIP",
            "quantity": 2,
            "reference": "TM-7F3K2Q",
            "bookingId": "0190a3b2-0000-7000-8000-000000000001",
            "totalAmount": 1050000,
            "amount": 500000,
            "refundAmount": 500000,
            "currency": "NGN",
            "expiresAt": "2026-12-01T10:10:00Z",
            "payUrl": "/api/payments/test/checkout/PAY-123",
            "tickets": [
                {"code": "TK-1", "ticketTypeName": "VIP", "qrUrl": "/api/tickets/TK-1/qr"},
                {"code": "TK-2", "ticketTypeName": "Regular"}
            ],
            "reason": "The venue flooded",
            "message": "Please upload a clearer ID.",
            "applicationId": "0190a3b2-0000-7000-8000-0000000000aa",
            "applicantName": "Ada Obi",
            "applicantEmail": "ada@example.com",
            "organizationName": "Obi Events",
        })
    }

    #[test]
    fn every_template_renders_with_sample_data() {
        for t in TEMPLATES {
            match t.channel {
                Channel::Email => {
                    let r = render_email(t.name, &sample(), BASE)
                        .unwrap_or_else(|e| panic!("{}: {e}", t.name));
                    assert!(!r.subject.is_empty(), "{}", t.name);
                    assert!(!r.subject.contains('\n'), "{}", t.name);
                    assert!(r.html.contains("<html"), "{}", t.name);
                    assert!(r.html.contains(PRODUCT), "{}", t.name);
                    assert!(r.text.contains(PRODUCT), "{}", t.name);
                    assert!(!r.text.contains('<'), "{}: text part has markup", t.name);
                }
                Channel::Sms => {
                    let body = render_sms(t.name, &sample(), BASE)
                        .unwrap_or_else(|e| panic!("{}: {e}", t.name));
                    assert!(body.starts_with(PRODUCT), "{}", t.name);
                    assert!(body.len() <= 320, "{}: {} chars", t.name, body.len());
                }
            }
        }
    }

    #[test]
    fn every_template_named_in_the_contract_exists() {
        let names = [
            "verification_code",
            "password_reset_code",
            "welcome",
            "booking_pending",
            "booking_confirmed",
            "booking_expired",
            "booking_cancelled",
            "refund_processed",
            "event_cancelled",
            "event_reminder",
            "organizer_application_started",
            "organizer_application_submitted",
            "organizer_application_submitted_admin",
            "organizer_application_approved",
            "organizer_application_rejected",
            "organizer_application_info_requested",
            "sms_password_reset_code",
            "sms_booking_confirmed",
            "sms_event_reminder",
            "sms_phone_verification_code",
        ];
        for n in names {
            assert!(spec(n).is_some(), "{n} missing");
        }
        assert_eq!(TEMPLATES.len(), names.len());
    }

    #[test]
    fn links_are_built_from_the_public_base_url() {
        let r = render_email("booking_confirmed", &sample(), BASE).unwrap();
        let page = format!("{BASE}/bookings/0190a3b2-0000-7000-8000-000000000001");
        let pdf = format!("{page}/tickets.pdf");
        for link in [&page, &pdf] {
            assert!(r.html.contains(&format!("href=\"{link}\"")), "{}", r.html);
        }
        assert!(
            r.text.contains(&format!("Your booking: {page}\n")),
            "{}",
            r.text
        );
        assert!(
            r.text.contains(&format!("Tickets to print (PDF): {pdf}\n")),
            "{}",
            r.text
        );
        assert!(
            !r.text.contains("/api/bookings"),
            "links open pages: {}",
            r.text
        );
        assert!(
            !r.html.contains("/api/tickets/TK-1/qr"),
            "the QR route needs a token"
        );
        let pending = render_email("booking_pending", &sample(), BASE).unwrap();
        assert!(
            pending
                .html
                .contains(&format!("{BASE}/api/payments/test/checkout/PAY-123"))
        );
        assert!(pending.text.contains("NGN 10,500.00"), "{}", pending.text);
    }

    #[test]
    fn guest_bookings_link_with_their_token() {
        let mut p = sample();
        p["guestToken"] = json!("gt_abc123");
        let r = render_email("booking_confirmed", &p, BASE).unwrap();
        let page = format!("{BASE}/bookings/0190a3b2-0000-7000-8000-000000000001");
        assert!(
            r.text
                .contains(&format!("Your booking: {page}?token=gt_abc123\n")),
            "{}",
            r.text
        );
        assert!(
            r.text.contains(&format!(
                "Tickets to print (PDF): {page}/tickets.pdf?token=gt_abc123\n"
            )),
            "{}",
            r.text
        );
        p["bookingId"] = json!("0190a3b2-0000-7000-8000-000000000009");
        let cancelled = render_email("booking_cancelled", &p, BASE).unwrap();
        assert!(
            cancelled.text.contains(&format!(
                "{BASE}/bookings/0190a3b2-0000-7000-8000-000000000009?token=gt_abc123"
            )),
            "{}",
            cancelled.text
        );
    }

    #[test]
    fn an_expired_booking_offers_its_event_page_to_book_again() {
        let mut p = sample();
        let r = render_email("booking_expired", &p, BASE).unwrap();
        assert!(
            r.text.contains(&format!("Book again: {BASE}/\n")),
            "{}",
            r.text
        );
        p["eventId"] = json!("0190a3b2-0000-7000-8000-0000000000ee");
        let r = render_email("booking_expired", &p, BASE).unwrap();
        let page = format!("{BASE}/events/0190a3b2-0000-7000-8000-0000000000ee");
        assert!(
            r.text.contains(&format!("Book again: {page}\n")),
            "{}",
            r.text
        );
        assert!(r.html.contains(&format!("href=\"{page}\"")), "{}", r.html);
    }

    #[test]
    fn a_reminder_links_to_the_tickets_and_says_when_in_the_events_time_zone() {
        let mut p = sample();
        p["guestToken"] = json!("gt_abc123");
        p["bookingUrl"] = json!(format!(
            "{BASE}/bookings/0190a3b2-0000-7000-8000-000000000001?token=gt_abc123"
        ));
        let r = render_email("event_reminder", &p, BASE).unwrap();
        assert!(
            r.text
                .contains("starts Thu, 31 Dec 2026 20:30 WAT (Africa/Lagos)"),
            "{}",
            r.text
        );
        let page = format!("{BASE}/bookings/0190a3b2-0000-7000-8000-000000000001");
        assert!(
            r.text
                .contains(&format!("Your tickets: {page}?token=gt_abc123\n")),
            "{}",
            r.text
        );
        assert!(
            r.text.contains(&format!(
                "Tickets to print (PDF): {page}/tickets.pdf?token=gt_abc123\n"
            )),
            "{}",
            r.text
        );
    }

    #[test]
    fn the_pay_link_opens_the_checkout_page() {
        let mut p = sample();
        p.as_object_mut().unwrap().remove("payUrl");
        let r = render_email("booking_pending", &p, BASE).unwrap();
        let checkout = format!("{BASE}/checkout/0190a3b2-0000-7000-8000-000000000001");
        assert!(
            r.text.contains(&format!("Pay now: {checkout}\n")),
            "{}",
            r.text
        );
        p["guestToken"] = json!("gt_a+b");
        let r = render_email("booking_pending", &p, BASE).unwrap();
        assert!(
            r.text
                .contains(&format!("Pay now: {checkout}?token=gt_a%2Bb\n")),
            "{}",
            r.text
        );
    }

    #[test]
    fn a_confirmation_carries_the_event_as_an_ics_attachment() {
        let mut p = sample();
        p["eventEndsAt"] = json!("2026-12-31T23:00:00Z");
        p["guestToken"] = json!("gt_abc123");
        let r = render_email("booking_confirmed", &p, BASE).unwrap();
        assert_eq!(r.attachments.len(), 1);
        let ics = &r.attachments[0];
        assert_eq!(ics.filename, "event.ics");
        assert_eq!(
            ics.content_type,
            "text/calendar; charset=utf-8; method=PUBLISH"
        );
        let body = String::from_utf8(ics.body.clone()).unwrap();
        let unfolded = body.replace("\r\n ", "");
        let page = format!("{BASE}/bookings/0190a3b2-0000-7000-8000-000000000001?token=gt_abc123");
        for line in [
            "UID:0190a3b2-0000-7000-8000-000000000001@tickets.example.com".to_string(),
            "DTSTART:20261231T193000Z".to_string(),
            "DTEND:20261231T230000Z".to_string(),
            "SUMMARY:Lagos Jazz Night".to_string(),
            "LOCATION:Muri Okunola Park\\, Ikoyi\\, Lagos".to_string(),
            format!("DESCRIPTION:Booking TM-7F3K2Q\\nVIP × 2\\nYour booking: {page}"),
            format!("URL:{page}"),
        ] {
            assert!(
                unfolded.contains(&format!("\r\n{line}\r\n")),
                "{line} in {body}"
            );
        }
        assert!(r.text.contains("event.ics"), "{}", r.text);
        let welcome = render_email("welcome", &sample(), BASE).unwrap();
        assert!(welcome.attachments.is_empty());
    }

    #[test]
    fn a_confirmation_without_a_start_or_booking_id_has_no_calendar() {
        let mut p = sample();
        p.as_object_mut().unwrap().remove("eventStartsAt");
        let r = render_email("booking_confirmed", &p, BASE).unwrap();
        assert!(r.attachments.is_empty());
        assert!(!r.text.contains("event.ics"), "{}", r.text);
    }

    #[test]
    fn user_text_is_escaped_in_html_but_not_in_text() {
        let mut p = sample();
        p["eventTitle"] = json!("<script>alert('x')</script> & Co");
        let r = render_email("booking_confirmed", &p, BASE).unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.text.contains("<script>alert('x')</script> & Co"));
        assert!(
            r.subject.contains("<script>"),
            "the subject is a header, not HTML"
        );
    }

    #[test]
    fn a_missing_required_key_is_a_clear_error() {
        let mut p = sample();
        p.as_object_mut().unwrap().remove("code");
        let err = render_email("verification_code", &p, BASE).unwrap_err();
        assert_eq!(
            err.0,
            "template verification_code: missing payload key(s) code"
        );
    }

    #[test]
    fn an_unknown_template_or_wrong_channel_is_an_error() {
        let err = render_email("no_such_template", &sample(), BASE).unwrap_err();
        assert!(err.0.contains("unknown template"), "{err}");
        assert!(render_email("sms_booking_confirmed", &sample(), BASE).is_err());
        assert!(render_sms("welcome", &sample(), BASE).is_err());
        assert!(render_email("welcome", &json!([1, 2]), BASE).is_err());
    }

    #[test]
    fn each_ticket_gets_an_inline_qr_png_referenced_by_cid_and_the_text_lists_the_codes() {
        let r = render_email("booking_confirmed", &sample(), BASE).unwrap();
        assert_eq!(r.inline.len(), 2);
        for (i, (image, code)) in r.inline.iter().zip(["TK-1", "TK-2"]).enumerate() {
            assert_eq!(image.content_id, format!("ticket-{}-qr@ticketmax", i + 1));
            assert!(image.png.starts_with(b"\x89PNG\r\n\x1a\n"));
            assert_eq!(Some(image.png.clone()), crate::bookings::qr::png(code));
            assert!(
                r.html
                    .contains(&format!("src=\"cid:{}\"", image.content_id)),
                "{}",
                r.html
            );
            assert!(r.text.contains(code), "{}", r.text);
        }
        let other = render_email("welcome", &sample(), BASE).unwrap();
        assert!(other.inline.is_empty());
    }

    #[test]
    fn optional_keys_may_be_left_out() {
        let p = json!({
            "customerName": "Ada", "eventTitle": "Show", "reference": "R1",
            "bookingId": "b1", "eventStartsAt": "2026-12-31T19:30:00Z", "tickets": []
        });
        let r = render_email("booking_confirmed", &p, BASE).unwrap();
        assert!(!r.text.contains("Where:"));
    }

    #[test]
    fn payloads_with_only_the_required_keys_render() {
        for t in TEMPLATES {
            let p: serde_json::Map<String, serde_json::Value> = sample()
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| t.required.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let p = serde_json::Value::Object(p);
            let ok = match t.channel {
                Channel::Email => render_email(t.name, &p, BASE).map(|_| ()),
                Channel::Sms => render_sms(t.name, &p, BASE).map(|_| ()),
            };
            ok.unwrap_or_else(|e| panic!("{}: {e}", t.name));
        }
    }

    #[test]
    fn a_given_absolute_link_is_kept_and_a_path_is_made_absolute() {
        let mut p = sample();
        p["payUrl"] = json!("https://pay.example.com/checkout/1");
        let r = render_email("booking_pending", &p, BASE).unwrap();
        assert!(
            r.text
                .contains("Pay now: https://pay.example.com/checkout/1"),
            "{}",
            r.text
        );
        p["payUrl"] = json!("/checkout/1?token=a&b");
        let r = render_email("booking_pending", &p, BASE).unwrap();
        assert!(r.text.contains(&format!("{BASE}/checkout/1?token=a&b")));
        assert!(r.html.contains(&format!("{BASE}/checkout/1?token=a&amp;b")));
    }

    #[test]
    fn booking_flow_payloads_without_ids_or_currency_render() {
        let confirmed = json!({
            "customerName": "Ada", "eventTitle": "Show", "reference": "R1",
            "tickets": [{"code": "TK-1", "qrUrl": "https://t.example.com/api/bookings/b/tickets/t/qr"}],
        });
        let r = render_email("booking_confirmed", &confirmed, BASE).unwrap();
        assert!(
            r.html.contains("src=\"cid:ticket-1-qr@ticketmax\""),
            "{}",
            r.html
        );
        assert!(!r.html.contains("t.example.com"), "{}", r.html);
        let cancelled = json!({
            "customerName": "Ada", "eventTitle": "Show", "reference": "R1",
            "reason": null, "refundAmount": 2500, "quantity": 1,
        });
        let r = render_email("booking_cancelled", &cancelled, BASE).unwrap();
        assert!(r.text.contains("A refund of what you paid"), "{}", r.text);
        let event = json!({"customerName": "Ada", "eventTitle": "Show", "reason": "Rain", "refundAmount": 0});
        let r = render_email("event_cancelled", &event, BASE).unwrap();
        assert!(r.text.contains("The organizer says: Rain"));
    }

    #[test]
    fn codes_stay_out_of_subjects_so_the_log_transport_never_shows_them() {
        for t in TEMPLATES.iter().filter(|t| t.channel == Channel::Email) {
            let r = render_email(t.name, &sample(), BASE).unwrap();
            assert!(!r.subject.contains("482913"), "{}: {}", t.name, r.subject);
        }
    }

    #[test]
    fn money_formats_minor_units() {
        assert_eq!(money(500000, "NGN".into()), "NGN 5,000.00");
        assert_eq!(money(5, "usd".into()), "USD 0.05");
        assert_eq!(money(1234567, "JPY".into()), "JPY 1,234,567");
        assert_eq!(money(-150, "EUR".into()), "EUR -1.50");
    }

    #[test]
    fn datetime_formats_rfc3339_and_leaves_other_text() {
        assert_eq!(
            datetime("2026-12-31T19:30:00Z".into(), None),
            "Thu, 31 Dec 2026 19:30 UTC"
        );
        assert_eq!(datetime("tomorrow".into(), None), "tomorrow");
    }

    #[test]
    fn datetime_shows_the_events_time_zone_by_name() {
        assert_eq!(
            datetime("2026-12-31T19:30:00Z".into(), Some("Africa/Lagos".into())),
            "Thu, 31 Dec 2026 20:30 WAT (Africa/Lagos)"
        );
        assert_eq!(
            datetime(
                "2026-07-01T12:00:00Z".into(),
                Some("America/New_York".into())
            ),
            "Wed, 01 Jul 2026 08:00 EDT (America/New_York)"
        );
        assert_eq!(
            datetime("2026-12-31T19:30:00Z".into(), Some("UTC".into())),
            "Thu, 31 Dec 2026 19:30 UTC"
        );
    }

    #[test]
    fn a_confirmation_says_when_where_what_and_how_much() {
        let text = render_email("booking_confirmed", &with_tickets(1), BASE)
            .unwrap()
            .text;
        assert!(
            text.contains("When: Thu, 31 Dec 2026 20:30 WAT (Africa/Lagos)"),
            "{text}"
        );
        assert!(
            text.contains("Where: Muri Okunola Park, Ikoyi, Lagos"),
            "{text}"
        );
        assert!(text.contains("What: 2 × VIP"), "{text}");
        assert!(text.contains("Paid: NGN 10,500.00"), "{text}");
    }

    #[test]
    fn a_confirmation_without_a_venue_names_only_the_location() {
        let mut p = sample();
        p["venue"] = serde_json::Value::Null;
        let r = render_email("booking_confirmed", &p, BASE).unwrap();
        assert!(r.text.contains("Where: Ikoyi, Lagos\n"), "{}", r.text);
        assert!(r.html.contains("Where: Ikoyi, Lagos<br>"), "{}", r.html);
    }

    fn with_tickets(n: usize) -> serde_json::Value {
        let mut payload = sample();
        payload["tickets"] = (0..n)
            .map(|i| json!({"code": format!("TK-{i}"), "ticketTypeName": "Regular"}))
            .collect();
        payload
    }

    #[test]
    fn up_to_ten_tickets_carry_their_qr_codes_inline() {
        let r = render_email("booking_confirmed", &with_tickets(MAX_INLINE_QR), BASE).unwrap();
        assert_eq!(r.inline.len(), MAX_INLINE_QR);
        assert!(r.html.contains("Show the QR code at the entrance"));
        // Everything the message carries, base64 included, stays far below 2 MB (§11.92).
        let parts = r.html.len()
            + r.text.len()
            + r.inline.iter().map(|i| i.png.len()).sum::<usize>()
            + r.attachments.iter().map(|a| a.body.len()).sum::<usize>();
        assert_eq!(r.attachments.len(), 1, "the event.ics");
        assert!(parts * 4 / 3 < 2 * 1024 * 1024, "{parts} bytes");
    }

    #[test]
    fn a_larger_order_links_to_its_tickets_and_its_email_stays_small() {
        let r = render_email("booking_confirmed", &with_tickets(1000), BASE).unwrap();
        assert!(r.inline.is_empty(), "no inline QR beyond ten tickets");
        assert!(
            r.html.contains(
                "1000 tickets and their QR codes are on your booking page and in the PDF"
            )
        );
        assert!(r.text.contains("TK-999"), "every code is still listed");
        let size = r.html.len() + r.text.len();
        assert!(size < 2 * 1024 * 1024, "{size} bytes");
    }
}
