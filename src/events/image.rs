//! Event images: `POST /api/events/{id}/image` (multipart field `image`), checked by content
//! (JPEG, PNG or WebP magic bytes; at most `MAX_FILE_SIZE` bytes and 40 megapixels, read from the
//! headers), stripped of metadata (EXIF, XMP, comments, text chunks) without decoding pixels,
//! stored under a content-hash name through a [`FileStore`], and served at `/uploads/{file}` with
//! a one-year immutable cache lifetime.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::EventView;
use super::routes::{fresh_view, owned_event};
use crate::http::{ApiError, ApiPath, ApiResponse, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::users::AuthUser;

/// Largest accepted image area.
pub const MAX_PIXELS: u64 = 40_000_000;

/// The allowed image formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// image/jpeg.
    Jpeg,
    /// image/png.
    Png,
    /// image/webp.
    Webp,
}

impl ImageKind {
    /// Recognizes a format by its magic bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }

    /// MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }
}

/// Why an image is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// Not JPEG, PNG or WebP, or malformed.
    Unsupported(&'static str),
    /// More than [`MAX_PIXELS`].
    TooManyPixels,
}

/// A checked image without metadata.
#[derive(Debug, Clone)]
pub struct CleanImage {
    /// Format.
    pub kind: ImageKind,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The bytes to store.
    pub bytes: Vec<u8>,
}

/// Checks an upload and removes its metadata.
pub fn clean(bytes: &[u8]) -> Result<CleanImage, ImageError> {
    let kind =
        ImageKind::sniff(bytes).ok_or(ImageError::Unsupported("not a JPEG, PNG or WebP image"))?;
    let (width, height, out) = match kind {
        ImageKind::Jpeg => clean_jpeg(bytes)?,
        ImageKind::Png => clean_png(bytes)?,
        ImageKind::Webp => clean_webp(bytes)?,
    };
    if width == 0 || height == 0 {
        return Err(ImageError::Unsupported("the image has no size"));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooManyPixels);
    }
    Ok(CleanImage {
        kind,
        width,
        height,
        bytes: out,
    })
}

const MALFORMED: ImageError = ImageError::Unsupported("the image is malformed");

fn be16(b: &[u8], at: usize) -> Result<usize, ImageError> {
    b.get(at..at + 2)
        .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
        .ok_or(MALFORMED)
}

fn clean_jpeg(b: &[u8]) -> Result<(u32, u32, Vec<u8>), ImageError> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..2]);
    let mut i = 2;
    let mut size = None;
    loop {
        if b.get(i) != Some(&0xFF) {
            return Err(MALFORMED);
        }
        let marker = *b.get(i + 1).ok_or(MALFORMED)?;
        if marker == 0xFF {
            i += 1;
            continue;
        }
        if marker == 0xD9 {
            out.extend_from_slice(&b[i..i + 2]);
            break;
        }
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            out.extend_from_slice(&b[i..i + 2]);
            i += 2;
            continue;
        }
        let len = be16(b, i + 2)?;
        if len < 2 || i + 2 + len > b.len() {
            return Err(MALFORMED);
        }
        let segment = &b[i..i + 2 + len];
        let is_sof = matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF);
        if is_sof {
            let h = be16(b, i + 5)? as u32;
            let w = be16(b, i + 7)? as u32;
            size = Some((w, h));
        }
        // APP1 (EXIF, XMP), APP3–APP13 and APP15 (vendor metadata, IPTC) and COM go; APP0
        // (JFIF), APP2 (ICC colour profile) and APP14 (Adobe colour transform) stay.
        let metadata =
            marker == 0xFE || marker == 0xE1 || (0xE3..=0xED).contains(&marker) || marker == 0xEF;
        if !metadata {
            out.extend_from_slice(segment);
        }
        i += 2 + len;
        if marker == 0xDA {
            // Entropy-coded data up to the end of the file is kept as it is.
            out.extend_from_slice(&b[i..]);
            break;
        }
    }
    let (w, h) = size.ok_or(MALFORMED)?;
    Ok((w, h, out))
}

fn clean_png(b: &[u8]) -> Result<(u32, u32, Vec<u8>), ImageError> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..8]);
    let mut i = 8;
    let mut size = None;
    while i < b.len() {
        let len = b
            .get(i..i + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
            .ok_or(MALFORMED)?;
        let end = i.checked_add(12 + len).ok_or(MALFORMED)?;
        if end > b.len() {
            return Err(MALFORMED);
        }
        let kind = &b[i + 4..i + 8];
        if kind == b"IHDR" && len >= 8 {
            let d = &b[i + 8..];
            size = Some((
                u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
            ));
        }
        let metadata = matches!(kind, b"tEXt" | b"zTXt" | b"iTXt" | b"eXIf" | b"tIME");
        if !metadata {
            out.extend_from_slice(&b[i..end]);
        }
        i = end;
        if kind == b"IEND" {
            break;
        }
    }
    let (w, h) = size.ok_or(MALFORMED)?;
    Ok((w, h, out))
}

fn le24(d: &[u8], at: usize) -> Result<u32, ImageError> {
    d.get(at..at + 3)
        .map(|s| u32::from(s[0]) | (u32::from(s[1]) << 8) | (u32::from(s[2]) << 16))
        .ok_or(MALFORMED)
}

fn clean_webp(b: &[u8]) -> Result<(u32, u32, Vec<u8>), ImageError> {
    let mut chunks: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 12;
    let mut size = None;
    while i + 8 <= b.len() {
        let fourcc = &b[i..i + 4];
        let len = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        let padded = len + (len & 1);
        let end = (i + 8).checked_add(padded).ok_or(MALFORMED)?.min(b.len());
        if i + 8 + len > b.len() {
            return Err(MALFORMED);
        }
        let data = &b[i + 8..i + 8 + len];
        match fourcc {
            b"VP8X" => {
                size = Some((le24(data, 4)? + 1, le24(data, 7)? + 1));
            }
            b"VP8 " if size.is_none() => {
                if data.len() < 10 || data[3..6] != [0x9d, 0x01, 0x2a] {
                    return Err(MALFORMED);
                }
                let w = u32::from(u16::from_le_bytes([data[6], data[7]]) & 0x3fff);
                let h = u32::from(u16::from_le_bytes([data[8], data[9]]) & 0x3fff);
                size = Some((w, h));
            }
            b"VP8L" if size.is_none() => {
                if data.len() < 5 || data[0] != 0x2f {
                    return Err(MALFORMED);
                }
                let bits = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
                size = Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1));
            }
            _ => {}
        }
        if fourcc != b"EXIF" && fourcc != b"XMP " {
            let start = chunks.len();
            chunks.extend_from_slice(&b[i..end]);
            if fourcc == b"VP8X" && chunks.len() > start + 8 {
                // Clear the "has EXIF" (0x08) and "has XMP" (0x04) flags.
                chunks[start + 8] &= !0x0C;
            }
        }
        i = end;
    }
    let (w, h) = size.ok_or(MALFORMED)?;
    let mut out = Vec::with_capacity(chunks.len() + 12);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((chunks.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&chunks);
    Ok((w, h, out))
}

/// Boxed future of a [`FileStore`] operation.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = std::io::Result<T>> + Send + 'a>>;

/// Where uploaded files live; the local disk today, an S3-compatible store can implement it too.
pub trait FileStore: Send + Sync {
    /// Writes a file (idempotent: names are content hashes).
    fn put<'a>(&'a self, name: &'a str, bytes: Bytes) -> StoreFuture<'a, ()>;
    /// Reads a file; `None` when it does not exist.
    fn get<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Bytes>>;
}

/// Files under a local folder (`UPLOAD_DEST/events`).
#[derive(Debug, Clone)]
pub struct LocalDisk {
    root: PathBuf,
}

impl LocalDisk {
    /// The event-image folder of `UPLOAD_DEST`.
    pub fn new(upload_dest: &str) -> Self {
        Self {
            root: PathBuf::from(upload_dest).join("events"),
        }
    }
}

impl FileStore for LocalDisk {
    fn put<'a>(&'a self, name: &'a str, bytes: Bytes) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            tokio::fs::create_dir_all(&self.root).await?;
            let tmp = self
                .root
                .join(format!(".{name}.{}", Uuid::new_v4().simple()));
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, self.root.join(name)).await
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            match tokio::fs::read(self.root.join(name)).await {
                Ok(b) => Ok(Some(Bytes::from(b))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }
}

/// The file store of this server.
pub fn file_store(state: &AppState) -> impl FileStore {
    LocalDisk::new(&state.config.upload_dest)
}

/// Whether a name is one this server gives (`<sha256 hex>.<ext>`): nothing else is served.
fn valid_name(name: &str) -> Option<ImageKind> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 64
        || !stem
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        return None;
    }
    [ImageKind::Jpeg, ImageKind::Png, ImageKind::Webp]
        .into_iter()
        .find(|k| k.extension() == ext)
}

/// The upload route (under the API prefix).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_event_image))
        // The size is checked while reading the field, against MAX_FILE_SIZE.
        .layer(DefaultBodyLimit::disable())
}

/// `GET /uploads/{file}`: uploaded images, cacheable for a year (names are content hashes).
pub fn uploads_router() -> Router<AppState> {
    Router::new().route("/uploads/{file}", axum::routing::get(serve_upload))
}

async fn serve_upload(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
) -> ApiResult<Response> {
    let kind = valid_name(&file).ok_or_else(|| ApiError::not_found("File"))?;
    let bytes = file_store(&state)
        .get(&file)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("File"))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind.mime())),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Multipart body of the upload.
#[derive(Debug, ToSchema)]
pub struct ImageUpload {
    /// JPEG, PNG or WebP, at most `MAX_FILE_SIZE` bytes and 40 megapixels.
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The image is larger than {max} bytes"),
    )
}

/// Sets the event's image (owner or ADMIN).
#[utoipa::path(post, path = "/events/{id}/image", tag = "events",
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event with its new `imageUrl`", body = EventView),
        (status = 400, description = "No `image` field"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not the owner"),
        (status = 404, description = "No such event"),
        (status = 413, description = "Larger than MAX_FILE_SIZE"),
        (status = 415, description = "Not multipart, or not a JPEG/PNG/WebP image, or above 40 megapixels"),
    ))]
async fn upload_event_image(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<ApiResponse<EventView>> {
    let record = owned_event(&state, &user, id).await?;
    let mut multipart = multipart.map_err(|_| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Expected a multipart/form-data body",
        )
    })?;
    let max = state.config.max_file_size;
    let mut image: Option<Vec<u8>> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(max)),
            Err(_) => return Err(ApiError::field("image", "the multipart body is malformed")),
        };
        if field.name() != Some("image") {
            continue;
        }
        let mut field = field;
        let mut buf = Vec::new();
        // Past the limit the rest is read and discarded (up to four times the limit), so that
        // a client still sending receives the 413 rather than a reset connection.
        let mut seen = 0usize;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    seen += chunk.len();
                    if seen <= max {
                        buf.extend_from_slice(&chunk);
                    } else if seen > max.saturating_mul(4) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) if seen > max => break,
                Err(_) => return Err(ApiError::field("image", "the upload was cut short")),
            }
        }
        drop(field);
        if seen > max {
            while let Ok(Some(mut rest)) = multipart.next_field().await {
                while let Ok(Some(_)) = rest.chunk().await {}
            }
            return Err(too_large(max));
        }
        image = Some(buf);
        break;
    }
    let bytes = image.ok_or_else(|| ApiError::field("image", "is required"))?;
    let cleaned = tokio::task::spawn_blocking(move || clean(&bytes))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            ImageError::Unsupported(why) => ApiError::new(ErrorCode::UnsupportedMediaType, why),
            ImageError::TooManyPixels => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "The image is larger than 40 megapixels",
            ),
        })?;
    let name = format!(
        "{}.{}",
        hex::encode(Sha256::digest(&cleaned.bytes)),
        cleaned.kind.extension()
    );
    file_store(&state)
        .put(&name, Bytes::from(cleaned.bytes))
        .await
        .map_err(ApiError::internal)?;
    let mut event = record.event.clone();
    event.image_url = Some(format!("/uploads/{name}"));
    event.updated_at = Utc::now();
    state
        .store
        .update_event(&record.event, &event, None)
        .await?;
    state.cache.invalidate().await;
    Ok(ApiResponse::ok(fresh_view(&state, id).await?).message("Image uploaded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2×3 PNG header with a text chunk (pixels are not decoded, so IDAT can be empty).
    pub fn png(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        let chunk = |b: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
            b.extend_from_slice(&(data.len() as u32).to_be_bytes());
            b.extend_from_slice(kind);
            b.extend_from_slice(data);
            b.extend_from_slice(&[0, 0, 0, 0]);
        };
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(&mut b, b"IHDR", &ihdr);
        chunk(&mut b, b"tEXt", b"Author\0secret");
        chunk(&mut b, b"IDAT", b"");
        chunk(&mut b, b"IEND", b"");
        b
    }

    #[test]
    fn png_text_chunks_are_removed_and_size_read() {
        let c = clean(&png(2, 3)).unwrap();
        assert_eq!((c.width, c.height, c.kind), (2, 3, ImageKind::Png));
        assert!(!c.bytes.windows(4).any(|w| w == b"tEXt"));
    }

    #[test]
    fn more_than_40_megapixels_is_refused() {
        assert_eq!(
            clean(&png(8000, 6000)).unwrap_err(),
            ImageError::TooManyPixels
        );
    }

    #[test]
    fn jpeg_exif_and_comments_are_removed() {
        let mut b = vec![0xFF, 0xD8];
        b.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x08]);
        b.extend_from_slice(b"Exif\0\0");
        b.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x05, b'h', b'i', b'!']);
        b.extend_from_slice(&[
            0xFF, 0xC0, 0x00, 0x0B, 8, 0x00, 0x10, 0x00, 0x20, 1, 1, 0x11, 0,
        ]);
        b.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 1, 2, 3, 0xFF, 0xD9]);
        let c = clean(&b).unwrap();
        assert_eq!((c.width, c.height), (32, 16));
        assert!(!c.bytes.windows(4).any(|w| w == b"Exif"));
        assert!(!c.bytes.windows(3).any(|w| w == b"hi!"));
    }

    #[test]
    fn webp_exif_chunks_are_removed() {
        let mut chunks = Vec::new();
        chunks.extend_from_slice(b"VP8X");
        chunks.extend_from_slice(&10u32.to_le_bytes());
        chunks.extend_from_slice(&[0x08, 0, 0, 0, 99, 0, 0, 49, 0, 0]);
        chunks.extend_from_slice(b"EXIF");
        chunks.extend_from_slice(&4u32.to_le_bytes());
        chunks.extend_from_slice(b"priv");
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&((chunks.len() + 4) as u32).to_le_bytes());
        b.extend_from_slice(b"WEBP");
        b.extend_from_slice(&chunks);
        let c = clean(&b).unwrap();
        assert_eq!((c.width, c.height), (100, 50));
        assert!(!c.bytes.windows(4).any(|w| w == b"priv"));
    }

    #[test]
    fn other_bytes_are_not_images_and_names_are_checked() {
        assert!(matches!(
            clean(b"GIF89a...."),
            Err(ImageError::Unsupported(_))
        ));
        assert!(valid_name("../etc/passwd").is_none());
        assert!(valid_name(&format!("{}.png", "a".repeat(64))).is_some());
    }
}
