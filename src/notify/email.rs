//! Email transports (`EMAIL_TRANSPORT`): SMTP through lettre (implicit TLS on 465 or with
//! `EMAIL_SECURE=true`, STARTTLS required on 587 or with `EMAIL_SECURE=false`, opportunistic
//! STARTTLS on other ports), one `.eml` file per message, or a one-line log summary. Every message
//! is `multipart/alternative` with a plain-text and an HTML part; an email with inline images
//! (the tickets' QR codes) wraps its HTML part and the images in `multipart/related`, each image
//! with the `Content-ID` its HTML refers to as `cid:…`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use super::templates::RenderedEmail;
use crate::config::{EmailConfig, EmailTransport};
use crate::health::ServiceHealth;

/// Where emails go.
#[derive(Clone)]
pub enum EmailSender {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory.
    File(PathBuf),
    /// The log.
    Log,
}

/// A ready email sender with its `From` address.
#[derive(Clone)]
pub struct Mailer {
    sender: EmailSender,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.sender {
            EmailSender::Smtp(_) => "smtp",
            EmailSender::File(_) => "file",
            EmailSender::Log => "log",
        };
        f.debug_struct("Mailer")
            .field("transport", &kind)
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// The SMTP transport of the settings.
fn smtp_transport(
    config: &EmailConfig,
    timeout: Duration,
) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    super::install_crypto_provider();
    let params = TlsParameters::new(config.host.clone())
        .map_err(|e| anyhow::anyhow!("EMAIL_HOST {:?}: {e}", config.host))?;
    let tls = match (config.secure, config.port) {
        (Some(true), _) | (None, 465) => Tls::Wrapper(params),
        (Some(false), _) | (None, 587) => Tls::Required(params),
        (None, _) => Tls::Opportunistic(params),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(user) = &config.user {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            config.pass.expose().to_string(),
        ));
    }
    Ok(builder.build())
}

/// The MIME body: text and HTML as alternatives, the HTML with its inline images if any.
fn body(email: &RenderedEmail) -> MultiPart {
    if email.inline.is_empty() {
        return MultiPart::alternative_plain_html(email.text.clone(), email.html.clone());
    }
    let png = ContentType::parse("image/png").expect("a valid content type");
    let mut related = MultiPart::related().singlepart(SinglePart::html(email.html.clone()));
    for image in &email.inline {
        related = related.singlepart(
            Attachment::new_inline(image.content_id.clone()).body(image.png.clone(), png.clone()),
        );
    }
    MultiPart::alternative()
        .singlepart(SinglePart::plain(email.text.clone()))
        .multipart(related)
}

impl Mailer {
    /// Builds the transport named by the settings; fails on an unusable `EMAIL_FROM` or host.
    pub fn from_config(config: &EmailConfig, timeout: Duration) -> anyhow::Result<Self> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("EMAIL_FROM {:?} is not an address: {e}", config.from))?;
        let sender = match config.transport {
            EmailTransport::Smtp => EmailSender::Smtp(smtp_transport(config, timeout)?),
            EmailTransport::File => {
                let dir = PathBuf::from(&config.file_dir);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("EMAIL_FILE_DIR {}: {e}", dir.display()))?;
                EmailSender::File(dir)
            }
            EmailTransport::Log => EmailSender::Log,
        };
        Ok(Self { sender, from })
    }

    /// Builds the RFC 5322 message; its `Message-ID` is derived from the outbox id, so a
    /// redelivery after a crash can be recognised by the receiver.
    pub fn build(&self, id: Uuid, to: &str, email: &RenderedEmail) -> Result<Message, String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("recipient {to:?} is not an email address: {e}"))?;
        let domain = self.from.email.domain().to_string();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(format!("<{}@{domain}>", id.simple())))
            .multipart(body(email))
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    /// Delivers one message.
    pub async fn send(&self, id: Uuid, message: Message) -> Result<(), String> {
        match &self.sender {
            EmailSender::Smtp(transport) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP: {e}")),
            EmailSender::File(dir) => {
                // Written under a temporary name, then renamed: a reader never sees half a file.
                let tmp = dir.join(format!(".{}.eml.tmp", id.simple()));
                let path = dir.join(format!("{}.eml", id.simple()));
                tokio::fs::write(&tmp, message.formatted())
                    .await
                    .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
                tokio::fs::rename(&tmp, &path)
                    .await
                    .map_err(|e| format!("renaming to {}: {e}", path.display()))
            }
            EmailSender::Log => {
                let to = message
                    .envelope()
                    .to()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let subject = message
                    .headers()
                    .get_raw("Subject")
                    .unwrap_or_default()
                    .to_string();
                tracing::info!(%id, %to, %subject, "email (log transport, not sent)");
                Ok(())
            }
        }
    }
}

/// The `email` entry of `/health/services`: SMTP connects (EHLO, then QUIT) within 3 s; the
/// file directory is writable; the log transport is disabled.
pub async fn health(config: &EmailConfig) -> ServiceHealth {
    let started = Instant::now();
    let status = match config.transport {
        EmailTransport::Log => "disabled",
        EmailTransport::File => {
            let dir = PathBuf::from(&config.file_dir);
            let probe = dir.join(format!(".health-{}", Uuid::new_v4().simple()));
            let ok = tokio::fs::create_dir_all(&dir).await.is_ok()
                && tokio::fs::write(&probe, b"ok").await.is_ok();
            let _ = tokio::fs::remove_file(&probe).await;
            if ok { "up" } else { "down" }
        }
        EmailTransport::Smtp => match smtp_transport(config, Duration::from_secs(3)) {
            Ok(transport) => {
                let check =
                    tokio::time::timeout(Duration::from_secs(3), transport.test_connection());
                match check.await {
                    Ok(Ok(true)) => "up",
                    _ => "down",
                }
            }
            Err(_) => "down",
        },
    };
    ServiceHealth {
        name: "email".into(),
        status,
        latency_ms: (status == "up").then(|| started.elapsed().as_secs_f64() * 1000.0),
        required: false,
    }
}
