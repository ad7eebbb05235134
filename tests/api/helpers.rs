//! The test harness: [`TestApp`] starts the real router on a fresh database (a temporary SQLite
//! file, or a new schema on the PostgreSQL of `TEST_DATABASE_URL`) and talks to it over HTTP.

// Each test module uses the part of the harness it needs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use ticketmax::app::{self, AppState};
use ticketmax::config::Config;
use ticketmax::store::Store;
use ticketmax::users::model::{NewUser, Role, UserStatus};
use tokio::sync::oneshot;
use uuid::Uuid;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed test once per backend: `name::sqlite` and `name::postgres`.
///
/// Each name is an `async fn name(app: TestApp)` of the calling module; it receives a server on
/// a fresh database of the backend. The PostgreSQL run needs `TEST_DATABASE_URL`; without it,
/// it passes with a note, except in CI (`CI=true`), where a missing database fails the run.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(
                        $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await,
                    )
                    .await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if !$crate::helpers::postgres_available() {
                        return;
                    }
                    super::$name(
                        $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await,
                    )
                    .await
                }
            }
        )+
    };
}

/// Whether the PostgreSQL run should go ahead; panics in CI when it cannot.
pub fn postgres_available() -> bool {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("TEST_DATABASE_URL is required in CI: the PostgreSQL backend must be tested");
    }
    eprintln!("TEST_DATABASE_URL not set: PostgreSQL variant not run");
    false
}

/// The Redis of `TEST_REDIS_URL`, required in CI.
pub fn redis_url() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("TEST_REDIS_URL is required in CI: Redis-backed behaviour must be tested")
        }
        _ => {
            eprintln!("TEST_REDIS_URL not set: Redis variant not run");
            None
        }
    }
}

/// Settings every test starts from; tests override what they exercise.
pub fn base_env() -> HashMap<String, String> {
    [
        ("APP_ENV", "development"),
        ("JWT_SECRET", "test-secret-test-secret-test-secret-0123"),
        ("RATE_LIMIT_ENABLED", "false"),
        ("EMAIL_TRANSPORT", "log"),
        ("SMS_TRANSPORT", "log"),
        ("LOG_LEVEL", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A running server on a fresh database.
pub struct TestApp {
    /// Base URL, `http://127.0.0.1:port`.
    pub address: String,
    /// The server's state, for direct checks of storage.
    pub state: AppState,
    /// Which backend.
    pub backend: Backend,
    /// HTTP client (no redirects followed).
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<TempDir>,
}

/// A directory removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// A new empty directory under the system temp dir.
    pub fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "ticketmax-test-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builder for a [`TestApp`] with extra settings.
pub struct TestAppBuilder {
    backend: Backend,
    env: HashMap<String, String>,
    store: Option<Store>,
}

impl TestAppBuilder {
    /// Sets a variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    /// Shares an existing store (several instances on one database).
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Starts the server.
    pub async fn spawn(mut self) -> TestApp {
        let dir = TempDir::new();
        self.env
            .entry("UPLOAD_DEST".into())
            .or_insert_with(|| dir.0.join("uploads").display().to_string());
        self.env
            .entry("EMAIL_FILE_DIR".into())
            .or_insert_with(|| dir.0.join("mail").display().to_string());
        let store = match self.store.take() {
            Some(store) => store,
            None => fresh_store(self.backend, &dir).await,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        self.env
            .entry("PUBLIC_BASE_URL".into())
            .or_insert_with(|| format!("http://{addr}"));
        let config = Config::from_map(&self.env).expect("test config");
        let state = AppState::build(config, store).await.expect("app state");
        app::bootstrap(&state).await.expect("bootstrap");
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(app::serve_on(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        TestApp {
            address: format!("http://{addr}"),
            state,
            backend: self.backend,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            shutdown: Some(tx),
            server: Some(server),
            _dir: Some(dir),
        }
    }
}

/// Two instances on one database of `backend` with one Redis between them (a key prefix of their
/// own), as behind a load balancer; `None` without `TEST_REDIS_URL` (or PostgreSQL, when asked
/// for it) outside CI.
pub async fn pair(backend: Backend) -> Option<(TestApp, TestApp)> {
    let redis = redis_url()?;
    if backend == Backend::Postgres && !postgres_available() {
        return None;
    }
    let prefix = format!("test-{}:", Uuid::new_v4().simple());
    let a = TestApp::builder(backend)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let b = TestApp::builder(backend)
        .store(a.state.store.clone())
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    Some((a, b))
}

/// Opens a fresh, migrated database for one test.
pub async fn fresh_store(backend: Backend, dir: &TempDir) -> Store {
    let store = match backend {
        Backend::Sqlite => Store::open_sqlite_file(&dir.0.join("test.db"))
            .await
            .expect("sqlite"),
        Backend::Postgres => {
            let url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
            let schema = format!("t_{}", Uuid::new_v4().simple());
            let admin = Store::connect(&url, 2)
                .await
                .expect("postgres admin connection");
            if let Store::Postgres(pools) = &admin {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&pools.write)
                    .await
                    .expect("create schema");
            }
            admin.close().await;
            let options: PgConnectOptions = url.parse().expect("postgres url");
            let options = options.options([("search_path", schema.as_str())]);
            Store::connect_postgres(options, 8).await.expect("postgres")
        }
    };
    store.migrate().await.expect("migrations");
    store
}

/// An HTTP answer with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl TestResponse {
    /// `data` of a success envelope.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    /// `error.code` of an error envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status; body: {}",
            self.text
        );
        self
    }
    /// Asserts an error envelope with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        self.assert_status(status);
        assert_eq!(self.body["success"], false, "{}", self.text);
        assert_eq!(self.code(), code, "{}", self.text);
        assert!(self.body["message"].is_string(), "{}", self.text);
        assert!(self.body["timestamp"].is_string(), "{}", self.text);
        assert_eq!(
            self.body["requestId"].as_str(),
            self.header("x-request-id"),
            "requestId must equal X-Request-Id"
        );
        self
    }
}

/// Secrets the suite has learned (refresh-token hashes, one-time codes): no answer may
/// contain one.
static SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Adds a secret that no later answer may contain.
pub fn remember_secret(secret: String) {
    SECRETS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(secret);
}

/// Whether `needle` occurs in `text` as a whole token, not adjacent to other letters or digits:
/// codes are 6 digits, and one can occur by chance inside a random id's hex (`…a716321f…`).
fn contains_token(text: &str, needle: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(needle).any(|(i, _)| {
        let before = i
            .checked_sub(1)
            .is_some_and(|j| bytes[j].is_ascii_alphanumeric());
        let after = bytes
            .get(i + needle.len())
            .is_some_and(|b| b.is_ascii_alphanumeric());
        !(before || after)
    })
}

/// Fails the test when an answer carries a password hash or a known secret.
#[track_caller]
pub fn assert_no_secret(text: &str) {
    assert!(
        !text.contains("$argon2"),
        "an answer carries a password hash: {text}"
    );
    let secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for secret in secrets {
        assert!(
            !contains_token(text, &secret),
            "an answer carries a secret ({secret}): {text}"
        );
    }
}

/// A request being built.
pub struct RequestBuilder<'a> {
    app: &'a TestApp,
    inner: reqwest::RequestBuilder,
}

impl RequestBuilder<'_> {
    /// Bearer token.
    pub fn token(mut self, token: &str) -> Self {
        self.inner = self.inner.bearer_auth(token);
        self
    }
    /// A header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner = self.inner.header(name, value);
        self
    }
    /// A JSON body.
    pub fn json(mut self, body: &Value) -> Self {
        self.inner = self.inner.json(body);
        self
    }
    /// A raw body with a content type.
    pub fn body(mut self, content_type: &str, body: impl Into<reqwest::Body>) -> Self {
        self.inner = self.inner.header("content-type", content_type).body(body);
        self
    }
    /// Sends and reads the answer; every answer of the suite is checked for secrets.
    pub async fn send(self) -> TestResponse {
        let _ = self.app;
        let response = self.inner.send().await.expect("request failed");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_no_secret(&text);
        if let Some(token) = body["data"]["refreshToken"].as_str() {
            remember_secret(ticketmax::users::sessions::token_hash(token));
        }
        TestResponse {
            status,
            headers,
            text,
            body,
        }
    }
}

impl TestApp {
    /// A server with the base settings.
    pub async fn spawn(backend: Backend) -> Self {
        Self::builder(backend).spawn().await
    }

    /// A builder for extra settings.
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            env: base_env(),
            store: None,
        }
    }

    /// Starts a request.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            app: self,
            inner: self
                .client
                .request(method, format!("{}{}", self.address, path)),
        }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path).send().await
    }

    /// GET with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> TestResponse {
        self.request(Method::GET, path).token(token).send().await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.request(Method::POST, path).json(body).send().await
    }

    /// POST JSON with a bearer token.
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> TestResponse {
        self.request(Method::POST, path)
            .token(token)
            .json(body)
            .send()
            .await
    }

    /// PATCH JSON with a bearer token.
    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> TestResponse {
        self.request(Method::PATCH, path)
            .token(token)
            .json(body)
            .send()
            .await
    }

    /// DELETE with a bearer token.
    pub async fn delete_as(&self, token: &str, path: &str) -> TestResponse {
        self.request(Method::DELETE, path).token(token).send().await
    }

    /// Creates an ACTIVE, verified account directly in storage and returns its id and an
    /// access token.
    pub async fn create_user(&self, role: Role) -> (Uuid, String) {
        let email = format!(
            "{}-{}@example.com",
            role.as_str().to_lowercase(),
            Uuid::new_v4().simple()
        );
        let id = self
            .state
            .store
            .insert_user(&NewUser {
                email,
                // A fixed hash of "password123" keeps tests fast.
                password_hash: test_password_hash().to_string(),
                first_name: "Test".into(),
                last_name: "Person".into(),
                role,
                status: UserStatus::Active,
                email_verified: true,
            })
            .await
            .expect("insert user");
        (id, self.token_for(id, role))
    }

    /// An access token for an existing account at token version 0.
    pub fn token_for(&self, id: Uuid, role: Role) -> String {
        self.state
            .jwt
            .issue(id, role, Uuid::new_v4(), 0)
            .expect("token")
    }

    /// The code in the newest outbox message of a template to a recipient (remembered as a
    /// secret no answer may contain).
    pub async fn last_code(&self, recipient: &str, template: &str) -> String {
        let rows = self
            .state
            .store
            .messages_for(recipient)
            .await
            .expect("outbox");
        let row = rows
            .iter()
            .find(|m| m.template == template)
            .unwrap_or_else(|| panic!("no {template} message to {recipient}"));
        let payload: Value = serde_json::from_str(&row.payload).expect("payload JSON");
        let code = payload["code"]
            .as_str()
            .expect("code in payload")
            .to_string();
        remember_secret(code.clone());
        code
    }

    /// Waits until `recipient` has at least `count` outbox messages of `template`: some routes
    /// (forgot-password, resend-verification) answer at once and write their message in the
    /// background. Panics after 10 s.
    pub async fn wait_for_messages(&self, recipient: &str, template: &str, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let rows = self
                .state
                .store
                .messages_for(recipient)
                .await
                .expect("outbox");
            let found = rows.iter().filter(|m| m.template == template).count();
            if found >= count {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {count} {template} message(s) to {recipient}; found {found}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Registers an account through the API; returns its id.
    pub async fn register(&self, email: &str, password: &str) -> Uuid {
        let r = self
            .post(
                "/api/user/register",
                &serde_json::json!({"firstName": "Ada", "lastName": "Lovelace", "email": email, "password": password}),
            )
            .await;
        r.assert_status(201);
        r.data()["userId"].as_str().unwrap().parse().unwrap()
    }

    /// Registers and verifies an account through the API; returns its id.
    pub async fn register_verified(&self, email: &str, password: &str) -> Uuid {
        let id = self.register(email, password).await;
        let code = self.last_code(email, "verification_code").await;
        self.post(
            "/api/user/verify-email",
            &serde_json::json!({"email": email, "code": code}),
        )
        .await
        .assert_status(200);
        id
    }

    /// Logs in through the API.
    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post(
            "/api/user/login",
            &serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    /// Creates an ADMIN through storage and logs in for a real session; returns id and token.
    pub async fn admin(&self) -> (Uuid, String) {
        let email = format!("admin-{}@example.com", Uuid::new_v4().simple());
        let id = self
            .state
            .store
            .insert_user(&NewUser {
                email: email.clone(),
                password_hash: test_password_hash().to_string(),
                first_name: "Root".into(),
                last_name: "Admin".into(),
                role: Role::Admin,
                status: UserStatus::Active,
                email_verified: true,
            })
            .await
            .expect("insert admin");
        let r = self.login(&email, "password123").await;
        r.assert_status(200);
        (id, r.data()["accessToken"].as_str().unwrap().to_string())
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(handle) => handle.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The Argon2id hash of `password123`, computed once per test process.
pub fn test_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| ticketmax::users::password::hash_blocking("password123"))
}
