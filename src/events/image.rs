//! Event images: `POST /api/events/{id}/image` (multipart, one field `image`), checked by content
//! (JPEG, PNG or WebP magic bytes, never the file name or declared type; at most `MAX_FILE_SIZE`
//! bytes and 40 megapixels, the size read from the headers before any pixel is decoded), decoded
//! and re-encoded in the same format (which drops EXIF, XMP, comments, text chunks, unknown chunks
//! and trailing bytes), stored as `events/<content hash>.<ext>` in the server's
//! [`FileStore`](crate::files::FileStore), and served at
//! `/uploads/{file}` with a one-year immutable cache lifetime. The file an event's new image
//! replaces is deleted, unless another event still shows it.

use std::io::Cursor;
use std::sync::atomic::Ordering;

use crate::http::openapi::RoutesAt;
use ::image::codecs::jpeg::JpegEncoder;
use ::image::codecs::png::PngEncoder;
use ::image::codecs::webp::WebPEncoder;
use ::image::metadata::Orientation;
use ::image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits};
use axum::Router;
use axum::body::Body;
use axum::extract::multipart::Multipart;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::EventView;
use super::routes::{OwnerRefusals, fresh_view, owned_event};
use crate::files::FileStore;
use crate::files::capped::CappedBody;
use crate::http::{ApiError, ApiPath, ApiResponse, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::users::AuthUser;

/// Largest accepted image area.
pub const MAX_PIXELS: u64 = 40_000_000;

/// Longest accepted side. JPEG cannot go beyond it anyway and WebP stops at 16 383; it keeps a
/// PNG from claiming a 1 × 2³¹ strip that passes the area check.
pub const MAX_SIDE: u32 = 65_535;

/// Most memory a decoder may ask for: 40 megapixels of 16-bit RGBA (the widest PNG output,
/// 8 bytes a pixel, ≈ 305 MiB) plus room for the decoders' own buffers.
const MAX_DECODE_BYTES: u64 = 384 * 1024 * 1024;

/// JPEG re-encoding quality: visually close to a camera's output at a fraction of its size.
const JPEG_QUALITY: u8 = 85;

/// Largest colour profile carried over. Real display profiles (sRGB, Display P3, Adobe RGB) are a
/// few KiB; a bigger one is more likely a payload riding along than colour data.
const MAX_ICC_BYTES: usize = 64 * 1024;

/// Room for the multipart framing around the image (boundaries, part headers) on top of
/// `MAX_FILE_SIZE`: the whole request body is bounded by their sum.
const MULTIPART_OVERHEAD: usize = 16 * 1024;

/// Past the limit, up to this many times `MAX_FILE_SIZE` is read (and discarded) so that a client
/// still sending receives the 413 rather than a reset connection.
const DRAIN_FACTOR: usize = 4;

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

    fn format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Webp => ImageFormat::WebP,
        }
    }
}

/// Why an image is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// Not JPEG, PNG or WebP, or not decodable.
    Unsupported(&'static str),
    /// More than [`MAX_PIXELS`], a side above [`MAX_SIDE`], or more decoder memory than allowed.
    TooManyPixels,
    /// A decoded image could not be encoded again (a bug on our side, not the client's).
    Encoding(String),
}

/// A checked image, re-encoded without metadata.
#[derive(Debug, Clone)]
pub struct CleanImage {
    /// Format (the same as the upload's).
    pub kind: ImageKind,
    /// Width in pixels (after applying the EXIF orientation).
    pub width: u32,
    /// Height in pixels (after applying the EXIF orientation).
    pub height: u32,
    /// The bytes to store.
    pub bytes: Vec<u8>,
}

const NOT_AN_IMAGE: ImageError =
    ImageError::Unsupported("The file is not a JPEG, PNG or WebP image");
const UNDECODABLE: ImageError =
    ImageError::Unsupported("The file is not a valid JPEG, PNG or WebP image");

/// The decoder limits: the pixel area itself is checked by [`reencode`] from the header, as
/// `Limits` only knows sides and bytes.
fn decode_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn refused(e: ::image::ImageError) -> ImageError {
    match e {
        ::image::ImageError::Limits(_) => ImageError::TooManyPixels,
        _ => UNDECODABLE,
    }
}

/// Checks an upload and re-encodes it in its own format, without metadata.
///
/// The format comes from the magic bytes only. The decoder first reads the headers (PNG up to its
/// first `IDAT`, JPEG up to its first scan, WebP its chunk headers); the size is checked there,
/// so a small file declaring a huge canvas (a decompression bomb) is refused before any pixel
/// buffer is allocated. Then the pixels are decoded, the EXIF orientation is applied to them (the
/// EXIF block that carried it does not survive) and the image is encoded again: JPEG at quality
/// [`JPEG_QUALITY`], PNG as PNG (lossless, 16-bit kept), and WebP as **lossless** WebP, the only
/// WebP the `image` crate writes: the stored file keeps the `.webp` name and `image/webp` type,
/// at the cost of a larger file than the lossy original. Nothing but the pixels and a small
/// colour profile (so that wide-gamut photos keep their colours) is carried over. Animations
/// keep their first frame. CPU-heavy: call it on a blocking thread.
pub fn reencode(bytes: &[u8]) -> Result<CleanImage, ImageError> {
    let kind = ImageKind::sniff(bytes).ok_or(NOT_AN_IMAGE)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.limits(decode_limits());
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::Unsupported("The image has no size"));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooManyPixels);
    }
    // `into_decoder` checks the sides only; the output buffer is weighed here, as `decode` would.
    decode_limits()
        .reserve(decoder.total_bytes())
        .map_err(refused)?;
    // A malformed EXIF block or profile is dropped rather than refusing the picture.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder
        .icc_profile()
        .ok()
        .flatten()
        .filter(|p| !p.is_empty() && p.len() <= MAX_ICC_BYTES);
    let mut pixels = DynamicImage::from_decoder(decoder).map_err(refused)?;
    pixels.apply_orientation(orientation);
    let mut out = Vec::new();
    let written = match kind {
        ImageKind::Jpeg => {
            let encoder = JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
            pixels.write_with_encoder(with_profile(encoder, icc))
        }
        ImageKind::Png => pixels.write_with_encoder(with_profile(PngEncoder::new(&mut out), icc)),
        ImageKind::Webp => {
            let encoder = WebPEncoder::new_lossless(&mut out);
            pixels.write_with_encoder(with_profile(encoder, icc))
        }
    };
    written.map_err(|e| ImageError::Encoding(e.to_string()))?;
    Ok(CleanImage {
        kind,
        width: pixels.width(),
        height: pixels.height(),
        bytes: out,
    })
}

fn with_profile<E: ImageEncoder>(mut encoder: E, icc: Option<Vec<u8>>) -> E {
    if let Some(icc) = icc {
        // An encoder that cannot embed a profile writes the pixels without one.
        let _ = encoder.set_icc_profile(icc);
    }
    encoder
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
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(upload_event_image))
        // The body is bounded in the handler instead ([`CappedBody`]): the bound depends on
        // MAX_FILE_SIZE, a run-time setting, and the server's 1 MiB JSON limit would be too small.
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
    let stream = state
        .files
        .get(&stored_name(&file))
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
        Body::from_stream(stream),
    )
        .into_response())
}

/// Where an image named `file` is kept in the file store.
fn stored_name(file: &str) -> String {
    format!("events/{file}")
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

/// Over the whole-body bound, which may be another field's doing rather than the image's.
fn body_too_large(max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The upload is larger than the image limit of {max} bytes"),
    )
}

/// Reads what remains of a refused upload (bounded by its [`CappedBody`]), so that the client,
/// possibly still sending, receives the error.
async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

/// The refusal of a multipart field other than the one `image`.
///
/// Unknown fields are refused with 400 `VALIDATION_FAILED` naming the field, as unknown JSON
/// fields are (API.md §1), as soon as the field's name is read: nothing but the image is
/// expected, so nothing else is ever read into memory. A second `image` is refused the same way.
/// The size comes first, though: a body over the bound is a 413 whatever it holds (see
/// [`read_image_field`]), so the answer does not depend on the order of the fields or on whether
/// the client declared a `Content-Length`.
fn unexpected_field(name: Option<&str>) -> ApiError {
    match name {
        Some("image") => ApiError::field("image", "only one image may be sent"),
        Some(name) => ApiError::field(
            // The name is echoed back: keep it short.
            name.chars().take(64).collect::<String>(),
            "unknown field: the upload takes only the field `image`",
        ),
        None => ApiError::field("(unnamed)", "every part needs a name: send only `image`"),
    }
}

/// Reads the one `image` field of an upload without ever holding more than `MAX_FILE_SIZE` of it,
/// nor more than `MAX_FILE_SIZE` plus [`MULTIPART_OVERHEAD`] of the whole body; over either bound
/// (declared in `Content-Length`, or found while reading, including while draining after another
/// refusal) → 413 `PAYLOAD_TOO_LARGE`. Not multipart → 415; within the bound, any other field →
/// 400 ([`unexpected_field`]).
async fn read_image_field(state: &AppState, request: Request, max: usize) -> ApiResult<Vec<u8>> {
    let limit = max.saturating_add(MULTIPART_OVERHEAD);
    let drain_to = max.saturating_mul(DRAIN_FACTOR).max(limit);
    let (parts, body) = request.into_parts();
    let (mut capped, over) = CappedBody::new(body, limit, drain_to);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(declared) = declared.filter(|&n| n > limit as u64) {
        // Known to be too large from its header: nothing of it is parsed, only drained when
        // draining can reach its end.
        if declared <= drain_to as u64 {
            while let Some(Ok(_)) = capped.next().await {}
        }
        return Err(body_too_large(max));
    }
    let request = Request::from_parts(parts, Body::from_stream(capped));
    let mut multipart = Multipart::from_request(request, state).await.map_err(|_| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Expected a multipart/form-data body",
        )
    })?;
    // A stream error is the body's bound when `over` was raised, else a malformed body.
    let broken = |why: &str| {
        if over.load(Ordering::Relaxed) {
            body_too_large(max)
        } else {
            ApiError::field("image", why)
        }
    };
    let mut image: Option<Vec<u8>> = None;
    let refusal = loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break None,
            Err(_) => return Err(broken("the multipart body is malformed")),
        };
        if field.name() != Some("image") || image.is_some() {
            break Some(unexpected_field(field.name()));
        }
        let mut buf = Vec::new();
        let too_big = loop {
            match field.chunk().await {
                Ok(Some(chunk)) if buf.len() + chunk.len() > max => break true,
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                Ok(None) => break false,
                Err(_) => return Err(broken("the upload was cut short")),
            }
        };
        if too_big {
            break Some(too_large(max));
        }
        image = Some(buf);
    };
    if let Some(refusal) = refusal {
        drop(image);
        drain(&mut multipart).await;
        return Err(if over.load(Ordering::Relaxed) {
            body_too_large(max)
        } else {
            refusal
        });
    }
    image.ok_or_else(|| ApiError::field("image", "is required"))
}

/// Deletes the file an event's new image replaced, once the event no longer points at it.
///
/// Only a path this server gave out (`/uploads/<content hash>.<ext>`) is deleted: an absolute URL
/// is an external image, never ours to touch. The file is kept when the new upload is the same
/// picture (same name), or another event still shows it, or that cannot be checked. A failure is
/// logged: the upload itself succeeded.
async fn remove_replaced(state: &AppState, files: &dyn FileStore, old_url: &str, new_name: &str) {
    let Some(old_name) = old_url.strip_prefix("/uploads/") else {
        return;
    };
    if old_name == new_name || valid_name(old_name).is_none() {
        return;
    }
    match state.store.image_in_use(old_url).await {
        Ok(false) => {}
        Ok(true) => return,
        Err(e) => {
            tracing::warn!(error = %e, file = old_name, "replaced event image kept: cannot check its use");
            return;
        }
    }
    if let Err(e) = files.delete(&stored_name(old_name)).await {
        tracing::warn!(error = %e, file = old_name, "cannot delete a replaced event image");
    }
}

/// Sets the event's image (owner or ADMIN).
#[utoipa::path(post, path = "/events/{id}/image", tag = "events",
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event with its new `imageUrl`", body = EventView),
        (status = 400, description = "No `image` field, a second one, or a field other than `image`"),
        OwnerRefusals,
        (status = 413, description = "Larger than MAX_FILE_SIZE"),
        (status = 415, description = "Not multipart, or not a JPEG/PNG/WebP image, or above 40 megapixels"),
    ))]
async fn upload_event_image(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    request: Request,
) -> ApiResult<ApiResponse<EventView>> {
    let record = owned_event(&state, &user, id).await?;
    let max = state.config.max_file_size;
    let bytes = read_image_field(&state, request, max).await?;
    let cleaned = tokio::task::spawn_blocking(move || reencode(&bytes))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            ImageError::Unsupported(why) => ApiError::new(ErrorCode::UnsupportedMediaType, why),
            ImageError::TooManyPixels => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "The image is larger than 40 megapixels",
            ),
            ImageError::Encoding(why) => {
                ApiError::internal(anyhow::anyhow!("re-encoding an image: {why}"))
            }
        })?;
    let name = format!(
        "{}.{}",
        hex::encode(Sha256::digest(&cleaned.bytes)),
        cleaned.kind.extension()
    );
    let files = state.files.as_ref();
    files
        .put(&stored_name(&name), Bytes::from(cleaned.bytes))
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
    // Only now that no stored row nor cached answer points at it.
    if let Some(old_url) = record.event.image_url.as_deref() {
        remove_replaced(&state, files, old_url, &name).await;
    }
    Ok(ApiResponse::ok(fresh_view(&state, id).await?).message("Image uploaded"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::{GenericImageView, Rgb, RgbImage};

    /// CRC-32 of PNG chunks (the decoder checks them, so test files need real ones).
    fn crc32(parts: &[&[u8]]) -> u32 {
        let mut crc = !0u32;
        for byte in parts.iter().flat_map(|p| p.iter()) {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
    }

    /// A PNG that is only a valid header: a `width` × `height` RGB canvas whose `IDAT` is empty,
    /// so decoding its pixels can only fail.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png_chunk(&mut b, b"IHDR", &ihdr);
        png_chunk(&mut b, b"IDAT", b"");
        png_chunk(&mut b, b"IEND", b"");
        b
    }

    fn picture(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 40) as u8, (y * 60) as u8, ((x + y) * 20) as u8])
        })
    }

    /// A minimal big-endian EXIF (TIFF) block: an orientation tag, then a private string.
    fn exif(orientation: u16, secret: &[u8]) -> Vec<u8> {
        let mut b = b"MM\0\x2a\0\0\0\x08".to_vec();
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]);
        b.extend_from_slice(&orientation.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(secret);
        b
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn png_text_exif_and_trailing_bytes_are_dropped_and_the_pixels_kept() {
        let original = picture(5, 3);
        let mut encoded = Vec::new();
        PngEncoder::new(&mut encoded)
            .write_image(original.as_raw(), 5, 3, ::image::ExtendedColorType::Rgb8)
            .unwrap();
        // Signature (8) + IHDR (25), then the metadata, then the rest and trailing bytes.
        let mut b = encoded[..33].to_vec();
        png_chunk(&mut b, b"tEXt", b"Comment\0secret-text");
        png_chunk(&mut b, b"eXIf", &exif(1, b"secret-exif"));
        png_chunk(&mut b, b"prIv", b"secret-chunk");
        b.extend_from_slice(&encoded[33..]);
        b.extend_from_slice(b"secret-trailer");

        let c = reencode(&b).unwrap();
        assert_eq!((c.kind, c.width, c.height), (ImageKind::Png, 5, 3));
        assert_eq!(ImageKind::sniff(&c.bytes), Some(ImageKind::Png));
        for gone in [&b"secret"[..], b"tEXt", b"eXIf", b"prIv", b"Comment"] {
            assert!(
                !contains(&c.bytes, gone),
                "{}",
                String::from_utf8_lossy(gone)
            );
        }
        let back = ::image::load_from_memory(&c.bytes).unwrap().to_rgb8();
        assert_eq!(back, original, "PNG is re-encoded losslessly");
    }

    #[test]
    fn jpeg_exif_and_comments_are_dropped_and_the_orientation_applied() {
        let mut encoded = Vec::new();
        let mut encoder = JpegEncoder::new_with_quality(&mut encoded, 90);
        // Orientation 6: the camera was turned; viewers rotate 90° clockwise.
        encoder.set_exif_metadata(exif(6, b"secret-exif")).unwrap();
        encoder
            .write_image(
                picture(8, 4).as_raw(),
                8,
                4,
                ::image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        // A COM segment right after SOI, and bytes after EOI.
        let mut b = encoded[..2].to_vec();
        let comment = b"secret-comment";
        b.extend_from_slice(&[0xFF, 0xFE]);
        b.extend_from_slice(&((comment.len() + 2) as u16).to_be_bytes());
        b.extend_from_slice(comment);
        b.extend_from_slice(&encoded[2..]);
        b.extend_from_slice(b"secret-trailer");
        assert!(contains(&b, b"Exif\0\0"));

        let c = reencode(&b).unwrap();
        assert_eq!((c.kind, c.width, c.height), (ImageKind::Jpeg, 4, 8));
        assert!(!contains(&c.bytes, b"secret"));
        assert!(!contains(&c.bytes, b"Exif"));
        assert!(!contains(&c.bytes, &[0xFF, 0xFE]), "no COM segment");
        assert!(c.bytes.ends_with(&[0xFF, 0xD9]), "nothing after EOI");
        let back = ::image::load_from_memory(&c.bytes).unwrap();
        assert_eq!(back.dimensions(), (4, 8), "upright without its EXIF");
    }

    #[test]
    fn webp_is_reencoded_as_lossless_webp_without_exif() {
        let original = picture(6, 2);
        let mut encoded = Vec::new();
        let mut encoder = WebPEncoder::new_lossless(&mut encoded);
        encoder.set_exif_metadata(exif(1, b"secret-exif")).unwrap();
        encoder
            .write_image(original.as_raw(), 6, 2, ::image::ExtendedColorType::Rgb8)
            .unwrap();
        assert!(contains(&encoded, b"EXIF"));

        let c = reencode(&encoded).unwrap();
        assert_eq!((c.kind, c.width, c.height), (ImageKind::Webp, 6, 2));
        assert_eq!(ImageKind::sniff(&c.bytes), Some(ImageKind::Webp));
        assert!(!contains(&c.bytes, b"EXIF"));
        assert!(!contains(&c.bytes, b"secret"));
        let back = ::image::load_from_memory(&c.bytes).unwrap().to_rgb8();
        assert_eq!(back, original, "lossless");
    }

    #[test]
    fn a_small_colour_profile_is_kept() {
        let profile = vec![7u8; 600];
        let mut encoded = Vec::new();
        let mut encoder = PngEncoder::new(&mut encoded);
        encoder.set_icc_profile(profile.clone()).unwrap();
        encoder
            .write_image(
                picture(2, 2).as_raw(),
                2,
                2,
                ::image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        let c = reencode(&encoded).unwrap();
        let mut decoder =
            ::image::codecs::png::PngDecoder::new(Cursor::new(c.bytes.as_slice())).unwrap();
        assert_eq!(decoder.icc_profile().unwrap(), Some(profile));
    }

    #[test]
    fn more_than_40_megapixels_is_refused_from_the_header_before_decoding() {
        // 48 MP. Its IDAT is empty: had the pixels been decoded first, the error would be a
        // decoding one, not this.
        assert_eq!(
            reencode(&png_header(8000, 6000)).unwrap_err(),
            ImageError::TooManyPixels
        );
        // Exactly 40 MP passes the size check, then fails to decode (no pixel data).
        assert!(matches!(
            reencode(&png_header(8000, 5000)),
            Err(ImageError::Unsupported(_))
        ));
        // Inside the area but beyond the side limit set on the decoder.
        assert_eq!(
            reencode(&png_header(70_000, 1)).unwrap_err(),
            ImageError::TooManyPixels
        );
    }

    #[test]
    fn bytes_that_are_not_a_decodable_image_are_refused() {
        for bytes in [
            &b"GIF89a\x01\x00\x01\x00"[..],
            b"<?php echo 1; ?>",
            b"",
            b"\x89PNG\r\n\x1a\nnot chunks at all",
            b"\xFF\xD8\xFF\xE0 then nothing",
            b"RIFF\x10\0\0\0WEBPVP8 garbage!!",
        ] {
            assert!(
                matches!(reencode(bytes), Err(ImageError::Unsupported(_))),
                "{bytes:?}"
            );
        }
        // A PNG header with a wrong checksum.
        let mut bad = png_header(2, 2);
        bad[29] ^= 0xFF;
        assert!(matches!(reencode(&bad), Err(ImageError::Unsupported(_))));
    }

    #[test]
    fn only_names_this_server_gives_are_served() {
        assert!(valid_name("../etc/passwd").is_none());
        assert!(valid_name(&format!("{}.PNG", "a".repeat(64))).is_none());
        assert!(valid_name(&format!("{}.png", "A".repeat(64))).is_none());
        assert_eq!(
            valid_name(&format!("{}.png", "a".repeat(64))),
            Some(ImageKind::Png)
        );
    }

    mod generated {
        use super::*;
        use proptest::prelude::*;

        fn encoded(kind: ImageKind) -> Vec<u8> {
            let mut out = Vec::new();
            ::image::DynamicImage::ImageRgb8(picture(6, 4))
                .write_to(&mut Cursor::new(&mut out), kind.format())
                .unwrap();
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(256)))]

            #[test]
            fn any_bytes_behind_an_allowed_signature_are_refused_or_a_bounded_image(
                magic in prop_oneof![
                    Just(vec![0xFF, 0xD8, 0xFF]),
                    Just(b"\x89PNG\r\n\x1a\n".to_vec()),
                    Just(b"RIFF\0\0\0\0WEBP".to_vec()),
                ],
                rest in proptest::collection::vec(any::<u8>(), 0..1024),
            ) {
                let mut bytes = magic;
                bytes.extend(rest);
                if let Ok(clean) = reencode(&bytes) {
                    prop_assert!(u64::from(clean.width) * u64::from(clean.height) <= MAX_PIXELS);
                    prop_assert_eq!(ImageKind::sniff(&clean.bytes), Some(clean.kind));
                }
            }

            #[test]
            fn a_damaged_real_image_is_refused_or_comes_back_clean(
                kind in prop_oneof![Just(ImageKind::Png), Just(ImageKind::Jpeg), Just(ImageKind::Webp)],
                changes in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                keep in any::<usize>(),
            ) {
                let mut bytes = encoded(kind);
                for (at, value) in changes {
                    let at = at % bytes.len();
                    bytes[at] = value;
                }
                bytes.truncate(keep % (bytes.len() + 1));
                if let Ok(clean) = reencode(&bytes) {
                    prop_assert_eq!(ImageKind::sniff(&clean.bytes), Some(clean.kind));
                }
            }
        }
    }
}
