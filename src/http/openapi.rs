//! The OpenAPI 3.1 document and the interactive docs. Swagger UI's files are compiled into the
//! binary (`utoipa-swagger-ui` with `vendored`), so `/api` works with no network at all.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "TicketMax API",
        description = "Event ticketing that never oversells. Every JSON answer uses the envelope \
            `{success, data, message, timestamp}`; errors `{success:false, message, error:{code, details}, timestamp, requestId}`.",
    ),
    tags(
        (name = "health", description = "Liveness, dependencies and metrics"),
    )
)]
struct BaseDoc;

/// The document before routes are added.
pub fn base_document() -> utoipa::openapi::OpenApi {
    BaseDoc::openapi()
}

/// Adds what the route macros cannot: the bearer security scheme and the version.
pub fn finish(doc: &mut utoipa::openapi::OpenApi) {
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
}

const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>TicketMax API</title>
  <link rel="stylesheet" href="{docs}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{docs}/swagger-ui-bundle.js"></script>
  <script src="{docs}/swagger-ui-standalone-preset.js"></script>
  <script src="{docs}/swagger-initializer.js"></script>
</body>
</html>
"#;

/// `/api-json`, `{prefix}/openapi.json`, and the docs page at `{prefix}` and `{prefix}/docs`.
pub fn docs_router(prefix: &str, doc: utoipa::openapi::OpenApi) -> Router<AppState> {
    let json = Arc::new(doc.to_json().unwrap_or_else(|_| "{}".to_string()));
    let docs = format!("{prefix}/docs");
    let index = Html(INDEX.replace("{docs}", &docs));
    let config = Arc::new(utoipa_swagger_ui::Config::new(["/api-json"]));
    let serve_json = {
        let json = json.clone();
        move || {
            let json = json.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    json.as_str().to_owned(),
                )
            }
        }
    };
    let page = move || {
        let index = index.clone();
        async move { index }
    };
    Router::new()
        .route("/api-json", get(serve_json.clone()))
        .route(&format!("{prefix}/openapi.json"), get(serve_json))
        .route(prefix, get(page.clone()))
        .route(&docs, get(page.clone()))
        .route(&format!("{docs}/"), get(page))
        .route(
            &format!("{docs}/{{file}}"),
            get(move |Path(file): Path<String>| {
                let config = config.clone();
                async move { asset(&file, config) }
            }),
        )
}

fn asset(file: &str, config: Arc<utoipa_swagger_ui::Config<'static>>) -> Response {
    match utoipa_swagger_ui::serve(file, config) {
        Ok(Some(asset)) => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, asset.content_type),
                    (header::CACHE_CONTROL, "public, max-age=86400".to_string()),
                ],
                asset.bytes.into_owned(),
            )
                .into_response();
            if asset.gzpipped {
                response.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    header::HeaderValue::from_static("gzip"),
                );
            }
            response
        }
        Ok(None) => crate::http::ApiError::not_found("File").into_response(),
        Err(e) => {
            crate::http::ApiError::internal(anyhow::anyhow!("swagger ui: {e}")).into_response()
        }
    }
}
