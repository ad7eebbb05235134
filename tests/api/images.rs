//! Event image uploads (API.md §11.73): re-encoded without metadata, refused above 40 megapixels
//! from the header alone, only the field `image` in a bounded body, and a replaced image's file
//! deleted unless another event still shows it.

use std::path::PathBuf;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, GenericImageView, ImageEncoder, Rgb, RgbImage};
use reqwest::Method;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::{create, event_body};
use crate::helpers::{TestApp, TestResponse};

const BOUNDARY: &str = "tm-images-5c1d";

/// A multipart body of `parts` (name, file name, bytes) after a `preamble` (bytes before the first
/// boundary, which a multipart parser skips).
fn multipart(preamble: &[u8], parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let mut body = preamble.to_vec();
    for (name, filename, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

async fn upload(app: &TestApp, token: &str, event: &str, ct: &str, body: Vec<u8>) -> TestResponse {
    app.request(Method::POST, &format!("/api/events/{event}/image"))
        .token(token)
        .body(ct, body)
        .send()
        .await
}

/// Sends an upload in 64 KiB chunks, without a `Content-Length`.
async fn send_streamed(
    app: &TestApp,
    token: &str,
    event: &str,
    ct: &str,
    body: &[u8],
) -> TestResponse {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    app.request(Method::POST, &format!("/api/events/{event}/image"))
        .token(token)
        .body(
            ct,
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
        )
        .send()
        .await
}

/// Uploads one image and returns its absolute URL.
async fn upload_image(app: &TestApp, token: &str, event: &str, bytes: &[u8]) -> String {
    let (ct, body) = multipart(b"", &[("image", "picture.png", bytes)]);
    let r = upload(app, token, event, &ct, body).await;
    r.assert_status(200);
    r.data()["imageUrl"].as_str().unwrap().to_string()
}

/// Where the server keeps an uploaded file.
fn stored_file(app: &TestApp, url: &str) -> PathBuf {
    let name = url.rsplit('/').next().unwrap();
    PathBuf::from(&app.state.config.upload_dest)
        .join("events")
        .join(name)
}

fn stored_files(app: &TestApp) -> usize {
    std::fs::read_dir(PathBuf::from(&app.state.config.upload_dest).join("events"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn new_event(app: &TestApp, token: &str, title: &str) -> String {
    let e = create(app, token, &event_body(title, 5)).await;
    e["id"].as_str().unwrap().to_string()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

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

pub fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

pub fn picture(width: u32, height: u32, tint: u8) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 40) as u8, (y * 60) as u8, tint])
    })
}

pub fn png(picture: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            picture.as_raw(),
            picture.width(),
            picture.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
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

async fn a_png_comes_back_without_its_text_and_exif_chunks_and_still_decodes(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let event = new_event(&app, &token, "Text chunks").await;
    let original = picture(5, 3, 99);
    let encoded = png(&original);
    // Signature (8) + IHDR (25), then the metadata, then the pixels, then trailing bytes.
    let mut b = encoded[..33].to_vec();
    png_chunk(&mut b, b"tEXt", b"Comment\0secret-text");
    png_chunk(&mut b, b"iTXt", b"Author\0\0\0\0\0secret-itxt");
    png_chunk(&mut b, b"eXIf", &exif(1, b"secret-exif"));
    b.extend_from_slice(&encoded[33..]);
    b.extend_from_slice(b"secret-trailer");

    let url = upload_image(&app, &token, &event, &b).await;
    assert!(url.ends_with(".png"), "{url}");
    let got = app.client.get(&url).send().await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    let bytes = got.bytes().await.unwrap();
    for gone in [&b"secret"[..], b"tEXt", b"iTXt", b"eXIf"] {
        assert!(
            !contains(&bytes, gone),
            "{} survived",
            String::from_utf8_lossy(gone)
        );
    }
    let back = image::load_from_memory(&bytes).unwrap();
    assert_eq!(back.dimensions(), (5, 3));
    assert_eq!(back.to_rgb8(), original, "the pixels are kept");
}

async fn a_jpeg_comes_back_as_a_jpeg_without_exif_or_comments_and_upright(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let event = new_event(&app, &token, "Camera photo").await;
    let mut encoded = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut encoded, 90);
    // Orientation 6: viewers rotate the 8 × 4 pixels a quarter turn, showing 4 × 8.
    encoder.set_exif_metadata(exif(6, b"secret-gps")).unwrap();
    encoder
        .write_image(picture(8, 4, 7).as_raw(), 8, 4, ExtendedColorType::Rgb8)
        .unwrap();
    let mut b = encoded[..2].to_vec();
    let comment = b"secret-comment";
    b.extend_from_slice(&[0xFF, 0xFE]);
    b.extend_from_slice(&((comment.len() + 2) as u16).to_be_bytes());
    b.extend_from_slice(comment);
    b.extend_from_slice(&encoded[2..]);

    // Named and declared as a PNG: the bytes decide.
    let url = upload_image(&app, &token, &event, &b).await;
    assert!(url.ends_with(".jpg"), "{url}");
    let got = app.client.get(&url).send().await.unwrap();
    assert_eq!(got.headers()["content-type"], "image/jpeg");
    let bytes = got.bytes().await.unwrap();
    assert!(!contains(&bytes, b"secret"));
    assert!(!contains(&bytes, b"Exif"));
    let back = image::load_from_memory(&bytes).unwrap();
    assert_eq!(back.dimensions(), (4, 8), "upright without its EXIF");
}

async fn an_image_above_40_megapixels_is_refused_from_its_header(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let event = new_event(&app, &token, "Bomb").await;
    // A valid header declaring 8000 × 6000 (48 MP) and no pixel data: a tiny file that would
    // decode to 144 MB.
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = 8000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&6000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut b, b"IHDR", &ihdr);
    png_chunk(&mut b, b"IDAT", b"");
    png_chunk(&mut b, b"IEND", b"");
    assert!(b.len() < 100);

    let (ct, body) = multipart(b"", &[("image", "bomb.png", &b)]);
    let r = upload(&app, &token, &event, &ct, body).await;
    r.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("40 megapixels"),
        "refused for its size, not as undecodable: {}",
        r.text
    );
    assert!(app.get(&format!("/api/events/{event}")).await.data()["imageUrl"].is_null());
    assert_eq!(stored_files(&app), 0);
}

async fn fields_other_than_image_are_refused_and_the_body_is_bounded(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let event = new_event(&app, &token, "Fields").await;
    let image = png(&picture(3, 3, 1));
    let six_mib = vec![b'x'; 6 * 1024 * 1024];

    // A small unknown field before the image: refused by its name, before its content is read.
    let (ct, body) = multipart(
        b"",
        &[("notes", "n.txt", b"hello"), ("image", "a.png", &image)],
    );
    let r = upload(&app, &token, &event, &ct, body).await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(
        r.body["error"]["details"][0]["field"], "notes",
        "{}",
        r.text
    );
    // A large one: the size decides first, whether the length is declared or streamed.
    let (ct, body) = multipart(
        b"",
        &[("notes", "notes.txt", &six_mib), ("image", "a.png", &image)],
    );
    upload(&app, &token, &event, &ct, body.clone())
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    send_streamed(&app, &token, &event, &ct, &body)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");

    // A small unknown field after a valid image, and a second image: refused just the same.
    let (ct, body) = multipart(b"", &[("image", "a.png", &image), ("caption", "c", b"hi")]);
    let r = upload(&app, &token, &event, &ct, body).await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "caption");
    let (ct, body) = multipart(
        b"",
        &[("image", "a.png", &image), ("image", "b.png", &image)],
    );
    let r = upload(&app, &token, &event, &ct, body).await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "image");

    // 6 MiB skipped by the parser before the first boundary, with a small valid image after it:
    // the whole body is bounded, whether its length is declared...
    let (ct, body) = multipart(&six_mib, &[("image", "a.png", &image)]);
    upload(&app, &token, &event, &ct, body.clone())
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    // ...or streamed in chunks without a Content-Length.
    send_streamed(&app, &token, &event, &ct, &body)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");

    assert!(
        app.get(&format!("/api/events/{event}")).await.data()["imageUrl"].is_null(),
        "nothing was set"
    );
    assert_eq!(stored_files(&app), 0, "nothing was stored");
    // The same image alone still goes through.
    upload_image(&app, &token, &event, &image).await;
}

async fn replacing_an_image_deletes_the_old_file_but_not_a_shared_or_external_one(app: TestApp) {
    let (_, token) = app.create_user(Role::Organizer).await;
    let first = new_event(&app, &token, "First").await;
    let second = new_event(&app, &token, "Second").await;
    let [a, b, c, d] = [1, 2, 3, 4].map(|tint| png(&picture(4, 4, tint * 50)));

    let url_a = upload_image(&app, &token, &first, &a).await;
    assert!(stored_file(&app, &url_a).exists());
    let url_b = upload_image(&app, &token, &first, &b).await;
    assert_ne!(url_a, url_b);
    assert_eq!(app.client.get(&url_a).send().await.unwrap().status(), 404);
    assert!(
        !stored_file(&app, &url_a).exists(),
        "the replaced file is gone"
    );
    assert_eq!(app.client.get(&url_b).send().await.unwrap().status(), 200);

    // The same picture on another event is the same file: replacing it on the first event keeps
    // it for the second.
    assert_eq!(upload_image(&app, &token, &second, &b).await, url_b);
    let url_c = upload_image(&app, &token, &first, &c).await;
    assert_eq!(app.client.get(&url_b).send().await.unwrap().status(), 200);
    // Uploading the current picture again keeps its file.
    assert_eq!(upload_image(&app, &token, &first, &c).await, url_c);
    assert_eq!(app.client.get(&url_c).send().await.unwrap().status(), 200);

    // An absolute URL is an external image, never deleted, even when its path looks like ours.
    let id: Uuid = first.parse().unwrap();
    let record = app.state.store.event_record(id).await.unwrap().unwrap();
    let mut row = record.event.clone();
    let name_c = url_c.rsplit('/').next().unwrap();
    row.image_url = Some(format!("https://cdn.example.com/uploads/{name_c}"));
    app.state
        .store
        .update_event(&record.event, &row, None)
        .await
        .unwrap();
    app.state.cache.invalidate().await;
    let url_d = upload_image(&app, &token, &first, &d).await;
    assert!(
        stored_file(&app, &url_c).exists(),
        "an external URL is not ours"
    );
    assert_eq!(app.client.get(&url_d).send().await.unwrap().status(), 200);
}

both_backends!(
    a_png_comes_back_without_its_text_and_exif_chunks_and_still_decodes,
    a_jpeg_comes_back_as_a_jpeg_without_exif_or_comments_and_upright,
    an_image_above_40_megapixels_is_refused_from_its_header,
    fields_other_than_image_are_refused_and_the_body_is_bounded,
    replacing_an_image_deletes_the_old_file_but_not_a_shared_or_external_one
);
