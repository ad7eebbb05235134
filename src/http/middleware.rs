//! The outermost middleware: request id, the request span, request metrics, security headers,
//! and the envelope for error answers that layers or axum produced without one (405 from the
//! router, 408 from the timeout, 413 from the body limit).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::{ApiError, ErrorCode, request_id};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");

/// Built once: names parsed from strings on every answer cost ~1,500 instructions a request.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 4] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::X_XSS_PROTECTION,
        HeaderValue::from_static("1; mode=block"),
    ),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    ),
];

/// Content-Security-Policy of the HTML pages the server renders itself (docs, checkout).
pub const HTML_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'self'";

/// Wraps a service with [`Observe`]; `production` adds HSTS to every answer.
#[derive(Clone)]
pub struct ObserveLayer {
    pub production: bool,
    /// The route's name for the log and the metrics, where axum's `MatchedPath` does not give
    /// it: the kept answers served before routing ([`crate::http::kept`]).
    pub route: Option<Arc<str>>,
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            production: self.production,
            route: self.route.clone(),
            inner,
        }
    }
}

/// Request id, span, metrics, security headers and the error-envelope safety net, around every
/// request. A service of its own rather than `from_fn`, which clones the whole stack below it
/// and boxes it again on every request.
#[derive(Clone)]
pub struct Observe<S> {
    production: bool,
    route: Option<Arc<str>>,
    inner: S,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        // An incoming id shares the request's buffer: echoing it copies nothing.
        let id: HeaderValue = req
            .headers()
            .get(&X_REQUEST_ID)
            .filter(|v| v.to_str().is_ok_and(request_id::is_valid))
            .cloned()
            .unwrap_or_else(request_id::generate);
        let method = req.method().clone();
        let route = match &self.route {
            Some(named) => Some(RouteName::Named(Arc::clone(named))),
            None => req
                .extensions()
                .get::<MatchedPath>()
                .cloned()
                .map(RouteName::Matched),
        };
        let span = tracing::info_span!(
            "request",
            method = %method,
            route = %route.as_ref().map_or("unmatched", RouteName::as_str),
            request_id = id.to_str().unwrap_or_default(),
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let mut id = Some(id);
        // The inner layers' synchronous part runs in the request's scope and span too.
        let inner = {
            let _entered = span.enter();
            request_id::scoped(&mut id, || self.inner.call(req))
        };
        ObserveFuture {
            inner,
            span,
            id,
            method,
            route,
            started,
            production: self.production,
        }
    }
}

/// A request's route as the log and the metrics name it.
enum RouteName {
    /// As axum matched it.
    Matched(MatchedPath),
    /// As the layer was told.
    Named(Arc<str>),
}

impl RouteName {
    fn as_str(&self) -> &str {
        match self {
            RouteName::Matched(matched) => matched.as_str(),
            RouteName::Named(named) => named,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of the service below, observed. Written out rather than an `async` block in a
    /// box: the stack's future stays where axum's route boxed it, instead of being moved into a
    /// second box and through the span's and the request id's wrappers on every request.
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        id: Option<HeaderValue>,
        method: Method,
        route: Option<RouteName>,
        started: Instant,
        production: bool,
    }
}

impl<F> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let inner = this.inner;
        // The envelope reads the request id, so it is built inside the id's scope too.
        let Poll::Ready(mut response) = request_id::scoped(this.id, || {
            inner.poll(cx).map(|Ok(response)| ensure_envelope(response))
        }) else {
            return Poll::Pending;
        };
        let status = response.status();
        let elapsed = this.started.elapsed();
        this.span.record("status", status.as_u16());
        this.span
            .record("latency_ms", elapsed.as_secs_f64() * 1000.0);
        if status.is_server_error() {
            tracing::error!("request finished");
        } else {
            tracing::info!("request finished");
        }
        let route = this.route.as_ref().map_or("unmatched", RouteName::as_str);
        crate::telemetry::record_request(this.method, route, status.as_u16(), elapsed);
        // A future polled again after its answer would find no id (it never is).
        let id = this.id.take().unwrap_or_else(request_id::generate);
        set_headers(response.headers_mut(), id, *this.production);
        Poll::Ready(Ok(response))
    }
}

/// The request id, the security headers, HSTS in production, and the pages' CSP.
fn set_headers(headers: &mut HeaderMap, id: HeaderValue, production: bool) {
    headers.insert(X_REQUEST_ID, id);
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, value);
    }
    // The door's pages widen the permissions policy to the camera (`web::door`); every other
    // answer gets this one.
    headers
        .entry(PERMISSIONS_POLICY)
        .or_insert(HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=()",
        ));
    if production {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(HTML_CSP),
        );
    }
}

/// Gives an error answer without a JSON body the contract's envelope, keeping its headers
/// (`Allow`, `Retry-After`).
fn ensure_envelope(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // JSON errors already carry the envelope; HTML error pages (the console's) are meant for
    // people and keep their body.
    let typed = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if typed {
        return response;
    }
    // axum's extractors refuse a body or form they cannot read with a bare 422; the contract
    // calls that 400 VALIDATION_FAILED (its only 422 is IDEMPOTENCY_MISMATCH, always JSON).
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    let code = ErrorCode::for_status(status);
    let message = match code {
        ErrorCode::MethodNotAllowed => "Method not allowed on this route".to_string(),
        ErrorCode::NotFound => "Route not found".to_string(),
        ErrorCode::RequestTimeout => "The request took too long".to_string(),
        ErrorCode::PayloadTooLarge => "The request body is too large".to_string(),
        ErrorCode::ValidationFailed => "The request could not be read".to_string(),
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    };
    let (parts, _) = response.into_parts();
    let mut fixed = ApiError::new(code, message).into_response();
    *fixed.status_mut() = status;
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            fixed.headers_mut().insert(name, v.clone());
        }
    }
    fixed
}

/// The 404 answer for a path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "Route not found")
}

/// The 405 answer for a known path with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "Method not allowed on this route",
    )
}
