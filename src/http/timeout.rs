//! `REQUEST_TIMEOUT_SECS` (API.md §1, error codes: 408 `REQUEST_TIMEOUT`), with the timer armed
//! only for a request that waits. tower-http's `TimeoutLayer` registers a timer in tokio's wheel
//! for every request and removes it again when the answer is ready; most answers (a kept
//! catalogue page, `/health`, a refusal) are ready at their first poll, and for those the timer
//! was pure cost (BENCHMARKS.md, "Instructions per cached read"). Here the inner future is polled
//! first, and the timer is armed only if that poll returns `Pending`, counting from then (the
//! first poll's own time, microseconds, is not counted).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use tokio::time::Sleep;
use tower::{Layer, Service};

/// Answers 408 (empty body; the outer layer gives it the envelope) when the service below has
/// not answered within `timeout` of its first wait.
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    pub timeout: Duration,
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            timeout: self.timeout,
        }
    }
}

/// The service of [`TimeoutLayer`].
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Service<Request> for Timeout<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        TimeoutFuture {
            timeout: self.timeout,
            inner: self.inner.call(req),
            sleep: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of the service below, or 408 at the deadline.
    pub struct TimeoutFuture<F> {
        timeout: Duration,
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<F> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(answer) = this.inner.poll(cx) {
            return Poll::Ready(answer);
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::time::sleep(*this.timeout)));
        }
        match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
                Poll::Ready(Ok(response))
            }
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    const LIMIT: Duration = Duration::from_millis(200);

    async fn answer_after(delay: Duration) -> StatusCode {
        let inner = tower::service_fn(move |_req: Request| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
        let service = TimeoutLayer { timeout: LIMIT }.layer(inner);
        let Ok(response) = service.oneshot(Request::new(Body::empty())).await;
        response.status()
    }

    #[tokio::test]
    async fn an_answer_ready_at_once_or_before_the_deadline_passes_through() {
        assert_eq!(answer_after(Duration::ZERO).await, StatusCode::OK);
        assert_eq!(
            answer_after(Duration::from_millis(20)).await,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn a_request_still_waiting_at_the_deadline_gets_408_then() {
        let started = std::time::Instant::now();
        assert_eq!(
            answer_after(Duration::from_secs(30)).await,
            StatusCode::REQUEST_TIMEOUT
        );
        let waited = started.elapsed();
        assert!(
            waited >= LIMIT && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }
}
