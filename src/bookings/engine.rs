//! The hold engine: combines concurrent holds into one transaction.
//!
//! A hot ticket type serializes on its counter row (PostgreSQL row lock, SQLite's single
//! writer), so one transaction per hold caps throughput at one commit per hold; with many types
//! each hold would still pay its own commit. Here every hold request first runs its lock-free
//! checks ([`resolve_hold`](crate::store::Store::resolve_hold), or facts resolved moments ago
//! when they let it through: [`RESOLVED`]), then joins ONE queue per instance (per store),
//! whatever its type or event. A single worker drains the queue in batches (up to
//! [`MAX_BATCH`]) and runs each batch in one transaction
//! ([`hold_batch`](super::sqlite::hold_batch)): it locks the batch's type rows in ascending id
//! order, then its capped events' rows in ascending id order, decides every request on its own
//! in arrival order (status, holding limit per buyer and type, seats left of the type and of the
//! event cap), then takes all accepted seats with ONE conditional `UPDATE … WHERE sold + held +
//! n <= capacity` over the types (and one over the capped events) and writes the bookings and
//! their outbox messages with multi-row inserts, in the same transaction.
//!
//! Why it is safe:
//! - the decisions are made on counters read under the rows' locks, and the conditional updates
//!   re-check them in the database: if any row refused, the whole batch rolls back (nothing is
//!   written) and its requests run again one by one; the CHECK constraints back the invariant
//!   in any case, so `sold + held ≤ capacity` never rests on the engine's arithmetic;
//! - one request's refusal (sold-out type, holding limit, cancelled event) only decides that
//!   request; the others of the batch proceed;
//! - across instances each batch is an ordinary transaction that takes its row locks in one
//!   global order (types, then events, ascending ids), so two instances' batches wait for each
//!   other instead of deadlocking; a deadlock or serialization failure from some other path
//!   reruns the batch (up to [`RETRIES`] times) before falling back to one by one;
//! - each booking's outbox message is written in the same transaction as the booking.
//!
//! On SQLite the single writer connection serializes transactions anyway, so one queue loses no
//! parallelism; on PostgreSQL one in-flight batch per instance keeps the lock footprint small
//! while amortizing the commit over up to [`MAX_BATCH`] holds.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::{EventFacts, HoldOutcome, Links, NewHold, TypeFacts, refusal};
use crate::store::Store;

/// Most requests in one transaction. Kept below the number of concurrent callers the engine is
/// sized for (256 in `benches/holds.rs`): while one batch writes, the next batch's callers run
/// their lock-free checks on the readers, so the two overlap (256 measured slower on SQLite:
/// ~5,800 against ~8,300 holds/s with 1,000 types).
pub const MAX_BATCH: usize = 128;

/// Reruns of a whole batch after a deadlock or serialization failure.
pub const RETRIES: usize = 3;

/// The queue of a store: the identity of its writer pool (its shared connect options, which
/// live as long as the pool; the worker holds a clone of the store, so a key is never reused
/// while its queue exists). Several stores in one process (tests) get separate queues.
fn queue_key(store: &Store) -> usize {
    match store {
        Store::Sqlite(p) => std::sync::Arc::as_ptr(&p.write.connect_options()) as usize,
        Store::Postgres(p) => std::sync::Arc::as_ptr(&p.write.connect_options()) as usize,
    }
}

type Reply = oneshot::Sender<sqlx::Result<HoldOutcome>>;

struct Waiting {
    item: (NewHold, EventFacts, TypeFacts),
    reply: Reply,
}

impl Waiting {
    /// The counter rows its batch will lock: its ticket type, and its event when capped.
    fn rows(&self) -> impl Iterator<Item = Uuid> + use<> {
        let (_, event, ty) = &self.item;
        std::iter::once(ty.id).chain(event.total_tickets.map(|_| event.id))
    }
}

/// The holds of one store waiting for a batch, and its batches in flight.
#[derive(Default)]
struct Queue {
    /// In arrival order.
    waiting: Vec<Waiting>,
    /// Counter rows (ticket types, capped events) locked by a batch in flight: a waiting request
    /// on one of them waits for that batch to end, so this instance's batches never wait on each
    /// other's row locks.
    busy: HashSet<Uuid>,
    /// Workers running.
    workers: usize,
}

impl Queue {
    /// Takes up to [`MAX_BATCH`] waiting requests, in arrival order, whose rows no batch in
    /// flight holds, and marks their rows busy.
    fn take_batch(&mut self) -> Vec<Waiting> {
        let mut batch = Vec::new();
        let mut rest = Vec::with_capacity(self.waiting.len());
        let mut claimed: HashSet<Uuid> = HashSet::new();
        for w in self.waiting.drain(..) {
            let free = batch.len() < MAX_BATCH
                && w
                    .rows()
                    .all(|r| !self.busy.contains(&r) || claimed.contains(&r));
            if free {
                claimed.extend(w.rows());
                batch.push(w);
            } else {
                rest.push(w);
            }
        }
        self.waiting = rest;
        self.busy.extend(claimed);
        batch
    }

    /// Whether a request on these rows could start a batch now.
    fn could_start(&self, w: &Waiting) -> bool {
        w.rows().all(|r| !self.busy.contains(&r))
    }
}

/// Batches one store may run at once: one on SQLite (one writer serializes them anyway); on
/// PostgreSQL several, each on rows no other holds, so sales of different ticket types use the
/// server's cores instead of queueing behind one transaction at a time (half of a
/// two-core machine sat idle with one).
fn max_workers(store: &Store) -> usize {
    match store {
        Store::Sqlite(_) => 1,
        Store::Postgres(p) => (p.write.options().get_max_connections() as usize / 2).clamp(1, 4),
    }
}

/// One queue per store ([`queue_key`]); an entry exists while a worker runs.
static QUEUES: LazyLock<Mutex<HashMap<usize, Queue>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

type ResolvedCache = moka::future::Cache<(usize, Uuid, Uuid), (EventFacts, TypeFacts)>;

/// Recently resolved (store, event, ticket type) facts. They only ever let a request through
/// to its batch, which reads every fact again under the type's lock and decides on those: a
/// stale entry (a price, a cap, a sales window or a status changed since) cannot change an
/// answer, and a request the cached facts would refuse is resolved again from the database. On
/// a hot on-sale this takes one database read per hold off the database.
static RESOLVED: LazyLock<ResolvedCache> = LazyLock::new(|| {
    moka::future::Cache::builder()
        .max_capacity(10_000)
        .time_to_live(Duration::from_secs(30))
        .build()
});

/// The lock-free checks of a hold (see [`RESOLVED`]).
async fn resolve(
    store: &Store,
    req: &NewHold,
) -> sqlx::Result<Result<(EventFacts, TypeFacts), HoldOutcome>> {
    let key = req
        .ticket_type_id
        .map(|ty| (queue_key(store), req.event_id, ty));
    if let Some(key) = key
        && let Some((event, ty)) = RESOLVED.get(&key).await
        && refusal(req, &event, &ty).is_none()
    {
        return Ok(Ok((event, ty)));
    }
    let resolved = store.resolve_hold(req).await?;
    if let (Some(key), Ok(found)) = (key, &resolved) {
        RESOLVED.insert(key, found.clone()).await;
    }
    Ok(resolved)
}

/// Takes a hold through the instance's queue.
pub async fn hold(store: &Store, req: &NewHold, links: &Links) -> sqlx::Result<HoldOutcome> {
    let (event, ty) = match resolve(store, req).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(refusal),
    };
    let key = queue_key(store);
    let (tx, rx) = oneshot::channel();
    let waiting = Waiting {
        item: (req.clone(), event, ty),
        reply: tx,
    };
    let start_worker = {
        let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
        let queue = queues.entry(key).or_default();
        // A worker in flight on these rows picks the request up when its batch ends; otherwise
        // start one while the store allows more.
        let start = queue.workers == 0
            || (queue.workers < max_workers(store) && queue.could_start(&waiting));
        queue.waiting.push(waiting);
        if start {
            queue.workers += 1;
        }
        start
    };
    if start_worker {
        tokio::spawn(worker(store.clone(), key, links.clone()));
    }
    rx.await.unwrap_or_else(|_| Err(sqlx::Error::WorkerCrashed))
}

/// Cleans up after a worker. At its normal end (no request it could take) it only leaves; if it
/// dies abnormally (panic, runtime shutdown) it also frees its rows and, when it was the last
/// worker, drops the waiting requests so that they get an error instead of waiting forever.
struct WorkerGuard {
    key: usize,
    rows: Vec<Uuid>,
    armed: bool,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(queue) = queues.get_mut(&self.key) {
            for r in &self.rows {
                queue.busy.remove(r);
            }
            queue.workers = queue.workers.saturating_sub(1);
            if queue.workers == 0 {
                queues.remove(&self.key);
            }
        }
    }
}

async fn worker(store: Store, key: usize, links: Links) {
    let mut guard = WorkerGuard {
        key,
        rows: Vec::new(),
        armed: true,
    };
    loop {
        let batch: Vec<Waiting> = {
            let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
            let Some(queue) = queues.get_mut(&key) else {
                guard.armed = false;
                return;
            };
            for r in guard.rows.drain(..) {
                queue.busy.remove(&r);
            }
            let batch = queue.take_batch();
            if batch.is_empty() {
                // Nothing this worker may take: what waits (if anything) is on rows of a batch
                // in flight, whose worker takes it next.
                queue.workers -= 1;
                if queue.workers == 0 {
                    debug_assert!(queue.waiting.is_empty());
                    queues.remove(&key);
                }
                guard.armed = false;
                return;
            }
            let mut rows: Vec<Uuid> = batch.iter().flat_map(Waiting::rows).collect();
            rows.sort();
            rows.dedup();
            guard.rows = rows;
            batch
        };
        let (items, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|w| (w.item, w.reply)).unzip();
        let mut result = store.hold_batch(&items, &links).await;
        let mut attempt = 0;
        while items.len() > 1 && attempt < RETRIES && matches!(&result, Err(e) if is_retryable(e)) {
            attempt += 1;
            result = store.hold_batch(&items, &links).await;
        }
        match result {
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
