//! The OpenAPI 3.1 document and the interactive docs. Swagger UI's files are compiled into the
//! binary (`utoipa-swagger-ui` with `vendored`), so `/api` works with no network at all.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::path::Paths;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

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

/// Registering an area's routes at their full paths under the API prefix.
///
/// `OpenApiRouter::nest` would do the same for the document, but axum serves a nested route
/// through two more layers (`StripPrefix` re-parses every request's URI without the prefix,
/// `SetNestedPath` adds an extension) and one more boxed service: ~6 allocations and ~3,000
/// instructions a request (BENCHMARKS.md, "Instructions per cached read").
pub trait RoutesAt {
    /// `routes` (from `utoipa_axum::routes!`), each path under `prefix`.
    fn routes_at(self, prefix: &str, routes: UtoipaMethodRouter<AppState>) -> Self;
}

impl RoutesAt for OpenApiRouter<AppState> {
    fn routes_at(
        self,
        prefix: &str,
        (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
    ) -> Self {
        let mut prefixed = Paths::new();
        for (path, item) in paths.paths {
            prefixed.paths.insert(format!("{prefix}{path}"), item);
        }
        self.routes((schemas, prefixed, method_router))
    }
}

/// The document before routes are added.
pub fn base_document() -> utoipa::openapi::OpenApi {
    BaseDoc::openapi()
}

/// The published document: what the route macros give, plus the bearer security scheme, the
/// version, and the answers every route shares ([`complete`]). It is finished as JSON, because
/// the document's types cannot hold all of JSON Schema (`const`, `contentSchema`).
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> Value {
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
    let mut value = serde_json::to_value(&doc).expect("the document serializes");
    complete(&mut value);
    value
}

/// A `from`/`to` value: a `YYYY-MM-DD` date, or an RFC 3339 time (days kept to 1–28 so that
/// every string the pattern allows is a real date).
const INSTANT_PATTERN: &str = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])([Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$";

/// The HTTP methods of a path item.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// What the route annotations leave to one place, because it is the same for every route
/// (API.md §1):
/// - a JSON success is the envelope `{success, data, message, timestamp, meta?}` around the
///   documented `data`, and a server-sent event carries the documented object as JSON `data`;
/// - every 4xx/5xx is the error envelope, and the refusals any route can give are listed: 400
///   for a route that takes input, 401 (a bearer token that is not valid, or a webhook's bad
///   signature), 404 for a path with ids, 413 and 415 for a body, 429 for the API's rate
///   limits;
/// - `page` is at least 1 and `limit` from 1 to 100 wherever a route does not say otherwise;
///   `from` and `to` are times or dates.
fn complete(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    schemas["ErrorEnvelope"] = error_envelope();
    schemas["PageMeta"] = json!({
        "type": "object",
        "required": ["page", "limit", "total", "totalPages"],
        "properties": {
            "page": {"type": "integer", "minimum": 1},
            "limit": {"type": "integer", "minimum": 1},
            "total": {"type": "integer", "minimum": 0},
            "totalPages": {"type": "integer", "minimum": 0},
        },
    });
    let fields_of: HashMap<String, Vec<String>> = schemas
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, schema)| {
            let fields = schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (format!("#/components/schemas/{name}"), fields)
        })
        .collect();
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            if let Some(op) = item.get_mut(method) {
                describe_fields(op, &fields_of);
                complete_operation(path, op);
            }
        }
    }
    // A guest books with the account's body, its contact then required (API.md §4).
    if let Some(body) = doc.pointer_mut(
        "/paths/~1api~1bookings~1guest/post/requestBody/content/application~1json/schema",
    ) {
        *body = json!({"allOf": [body.take(), {
            "type": "object",
            "required": ["customerEmail", "customerName"],
            "properties": {"customerEmail": {"type": "string"}, "customerName": {"type": "string"}},
        }]});
    }
}

/// `fields=a,b` names top-level fields of what the route returns (API.md §1): the parameter's
/// pattern lists them, taken from the success answer's schema.
fn describe_fields(op: &mut Value, fields_of: &HashMap<String, Vec<String>>) {
    let data = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(status, _)| status.starts_with('2'))
        .find_map(|(_, r)| r.pointer("/content/application~1json/schema").cloned());
    let Some(data) = data else { return };
    let reference = data["$ref"].as_str().or(data["items"]["$ref"].as_str());
    let Some(names) = reference.and_then(|r| fields_of.get(r)) else {
        return;
    };
    let name = format!("(?:{})", names.join("|"));
    let pattern = format!("^ *(?:{name} *)?(?:, *(?:{name} *)?)*$");
    let mut selects = false;
    let parameters = op.get_mut("parameters").and_then(Value::as_array_mut);
    for param in parameters.into_iter().flatten() {
        if param["in"] == "query" && param["name"] == "fields" {
            param["schema"]["pattern"] = Value::String(pattern.clone());
            selects = true;
        }
    }
    if !selects {
        return;
    }
    // With `fields`, an object carries the named fields and `id` only.
    let selected = |full: &Value| json!({"anyOf": [full, {"type": "object", "required": ["id"]}]});
    let responses = op.get_mut("responses").and_then(Value::as_object_mut);
    for (status, response) in responses.into_iter().flatten() {
        if !status.starts_with('2') {
            continue;
        }
        if let Some(schema) = response.pointer_mut("/content/application~1json/schema") {
            if schema.get("items").is_some() {
                schema["items"] = selected(&schema["items"]);
            } else {
                *schema = selected(schema);
            }
        }
    }
}

fn complete_operation(path: &str, op: &mut Value) {
    let api = path.starts_with("/api/");
    let has_path_ids = path.contains('{');
    let has_body = op.get("requestBody").is_some();
    let parameters = op
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .map(|params| {
            params.iter_mut().for_each(bound_query);
            params.len()
        })
        .unwrap_or(0);
    let paginated = op["parameters"]
        .as_array()
        .is_some_and(|params| params.iter().any(|p| p["name"] == "page"));
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        if status.starts_with('2') {
            if let Some(schema) = response.pointer_mut("/content/application~1json/schema") {
                *schema = success_envelope(schema.take(), paginated);
            }
            if let Some(schema) = response.pointer_mut("/content/text~1event-stream/schema") {
                *schema = server_sent_event(schema.take());
            }
        }
    }
    let mut shared = Vec::new();
    if has_body || parameters > 0 || has_path_ids {
        shared.push((
            "400",
            "VALIDATION_FAILED: the input breaks a rule named in `details`",
        ));
    }
    if api {
        shared.push((
            "401",
            "UNAUTHORIZED: a missing, invalid or expired bearer token",
        ));
        shared.push(("403", "IP_BLOCKED: the client's IP is blocked for abuse"));
        shared.push((
            "429",
            "RATE_LIMITED: too many requests; `Retry-After` says when to retry",
        ));
    }
    if has_path_ids {
        shared.push((
            "404",
            "NOT_FOUND: no such resource, or not one the caller may see",
        ));
    }
    if has_body {
        shared.push(("413", "PAYLOAD_TOO_LARGE: the body is over its limit"));
        shared.push((
            "415",
            "UNSUPPORTED_MEDIA_TYPE: a body of another type than documented",
        ));
    }
    for (status, description) in shared {
        responses
            .entry(status)
            .or_insert_with(|| json!({"description": description}));
    }
    // Pages (the test checkout's) answer their own refusals in HTML, but input the framework
    // cannot read is refused in JSON before the handler runs: both are listed.
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if is_error && response.pointer("/content/application~1json").is_none() {
            response["content"]["application/json"] =
                json!({"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}});
        }
    }
}

/// `page` ≥ 1 and `limit` 1–100 (API.md §1), unless the route documents its own bounds; `from`
/// and `to` are RFC 3339 times or `YYYY-MM-DD` dates (§11.62) on every route.
fn bound_query(param: &mut Value) {
    if param["in"] != "query" {
        return;
    }
    let bounds = match param["name"].as_str() {
        Some("page") => json!({"minimum": 1}),
        Some("limit") => json!({"minimum": 1, "maximum": 100}),
        Some("from" | "to") => {
            param["schema"]["pattern"] = Value::String(INSTANT_PATTERN.to_string());
            return;
        }
        _ => return,
    };
    let schema = &mut param["schema"];
    if schema.get("minimum").is_none() && schema.get("maximum").is_none() {
        for (key, value) in bounds.as_object().into_iter().flatten() {
            schema[key] = value.clone();
        }
    }
}

fn success_envelope(data: Value, paginated: bool) -> Value {
    let mut required = vec!["success", "data", "message", "timestamp"];
    if paginated {
        required.push("meta");
    }
    json!({
        "type": "object",
        "required": required,
        "properties": {
            "success": {"type": "boolean", "const": true},
            "data": data,
            "message": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
            "meta": {"$ref": "#/components/schemas/PageMeta"},
        },
    })
}

/// One event of a `text/event-stream` answer: its `data` is the documented object as JSON.
fn server_sent_event(data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["data"],
        "properties": {
            "event": {"type": "string"},
            "id": {"type": "string"},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": data,
            },
        },
    })
}

fn error_envelope() -> Value {
    json!({
        "type": "object",
        "description": "Every 4xx and 5xx answer (API.md §1).",
        "required": ["success", "message", "error", "timestamp", "requestId"],
        "properties": {
            "success": {"type": "boolean", "const": false},
            "message": {"type": "string"},
            "error": {
                "type": "object",
                "required": ["code"],
                "properties": {
                    "code": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                },
            },
            "timestamp": {"type": "string", "format": "date-time"},
            "requestId": {"type": "string"},
        },
    })
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
pub fn docs_router(prefix: &str, doc: &Value) -> Router<AppState> {
    let json = Arc::new(doc.to_string());
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
