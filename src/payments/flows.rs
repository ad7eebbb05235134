//! What happens to a payment, the same for every gateway: applying a gateway's word (webhook,
//! verify, reconciliation), executing refunds, and receiving webhooks.

use axum::http::HeaderMap;
use chrono::Utc;

use super::gateways::{Gateway, RefundOutcome};
use super::model::{Applied, Delivery, PaymentRow, RefundRow, Settle, Settlement};
use crate::bookings::Links;
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// Applies a settlement to the payment `reference` with its booking; a success that could not
/// confirm its booking is refunded in full at once. Returns what was done and the payment after.
/// A webhook's `delivery` is recorded with what it applied.
pub async fn apply(
    state: &AppState,
    reference: &str,
    settlement: &Settlement,
    delivery: Option<&Delivery<'_>>,
) -> ApiResult<Option<(Applied, PaymentRow)>> {
    let links = Links::from_config(&state.config);
    let req = Settle {
        reference: reference.to_string(),
        settlement: settlement.clone(),
        delivery: delivery.map(|d| (d.gateway.to_string(), d.event_id.to_string())),
    };
    let Some((applied, payment, refund)) = super::engine::settle(&state.store, req, &links).await?
    else {
        return Ok(None);
    };
    match applied {
        Applied::Confirmed { event_id } => {
            crate::bookings::announce(state, event_id).await;
            metrics::counter!("ticketmax_payments_total", "outcome" => "confirmed").increment(1);
        }
        Applied::Mismatch => {
            tracing::warn!(
                reference,
                "payment settlement with a different amount or currency: not applied"
            );
        }
        _ => {}
    }
    let payment = match refund {
        Some(refund) => {
            tracing::info!(
                reference,
                "paid booking could not be confirmed: refunding in full"
            );
            execute_refund(state, &payment, &refund)
                .await
                .unwrap_or(payment)
        }
        None => payment,
    };
    Ok(Some((applied, payment)))
}

/// Asks the payment's gateway to return a refund's money and records the outcome. A gateway that
/// fails leaves the refund PENDING for the reconciliation job to try again (with the same
/// idempotency key, so money moves once); `Err` carries that failure.
pub async fn execute_refund(
    state: &AppState,
    payment: &PaymentRow,
    refund: &RefundRow,
) -> Result<PaymentRow, ApiError> {
    if refund.gateway_reference.is_some() {
        // The gateway accepted it already and settles it on its own time: never asked twice.
        return Ok(payment.clone());
    }
    let gateway = gateway_of(state, &payment.gateway)?;
    let key = format!("refund-{}", refund.id);
    match gateway.refund(payment, refund.amount, &key).await {
        Ok(RefundOutcome::Settled { gateway_reference }) => state
            .store
            .finish_refund(refund.id, true, gateway_reference.as_deref(), Utc::now())
            .await?
            .ok_or_else(|| ApiError::conflict("The refund was settled meanwhile")),
        Ok(RefundOutcome::Pending { gateway_reference }) => {
            state
                .store
                .mark_refund_accepted(
                    refund.id,
                    gateway_reference.as_deref().unwrap_or("accepted"),
                )
                .await?;
            Ok(payment.clone())
        }
        Ok(RefundOutcome::Failed { reason }) => {
            tracing::warn!(%reason, payment = %payment.reference, refund = %refund.id, "the gateway reports the refund failed; its amount is free again");
            Ok(state
                .store
                .finish_refund(refund.id, false, None, Utc::now())
                .await?
                .unwrap_or_else(|| payment.clone()))
        }
        Err(e) => {
            tracing::warn!(error = %e, payment = %payment.reference, "refund through the gateway failed; it stays pending");
            Err(ApiError::unavailable(
                "The payment gateway could not take the refund now; it will be retried",
            ))
        }
    }
}

/// Asks the gateway what became of a refund it accepted as pending (one with a
/// `gateway_reference`) and finishes it when the gateway settled it or reports it failed.
/// `Some` is the payment after a refund that finished; `None` a refund still pending (or one
/// never accepted, which [`execute_refund`] handles).
pub async fn follow_refund(
    state: &AppState,
    payment: &PaymentRow,
    refund: &RefundRow,
) -> ApiResult<Option<PaymentRow>> {
    let Some(reference) = refund.gateway_reference.as_deref() else {
        return Ok(None);
    };
    let gateway = gateway_of(state, &payment.gateway)?;
    let (success, gateway_reference) = match gateway.refund_status(payment, reference).await {
        Ok(RefundOutcome::Settled { gateway_reference }) => (true, gateway_reference),
        Ok(RefundOutcome::Failed { reason }) => {
            tracing::warn!(%reason, payment = %payment.reference, refund = %refund.id, "the gateway reports the refund failed; its amount is free again");
            (false, None)
        }
        Ok(RefundOutcome::Pending { .. }) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, payment = %payment.reference, refund = %refund.id, "could not ask the gateway about a pending refund");
            return Ok(None);
        }
    };
    Ok(state
        .store
        .finish_refund(refund.id, success, gateway_reference.as_deref(), Utc::now())
        .await?)
}

/// Executes at once the refunds a cancellation opened for a booking (the reconciliation job
/// retries any that fail).
pub async fn refund_owed(state: &AppState, booking_id: uuid::Uuid) {
    let refunds = match state.store.pending_refunds_of_booking(booking_id).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, %booking_id, "could not read the refunds owed");
            return;
        }
    };
    for refund in refunds {
        if let Ok(Some(payment)) = state.store.payment_by_id(refund.payment_id).await {
            let _ = execute_refund(state, &payment, &refund).await;
        }
    }
}

/// The enabled gateway of a name, or 503 when this instance no longer has it configured.
pub fn gateway_of<'a>(
    state: &'a AppState,
    name: &str,
) -> ApiResult<&'a std::sync::Arc<dyn Gateway>> {
    state
        .gateways
        .get(name)
        .ok_or_else(|| ApiError::unavailable(format!("The {name} gateway is not configured")))
}

/// Receives a webhook: checks its signature (401, nothing changes) and applies the event, asking
/// the gateway's API when the event alone is not to be trusted with the money. Returns the
/// payment after, when the event was about one of this gateway's payments.
pub async fn receive_webhook(
    state: &AppState,
    gateway_name: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Option<PaymentRow>> {
    let unauthorized = || ApiError::new(ErrorCode::Unauthorized, "Invalid webhook signature");
    let gateway = state.gateways.get(gateway_name).ok_or_else(unauthorized)?;
    let event = gateway.webhook(headers, body, Utc::now()).map_err(|e| {
        tracing::warn!(gateway = gateway_name, error = %e, "webhook refused");
        unauthorized()
    })?;
    let settlement = match event.settlement {
        Some(s) => s,
        None => {
            let Some(payment) = state.store.payment_by_reference(&event.reference).await? else {
                // Not ours (another integration on the same account): acknowledged, nothing to do.
                return Ok(None);
            };
            if payment.gateway != gateway_name {
                return Ok(None);
            }
            gateway.verify(&payment).await.map_err(|e| {
                ApiError::unavailable(format!("The gateway could not confirm it: {e}"))
            })?
        }
    };
    // Settling is idempotent (a settled payment is never settled again), so a repeat delivery,
    // or two racing each other, change nothing after the first; the delivery is recorded in the
    // transaction that applies it, so a failure here leaves the gateway's retry to apply it. A
    // reference that is not one of this gateway's payments (another integration on the same
    // account) is acknowledged with nothing done.
    let delivery = Delivery {
        gateway: gateway_name,
        event_id: &event.event_id,
    };
    let applied = apply(state, &event.reference, &settlement, Some(&delivery)).await?;
    Ok(applied.map(|(_, after)| after))
}
