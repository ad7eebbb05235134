//! Settings from the environment (and an optional `.env`), parsed once at start-up into typed
//! values. Invalid values stop the start with a message naming the variable; secrets are wrapped
//! in [`Secret`] so that `Debug` and logs never show them. Each section of the settings has its
//! reader in `sections.rs`; `vars.rs` turns raw variables into typed values.

#[cfg(test)]
mod deploy;
mod sections;
mod vars;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use vars::Vars;
pub use vars::parse_duration;

/// A configuration error: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in {var}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        reason: reason.into(),
    }
}

/// A secret string whose `Debug` and `Display` never reveal the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(<empty>)")
        } else {
            f.write_str("Secret(<redacted>)")
        }
    }
}

/// Deployment mode: development is forgiving, production refuses unsafe settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local work: random secrets with a warning, pretty logs.
    Development,
    /// Real deployment: strong secrets required, JSON logs, HSTS.
    Production,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// How email leaves the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTransport {
    /// SMTP through lettre.
    Smtp,
    /// One `.eml` file per message.
    File,
    /// A one-line summary in the log.
    Log,
}

/// How SMS leaves the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsTransport {
    /// Twilio's Messages API.
    Twilio,
    /// A one-line summary in the log.
    Log,
}

/// A rate-limit tier: `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// Requests allowed per window.
    pub limit: u32,
    pub window: Duration,
}

/// The five rate-limit tiers of the contract.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Master switch for the tiers (account locks and IP blocks stay on).
    pub enabled: bool,
    /// Every GET.
    pub short: Tier,
    /// Every write.
    pub medium: Tier,
    /// Every route.
    pub long: Tier,
    /// Register and login.
    pub auth: Tier,
    /// Code and password-reset routes.
    pub sensitive: Tier,
    /// Check-in and check-in verify, per user.
    pub checkin: Tier,
}

/// SMTP and message settings.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub transport: EmailTransport,
    /// SMTP host.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// SMTP user.
    pub user: Option<String>,
    /// SMTP password.
    pub pass: Secret,
    /// Implicit TLS (`true`); otherwise STARTTLS when offered (`false`), or decided by the
    /// port (`None`: implicit on 465).
    pub secure: Option<bool>,
    /// STARTTLS is mandatory (`EMAIL_REQUIRE_TLS`).
    pub require_tls: bool,
    /// The `From` header.
    pub from: String,
    /// Where the file transport writes.
    pub file_dir: String,
}

/// Payment gateway settings (API.md §5, §11.48): a real gateway is enabled by its secret key.
#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// `PAYMENT_GATEWAY`: the default of `initiate` (`test` when no key is set).
    pub default_gateway: Option<String>,
    /// The test gateway's checkout (development, or `PAYMENT_TEST_GATEWAY=true`).
    pub test_gateway: bool,
    /// How much longer `initiate` keeps a booking's seats, once.
    pub hold_extension: Duration,
    pub paystack_secret_key: Secret,
    pub paystack_base_url: String,
    pub flutterwave_secret_key: Secret,
    /// What Flutterwave sends in `verif-hash`.
    pub flutterwave_webhook_hash: Secret,
    pub flutterwave_base_url: String,
    pub stripe_secret_key: Secret,
    /// `whsec_…`, the key of `Stripe-Signature`.
    pub stripe_webhook_secret: Secret,
    pub stripe_base_url: String,
}

/// Twilio settings.
#[derive(Debug, Clone)]
pub struct SmsConfig {
    pub transport: SmsTransport,
    pub account_sid: String,
    pub auth_token: Secret,
    pub from_number: String,
    /// API host, overridable for tests.
    pub base_url: String,
    /// How many SMS may go out per hour.
    pub caps: SmsCaps,
}

/// Hourly SMS caps, counted over the outbox (so across instances); `None` is no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsCaps {
    /// To one number (`SMS_MAX_PER_NUMBER_PER_HOUR`).
    pub per_number: Option<u32>,
    /// From the whole platform (`SMS_MAX_PER_HOUR`).
    pub total: Option<u32>,
}

/// Outbox worker settings.
#[derive(Debug, Clone, Copy)]
pub struct OutboxConfig {
    /// Delivery attempts before a message is FAILED.
    pub max_attempts: i32,
    /// Fallback poll interval when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Worker loops per instance (each claims its own batches).
    pub workers: usize,
    /// Messages claimed at once by one loop.
    pub batch_size: i64,
    /// Deliveries in flight at once per loop.
    pub concurrency: usize,
    /// Delay before the first retry; doubles with each attempt.
    pub backoff_base: Duration,
    /// Longest delay between attempts.
    pub backoff_max: Duration,
    /// How long a claim lasts before another worker may take the message (crashed worker).
    pub lease: Duration,
    /// Deadline of one SMTP or Twilio delivery.
    pub send_timeout: Duration,
}

/// The keys of data at rest (`ENCRYPTION_KEY`, `ENCRYPTION_KEYS_PREVIOUS`), decoded; `Debug`
/// shows only their ids.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EncryptionKeys {
    /// Seals new values; `None` outside production means a generated development key.
    pub current: Option<[u8; 32]>,
    /// Still open values sealed before a rotation.
    pub previous: Vec<[u8; 32]>,
}

impl fmt::Debug for EncryptionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKeys")
            .field("current", &self.current.as_ref().map(crate::crypto::key_id))
            .field(
                "previous",
                &self
                    .previous
                    .iter()
                    .map(crate::crypto::key_id)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Where uploaded files (event images, organizer documents) are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Under `UPLOAD_DEST` on the local disk.
    Local,
    /// In a bucket of an S3-compatible object store.
    S3(S3Config),
}

/// An S3-compatible bucket (`STORAGE_BACKEND=s3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Endpoint of a non-AWS store (MinIO, R2, …); AWS's own when unset. `http://` is allowed.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

/// Cache lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct CacheTtls {
    pub short: Duration,
    /// Medium tier (event details).
    pub medium: Duration,
    /// Long tier (lists, featured, categories).
    pub long: Duration,
    pub very_long: Duration,
}

/// Every setting of the server.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    /// Listening port.
    pub port: u16,
    /// Prefix of every API route (`/api`).
    pub api_prefix: String,
    /// Base of every absolute link.
    pub public_base_url: String,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// PostgreSQL pool size.
    pub database_max_connections: u32,
    /// Redis, when set.
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key and channel (several deployments or tests on one Redis).
    pub redis_prefix: String,
    /// HMAC key of access tokens.
    pub jwt_secret: Secret,
    /// Access token lifetime.
    pub jwt_expires_in: Duration,
    /// Refresh token lifetime.
    pub refresh_token_expires_in: Duration,
    /// Key that signs ticket codes.
    pub ticket_signing_key: Secret,
    /// Allowed CORS origins.
    pub cors_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is trusted.
    pub trust_proxy: Vec<IpAddr>,
    pub log_format: LogFormat,
    /// Default `tracing` filter.
    pub log_level: String,
    pub rate_limits: RateLimits,
    /// Refused user agents (case-insensitive substrings).
    pub blocked_user_agents: Vec<String>,
    /// Failed logins from one IP in 10 minutes that block it (`None`: IPs are never blocked for
    /// failed logins; accounts still lock).
    pub ip_block_login_failures: Option<u32>,
    pub cache_ttl: CacheTtls,
    /// Largest accepted image upload, bytes.
    pub max_file_size: usize,
    /// Largest accepted document upload, bytes.
    pub max_document_size: usize,
    /// Upload directory.
    pub upload_dest: String,
    /// Where uploads are kept: `UPLOAD_DEST`, or an S3 bucket.
    pub storage: Storage,
    /// Keys of data at rest.
    pub encryption: EncryptionKeys,
    pub email: EmailConfig,
    pub sms: SmsConfig,
    /// Payment gateways.
    pub payments: PaymentsConfig,
    /// Default ISO 4217 currency.
    pub default_currency: String,
    /// IANA time zone of new events that name none.
    pub default_timezone: String,
    /// Hold lifetime of a pending booking.
    pub booking_hold: Duration,
    /// Confirmed bookings may be cancelled until this long before the start.
    pub cancellation_cutoff: Duration,
    /// Largest cancellation fee, minor units.
    pub cancellation_fee_cap: i64,
    /// PENDING guest bookings one client IP (its /64) may hold per event; 0: no cap (§11.93).
    pub guest_max_holds_per_ip: i64,
    /// Open availability streams per client IP (its /64) (§11.97).
    pub max_streams_per_ip: usize,
    /// Open availability streams per instance (§11.97).
    pub max_open_streams: usize,
    /// Bearer token of `/metrics` in production.
    pub metrics_token: Option<Secret>,
    /// First admin created at start-up.
    pub admin_email: Option<String>,
    /// Its password.
    pub admin_password: Secret,
    /// Token that enables `POST /api/admin-seed/create-admin`.
    pub admin_seed_token: Option<Secret>,
    /// Where organizer application emails go.
    pub admin_notify_email: Option<String>,
    /// Deadline of a request.
    pub request_timeout: Duration,
    /// Deadline for in-flight requests at shutdown.
    pub shutdown_timeout: Duration,
    pub outbox: OutboxConfig,
}

impl Config {
    /// Loads `.env` (when present) into the environment, then reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_map(&vars)
    }

    /// Reads settings from a map of variables; tests use this directly.
    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let v = Vars(map);
        let app_env = sections::app_env(&v)?;
        if app_env == AppEnv::Production {
            sections::check_production(&v)?;
        }
        let server = sections::server(&v)?;
        let logging = sections::logging(&v, app_env)?;
        let database = sections::database(&v)?;
        let redis = sections::redis(&v);
        let auth = sections::auth(&v)?;
        let admin = sections::admin(&v);
        let limits = sections::limits(&v)?;
        let files = sections::files(&v)?;
        let bookings = sections::bookings(&v)?;
        Ok(Config {
            app_env,
            port: server.port,
            api_prefix: server.api_prefix,
            public_base_url: server.public_base_url,
            database_url: database.url,
            database_max_connections: database.max_connections,
            redis_url: redis.url,
            redis_prefix: redis.prefix,
            jwt_secret: auth.jwt_secret,
            jwt_expires_in: auth.jwt_expires_in,
            refresh_token_expires_in: auth.refresh_token_expires_in,
            ticket_signing_key: auth.ticket_signing_key,
            cors_origins: server.cors_origins,
            trust_proxy: server.trust_proxy,
            log_format: logging.format,
            log_level: logging.level,
            rate_limits: limits.rate_limits,
            blocked_user_agents: limits.blocked_user_agents,
            ip_block_login_failures: limits.ip_block_login_failures,
            cache_ttl: sections::cache_ttls(&v)?,
            max_file_size: files.max_file_size,
            max_document_size: files.max_document_size,
            upload_dest: files.upload_dest,
            storage: sections::storage(&v)?,
            encryption: sections::encryption(&v)?,
            email: sections::email(&v)?,
            sms: sections::sms(&v)?,
            payments: sections::payments(&v, app_env)?,
            default_currency: bookings.default_currency,
            default_timezone: bookings.default_timezone,
            booking_hold: bookings.hold,
            cancellation_cutoff: bookings.cancellation_cutoff,
            cancellation_fee_cap: bookings.cancellation_fee_cap,
            guest_max_holds_per_ip: bookings.guest_max_holds_per_ip,
            max_streams_per_ip: bookings.max_streams_per_ip,
            max_open_streams: bookings.max_open_streams,
            metrics_token: admin.metrics_token,
            admin_email: admin.email,
            admin_password: admin.password,
            admin_seed_token: admin.seed_token,
            admin_notify_email: admin.notify_email,
            request_timeout: server.request_timeout,
            shutdown_timeout: server.shutdown_timeout,
            outbox: sections::outbox(&v)?,
        })
    }

    /// Whether the server runs in production mode.
    pub fn is_production(&self) -> bool {
        self.app_env == AppEnv::Production
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_serve_sqlite_on_port_3000() {
        let c = Config::from_map(&map(&[])).unwrap();
        assert_eq!(c.port, 3000);
        assert_eq!(c.database_url, "sqlite://./data/ticketmax.db");
        assert_eq!(c.api_prefix, "/api");
        assert_eq!(c.jwt_expires_in, Duration::from_secs(900));
        assert_eq!(c.public_base_url, "http://localhost:3000");
        assert_eq!(
            c.rate_limits.auth,
            Tier {
                limit: 5,
                window: Duration::from_secs(60)
            }
        );
        assert_eq!(
            c.rate_limits.checkin,
            Tier {
                limit: 20,
                window: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn production_without_jwt_secret_names_the_variable() {
        let err = Config::from_map(&map(&[("APP_ENV", "production")])).unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
    }

    #[test]
    fn production_with_short_jwt_secret_is_refused() {
        let err = Config::from_map(&map(&[("APP_ENV", "production"), ("JWT_SECRET", "short")]))
            .unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
    }

    #[test]
    fn production_with_weak_admin_password_is_refused() {
        let err = Config::from_map(&map(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef-long"),
            ("ADMIN_EMAIL", "admin@example.com"),
            ("ADMIN_PASSWORD", "admin123"),
        ]))
        .unwrap_err();
        assert_eq!(err.var, "ADMIN_PASSWORD");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = Config::from_map(&map(&[(
            "JWT_SECRET",
            "super-secret-value-that-must-not-leak",
        )]))
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("super-secret-value"));
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn redis_url_is_built_from_the_seed_variables() {
        let c = Config::from_map(&map(&[
            ("REDIS_HOST", "cache"),
            ("REDIS_PORT", "6380"),
            ("REDIS_PASSWORD", "pw"),
        ]))
        .unwrap();
        assert_eq!(c.redis_url.unwrap().expose(), "redis://:pw@cache:6380");
    }

    /// Every variable the parser reads is documented in `.env.example` and the README table.
    #[test]
    fn every_variable_is_documented() {
        // The section readers are the only code that names a variable.
        let source = include_str!("sections.rs");
        let example = include_str!("../../.env.example");
        let readme = include_str!("../../README.md");
        let mut checked = 0;
        for piece in source.split('"').skip(1).step_by(2) {
            let is_var = piece.len() > 2
                && piece
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
                && piece.contains('_')
                && !piece.starts_with('_');
            if !is_var {
                continue;
            }
            checked += 1;
            assert!(
                example.contains(&format!("{piece}=")),
                "{piece} missing from .env.example"
            );
            assert!(
                readme.contains(piece),
                "{piece} missing from the README configuration table"
            );
        }
        assert!(checked > 40, "the scan found only {checked} variables");
    }

    #[test]
    fn sms_caps_have_defaults_and_zero_lifts_them() {
        let c = Config::from_map(&map(&[])).unwrap();
        assert_eq!(
            c.sms.caps,
            SmsCaps {
                per_number: Some(5),
                total: Some(500)
            }
        );
        let c = Config::from_map(&map(&[
            ("SMS_MAX_PER_NUMBER_PER_HOUR", "0"),
            ("SMS_MAX_PER_HOUR", "2"),
        ]))
        .unwrap();
        assert_eq!(
            c.sms.caps,
            SmsCaps {
                per_number: None,
                total: Some(2)
            }
        );
        let err = Config::from_map(&map(&[("SMS_MAX_PER_HOUR", "-1")])).unwrap_err();
        assert_eq!(err.var, "SMS_MAX_PER_HOUR");
    }

    #[test]
    fn encryption_keys_are_decoded_and_required_in_production() {
        let hex_key = "11".repeat(32);
        let c = Config::from_map(&map(&[("ENCRYPTION_KEY", &hex_key)])).unwrap();
        assert_eq!(c.encryption.current, Some([0x11; 32]));
        assert!(!format!("{c:?}").contains(&hex_key));
        let err = Config::from_map(&map(&[("ENCRYPTION_KEY", "too-short")])).unwrap_err();
        assert_eq!(err.var, "ENCRYPTION_KEY");
        let err = Config::from_map(&map(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef-long"),
        ]))
        .unwrap_err();
        assert_eq!(err.var, "ENCRYPTION_KEY");
    }

    #[test]
    fn s3_storage_needs_its_bucket_and_credentials() {
        assert_eq!(Config::from_map(&map(&[])).unwrap().storage, Storage::Local);
        let err = Config::from_map(&map(&[("STORAGE_BACKEND", "s3")])).unwrap_err();
        assert_eq!(err.var, "S3_BUCKET");
        let c = Config::from_map(&map(&[
            ("STORAGE_BACKEND", "s3"),
            ("S3_BUCKET", "docs"),
            ("S3_ENDPOINT", "http://127.0.0.1:9000/"),
            ("S3_ACCESS_KEY_ID", "id"),
            ("S3_SECRET_ACCESS_KEY", "secret"),
        ]))
        .unwrap();
        let Storage::S3(s3) = c.storage else {
            panic!("S3 storage expected")
        };
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region, "us-east-1");
    }

    #[test]
    fn invalid_port_names_the_variable() {
        let err = Config::from_map(&map(&[("PORT", "eighty")])).unwrap_err();
        assert_eq!(err.var, "PORT");
    }
}
