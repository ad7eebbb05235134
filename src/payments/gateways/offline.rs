//! `offline`: cash or a bank transfer, recorded by the event owner or an admin when they confirm
//! a booking. Nothing is asked of anyone: the money is already in hand when it is recorded, and a
//! refund records the money handed back.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use super::{
    Checkout, Gateway, GatewayError, GatewayFuture, Initialized, RefundOutcome, WebhookEvent,
    WebhookRejected,
};
use crate::payments::model::{PaymentRow, Settlement};

/// The offline gateway.
#[derive(Debug, Default)]
pub struct Offline;

impl Gateway for Offline {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn initiable(&self) -> bool {
        false
    }

    fn initialize<'a>(&'a self, _checkout: &'a Checkout<'a>) -> GatewayFuture<'a, Initialized> {
        Box::pin(async {
            Err(GatewayError(
                "offline payments are recorded by staff when they confirm".into(),
            ))
        })
    }

    fn verify<'a>(&'a self, payment: &'a PaymentRow) -> GatewayFuture<'a, Settlement> {
        // An offline payment is recorded as settled; there is nothing further to learn.
        let settled = Settlement::Paid {
            amount: payment.amount,
            currency: payment.currency.clone(),
            gateway_reference: None,
        };
        Box::pin(async move { Ok(settled) })
    }

    fn refund<'a>(
        &'a self,
        _payment: &'a PaymentRow,
        _amount: i64,
        _idempotency_key: &'a str,
    ) -> GatewayFuture<'a, RefundOutcome> {
        Box::pin(async {
            Ok(RefundOutcome::Settled {
                gateway_reference: None,
            })
        })
    }

    fn webhook(
        &self,
        _headers: &HeaderMap,
        _body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookRejected> {
        Err(WebhookRejected("offline payments have no webhooks".into()))
    }
}
