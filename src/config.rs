//! Settings from the environment (and an optional `.env`), parsed once at start-up into typed
//! values. Invalid values stop the start with a message naming the variable; secrets are wrapped
//! in [`Secret`] so that `Debug` and logs never show them.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

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
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether no value is set.
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
    /// Window length.
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
    /// Which transport.
    pub transport: EmailTransport,
    /// SMTP host.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// SMTP user.
    pub user: Option<String>,
    /// SMTP password.
    pub pass: Secret,
    /// Implicit TLS (`true`), STARTTLS (`false`), or decided by port (`None`).
    pub secure: Option<bool>,
    /// The `From` header.
    pub from: String,
    /// Where the file transport writes.
    pub file_dir: String,
}

/// Twilio settings.
#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// Which transport.
    pub transport: SmsTransport,
    /// Account SID.
    pub account_sid: String,
    /// Auth token.
    pub auth_token: Secret,
    /// Sender number.
    pub from_number: String,
    /// API host, overridable for tests.
    pub base_url: String,
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

/// Cache lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct CacheTtls {
    /// Short tier.
    pub short: Duration,
    /// Medium tier (event details).
    pub medium: Duration,
    /// Long tier (lists, featured, categories).
    pub long: Duration,
    /// Very long tier.
    pub very_long: Duration,
}

/// Every setting of the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// development or production.
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
    /// Log format.
    pub log_format: LogFormat,
    /// Default `tracing` filter.
    pub log_level: String,
    /// Rate-limit tiers.
    pub rate_limits: RateLimits,
    /// Refused user agents (case-insensitive substrings).
    pub blocked_user_agents: Vec<String>,
    /// Cache lifetimes.
    pub cache_ttl: CacheTtls,
    /// Largest accepted image upload, bytes.
    pub max_file_size: usize,
    /// Largest accepted document upload, bytes.
    pub max_document_size: usize,
    /// Upload directory.
    pub upload_dest: String,
    /// Email settings.
    pub email: EmailConfig,
    /// SMS settings.
    pub sms: SmsConfig,
    /// Default ISO 4217 currency.
    pub default_currency: String,
    /// Hold lifetime of a pending booking.
    pub booking_hold: Duration,
    /// Confirmed bookings may be cancelled until this long before the start.
    pub cancellation_cutoff: Duration,
    /// Largest cancellation fee, minor units.
    pub cancellation_fee_cap: i64,
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
    /// Outbox worker settings.
    pub outbox: OutboxConfig,
}

/// Reads variables from a map: the process environment plus `.env`, or a test's own map.
struct Vars<'a>(&'a HashMap<String, String>);

impl Vars<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    fn parse<T: FromStr>(&self, key: &'static str, default: T) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| bad(key, format!("cannot parse {v:?}"))),
        }
    }

    fn boolean(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(bad(key, format!("expected true or false, got {v:?}"))),
        }
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn duration(&self, key: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let raw = self.get(key).unwrap_or(default);
        parse_duration(raw)
            .ok_or_else(|| bad(key, format!("expected a duration like 15m, got {raw:?}")))
    }

    fn millis(&self, key: &'static str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.parse(key, default)?))
    }

    fn secs(&self, key: &'static str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.parse(key, default)?))
    }

    fn tier(
        &self,
        ttl: &'static str,
        limit: &'static str,
        default_ms: u64,
        default_limit: u32,
    ) -> Result<Tier, ConfigError> {
        let window = self.millis(ttl, default_ms)?;
        let limit_value = self.parse(limit, default_limit)?;
        if window.is_zero() {
            return Err(bad(ttl, "must be greater than zero"));
        }
        if limit_value == 0 {
            return Err(bad(limit, "must be greater than zero"));
        }
        Ok(Tier {
            limit: limit_value,
            window,
        })
    }
}

/// Parses `900`, `900s`, `15m`, `2h`, `30d` into a duration (a bare number is seconds).
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (num, unit) = raw.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => return Some(Duration::from_millis(n)),
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Passwords and secrets that production refuses.
const WEAK_SECRETS: &[&str] = &[
    "secret",
    "changeme",
    "change-me",
    "password",
    "your-secret-key",
    "your_jwt_secret",
    "admin123",
    "Admin@123",
];

fn random_secret() -> Secret {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret(hex::encode(bytes))
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
        let app_env = match v
            .string("APP_ENV", "development")
            .to_ascii_lowercase()
            .as_str()
        {
            "development" | "dev" | "test" => AppEnv::Development,
            "production" | "prod" => AppEnv::Production,
            other => {
                return Err(bad(
                    "APP_ENV",
                    format!("expected development or production, got {other:?}"),
                ));
            }
        };
        let production = app_env == AppEnv::Production;
        let port: u16 = v.parse("PORT", 3000)?;

        let jwt_secret = match v.get("JWT_SECRET") {
            Some(s) => Secret::new(s),
            None if production => return Err(bad("JWT_SECRET", "is required in production")),
            None => {
                tracing::warn!(
                    "JWT_SECRET is not set: using a random secret, sessions end at restart"
                );
                random_secret()
            }
        };
        if production
            && (jwt_secret.expose().len() < 32 || WEAK_SECRETS.contains(&jwt_secret.expose()))
        {
            return Err(bad(
                "JWT_SECRET",
                "must be at least 32 bytes and not a well-known value in production",
            ));
        }
        let ticket_signing_key = match v.get("TICKET_SIGNING_KEY") {
            Some(s) if production && s.len() < 32 => {
                return Err(bad(
                    "TICKET_SIGNING_KEY",
                    "must be at least 32 bytes in production",
                ));
            }
            Some(s) => Secret::new(s),
            // Derived from the JWT secret so a single secret is enough to run.
            None => Secret::new(format!("ticket:{}", jwt_secret.expose())),
        };

        let admin_password = Secret::new(v.string("ADMIN_PASSWORD", ""));
        let admin_email = v.get("ADMIN_EMAIL").map(str::to_string);
        if production && admin_email.is_some() {
            let pw = admin_password.expose();
            let weak = pw.len() < 12
                || WEAK_SECRETS.iter().any(|w| w.eq_ignore_ascii_case(pw))
                || !pw.chars().any(|c| c.is_ascii_digit())
                || !pw.chars().any(|c| c.is_alphabetic());
            if weak {
                return Err(bad(
                    "ADMIN_PASSWORD",
                    "is weak or a default: use at least 12 characters with letters and digits in production",
                ));
            }
        }

        let redis_url = match v.get("REDIS_URL") {
            Some(url) => Some(Secret::new(url)),
            None => v.get("REDIS_HOST").map(|host| {
                let port = v.string("REDIS_PORT", "6379");
                match v.get("REDIS_PASSWORD") {
                    Some(pw) => Secret::new(format!("redis://:{pw}@{host}:{port}")),
                    None => Secret::new(format!("redis://{host}:{port}")),
                }
            }),
        };

        let email_transport = match v.get("EMAIL_TRANSPORT").map(str::to_ascii_lowercase) {
            None => EmailTransport::Log,
            Some(t) => match t.as_str() {
                "smtp" => EmailTransport::Smtp,
                "file" => EmailTransport::File,
                "log" => EmailTransport::Log,
                _ => return Err(bad("EMAIL_TRANSPORT", "expected smtp, file or log")),
            },
        };
        let sms_transport = match v.get("SMS_TRANSPORT").map(str::to_ascii_lowercase) {
            None => SmsTransport::Log,
            Some(t) => match t.as_str() {
                "twilio" => SmsTransport::Twilio,
                "log" => SmsTransport::Log,
                _ => return Err(bad("SMS_TRANSPORT", "expected twilio or log")),
            },
        };
        let secure = match v.get("EMAIL_SECURE") {
            None => None,
            Some(_) => Some(v.boolean("EMAIL_SECURE", false)?),
        };

        let mut trust_proxy = Vec::new();
        for entry in v.list("TRUST_PROXY") {
            let ip = entry
                .parse()
                .map_err(|_| bad("TRUST_PROXY", format!("{entry:?} is not an IP address")))?;
            trust_proxy.push(ip);
        }

        let log_format = match v.get("LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") | Some("text") => LogFormat::Pretty,
            None if production => LogFormat::Json,
            None => LogFormat::Pretty,
            Some(other) => {
                return Err(bad(
                    "LOG_FORMAT",
                    format!("expected pretty or json, got {other:?}"),
                ));
            }
        };

        let mut api_prefix = v.string("API_PREFIX", "api");
        api_prefix = format!("/{}", api_prefix.trim_matches('/'));

        let default_currency = v.string("DEFAULT_CURRENCY", "NGN").to_ascii_uppercase();
        if default_currency.len() != 3 || !default_currency.chars().all(|c| c.is_ascii_uppercase())
        {
            return Err(bad(
                "DEFAULT_CURRENCY",
                "expected an ISO 4217 code such as NGN",
            ));
        }

        let config = Config {
            app_env,
            port,
            public_base_url: v
                .string("PUBLIC_BASE_URL", &format!("http://localhost:{port}"))
                .trim_end_matches('/')
                .to_string(),
            api_prefix,
            database_url: v.string("DATABASE_URL", "sqlite://./data/ticketmax.db"),
            database_max_connections: v.parse("DATABASE_MAX_CONNECTIONS", 10)?,
            redis_url,
            redis_prefix: v.string("REDIS_PREFIX", "ticketmax:"),
            jwt_secret,
            jwt_expires_in: v.duration("JWT_EXPIRES_IN", "15m")?,
            refresh_token_expires_in: v.duration("REFRESH_TOKEN_EXPIRES_IN", "30d")?,
            ticket_signing_key,
            cors_origins: v.list("CORS_ORIGINS"),
            trust_proxy,
            log_format,
            log_level: v.string("LOG_LEVEL", "info"),
            rate_limits: RateLimits {
                enabled: v.boolean("RATE_LIMIT_ENABLED", true)?,
                short: v.tier("THROTTLE_TTL_SHORT", "THROTTLE_LIMIT_SHORT", 1_000, 10)?,
                medium: v.tier("THROTTLE_TTL_MEDIUM", "THROTTLE_LIMIT_MEDIUM", 10_000, 50)?,
                long: v.tier("THROTTLE_TTL_LONG", "THROTTLE_LIMIT_LONG", 60_000, 100)?,
                auth: v.tier("AUTH_THROTTLE_TTL", "AUTH_THROTTLE_LIMIT", 60_000, 5)?,
                sensitive: v.tier(
                    "SENSITIVE_THROTTLE_TTL",
                    "SENSITIVE_THROTTLE_LIMIT",
                    300_000,
                    3,
                )?,
                checkin: v.tier("CHECKIN_THROTTLE_TTL", "CHECKIN_THROTTLE_LIMIT", 1_000, 20)?,
            },
            blocked_user_agents: v
                .list("BLOCKED_USER_AGENTS")
                .into_iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            cache_ttl: CacheTtls {
                short: v.secs("CACHE_TTL_SHORT", 60)?,
                medium: v.secs("CACHE_TTL_MEDIUM", 300)?,
                long: v.secs("CACHE_TTL_LONG", 900)?,
                very_long: v.secs("CACHE_TTL_VERY_LONG", 3600)?,
            },
            max_file_size: v.parse("MAX_FILE_SIZE", 5 * 1024 * 1024)?,
            max_document_size: v.parse("MAX_DOCUMENT_SIZE", 10 * 1024 * 1024)?,
            upload_dest: v.string("UPLOAD_DEST", "./data/uploads"),
            email: EmailConfig {
                transport: email_transport,
                host: v.string("EMAIL_HOST", "localhost"),
                port: v.parse("EMAIL_PORT", 587)?,
                user: v.get("EMAIL_USER").map(str::to_string),
                pass: Secret::new(v.string("EMAIL_PASS", "")),
                secure,
                from: v.string("EMAIL_FROM", "TicketMax <noreply@localhost>"),
                file_dir: v.string("EMAIL_FILE_DIR", "./data/mail"),
            },
            sms: SmsConfig {
                transport: sms_transport,
                account_sid: v.string("TWILIO_ACCOUNT_SID", ""),
                auth_token: Secret::new(v.string("TWILIO_AUTH_TOKEN", "")),
                from_number: v.string("TWILIO_PHONE_NUMBER", ""),
                base_url: v
                    .string("TWILIO_BASE_URL", "https://api.twilio.com")
                    .trim_end_matches('/')
                    .to_string(),
            },
            default_currency,
            booking_hold: Duration::from_secs(60 * v.parse::<u64>("BOOKING_HOLD_MINUTES", 10)?),
            cancellation_cutoff: Duration::from_secs(
                3600 * v.parse::<u64>("CANCELLATION_CUTOFF_HOURS", 24)?,
            ),
            cancellation_fee_cap: v.parse("CANCELLATION_FEE_CAP", 5000)?,
            metrics_token: v.get("METRICS_TOKEN").map(Secret::new),
            admin_email,
            admin_password,
            admin_seed_token: v.get("ADMIN_SEED_TOKEN").map(Secret::new),
            admin_notify_email: v.get("ADMIN_NOTIFY_EMAIL").map(str::to_string),
            request_timeout: v.secs("REQUEST_TIMEOUT_SECS", 30)?,
            shutdown_timeout: v.secs("SHUTDOWN_TIMEOUT_SECS", 20)?,
            outbox: OutboxConfig {
                max_attempts: v.parse("OUTBOX_MAX_ATTEMPTS", 8)?,
                poll_interval: v.millis("OUTBOX_POLL_MS", 1_000)?,
                workers: v.parse("OUTBOX_WORKERS", 2)?,
                batch_size: v.parse("OUTBOX_BATCH_SIZE", 100)?,
                concurrency: v.parse("OUTBOX_CONCURRENCY", 8)?,
                backoff_base: v.millis("OUTBOX_BACKOFF_BASE_MS", 2_000)?,
                backoff_max: v.millis("OUTBOX_BACKOFF_MAX_MS", 3_600_000)?,
                lease: v.millis("OUTBOX_LEASE_MS", 300_000)?,
                send_timeout: v.millis("OUTBOX_SEND_TIMEOUT_MS", 30_000)?,
            },
        };
        let o = &config.outbox;
        if o.max_attempts < 1 {
            return Err(bad("OUTBOX_MAX_ATTEMPTS", "must be at least 1"));
        }
        if o.workers < 1 {
            return Err(bad("OUTBOX_WORKERS", "must be at least 1"));
        }
        if !(1..=1000).contains(&o.batch_size) {
            return Err(bad("OUTBOX_BATCH_SIZE", "must be from 1 to 1000"));
        }
        if o.concurrency < 1 {
            return Err(bad("OUTBOX_CONCURRENCY", "must be at least 1"));
        }
        if o.poll_interval.is_zero() {
            return Err(bad("OUTBOX_POLL_MS", "must be greater than zero"));
        }
        if o.lease <= o.send_timeout {
            return Err(bad(
                "OUTBOX_LEASE_MS",
                "must be longer than OUTBOX_SEND_TIMEOUT_MS, or a slow delivery could be taken twice",
            ));
        }
        if config.email.transport == EmailTransport::Smtp && v.get("EMAIL_HOST").is_none() {
            return Err(bad("EMAIL_HOST", "is required when EMAIL_TRANSPORT=smtp"));
        }
        if config.sms.transport == SmsTransport::Twilio
            && (config.sms.account_sid.is_empty()
                || config.sms.auth_token.is_empty()
                || config.sms.from_number.is_empty())
        {
            return Err(bad(
                "TWILIO_ACCOUNT_SID",
                "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER are required when SMS_TRANSPORT=twilio",
            ));
        }
        Ok(config)
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

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("abc"), None);
    }

    /// Every variable the parser reads is documented in `.env.example` and the README table.
    #[test]
    fn every_variable_is_documented() {
        let source = include_str!("config.rs");
        let example = include_str!("../.env.example");
        let readme = include_str!("../README.md");
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
    fn invalid_port_names_the_variable() {
        let err = Config::from_map(&map(&[("PORT", "eighty")])).unwrap_err();
        assert_eq!(err.var, "PORT");
    }
}
