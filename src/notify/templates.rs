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

/// Whether rendering `name` draws images (QR codes): CPU work worth a blocking thread. The
/// other templates render in tens of microseconds, less than handing them to a thread costs.
pub fn renders_images(name: &str) -> bool {
    QR_TEMPLATES.contains(&name)
}

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
    let inline = if renders_images(name) {
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
#[path = "templates_tests.rs"]
mod tests;
