//! The test gateway's checkout driven end to end in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs): hold → pay on the page → the booking is
//! CONFIRMED and its ticket's QR image is served. The browser is driven by
//! [`crate::webdriver::Browser`].

use std::time::Duration;

use serde_json::json;

use crate::fixtures::{TypeSpec, published_event};
use crate::helpers::{Backend, TestApp};
use crate::webdriver::Browser;

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
