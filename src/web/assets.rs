//! The pages' static files, embedded in the binary and served at `/static/{stem}.{hash}.{ext}`:
//! the hash of the content is in the URL, so a file can be cached for a year
//! (`immutable`) and a new build's file has a new URL. Templates name a file with
//! `asset("console.css")`.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// An embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("static/", $name)),
        }
    };
}

/// Every file (uPlot 1.6.31 and jsQR 1.4.0 from npm, MIT and Apache-2.0; each LICENSE is kept
/// beside it).
const ASSETS: [Asset; 9] = [
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("charts.js", "text/javascript; charset=utf-8"),
    asset!("live.js", "text/javascript; charset=utf-8"),
    asset!("countdown.js", "text/javascript; charset=utf-8"),
    asset!("availability.js", "text/javascript; charset=utf-8"),
    asset!("scanner.js", "text/javascript; charset=utf-8"),
    asset!(
        "vendor/uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
    asset!("vendor/jsqr/jsQR.js", "text/javascript; charset=utf-8"),
];

/// Hashed URL by name, and file by the URL's last segment.
struct Index {
    urls: HashMap<&'static str, String>,
    files: HashMap<String, &'static Asset>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut urls = HashMap::new();
        let mut files = HashMap::new();
        for asset in &ASSETS {
            let hash = hex::encode(&Sha256::digest(asset.bytes)[..6]);
            let base = asset.name.rsplit('/').next().unwrap_or(asset.name);
            let (stem, ext) = base.rsplit_once('.').unwrap_or((base, ""));
            let file = format!("{stem}.{hash}.{ext}");
            urls.insert(asset.name, format!("/static/{file}"));
            files.insert(file, asset);
        }
        Index { urls, files }
    })
}

/// The hashed URL of an embedded file (empty for an unknown name, which a test catches).
pub fn url(name: &str) -> String {
    index().urls.get(name).cloned().unwrap_or_default()
}

/// `GET /static/{file}`: an embedded file, cached for a year.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = index().files.get(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_a_hashed_url_that_serves_it() {
        for asset in &ASSETS {
            let url = url(asset.name);
            let file = url.strip_prefix("/static/").expect("under /static");
            assert!(index().files.contains_key(file), "{url}");
            assert_ne!(file, asset.name);
        }
    }
}
