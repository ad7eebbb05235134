//! Email transports (`EMAIL_TRANSPORT`): SMTP through lettre, one `.eml` file per message, or
//! the log (recipient, subject and, outside production, the text part, so that codes and links
//! can be read without a mail server; API.md §11.102).
//!
//! SMTP security follows API.md §11.101 (nodemailer's meaning of `secure`): implicit TLS with
//! `EMAIL_SECURE=true` or on port 465; otherwise STARTTLS when the server offers it and plain
//! when it does not, unless `EMAIL_REQUIRE_TLS=true`. Credentials never travel unencrypted to a
//! host other than loopback: with `EMAIL_USER` set and a remote host, STARTTLS is required. Every message
//! is `multipart/alternative` with a plain-text and an HTML part; an email with inline images
//! (the tickets' QR codes) wraps its HTML part and the images in `multipart/related`, each image
//! with the `Content-ID` its HTML refers to as `cid:…`; an email with attachments (a booking
//! confirmation's `event.ics`) puts all that and its files in `multipart/mixed`.

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
    /// Whether the log transport writes the text part (never in production: it holds codes).
    log_text: bool,
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

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (SMTPS).
    Implicit,
    /// STARTTLS, or no delivery.
    StartTlsRequired,
    /// STARTTLS when the server offers it, else plain.
    StartTlsIfOffered,
}

/// The security of the settings' SMTP connection (API.md §11.101).
pub fn tls_mode(config: &EmailConfig) -> TlsMode {
    if config.secure == Some(true) || (config.secure.is_none() && config.port == 465) {
        return TlsMode::Implicit;
    }
    let credentials = config.user.as_deref().is_some_and(|u| !u.is_empty());
    if config.require_tls || (credentials && !is_loopback(&config.host)) {
        TlsMode::StartTlsRequired
    } else {
        TlsMode::StartTlsIfOffered
    }
}

/// Whether a host name or address is this machine.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The SMTP transport of the settings.
fn smtp_transport(
    config: &EmailConfig,
    timeout: Duration,
) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    super::install_crypto_provider();
    let params = TlsParameters::new(config.host.clone())
        .map_err(|e| anyhow::anyhow!("EMAIL_HOST {:?}: {e}", config.host))?;
    let tls = match tls_mode(config) {
        TlsMode::Implicit => Tls::Wrapper(params),
        TlsMode::StartTlsRequired => Tls::Required(params),
        TlsMode::StartTlsIfOffered => Tls::Opportunistic(params),
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

/// The MIME body: text and HTML as alternatives, the HTML with its inline images if any, and
/// the attachments if any (then all in `multipart/mixed`, the alternatives first).
fn body(email: &RenderedEmail) -> Result<MultiPart, String> {
    let alternative = if email.inline.is_empty() {
        MultiPart::alternative_plain_html(email.text.clone(), email.html.clone())
    } else {
        let png = ContentType::parse("image/png").expect("a valid content type");
        let mut related = MultiPart::related().singlepart(SinglePart::html(email.html.clone()));
        for image in &email.inline {
            related = related.singlepart(
                Attachment::new_inline(image.content_id.clone())
                    .body(image.png.clone(), png.clone()),
            );
        }
        MultiPart::alternative()
            .singlepart(SinglePart::plain(email.text.clone()))
            .multipart(related)
    };
    if email.attachments.is_empty() {
        return Ok(alternative);
    }
    let mut mixed = MultiPart::mixed().multipart(alternative);
    for file in &email.attachments {
        let content_type = ContentType::parse(&file.content_type)
            .map_err(|e| format!("attachment {}: {e}", file.filename))?;
        mixed = mixed.singlepart(
            Attachment::new(file.filename.clone()).body(file.body.clone(), content_type),
        );
    }
    Ok(mixed)
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
        Ok(Self {
            sender,
            from,
            log_text: false,
        })
    }

    /// Lets the log transport write each email's text part (development and tests).
    pub fn with_logged_text(mut self, on: bool) -> Self {
        self.log_text = on;
        self
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
            .multipart(body(email)?)
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    /// Delivers one message (`email` is what it was built from, for the log transport).
    pub async fn send(
        &self,
        id: Uuid,
        message: Message,
        email: &RenderedEmail,
    ) -> Result<(), String> {
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
                if self.log_text {
                    tracing::info!(
                        %id, %to, %subject,
                        "email (log transport, not sent):\n{}",
                        email.text
                    );
                } else {
                    tracing::info!(%id, %to, %subject, "email (log transport, not sent)");
                }
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
        checked_at: chrono::Utc::now(),
        required: false,
        detail: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn settings(port: u16, secure: Option<bool>, user: Option<&str>, host: &str) -> EmailConfig {
        EmailConfig {
            transport: EmailTransport::Smtp,
            host: host.into(),
            port,
            user: user.map(str::to_string),
            pass: Secret::new(String::new()),
            secure,
            require_tls: false,
            from: "TicketMax <noreply@localhost>".into(),
            file_dir: String::new(),
        }
    }

    #[test]
    fn secure_true_or_port_465_is_implicit_tls() {
        assert_eq!(
            tls_mode(&settings(2525, Some(true), None, "mail")),
            TlsMode::Implicit
        );
        assert_eq!(
            tls_mode(&settings(465, None, None, "mail")),
            TlsMode::Implicit
        );
    }

    #[test]
    fn secure_false_uses_starttls_only_when_offered_so_a_plain_relay_works() {
        for port in [25, 587, 1025] {
            assert_eq!(
                tls_mode(&settings(port, Some(false), None, "mailpit")),
                TlsMode::StartTlsIfOffered
            );
            assert_eq!(
                tls_mode(&settings(port, None, None, "mailpit")),
                TlsMode::StartTlsIfOffered
            );
        }
    }

    #[test]
    fn require_tls_makes_starttls_mandatory() {
        let mut c = settings(587, Some(false), None, "mail");
        c.require_tls = true;
        assert_eq!(tls_mode(&c), TlsMode::StartTlsRequired);
    }

    #[test]
    fn credentials_never_go_in_clear_to_a_remote_host_but_may_to_loopback() {
        assert_eq!(
            tls_mode(&settings(587, Some(false), Some("me"), "smtp.example.com")),
            TlsMode::StartTlsRequired
        );
        for host in ["localhost", "127.0.0.1", "::1", "[::1]"] {
            assert_eq!(
                tls_mode(&settings(587, Some(false), Some("me"), host)),
                TlsMode::StartTlsIfOffered,
                "{host}"
            );
        }
    }

    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn logged(log_text: bool) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut config = settings(0, None, None, "localhost");
        config.transport = EmailTransport::Log;
        let mailer = Mailer::from_config(&config, Duration::from_secs(1))
            .unwrap()
            .with_logged_text(log_text);
        let email = RenderedEmail {
            subject: "Verify your email".into(),
            text: "Your verification code is 493817.".into(),
            html: "<p>Your verification code is <b>493817</b>.</p>".into(),
            inline: Vec::new(),
            attachments: Vec::new(),
        };
        let id = Uuid::new_v4();
        let message = mailer.build(id, "ada@example.com", &email).unwrap();
        mailer.send(id, message, &email).await.unwrap();
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn attachments_follow_the_alternatives_in_a_mixed_message() {
        let mut config = settings(0, None, None, "localhost");
        config.transport = EmailTransport::Log;
        let mailer = Mailer::from_config(&config, Duration::from_secs(1)).unwrap();
        let calendar = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
        let email = RenderedEmail {
            subject: "Your tickets".into(),
            text: "See you there.".into(),
            html: "<p>See you there.</p>".into(),
            inline: Vec::new(),
            attachments: vec![crate::notify::templates::FileAttachment {
                filename: "event.ics".into(),
                content_type: crate::notify::templates::CALENDAR_CONTENT_TYPE.into(),
                body: calendar.as_bytes().to_vec(),
            }],
        };
        let message = mailer
            .build(Uuid::new_v4(), "ada@example.com", &email)
            .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        let mixed = raw.find("Content-Type: multipart/mixed").expect("mixed");
        let alternative = raw
            .find("Content-Type: multipart/alternative")
            .expect("alternative");
        let ics = raw
            .find("Content-Type: text/calendar; charset=utf-8; method=PUBLISH")
            .unwrap_or_else(|| panic!("{raw}"));
        assert!(mixed < alternative && alternative < ics, "{raw}");
        assert!(
            raw.contains("Content-Disposition: attachment; filename=\"event.ics\""),
            "{raw}"
        );
        assert!(
            raw.contains(calendar),
            "the calendar travels as it is: {raw}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_log_transport_writes_recipient_subject_and_text_in_development() {
        let log = logged(true).await;
        assert!(log.contains("ada@example.com"), "{log}");
        assert!(log.contains("Verify your email"), "{log}");
        assert!(log.contains("Your verification code is 493817."), "{log}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_log_transport_keeps_the_text_out_of_production_logs() {
        let log = logged(false).await;
        assert!(log.contains("Verify your email"), "{log}");
        assert!(!log.contains("493817"), "{log}");
    }
}
