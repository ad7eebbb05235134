//! HTTP plumbing shared by every business area: the success envelope, the error type, the
//! extractors that turn bad input into the contract's 400/413/415 answers, middleware and the
//! OpenAPI document.

pub mod body_limit;
pub mod bypass;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod kept;
pub mod middleware;
pub mod openapi;
pub mod request_id;
pub mod timeout;

use std::borrow::Cow;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use error::{ApiError, ApiResult, ErrorCode, FieldError, ResultExt, Validator};
pub use extract::{ApiJson, ApiPath, ApiQuery, OptionalApiJson};

/// Largest JSON body accepted (API.md §1).
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// The current time as the contract writes it (RFC 3339, UTC, `Z`).
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The end of an envelope whose last field is `"timestamp":"`: the current time as the contract
/// writes it, then `"}`. Made at most once a millisecond on each thread and shared by the
/// answers of that millisecond: it is the only part of a kept answer made per request.
pub fn timestamp_tail() -> bytes::Bytes {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, bytes::Bytes)> =
            const { std::cell::RefCell::new((i64::MIN, bytes::Bytes::new())) };
    }
    let now = Utc::now();
    let millis = now.timestamp_millis();
    LAST.with(|cell| {
        let mut last = cell.borrow_mut();
        if last.0 != millis {
            let mut tail = now.to_rfc3339_opts(SecondsFormat::Millis, true);
            tail.push_str("\"}");
            *last = (millis, bytes::Bytes::from(tail));
        }
        last.1.clone()
    })
}

/// Parses a `from`/`to` query value (API.md §11.62): RFC 3339, or `YYYY-MM-DD` as UTC midnight;
/// anything else is a 400 naming `field`.
pub fn parse_instant(raw: &str, field: &str) -> ApiResult<chrono::DateTime<Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| ApiError::field(field, "must be an RFC 3339 time or a YYYY-MM-DD date"))
}

/// Pagination facts of a list answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Page number, from 1.
    pub page: u32,
    /// Page size.
    pub limit: u32,
    /// Items in all pages.
    pub total: u64,
    /// Number of pages.
    pub total_pages: u64,
}

impl Meta {
    /// Meta for a page of a list with `total` items.
    pub fn new(page: Page, total: u64) -> Self {
        Self {
            page: page.page,
            limit: page.limit,
            total,
            total_pages: total.div_ceil(u64::from(page.limit)),
        }
    }

    /// Meta for a page of a list whose SQL count is `total` (never negative; 0 if it were).
    pub fn of_count(page: Page, total: i64) -> Self {
        Self::new(page, u64::try_from(total).unwrap_or(0))
    }
}

/// A validated page request: `page` ≥ 1, `limit` 1–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Page number, from 1.
    pub page: u32,
    /// Page size.
    pub limit: u32,
}

impl Page {
    /// Validates raw query values (defaults 1 and `default_limit`).
    pub fn parse(page: Option<i64>, limit: Option<i64>, default_limit: u32) -> ApiResult<Self> {
        let mut v = Validator::new();
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(i64::from(default_limit));
        v.check(
            (1..=1_000_000).contains(&page),
            "page",
            "must be an integer of at least 1",
        );
        v.check(
            (1..=100).contains(&limit),
            "limit",
            "must be an integer from 1 to 100",
        );
        v.finish()?;
        Ok(Self {
            page: page as u32,
            limit: limit as u32,
        })
    }

    /// Rows to skip.
    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }
}

/// A success answer in the contract's envelope.
#[derive(Debug)]
pub struct ApiResponse<T> {
    status: StatusCode,
    message: Cow<'static, str>,
    data: T,
    meta: Option<Meta>,
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    success: bool,
    data: &'a T,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Meta>,
    timestamp: String,
}

impl<T: Serialize> ApiResponse<T> {
    /// 200 with data.
    pub fn ok(data: T) -> Self {
        Self {
            status: StatusCode::OK,
            message: Cow::Borrowed("OK"),
            data,
            meta: None,
        }
    }

    /// 201 with data.
    pub fn created(data: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            message: Cow::Borrowed("Created"),
            data,
            meta: None,
        }
    }

    /// A page of a list.
    pub fn page(data: T, meta: Meta) -> Self {
        Self {
            meta: Some(meta),
            ..Self::ok(data)
        }
    }

    /// Replaces the human message.
    pub fn message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// Replaces the status.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The data and paging, for a server-rendered page that calls the same handler.
    pub fn into_parts(self) -> (T, Option<Meta>) {
        (self.data, self.meta)
    }

    /// The serialized envelope.
    pub fn to_bytes(&self) -> Vec<u8> {
        let envelope = Envelope {
            success: true,
            data: &self.data,
            message: &self.message,
            meta: self.meta,
            timestamp: now_rfc3339(),
        };
        match serde_json::to_vec(&envelope) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %e, "response serialization failed");
                Vec::new()
            }
        }
    }
}

impl<T: Serialize> IntoResponse for ApiResponse<T> {
    fn into_response(self) -> Response {
        let body = self.to_bytes();
        if body.is_empty() {
            return ApiError::internal(anyhow::anyhow!("serialization failed")).into_response();
        }
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// Splits `fields=a,b,c` into names, checking each against what the resource has.
pub fn parse_fields(raw: Option<&str>, allowed: &[&str]) -> ApiResult<Option<Vec<String>>> {
    let Some(raw) = raw else { return Ok(None) };
    let mut names = vec!["id".to_string()];
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !allowed.contains(&name) {
            return Err(ApiError::field("fields", format!("unknown field {name:?}")));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    Ok(Some(names))
}

/// Keeps only the selected top-level fields of a JSON object.
pub fn select_fields(value: serde_json::Value, fields: &[String]) -> serde_json::Value {
    match value {
        serde_json::Value::Object(mut map) => {
            map.retain(|k, _| fields.iter().any(|f| f == k));
            serde_json::Value::Object(map)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timestamp_tail_is_the_current_millisecond_closing_the_envelope() {
        let before = Utc::now();
        let tail = timestamp_tail();
        let after = Utc::now();
        let text = std::str::from_utf8(&tail).unwrap();
        let stamp = text.strip_suffix("\"}").expect(text);
        assert_eq!(stamp.len(), "2026-12-07T16:00:00.000Z".len(), "{stamp}");
        let at = chrono::DateTime::parse_from_rfc3339(stamp).unwrap();
        let millis = |t: chrono::DateTime<Utc>| t.timestamp_millis();
        assert!((millis(before)..=millis(after)).contains(&at.timestamp_millis()));
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_ne!(timestamp_tail(), tail, "a later millisecond has its own");
    }

    #[test]
    fn instants_accept_rfc3339_and_dates_as_utc_midnight() {
        let t = parse_instant("2026-12-31T19:30:00+01:00", "from").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-31T18:30:00+00:00");
        let d = parse_instant("2026-12-31", "to").unwrap();
        assert_eq!(d.to_rfc3339(), "2026-12-31T00:00:00+00:00");
        let e = parse_instant("31/12/2026", "to").unwrap_err();
        assert_eq!(e.details.unwrap()[0]["field"], "to");
    }

    #[test]
    fn page_limits_are_enforced() {
        assert!(Page::parse(Some(0), None, 20).is_err());
        assert!(Page::parse(None, Some(101), 20).is_err());
        assert_eq!(
            Page::parse(None, None, 20).unwrap(),
            Page { page: 1, limit: 20 }
        );
        assert_eq!(Page::parse(Some(3), Some(10), 20).unwrap().offset(), 20);
    }

    #[test]
    fn meta_counts_pages() {
        let m = Meta::new(Page { page: 1, limit: 20 }, 135);
        assert_eq!(m.total_pages, 7);
        assert_eq!(Meta::new(Page { page: 1, limit: 20 }, 0).total_pages, 0);
    }

    #[test]
    fn fields_always_keep_id_and_reject_unknown_names() {
        let f = parse_fields(Some("title"), &["id", "title"])
            .unwrap()
            .unwrap();
        assert_eq!(f, vec!["id", "title"]);
        assert!(parse_fields(Some("password"), &["id", "title"]).is_err());
    }
}
