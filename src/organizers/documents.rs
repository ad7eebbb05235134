//! Application documents: `POST /organizer/onboarding/{id}/documents` (multipart fields
//! `idDocument`, `businessLicense`, `taxDocument`) and `GET /organizer/{id}/documents/{type}`.
//!
//! A document is JPEG, PNG or PDF by its first bytes (never its name or declared type) and at
//! most `MAX_DOCUMENT_SIZE` bytes; the whole body is bounded by three documents plus the multipart
//! framing. Each field streams into the file store as it arrives, under a name the server makes
//! up; the cap is counted while streaming, so an oversized document is refused (413) without
//! ever being held whole, and the store discards what it had written. An upload is all or
//! nothing: the documents are recorded together once every field is stored, and the files a
//! failed upload wrote, or a new upload replaced, are deleted.

use std::io;
use std::sync::atomic::Ordering;

use crate::http::openapi::RoutesAt;
use axum::body::Body;
use axum::extract::multipart::Multipart;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures_util::StreamExt;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{ApplicationView, DocumentRow, DocumentType};
use super::routes::{require_editable, visible_application};
use crate::files::capped::CappedBody;
use crate::files::{ByteStream, FileStore};
use crate::http::{ApiError, ApiPath, ApiResponse, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::users::AuthUser;

/// Room for the multipart framing (boundaries, part headers) of three documents.
const MULTIPART_OVERHEAD: usize = 64 * 1024;

/// Bytes read to recognize a format.
const SNIFF_LEN: usize = 8;

/// The document routes.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(upload_documents))
        // Bounded in the handler instead ([`CappedBody`]): the bound follows MAX_DOCUMENT_SIZE.
        .layer(DefaultBodyLimit::disable())
        .routes_at(p, routes!(download_document))
}

/// The accepted document formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Jpeg,
    Png,
    Pdf,
}

impl DocumentKind {
    /// Recognizes a format by its magic bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(b"%PDF-") {
            Some(Self::Pdf)
        } else {
            None
        }
    }

    /// MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Pdf => "application/pdf",
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Pdf => "pdf",
        }
    }

    fn of_mime(mime: &str) -> Option<Self> {
        [Self::Jpeg, Self::Png, Self::Pdf]
            .into_iter()
            .find(|k| k.mime() == mime)
    }
}

/// Multipart body of the upload: one to three documents.
#[derive(Debug, ToSchema)]
pub struct DocumentsUpload {
    /// Government ID: JPEG, PNG or PDF, at most `MAX_DOCUMENT_SIZE` bytes. Always required.
    #[schema(value_type = Option<String>, format = Binary)]
    pub id_document: Option<Vec<u8>>,
    /// Required for companies and nonprofits.
    #[schema(value_type = Option<String>, format = Binary)]
    pub business_license: Option<Vec<u8>>,
    /// Required for companies and nonprofits.
    #[schema(value_type = Option<String>, format = Binary)]
    pub tax_document: Option<Vec<u8>>,
}

/// The stream of a multipart field was cut (a malformed or truncated body).
#[derive(Debug)]
struct FieldBroken;

impl std::fmt::Display for FieldBroken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the multipart body was cut short")
    }
}

impl std::error::Error for FieldBroken {}

/// A document stored by this request, not yet recorded.
struct Stored {
    kind: DocumentType,
    name: String,
    mime: &'static str,
    size: u64,
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("A document is larger than MAX_DOCUMENT_SIZE ({max} bytes)"),
    )
}

fn not_a_document(field: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!("{field} is not a JPEG, PNG or PDF file"),
    )
}

/// Reads what remains of a refused upload (bounded by its [`CappedBody`]), so that the client,
/// possibly still sending, receives the error.
async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

/// Streams every field of the upload into the file store. Returns what was stored, or the
/// refusal together with what was stored before it (for the caller to delete).
async fn store_fields(
    files: &dyn FileStore,
    multipart: &mut Multipart,
    application: Uuid,
    max: usize,
) -> (Vec<Stored>, Option<ApiError>) {
    let mut stored: Vec<Stored> = Vec::new();
    let refusal = loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break None,
            Err(_) => break Some(ApiError::field("body", "the multipart body is malformed")),
        };
        let name = field.name().unwrap_or("(unnamed)").to_string();
        let Some(kind) = DocumentType::parse(&name) else {
            break Some(ApiError::field(
                name.chars().take(64).collect::<String>(),
                "unknown field: send idDocument, businessLicense or taxDocument",
            ));
        };
        if stored.iter().any(|s| s.kind == kind) {
            break Some(ApiError::field(name, "may be sent only once"));
        }
        // The first bytes decide the format before anything is written.
        let mut head = Vec::new();
        let mut cut = false;
        while head.len() < SNIFF_LEN {
            match field.chunk().await {
                Ok(Some(chunk)) => head.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(_) => {
                    cut = true;
                    break;
                }
            }
        }
        if cut {
            break Some(ApiError::field(name, "the upload was cut short"));
        }
        if head.len() > max {
            break Some(too_large(max));
        }
        let Some(format) = DocumentKind::sniff(&head) else {
            break Some(not_a_document(&name));
        };
        let object = format!(
            "documents/{application}/{}.{}",
            Uuid::new_v4().simple(),
            format.extension()
        );
        let mut seen = 0usize;
        let rest = field.map(|chunk| chunk.map_err(|_| io::Error::other(FieldBroken)));
        let body: ByteStream<'_> = Box::pin(
            futures_util::stream::iter([Ok(bytes::Bytes::from(head))])
                .chain(rest)
                .map(move |chunk| {
                    let chunk = chunk?;
                    seen = seen.saturating_add(chunk.len());
                    if seen > max {
                        Err(io::Error::new(
                            io::ErrorKind::FileTooLarge,
                            "over MAX_DOCUMENT_SIZE",
                        ))
                    } else {
                        Ok(chunk)
                    }
                }),
        );
        match files.put_stream(&object, body).await {
            Ok(size) => stored.push(Stored {
                kind,
                name: object,
                mime: format.mime(),
                size,
            }),
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => break Some(too_large(max)),
            Err(e) if e.get_ref().is_some_and(|inner| inner.is::<FieldBroken>()) => {
                break Some(ApiError::field(name, "the upload was cut short"));
            }
            Err(e) => break Some(ApiError::internal(e)),
        }
    };
    (stored, refusal)
}

/// Deletes files; a failure is logged (the answer does not depend on it).
async fn delete_files(files: &dyn FileStore, names: impl IntoIterator<Item = String>) {
    for name in names {
        if let Err(e) = files.delete(&name).await {
            tracing::warn!(error = %e, file = %name, "could not delete a document file");
        }
    }
}

/// Uploads documents (the applicant, while DRAFT or REQUIRES_ADDITIONAL_INFO).
#[utoipa::path(post, path = "/organizer/onboarding/{id}/documents", tag = "organizer",
    request_body(content = DocumentsUpload, content_type = "multipart/form-data"),
    params(("id" = Uuid, Path, description = "Application id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The application with its documents", body = ApplicationView),
        (status = 400, description = "No document, an unknown or repeated field, a malformed body"),
        (status = 404, description = "No such application, or not yours"),
        (status = 409, description = "INVALID_STATE: the application cannot be changed"),
        (status = 413, description = "A document larger than MAX_DOCUMENT_SIZE"),
        (status = 415, description = "Not multipart, or a file that is not JPEG, PNG or PDF"),
    ))]
async fn upload_documents(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    request: Request,
) -> ApiResult<ApiResponse<ApplicationView>> {
    let app = visible_application(&state, &user, id, false).await?;
    require_editable(&app)?;
    let max = state.config.max_document_size;
    let limit = max
        .saturating_mul(DocumentType::ALL.len())
        .saturating_add(MULTIPART_OVERHEAD);
    let (parts, body) = request.into_parts();
    let (mut capped, over) = CappedBody::new(body, limit, limit.saturating_mul(2));
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        // Known to be too large from its header: nothing of it is parsed.
        if declared.is_some_and(|n| n <= limit.saturating_mul(2) as u64) {
            while let Some(Ok(_)) = capped.next().await {}
        }
        return Err(too_large(max));
    }
    let request = Request::from_parts(parts, Body::from_stream(capped));
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Expected a multipart/form-data body",
            )
        })?;
    let files = state.files.as_ref();
    let (stored, refusal) = store_fields(files, &mut multipart, id, max).await;
    if let Some(refusal) = refusal {
        drain(&mut multipart).await;
        delete_files(files, stored.into_iter().map(|s| s.name)).await;
        return Err(if over.load(Ordering::Relaxed) {
            too_large(max)
        } else {
            refusal
        });
    }
    if stored.is_empty() {
        return Err(ApiError::field(
            "idDocument",
            "send at least one of idDocument, businessLicense, taxDocument",
        ));
    }
    let now = Utc::now();
    let docs: Vec<DocumentRow> = stored
        .iter()
        .map(|s| DocumentRow {
            application_id: id,
            doc_type: s.kind.as_str().to_string(),
            object_name: s.name.clone(),
            content_type: s.mime.to_string(),
            size_bytes: s.size as i64,
            uploaded_at: now,
        })
        .collect();
    let replaced = match state.store.put_application_documents(id, &docs, now).await {
        Ok(Some(replaced)) => replaced,
        Ok(None) => {
            delete_files(files, stored.into_iter().map(|s| s.name)).await;
            return Err(ApiError::invalid_state(
                "The application can no longer be changed",
            ));
        }
        Err(e) => {
            delete_files(files, stored.into_iter().map(|s| s.name)).await;
            return Err(e.into());
        }
    };
    // Only now that no row points at them.
    delete_files(files, replaced).await;
    let after = visible_application(&state, &user, id, false).await?;
    Ok(ApiResponse::ok(ApplicationView::from(&after)).message("Documents uploaded"))
}

/// Downloads a document of an application (its owner or an ADMIN).
#[utoipa::path(get, path = "/organizer/{id}/documents/{type}", tag = "organizer",
    params(
        ("id" = Uuid, Path, description = "Application id"),
        ("type" = String, Path, description = "idDocument, businessLicense or taxDocument"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The file, as an attachment", content_type = "application/octet-stream"),
        (status = 404, description = "No such application or document, or not yours"),
    ))]
async fn download_document(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, kind)): ApiPath<(Uuid, String)>,
) -> ApiResult<Response> {
    let app = visible_application(&state, &user, id, true).await?;
    let kind = DocumentType::parse(&kind).ok_or_else(|| ApiError::not_found("Document"))?;
    let doc = app
        .document(kind)
        .ok_or_else(|| ApiError::not_found("Document"))?;
    let format = DocumentKind::of_mime(&doc.content_type).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("stored document type {}", doc.content_type))
    })?;
    let stream = state
        .files
        .get(&doc.object_name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("Document"))?;
    let disposition = format!(
        "attachment; filename=\"{}.{}\"",
        kind.as_str(),
        format.extension()
    );
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.mime()),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_known_by_their_bytes_only() {
        assert_eq!(
            DocumentKind::sniff(b"%PDF-1.7\n..."),
            Some(DocumentKind::Pdf)
        );
        assert_eq!(
            DocumentKind::sniff(b"\x89PNG\r\n\x1a\n\0\0"),
            Some(DocumentKind::Png)
        );
        assert_eq!(
            DocumentKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(DocumentKind::Jpeg)
        );
        for bad in [
            &b"MZ\x90\0\x03\0\0\0"[..],
            b"\x7fELF\x02\x01\x01",
            b"PK\x03\x04",
            b"GIF89a",
            b" %PDF-1.7",
            b"%PD",
            b"",
        ] {
            assert_eq!(DocumentKind::sniff(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stored_types_map_back_to_their_formats() {
        for kind in [DocumentKind::Jpeg, DocumentKind::Png, DocumentKind::Pdf] {
            assert_eq!(DocumentKind::of_mime(kind.mime()), Some(kind));
        }
        assert_eq!(DocumentKind::of_mime("text/html"), None);
    }
}
