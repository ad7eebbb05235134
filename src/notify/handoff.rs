//! Messages handed to this instance's delivery loop in memory instead of claimed from the
//! database.
//!
//! The hold engine writes each hold's message already claimed — PROCESSING, under a lease of this
//! instance, its one attempt counted — in the hold's own transaction, and after the commit hands
//! it to the loop over a channel. The claim, a write per group of messages on the database's
//! writer (SQLite has one), is not needed for them. Nothing else changes for the message: the loop
//! records its outcome under its lease like any claimed one, a failure goes back to PENDING for
//! the claiming loops to retry, and if the process dies before the outcome is written, the lease
//! runs out and any instance's claim takes the message, as for a worker that died mid-delivery.
//!
//! Only a store whose loop is running takes handed messages ([`register`]), and only up to
//! [`MAX_QUEUED`] unfinished at once; otherwise [`reserve`] says no and messages are written
//! PENDING, as every other message is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use tokio::sync::mpsc;

use super::ClaimedMessage;

/// Most handed messages not yet finished (delivered or failed and recorded) per store; beyond,
/// messages are written PENDING and claimed. At the engine's pace this is about a second of
/// holds, and bounds what a slow transport can keep in memory.
pub const MAX_QUEUED: usize = 8_192;

/// Messages handed over after their transaction committed, with the lease they were written
/// under.
#[derive(Debug)]
pub struct Handed {
    /// `locked_until` as written: the claim's identity when the outcome is recorded.
    pub lease: DateTime<Utc>,
    /// As a claim would have returned them.
    pub messages: Vec<ClaimedMessage>,
}

/// A store's loop, as the writers see it.
struct Inbox {
    sender: mpsc::UnboundedSender<Handed>,
    unfinished: Arc<AtomicUsize>,
    reservations: Arc<AtomicUsize>,
    lease: Duration,
}

/// One inbox per store ([`crate::store::Store::writer_identity`]).
static INBOXES: LazyLock<Mutex<HashMap<usize, Inbox>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The loop's end of a store's inbox. Dropping it unregisters the store.
#[derive(Debug)]
pub struct Receiver {
    key: usize,
    receiver: mpsc::UnboundedReceiver<Handed>,
    unfinished: Arc<AtomicUsize>,
    reservations: Arc<AtomicUsize>,
}

/// Registers the delivery loop of the store `key`, whose claims last `lease`. A later
/// registration for the same store replaces this one.
pub fn register(key: usize, lease: Duration) -> Receiver {
    let (sender, receiver) = mpsc::unbounded_channel();
    let unfinished = Arc::new(AtomicUsize::new(0));
    let reservations = Arc::new(AtomicUsize::new(0));
    let inbox = Inbox {
        sender,
        unfinished: unfinished.clone(),
        reservations: reservations.clone(),
        lease,
    };
    lock().insert(key, inbox);
    Receiver {
        key,
        receiver,
        unfinished,
        reservations,
    }
}

impl Receiver {
    /// The next messages handed over; `None` once closed and empty.
    pub async fn recv(&mut self) -> Option<Handed> {
        self.receiver.recv().await
    }

    /// Takes no more reservations: writers write their messages PENDING from now on. Those that
    /// reserved room already can still hand their messages over.
    pub fn stop_taking(&self) {
        self.unregister();
    }

    /// Reservations not yet handed over or dropped: batches still writing messages for this
    /// loop.
    pub fn reserved(&self) -> usize {
        self.reservations.load(Ordering::Acquire)
    }

    /// Refuses further hand-overs (they come back to their writer, which gives the messages
    /// back to the claims); what was handed already can still be received.
    pub fn close(&mut self) {
        self.unregister();
        self.receiver.close();
    }

    /// `n` handed messages are finished: room for as many more.
    pub fn finished(&self, n: usize) {
        self.unfinished.fetch_sub(n, Ordering::Relaxed);
    }

    fn unregister(&self) {
        let mut inboxes = lock();
        if inboxes
            .get(&self.key)
            .is_some_and(|i| Arc::ptr_eq(&i.unfinished, &self.unfinished))
        {
            inboxes.remove(&self.key);
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// Room for `n` messages in the store's inbox, to be written claimed under `lease_until` and
/// handed over after the commit. Dropped without [`Reservation::hand_over`], it frees the room.
#[derive(Debug)]
pub struct Reservation {
    /// The lease to write as `locked_until`.
    pub lease_until: DateTime<Utc>,
    sender: mpsc::UnboundedSender<Handed>,
    unfinished: Arc<AtomicUsize>,
    reservations: Arc<AtomicUsize>,
    n: usize,
}

/// Reserves room for `n` messages written at `now`, or `None` when the store has no loop
/// running here or its loop has [`MAX_QUEUED`] unfinished.
pub fn reserve(key: usize, n: usize, now: DateTime<Utc>) -> Option<Reservation> {
    let inboxes = lock();
    let inbox = inboxes.get(&key)?;
    let before = inbox.unfinished.fetch_add(n, Ordering::Relaxed);
    if before + n > MAX_QUEUED {
        inbox.unfinished.fetch_sub(n, Ordering::Relaxed);
        return None;
    }
    inbox.reservations.fetch_add(1, Ordering::AcqRel);
    Some(Reservation {
        lease_until: lease_until(now, inbox.lease),
        sender: inbox.sender.clone(),
        unfinished: inbox.unfinished.clone(),
        reservations: inbox.reservations.clone(),
        n,
    })
}

/// `now + lease` up to the next whole second: the messages handed within one second share a
/// lease, so their outcomes are recorded by one statement; a whole second survives either
/// database's timestamps exactly, as the comparison that identifies the claim needs; and no
/// message gets less than the configured lease.
fn lease_until(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    let until = now + TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX);
    match until.duration_trunc(TimeDelta::seconds(1)) {
        Ok(second) if second < until => second + TimeDelta::seconds(1),
        _ => until,
    }
}

impl Reservation {
    /// Hands the committed messages to the loop. `Err` gives them back when the loop has
    /// closed its inbox meanwhile: the writer then releases them to the claims.
    pub fn hand_over(mut self, messages: Vec<ClaimedMessage>) -> Result<(), Handed> {
        let handed = Handed {
            lease: self.lease_until,
            messages,
        };
        // Room for what is handed, not what was reserved (a batch may write fewer).
        let unused = self.n.saturating_sub(handed.messages.len());
        self.unfinished.fetch_sub(unused, Ordering::Relaxed);
        self.n = handed.messages.len();
        if self.n == 0 {
            // A batch that refused every request: nothing to hand over.
            return Ok(());
        }
        match self.sender.send(handed) {
            Ok(()) => {
                self.n = 0;
                Ok(())
            }
            Err(mpsc::error::SendError(handed)) => Err(handed),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.n > 0 {
            self.unfinished.fetch_sub(self.n, Ordering::Relaxed);
        }
        // After the send: a loop that sees no reservation left finds the messages in its inbox.
        self.reservations.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<usize, Inbox>> {
    INBOXES.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: u8) -> ClaimedMessage {
        ClaimedMessage {
            id: uuid::Uuid::now_v7(),
            channel: "email".into(),
            recipient: format!("buyer{n}@example.com"),
            template: "booking_pending".into(),
            payload: "{}".into(),
            attempts: 1,
        }
    }

    /// Keys no real store has (a store's key is an address).
    fn key(n: usize) -> usize {
        usize::MAX - n
    }

    #[test]
    fn nothing_is_reserved_without_a_loop() {
        assert!(reserve(key(1), 1, Utc::now()).is_none());
        let receiver = register(key(1), Duration::from_secs(60));
        assert!(reserve(key(1), 1, Utc::now()).is_some());
        drop(receiver);
        assert!(
            reserve(key(1), 1, Utc::now()).is_none(),
            "a loop that stopped takes nothing more"
        );
    }

    #[tokio::test]
    async fn handed_messages_reach_the_loop_with_their_lease() {
        let mut receiver = register(key(2), Duration::from_secs(300));
        let now = Utc::now();
        let reservation = reserve(key(2), 2, now).unwrap();
        let lease = reservation.lease_until;
        assert!(lease >= now + TimeDelta::seconds(300) && lease < now + TimeDelta::seconds(301));
        assert_eq!(lease.timestamp_subsec_nanos(), 0, "whole seconds");
        let (a, b) = (message(1), message(2));
        let ids = [a.id, b.id];
        reservation.hand_over(vec![a, b]).unwrap();
        let handed = receiver.recv().await.unwrap();
        assert_eq!(handed.lease, lease);
        assert_eq!(
            handed.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            ids
        );
    }

    #[test]
    fn room_is_bounded_and_given_back() {
        let receiver = register(key(3), Duration::from_secs(60));
        let now = Utc::now();
        let most = reserve(key(3), MAX_QUEUED - 1, now).unwrap();
        assert!(reserve(key(3), 2, now).is_none(), "beyond the bound");
        let last = reserve(key(3), 1, now).unwrap();
        drop(last);
        // A reservation that writes fewer keeps room only for what it handed.
        most.hand_over(vec![message(1)]).unwrap();
        assert!(reserve(key(3), MAX_QUEUED - 1, now).is_some_and(|r| {
            drop(r);
            true
        }));
        assert!(
            reserve(key(3), MAX_QUEUED, now).is_none(),
            "one is unfinished"
        );
        receiver.finished(1);
        // Nothing handed over frees all of its room.
        reserve(key(3), 5, now)
            .unwrap()
            .hand_over(Vec::new())
            .unwrap();
        assert!(reserve(key(3), MAX_QUEUED, now).is_some());
    }

    #[tokio::test]
    async fn a_loop_that_stops_taking_still_receives_what_was_reserved_before() {
        let mut receiver = register(key(5), Duration::from_secs(60));
        let early = reserve(key(5), 1, Utc::now()).unwrap();
        let dropped = reserve(key(5), 1, Utc::now()).unwrap();
        receiver.stop_taking();
        assert!(
            reserve(key(5), 1, Utc::now()).is_none(),
            "no new reservation"
        );
        assert_eq!(receiver.reserved(), 2);
        drop(dropped);
        assert_eq!(receiver.reserved(), 1);
        let m = message(1);
        let id = m.id;
        early.hand_over(vec![m]).unwrap();
        assert_eq!(receiver.reserved(), 0, "every batch that reserved is done");
        receiver.close();
        assert_eq!(receiver.recv().await.unwrap().messages[0].id, id);
        assert!(receiver.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_closed_inbox_gives_the_messages_back() {
        let mut receiver = register(key(4), Duration::from_secs(60));
        let early = reserve(key(4), 1, Utc::now()).unwrap();
        receiver.close();
        assert!(reserve(key(4), 1, Utc::now()).is_none());
        let m = message(1);
        let id = m.id;
        let back = early.hand_over(vec![m]).unwrap_err();
        assert_eq!(back.messages[0].id, id);
        assert!(receiver.recv().await.is_none());
    }
}
