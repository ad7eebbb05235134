//! Group commit for a write path: concurrent requests of one kind join one queue per store, and
//! one worker at a time drains it in batches, each batch one transaction.
//!
//! On SQLite every write goes through the one writer connection and every statement is a round
//! trip to its thread, so at a hot on-sale requests that each run their own transaction queue
//! behind each other's statements; a batch written with a few multi-row statements costs about
//! what one request did. A [`Job`] says how a batch is written and how one request is written
//! alone: if a batch fails as a whole (an error, a PostgreSQL deadlock with another path), none
//! of it was written and its requests run again one by one, each in its own transaction.
//!
//! The hold engine (`bookings::engine`) is the same idea with more to it (several batches at once
//! on PostgreSQL, each on ticket types no other batch holds, and a bounded queue).

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::Store;

/// A kind of request written in batches.
pub trait Job: Sized + Send + Sync + 'static {
    /// The answer to one request.
    type Out: Send + 'static;
    /// What the requests of a batch share (the same for all of them).
    type Ctx: Clone + Send + Sync + 'static;

    /// Writes a batch in one transaction; answers in the order of `batch`, each as if the request
    /// had been written alone, in that order.
    fn batch(
        store: &Store,
        batch: &[Self],
        ctx: &Self::Ctx,
    ) -> impl Future<Output = sqlx::Result<Vec<Self::Out>>> + Send;

    /// Writes one request in its own transaction.
    fn alone(
        store: &Store,
        item: &Self,
        ctx: &Self::Ctx,
    ) -> impl Future<Output = sqlx::Result<Self::Out>> + Send;
}

type Reply<J> = oneshot::Sender<sqlx::Result<<J as Job>::Out>>;

/// The requests of one store waiting for a batch, with where their answers go.
type Waiting<J> = Vec<(J, Reply<J>)>;

/// The queues of one kind of request, one per store (by the identity of its writer pool: several
/// stores in one process, as in tests, get their own); a queue exists while its worker runs.
pub struct Batcher<J: Job> {
    queues: Mutex<Vec<(usize, Waiting<J>)>>,
    max_batch: usize,
}

impl<J: Job> Batcher<J> {
    /// Batches of at most `max_batch` requests.
    pub const fn new(max_batch: usize) -> Self {
        Self {
            queues: Mutex::new(Vec::new()),
            max_batch,
        }
    }

    /// Writes a request through the store's queue. A caller that goes away still has its request
    /// written: what it asked for happens whether anyone waits for the answer or not.
    pub async fn submit(
        &'static self,
        store: &Store,
        item: J,
        ctx: &J::Ctx,
    ) -> sqlx::Result<J::Out> {
        let key = store.writer_identity();
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            match queues.iter_mut().find(|(k, _)| *k == key) {
                Some((_, waiting)) => {
                    waiting.push((item, reply));
                    false
                }
                None => {
                    queues.push((key, vec![(item, reply)]));
                    true
                }
            }
        };
        if start {
            tokio::spawn(self.worker(store.clone(), key, ctx.clone()));
        }
        answer.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
    }

    /// Takes the next batch of the store's queue; none (and the queue is gone) when it is empty.
    fn take(&self, key: usize) -> Waiting<J> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let Some(at) = queues.iter().position(|(k, _)| *k == key) else {
            return Vec::new();
        };
        let waiting = &mut queues[at].1;
        if waiting.is_empty() {
            queues.swap_remove(at);
            return Vec::new();
        }
        let n = waiting.len().min(self.max_batch);
        waiting.drain(..n).collect()
    }

    async fn worker(&'static self, store: Store, key: usize, ctx: J::Ctx) {
        // A worker that dies (panic, runtime shutdown) drops its queue, so the requests waiting
        // in it get an error instead of waiting for a worker that is gone.
        let guard = Guard { batcher: self, key };
        loop {
            let batch = self.take(key);
            if batch.is_empty() {
                std::mem::forget(guard);
                return;
            }
            let (items, replies): (Vec<J>, Vec<Reply<J>>) = batch.into_iter().unzip();
            match J::batch(&store, &items, &ctx).await {
                Ok(answers) => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(answer));
                    }
                }
                Err(e) if items.len() == 1 => {
                    let _ = replies.into_iter().next().map(|r| r.send(Err(e)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, size = items.len(), "a batch failed: writing its requests one by one");
                    for (item, reply) in items.iter().zip(replies) {
                        let _ = reply.send(J::alone(&store, item, &ctx).await);
                    }
                }
            }
        }
    }
}

struct Guard<J: Job + 'static> {
    batcher: &'static Batcher<J>,
    key: usize,
}

impl<J: Job> Drop for Guard<J> {
    fn drop(&mut self) {
        let mut queues = self
            .batcher
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        queues.retain(|(k, _)| *k != self.key);
    }
}
