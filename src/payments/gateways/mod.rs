//! The gateway interface and its implementations. A gateway starts a checkout, tells what became
//! of a payment, returns money, and checks and reads its webhooks; everything else (which booking,
//! whether the amount matches, confirming, refunding automatically) is the payments service's,
//! the same for every gateway.

pub mod flutterwave;
pub mod offline;
pub mod paystack;
pub mod stripe;
pub mod test;

#[cfg(test)]
mod proptests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use super::model::{PaymentRow, Settlement};

/// What a gateway call returns.
pub type GatewayFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, GatewayError>> + Send + 'a>>;

/// A gateway that could not be reached or refused the request; the message is for the log and,
/// cut short, for the payment's `failureReason`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct GatewayError(pub String);

/// A webhook that is not the gateway's: bad or missing signature, or a body that cannot be read.
/// Answered 401, and nothing changes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct WebhookRejected(pub String);

/// What the buyer pays for.
#[derive(Debug, Clone)]
pub struct Checkout<'a> {
    /// The payment's reference, which the gateway echoes back.
    pub reference: &'a str,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: &'a str,
    /// The buyer's email (gateways require one).
    pub email: &'a str,
    /// Where the gateway sends the buyer afterwards.
    pub callback_url: Option<&'a str>,
    /// What the buyer sees on the gateway's page.
    pub description: &'a str,
}

/// A started checkout.
#[derive(Debug, Clone)]
pub struct Initialized {
    /// Where the buyer pays.
    pub authorization_url: String,
    /// The gateway's own id, when it gives one now.
    pub gateway_reference: Option<String>,
}

/// A verified webhook.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    /// The gateway's identity of the event, for deduplication (API.md §11.69).
    pub event_id: String,
    /// The payment's reference.
    pub reference: String,
    /// What the event says of the money; `None` when it says nothing trustworthy by itself
    /// (the payment is then verified through the gateway's API) or is not about a payment.
    pub settlement: Option<Settlement>,
}

/// What a refund request became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// The money is on its way back now.
    Settled { gateway_reference: Option<String> },
    /// The gateway accepted it and will settle later.
    Pending { gateway_reference: Option<String> },
    /// The gateway says it definitely failed: no money moved, and the amount is free again.
    Failed { reason: String },
}

/// One payment gateway.
pub trait Gateway: Send + Sync {
    /// `paystack`, `flutterwave`, `stripe`, `test` or `offline`.
    fn name(&self) -> &'static str;

    /// Whether buyers can start a checkout with it (not `offline`, which staff record).
    fn initiable(&self) -> bool {
        true
    }

    /// Whether it takes payments in this currency.
    fn supports_currency(&self, _currency: &str) -> bool {
        true
    }

    /// The checkout page's address when it is known without asking the gateway (the test
    /// gateway serves its own page): the payment is then opened with it and `initialize` is not
    /// called.
    fn local_checkout_url(&self, _reference: &str) -> Option<String> {
        None
    }

    /// Starts a checkout.
    fn initialize<'a>(&'a self, checkout: &'a Checkout<'a>) -> GatewayFuture<'a, Initialized>;

    /// Asks what became of a payment.
    fn verify<'a>(&'a self, payment: &'a PaymentRow) -> GatewayFuture<'a, Settlement>;

    /// Returns `amount` (minor units) of a payment; `idempotency_key` is the same on a retry of
    /// the same refund, so money never moves twice.
    fn refund<'a>(
        &'a self,
        payment: &'a PaymentRow,
        amount: i64,
        idempotency_key: &'a str,
    ) -> GatewayFuture<'a, RefundOutcome>;

    /// Asks what became of a refund the gateway accepted as pending (`gateway_reference` is the
    /// gateway's id of it). Gateways that settle refunds at once keep this default: still pending.
    fn refund_status<'a>(
        &'a self,
        _payment: &'a PaymentRow,
        gateway_reference: &'a str,
    ) -> GatewayFuture<'a, RefundOutcome> {
        Box::pin(async move {
            Ok(RefundOutcome::Pending {
                gateway_reference: Some(gateway_reference.to_string()),
            })
        })
    }

    /// Checks a webhook's signature over its raw body (in constant time) and reads its event.
    fn webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookRejected>;
}

/// The gateways this instance has, from its configuration.
#[derive(Clone)]
pub struct Gateways {
    list: Vec<Arc<dyn Gateway>>,
    default: Option<&'static str>,
    /// The test gateway, whose checkout page signs its own webhooks.
    test: Option<Arc<test::TestGateway>>,
}

impl std::fmt::Debug for Gateways {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateways")
            .field(
                "enabled",
                &self.list.iter().map(|g| g.name()).collect::<Vec<_>>(),
            )
            .field("default", &self.default)
            .finish()
    }
}

/// Every gateway name the API knows, in the order `/payments/gateways` lists them.
pub const NAMES: [&str; 5] = ["paystack", "flutterwave", "stripe", "test", "offline"];

impl Gateways {
    /// The enabled gateways (with the test gateway when given); `default` must be one of them
    /// that buyers can use.
    pub fn new(
        mut list: Vec<Arc<dyn Gateway>>,
        test: Option<Arc<test::TestGateway>>,
        default: Option<&'static str>,
    ) -> Self {
        if let Some(t) = &test {
            list.push(t.clone());
        }
        list.push(Arc::new(offline::Offline));
        let default = default.filter(|d| list.iter().any(|g| g.name() == *d && g.initiable()));
        Self {
            list,
            default,
            test,
        }
    }

    /// The gateways of a configuration: the real ones whose keys are set, the test gateway
    /// outside production (or with `PAYMENT_TEST_GATEWAY=true`), and offline payments.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let api_base = format!(
            "{}{}",
            config.public_base_url.trim_end_matches('/'),
            config.api_prefix
        );
        let test = config.payments.test_gateway.then(|| {
            Arc::new(test::TestGateway::new(
                &api_base,
                config.ticket_signing_key.expose(),
            ))
        });
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let real: Vec<Arc<dyn Gateway>> = [
            paystack::from_config(&config.payments, &http),
            flutterwave::from_config(&config.payments, &http),
            stripe::from_config(&config.payments, &http),
        ]
        .into_iter()
        .flatten()
        .collect();
        // Unset: the first real gateway configured, else the test gateway.
        let default = match config.payments.default_gateway.as_deref() {
            Some(name) => NAMES.into_iter().find(|n| *n == name),
            None => real.first().map(|g| g.name()).or(Some("test")),
        };
        Self::new(real, test, default)
    }

    /// The test gateway, when enabled.
    pub fn test(&self) -> Option<&test::TestGateway> {
        self.test.as_deref()
    }

    /// An enabled gateway by name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Gateway>> {
        self.list.iter().find(|g| g.name() == name)
    }

    /// The default for `initiate` without a `gateway`.
    pub fn default_name(&self) -> Option<&'static str> {
        self.default
    }

    /// Whether a gateway is enabled.
    pub fn enabled(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}
