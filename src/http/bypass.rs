//! tower-http's CORS and compression layers, applied only to the requests that need them.
//! Compression (gzip, br; API.md §9) moves every answer's body into its `CompressionBody`, an
//! enum sized for the encoders' state, boxed again as an axum `Body`; CORS builds a header map
//! and an origin future for every request. A request without `Accept-Encoding`, or without
//! `Origin` (not a browser's cross-origin request), has no use for the one it lacks: it skips
//! that layer, and its answer gets only the `Vary` names the layer would have added
//! (BENCHMARKS.md, "The middleware stack"). A request that needs a layer goes through it
//! unchanged. One service decides for both, so a request that needs neither (wrk, curl, most
//! API clients) goes through one layer of this stack, not two, and its `Vary` is written once.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, Entry};
use axum::http::{HeaderName, HeaderValue, Method, Response};
use bytes::Bytes;
use futures_util::future::{BoxFuture, Either, FutureExt, Map};
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;

/// Whether a request needs CORS: it has an `Origin`, or it is an `OPTIONS` (tower-http answers
/// each as a preflight).
fn needs_cors(req: &Request) -> bool {
    req.method() == Method::OPTIONS || req.headers().contains_key(header::ORIGIN)
}

/// Whether a request needs compression: it says which encodings it accepts.
fn needs_compression(req: &Request) -> bool {
    req.headers().contains_key(header::ACCEPT_ENCODING)
}

/// What compression does to the answer of a request that does not need it. tower-http, for a
/// client that accepts only identity: `Vary: accept-encoding` on an answer it may compress.
fn compression_bypassed(response: &mut Response<Body>) {
    if would_compress(response) {
        add_vary(response, &[header::ACCEPT_ENCODING], "accept-encoding");
    }
}

/// What CORS does to the answer of a request that does not need it: tower-http's
/// `Vary: origin`. (Its `Access-Control-Expose-Headers` means nothing without an
/// `Access-Control-Allow-Origin`, which a request without `Origin` never gets.)
fn cors_bypassed(response: &mut Response<Body>) {
    add_vary(response, &[header::ORIGIN], "origin");
}

/// Both, for a request that needs neither: one `Vary` header naming both.
fn both_bypassed(answer: Answer) -> Answer {
    let mut response = answer?;
    if would_compress(&response) {
        add_vary(
            &mut response,
            &[header::ACCEPT_ENCODING, header::ORIGIN],
            "accept-encoding, origin",
        );
    } else {
        cors_bypassed(&mut response);
    }
    Ok(response)
}

/// Whether tower-http would compress this answer for a client that asked: not encoded already,
/// not a range, and its `DefaultPredicate`.
fn would_compress(response: &Response<Body>) -> bool {
    let headers = response.headers();
    !headers.contains_key(header::CONTENT_ENCODING)
        && !headers.contains_key(header::CONTENT_RANGE)
        && compressible(response)
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

/// Adds `names` to `Vary`: as one header, `listed` (the names joined), when the answer has no
/// `Vary` yet; otherwise each name a `Vary` value does not list already, appended.
fn add_vary(response: &mut Response<Body>, names: &[HeaderName], listed: &'static str) {
    let mut vary = match response.headers_mut().entry(header::VARY) {
        Entry::Vacant(vacant) => {
            vacant.insert(HeaderValue::from_static(listed));
            return;
        }
        Entry::Occupied(occupied) => occupied,
    };
    for name in names {
        let named = vary.iter().any(|v| {
            v.as_bytes().split(|b| *b == b',').any(|token| {
                token
                    .trim_ascii()
                    .eq_ignore_ascii_case(name.as_str().as_bytes())
            })
        });
        if !named {
            vary.append(HeaderValue::from_name(name.clone()));
        }
    }
}

/// CORS and compression, for the requests that need them.
#[derive(Clone)]
pub struct BypassLayer {
    layers: Arc<(CorsLayer, CompressionLayer)>,
}

impl BypassLayer {
    /// `cors` and `compression`, each for the requests that need it.
    pub fn new(cors: CorsLayer, compression: CompressionLayer) -> Self {
        Self {
            layers: Arc::new((cors, compression)),
        }
    }
}

impl<S> Layer<S> for BypassLayer {
    type Service = BypassService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BypassService {
            layers: Arc::clone(&self.layers),
            inner,
        }
    }
}

/// The inner service, through the layers a request needs. The layers are shared and applied per
/// request that needs them: axum clones a route's whole stack for every request, and a
/// `CorsLayer` held by value is two vectors cloned and dropped again each time.
#[derive(Clone)]
pub struct BypassService<S> {
    layers: Arc<(CorsLayer, CompressionLayer)>,
    inner: S,
}

type Answer = Result<Response<Body>, Infallible>;

impl<S> Service<Request> for BypassService<S>
where
    S: Service<Request, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    /// Unboxed for the requests that need neither layer; a box is nothing beside the work of a
    /// layer.
    type Future = Either<Map<S::Future, fn(Answer) -> Answer>, BoxFuture<'static, Answer>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let cors = needs_cors(&req);
        let compression = needs_compression(&req);
        if !cors && !compression {
            return Either::Left(self.inner.call(req).map(both_bypassed as fn(_) -> _));
        }
        // The ready service goes through the layers; a clone stays for the next request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let (cors_layer, compression_layer) = &*self.layers;
        Either::Right(match (cors, compression) {
            (true, true) => through(
                cors_layer
                    .layer(compression_layer.layer(inner))
                    .oneshot(req),
                |_| {},
            ),
            (true, false) => through(cors_layer.layer(inner).oneshot(req), compression_bypassed),
            (false, _) => through(compression_layer.layer(inner).oneshot(req), cors_bypassed),
        })
    }
}

/// The answer of a tower-http layer, its body boxed as axum's, then `after` (the bypassed
/// layer's part).
fn through<F, B>(answer: F, after: fn(&mut Response<Body>)) -> BoxFuture<'static, Answer>
where
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    Box::pin(async move {
        let mut response = answer.await?.map(Body::new);
        after(&mut response);
        Ok(response)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_http::cors::AllowOrigin;

    const SHOP: &str = "https://shop.example";

    async fn answer(req: Request) -> Result<Response<Body>, Infallible> {
        let mut builder = Response::builder().header(header::CONTENT_TYPE, "application/json");
        // An answer that names a `Vary` of its own keeps it, and gets no name twice.
        if req.uri().path() == "/varies" {
            builder = builder.header(header::VARY, "Origin, Authorization");
        }
        Ok(builder.body(Body::from(vec![b' '; 100])).unwrap())
    }

    fn cors() -> CorsLayer {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list([HeaderValue::from_static(SHOP)]))
            .expose_headers([header::ETAG])
    }

    /// The `Vary` names of an answer, lower-cased, sorted and each once, however they are split
    /// in headers. (tower-http appends `origin` even to a `Vary` that lists it already; the
    /// bypass does not repeat it. Both mean the same.)
    fn varies<B>(response: &Response<B>) -> Vec<String> {
        let mut names: Vec<String> = response
            .headers()
            .get_all(header::VARY)
            .iter()
            .flat_map(|v| v.to_str().unwrap().split(','))
            .map(|name| name.trim().to_ascii_lowercase())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn request(path: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn every_request_gets_the_headers_the_whole_layers_would_have_given_it() {
        let service = tower::service_fn(answer);
        let full = cors().layer(CompressionLayer::new().layer(service));
        let light = BypassLayer::new(cors(), CompressionLayer::new()).layer(service);
        let kinds: [&[(&str, &str)]; 4] = [
            &[],
            &[("origin", SHOP)],
            &[("accept-encoding", "gzip")],
            &[("origin", SHOP), ("accept-encoding", "gzip")],
        ];
        for path in ["/", "/varies"] {
            for headers in kinds {
                let through = full.clone().oneshot(request(path, headers)).await.unwrap();
                let bypassed = light.clone().oneshot(request(path, headers)).await.unwrap();
                let case = format!("{path} {headers:?}");
                assert_eq!(varies(&bypassed), varies(&through), "{case}");
                for name in [
                    header::CONTENT_ENCODING,
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                ] {
                    assert_eq!(
                        bypassed.headers().get(&name),
                        through.headers().get(&name),
                        "{case}: {name}"
                    );
                }
            }
        }
        let plain = light.oneshot(request("/", &[])).await.unwrap();
        assert_eq!(varies(&plain), ["accept-encoding", "origin"]);
        // It did skip CORS: the one header only the layer writes without an `Origin`.
        assert!(
            !plain
                .headers()
                .contains_key(header::ACCESS_CONTROL_EXPOSE_HEADERS)
        );
    }

    #[tokio::test]
    async fn a_preflight_is_answered_by_cors_whatever_else_it_asks() {
        let light =
            BypassLayer::new(cors(), CompressionLayer::new()).layer(tower::service_fn(answer));
        for encoding in [None, Some("gzip")] {
            let mut builder = Request::builder()
                .method(Method::OPTIONS)
                .uri("/")
                .header("origin", SHOP)
                .header("access-control-request-method", "POST");
            if let Some(encoding) = encoding {
                builder = builder.header("accept-encoding", encoding);
            }
            let preflight = light
                .clone()
                .oneshot(builder.body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(
                preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
                SHOP
            );
            assert!(preflight.headers().get(header::CONTENT_TYPE).is_none());
        }
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
        let light =
            BypassLayer::new(cors(), CompressionLayer::new()).layer(tower::service_fn(answer));
        let gzip = light
            .clone()
            .oneshot(request("/", &[("accept-encoding", "gzip")]))
            .await
            .unwrap();
        assert_eq!(gzip.headers()[header::CONTENT_ENCODING], "gzip");
        let refused = light
            .clone()
            .oneshot(request("/", &[("accept-encoding", "identity;q=0")]))
            .await
            .unwrap();
        assert_eq!(refused.status(), axum::http::StatusCode::NOT_ACCEPTABLE);
        let cross = light
            .oneshot(request("/", &[("origin", SHOP)]))
            .await
            .unwrap();
        assert_eq!(cross.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], SHOP);
    }
}
