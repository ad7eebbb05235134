//! tower-http layers applied only to the requests that need them. Compression (gzip, br; API.md
//! §9) moves every answer's body into its `CompressionBody`, an enum sized for the encoders'
//! state, boxed again as an axum `Body`; CORS builds a header map and an origin future for every
//! request. A request without `Accept-Encoding`, or without `Origin` (not a browser's
//! cross-origin request), has no use for either: it goes straight to the inner service and its
//! answer gets only the `Vary` header the layer would have added (BENCHMARKS.md, "The
//! middleware stack"). Every other request goes through the tower-http layer unchanged.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, Response, header};
use bytes::Bytes;
use futures_util::future::{Either, FutureExt, Map};
use tower::util::Oneshot;
use tower::{BoxError, Layer, Service, ServiceExt};

/// Which requests a layer is for, and what it does to the answers of the others.
pub trait Bypass: Send + Sync + 'static {
    /// Whether the request needs the layer.
    fn needs(req: &Request) -> bool;
    /// What the layer would have done to the answer of a request that does not need it.
    fn answer(response: &mut Response<Body>);
}

/// Compression: for requests that say which encodings they accept.
#[derive(Debug)]
pub enum Compression {}

impl Bypass for Compression {
    fn needs(req: &Request) -> bool {
        req.headers().contains_key(header::ACCEPT_ENCODING)
    }

    /// tower-http, for a client that accepts only identity: `Vary: accept-encoding` on an answer
    /// it may compress.
    fn answer(response: &mut Response<Body>) {
        let headers = response.headers();
        let compressible = !headers.contains_key(header::CONTENT_ENCODING)
            && !headers.contains_key(header::CONTENT_RANGE)
            && compressible(response);
        if compressible {
            add_vary(response, header::ACCEPT_ENCODING);
        }
    }
}

/// tower-http's `DefaultPredicate`, reading `Content-Type` once where it reads it three times
/// (once per content type it excludes): a body of at least 32 bytes (or of unknown size), and
/// not gRPC (gRPC-Web is), not an image (SVG is), not an event stream.
fn compressible<B: axum::body::HttpBody>(response: &Response<B>) -> bool {
    let size = response.body().size_hint().exact().or_else(|| {
        response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    });
    if size.is_some_and(|size: u64| size < 32) {
        return false;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let excluded = |prefix: &str, exception: Option<&str>| {
        content_type.starts_with(prefix) && !exception.is_some_and(|e| content_type.starts_with(e))
    };
    !(excluded("application/grpc", Some("application/grpc-web"))
        || excluded("image/", Some("image/svg+xml"))
        || excluded("text/event-stream", None))
}

/// CORS: for requests with an `Origin`, and every `OPTIONS` (tower-http answers each as a
/// preflight).
#[derive(Debug)]
pub enum Cors {}

impl Bypass for Cors {
    fn needs(req: &Request) -> bool {
        req.method() == Method::OPTIONS || req.headers().contains_key(header::ORIGIN)
    }

    /// tower-http's `Vary: origin`. (Its `Access-Control-Expose-Headers` means nothing without
    /// an `Access-Control-Allow-Origin`, which a request without `Origin` never gets.)
    fn answer(response: &mut Response<Body>) {
        add_vary(response, header::ORIGIN);
    }
}

/// Appends `name` to `Vary` unless a `Vary` value lists it already.
fn add_vary(response: &mut Response<Body>, name: HeaderName) {
    let named = response.headers().get_all(header::VARY).iter().any(|v| {
        v.as_bytes().split(|b| *b == b',').any(|token| {
            token
                .trim_ascii()
                .eq_ignore_ascii_case(name.as_str().as_bytes())
        })
    });
    if !named {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_name(name));
    }
}

/// Applies `layer` to the requests `B` says need it.
pub struct BypassLayer<B, L> {
    layer: Arc<L>,
    kind: PhantomData<fn() -> B>,
}

impl<B, L> BypassLayer<B, L> {
    /// `layer`, for the requests that need it.
    pub fn new(layer: L) -> Self {
        Self {
            layer: Arc::new(layer),
            kind: PhantomData,
        }
    }
}

impl<B, L> Clone for BypassLayer<B, L> {
    fn clone(&self) -> Self {
        Self {
            layer: Arc::clone(&self.layer),
            kind: PhantomData,
        }
    }
}

impl<B, L, S> Layer<S> for BypassLayer<B, L> {
    type Service = BypassService<B, L, S>;

    fn layer(&self, inner: S) -> Self::Service {
        BypassService {
            layer: Arc::clone(&self.layer),
            inner,
            kind: PhantomData,
        }
    }
}

/// The inner service, through the layer for the requests that need it. The layer is shared and
/// applied per request that needs it: axum clones a route's whole stack for every request, and
/// a `CorsLayer` held by value is two vectors cloned and dropped again each time.
pub struct BypassService<B, L, S> {
    layer: Arc<L>,
    inner: S,
    kind: PhantomData<fn() -> B>,
}

impl<B, L, S: Clone> Clone for BypassService<B, L, S> {
    fn clone(&self) -> Self {
        Self {
            layer: Arc::clone(&self.layer),
            inner: self.inner.clone(),
            kind: PhantomData,
        }
    }
}

type Answer = Result<Response<Body>, Infallible>;
type Layered<L, S> = <L as Layer<S>>::Service;

impl<B, L, S, ResBody> Service<Request> for BypassService<B, L, S>
where
    B: Bypass,
    L: Layer<S>,
    S: Service<Request, Response = Response<Body>, Error = Infallible> + Clone,
    Layered<L, S>: Service<Request, Response = Response<ResBody>, Error = Infallible>,
    ResBody: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<
        Map<S::Future, fn(Answer) -> Answer>,
        Map<Oneshot<Layered<L, S>, Request>, fn(Result<Response<ResBody>, Infallible>) -> Answer>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if B::needs(&req) {
            // The ready service goes through the layer; a clone stays for the next request.
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            Either::Right(
                self.layer
                    .layer(inner)
                    .oneshot(req)
                    .map(boxed_body as fn(_) -> _),
            )
        } else {
            Either::Left(self.inner.call(req).map(bypassed::<B> as fn(_) -> _))
        }
    }
}

fn bypassed<B: Bypass>(answer: Answer) -> Answer {
    let mut response = answer?;
    B::answer(&mut response);
    Ok(response)
}

fn boxed_body<ResBody>(answer: Result<Response<ResBody>, Infallible>) -> Answer
where
    ResBody: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    Ok(answer?.map(Body::new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;
    use tower_http::compression::CompressionLayer;
    use tower_http::cors::CorsLayer;

    async fn answer(req: Request) -> Result<Response<Body>, Infallible> {
        let _ = req;
        Ok(Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(vec![b' '; 100]))
            .unwrap())
    }

    fn varies<B>(response: &Response<B>) -> Vec<String> {
        let mut names: Vec<String> = response
            .headers()
            .get_all(header::VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().uri("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn a_bypassed_request_gets_the_headers_the_layers_would_have_added() {
        let service = tower::service_fn(answer);
        let cors = CorsLayer::new().expose_headers([header::ETAG]);
        let full = cors.clone().layer(CompressionLayer::new().layer(service));
        let light = BypassLayer::<Cors, _>::new(cors)
            .layer(BypassLayer::<Compression, _>::new(CompressionLayer::new()).layer(service));
        let through = full.oneshot(request(&[])).await.unwrap();
        let bypassed = light.oneshot(request(&[])).await.unwrap();
        assert_eq!(varies(&bypassed), varies(&through));
        assert_eq!(varies(&bypassed), ["accept-encoding", "origin"]);
        assert!(bypassed.headers().get(header::CONTENT_ENCODING).is_none());
        // It did skip CORS: the one header only the layer writes without an `Origin`.
        let expose = header::ACCESS_CONTROL_EXPOSE_HEADERS;
        assert!(through.headers().contains_key(&expose));
        assert!(!bypassed.headers().contains_key(&expose));
    }

    #[test]
    fn compressible_answers_are_those_tower_http_would_compress() {
        use tower_http::compression::predicate::{DefaultPredicate, Predicate};
        let types = [
            None,
            Some("application/json"),
            Some("text/html; charset=utf-8"),
            Some("application/grpc"),
            Some("application/grpc+proto"),
            Some("application/grpc-web"),
            Some("image/png"),
            Some("image/svg+xml"),
            Some("text/event-stream"),
            Some("application/pdf"),
        ];
        for content_type in types {
            for size in [0, 31, 32, 4096] {
                let mut builder = Response::builder();
                if let Some(t) = content_type {
                    builder = builder.header(header::CONTENT_TYPE, t);
                }
                let response = builder.body(Body::from(vec![b' '; size])).unwrap();
                assert_eq!(
                    compressible(&response),
                    DefaultPredicate::new().should_compress(&response),
                    "{content_type:?}, {size} bytes"
                );
            }
        }
    }

    #[tokio::test]
    async fn requests_that_need_a_layer_go_through_it() {
        let service = tower::service_fn(answer);
        let light = BypassLayer::<Compression, _>::new(CompressionLayer::new()).layer(service);
        let gzip = light
            .clone()
            .oneshot(request(&[("accept-encoding", "gzip")]))
            .await
            .unwrap();
        assert_eq!(gzip.headers()[header::CONTENT_ENCODING], "gzip");
        let refused = light
            .oneshot(request(&[("accept-encoding", "identity;q=0")]))
            .await
            .unwrap();
        assert_eq!(refused.status(), axum::http::StatusCode::NOT_ACCEPTABLE);
        let cors = BypassLayer::<Cors, _>::new(
            CorsLayer::new().allow_origin(HeaderValue::from_static("https://shop.example")),
        )
        .layer(service);
        let cross = cors
            .oneshot(request(&[("origin", "https://shop.example")]))
            .await
            .unwrap();
        assert_eq!(
            cross.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://shop.example"
        );
    }
}
