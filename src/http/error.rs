//! The one error type of the HTTP layer. Every 4xx/5xx leaves the server through
//! [`ApiError::into_response`], which writes the contract's error envelope; a 500 is logged with
//! its whole cause chain and shown to the client as an opaque `INTERNAL`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::request_id;

/// Machine-readable error codes of the contract (API.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ErrorCode {
    ValidationFailed,
    Unauthorized,
    InvalidCredentials,
    InvalidToken,
    PaymentRequired,
    Forbidden,
    EmailNotVerified,
    AccountSuspended,
    IpBlocked,
    OrganizerNotApproved,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    EmailTaken,
    SoldOut,
    SalesClosed,
    InvalidState,
    AlreadyCheckedIn,
    IdempotencyInFlight,
    HoldExpired,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyMismatch,
    AccountLocked,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            ValidationFailed => StatusCode::BAD_REQUEST,
            Unauthorized | InvalidCredentials | InvalidToken => StatusCode::UNAUTHORIZED,
            PaymentRequired => StatusCode::PAYMENT_REQUIRED,
            Forbidden | EmailNotVerified | AccountSuspended | IpBlocked | OrganizerNotApproved => {
                StatusCode::FORBIDDEN
            }
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Conflict | EmailTaken | SoldOut | SalesClosed | InvalidState | AlreadyCheckedIn
            | IdempotencyInFlight => StatusCode::CONFLICT,
            HoldExpired => StatusCode::GONE,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            AccountLocked => StatusCode::LOCKED,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code that describes a bare status produced outside a handler (a layer, a fallback).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::ValidationFailed,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            429 => Self::RateLimited,
            503 => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

/// One problem with one field, as the contract's `details` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path of the field (`address.country`, `ticketTypes.0.price`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// An error answer: status (from the code), message, details and extra headers.
#[derive(Debug)]
pub struct ApiError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human text.
    pub message: String,
    /// Optional `details` array.
    pub details: Option<Vec<Value>>,
    /// `Retry-After`, in seconds, for 423/429/503.
    pub retry_after: Option<u64>,
    /// The cause of a 500, logged but never sent.
    source: Option<anyhow::Error>,
}

/// Result type of handlers and services.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after: None,
            source: None,
        }
    }

    /// Adds `details` entries.
    pub fn with_details(mut self, details: Vec<Value>) -> Self {
        self.details = Some(details);
        self
    }

    /// Adds a `Retry-After` header.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// 400 naming one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// 400 with every field problem found.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = match errors.first() {
            Some(first) if errors.len() == 1 => {
                format!("Validation failed: {}: {}", first.field, first.message)
            }
            _ => "Validation failed".to_string(),
        };
        let details = errors
            .into_iter()
            .map(|e| json!({"field": e.field, "message": e.message}))
            .collect();
        Self::new(ErrorCode::ValidationFailed, message).with_details(details)
    }

    /// 404 for a resource.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "Authentication required")
    }

    /// 403 `FORBIDDEN`.
    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "You are not allowed to do this")
    }

    /// 409 `CONFLICT` with a message saying which conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// 409 `INVALID_STATE`.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidState, message)
    }

    /// 500 wrapping its cause; the client only sees `INTERNAL`.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(ErrorCode::Internal, "Internal server error")
        }
    }

    /// 503 `UNAVAILABLE`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// The envelope body of this error, with the current request id.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.code});
        if let Some(details) = &self.details {
            error["details"] = Value::Array(details.clone());
        }
        json!({
            "success": false,
            "message": self.message,
            "error": error,
            "timestamp": super::now_rfc3339(),
            "requestId": request_id::current(),
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            tracing::error!(error = ?source, "request failed with an internal error");
        }
        let status = self.code.status();
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response =
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolTimedOut) {
            return Self::unavailable("The database is busy, try again");
        }
        Self::internal(e)
    }
}

/// Turns the constraint violations of a storage result into the client errors they mean (the
/// database decides atomically; the answer names the rule): `insert().await.on_unique(|| …)?`.
pub trait ResultExt<T> {
    /// A unique violation becomes `err()`; any other failure stays a storage error.
    fn on_unique(self, err: impl FnOnce() -> ApiError) -> ApiResult<T>;
    /// A CHECK violation becomes `err()`; any other failure stays a storage error.
    fn on_check(self, err: impl FnOnce() -> ApiError) -> ApiResult<T>;
    /// A foreign-key violation becomes `err()`; any other failure stays a storage error.
    fn on_foreign_key(self, err: impl FnOnce() -> ApiError) -> ApiResult<T>;
}

/// A failure that `is` recognises becomes `err()`; any other stays a storage error.
fn on_violation<T>(
    result: sqlx::Result<T>,
    is: fn(&sqlx::Error) -> bool,
    err: impl FnOnce() -> ApiError,
) -> ApiResult<T> {
    result.map_err(|e| if is(&e) { err() } else { e.into() })
}

impl<T> ResultExt<T> for sqlx::Result<T> {
    fn on_unique(self, err: impl FnOnce() -> ApiError) -> ApiResult<T> {
        on_violation(self, crate::store::is_unique_violation, err)
    }

    fn on_check(self, err: impl FnOnce() -> ApiError) -> ApiResult<T> {
        on_violation(self, crate::store::is_check_violation, err)
    }

    fn on_foreign_key(self, err: impl FnOnce() -> ApiError) -> ApiResult<T> {
        on_violation(self, crate::store::is_foreign_key_violation, err)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(e)
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(e)
    }
}

/// Collects field problems, then fails with all of them at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem when `ok` is false.
    pub fn check(&mut self, ok: bool, field: &str, message: &str) -> &mut Self {
        if !ok {
            self.add(field, message);
        }
        self
    }

    /// Records a problem.
    pub fn add(&mut self, field: &str, message: &str) -> &mut Self {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.to_string(),
        });
        self
    }

    /// Ok when no problem was recorded, else a 400 listing them.
    pub fn finish(&mut self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(std::mem::take(&mut self.errors)))
        }
    }
}
