//! `flutterwave`: Flutterwave's v3 API. A checkout is a hosted payment link (`POST /v3/payments`);
//! what became of it is asked by our reference (`GET /v3/transactions/verify_by_reference`); a
//! refund goes to the transaction's numeric id (`POST /v3/transactions/{id}/refund`).
//!
//! Flutterwave counts in major units (`5000.50` NGN) where this codebase counts minor units, so
//! every amount crosses as exact decimal text, never through a float. Its webhooks carry a shared
//! secret (`verif-hash`), not a signature over the body, so an event only says "look at this
//! transaction": the service verifies it through the API before trusting it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::{
    Checkout, Gateway, GatewayError, GatewayFuture, Initialized, RefundOutcome, WebhookEvent,
    WebhookRejected,
};
use crate::config::PaymentsConfig;
use crate::payments::model::{PaymentRow, Settlement, minor_per_major};

/// The header carrying the webhook secret.
pub const HASH_HEADER: &str = "verif-hash";

/// The currencies a Flutterwave checkout takes.
pub const CURRENCIES: [&str; 13] = [
    "NGN", "GHS", "KES", "UGX", "TZS", "ZAR", "USD", "EUR", "GBP", "XAF", "XOF", "RWF", "ZMW",
];

/// How many refunds the process remembers (see [`RefundLedger`]); enough for days of refunds
/// at a few hundred bytes each.
const REMEMBERED_REFUNDS: usize = 10_000;

/// The Flutterwave gateway when its key is configured.
pub fn from_config(config: &PaymentsConfig, http: &reqwest::Client) -> Option<Arc<dyn Gateway>> {
    if config.flutterwave_secret_key.is_empty() {
        return None;
    }
    if config.flutterwave_webhook_hash.is_empty() {
        // Configuration refuses this already; a gateway whose webhooks cannot be checked stays off.
        tracing::warn!(
            "FLUTTERWAVE_SECRET_KEY is set without FLUTTERWAVE_WEBHOOK_HASH: flutterwave stays disabled"
        );
        return None;
    }
    Some(Arc::new(Flutterwave::new(
        http.clone(),
        &config.flutterwave_base_url,
        config.flutterwave_secret_key.expose(),
        config.flutterwave_webhook_hash.expose(),
    )))
}

/// The Flutterwave gateway.
pub struct Flutterwave {
    http: reqwest::Client,
    /// `https://api.flutterwave.com`, without a trailing slash.
    base_url: String,
    secret_key: String,
    webhook_hash: String,
    refunds: Mutex<RefundLedger>,
}

impl std::fmt::Debug for Flutterwave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flutterwave")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Flutterwave {
    /// A gateway talking to `base_url` with a secret key, accepting webhooks that carry `webhook_hash`.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        secret_key: &str,
        webhook_hash: &str,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret_key: secret_key.to_string(),
            webhook_hash: webhook_hash.to_string(),
            refunds: Mutex::new(RefundLedger::default()),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends `request` with the secret key and reads Flutterwave's whole answer: its status and
    /// body.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, bytes::Bytes), GatewayError> {
        let response = request
            .bearer_auth(&self.secret_key)
            .send()
            .await
            .map_err(|e| GatewayError(format!("Flutterwave could not be reached: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| GatewayError(format!("Flutterwave's answer was cut short: {e}")))?;
        Ok((status, body))
    }

    fn ledger(&self) -> MutexGuard<'_, RefundLedger> {
        // The ledger is consistent after every statement, so a panic elsewhere leaves it usable.
        self.refunds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The transaction Flutterwave holds for one of our references; `None` while there is none
    /// (the buyer has not paid yet).
    async fn transaction_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<Transaction>, GatewayError> {
        let (status, body) = self
            .exchange(self.http.get(self.url(&format!(
                "/v3/transactions/verify_by_reference?tx_ref={}",
                form_urlencoded::byte_serialize(reference.as_bytes()).collect::<String>()
            ))))
            .await?;
        let envelope: Envelope<Transaction> = match serde_json::from_slice(&body) {
            Ok(e) => e,
            Err(_) if status.is_success() => {
                return Err(GatewayError(
                    "Flutterwave's answer could not be read".into(),
                ));
            }
            Err(_) => return Err(refused(status, None)),
        };
        if !status.is_success() || envelope.status.as_deref() != Some("success") {
            // Asking before the buyer paid is normal: Flutterwave then answers "No transaction
            // was found". Its own error envelope is required, so a wrong base URL's 404 page
            // reads as an outage, not as a payment still pending.
            let unknown = envelope.status.as_deref() == Some("error")
                && envelope
                    .message
                    .as_deref()
                    .is_some_and(|m| m.to_ascii_lowercase().contains("no transaction"));
            if unknown {
                return Ok(None);
            }
            return Err(refused(status, envelope.message.as_deref()));
        }
        let tx = envelope
            .data
            .ok_or_else(|| GatewayError("Flutterwave answered without the transaction".into()))?;
        if tx.tx_ref.as_deref().is_some_and(|r| r != reference) {
            return Err(GatewayError(
                "Flutterwave answered about another transaction".into(),
            ));
        }
        Ok(Some(tx))
    }

    /// The numeric id of a paid payment's transaction: the one recorded when it was verified, else
    /// asked of Flutterwave by our reference.
    async fn transaction_id(&self, payment: &PaymentRow) -> Result<String, GatewayError> {
        if let Some(id) = payment
            .gateway_reference
            .as_deref()
            .filter(|id| is_transaction_id(id))
        {
            return Ok(id.to_string());
        }
        match self.transaction_by_reference(&payment.reference).await? {
            Some(tx) if tx.status.eq_ignore_ascii_case("successful") => id_text(&tx.id)
                .filter(|id| is_transaction_id(id))
                .ok_or_else(|| GatewayError("Flutterwave's transaction id is unreadable".into())),
            _ => Err(GatewayError(format!(
                "Flutterwave has no successful transaction for {}",
                payment.reference
            ))),
        }
    }

    /// Sends one refund request; the error says whether Flutterwave may have taken it.
    async fn send_refund(
        &self,
        payment: &PaymentRow,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<RefundOutcome, RefundFailure> {
        let not_sent = |e: GatewayError| RefundFailure {
            error: e,
            maybe_taken: false,
        };
        let id = self.transaction_id(payment).await.map_err(not_sent)?;
        let body = RefundRequest {
            amount: major_json(amount, &payment.currency).map_err(not_sent)?,
            // Flutterwave takes no idempotency key; the note ties the refund to ours on its
            // dashboard, which is where an operator settles a refund whose answer was lost.
            comments: format!("TicketMax {idempotency_key}"),
        };
        let response = self
            .http
            .post(self.url(&format!("/v3/transactions/{id}/refund")))
            .bearer_auth(&self.secret_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| RefundFailure {
                // Only a connection never made is sure not to have reached Flutterwave.
                maybe_taken: !e.is_connect(),
                error: GatewayError(format!("Flutterwave could not be reached: {e}")),
            })?;
        let status = response.status();
        let text = response.bytes().await.map_err(|e| RefundFailure {
            maybe_taken: true,
            error: GatewayError(format!("Flutterwave's answer was cut short: {e}")),
        })?;
        let envelope: Option<Envelope<RefundAnswer>> = serde_json::from_slice(&text).ok();
        let message = envelope.as_ref().and_then(|e| e.message.as_deref());
        if status.is_server_error() {
            // A server error may come after the money moved: not sent again blindly.
            return Err(RefundFailure {
                error: refused(status, message),
                maybe_taken: true,
            });
        }
        if !status.is_success() {
            return Err(not_sent(refused(status, message)));
        }
        let Some(envelope) = envelope else {
            return Err(RefundFailure {
                error: GatewayError("Flutterwave's refund answer could not be read".into()),
                maybe_taken: true,
            });
        };
        let data = match (envelope.status.as_deref(), envelope.data) {
            (Some("success"), Some(data)) => data,
            _ => return Err(not_sent(refused(status, envelope.message.as_deref()))),
        };
        let reference = data.id.as_ref().and_then(id_text);
        if let Some(refunded) = data.amount_refunded.as_deref().and_then(amount_text)
            && to_minor(&refunded, &payment.currency) != Some(amount)
        {
            tracing::warn!(
                gateway = "flutterwave",
                payment = %payment.reference,
                asked = amount,
                refunded = %refunded,
                "Flutterwave reports a refunded amount other than the one asked"
            );
        }
        match data
            .status
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("completed" | "successful" | "success") => Ok(RefundOutcome::Settled {
                gateway_reference: reference,
            }),
            Some("failed" | "declined" | "cancelled") => Ok(RefundOutcome::Failed {
                reason: "Flutterwave declined the refund".into(),
            }),
            _ => Ok(RefundOutcome::Pending {
                gateway_reference: reference,
            }),
        }
    }

    /// `GET /v3/refunds/{id}`: what became of a refund Flutterwave accepted.
    async fn fetch_refund(&self, id: &str) -> Result<RefundOutcome, GatewayError> {
        if !is_transaction_id(id) {
            return Err(GatewayError(format!(
                "{id:?} is not a Flutterwave refund id"
            )));
        }
        let (status, body) = self
            .exchange(self.http.get(self.url(&format!("/v3/refunds/{id}"))))
            .await?;
        let envelope: Option<Envelope<RefundAnswer>> = serde_json::from_slice(&body).ok();
        let message = envelope.as_ref().and_then(|e| e.message.as_deref());
        if !status.is_success() {
            return Err(refused(status, message));
        }
        let data = match envelope {
            Some(Envelope {
                status: Some(s),
                data: Some(data),
                ..
            }) if s == "success" => data,
            Some(e) => return Err(refused(status, e.message.as_deref())),
            None => {
                return Err(GatewayError(
                    "Flutterwave's refund answer could not be read".into(),
                ));
            }
        };
        let gateway_reference = data
            .id
            .as_ref()
            .and_then(id_text)
            .or_else(|| Some(id.to_string()));
        Ok(
            match data
                .status
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("completed") => RefundOutcome::Settled { gateway_reference },
                Some("failed" | "declined") => RefundOutcome::Failed {
                    reason: format!("Flutterwave reports refund {id} failed"),
                },
                _ => RefundOutcome::Pending { gateway_reference },
            },
        )
    }
}

impl Gateway for Flutterwave {
    fn name(&self) -> &'static str {
        "flutterwave"
    }

    fn supports_currency(&self, currency: &str) -> bool {
        CURRENCIES.contains(&currency)
    }

    fn initialize<'a>(&'a self, checkout: &'a Checkout<'a>) -> GatewayFuture<'a, Initialized> {
        Box::pin(async move {
            let body = PaymentRequest {
                tx_ref: checkout.reference,
                amount: major_json(checkout.amount, checkout.currency)?,
                currency: checkout.currency,
                redirect_url: checkout.callback_url,
                customer: Customer {
                    email: checkout.email,
                },
                customizations: Customizations {
                    title: checkout.description,
                },
            };
            let (status, text) = self
                .exchange(self.http.post(self.url("/v3/payments")).json(&body))
                .await?;
            let envelope: Option<Envelope<Link>> = serde_json::from_slice(&text).ok();
            let message = envelope.as_ref().and_then(|e| e.message.clone());
            let link = envelope
                .filter(|e| status.is_success() && e.status.as_deref() == Some("success"))
                .and_then(|e| e.data)
                .map(|d| d.link)
                .filter(|l| l.starts_with("https://") || l.starts_with("http://"));
            match link {
                Some(link) => Ok(Initialized {
                    authorization_url: link,
                    // Flutterwave numbers the transaction only once the buyer pays.
                    gateway_reference: None,
                }),
                None => Err(refused(status, message.as_deref())),
            }
        })
    }

    fn verify<'a>(&'a self, payment: &'a PaymentRow) -> GatewayFuture<'a, Settlement> {
        Box::pin(async move {
            match self.transaction_by_reference(&payment.reference).await? {
                None => Ok(Settlement::Pending),
                Some(tx) => tx.settlement(),
            }
        })
    }

    /// Flutterwave has no idempotency header, so money could move twice when a refund is sent
    /// again. The ledger of this process guards it: a key Flutterwave accepted is answered from
    /// memory (the reconciliation job retrying a refund left pending sends nothing), a key in
    /// flight is not sent a second time, and a key whose request may have reached Flutterwave
    /// without an answer (a timeout, a 5xx, an unreadable 2xx) is not sent again at all: the
    /// refund stays pending for an operator, who finds it on Flutterwave's dashboard by the key
    /// in its `comments`. The ledger is this process's memory only: another instance, or this
    /// one after a restart, does not know it (the durable guard belongs to the refunds table).
    fn refund<'a>(
        &'a self,
        payment: &'a PaymentRow,
        amount: i64,
        idempotency_key: &'a str,
    ) -> GatewayFuture<'a, RefundOutcome> {
        Box::pin(async move {
            if let Some(known) = self.ledger().begin(idempotency_key)? {
                tracing::info!(
                    gateway = "flutterwave",
                    key = idempotency_key,
                    "refund already accepted by Flutterwave: not sent again"
                );
                return Ok(known);
            }
            let result = self.send_refund(payment, amount, idempotency_key).await;
            let mut ledger = self.ledger();
            match result {
                Ok(outcome) => {
                    ledger.finish(idempotency_key, Some(Attempt::Accepted(outcome.clone())));
                    Ok(outcome)
                }
                Err(RefundFailure {
                    error,
                    maybe_taken: true,
                }) => {
                    tracing::error!(
                        gateway = "flutterwave",
                        key = idempotency_key,
                        payment = %payment.reference,
                        error = %error,
                        "refund request got no clear answer; it is not sent again: check Flutterwave's dashboard"
                    );
                    ledger.finish(idempotency_key, Some(Attempt::Unknown));
                    Err(error)
                }
                Err(RefundFailure { error, .. }) => {
                    ledger.finish(idempotency_key, None);
                    Err(error)
                }
            }
        })
    }

    fn refund_status<'a>(
        &'a self,
        _payment: &'a PaymentRow,
        gateway_reference: &'a str,
    ) -> GatewayFuture<'a, RefundOutcome> {
        Box::pin(self.fetch_refund(gateway_reference))
    }

    fn webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookRejected> {
        let given = headers
            .get(HASH_HEADER)
            .ok_or_else(|| WebhookRejected("missing verif-hash".into()))?;
        // Digests first, so the comparison takes as long whatever the length of the guess.
        let given = Sha256::digest(given.as_bytes());
        let expected = Sha256::digest(self.webhook_hash.as_bytes());
        if !crate::crypto::constant_time_eq(&given, &expected) {
            return Err(WebhookRejected("bad verif-hash".into()));
        }
        let event: WebhookBody = serde_json::from_slice(body)
            .map_err(|e| WebhookRejected(format!("unreadable event: {e}")))?;
        let id = id_text(&event.data.id)
            .ok_or_else(|| WebhookRejected("event without a transaction id".into()))?;
        if event.data.tx_ref.is_none() {
            tracing::debug!(gateway = "flutterwave", event = %event.event, "event about no checkout of ours");
        }
        Ok(WebhookEvent {
            event_id: format!("{}:{id}", event.event),
            // No payment has an empty reference: such an event is acknowledged and ignored.
            reference: event.data.tx_ref.unwrap_or_default(),
            settlement: None,
        })
    }
}

/// Why a refund request failed, and whether Flutterwave may have taken it all the same.
struct RefundFailure {
    error: GatewayError,
    maybe_taken: bool,
}

/// What this process did with each refund key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    /// A request is on its way.
    InFlight,
    /// Flutterwave accepted it; this is its answer.
    Accepted(RefundOutcome),
    /// The request may have reached Flutterwave, but no answer tells what it did.
    Unknown,
}

/// The refunds this process sent, by idempotency key (see [`Flutterwave::refund`]).
#[derive(Debug, Default)]
struct RefundLedger {
    entries: HashMap<String, (Attempt, Instant)>,
}

impl RefundLedger {
    /// Claims a key for sending: `Some` when Flutterwave already accepted it (its answer), an
    /// error when it must not be sent now.
    fn begin(&mut self, key: &str) -> Result<Option<RefundOutcome>, GatewayError> {
        match self.entries.get(key) {
            Some((Attempt::Accepted(outcome), _)) => Ok(Some(outcome.clone())),
            Some((Attempt::InFlight, _)) => Err(GatewayError(format!(
                "refund {key} is being sent to Flutterwave already"
            ))),
            Some((Attempt::Unknown, _)) => Err(GatewayError(format!(
                "an earlier request for refund {key} got no clear answer and Flutterwave may have \
                 taken it; check its dashboard (comments \"TicketMax {key}\") before settling it"
            ))),
            None => {
                self.forget_oldest();
                self.entries
                    .insert(key.to_string(), (Attempt::InFlight, Instant::now()));
                Ok(None)
            }
        }
    }

    /// Records how a claimed key ended; `None` frees it (Flutterwave surely did not take it).
    fn finish(&mut self, key: &str, attempt: Option<Attempt>) {
        match attempt {
            Some(a) => {
                self.entries.insert(key.to_string(), (a, Instant::now()));
            }
            None => {
                self.entries.remove(key);
            }
        }
    }

    /// Keeps memory bounded: the oldest finished entry goes once the ledger is full.
    fn forget_oldest(&mut self) {
        if self.entries.len() < REMEMBERED_REFUNDS {
            return;
        }
        let oldest = self
            .entries
            .iter()
            .filter(|(_, (a, _))| *a != Attempt::InFlight)
            .min_by_key(|(_, (_, at))| *at)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest {
            self.entries.remove(&key);
        }
    }
}

/// Flutterwave's answer envelope.
#[derive(Debug, Deserialize)]
struct Envelope<T> {
    status: Option<String>,
    message: Option<String>,
    data: Option<T>,
}

/// The body of `POST /v3/payments`.
#[derive(Debug, Serialize)]
struct PaymentRequest<'a> {
    tx_ref: &'a str,
    /// Major units, exact.
    amount: Box<RawValue>,
    currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_url: Option<&'a str>,
    customer: Customer<'a>,
    customizations: Customizations<'a>,
}

#[derive(Debug, Serialize)]
struct Customer<'a> {
    email: &'a str,
}

#[derive(Debug, Serialize)]
struct Customizations<'a> {
    title: &'a str,
}

/// `data` of the answer to `POST /v3/payments`.
#[derive(Debug, Deserialize)]
struct Link {
    link: String,
}

/// The body of `POST /v3/transactions/{id}/refund`.
#[derive(Debug, Serialize)]
struct RefundRequest {
    /// Major units, exact.
    amount: Box<RawValue>,
    comments: String,
}

/// `data` of a refund's answer.
#[derive(Debug, Deserialize)]
struct RefundAnswer {
    id: Option<Value>,
    status: Option<String>,
    amount_refunded: Option<Box<RawValue>>,
}

/// `data` of a verification: the fields this server uses.
#[derive(Debug, Deserialize)]
struct Transaction {
    id: Value,
    tx_ref: Option<String>,
    status: String,
    /// Major units, as Flutterwave wrote them.
    amount: Option<Box<RawValue>>,
    currency: Option<String>,
    processor_response: Option<String>,
}

impl Transaction {
    /// What the transaction says of the money.
    fn settlement(&self) -> Result<Settlement, GatewayError> {
        match self.status.to_ascii_lowercase().as_str() {
            "successful" => {
                let currency = self
                    .currency
                    .as_deref()
                    .map(str::to_ascii_uppercase)
                    .ok_or_else(|| GatewayError("Flutterwave gave no currency".into()))?;
                let text = self
                    .amount
                    .as_deref()
                    .and_then(amount_text)
                    .ok_or_else(|| GatewayError("Flutterwave gave no amount".into()))?;
                let amount = to_minor(&text, &currency).ok_or_else(|| {
                    GatewayError(format!(
                        "Flutterwave's amount {text} {currency} is unreadable"
                    ))
                })?;
                Ok(Settlement::Paid {
                    amount,
                    currency,
                    gateway_reference: id_text(&self.id),
                })
            }
            "failed" | "cancelled" => Ok(Settlement::Failed {
                reason: match self.processor_response.as_deref().map(str::trim) {
                    Some(r) if !r.is_empty() => {
                        format!("Flutterwave: {}", r.chars().take(200).collect::<String>())
                    }
                    _ => "The payment failed at Flutterwave".into(),
                },
            }),
            _ => Ok(Settlement::Pending),
        }
    }
}

/// The parts of a webhook this server reads (API.md §11.53).
#[derive(Debug, Deserialize)]
struct WebhookBody {
    event: String,
    data: WebhookData,
}

#[derive(Debug, Deserialize)]
struct WebhookData {
    id: Value,
    tx_ref: Option<String>,
}

/// An error answer, with Flutterwave's own message cut short.
fn refused(status: reqwest::StatusCode, message: Option<&str>) -> GatewayError {
    match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => GatewayError(format!(
            "Flutterwave answered {}: {}",
            status.as_u16(),
            m.chars().take(200).collect::<String>()
        )),
        None => GatewayError(format!("Flutterwave answered {}", status.as_u16())),
    }
}

/// An id Flutterwave sent as a number or a string.
fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Whether a stored id can go into a URL path as Flutterwave's transaction id.
fn is_transaction_id(id: &str) -> bool {
    (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// The decimal text of an amount Flutterwave wrote as a JSON number (`5000.5`) or string
/// (`"5000.50"`), read from the raw JSON so no float rounds it.
fn amount_text(raw: &RawValue) -> Option<String> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .ok()
            .map(|s| s.trim().to_string())
    } else {
        Some(text.to_string())
    }
}

/// Decimal digits of a currency's minor unit: 2 for NGN, 0 for UGX, 3 for KWD.
fn decimals(currency: &str) -> usize {
    minor_per_major(currency).max(1).ilog10() as usize
}

/// The major-unit decimal text of `amount` minor units: 500 000 NGN → `5000`, 500 050 NGN →
/// `5000.50`, 1 500 UGX → `1500`.
pub fn to_major(amount: i64, currency: &str) -> String {
    let per = minor_per_major(currency).max(1).unsigned_abs();
    let sign = if amount < 0 { "-" } else { "" };
    let (whole, fraction) = (amount.unsigned_abs() / per, amount.unsigned_abs() % per);
    if fraction == 0 {
        format!("{sign}{whole}")
    } else {
        let width = decimals(currency);
        format!("{sign}{whole}.{fraction:0width$}")
    }
}

/// Minor units of a major-unit decimal (`5000.5` NGN → 500 050); `None` unless it is a plain
/// non-negative decimal with no more precision than the currency has (trailing zeros aside).
pub fn to_minor(major: &str, currency: &str) -> Option<i64> {
    let (whole, fraction) = match major.split_once('.') {
        Some((w, f)) if !f.is_empty() => (w, f),
        Some(_) => return None,
        None => (major, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    let places = decimals(currency);
    let (kept, beyond) = fraction.split_at(fraction.len().min(places));
    if beyond.bytes().any(|b| b != b'0') {
        return None;
    }
    let mut minor: i64 = whole.parse().ok()?;
    for i in 0..places {
        let digit = kept.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        minor = minor.checked_mul(10)?.checked_add(digit)?;
    }
    Some(minor)
}

/// `amount` minor units as an exact JSON number of major units.
fn major_json(amount: i64, currency: &str) -> Result<Box<RawValue>, GatewayError> {
    RawValue::from_string(to_major(amount, currency))
        .map_err(|e| GatewayError(format!("amount {amount} {currency} cannot be written: {e}")))
}

#[cfg(test)]
#[path = "flutterwave_tests.rs"]
mod tests;
