//! Reconciliation: the cure for lost webhooks and gateway outages. Every minute, one instance of
//! the cluster (the [`lease`](crate::store::Lease) holder) asks the gateways about payments left
//! PENDING for a few minutes and settles them, executes again the refunds left PENDING
//! (a gateway that failed, a crash between opening a refund and asking for it), and asks about
//! the refunds a gateway accepted as pending until it settles or fails them. A refund is
//! asked with the same idempotency key each time, so money moves once.

use std::time::Duration;

use chrono::Utc;

use super::flows;
use crate::state::AppState;
use crate::tasks::lease;

/// How often a round runs.
pub const PERIOD: Duration = Duration::from_secs(60);
/// A payment PENDING for longer than this is asked about.
const STALE_PAYMENT: chrono::Duration = chrono::Duration::minutes(5);
/// A refund PENDING for longer than this is asked again (younger ones may still be running).
const STALE_REFUND: chrono::Duration = chrono::Duration::seconds(30);
/// Most payments and refunds handled per round.
const BATCH: i64 = 200;

/// Runs the reconciliation every [`PERIOD`] until shutdown.
pub fn spawn_reconciler(state: &AppState) {
    let reconciler = state.clone();
    crate::tasks::every(state, PERIOD, move || {
        let state = reconciler.clone();
        async move {
            if let Err(e) = reconcile(&state).await {
                tracing::warn!(error = %e.message, "payment reconciliation round failed");
            }
        }
    });
}

/// Executes the refunds opened by an event's cancellation (the job retries any that fail).
pub async fn refund_event(state: &AppState, event_id: uuid::Uuid) -> crate::http::ApiResult<usize> {
    let mut done = 0;
    for booking in state.store.bookings_owed_refunds(event_id).await? {
        flows::refund_owed(state, booking).await;
        done += 1;
    }
    Ok(done)
}

/// One round, if this instance holds the lease: `(payments settled, refunds executed)`.
pub async fn reconcile(state: &AppState) -> crate::http::ApiResult<(usize, usize)> {
    let Some(lease) = state.store.lead(lease::PAYMENT_RECONCILER).await? else {
        return Ok((0, 0));
    };
    let outcome = reconcile_round(state).await;
    lease.release().await;
    outcome
}

/// [`reconcile`]'s work, under the lease.
async fn reconcile_round(state: &AppState) -> crate::http::ApiResult<(usize, usize)> {
    let now = Utc::now();
    let mut refunded = 0;
    for refund in state
        .store
        .pending_refunds(now - STALE_REFUND, BATCH)
        .await?
    {
        let Some(payment) = state.store.payment_by_id(refund.payment_id).await? else {
            continue;
        };
        if refund.gateway_reference.is_some() {
            // Accepted as pending by the gateway: asked what became of it, never asked again.
            if let Ok(Some(_)) = flows::follow_refund(state, &payment, &refund).await {
                refunded += 1;
            }
        } else if flows::execute_refund(state, &payment, &refund)
            .await
            .is_ok()
        {
            refunded += 1;
        }
    }
    let mut settled = 0;
    for payment in state
        .store
        .stale_pending_payments(now - STALE_PAYMENT, BATCH)
        .await?
    {
        let Some(gateway) = state.gateways.get(&payment.gateway) else {
            continue;
        };
        match gateway.verify(&payment).await {
            Ok(settlement) => {
                if let Some((applied, _)) =
                    flows::apply(state, &payment.reference, &settlement, None).await?
                    && applied != super::Applied::Pending
                {
                    settled += 1;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, payment = %payment.reference, "reconciliation could not ask the gateway");
            }
        }
    }
    if settled + refunded > 0 {
        tracing::info!(settled, refunded, "payment reconciliation");
    }
    Ok((settled, refunded))
}
