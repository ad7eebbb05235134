//! `test`: the zero-configuration gateway of development. Its checkout is a page of this server
//! (`/api/payments/test/checkout/{reference}`) with Pay and Decline buttons; pressing one makes
//! a webhook event signed like a real gateway's (hex HMAC-SHA256 of the body in
//! `x-test-signature`) and hands it to the same webhook path the real gateways use, so
//! development exercises what production runs.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::{
    Checkout, Gateway, GatewayFuture, Initialized, RefundOutcome, WebhookEvent, WebhookRejected,
};
use crate::payments::model::{PaymentRow, Settlement};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-test-signature";

/// The test gateway.
pub struct TestGateway {
    checkout_base: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for TestGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestGateway")
            .field("checkout_base", &self.checkout_base)
            .finish_non_exhaustive()
    }
}

/// The body of a test webhook.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct TestEvent {
    /// Unique per delivery.
    pub id: String,
    /// The payment's reference.
    pub reference: String,
    /// `success` or `failed`.
    pub status: String,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
}

impl TestGateway {
    /// A test gateway whose checkout pages live under `api_base` (`PUBLIC_BASE_URL` + `/api`),
    /// signing with a key derived from `signing_key`.
    pub fn new(api_base: &str, signing_key: &str) -> Self {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(signing_key.as_bytes())
            .expect("HMAC accepts keys of any length");
        m.update(b"test-gateway-webhooks");
        Self {
            checkout_base: format!("{}/payments/test/checkout", api_base.trim_end_matches('/')),
            secret: m.finalize().into_bytes().to_vec(),
        }
    }

    /// The signature of a body.
    pub fn sign(&self, body: &[u8]) -> String {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC accepts keys of any length");
        m.update(body);
        hex::encode(m.finalize().into_bytes())
    }

    /// The signed webhook a press of Pay (`paid`) or Decline makes for a payment.
    pub fn event_for(&self, payment: &PaymentRow, paid: bool) -> (Vec<u8>, String) {
        let event = TestEvent {
            id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
            reference: payment.reference.clone(),
            status: if paid { "success" } else { "failed" }.into(),
            amount: payment.amount,
            currency: payment.currency.clone(),
        };
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let signature = self.sign(&body);
        (body, signature)
    }
}

impl Gateway for TestGateway {
    fn name(&self) -> &'static str {
        "test"
    }

    fn local_checkout_url(&self, reference: &str) -> Option<String> {
        Some(format!("{}/{}", self.checkout_base, reference))
    }

    fn initialize<'a>(&'a self, checkout: &'a Checkout<'a>) -> GatewayFuture<'a, Initialized> {
        let url = format!("{}/{}", self.checkout_base, checkout.reference);
        Box::pin(async move {
            Ok(Initialized {
                authorization_url: url,
                gateway_reference: None,
            })
        })
    }

    fn verify<'a>(&'a self, _payment: &'a PaymentRow) -> GatewayFuture<'a, Settlement> {
        // The test gateway keeps no state of its own: until its page was used, nothing happened.
        Box::pin(async { Ok(Settlement::Pending) })
    }

    fn refund<'a>(
        &'a self,
        _payment: &'a PaymentRow,
        _amount: i64,
        idempotency_key: &'a str,
    ) -> GatewayFuture<'a, RefundOutcome> {
        let reference = format!("test_refund_{idempotency_key}");
        Box::pin(async move {
            Ok(RefundOutcome::Settled {
                gateway_reference: Some(reference),
            })
        })
    }

    fn webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookRejected> {
        let given = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| WebhookRejected("missing signature".into()))?;
        if !crate::crypto::constant_time_eq(given.as_bytes(), self.sign(body).as_bytes()) {
            return Err(WebhookRejected("bad signature".into()));
        }
        let event: TestEvent = serde_json::from_slice(body)
            .map_err(|e| WebhookRejected(format!("unreadable event: {e}")))?;
        let settlement = match event.status.as_str() {
            "success" => Settlement::Paid {
                amount: event.amount,
                currency: event.currency,
                gateway_reference: Some(event.id.clone()),
            },
            _ => Settlement::Failed {
                reason: "Declined on the test checkout".into(),
            },
        };
        Ok(WebhookEvent {
            event_id: event.id,
            reference: event.reference,
            settlement: Some(settlement),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_event_is_read_and_a_forged_one_refused() {
        let gw = TestGateway::new("http://localhost:3000/api", "key");
        let body = br#"{"id":"evt_1","reference":"PAY-X","status":"success","amount":500,"currency":"NGN"}"#;
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, gw.sign(body).parse().unwrap());
        let event = gw.webhook(&headers, body, Utc::now()).unwrap();
        assert_eq!(event.reference, "PAY-X");
        assert!(matches!(
            event.settlement,
            Some(Settlement::Paid { amount: 500, .. })
        ));
        let forged =
            br#"{"id":"evt_1","reference":"PAY-X","status":"success","amount":5,"currency":"NGN"}"#;
        assert!(gw.webhook(&headers, forged, Utc::now()).is_err());
        assert!(gw.webhook(&HeaderMap::new(), body, Utc::now()).is_err());
    }
}
