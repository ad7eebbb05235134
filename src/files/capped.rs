//! A request body passed on only up to a bound, for uploads whose limit is a run-time setting:
//! the multipart parser above it never holds more than the bound, whatever it is fed.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, BodyDataStream};
use bytes::Bytes;
use futures_util::Stream;

/// A request body passed through up to `limit` bytes. Past it the rest is read and discarded up
/// to `drain_to` bytes in all (so a client still sending receives the answer rather than a reset
/// connection), `over` is raised and the stream ends with an error: the multipart parser above it
/// never holds more than `limit` bytes, whatever it is fed (a preamble, a part header, a field).
pub struct CappedBody {
    inner: BodyDataStream,
    seen: usize,
    limit: usize,
    drain_to: usize,
    over: Arc<AtomicBool>,
    done: bool,
}

impl CappedBody {
    pub fn new(body: Body, limit: usize, drain_to: usize) -> (Self, Arc<AtomicBool>) {
        let over = Arc::new(AtomicBool::new(false));
        let capped = Self {
            inner: body.into_data_stream(),
            seen: 0,
            limit,
            drain_to,
            over: Arc::clone(&over),
            done: false,
        };
        (capped, over)
    }
}

impl Stream for CappedBody {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            let next = match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(next) => next,
                Poll::Pending => return Poll::Pending,
            };
            let over = this.seen > this.limit;
            match next {
                Some(Ok(chunk)) => {
                    this.seen = this.seen.saturating_add(chunk.len());
                    if this.seen <= this.limit {
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    this.over.store(true, Ordering::Relaxed);
                    if this.seen > this.drain_to {
                        break;
                    }
                }
                Some(Err(e)) if !over => {
                    this.done = true;
                    return Poll::Ready(Some(Err(std::io::Error::other(e))));
                }
                None if !over => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                // The client stopped (or finished) while being drained: the answer is the 413.
                Some(Err(_)) | None => break,
            }
        }
        this.done = true;
        Poll::Ready(Some(Err(std::io::Error::other(
            "the request body is over the limit",
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn the_capped_body_stops_past_its_limit_after_draining() {
        let chunks: Vec<std::io::Result<Bytes>> =
            (0..10).map(|_| Ok(Bytes::from_static(&[0u8; 8]))).collect();
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let (mut capped, over) = CappedBody::new(body, 20, 56);
        let mut passed = 0;
        let mut failed = false;
        while let Some(next) = capped.next().await {
            match next {
                Ok(chunk) => passed += chunk.len(),
                Err(_) => failed = true,
            }
        }
        assert_eq!(passed, 16, "never more than the limit is passed on");
        assert!(failed && over.load(Ordering::Relaxed));
        assert!(
            capped.seen > 56 && capped.seen < 80,
            "drained up to its cap"
        );

        let body = Body::from(vec![1u8; 20]);
        let (mut capped, over) = CappedBody::new(body, 20, 56);
        assert_eq!(capped.next().await.unwrap().unwrap().len(), 20);
        assert!(capped.next().await.is_none() && !over.load(Ordering::Relaxed));
    }
}
