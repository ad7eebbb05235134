//! The test gateway's checkout driven end to end in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs): hold → pay on the page → the booking is
//! CONFIRMED and its ticket's QR image is served. The browser is driven through ChromeDriver's
//! W3C WebDriver protocol with the HTTP client the suite already has.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixtures::{TypeSpec, published_event};
use crate::helpers::{Backend, TestApp};

/// A ChromeDriver process and one headless Chromium session, ended when dropped.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Browser {
    /// Starts ChromeDriver and a session; `None` (outside CI) when Chromium is not installed.
    async fn start() -> Option<Self> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let driver_bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let (Some(chromium), Some(driver_bin)) = (chromium, driver_bin) else {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
                "Chromium and ChromeDriver are required in CI (apt-get install chromium chromium-driver)"
            );
            eprintln!("Chromium not installed: browser test not run");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        ticketmax::notify::install_crypto_provider();
        let http = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
                }
            }}}))
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session answer");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Some(Self {
            driver,
            base,
            session,
            http,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let answer: Value = req
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn click(&self, css: &str) {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string();
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_pays_on_the_test_checkout_page_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, _, event, types) = published_event(&app, &[TypeSpec::paid(5)]).await;
    let g = app
        .post(
            "/api/bookings/guest",
            &json!({"eventId": event, "ticketTypeId": types[0], "quantity": 1,
                    "customerEmail": "browser@example.com", "customerName": "Bea Browser"}),
        )
        .await;
    g.assert_status(201);
    let token = g.data()["guestToken"].as_str().unwrap().to_string();
    let id = g.data()["id"].as_str().unwrap().to_string();
    let started = app
        .post_as(
            &token,
            "/api/payments/initiate",
            &json!({"bookingId": id, "gateway": "test"}),
        )
        .await;
    started.assert_status(201);
    let url = started.data()["authorizationUrl"]
        .as_str()
        .unwrap()
        .to_string();

    browser.goto(&url).await;
    let page = browser.source().await;
    assert!(
        page.contains("Test checkout") && page.contains("5,000.00 NGN"),
        "{page}"
    );
    browser.click("button[value=pay]").await;
    let mut result = String::new();
    for _ in 0..50 {
        result = browser.source().await;
        if result.contains("Payment received") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(result.contains("Payment received"), "{result}");

    let b = app.get_as(&token, &format!("/api/bookings/{id}")).await;
    b.assert_status(200);
    assert_eq!(b.data()["status"], "CONFIRMED");
    let ticket = b.data()["tickets"][0]["id"].as_str().unwrap().to_string();
    let qr = app
        .get_as(&token, &format!("/api/bookings/{id}/tickets/{ticket}/qr"))
        .await;
    qr.assert_status(200);
    assert_eq!(qr.header("content-type"), Some("image/png"));
    browser.call(reqwest::Method::DELETE, "", None).await;
}
