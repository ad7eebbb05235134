//! `stripe`: payments through a Stripe Checkout Session. The buyer pays on Stripe's hosted page;
//! `checkout.session.*` webhooks (signed `Stripe-Signature: t=…,v1=…`) or a look-up of the
//! session settle the payment; refunds go to the session's PaymentIntent. Amounts travel in
//! Stripe's "smallest currency unit", which differs from ISO 4217 for a few currencies.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Sha256;

use super::{
    Checkout, Gateway, GatewayError, GatewayFuture, Initialized, RefundOutcome, WebhookEvent,
    WebhookRejected,
};
use crate::config::PaymentsConfig;
use crate::payments::model::{PaymentRow, Settlement, minor_per_major};

/// The header carrying the webhook signature.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// How far a webhook's timestamp may be from now, in seconds (Stripe's default tolerance): an
/// older delivery may be a replay of a captured one.
pub const TOLERANCE_SECS: i64 = 300;

/// The Stripe gateway when its key is configured.
pub fn from_config(config: &PaymentsConfig, http: &reqwest::Client) -> Option<Arc<dyn Gateway>> {
    // Without the webhook secret nothing Stripe sends could be trusted (the configuration refuses
    // that combination already; this keeps the gateway off should it ever get through).
    if config.stripe_secret_key.is_empty() || config.stripe_webhook_secret.is_empty() {
        return None;
    }
    Some(Arc::new(StripeGateway::new(
        http.clone(),
        &config.stripe_base_url,
        config.stripe_secret_key.expose(),
        config.stripe_webhook_secret.expose(),
    )))
}

/// The Stripe gateway.
pub struct StripeGateway {
    http: reqwest::Client,
    /// `https://api.stripe.com`, or a local fake in tests; no trailing slash.
    base_url: String,
    secret_key: String,
    /// `whsec_…`, used whole as the HMAC key.
    webhook_secret: String,
}

impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

// Amounts.

/// Currencies Stripe charges in whole units (its "zero-decimal" list).
const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// Currencies Stripe takes with three decimals, whose last digit must be 0 for its partners.
const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];

/// Stripe's presentment currencies (https://docs.stripe.com/currencies). Which of them an account
/// may use also depends on its country and payment methods; Stripe refuses the others when the
/// session is created.
const SUPPORTED: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHF", "CLP", "CNY", "COP", "CRC", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ETB",
    "EUR", "FJD", "FKP", "GBP", "GEL", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG",
    "HUF", "IDR", "ILS", "INR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK",
    "MNT", "MOP", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
    "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "STD", "SZL", "THB",
    "TJS", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VND",
    "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW",
];

/// Stripe's units per major unit of a currency. ISK is the notable difference from ISO 4217
/// (exponent 0): Stripe keeps it two-decimal for compatibility, in whole krónur only. HUF and TWD
/// are two-decimal for charges (Stripe treats them as zero-decimal for payouts only).
fn stripe_per_major(currency: &str) -> i64 {
    if ZERO_DECIMAL.contains(&currency) {
        1
    } else if THREE_DECIMAL.contains(&currency) {
        1000
    } else {
        100
    }
}

/// An amount in our minor units (`minor_per_major`) as Stripe's smallest unit, or why Stripe
/// cannot take it.
pub fn to_stripe_amount(amount: i64, currency: &str) -> Result<i64, String> {
    let currency = currency.to_ascii_uppercase();
    if amount < 1 {
        return Err(format!("Stripe cannot charge {amount} {currency}"));
    }
    let ours = minor_per_major(&currency);
    let theirs = stripe_per_major(&currency);
    let converted = if theirs >= ours {
        amount.checked_mul(theirs / ours)
    } else {
        let step = ours / theirs;
        (amount % step == 0).then_some(amount / step)
    };
    let Some(converted) = converted else {
        return Err(format!(
            "{amount} minor units of {currency} have no exact Stripe amount"
        ));
    };
    // Card networks take whole krónur only; three-decimal currencies end in 0 for Stripe's
    // partners. Stripe would refuse either, so it is refused here with a clear reason.
    if currency == "ISK" && converted % 100 != 0 {
        return Err(format!(
            "Stripe takes whole ISK only, not {amount} minor units"
        ));
    }
    if THREE_DECIMAL.contains(&currency.as_str()) && converted % 10 != 0 {
        return Err(format!(
            "Stripe takes {currency} amounts in multiples of 0.010, not {amount} minor units"
        ));
    }
    Ok(converted)
}

/// A Stripe amount in our minor units; `None` when it has no exact equivalent.
pub fn from_stripe_amount(amount: i64, currency: &str) -> Option<i64> {
    let currency = currency.to_ascii_uppercase();
    let ours = minor_per_major(&currency);
    let theirs = stripe_per_major(&currency);
    if ours >= theirs {
        amount.checked_mul(ours / theirs)
    } else {
        let step = theirs / ours;
        (amount % step == 0).then_some(amount / step)
    }
}

// Stripe objects (only the fields used).

/// A Checkout Session.
#[derive(Debug, Deserialize)]
struct Session {
    id: String,
    #[serde(default)]
    client_reference_id: Option<String>,
    #[serde(default)]
    metadata: Option<HashMap<String, Value>>,
    #[serde(default)]
    amount_total: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    #[serde(default)]
    payment_status: Option<String>,
    /// `open`, `complete` or `expired`.
    #[serde(default)]
    status: Option<String>,
    /// The PaymentIntent's id, or the object when expanded.
    #[serde(default)]
    payment_intent: Option<Value>,
    #[serde(default)]
    url: Option<String>,
}

impl Session {
    /// Our payment reference, as we gave it.
    fn reference(&self) -> Option<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.get("reference"))
            .and_then(Value::as_str)
            .or(self.client_reference_id.as_deref())
            .filter(|r| !r.is_empty())
            .map(str::to_string)
    }

    fn payment_intent_id(&self) -> Option<String> {
        match self.payment_intent.as_ref()? {
            Value::String(id) => Some(id.clone()),
            Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
    }

    /// What the session says once Stripe reports it paid: the money, in our units, with the
    /// PaymentIntent as the payment's gateway reference (refunds need it).
    fn paid(&self) -> Settlement {
        let (Some(amount), Some(currency)) = (self.amount_total, self.currency.as_deref()) else {
            tracing::warn!(session = %self.id, "paid Stripe session without an amount: not applied");
            return Settlement::Pending;
        };
        let currency = currency.to_ascii_uppercase();
        let Some(amount) = from_stripe_amount(amount, &currency) else {
            tracing::warn!(session = %self.id, amount, %currency, "Stripe amount with no exact equivalent: not applied");
            return Settlement::Pending;
        };
        Settlement::Paid {
            amount,
            currency,
            gateway_reference: self.payment_intent_id(),
        }
    }

    /// What a look-up of the session says.
    fn settlement(&self) -> Settlement {
        if self.payment_status.as_deref() == Some("paid") {
            self.paid()
        } else if self.status.as_deref() == Some("expired") {
            Settlement::Failed {
                reason: "The Stripe checkout expired unpaid".into(),
            }
        } else {
            // Open, or complete with an asynchronous method still processing.
            Settlement::Pending
        }
    }
}

/// An Event.
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

/// A Refund.
#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    status: String,
    #[serde(default)]
    metadata: Option<HashMap<String, Value>>,
}

#[derive(Debug, Deserialize)]
struct RefundList {
    #[serde(default)]
    data: Vec<Refund>,
}

/// What Stripe says of a refund.
fn refund_outcome(refund: Refund) -> Result<RefundOutcome, GatewayError> {
    let gateway_reference = Some(refund.id.clone());
    match refund.status.as_str() {
        "succeeded" => Ok(RefundOutcome::Settled { gateway_reference }),
        "pending" | "requires_action" => Ok(RefundOutcome::Pending { gateway_reference }),
        other => Err(GatewayError(format!(
            "Stripe refund {} is {other}",
            refund.id
        ))),
    }
}

/// What Stripe's answer to a refund request means: `failed` and `canceled` are refunds that
/// definitely moved no money, so they fail here; the rest as [`refund_outcome`] reads them.
fn refund_answer(refund: Refund) -> Result<RefundOutcome, GatewayError> {
    match refund.status.as_str() {
        "failed" | "canceled" => Ok(RefundOutcome::Failed {
            reason: format!("Stripe refund {} is {}", refund.id, refund.status),
        }),
        _ => refund_outcome(refund),
    }
}

/// What a refund's status says when it is followed up: `succeeded` settled, `failed` and
/// `canceled` failed, anything else still on its way.
fn followed_refund(refund: Refund) -> RefundOutcome {
    match refund_answer(refund) {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::info!(error = %e, "Stripe refund in an unknown state: still pending");
            RefundOutcome::Pending {
                gateway_reference: None,
            }
        }
    }
}

/// Whether `id` is made of Stripe's id alphabet only (letters, digits and `_`), so that it can
/// go into a path.
fn is_stripe_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `t` and every `v1` of a `Stripe-Signature` header.
fn parse_signature(header: &str) -> Option<(i64, Vec<&str>)> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            // `v0` (test-mode legacy scheme) and unknown schemes are ignored, as Stripe says.
            _ => {}
        }
    }
    Some((timestamp?, signatures))
}

impl StripeGateway {
    /// A gateway calling the API at `base_url` with a secret key, checking webhooks with the
    /// endpoint's `whsec_…` secret.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        secret_key: &str,
        webhook_secret: &str,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret_key: secret_key.to_string(),
            webhook_secret: webhook_secret.to_string(),
        }
    }

    /// The `v1` signature of a payload sent at `timestamp`: hex HMAC-SHA256 of `"{t}.{body}"`
    /// keyed with the whole webhook secret.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(self.webhook_secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        m.update(timestamp.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        hex::encode(m.finalize().into_bytes())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends a request and reads its JSON answer as a `kind` (`session`, `refund`…); a non-2xx
    /// answer is an error carrying Stripe's message (never the key).
    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        kind: &str,
    ) -> Result<T, GatewayError> {
        let response = request
            .bearer_auth(&self.secret_key)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, what, "Stripe unreachable");
                GatewayError(format!("Stripe could not be reached ({what})"))
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .chars()
                .take(200)
                .collect::<String>();
            tracing::warn!(status = status.as_u16(), %message, what, "Stripe refused");
            return Err(GatewayError(format!(
                "Stripe answered {} to {what}: {message}",
                status.as_u16()
            )));
        }
        serde_json::from_value(body)
            .map_err(|e| GatewayError(format!("unreadable Stripe {kind}: {e}")))
    }

    async fn session(&self, id: &str) -> Result<Session, GatewayError> {
        // The id came from Stripe, but it goes into a path: only Stripe's id alphabet passes.
        if !is_stripe_id(id) {
            return Err(GatewayError("not a Stripe Checkout Session id".into()));
        }
        let url = self.url(&format!("/v1/checkout/sessions/{id}"));
        self.call(self.http.get(url), "a session look-up", "session")
            .await
    }

    /// The PaymentIntent of a paid payment: its gateway reference once paid, else found through
    /// its Checkout Session.
    async fn payment_intent_of(&self, payment: &PaymentRow) -> Result<String, GatewayError> {
        match payment.gateway_reference.as_deref() {
            Some(pi) if pi.starts_with("pi_") => Ok(pi.to_string()),
            Some(cs) if cs.starts_with("cs_") => self
                .session(cs)
                .await?
                .payment_intent_id()
                .ok_or_else(|| GatewayError("the Stripe session has no PaymentIntent".into())),
            _ => Err(GatewayError(
                "no Stripe PaymentIntent is known for this payment".into(),
            )),
        }
    }

    /// A refund asked before with this key, if Stripe has one: Stripe forgets idempotency keys
    /// after 24 hours, and a refund still pending then is asked again by the reconciliation.
    async fn earlier_refund(
        &self,
        payment_intent: &str,
        key: &str,
    ) -> Result<Option<Refund>, GatewayError> {
        let list: RefundList = self
            .call(
                self.http.get(format!(
                    "{}?{}",
                    self.url("/v1/refunds"),
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("payment_intent", payment_intent)
                        .append_pair("limit", "100")
                        .finish()
                )),
                "a refund look-up",
                "refund list",
            )
            .await?;
        Ok(list.data.into_iter().find(|r| {
            r.metadata
                .as_ref()
                .and_then(|m| m.get("idempotency_key"))
                .and_then(Value::as_str)
                == Some(key)
        }))
    }
}

/// `url` with `query` appended (`?` or `&`).
fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

impl Gateway for StripeGateway {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn supports_currency(&self, currency: &str) -> bool {
        SUPPORTED.contains(&currency.to_ascii_uppercase().as_str())
    }

    fn initialize<'a>(&'a self, checkout: &'a Checkout<'a>) -> GatewayFuture<'a, Initialized> {
        Box::pin(async move {
            let amount =
                to_stripe_amount(checkout.amount, checkout.currency).map_err(GatewayError)?;
            let reference = checkout.reference;
            let mut form: Vec<(&str, String)> = vec![
                ("mode", "payment".into()),
                (
                    "line_items[0][price_data][currency]",
                    checkout.currency.to_ascii_lowercase(),
                ),
                ("line_items[0][price_data][unit_amount]", amount.to_string()),
                (
                    "line_items[0][price_data][product_data][name]",
                    checkout.description.to_string(),
                ),
                ("line_items[0][quantity]", "1".into()),
                ("client_reference_id", reference.to_string()),
                ("metadata[reference]", reference.to_string()),
                (
                    "payment_intent_data[metadata][reference]",
                    reference.to_string(),
                ),
                ("customer_email", checkout.email.to_string()),
            ];
            // The buyer comes back to the callback with the reference (as from the test
            // checkout), and the page asks `verify`: the redirect itself proves nothing. Without
            // a callback the gateway knows no public page of ours, so Stripe's own completion
            // handling applies.
            if let Some(callback) = checkout.callback_url {
                form.push((
                    "success_url",
                    with_query(callback, &format!("reference={reference}")),
                ));
                form.push((
                    "cancel_url",
                    with_query(callback, &format!("reference={reference}&status=cancelled")),
                ));
            }
            let session: Session = self
                .call(
                    self.http
                        .post(self.url("/v1/checkout/sessions"))
                        // A retry of the same checkout creates no second session.
                        .header("Idempotency-Key", format!("checkout-{reference}"))
                        .form(&form),
                    "a checkout",
                    "session",
                )
                .await?;
            let url = session
                .url
                .clone()
                .ok_or_else(|| GatewayError("Stripe gave the session no URL".into()))?;
            tracing::info!(reference, session = %session.id, "Stripe checkout started");
            Ok(Initialized {
                authorization_url: url,
                gateway_reference: Some(session.id),
            })
        })
    }

    fn verify<'a>(&'a self, payment: &'a PaymentRow) -> GatewayFuture<'a, Settlement> {
        Box::pin(async move {
            // While PENDING the payment holds its session id; once paid, its PaymentIntent.
            let Some(id) = payment
                .gateway_reference
                .as_deref()
                .filter(|r| r.starts_with("cs_"))
            else {
                return Err(GatewayError(
                    "no Stripe Checkout Session is known for this payment".into(),
                ));
            };
            let session = self.session(id).await?;
            if session.reference().is_some_and(|r| r != payment.reference) {
                // Not this payment's session: its money says nothing about this payment.
                tracing::warn!(payment = %payment.reference, session = %session.id, "Stripe session of another payment");
                return Ok(Settlement::Pending);
            }
            Ok(session.settlement())
        })
    }

    fn refund<'a>(
        &'a self,
        payment: &'a PaymentRow,
        amount: i64,
        idempotency_key: &'a str,
    ) -> GatewayFuture<'a, RefundOutcome> {
        Box::pin(async move {
            let amount = to_stripe_amount(amount, &payment.currency).map_err(GatewayError)?;
            let payment_intent = self.payment_intent_of(payment).await?;
            if let Some(earlier) = self
                .earlier_refund(&payment_intent, idempotency_key)
                .await?
            {
                return refund_answer(earlier);
            }
            let form: Vec<(&str, String)> = vec![
                ("payment_intent", payment_intent),
                ("amount", amount.to_string()),
                ("metadata[reference]", payment.reference.clone()),
                ("metadata[idempotency_key]", idempotency_key.to_string()),
            ];
            let refund: Refund = self
                .call(
                    self.http
                        .post(self.url("/v1/refunds"))
                        .header("Idempotency-Key", idempotency_key)
                        .form(&form),
                    "a refund",
                    "refund",
                )
                .await?;
            tracing::info!(payment = %payment.reference, refund = %refund.id, status = %refund.status, "Stripe refund");
            refund_answer(refund)
        })
    }

    fn refund_status<'a>(
        &'a self,
        _payment: &'a PaymentRow,
        gateway_reference: &'a str,
    ) -> GatewayFuture<'a, RefundOutcome> {
        Box::pin(async move {
            // The id goes into a path: only Stripe's id alphabet passes.
            if !is_stripe_id(gateway_reference) {
                return Err(GatewayError("not a Stripe refund id".into()));
            }
            let url = self.url(&format!("/v1/refunds/{gateway_reference}"));
            let refund: Refund = self
                .call(self.http.get(url), "a refund status", "refund")
                .await?;
            Ok(match followed_refund(refund) {
                RefundOutcome::Pending { .. } => RefundOutcome::Pending {
                    gateway_reference: Some(gateway_reference.to_string()),
                },
                other => other,
            })
        })
    }

    fn webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookRejected> {
        let header = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| WebhookRejected("missing Stripe-Signature".into()))?;
        let (timestamp, given) = parse_signature(header)
            .ok_or_else(|| WebhookRejected("Stripe-Signature without a timestamp".into()))?;
        let expected = self.sign(timestamp, body);
        // Every v1 is compared (no early exit), so timing tells nothing of which one matched.
        let matched = given.iter().fold(false, |acc, v| {
            crate::crypto::constant_time_eq(v.as_bytes(), expected.as_bytes()) | acc
        });
        if !matched {
            return Err(WebhookRejected("bad Stripe signature".into()));
        }
        if (now.timestamp() - timestamp).abs() > TOLERANCE_SECS {
            return Err(WebhookRejected(format!(
                "Stripe signature timestamp {timestamp} outside the tolerance"
            )));
        }
        let event: Event = serde_json::from_slice(body)
            .map_err(|e| WebhookRejected(format!("unreadable Stripe event: {e}")))?;
        let session = || {
            serde_json::from_value::<Session>(event.data.object.clone())
                .map_err(|e| WebhookRejected(format!("unreadable Stripe session: {e}")))
        };
        let (reference, settlement) = match event.kind.as_str() {
            "checkout.session.completed" => {
                let s = session()?;
                // Asynchronous methods (bank debits, vouchers) complete unpaid and settle later
                // with `async_payment_succeeded` or `async_payment_failed`.
                let settlement = if s.payment_status.as_deref() == Some("paid") {
                    s.paid()
                } else {
                    Settlement::Pending
                };
                (s.reference(), settlement)
            }
            "checkout.session.async_payment_succeeded" => {
                let s = session()?;
                (s.reference(), s.paid())
            }
            "checkout.session.async_payment_failed" => (
                session()?.reference(),
                Settlement::Failed {
                    reason: "The payment failed at Stripe".into(),
                },
            ),
            "checkout.session.expired" => (
                session()?.reference(),
                Settlement::Failed {
                    reason: "The Stripe checkout expired unpaid".into(),
                },
            ),
            // Anything else the endpoint is subscribed to is acknowledged without effect.
            _ => (
                event.data.object["metadata"]["reference"]
                    .as_str()
                    .map(str::to_string),
                Settlement::Pending,
            ),
        };
        tracing::debug!(event = %event.id, kind = %event.kind, "Stripe webhook");
        Ok(WebhookEvent {
            event_id: event.id,
            // No reference: not one of ours (another integration on the account); the service
            // finds no payment and acknowledges it.
            reference: reference.unwrap_or_default(),
            settlement: Some(settlement),
        })
    }
}

#[cfg(test)]
#[path = "stripe_tests.rs"]
mod tests;
