//! SMS transports (`SMS_TRANSPORT`): Twilio's Messages REST API (form-encoded `To`, `From`,
//! `Body`, HTTP basic auth with the account SID and token, host from `TWILIO_BASE_URL`), or a
//! one-line log summary.

use std::time::Duration;

use uuid::Uuid;

use crate::config::{SmsConfig, SmsTransport};
use crate::health::ServiceHealth;

/// Where text messages go.
#[derive(Clone)]
pub enum SmsSender {
    Twilio {
        /// HTTP client (rustls with ring).
        client: reqwest::Client,
        /// `{base}/2010-04-01/Accounts/{sid}/Messages.json`.
        url: String,
        /// Account SID (basic-auth user).
        account_sid: String,
        /// Auth token (basic-auth password).
        auth_token: crate::config::Secret,
        /// Sender number.
        from: String,
    },
    /// The log.
    Log,
}

impl std::fmt::Debug for SmsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmsSender::Twilio { url, .. } => f.debug_struct("Twilio").field("url", url).finish(),
            SmsSender::Log => f.write_str("Log"),
        }
    }
}

/// The Messages resource of an account.
pub fn messages_url(base_url: &str, account_sid: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
        base_url.trim_end_matches('/')
    )
}

impl SmsSender {
    /// Builds the transport named by the settings.
    pub fn from_config(config: &SmsConfig, timeout: Duration) -> anyhow::Result<Self> {
        Ok(match config.transport {
            SmsTransport::Log => SmsSender::Log,
            SmsTransport::Twilio => {
                super::install_crypto_provider();
                let client = reqwest::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| anyhow::anyhow!("cannot build the Twilio HTTP client: {e}"))?;
                SmsSender::Twilio {
                    client,
                    url: messages_url(&config.base_url, &config.account_sid),
                    account_sid: config.account_sid.clone(),
                    auth_token: config.auth_token.clone(),
                    from: config.from_number.clone(),
                }
            }
        })
    }

    /// Sends one text message.
    pub async fn send(&self, id: Uuid, to: &str, body: &str) -> Result<(), String> {
        match self {
            SmsSender::Log => {
                tracing::info!(%id, %to, chars = body.chars().count(), "sms (log transport, not sent)");
                Ok(())
            }
            SmsSender::Twilio {
                client,
                url,
                account_sid,
                auth_token,
                from,
            } => {
                let response = client
                    .post(url)
                    .basic_auth(account_sid, Some(auth_token.expose()))
                    .form(&[("To", to), ("From", from.as_str()), ("Body", body)])
                    .send()
                    .await
                    .map_err(|e| format!("Twilio: {e}"))?;
                let status = response.status();
                if status.is_success() {
                    return Ok(());
                }
                let text = response.text().await.unwrap_or_default();
                let detail = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| text.chars().take(200).collect());
                Err(format!("Twilio answered {status}: {detail}"))
            }
        }
    }
}

/// The `sms` entry of `/health/services`: Twilio configured is `up` (health never calls the
/// paid API), the log transport is `disabled`.
pub fn health(config: &SmsConfig) -> ServiceHealth {
    let status = match config.transport {
        SmsTransport::Log => "disabled",
        SmsTransport::Twilio
            if !config.account_sid.is_empty()
                && !config.auth_token.is_empty()
                && !config.from_number.is_empty() =>
        {
            "up"
        }
        SmsTransport::Twilio => "down",
    };
    ServiceHealth {
        name: "sms".into(),
        status,
        latency_ms: None,
        checked_at: chrono::Utc::now(),
        required: false,
        detail: None,
    }
}
