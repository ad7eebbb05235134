//! Periodic background work: one loop shape for every worker that wakes on an interval and
//! stops when shutdown begins, and the leases that make a job run once per tick in a cluster.

use std::time::Duration;

use crate::state::AppState;

/// Runs `round` every `period` (the first round at once) until shutdown begins. A round always
/// finishes before the next starts; a late round delays the next instead of bunching them.
pub fn every<F, Fut>(state: &AppState, period: Duration, mut round: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut shutdown = state.shutdown_signal();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            round().await;
        }
    });
}

/// The PostgreSQL advisory-lock keys of the jobs that run on one instance per tick (see
/// [`every_leading`]). One place, so no two jobs share a key by accident.
pub mod lease {
    /// Payment and refund reconciliation.
    pub const PAYMENT_RECONCILER: i64 = 7_412_101;
    /// Expired holds and event-cancel cascades.
    pub const HOLD_SWEEPER: i64 = 7_412_102;
    /// Event reminders.
    pub const REMINDERS: i64 = 7_412_103;
    /// Completing finished events and refreshing planner statistics.
    pub const EVENT_COMPLETION: i64 = 7_412_104;
    /// Purging old idempotency keys.
    pub const IDEMPOTENCY_PURGE: i64 = 7_412_105;
    /// Pruning old abuse events.
    pub const ABUSE_PRUNE: i64 = 7_412_106;
    /// The dashboard feed's change watcher.
    pub const DASHBOARD_FEED: i64 = 7_412_115;

    /// Every key, for the check that they differ.
    #[cfg(test)]
    pub const ALL: [i64; 7] = [
        PAYMENT_RECONCILER,
        HOLD_SWEEPER,
        REMINDERS,
        EVENT_COMPLETION,
        IDEMPOTENCY_PURGE,
        ABUSE_PRUNE,
        DASHBOARD_FEED,
    ];
}

/// Like [`every`], but a round runs only on the instance that takes the [`lease`] `key` for it
/// ([`crate::store::Store::lead`]: an advisory lock on PostgreSQL, always won on SQLite); the
/// other instances skip that tick. For jobs that would repeat the same work (or the same
/// messages) once per instance.
pub fn every_leading<F, Fut>(state: &AppState, period: Duration, key: i64, mut round: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let store = state.store.clone();
    every(state, period, move || {
        let store = store.clone();
        let job = round();
        async move {
            match store.lead(key).await {
                Ok(Some(lease)) => {
                    job.await;
                    lease.release().await;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, key, "could not take a job's lease"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::lease;

    #[test]
    fn the_lease_pool_has_a_connection_for_every_job() {
        assert!(lease::ALL.len() < crate::store::LEASE_CONNECTIONS as usize);
    }

    #[test]
    fn lease_keys_differ() {
        let mut keys = lease::ALL.to_vec();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), lease::ALL.len());
    }
}
