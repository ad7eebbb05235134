//! The hold engine: combines concurrent holds into one transaction.
//!
//! A hot ticket type serializes on its counter row (PostgreSQL row lock, SQLite's single
//! writer), so one transaction per hold caps throughput at one commit per hold; with many types
//! each hold would still pay its own commit. Here a hold request takes no lock and, when it names
//! its ticket type, no read before it joins ONE queue per instance (per store), whatever its type
//! or event; a request without a type first reads the event's default type. Workers drain the
//! queue in batches (up to [`MAX_BATCH`]) and run each batch in one transaction
//! ([`hold_batch`](super::sqlite::hold_batch)): it locks the batch's type rows in ascending id
//! order, then its capped events' rows in ascending id order, reads every fact a decision needs
//! (status, sales window, price, `maxPerOrder`, counters) under those locks, decides every
//! request on its own in arrival order (status, holding limit per buyer and type, seats left of
//! the type and of the event cap), then takes all accepted seats with ONE conditional `UPDATE …
//! WHERE sold + held + n <= capacity` over the types (and one over the capped events) and writes
//! the bookings and their outbox messages with multi-row inserts, in the same transaction.
//!
//! Why it is safe:
//! - the decisions are made on facts and counters read under the rows' locks, and the
//!   conditional updates re-check the counters in the database: if any row refused, the whole
//!   batch rolls back (nothing is written) and its requests run again one by one; the CHECK
//!   constraints back the invariant in any case, so `sold + held ≤ capacity` never rests on the
//!   engine's arithmetic;
//! - one request's refusal (sold-out type, holding limit, cancelled event) only decides that
//!   request; the others of the batch proceed;
//! - every batch is an ordinary transaction that takes its row locks in one global order (types,
//!   then events, ascending ids), so batches of one instance, or of several, wait for each other
//!   instead of deadlocking; a deadlock or serialization failure from some other path reruns the
//!   batch (up to [`RETRIES`] times) before falling back to one by one;
//! - each booking's outbox message is written in the same transaction as the booking.
//!
//! On SQLite the single writer connection serializes transactions anyway, so one worker loses
//! no parallelism. On PostgreSQL up to [`max_workers`] batches run at once, each on ticket types
//! no other batch of the instance holds ([`Queue::busy`]): a hot type is still one batch at a
//! time, amortizing each commit over up to [`MAX_BATCH`] holds, while sales of other types
//! proceed beside it.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};

use tokio::sync::oneshot;
use uuid::Uuid;

use super::{HoldOutcome, Links, NewHold};
use crate::store::Store;

/// Most requests in one transaction. Well below the number of concurrent callers the engine is
/// sized for (256 in `benches/holds.rs`), so that several batches share the work: measured
/// against 128, 64 keeps the throughput (SQLite ~13,500 holds/s on one hot type, PostgreSQL
/// ~13,000 on one type or 1,000) and cuts PostgreSQL's p99 with 1,000 types from ~65 to ~40 ms,
/// as the first burst of callers spreads over the workers instead of two full batches.
pub const MAX_BATCH: usize = 64;

/// Reruns of a whole batch after a deadlock or serialization failure.
pub const RETRIES: usize = 3;

/// Most holds waiting for a batch in one instance; beyond, a hold is answered
/// [`HoldOutcome::Busy`] (503 with `Retry-After`) at once rather than queued (API.md §11.99).
/// A batch takes well under 10 ms, so a full queue is seconds of work: a caller further back
/// would time out anyway, and the memory of the queue stays bounded.
pub const MAX_WAITING: usize = 16_384;

type Reply = oneshot::Sender<sqlx::Result<HoldOutcome>>;

struct Waiting {
    /// Names its ticket type.
    req: NewHold,
    reply: Reply,
}

impl Waiting {
    /// The ticket type whose row its batch locks. (Batches on different types of one capped event
    /// may both need the event's row: the second waits for the first's commit; both take types
    /// before events, so they never deadlock.)
    fn ticket_type(&self) -> Option<Uuid> {
        self.req.ticket_type_id
    }
}

/// The holds of one store waiting for a batch, and its batches in flight.
#[derive(Default)]
struct Queue {
    /// In arrival order.
    waiting: Vec<Waiting>,
    /// Ticket types locked by a batch in flight: a waiting request on one of them waits for that
    /// batch to end, so this instance's batches do not wait on each other's row locks.
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
            // Its caller is gone (client hung up, request timed out): nobody would learn of the
            // booking, so it is not made (API.md §11.99).
            if w.reply.is_closed() {
                continue;
            }
            let free = batch.len() < MAX_BATCH
                && w.ticket_type()
                    .is_none_or(|t| !self.busy.contains(&t) || claimed.contains(&t));
            if free {
                claimed.extend(w.ticket_type());
                batch.push(w);
            } else {
                rest.push(w);
            }
        }
        self.waiting = rest;
        self.busy.extend(claimed);
        batch
    }

    /// Whether a request could start a batch now.
    fn could_start(&self, w: &Waiting) -> bool {
        w.ticket_type().is_none_or(|t| !self.busy.contains(&t))
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

/// One queue per store ([`Store::writer_identity`]); an entry exists while a worker runs.
static QUEUES: LazyLock<Mutex<HashMap<usize, Queue>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Takes a hold through the instance's queue.
pub async fn hold(store: &Store, req: &NewHold, links: &Links) -> sqlx::Result<HoldOutcome> {
    let req = match store.resolve_hold_type(req).await? {
        Ok(req) => req,
        Err(refusal) => return Ok(refusal),
    };
    let key = store.writer_identity();
    let (tx, rx) = oneshot::channel();
    let waiting = Waiting { req, reply: tx };
    let start_worker = {
        let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
        let queue = queues.entry(key).or_default();
        if queue.waiting.len() >= MAX_WAITING {
            return Ok(HoldOutcome::Busy);
        }
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
            let mut rows: Vec<Uuid> = batch.iter().filter_map(Waiting::ticket_type).collect();
            rows.sort();
            rows.dedup();
            guard.rows = rows;
            batch
        };
        let (items, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|w| (w.req, w.reply)).unzip();
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
async fn hold_alone(store: &Store, item: &NewHold, links: &Links) -> sqlx::Result<HoldOutcome> {
    let mut attempt = 0;
    loop {
        match store.hold_batch(std::slice::from_ref(item), links).await {
            Ok(mut o) => return Ok(o.pop().expect("one outcome")),
            Err(e) if is_retryable(&e) && attempt < 3 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn waiting(ty: Uuid) -> (Waiting, oneshot::Receiver<sqlx::Result<HoldOutcome>>) {
        let (reply, rx) = oneshot::channel();
        let req = NewHold {
            event_id: Uuid::now_v7(),
            ticket_type_id: Some(ty),
            quantity: 1,
            user_id: None,
            customer_email: "buyer@example.com".into(),
            customer_name: "Buyer".into(),
            customer_phone: None,
            special_requests: None,
            guest_token_hash: None,
            guest_token: None,
            idempotency_key: None,
            now: Utc::now(),
            hold: chrono::Duration::minutes(10),
        };
        (Waiting { req, reply }, rx)
    }

    #[test]
    fn a_hold_whose_caller_is_gone_is_left_out_of_its_batch() {
        let ty = Uuid::now_v7();
        let mut queue = Queue::default();
        let (kept, _rx_kept) = waiting(ty);
        let (gone, rx_gone) = waiting(ty);
        let (also_kept, _rx_also) = waiting(ty);
        queue.waiting.extend([kept, gone, also_kept]);
        drop(rx_gone);
        let batch = queue.take_batch();
        assert_eq!(batch.len(), 2, "the abandoned hold is not taken");
        assert!(batch.iter().all(|w| !w.reply.is_closed()));
        assert!(queue.waiting.is_empty(), "nor kept waiting");
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_without_queueing() {
        let dir = std::env::temp_dir().join(format!("ticketmax-engine-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open_sqlite_file(&dir.join("e.db")).await.unwrap();
        let key = store.writer_identity();
        let ty = Uuid::now_v7();
        let mut receivers = Vec::new();
        {
            let mut queues = QUEUES.lock().unwrap();
            let queue = queues.entry(key).or_default();
            // A worker "in flight" keeps the waiting holds where they are.
            queue.workers = 1;
            for _ in 0..MAX_WAITING {
                let (w, rx) = waiting(ty);
                queue.waiting.push(w);
                receivers.push(rx);
            }
        }
        let (w, _) = waiting(ty);
        let links = Links {
            public_base: "http://localhost".into(),
            api_base: "http://localhost/api".into(),
            signing_key: "k".into(),
        };
        let outcome = hold(&store, &w.req, &links).await.unwrap();
        assert!(matches!(outcome, HoldOutcome::Busy), "got {outcome:?}");
        let waiting_now = QUEUES.lock().unwrap().remove(&key).map(|q| q.waiting.len());
        assert_eq!(waiting_now, Some(MAX_WAITING), "nothing was queued");
        let _ = std::fs::remove_dir_all(dir);
    }
}
