//! Periodic background work: one loop shape for every worker that wakes on an interval and
//! stops when shutdown begins.

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
