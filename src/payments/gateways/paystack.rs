//! `paystack`: checkouts, verification and refunds through Paystack's API (bearer secret key,
//! JSON bodies, amounts in Paystack's subunit), and its webhooks, signed with the hex
//! HMAC-SHA512 of the raw body keyed with the same secret key (API.md §5, §11.48, §11.69).

use std::sync::Arc;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

use super::{
    Checkout, Gateway, GatewayError, GatewayFuture, Initialized, RefundOutcome, WebhookEvent,
    WebhookRejected,
};
use crate::config::{PaymentsConfig, Secret};
use crate::payments::model::{PaymentRow, Settlement, minor_per_major};

/// The header carrying a webhook's signature.
pub const SIGNATURE_HEADER: &str = "x-paystack-signature";

/// The currencies Paystack takes.
pub const CURRENCIES: [&str; 7] = ["NGN", "GHS", "ZAR", "KES", "USD", "XOF", "EGP"];

/// Paystack counts every currency it takes in hundredths of the major unit (kobo, pesewas,
/// cents, piastres), XOF included although ISO 4217 gives the CFA franc no minor unit: our
/// amounts (ISO minor units) are converted at this boundary and nowhere else.
const SUBUNITS_PER_MAJOR: i64 = 100;

/// How many refunds of one transaction are read when looking for an earlier attempt; a ticket
/// payment never has nearly that many.
const REFUNDS_PAGE: u32 = 100;

/// An amount in ISO minor units as Paystack's subunits; `None` when it has no exact equivalent
/// or overflows.
pub fn to_subunits(minor: i64, currency: &str) -> Option<i64> {
    let per_major = minor_per_major(currency);
    let scaled = minor.checked_mul(SUBUNITS_PER_MAJOR)?;
    (scaled % per_major == 0).then(|| scaled / per_major)
}

/// An amount in Paystack's subunits as ISO minor units; `None` when it has no exact equivalent
/// (half a CFA franc) or overflows.
pub fn from_subunits(subunits: i64, currency: &str) -> Option<i64> {
    let scaled = subunits.checked_mul(minor_per_major(currency))?;
    (scaled % SUBUNITS_PER_MAJOR == 0).then_some(scaled / SUBUNITS_PER_MAJOR)
}

/// The lower-case hex HMAC-SHA512 of a body keyed with the secret key, as Paystack signs.
pub fn signature(secret_key: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(secret_key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The Paystack gateway.
pub struct Paystack {
    http: reqwest::Client,
    /// API host without a trailing slash.
    base_url: String,
    secret_key: Secret,
}

impl std::fmt::Debug for Paystack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paystack")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The Paystack gateway when its key is configured.
pub fn from_config(config: &PaymentsConfig, http: &reqwest::Client) -> Option<Arc<dyn Gateway>> {
    if config.paystack_secret_key.is_empty() {
        return None;
    }
    Some(Arc::new(Paystack::new(
        http.clone(),
        &config.paystack_base_url,
        config.paystack_secret_key.clone(),
    )))
}

/// Every answer of Paystack's API: `{status, message, data}`.
#[derive(Debug, Deserialize)]
struct Envelope<T> {
    status: bool,
    #[serde(default)]
    message: Option<String>,
    data: Option<T>,
}

/// `data` of `transaction/initialize`.
#[derive(Debug, Deserialize)]
struct InitializeData {
    authorization_url: String,
    #[serde(default)]
    reference: Option<String>,
}

/// The fields of a transaction (`transaction/verify`, `charge.*` events) that settle a payment.
#[derive(Debug, Deserialize)]
struct Transaction {
    id: Option<Value>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    reference: Option<String>,
    /// Paystack's subunits.
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    gateway_response: Option<String>,
}

/// A refund as `POST /refund` and `GET /refund` describe it.
#[derive(Debug, Deserialize)]
struct Refund {
    id: Option<Value>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    merchant_note: Option<String>,
    /// The transaction's id (a number in lists, an object when just created).
    #[serde(default)]
    transaction: Option<Value>,
}

/// A webhook: the event's name and its object.
#[derive(Debug, Deserialize)]
struct Event {
    event: String,
    #[serde(default)]
    data: Value,
}

/// An id Paystack sends as a number (or, now and then, a string) as text.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

impl Paystack {
    /// A gateway calling `base_url` (no trailing slash) with `secret_key`.
    pub fn new(http: reqwest::Client, base_url: &str, secret_key: Secret) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret_key,
        }
    }

    /// `base_url` followed by path segments, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, GatewayError> {
        let mut url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| GatewayError(format!("PAYSTACK_BASE_URL is not a URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| GatewayError("PAYSTACK_BASE_URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends a request and reads Paystack's envelope; anything but a 2xx with `status: true` is
    /// an error carrying the HTTP status and Paystack's message.
    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Envelope<T>, CallError> {
        let response = request
            .bearer_auth(self.secret_key.expose())
            .send()
            .await
            .map_err(|e| CallError::Unreachable(format!("Paystack {what}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Unreachable(format!("Paystack {what}: {e}")))?;
        let envelope: Option<Envelope<T>> = serde_json::from_str(&text).ok();
        match envelope {
            Some(e) if status.is_success() && e.status => Ok(e),
            other => {
                let message = other
                    .and_then(|e| e.message)
                    .or_else(|| {
                        serde_json::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| v["message"].as_str().map(str::to_string))
                    })
                    .unwrap_or_else(|| text.chars().take(200).collect());
                Err(CallError::Refused {
                    status: status.as_u16(),
                    message: format!("Paystack {what} answered {status}: {message}"),
                })
            }
        }
    }

    /// [`Self::call`] for an answer that must carry `data`: an envelope without it is an error.
    async fn data<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T, GatewayError> {
        let envelope: Envelope<T> = self
            .call(request, what)
            .await
            .map_err(CallError::into_gateway)?;
        envelope
            .data
            .ok_or_else(|| GatewayError(format!("Paystack {what}: no data")))
    }

    /// `GET /transaction/verify/{reference}`.
    async fn fetch_transaction(&self, reference: &str) -> Result<Transaction, CallError> {
        let url = self
            .url(&["transaction", "verify", reference])
            .map_err(|e| CallError::Unreachable(e.0))?;
        let envelope: Envelope<Transaction> = self.call(self.http.get(url), "verify").await?;
        let tx = envelope
            .data
            .ok_or_else(|| CallError::Unreachable("Paystack verify: no data".into()))?;
        if let Some(r) = &tx.reference
            && r != reference
        {
            return Err(CallError::Unreachable(format!(
                "Paystack verify answered for {r}, not {reference}"
            )));
        }
        Ok(tx)
    }

    /// The id of a payment's transaction at Paystack: the one a settlement recorded, else asked.
    async fn transaction_id(&self, payment: &PaymentRow) -> Result<String, GatewayError> {
        if let Some(id) = payment
            .gateway_reference
            .as_deref()
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        {
            return Ok(id.to_string());
        }
        let tx = self
            .fetch_transaction(&payment.reference)
            .await
            .map_err(CallError::into_gateway)?;
        tx.id
            .as_ref()
            .and_then(id_text)
            .ok_or_else(|| GatewayError("Paystack verify: the transaction has no id".into()))
    }

    /// An earlier refund of this transaction made with this idempotency key, when one exists:
    /// Paystack takes no idempotency header, so the key travels as the refund's `merchant_note`
    /// and a retry looks for it before asking again.
    async fn earlier_refund(
        &self,
        transaction: &str,
        key: &str,
    ) -> Result<Option<Refund>, GatewayError> {
        let mut url = self.url(&["refund"])?;
        url.query_pairs_mut()
            .append_pair("transaction", transaction)
            .append_pair("perPage", &REFUNDS_PAGE.to_string());
        let envelope: Envelope<Vec<Refund>> = self
            .call(self.http.get(url), "list refunds")
            .await
            .map_err(CallError::into_gateway)?;
        let mut ours: Vec<Refund> = envelope
            .data
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.merchant_note.as_deref().map(str::trim) == Some(key))
            // Should the filter be ignored, a refund of another transaction is not ours.
            .filter(|r| {
                r.transaction
                    .as_ref()
                    .and_then(|t| id_text(t).or_else(|| t.get("id").and_then(id_text)))
                    .is_none_or(|t| t == transaction)
            })
            .collect();
        // One that did not fail is the refund to follow; only failed ones: that failure is
        // reported (see `refund_outcome`) rather than a new refund asked for blind.
        ours.sort_by_key(|r| r.status.as_deref() == Some("failed"));
        Ok(ours.into_iter().next())
    }
}

/// Why a call to Paystack did not give an answer.
#[derive(Debug)]
enum CallError {
    /// Not reached, or an answer that cannot be read.
    Unreachable(String),
    /// A readable refusal with its HTTP status.
    Refused { status: u16, message: String },
}

impl CallError {
    fn into_gateway(self) -> GatewayError {
        match self {
            Self::Unreachable(m) | Self::Refused { message: m, .. } => GatewayError(m),
        }
    }
}

/// What a transaction's status says of the money. `abandoned` is what Paystack reports for a
/// checkout the buyer has opened but not finished (every transaction starts so), so it is not
/// a failure: the buyer may still pay, and an unpaid hold simply expires.
fn settlement_of(tx: &Transaction) -> Result<Settlement, GatewayError> {
    match tx.status.as_deref().unwrap_or_default() {
        "success" => {
            let (Some(amount), Some(currency)) = (tx.amount, tx.currency.as_deref()) else {
                return Err(GatewayError(
                    "Paystack reported a success without its amount or currency".into(),
                ));
            };
            let currency = currency.to_ascii_uppercase();
            let amount = from_subunits(amount, &currency).ok_or_else(|| {
                GatewayError(format!(
                    "Paystack reported {amount} subunits of {currency}, not a whole amount"
                ))
            })?;
            Ok(Settlement::Paid {
                amount,
                currency,
                gateway_reference: tx.id.as_ref().and_then(id_text),
            })
        }
        "failed" | "reversed" => Ok(Settlement::Failed {
            reason: tx
                .gateway_response
                .clone()
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| "Declined at Paystack".into())
                .chars()
                .take(500)
                .collect(),
        }),
        "abandoned" | "ongoing" | "pending" | "processing" | "queued" | "" => {
            Ok(Settlement::Pending)
        }
        other => {
            tracing::warn!(
                status = other,
                "unknown Paystack transaction status: left pending"
            );
            Ok(Settlement::Pending)
        }
    }
}

/// What a refund's status means: `processed` is money returned; `failed` moved nothing (Paystack
/// sends it back to the merchant's balance), so the refund fails here and its amount is free
/// again; anything else is on its way.
fn refund_outcome(refund: &Refund) -> RefundOutcome {
    let gateway_reference = refund.id.as_ref().and_then(id_text);
    match refund.status.as_deref().unwrap_or_default() {
        "processed" => RefundOutcome::Settled { gateway_reference },
        "failed" => RefundOutcome::Failed {
            reason: format!(
                "Paystack reports refund {} failed",
                gateway_reference.as_deref().unwrap_or("?")
            ),
        },
        status => {
            if status == "needs-attention" {
                tracing::warn!(
                    refund = gateway_reference.as_deref(),
                    "Paystack needs the customer's bank details for a refund"
                );
            }
            RefundOutcome::Pending { gateway_reference }
        }
    }
}

impl Gateway for Paystack {
    fn name(&self) -> &'static str {
        "paystack"
    }

    fn supports_currency(&self, currency: &str) -> bool {
        CURRENCIES.iter().any(|c| c.eq_ignore_ascii_case(currency))
    }

    fn initialize<'a>(&'a self, checkout: &'a Checkout<'a>) -> GatewayFuture<'a, Initialized> {
        Box::pin(async move {
            let amount = to_subunits(checkout.amount, checkout.currency).ok_or_else(|| {
                GatewayError(format!(
                    "{} {} cannot be expressed in Paystack's subunits",
                    checkout.amount, checkout.currency
                ))
            })?;
            let mut body = json!({
                "email": checkout.email,
                "amount": amount,
                "currency": checkout.currency,
                "reference": checkout.reference,
                "metadata": {
                    "reference": checkout.reference,
                    "custom_fields": [{
                        "display_name": "Event",
                        "variable_name": "event",
                        "value": checkout.description,
                    }],
                },
            });
            if let Some(url) = checkout.callback_url {
                body["callback_url"] = json!(url);
            }
            let url = self.url(&["transaction", "initialize"])?;
            let data: InitializeData = self
                .data(self.http.post(url).json(&body), "initialize")
                .await?;
            if data.authorization_url.is_empty() {
                return Err(GatewayError(
                    "Paystack initialize: no authorization URL".into(),
                ));
            }
            // Webhooks and verify find the payment by this reference: another one would strand it.
            if let Some(r) = &data.reference
                && r != checkout.reference
            {
                return Err(GatewayError(format!(
                    "Paystack initialized {r}, not {}",
                    checkout.reference
                )));
            }
            tracing::info!(
                reference = checkout.reference,
                "Paystack checkout initialized"
            );
            // Paystack's transaction id is known only once paid; the settlement records it.
            Ok(Initialized {
                authorization_url: data.authorization_url,
                gateway_reference: None,
            })
        })
    }

    fn verify<'a>(&'a self, payment: &'a PaymentRow) -> GatewayFuture<'a, Settlement> {
        Box::pin(async move {
            match self.fetch_transaction(&payment.reference).await {
                Ok(tx) => settlement_of(&tx),
                // Paystack answers 400/404 for a reference it never saw: nothing was paid.
                Err(CallError::Refused { status, message }) if status == 400 || status == 404 => {
                    tracing::info!(reference = %payment.reference, %message, "Paystack does not know the transaction");
                    Ok(Settlement::Pending)
                }
                Err(e) => Err(e.into_gateway()),
            }
        })
    }

    fn refund<'a>(
        &'a self,
        payment: &'a PaymentRow,
        amount: i64,
        idempotency_key: &'a str,
    ) -> GatewayFuture<'a, RefundOutcome> {
        Box::pin(async move {
            let subunits = to_subunits(amount, &payment.currency).ok_or_else(|| {
                GatewayError(format!(
                    "{amount} {} cannot be expressed in Paystack's subunits",
                    payment.currency
                ))
            })?;
            let transaction = self.transaction_id(payment).await?;
            // A retry (a lost answer, the reconciliation job) finds the refund it asked for
            // before instead of asking for another.
            if let Some(earlier) = self.earlier_refund(&transaction, idempotency_key).await? {
                tracing::info!(
                    reference = %payment.reference,
                    key = idempotency_key,
                    status = earlier.status.as_deref(),
                    "Paystack refund already requested: following it"
                );
                return Ok(refund_outcome(&earlier));
            }
            let body = json!({
                "transaction": transaction,
                "amount": subunits,
                "currency": payment.currency,
                "merchant_note": idempotency_key,
            });
            let url = self.url(&["refund"])?;
            let refund: Refund = self.data(self.http.post(url).json(&body), "refund").await?;
            tracing::info!(
                reference = %payment.reference,
                key = idempotency_key,
                status = refund.status.as_deref(),
                "Paystack refund requested"
            );
            Ok(refund_outcome(&refund))
        })
    }

    fn refund_status<'a>(
        &'a self,
        _payment: &'a PaymentRow,
        gateway_reference: &'a str,
    ) -> GatewayFuture<'a, RefundOutcome> {
        Box::pin(async move {
            let url = self.url(&["refund", gateway_reference])?;
            let refund: Refund = self.data(self.http.get(url), "fetch refund").await?;
            let mut outcome = refund_outcome(&refund);
            // The id asked for is the one to keep, whatever shape the answer gives it in.
            if let RefundOutcome::Settled {
                gateway_reference: r,
            }
            | RefundOutcome::Pending {
                gateway_reference: r,
            } = &mut outcome
                && r.is_none()
            {
                *r = Some(gateway_reference.to_string());
            }
            Ok(outcome)
        })
    }

    fn webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookRejected> {
        // Paystack signs no timestamp: a replay is caught by the event's identity instead.
        let given = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| WebhookRejected("missing signature".into()))?
            .trim()
            .to_ascii_lowercase();
        let expected = signature(self.secret_key.expose(), body);
        if !crate::crypto::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return Err(WebhookRejected("bad signature".into()));
        }
        let event: Event = serde_json::from_slice(body)
            .map_err(|e| WebhookRejected(format!("unreadable event: {e}")))?;
        let data = &event.data;
        let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_string);
        // The payment it is about: a charge's own reference, a refund's transaction's.
        let reference = text("reference")
            .or_else(|| text("transaction_reference"))
            .unwrap_or_default();
        let identity = data
            .get("id")
            .and_then(id_text)
            .or_else(|| text("refund_reference"))
            .or_else(|| (!reference.is_empty()).then(|| reference.clone()))
            .unwrap_or_else(|| hex::encode(Sha256::digest(body)));
        let settlement = match event.event.as_str() {
            "charge.success" => match serde_json::from_value::<Transaction>(data.clone()) {
                // A success signed by Paystack is trusted as it stands; one that cannot be read
                // in full is verified through the API instead.
                Ok(tx) if tx.status.as_deref().is_none_or(|s| s == "success") => {
                    let tx = Transaction {
                        status: Some("success".into()),
                        ..tx
                    };
                    settlement_of(&tx).ok()
                }
                _ => None,
            },
            "charge.failed" => Some(Settlement::Failed {
                reason: text("gateway_response")
                    .filter(|r| !r.trim().is_empty())
                    .unwrap_or_else(|| "Declined at Paystack".into())
                    .chars()
                    .take(500)
                    .collect(),
            }),
            // Refunds, transfers, disputes, subscriptions…: acknowledged, nothing applied (a
            // refund's outcome is learned when it is retried, see `earlier_refund`).
            other => {
                tracing::debug!(event = other, "Paystack event acknowledged without effect");
                Some(Settlement::Pending)
            }
        };
        Ok(WebhookEvent {
            event_id: format!("{}:{identity}", event.event),
            reference,
            settlement,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk_test_0123456789abcdef";

    fn gateway() -> Paystack {
        // Never used for a request here; building a client needs rustls' provider all the same.
        crate::notify::install_crypto_provider();
        Paystack::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9/",
            Secret::new(KEY),
        )
    }

    fn signed(body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, signature(KEY, body).parse().unwrap());
        headers
    }

    #[test]
    fn the_signature_is_the_hex_hmac_sha512_of_the_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn a_signed_charge_success_is_read_and_a_forged_one_refused() {
        let gw = gateway();
        let body = br#"{"event":"charge.success","data":{"id":4099260516,"status":"success","reference":"PAY-X","amount":500000,"currency":"NGN","gateway_response":"Successful"}}"#;
        let event = gw.webhook(&signed(body), body, Utc::now()).unwrap();
        assert_eq!(event.reference, "PAY-X");
        assert_eq!(event.event_id, "charge.success:4099260516");
        assert_eq!(
            event.settlement,
            Some(Settlement::Paid {
                amount: 500_000,
                currency: "NGN".into(),
                gateway_reference: Some("4099260516".into()),
            })
        );
        // Upper-case hex is the same signature.
        let mut upper = HeaderMap::new();
        upper.insert(
            SIGNATURE_HEADER,
            signature(KEY, body).to_uppercase().parse().unwrap(),
        );
        assert!(gw.webhook(&upper, body, Utc::now()).is_ok());

        let forged = br#"{"event":"charge.success","data":{"id":4099260516,"status":"success","reference":"PAY-X","amount":5,"currency":"NGN"}}"#;
        assert!(gw.webhook(&signed(body), forged, Utc::now()).is_err());
        assert!(gw.webhook(&HeaderMap::new(), body, Utc::now()).is_err());
        let mut other_key = HeaderMap::new();
        other_key.insert(
            SIGNATURE_HEADER,
            signature("sk_test_other", body).parse().unwrap(),
        );
        assert!(gw.webhook(&other_key, body, Utc::now()).is_err());
        let mut short = HeaderMap::new();
        short.insert(SIGNATURE_HEADER, "00".parse().unwrap());
        assert!(gw.webhook(&short, body, Utc::now()).is_err());
        // Signed but not JSON: refused too.
        assert!(gw.webhook(&signed(b"nope"), b"nope", Utc::now()).is_err());
    }

    #[test]
    fn events_map_to_settlements() {
        let gw = gateway();
        let read = |body: &str| {
            gw.webhook(&signed(body.as_bytes()), body.as_bytes(), Utc::now())
                .unwrap()
        };
        let failed = read(
            r#"{"event":"charge.failed","data":{"id":7,"reference":"PAY-F","gateway_response":"Insufficient Funds"}}"#,
        );
        assert_eq!(
            failed.settlement,
            Some(Settlement::Failed {
                reason: "Insufficient Funds".into()
            })
        );
        let refund = read(
            r#"{"event":"refund.processed","data":{"status":"processed","transaction_reference":"PAY-R","refund_reference":"RF-1","amount":"10000","currency":"NGN"}}"#,
        );
        assert_eq!(refund.reference, "PAY-R");
        assert_eq!(refund.event_id, "refund.processed:RF-1");
        assert_eq!(refund.settlement, Some(Settlement::Pending));
        let transfer = read(r#"{"event":"transfer.success","data":{"id":9,"amount":100}}"#);
        assert_eq!(transfer.settlement, Some(Settlement::Pending));
        assert_eq!(transfer.reference, "");
        // A success missing its amount is checked through the API.
        let partial = read(r#"{"event":"charge.success","data":{"id":8,"reference":"PAY-P"}}"#);
        assert_eq!(partial.settlement, None);
        // XOF comes in hundredths from Paystack and is whole francs here.
        let xof = read(
            r#"{"event":"charge.success","data":{"id":10,"status":"success","reference":"PAY-O","amount":250000,"currency":"XOF"}}"#,
        );
        assert!(matches!(
            xof.settlement,
            Some(Settlement::Paid { amount: 2500, .. })
        ));
    }

    #[test]
    fn amounts_convert_between_iso_minor_units_and_paystack_subunits() {
        assert_eq!(to_subunits(500_000, "NGN"), Some(500_000));
        assert_eq!(to_subunits(1999, "USD"), Some(1999));
        assert_eq!(to_subunits(1999, "GHS"), Some(1999));
        assert_eq!(to_subunits(2500, "XOF"), Some(250_000));
        assert_eq!(from_subunits(250_000, "XOF"), Some(2500));
        assert_eq!(from_subunits(250_050, "XOF"), None, "half a franc");
        assert_eq!(from_subunits(500_000, "NGN"), Some(500_000));
        assert_eq!(to_subunits(i64::MAX, "XOF"), None);
        // A three-decimal currency (Paystack takes none) only converts when exact.
        assert_eq!(to_subunits(1230, "KWD"), Some(123));
        assert_eq!(to_subunits(1234, "KWD"), None);
    }

    #[test]
    fn transaction_statuses_map_to_settlements() {
        let tx = |status: &str| Transaction {
            id: Some(json!(42)),
            status: Some(status.into()),
            reference: Some("PAY-X".into()),
            amount: Some(100),
            currency: Some("ngn".into()),
            gateway_response: Some("Declined".into()),
        };
        assert_eq!(
            settlement_of(&tx("success")).unwrap(),
            Settlement::Paid {
                amount: 100,
                currency: "NGN".into(),
                gateway_reference: Some("42".into())
            }
        );
        assert_eq!(
            settlement_of(&tx("failed")).unwrap(),
            Settlement::Failed {
                reason: "Declined".into()
            }
        );
        for pending in ["abandoned", "ongoing", "pending", "queued", "something-new"] {
            assert_eq!(settlement_of(&tx(pending)).unwrap(), Settlement::Pending);
        }
    }

    #[test]
    fn refund_statuses_map_to_outcomes() {
        let refund = |status: &str| Refund {
            id: Some(json!(3)),
            status: Some(status.into()),
            merchant_note: None,
            transaction: None,
        };
        assert_eq!(
            refund_outcome(&refund("processed")),
            RefundOutcome::Settled {
                gateway_reference: Some("3".into())
            }
        );
        for pending in ["pending", "processing", "needs-attention"] {
            assert_eq!(
                refund_outcome(&refund(pending)),
                RefundOutcome::Pending {
                    gateway_reference: Some("3".into())
                }
            );
        }
        assert!(matches!(
            refund_outcome(&refund("failed")),
            RefundOutcome::Failed { .. }
        ));
    }

    #[test]
    fn only_paystack_currencies_are_taken() {
        let gw = gateway();
        for c in CURRENCIES {
            assert!(gw.supports_currency(c));
        }
        assert!(gw.supports_currency("ngn"));
        assert!(!gw.supports_currency("EUR"));
        assert!(!gw.supports_currency("JPY"));
    }
}
