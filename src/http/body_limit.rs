//! The request body limit (API.md §1: 413 `PAYLOAD_TOO_LARGE` over 1 MiB), set only on requests
//! that carry a body. axum's `DefaultBodyLimit` layer marks every request with an extension that
//! only a body extractor reads: an allocation, and a growth of the request's extension map, on
//! every `GET` (BENCHMARKS.md, "Instructions per cached read, third round"). A request whose
//! body is known to be empty has nothing to limit and goes straight on.

use std::task::{Context, Poll};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Response;
use http_body::Body as _;
use tower::{Layer, Service};

/// `limit` for the requests with a body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimitLayer(pub DefaultBodyLimit);

impl<S> Layer<S> for BodyLimitLayer {
    type Service = BodyLimit<S>;

    fn layer(&self, inner: S) -> BodyLimit<S> {
        BodyLimit {
            limit: self.0,
            inner,
        }
    }
}

/// The service of [`BodyLimitLayer`].
#[derive(Debug, Clone)]
pub struct BodyLimit<S> {
    limit: DefaultBodyLimit,
    inner: S,
}

impl<S, B> Service<Request> for BodyLimit<S>
where
    S: Service<Request, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> S::Future {
        if req.body().is_end_stream() {
            return self.inner.call(req);
        }
        // The same (ready) service, through axum's layer, which sets the limit's extension.
        self.limit.layer(&mut self.inner).call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use tower::ServiceExt;

    async fn answer(method: &str, body: Body) -> (StatusCode, String) {
        let app = axum::Router::new()
            .route(
                "/",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .route(
                "/",
                axum::routing::get(|| async { "no body".into_response() }),
            );
        let service = BodyLimitLayer(DefaultBodyLimit::max(16)).layer(app);
        let req = Request::builder()
            .method(method)
            .uri("/")
            .body(body)
            .unwrap();
        let response = service.oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_and_one_within_it_read() {
        assert_eq!(
            answer("POST", Body::from(vec![b'x'; 16])).await,
            (StatusCode::OK, "16".to_string())
        );
        let (status, _) = answer("POST", Body::from(vec![b'x'; 17])).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_request_without_a_body_goes_straight_on() {
        assert_eq!(
            answer("GET", Body::empty()).await,
            (StatusCode::OK, "no body".to_string())
        );
        assert_eq!(
            answer("POST", Body::empty()).await,
            (StatusCode::OK, "0".to_string())
        );
    }
}
