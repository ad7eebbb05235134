//! The outbox storage interface.

use super::*;
use crate::store::Store;
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl Store {
    /// Messages written for a recipient, newest first.
    pub async fn messages_for(&self, recipient: &str) -> sqlx::Result<Vec<OutboxRow>> {
        crate::dispatch!(self, crate::notify => messages_for(recipient))
    }

    /// The SMS before message `id`, within the hour, that count toward the caps: to its number
    /// and to anyone.
    pub async fn sms_before(&self, id: Uuid, since: DateTime<Utc>) -> sqlx::Result<(i64, i64)> {
        crate::dispatch!(self, crate::notify => sms_before(id, since))
    }

    /// Writes one message in its own transaction.
    pub async fn enqueue_message(&self, message: &NewMessage) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::notify => enqueue(message))
    }

    /// Claims due messages for a worker (see the queries file).
    pub async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        max_attempts: i32,
        limit: i64,
    ) -> sqlx::Result<Vec<ClaimedMessage>> {
        crate::dispatch!(self, crate::notify => claim_due(now, lease_until, max_attempts, limit))
    }

    /// Empties the payloads of messages finished before `before`.
    pub async fn redact_finished_messages(&self, before: DateTime<Utc>) -> sqlx::Result<u64> {
        crate::dispatch!(self, crate::notify => redact_finished(before))
    }

    /// Fails messages a dead worker left in PROCESSING on their last allowed attempt.
    pub async fn fail_abandoned_messages(
        &self,
        now: DateTime<Utc>,
        max_attempts: i32,
    ) -> sqlx::Result<u64> {
        crate::dispatch!(self, crate::notify => fail_abandoned(now, max_attempts))
    }

    /// Records delivered and failed messages claimed under `lease`.
    pub async fn record_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: DateTime<Utc>,
        sent: &[Uuid],
        failed: &[Failure],
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::notify => record_outcomes(now, lease, sent, failed))
    }

    /// Gives messages claimed under `lease` back without counting an attempt.
    pub async fn release_messages(&self, lease: DateTime<Utc>, ids: &[Uuid]) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::notify => release(lease, ids))
    }

    /// A page of the outbox, newest first, and the total.
    pub async fn list_messages(
        &self,
        status: Option<Status>,
        limit: i64,
        offset: i64,
    ) -> sqlx::Result<(Vec<OutboxRow>, i64)> {
        let status = status.map(Status::as_str);
        crate::dispatch!(self, crate::notify => list_messages(status, limit, offset))
    }

    /// Message counts by status.
    pub async fn outbox_counts(&self) -> sqlx::Result<Vec<(String, i64)>> {
        crate::dispatch!(self, crate::notify => count_by_status())
    }
}
