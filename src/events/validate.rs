//! Field checks of the catalogue's write bodies: each adds its problems to a [`Validator`] under
//! the field's name and returns the cleaned value.

use super::model::{KINDS, NewTicketType};
use super::requests::{CreateEventBody, TicketTypeBody};
use crate::http::Validator;

/// Largest price (minor units): keeps every sum far from overflow.
pub(super) const MAX_PRICE: i64 = 1_000_000_000_000;
/// Largest capacity of a ticket type or an event.
pub(super) const MAX_SEATS: i64 = 10_000_000;

pub(super) fn check_text(v: &mut Validator, field: &str, value: &str, min: usize, max: usize) {
    let n = value.trim().chars().count();
    v.check(
        (min..=max).contains(&n),
        field,
        &format!("must be {min} to {max} characters"),
    );
}

pub(super) fn check_tags(v: &mut Validator, tags: &[String]) -> String {
    v.check(tags.len() <= 20, "tags", "at most 20 tags");
    for (i, t) in tags.iter().enumerate() {
        check_text(v, &format!("tags.{i}"), t, 1, 50);
    }
    let clean: Vec<&str> = tags.iter().map(|t| t.trim()).collect();
    serde_json::to_string(&clean).unwrap_or_else(|_| "[]".into())
}

pub(super) fn check_currency(v: &mut Validator, raw: &str) -> String {
    let c = raw.trim().to_ascii_uppercase();
    v.check(
        c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()),
        "currency",
        "must be a 3-letter ISO 4217 code",
    );
    c
}

/// An IANA time zone name (`Africa/Lagos`, `UTC`), in its canonical spelling (API.md §11.106).
pub(super) fn check_timezone(v: &mut Validator, raw: &str) -> String {
    match raw.trim().parse::<chrono_tz::Tz>() {
        Ok(tz) => tz.name().to_string(),
        Err(_) => {
            v.add(
                "timezone",
                "must be an IANA time zone name such as Africa/Lagos or UTC",
            );
            raw.to_string()
        }
    }
}

pub(super) fn check_kind(v: &mut Validator, field: &str, kind: Option<&str>) -> String {
    let kind = kind.unwrap_or("general").to_string();
    v.check(
        KINDS.contains(&kind.as_str()),
        field,
        "must be general, vip, premium, early_bird or custom",
    );
    kind
}

pub(super) fn check_type(v: &mut Validator, prefix: &str, t: &TicketTypeBody) -> NewTicketType {
    check_text(v, &format!("{prefix}name"), &t.name, 1, 100);
    let kind = check_kind(v, &format!("{prefix}kind"), t.kind.as_deref());
    v.check(
        (0..=MAX_PRICE).contains(&t.price),
        &format!("{prefix}price"),
        "must be from 0 to 1000000000000",
    );
    v.check(
        (1..=MAX_SEATS).contains(&t.capacity),
        &format!("{prefix}capacity"),
        "must be from 1 to 10000000",
    );
    let max = t.max_per_order.unwrap_or(10);
    check_max_per_order(v, max, &format!("{prefix}maxPerOrder"));
    if let (Some(a), Some(b)) = (t.sales_start_at, t.sales_end_at) {
        v.check(
            a < b,
            &format!("{prefix}salesEndAt"),
            "must be after salesStartAt",
        );
    }
    NewTicketType {
        name: t.name.trim().to_string(),
        kind,
        price: t.price,
        capacity: t.capacity,
        sales_start_at: t.sales_start_at,
        sales_end_at: t.sales_end_at,
        max_per_order: max,
    }
}

/// The ticket types of a create body, and its event-wide cap: either a list of `ticketTypes`
/// (with `totalTickets` as an optional cap), or `price` with `totalTickets` for one `general`
/// type.
pub(super) fn check_ticket_types(
    v: &mut Validator,
    body: &CreateEventBody,
) -> (Vec<NewTicketType>, Option<i64>) {
    match &body.ticket_types {
        Some(list) => check_type_list(v, list, body),
        None => (check_single_type(v, body).into_iter().collect(), None),
    }
}

fn check_type_list(
    v: &mut Validator,
    list: &[TicketTypeBody],
    body: &CreateEventBody,
) -> (Vec<NewTicketType>, Option<i64>) {
    v.check(list.len() <= 50, "ticketTypes", "at most 50 ticket types");
    let types = list
        .iter()
        .enumerate()
        .map(|(i, t)| check_type(v, &format!("ticketTypes.{i}."), t))
        .collect();
    v.check(
        body.price.is_none(),
        "price",
        "give either ticketTypes or price with totalTickets",
    );
    if let Some(total) = body.total_tickets {
        v.check(
            (1..=MAX_SEATS).contains(&total),
            "totalTickets",
            "must be from 1 to 10000000",
        );
    }
    (types, body.total_tickets)
}

/// The one `general` type of a body that gives `price` and `totalTickets` instead of a list.
fn check_single_type(v: &mut Validator, body: &CreateEventBody) -> Option<NewTicketType> {
    match (body.price, body.total_tickets) {
        (Some(price), Some(total)) => {
            v.check(
                (0..=MAX_PRICE).contains(&price),
                "price",
                "must be from 0 to 1000000000000",
            );
            v.check(
                (1..=MAX_SEATS).contains(&total),
                "totalTickets",
                "must be from 1 to 10000000",
            );
            Some(NewTicketType {
                name: "General Admission".into(),
                kind: "general".into(),
                price,
                capacity: total,
                sales_start_at: None,
                sales_end_at: None,
                max_per_order: 10,
            })
        }
        (Some(_), None) => {
            v.add("totalTickets", "is required with price");
            None
        }
        (None, Some(_)) => {
            v.add("price", "is required with totalTickets");
            None
        }
        (None, None) => None,
    }
}

/// The largest `maxPerOrder` (API.md §11.91): one order's tickets are issued in one transaction.
pub(super) const MAX_PER_ORDER: i32 = 1000;

/// Checks a `maxPerOrder` of 1–[`MAX_PER_ORDER`].
pub(super) fn check_max_per_order(v: &mut Validator, max: i32, field: &str) {
    v.check(
        (1..=MAX_PER_ORDER).contains(&max),
        field,
        "must be from 1 to 1000",
    );
}
