//! Tests of the templates: every template renders, escapes and formats as its messages need.

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

/// Asserts that a rendered part contains `needle`, printing the part when it does not.
#[track_caller]
fn assert_contains(part: &str, needle: &str) {
    assert!(part.contains(needle), "{needle:?} is not in:\n{part}");
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
        assert_contains(&r.html, &format!("href=\"{link}\""));
    }
    assert_contains(&r.text, &format!("Your booking: {page}\n"));
    assert_contains(&r.text, &format!("Tickets to print (PDF): {pdf}\n"));
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
    assert_contains(&pending.text, "NGN 10,500.00");
}

#[test]
fn guest_bookings_link_with_their_token() {
    let mut p = sample();
    p["guestToken"] = json!("gt_abc123");
    let r = render_email("booking_confirmed", &p, BASE).unwrap();
    let page = format!("{BASE}/bookings/0190a3b2-0000-7000-8000-000000000001");
    assert_contains(&r.text, &format!("Your booking: {page}?token=gt_abc123\n"));
    assert_contains(
        &r.text,
        &format!("Tickets to print (PDF): {page}/tickets.pdf?token=gt_abc123\n"),
    );
    p["bookingId"] = json!("0190a3b2-0000-7000-8000-000000000009");
    let cancelled = render_email("booking_cancelled", &p, BASE).unwrap();
    assert_contains(
        &cancelled.text,
        &format!("{BASE}/bookings/0190a3b2-0000-7000-8000-000000000009?token=gt_abc123"),
    );
}

#[test]
fn an_expired_booking_offers_its_event_page_to_book_again() {
    let mut p = sample();
    let r = render_email("booking_expired", &p, BASE).unwrap();
    assert_contains(&r.text, &format!("Book again: {BASE}/\n"));
    p["eventId"] = json!("0190a3b2-0000-7000-8000-0000000000ee");
    let r = render_email("booking_expired", &p, BASE).unwrap();
    let page = format!("{BASE}/events/0190a3b2-0000-7000-8000-0000000000ee");
    assert_contains(&r.text, &format!("Book again: {page}\n"));
    assert_contains(&r.html, &format!("href=\"{page}\""));
}

#[test]
fn a_reminder_links_to_the_tickets_and_says_when_in_the_events_time_zone() {
    let mut p = sample();
    p["guestToken"] = json!("gt_abc123");
    p["bookingUrl"] = json!(format!(
        "{BASE}/bookings/0190a3b2-0000-7000-8000-000000000001?token=gt_abc123"
    ));
    let r = render_email("event_reminder", &p, BASE).unwrap();
    assert_contains(&r.text, "starts Thu, 31 Dec 2026 20:30 WAT (Africa/Lagos)");
    let page = format!("{BASE}/bookings/0190a3b2-0000-7000-8000-000000000001");
    assert_contains(&r.text, &format!("Your tickets: {page}?token=gt_abc123\n"));
    assert_contains(
        &r.text,
        &format!("Tickets to print (PDF): {page}/tickets.pdf?token=gt_abc123\n"),
    );
}

#[test]
fn the_pay_link_opens_the_checkout_page() {
    let mut p = sample();
    p.as_object_mut().unwrap().remove("payUrl");
    let r = render_email("booking_pending", &p, BASE).unwrap();
    let checkout = format!("{BASE}/checkout/0190a3b2-0000-7000-8000-000000000001");
    assert_contains(&r.text, &format!("Pay now: {checkout}\n"));
    p["guestToken"] = json!("gt_a+b");
    let r = render_email("booking_pending", &p, BASE).unwrap();
    assert_contains(&r.text, &format!("Pay now: {checkout}?token=gt_a%2Bb\n"));
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
    assert_contains(&r.text, "event.ics");
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
        assert_contains(&r.html, &format!("src=\"cid:{}\"", image.content_id));
        assert_contains(&r.text, code);
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
    assert_contains(&r.text, "Pay now: https://pay.example.com/checkout/1");
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
    assert_contains(&r.html, "src=\"cid:ticket-1-qr@ticketmax\"");
    assert!(!r.html.contains("t.example.com"), "{}", r.html);
    let cancelled = json!({
        "customerName": "Ada", "eventTitle": "Show", "reference": "R1",
        "reason": null, "refundAmount": 2500, "quantity": 1,
    });
    let r = render_email("booking_cancelled", &cancelled, BASE).unwrap();
    assert_contains(&r.text, "A refund of what you paid");
    let event =
        json!({"customerName": "Ada", "eventTitle": "Show", "reason": "Rain", "refundAmount": 0});
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
    assert_contains(&r.text, "Where: Ikoyi, Lagos\n");
    assert_contains(&r.html, "Where: Ikoyi, Lagos<br>");
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
        r.html
            .contains("1000 tickets and their QR codes are on your booking page and in the PDF")
    );
    assert!(r.text.contains("TK-999"), "every code is still listed");
    let size = r.html.len() + r.text.len();
    assert!(size < 2 * 1024 * 1024, "{size} bytes");
}
