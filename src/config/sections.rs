//! One reader per section of the settings (server, logging, database, Redis, auth, admin, rate
//! limits, cache, files, email, SMS, bookings, outbox), and the check that production refuses
//! unsafe secrets. Each reader validates its own section.

use std::net::IpAddr;
use std::time::Duration;

use super::vars::Vars;
use super::{
    AppEnv, CacheTtls, ConfigError, EmailConfig, EmailTransport, EncryptionKeys, LogFormat,
    OutboxConfig, PaymentsConfig, RateLimits, S3Config, Secret, SmsCaps, SmsConfig, SmsTransport,
    Storage, bad,
};

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

pub(super) fn app_env(v: &Vars) -> Result<AppEnv, ConfigError> {
    match v
        .string("APP_ENV", "development")
        .to_ascii_lowercase()
        .as_str()
    {
        "development" | "dev" | "test" => Ok(AppEnv::Development),
        "production" | "prod" => Ok(AppEnv::Production),
        other => Err(bad(
            "APP_ENV",
            format!("expected development or production, got {other:?}"),
        )),
    }
}

/// Production refuses a missing or weak JWT secret, a short ticket signing key, a weak or
/// default password for the first admin, and a missing encryption key. Runs before the other readers, so that [`auth`] never
/// falls back to a random secret in production.
pub(super) fn check_production(v: &Vars) -> Result<(), ConfigError> {
    let Some(jwt_secret) = v.get("JWT_SECRET") else {
        return Err(bad("JWT_SECRET", "is required in production"));
    };
    if jwt_secret.len() < 32 || WEAK_SECRETS.contains(&jwt_secret) {
        return Err(bad(
            "JWT_SECRET",
            "must be at least 32 bytes and not a well-known value in production",
        ));
    }
    if v.get("TICKET_SIGNING_KEY").is_some_and(|k| k.len() < 32) {
        return Err(bad(
            "TICKET_SIGNING_KEY",
            "must be at least 32 bytes in production",
        ));
    }
    if v.get("ADMIN_EMAIL").is_some() {
        let pw = v.get("ADMIN_PASSWORD").unwrap_or("");
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
    if v.get("ENCRYPTION_KEY").is_none() {
        return Err(bad(
            "ENCRYPTION_KEY",
            "is required when APP_ENV=production (32 bytes as 64 hex digits or base64)",
        ));
    }
    Ok(())
}

/// The HTTP front: where it listens, its paths and links, who may call it, and its deadlines.
pub(super) struct Server {
    pub port: u16,
    pub api_prefix: String,
    pub public_base_url: String,
    pub cors_origins: Vec<String>,
    pub trust_proxy: Vec<IpAddr>,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
}

pub(super) fn server(v: &Vars) -> Result<Server, ConfigError> {
    let port: u16 = v.parse("PORT", 3000)?;
    let mut trust_proxy = Vec::new();
    for entry in v.list("TRUST_PROXY") {
        let ip = entry
            .parse()
            .map_err(|_| bad("TRUST_PROXY", format!("{entry:?} is not an IP address")))?;
        trust_proxy.push(ip);
    }
    Ok(Server {
        port,
        api_prefix: format!("/{}", v.string("API_PREFIX", "api").trim_matches('/')),
        public_base_url: v
            .string("PUBLIC_BASE_URL", &format!("http://localhost:{port}"))
            .trim_end_matches('/')
            .to_string(),
        cors_origins: v.list("CORS_ORIGINS"),
        trust_proxy,
        request_timeout: v.secs("REQUEST_TIMEOUT_SECS", 30)?,
        shutdown_timeout: v.secs("SHUTDOWN_TIMEOUT_SECS", 20)?,
    })
}

pub(super) struct Logging {
    pub format: LogFormat,
    /// The default `tracing` filter.
    pub level: String,
}

/// JSON logs by default in production, pretty ones otherwise.
pub(super) fn logging(v: &Vars, app_env: AppEnv) -> Result<Logging, ConfigError> {
    let format = match v.get("LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
        Some("json") => LogFormat::Json,
        Some("pretty") | Some("text") => LogFormat::Pretty,
        None if app_env == AppEnv::Production => LogFormat::Json,
        None => LogFormat::Pretty,
        Some(other) => {
            return Err(bad(
                "LOG_FORMAT",
                format!("expected pretty or json, got {other:?}"),
            ));
        }
    };
    Ok(Logging {
        format,
        level: v.string("LOG_LEVEL", "info"),
    })
}

pub(super) struct Database {
    pub url: String,
    pub max_connections: u32,
}

pub(super) fn database(v: &Vars) -> Result<Database, ConfigError> {
    Ok(Database {
        url: v.string("DATABASE_URL", "sqlite://./data/ticketmax.db"),
        max_connections: v.parse("DATABASE_MAX_CONNECTIONS", 10)?,
    })
}

pub(super) struct Redis {
    pub url: Option<Secret>,
    pub prefix: String,
}

/// `REDIS_URL`, or one built from `REDIS_HOST`, `REDIS_PORT` and `REDIS_PASSWORD`.
pub(super) fn redis(v: &Vars) -> Redis {
    let url = match v.get("REDIS_URL") {
        Some(url) => Some(Secret::new(url)),
        None => v.get("REDIS_HOST").map(|host| {
            let port = v.string("REDIS_PORT", "6379");
            match v.get("REDIS_PASSWORD") {
                Some(pw) => Secret::new(format!("redis://:{pw}@{host}:{port}")),
                None => Secret::new(format!("redis://{host}:{port}")),
            }
        }),
    };
    Redis {
        url,
        prefix: v.string("REDIS_PREFIX", "ticketmax:"),
    }
}

/// Token keys and lifetimes.
pub(super) struct Auth {
    pub jwt_secret: Secret,
    pub jwt_expires_in: Duration,
    pub refresh_token_expires_in: Duration,
    pub ticket_signing_key: Secret,
}

pub(super) fn auth(v: &Vars) -> Result<Auth, ConfigError> {
    // In production `check_production` has already refused a missing secret.
    let jwt_secret = match v.get("JWT_SECRET") {
        Some(s) => Secret::new(s),
        None => {
            tracing::warn!("JWT_SECRET is not set: using a random secret, sessions end at restart");
            random_secret()
        }
    };
    let ticket_signing_key = match v.get("TICKET_SIGNING_KEY") {
        Some(s) => Secret::new(s),
        // Derived from the JWT secret so a single secret is enough to run.
        None => Secret::new(format!("ticket:{}", jwt_secret.expose())),
    };
    Ok(Auth {
        jwt_secret,
        jwt_expires_in: v.duration("JWT_EXPIRES_IN", "15m")?,
        refresh_token_expires_in: v.duration("REFRESH_TOKEN_EXPIRES_IN", "30d")?,
        ticket_signing_key,
    })
}

fn random_secret() -> Secret {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(hex::encode(bytes))
}

/// Operator access: the first admin, the seed token, where admins are told of applications,
/// and the bearer of `/metrics`.
pub(super) struct Admin {
    pub email: Option<String>,
    pub password: Secret,
    pub seed_token: Option<Secret>,
    pub notify_email: Option<String>,
    pub metrics_token: Option<Secret>,
}

pub(super) fn admin(v: &Vars) -> Admin {
    Admin {
        email: v.get("ADMIN_EMAIL").map(str::to_string),
        password: Secret::new(v.string("ADMIN_PASSWORD", "")),
        seed_token: v.get("ADMIN_SEED_TOKEN").map(Secret::new),
        notify_email: v.get("ADMIN_NOTIFY_EMAIL").map(str::to_string),
        metrics_token: v.get("METRICS_TOKEN").map(Secret::new),
    }
}

/// The rate-limit tiers and the refused user agents.
pub(super) struct Limits {
    pub rate_limits: RateLimits,
    /// Lower-cased, matched as substrings.
    pub blocked_user_agents: Vec<String>,
    /// Failed logins from one IP (across accounts) in 10 minutes that block it; `None`: never.
    pub ip_block_login_failures: Option<u32>,
}

pub(super) fn limits(v: &Vars) -> Result<Limits, ConfigError> {
    let rate_limits = RateLimits {
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
    };
    Ok(Limits {
        rate_limits,
        ip_block_login_failures: v.cap("IP_BLOCK_LOGIN_FAILURES", 20)?,
        blocked_user_agents: v
            .list("BLOCKED_USER_AGENTS")
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .collect(),
    })
}

pub(super) fn cache_ttls(v: &Vars) -> Result<CacheTtls, ConfigError> {
    Ok(CacheTtls {
        short: v.secs("CACHE_TTL_SHORT", 60)?,
        medium: v.secs("CACHE_TTL_MEDIUM", 300)?,
        long: v.secs("CACHE_TTL_LONG", 900)?,
        very_long: v.secs("CACHE_TTL_VERY_LONG", 3600)?,
    })
}

/// Upload limits and where uploads go.
pub(super) struct Files {
    pub max_file_size: usize,
    pub max_document_size: usize,
    pub upload_dest: String,
}

pub(super) fn files(v: &Vars) -> Result<Files, ConfigError> {
    Ok(Files {
        max_file_size: v.parse("MAX_FILE_SIZE", 5 * 1024 * 1024)?,
        max_document_size: v.parse("MAX_DOCUMENT_SIZE", 10 * 1024 * 1024)?,
        upload_dest: v.string("UPLOAD_DEST", "./data/uploads"),
    })
}

/// Where uploads are kept: the local `UPLOAD_DEST` (default) or an S3-compatible bucket, which
/// needs its name and credentials.
pub(super) fn storage(v: &Vars) -> Result<Storage, ConfigError> {
    #[derive(Clone, Copy)]
    enum Backend {
        Local,
        S3,
    }
    let backend = v.choice(
        "STORAGE_BACKEND",
        Backend::Local,
        &[("local", Backend::Local), ("s3", Backend::S3)],
        "expected local or s3",
    )?;
    if let Backend::Local = backend {
        return Ok(Storage::Local);
    }
    let required = |key: &'static str| {
        v.get(key)
            .map(str::to_string)
            .ok_or_else(|| bad(key, "is required when STORAGE_BACKEND=s3"))
    };
    Ok(Storage::S3(S3Config {
        bucket: required("S3_BUCKET")?,
        endpoint: v
            .get("S3_ENDPOINT")
            .map(|e| e.trim_end_matches('/').to_string()),
        region: v.string("S3_REGION", "us-east-1"),
        access_key_id: required("S3_ACCESS_KEY_ID")?,
        secret_access_key: Secret::new(required("S3_SECRET_ACCESS_KEY")?),
    }))
}

/// The keys of data at rest, each 32 bytes written as 64 hex digits or base64.
pub(super) fn encryption(v: &Vars) -> Result<EncryptionKeys, ConfigError> {
    const EXPECTED: &str = "expected 32 bytes as 64 hex digits or base64";
    let current = match v.get("ENCRYPTION_KEY") {
        None => None,
        Some(raw) => {
            Some(crate::crypto::parse_key(raw).ok_or_else(|| bad("ENCRYPTION_KEY", EXPECTED))?)
        }
    };
    let previous = v
        .list("ENCRYPTION_KEYS_PREVIOUS")
        .iter()
        .map(|raw| {
            crate::crypto::parse_key(raw).ok_or_else(|| bad("ENCRYPTION_KEYS_PREVIOUS", EXPECTED))
        })
        .collect::<Result<_, _>>()?;
    Ok(EncryptionKeys { current, previous })
}

/// Email settings; SMTP needs an explicit `EMAIL_HOST`.
pub(super) fn email(v: &Vars) -> Result<EmailConfig, ConfigError> {
    let transport = v.choice(
        "EMAIL_TRANSPORT",
        EmailTransport::Log,
        &[
            ("smtp", EmailTransport::Smtp),
            ("file", EmailTransport::File),
            ("log", EmailTransport::Log),
        ],
        "expected smtp, file or log",
    )?;
    let secure = match v.get("EMAIL_SECURE") {
        None => None,
        Some(_) => Some(v.boolean("EMAIL_SECURE", false)?),
    };
    let email = EmailConfig {
        transport,
        host: v.string("EMAIL_HOST", "localhost"),
        port: v.parse("EMAIL_PORT", 587)?,
        user: v.get("EMAIL_USER").map(str::to_string),
        pass: Secret::new(v.string("EMAIL_PASS", "")),
        secure,
        require_tls: v.boolean("EMAIL_REQUIRE_TLS", false)?,
        from: v.string("EMAIL_FROM", "TicketMax <noreply@localhost>"),
        file_dir: v.string("EMAIL_FILE_DIR", "./data/mail"),
    };
    if email.transport == EmailTransport::Smtp && v.get("EMAIL_HOST").is_none() {
        return Err(bad("EMAIL_HOST", "is required when EMAIL_TRANSPORT=smtp"));
    }
    Ok(email)
}

/// SMS settings; Twilio needs its account, token and number. The hourly caps bound what the
/// SMS of one number, or of everyone, can cost (`0` lifts a cap).
pub(super) fn sms(v: &Vars) -> Result<SmsConfig, ConfigError> {
    let transport = v.choice(
        "SMS_TRANSPORT",
        SmsTransport::Log,
        &[("twilio", SmsTransport::Twilio), ("log", SmsTransport::Log)],
        "expected twilio or log",
    )?;
    let sms = SmsConfig {
        transport,
        account_sid: v.string("TWILIO_ACCOUNT_SID", ""),
        auth_token: Secret::new(v.string("TWILIO_AUTH_TOKEN", "")),
        from_number: v.string("TWILIO_PHONE_NUMBER", ""),
        base_url: v
            .string("TWILIO_BASE_URL", "https://api.twilio.com")
            .trim_end_matches('/')
            .to_string(),
        caps: SmsCaps {
            per_number: v.cap("SMS_MAX_PER_NUMBER_PER_HOUR", 5)?,
            total: v.cap("SMS_MAX_PER_HOUR", 500)?,
        },
    };
    if sms.transport == SmsTransport::Twilio
        && (sms.account_sid.is_empty() || sms.auth_token.is_empty() || sms.from_number.is_empty())
    {
        return Err(bad(
            "TWILIO_ACCOUNT_SID",
            "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER are required when SMS_TRANSPORT=twilio",
        ));
    }
    Ok(sms)
}

/// Payment gateways: each real one is enabled by its secret key; the test gateway by default
/// outside production.
pub(super) fn payments(v: &Vars, env: AppEnv) -> Result<PaymentsConfig, ConfigError> {
    let url =
        |key: &'static str, default: &str| v.string(key, default).trim_end_matches('/').to_string();
    let p = PaymentsConfig {
        default_gateway: v.get("PAYMENT_GATEWAY").map(str::to_ascii_lowercase),
        test_gateway: v.boolean("PAYMENT_TEST_GATEWAY", env != AppEnv::Production)?,
        hold_extension: Duration::from_secs(
            60 * v.parse::<u64>("PAYMENT_HOLD_EXTENSION_MINUTES", 15)?,
        ),
        paystack_secret_key: Secret::new(v.string("PAYSTACK_SECRET_KEY", "")),
        paystack_base_url: url("PAYSTACK_BASE_URL", "https://api.paystack.co"),
        flutterwave_secret_key: Secret::new(v.string("FLUTTERWAVE_SECRET_KEY", "")),
        flutterwave_webhook_hash: Secret::new(v.string("FLUTTERWAVE_WEBHOOK_HASH", "")),
        flutterwave_base_url: url("FLUTTERWAVE_BASE_URL", "https://api.flutterwave.com"),
        stripe_secret_key: Secret::new(v.string("STRIPE_SECRET_KEY", "")),
        stripe_webhook_secret: Secret::new(v.string("STRIPE_WEBHOOK_SECRET", "")),
        stripe_base_url: url("STRIPE_BASE_URL", "https://api.stripe.com"),
    };
    if let Some(name) = &p.default_gateway
        && !["paystack", "flutterwave", "stripe", "test"].contains(&name.as_str())
    {
        return Err(bad(
            "PAYMENT_GATEWAY",
            "expected paystack, flutterwave, stripe or test",
        ));
    }
    if !p.flutterwave_secret_key.is_empty() && p.flutterwave_webhook_hash.is_empty() {
        return Err(bad(
            "FLUTTERWAVE_WEBHOOK_HASH",
            "is required with FLUTTERWAVE_SECRET_KEY: webhooks could not be checked",
        ));
    }
    if !p.stripe_secret_key.is_empty() && p.stripe_webhook_secret.is_empty() {
        return Err(bad(
            "STRIPE_WEBHOOK_SECRET",
            "is required with STRIPE_SECRET_KEY: webhooks could not be checked",
        ));
    }
    Ok(p)
}

/// Money and booking rules.
pub(super) struct Bookings {
    pub default_currency: String,
    pub default_timezone: String,
    pub hold: Duration,
    pub cancellation_cutoff: Duration,
    pub cancellation_fee_cap: i64,
    pub guest_max_holds_per_ip: i64,
    pub max_streams_per_ip: usize,
    pub max_open_streams: usize,
}

pub(super) fn bookings(v: &Vars) -> Result<Bookings, ConfigError> {
    let default_currency = v.string("DEFAULT_CURRENCY", "NGN").to_ascii_uppercase();
    if default_currency.len() != 3 || !default_currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(bad(
            "DEFAULT_CURRENCY",
            "expected an ISO 4217 code such as NGN",
        ));
    }
    let default_timezone = v.string("DEFAULT_TIMEZONE", "UTC");
    if default_timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(bad(
            "DEFAULT_TIMEZONE",
            "expected an IANA time zone name such as Africa/Lagos or UTC",
        ));
    }
    Ok(Bookings {
        default_currency,
        default_timezone,
        hold: Duration::from_secs(60 * v.parse::<u64>("BOOKING_HOLD_MINUTES", 10)?),
        cancellation_cutoff: Duration::from_secs(
            3600 * v.parse::<u64>("CANCELLATION_CUTOFF_HOURS", 24)?,
        ),
        cancellation_fee_cap: v.parse("CANCELLATION_FEE_CAP", 5000)?,
        guest_max_holds_per_ip: v.parse("GUEST_MAX_HOLDS_PER_IP", 25)?,
        max_streams_per_ip: v.parse("MAX_STREAMS_PER_IP", 20)?,
        max_open_streams: v.parse("MAX_OPEN_STREAMS", 10_000)?,
    })
}

/// Outbox worker settings, refusing values that would stall delivery or send a message twice.
pub(super) fn outbox(v: &Vars) -> Result<OutboxConfig, ConfigError> {
    let o = OutboxConfig {
        max_attempts: v.parse("OUTBOX_MAX_ATTEMPTS", 8)?,
        poll_interval: v.millis("OUTBOX_POLL_MS", 1_000)?,
        workers: v.parse("OUTBOX_WORKERS", 2)?,
        batch_size: v.parse("OUTBOX_BATCH_SIZE", 100)?,
        concurrency: v.parse("OUTBOX_CONCURRENCY", 8)?,
        backoff_base: v.millis("OUTBOX_BACKOFF_BASE_MS", 2_000)?,
        backoff_max: v.millis("OUTBOX_BACKOFF_MAX_MS", 3_600_000)?,
        lease: v.millis("OUTBOX_LEASE_MS", 300_000)?,
        send_timeout: v.millis("OUTBOX_SEND_TIMEOUT_MS", 30_000)?,
    };
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
    Ok(o)
}
