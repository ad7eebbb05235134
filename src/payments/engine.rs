//! The settlement engine: combines concurrent settlements into one transaction.
//!
//! A settlement (a webhook, a verify, the reconciliation job) moves a payment and its booking
//! together: about ten statements in one write transaction. On SQLite every write goes through
//! the one writer connection, and each statement is a round trip to its thread, so at a hot
//! on-sale settlements queued behind each other's statements. Here a settlement joins ONE queue
//! per store; one worker at a time drains it in batches of up to [`MAX_BATCH`] and runs each batch
//! in one transaction ([`settle_many`](super::sqlite::settle_many)), where the common case (a
//! matching success of an open payment whose hold is still running) costs a few multi-row
//! statements for the whole batch, and every other case takes [`settle`](super::sqlite::settle)'s
//! own steps in the same transaction.
//!
//! Why it is safe: each settlement of a batch is decided on rows read (and on PostgreSQL locked)
//! inside the batch's transaction, exactly as it would be alone, in arrival order, so a payment
//! named twice is settled once; if the batch fails as a whole (a deadlock with another path, an
//! error), nothing of it was written and its settlements run again one by one, each in its own
//! transaction.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use chrono::Utc;
use tokio::sync::oneshot;

use super::model::{Settle, Settled};
use crate::bookings::Links;
use crate::store::Store;

/// Most settlements in one transaction.
pub const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<sqlx::Result<Option<Settled>>>;

/// The settlements of one store waiting for a batch, and whether a worker drains them.
#[derive(Default)]
struct Queue {
    waiting: Vec<(Settle, Reply)>,
    working: bool,
}

/// One queue per store (by [`crate::bookings::engine::queue_key`]); an entry exists while its
/// worker runs.
static QUEUES: LazyLock<Mutex<HashMap<usize, Queue>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Settles a payment through the store's queue: what [`settle`](super::sqlite::settle) answers.
pub async fn settle(store: &Store, req: Settle, links: &Links) -> sqlx::Result<Option<Settled>> {
    let key = crate::bookings::engine::queue_key(store);
    let (reply, answer) = oneshot::channel();
    let start = {
        let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
        let queue = queues.entry(key).or_default();
        queue.waiting.push((req, reply));
        !std::mem::replace(&mut queue.working, true)
    };
    if start {
        tokio::spawn(worker(store.clone(), key, links.clone()));
    }
    answer.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
}

/// Ends the queue's worker however it stops: a panic drops the waiting settlements (their
/// callers get an error) instead of leaving them waiting for a worker that is gone.
struct WorkerGuard(usize);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
        queues.remove(&self.0);
    }
}

async fn worker(store: Store, key: usize, links: Links) {
    let guard = WorkerGuard(key);
    loop {
        let batch: Vec<(Settle, Reply)> = {
            let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
            let Some(queue) = queues.get_mut(&key) else {
                break;
            };
            // A caller that is gone (hung up, timed out) still has its settlement applied: the
            // money moved whether anyone waits for the answer or not.
            let n = queue.waiting.len().min(MAX_BATCH);
            if n == 0 {
                queues.remove(&key);
                std::mem::forget(guard);
                return;
            }
            queue.waiting.drain(..n).collect()
        };
        let (items, replies): (Vec<Settle>, Vec<Reply>) = batch.into_iter().unzip();
        match store.settle_many(&items, &links, Utc::now()).await {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = items.len(), "settlement batch failed: settling one by one");
                for (item, reply) in items.iter().zip(replies) {
                    let answer = store
                        .settle_payment(
                            &item.reference,
                            &item.settlement,
                            item.delivery().as_ref(),
                            &links,
                            Utc::now(),
                        )
                        .await;
                    let _ = reply.send(answer);
                }
            }
        }
    }
    drop(guard);
}
