//! The hold engine: combines concurrent holds of the same ticket type into one transaction.
//!
//! One hot ticket type serializes on its counter row (PostgreSQL row lock, SQLite's single
//! writer), so its throughput is one commit per hold at best. Here every hold request first runs
//! its lock-free checks, then joins its type's queue (on SQLite, its event's: one writer serves
//! all types anyway); one worker per busy queue drains it
//! in batches (up to [`MAX_BATCH`]) and runs each batch in one transaction
//! ([`hold_batch`](super::sqlite::hold_batch)). Paid holds of one type in a batch are combined:
//! the type's row is locked and read, the requests are decided in arrival order against the
//! seats left and each buyer's holding limit, and ONE conditional `UPDATE … WHERE sold + held +
//! total <= capacity` takes the accepted seats (CHECK-backed; if it ever refused, the requests
//! would run one by one). Other requests each run their own conditional update. Across instances
//! nothing changes: each instance's batch is an ordinary transaction holding the
//! type's row lock. If a batch fails as a whole, its requests are retried one by one.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use tokio::sync::oneshot;
use uuid::Uuid;

use super::{EventFacts, HoldOutcome, Links, NewHold, TypeFacts};
use crate::store::Store;

/// Most requests in one transaction.
pub const MAX_BATCH: usize = 128;

type Reply = oneshot::Sender<sqlx::Result<HoldOutcome>>;

struct Waiting {
    item: (NewHold, EventFacts, TypeFacts),
    reply: Reply,
}

/// Queues by ticket type id (PostgreSQL) or event id (SQLite); an entry exists while its worker
/// runs.
static QUEUES: LazyLock<Mutex<HashMap<Uuid, Vec<Waiting>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Takes a hold through the type's queue.
pub async fn hold(store: &Store, req: &NewHold, links: &Links) -> sqlx::Result<HoldOutcome> {
    let (event, ty) = match store.resolve_hold(req).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(refusal),
    };
    // PostgreSQL: one queue per ticket type (types of one event sell in parallel, each batch
    // locks one type row). SQLite has a single writer anyway, so all types of an event share a
    // queue and a commit.
    let type_id = match store {
        Store::Postgres(_) => ty.id,
        Store::Sqlite(_) => event.id,
    };
    let (tx, rx) = oneshot::channel();
    let start_worker = {
        let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
        match queues.get_mut(&type_id) {
            Some(queue) => {
                queue.push(Waiting {
                    item: (req.clone(), event, ty),
                    reply: tx,
                });
                false
            }
            None => {
                queues.insert(
                    type_id,
                    vec![Waiting {
                        item: (req.clone(), event, ty),
                        reply: tx,
                    }],
                );
                true
            }
        }
    };
    if start_worker {
        tokio::spawn(worker(store.clone(), type_id, links.clone()));
    }
    rx.await.unwrap_or_else(|_| Err(sqlx::Error::WorkerCrashed))
}

/// Removes the queue if its worker dies abnormally (panic, runtime shutdown), so the waiters get
/// an error instead of waiting forever and the next request starts a new worker.
struct WorkerGuard {
    key: Uuid,
    armed: bool,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        if self.armed {
            let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
            queues.remove(&self.key);
        }
    }
}

async fn worker(store: Store, type_id: Uuid, links: Links) {
    let mut guard = WorkerGuard {
        key: type_id,
        armed: true,
    };
    loop {
        let batch: Vec<Waiting> = {
            let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
            let Some(queue) = queues.get_mut(&type_id) else {
                guard.armed = false;
                return;
            };
            if queue.is_empty() {
                queues.remove(&type_id);
                guard.armed = false;
                return;
            }
            let n = queue.len().min(MAX_BATCH);
            queue.drain(..n).collect()
        };
        let (items, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|w| (w.item, w.reply)).unzip();
        match store.hold_batch(&items, &links).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) if items.len() == 1 && !is_retryable(&e) => {
                let _ = replies.into_iter().next().map(|r| r.send(Err(e)));
            }
            Err(_) => {
                // One bad request must not fail the others: run them one by one.
                for (item, reply) in items.into_iter().zip(replies) {
                    let r = hold_alone(&store, &item, &links).await;
                    let _ = reply.send(r);
                }
            }
        }
    }
}

/// A PostgreSQL deadlock or serialization failure: the transaction may simply be run again.
fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("40P01") | Some("40001")))
}

/// One request in its own transaction, run again (up to 3 times) after a deadlock.
async fn hold_alone(
    store: &Store,
    item: &(NewHold, EventFacts, TypeFacts),
    links: &Links,
) -> sqlx::Result<HoldOutcome> {
    let mut attempt = 0;
    loop {
        match store.hold_batch(std::slice::from_ref(item), links).await {
            Ok(mut o) => return Ok(o.pop().expect("one outcome")),
            Err(e) if is_retryable(&e) && attempt < 3 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}
