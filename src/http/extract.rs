//! Extractors whose rejections are the contract's own error envelope: JSON bodies (415 for a
//! wrong content type, 413 over the limit, 400 naming the field for malformed JSON, unknown or
//! missing fields), query strings and path parameters. axum's own plain-text rejections never
//! reach a client.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::{ApiError, ErrorCode};

/// A JSON body parsed strictly: DTOs use `deny_unknown_fields`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

/// Whether a `Content-Type` names JSON (`application/json` or `application/*+json`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn not_json() -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "Expected a request body with Content-Type: application/json",
    )
}

pub(crate) fn content_type_is_json(req: &Request) -> bool {
    is_json(
        req.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge, "The request body is too large")
        } else {
            ApiError::field("body", "could not read the request body")
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !content_type_is_json(&req) {
            return Err(not_json());
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out: an empty (or blank) body reads as `T::default()`, whatever
/// its `Content-Type`; a body that is there gets the checks of [`ApiJson`] (415 unless JSON).
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = content_type_is_json(&req);
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if !json {
            return Err(not_json());
        }
        parse_json(&bytes).map(OptionalApiJson)
    }
}

/// Parses JSON bytes, turning serde's error into a 400 that names the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|err| {
        let path = dotted_path(err.path());
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::field("body", "malformed JSON");
        }
        serde_error(&path, &inner.to_string())
    })?;
    // Anything after the document (`{...} junk`) makes the body malformed.
    de.end().map_err(|_| {
        ApiError::field("body", "malformed JSON: unexpected data after the document")
    })?;
    Ok(value)
}

/// Parses a query string with the same field-naming errors as bodies.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = dotted_path(err.path());
        serde_error(&path, &err.into_inner().to_string())
    })
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// `ticketTypes[0].price` as the contract writes it: `ticketTypes.0.price`.
fn dotted_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut parts = Vec::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => parts.push(index.to_string()),
            Segment::Map { key } => parts.push(key.clone()),
            Segment::Enum { variant } => parts.push(variant.clone()),
            Segment::Unknown => {}
        }
    }
    parts.join(".")
}

fn join(path: &str, field: &str) -> String {
    if path == field || path.ends_with(&format!(".{field}")) {
        path.to_string()
    } else if path.is_empty() || path == "?" {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// Builds the 400 for a serde message, pulling a field name out of "unknown field `x`" and
/// "missing field `x`" so the client learns which one.
fn serde_error(path: &str, message: &str) -> ApiError {
    let quoted = message.split('`').nth(1).unwrap_or("");
    let (field, text) = if message.starts_with("unknown field") {
        (join(path, quoted), "is not an accepted field".to_string())
    } else if message.starts_with("missing field") {
        (join(path, quoted), "is required".to_string())
    } else {
        let field = if path.is_empty() {
            "body".to_string()
        } else {
            path.to_string()
        };
        let text = message
            .split(" at line ")
            .next()
            .unwrap_or(message)
            .to_string();
        (field, text)
    };
    ApiError::field(field, text)
}

/// A query string parsed into `T`; a bad value → 400 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Path parameters; a malformed id → 400 naming the parameter.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(rejection) => Err(path_error(rejection)),
        }
    }
}

fn path_error(rejection: PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind;
    match rejection {
        PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
            ErrorKind::ParseErrorAtKey {
                key, expected_type, ..
            } => ApiError::field(
                key.clone(),
                format!("must be a valid {}", friendly_type(expected_type)),
            ),
            ErrorKind::ParseErrorAtIndex {
                index,
                expected_type,
                ..
            } => ApiError::field(
                index.to_string(),
                format!("must be a valid {}", friendly_type(expected_type)),
            ),
            ErrorKind::DeserializeError { key, message, .. } => {
                ApiError::field(key.clone(), message.clone())
            }
            _ => ApiError::field("path", e.body_text()),
        },
        other => ApiError::field("path", other.body_text()),
    }
}

fn friendly_type(expected: &str) -> &str {
    if expected.contains("Uuid") {
        "UUID"
    } else {
        expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Outer {
        email: String,
        #[serde(default)]
        ticket_types: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        price: i64,
    }

    fn field_of(e: ApiError) -> String {
        e.details.unwrap()[0]["field"].as_str().unwrap().to_string()
    }

    #[test]
    fn unknown_field_is_named() {
        let e = parse_json::<Outer>(br#"{"email":"a@b.c","role":"ADMIN"}"#).unwrap_err();
        assert_eq!(field_of(e), "role");
    }

    #[test]
    fn nested_fields_use_dots() {
        let e =
            parse_json::<Outer>(br#"{"email":"a@b.c","ticketTypes":[{"price":"x"}]}"#).unwrap_err();
        assert_eq!(field_of(e), "ticketTypes.0.price");
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse_json::<Outer>(br#"{}"#).unwrap_err();
        assert_eq!(field_of(e), "email");
    }

    #[test]
    fn trailing_data_after_the_document_is_refused() {
        let e = parse_json::<Outer>(br#"{"email":"a@b.c"} garbage"#).unwrap_err();
        assert_eq!(field_of(e), "body");
        assert!(parse_json::<Outer>(b"{\"email\":\"a@b.c\"}  \n").is_ok());
    }

    #[test]
    fn malformed_json_is_a_validation_error() {
        let e = parse_json::<Outer>(br#"{"email":"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationFailed);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
    }
}
