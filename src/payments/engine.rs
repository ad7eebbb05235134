//! The payments' write paths in batches ([`crate::store::batcher`]).
//!
//! Opening a payment and settling one each move a booking and its payment in one write
//! transaction. At a hot on-sale, with one transaction per request, they queued behind each
//! other's statements on SQLite's one writer; here concurrent requests of each kind are written
//! together, one transaction per batch:
//! - [`open`]: the batch's bookings checked and extended, their pending payments read, and the
//!   new payments inserted with a statement each for the whole batch
//!   ([`open_many`](super::sqlite::open_many));
//! - [`settle`]: the common case (a matching success of an open payment whose booking is still
//!   PENDING) costs a few multi-row statements for the whole batch, and every other case takes
//!   [`settle`](super::sqlite::settle)'s own steps in the same transaction
//!   ([`settle_many`](super::sqlite::settle_many)).
//!
//! Each request of a batch is decided on rows read (and on PostgreSQL locked) inside the batch's
//! transaction, in arrival order, exactly as it would be alone: a payment named twice is settled
//! once, a booking opened twice gets one payment.

use chrono::Utc;

use super::model::{Open, Opened, Settle, Settled};
use crate::bookings::Links;
use crate::store::Store;
use crate::store::batcher::{Batcher, Job};

/// Most requests in one transaction.
pub const MAX_BATCH: usize = 64;

impl Job for Settle {
    type Out = Option<Settled>;
    type Ctx = Links;

    async fn batch(store: &Store, batch: &[Self], links: &Links) -> sqlx::Result<Vec<Self::Out>> {
        store.settle_many(batch, links, Utc::now()).await
    }

    async fn alone(store: &Store, s: &Self, links: &Links) -> sqlx::Result<Self::Out> {
        store
            .settle_payment(
                &s.reference,
                &s.settlement,
                s.delivery().as_ref(),
                links,
                Utc::now(),
            )
            .await
    }
}

static SETTLEMENTS: Batcher<Settle> = Batcher::new(MAX_BATCH);

/// Settles a payment with the concurrent others: what [`Store::settle_payment`] answers.
pub async fn settle(store: &Store, req: Settle, links: &Links) -> sqlx::Result<Option<Settled>> {
    SETTLEMENTS.submit(store, req, links).await
}

impl Job for Open {
    type Out = Opened;
    type Ctx = ();

    async fn batch(store: &Store, batch: &[Self], _: &()) -> sqlx::Result<Vec<Opened>> {
        store.open_payments(batch, Utc::now()).await
    }

    async fn alone(store: &Store, item: &Self, _: &()) -> sqlx::Result<Opened> {
        let mut one = store
            .open_payments(std::slice::from_ref(item), Utc::now())
            .await?;
        Ok(one.pop().unwrap_or(Opened::NotPending))
    }
}

static OPENINGS: Batcher<Open> = Batcher::new(MAX_BATCH);

/// Opens a payment with the concurrent others: what [`Store::open_payments`] answers for it.
pub async fn open(store: &Store, req: Open) -> sqlx::Result<Opened> {
    OPENINGS.submit(store, req, &()).await
}
