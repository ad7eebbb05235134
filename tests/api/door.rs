//! The door at `/door`: the console's sign-in (coming back to the door), the event picker's
//! scope, each verdict of a code (checked in, already, invalid, wrong event) decided by the
//! check-in service, CSRF, the JSON answer of the scanner script, the camera's permissions
//! policy, the HTML check, and the manual entry walked in headless Chromium with screenshots.

use reqwest::Method;
use serde_json::{Value, json};
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::console::{email_of, signed_in};
use crate::fixtures::{create, event_body};
use crate::helpers::TestApp;
use crate::pages::{Page, Visitor, check_page, tags};
use crate::webdriver::Browser;

/// A published event of the organizer `token`, with one free ticket type, in Lagos time,
/// starting in `days` days: its id and its ticket type's id.
async fn free_event(app: &TestApp, token: &str, title: &str, days: i64) -> (String, String) {
    let mut body = event_body(title, days);
    body["timezone"] = json!("Africa/Lagos");
    body["ticketTypes"] = json!([{"name": "Regular", "price": 0, "capacity": 50}]);
    let e = create(app, token, &body).await;
    let id = e["id"].as_str().unwrap().to_string();
    let ty = e["ticketTypes"][0]["id"].as_str().unwrap().to_string();
    (id, ty)
}

/// A confirmed booking of `quantity` free tickets by a new buyer: the booking and its codes.
async fn confirmed(app: &TestApp, event: &str, ty: &str, quantity: i64) -> (Value, Vec<String>) {
    let (_, buyer) = app.create_user(Role::User).await;
    let r = app
        .post_as(
            &buyer,
            "/api/bookings",
            &json!({"eventId": event, "ticketTypeId": ty, "quantity": quantity,
                    "customerName": "Ada Door"}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.data()["status"], "CONFIRMED");
    let codes = r.data()["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap().to_string())
        .collect();
    let mut booking = r.data().clone();
    booking["buyerToken"] = json!(buyer);
    (booking, codes)
}

/// When a code was checked in, through the API (`null` when it was not).
async fn checked_in_at(app: &TestApp, token: &str, code: &str) -> Value {
    let r = app
        .post_as(token, "/api/checkin/verify", &json!({"code": code}))
        .await;
    r.assert_status(200);
    r.data()["checkedInAt"].clone()
}

/// Opens the sign-in form at `/admin/login?next=…` and signs in; the answer.
async fn sign_in_to(v: &mut Visitor<'_>, login: &str, email: &str, next: Option<&str>) -> Page {
    let form = v.get(login).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.hidden("csrf");
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("email", email),
        ("password", "password123"),
    ];
    if let Some(next) = next {
        fields.push(("next", next));
    }
    v.post("/admin/login", &fields).await
}

async fn a_signed_out_visitor_signs_in_and_comes_back_to_the_door(app: TestApp) {
    let (org, token) = app.create_user(Role::Organizer).await;
    let (event, _) = free_event(&app, &token, "Door Night", 10).await;
    let email = email_of(&app, org).await;
    let mut v = Visitor::new(&app);

    let r = v.get("/door").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/admin/login?next=/door");
    let r = v.get(&format!("/door/{event}")).await;
    assert_eq!(r.status, 303);
    let login = r.header("location").to_string();
    assert_eq!(login, format!("/admin/login?next=/door/{event}"));

    // The form carries `next` on, and the sign-in goes there.
    let form = v.get(&login).await;
    assert_eq!(form.hidden("next"), format!("/door/{event}"));
    let r = sign_in_to(&mut v, &login, &email, Some(&format!("/door/{event}"))).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), format!("/door/{event}"));
    let cookie = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("tm_console=") && !c.starts_with("tm_console=;"))
        .expect("a session cookie")
        .to_string();
    assert!(
        cookie.contains("Path=/;") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let page = v.get(&format!("/door/{event}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Door Night"));
    // Signed in, the sign-in page sends straight on to `next`.
    let r = v.get(&login).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), format!("/door/{event}"));

    // Another site is never a destination: the sign-in lands on the console.
    for evil in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/door",
    ] {
        let mut v = Visitor::new(&app);
        let encoded: String = form_urlencoded::byte_serialize(evil.as_bytes()).collect();
        let login = format!("/admin/login?next={encoded}");
        let form = v.get(&login).await;
        assert!(
            !form.body.contains("name=\"next\""),
            "{evil}: {}",
            form.body
        );
        let r = sign_in_to(&mut v, &login, &email, Some(evil)).await;
        assert_eq!(r.status, 303, "{evil}");
        assert_eq!(r.header("location"), "/admin", "{evil}");
    }

    // A buyer's account gets the console's refusal; so does an organizer demoted since.
    let mut buyer = Visitor::new(&app);
    let (user, _) = app.create_user(Role::User).await;
    let r = sign_in_to(
        &mut buyer,
        "/admin/login?next=/door",
        &email_of(&app, user).await,
        Some("/door"),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("The console is for organizers"));
    let (_, admin) = app.admin().await;
    app.patch_as(
        &admin,
        &format!("/api/user/{org}/role"),
        &json!({"role": "USER"}),
    )
    .await
    .assert_status(200);
    let r = v.get(&format!("/door/{event}")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("The console is for organizers"));
}

async fn the_picker_lists_the_organizers_coming_events_and_no_one_elses(app: TestApp) {
    let (org, token) = app.create_user(Role::Organizer).await;
    let (later, _) = free_event(&app, &token, "Later Gala", 20).await;
    let (soon, _) = free_event(&app, &token, "Soon Fest", 5).await;
    let mut draft = event_body("Draft Show", 8);
    draft["status"] = json!("DRAFT");
    let draft = create(&app, &token, &draft).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, other_token) = app.create_user(Role::Organizer).await;
    let (theirs, _) = free_event(&app, &other_token, "Their Party", 6).await;

    let mut v = Visitor::new(&app);
    let r = sign_in_to(&mut v, "/admin/login", &email_of(&app, org).await, None).await;
    assert_eq!(r.status, 303);
    let page = v.get("/door").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let at = |id: &str| page.body.find(&format!("href=\"/door/{id}\""));
    let (Some(first), Some(second)) = (at(&soon), at(&later)) else {
        panic!("both events listed: {}", page.body);
    };
    assert!(first < second, "soonest first");
    assert!(at(&draft).is_none() && at(&theirs).is_none());
    assert!(page.body.contains("WAT (Africa/Lagos)"), "{}", page.body);
    let found = v.get("/door?q=gala").await;
    assert!(found.body.contains(&later) && !found.body.contains(&soon));

    // Another organizer's scanner does not exist for this one; nor does a made-up event.
    let r = v.get(&format!("/door/{theirs}")).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        v.get(&format!("/door/{}", Uuid::now_v7())).await.status,
        404
    );
    assert_eq!(v.get("/door/not-an-id").await.status, 404);

    // The console leads to the door: in its navigation and from the event's page.
    let console = v.get(&format!("/admin/events/{soon}")).await;
    assert!(console.body.contains("href=\"/door\""));
    assert!(console.body.contains(&format!("href=\"/door/{soon}\"")));

    // An admin picks among everyone's events and scans any of them.
    let (_, mut admin) = signed_in(&app, Role::Admin).await;
    let page = admin.get("/door").await;
    assert!(page.body.contains(&theirs) && page.body.contains(&soon));
    assert_eq!(admin.get(&format!("/door/{theirs}")).await.status, 200);
}

async fn each_code_gets_its_verdict_and_a_wrong_event_ticket_stays_unscanned(app: TestApp) {
    let (org, token) = app.create_user(Role::Organizer).await;
    let (event, ty) = free_event(&app, &token, "Main Night", 10).await;
    let (other, other_ty) = free_event(&app, &token, "Second Night", 11).await;
    let (booking, codes) = confirmed(&app, &event, &ty, 2).await;
    let (_, elsewhere) = confirmed(&app, &other, &other_ty, 1).await;
    let (cancelled, cancelled_codes) = confirmed(&app, &event, &ty, 1).await;
    let reference = booking["reference"].as_str().unwrap();
    let mut v = Visitor::new(&app);
    sign_in_to(&mut v, "/admin/login", &email_of(&app, org).await, None).await;
    let path = format!("/door/{event}/check-in");

    let page = v.get(&format!("/door/{event}")).await;
    assert!(
        page.body.contains("<span id=\"count-in\">0</span> checked in / <span id=\"count-sold\">3</span> tickets sold"),
        "{}",
        page.body
    );
    assert!(page.body.contains("WAT (Africa/Lagos)"));
    let csrf = page.hidden("csrf");

    // Without the session's token nothing happens.
    let r = v.post(&path, &[("code", &codes[0])]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Nothing was changed"));
    let r = v
        .post(&path, &[("csrf", &"ab".repeat(32)), ("code", &codes[0])])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(checked_in_at(&app, &token, &codes[0]).await, Value::Null);

    // A good ticket checks in, once.
    let r = v.post(&path, &[("csrf", &csrf), ("code", &codes[0])]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("class=\"door-result valid\" role=\"alert\""),
        "{}",
        r.body
    );
    assert!(r.body.contains("Checked in"));
    assert!(
        r.body
            .contains(&format!("Regular · Ada Door · {reference}")),
        "{}",
        r.body
    );
    assert!(r.body.contains("<span id=\"count-in\">1</span>"));
    let at = checked_in_at(&app, &token, &codes[0]).await;
    assert!(at.is_string());

    let r = v.post(&path, &[("csrf", &csrf), ("code", &codes[0])]).await;
    assert!(
        r.body.contains("class=\"door-result already\""),
        "{}",
        r.body
    );
    assert!(r.body.contains("Already checked in"));
    assert!(
        r.body.contains("This ticket was checked in at ") && r.body.contains("WAT (Africa/Lagos)."),
        "{}",
        r.body
    );
    assert!(r.body.contains("<span id=\"count-in\">1</span>"));
    assert_eq!(checked_in_at(&app, &token, &codes[0]).await, at);

    // A forged code, and a code that was never a ticket.
    // (One character of the signature changed; the last one also carries unused bits.)
    let mut forged: Vec<char> = codes[1].chars().collect();
    let middle = forged.len() - 5;
    forged[middle] = if forged[middle] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    for code in [forged.as_str(), "not-a-ticket"] {
        let r = v.post(&path, &[("csrf", &csrf), ("code", code)]).await;
        assert!(
            r.body.contains("class=\"door-result invalid\""),
            "{}",
            r.body
        );
        assert!(r.body.contains("Unknown or forged code"), "{}", r.body);
    }

    // A genuine ticket of the organizer's other event is refused and stays unscanned.
    let r = v
        .post(&path, &[("csrf", &csrf), ("code", &elsewhere[0])])
        .await;
    assert!(
        r.body.contains("class=\"door-result wrong_event\""),
        "{}",
        r.body
    );
    assert!(r.body.contains("Wrong event") && r.body.contains("Second Night"));
    assert_eq!(
        checked_in_at(&app, &token, &elsewhere[0]).await,
        Value::Null
    );

    // A ticket of a cancelled booking says so.
    let id = cancelled["id"].as_str().unwrap();
    let buyer = cancelled["buyerToken"].as_str().unwrap();
    app.post_as(buyer, &format!("/api/bookings/{id}/cancel"), &json!({}))
        .await
        .assert_status(200);
    let status = app
        .get_as(buyer, &format!("/api/bookings/{id}"))
        .await
        .data()["status"]
        .as_str()
        .unwrap()
        .to_string();
    let r = v
        .post(&path, &[("csrf", &csrf), ("code", &cancelled_codes[0])])
        .await;
    assert!(
        r.body.contains("class=\"door-result invalid\""),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains(&format!("This ticket belongs to a {status} booking")),
        "{}",
        r.body
    );

    // The script's JSON answer.
    v.headers = vec![("accept", "application/json".into())];
    let r = v.post(&path, &[("csrf", &csrf), ("code", &codes[1])]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("application/json"));
    let answer: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(answer["result"], "valid");
    assert_eq!(answer["heading"], "Checked in");
    assert_eq!(answer["ticketType"], "Regular");
    assert_eq!(answer["customerName"], "Ada Door");
    assert_eq!(answer["reference"], reference);
    assert_eq!(answer["seat"], "2 of 2");
    assert_eq!(answer["counts"], json!({"checkedIn": 2, "sold": 2}));
    assert_eq!(
        answer["checkedInAt"],
        checked_in_at(&app, &token, &codes[1]).await
    );
    let again: Value = serde_json::from_str(
        &v.post(&path, &[("csrf", &csrf), ("code", &codes[1])])
            .await
            .body,
    )
    .unwrap();
    assert_eq!(again["result"], "already");
    assert_eq!(again["checkedInAt"], answer["checkedInAt"]);
    let wrong: Value = serde_json::from_str(
        &v.post(&path, &[("csrf", &csrf), ("code", &elsewhere[0])])
            .await
            .body,
    )
    .unwrap();
    assert_eq!(wrong["result"], "wrong_event");
    assert!(wrong.get("customerName").is_none());
    let forged: Value = serde_json::from_str(
        &v.post(&path, &[("csrf", &csrf), ("code", &forged)])
            .await
            .body,
    )
    .unwrap();
    assert_eq!(forged["result"], "invalid");
    assert_eq!(forged["reason"], "unknown");
    let refused = v.post(&path, &[("code", &elsewhere[0])]).await;
    assert_eq!(refused.status, 403);
    let refused: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(refused["result"], "error");
    assert_eq!(
        checked_in_at(&app, &token, &elsewhere[0]).await,
        Value::Null
    );
}

async fn only_the_door_may_use_the_camera(app: TestApp) {
    let (org, token) = app.create_user(Role::Organizer).await;
    let (event, _) = free_event(&app, &token, "Camera Night", 3).await;
    let door = "camera=(self), microphone=(), geolocation=()";
    let elsewhere = "camera=(), microphone=(), geolocation=()";
    let mut anonymous = Visitor::new(&app);
    assert_eq!(
        anonymous.get("/door").await.header("permissions-policy"),
        door
    );
    let mut v = Visitor::new(&app);
    sign_in_to(&mut v, "/admin/login", &email_of(&app, org).await, None).await;
    for path in ["/door".to_string(), format!("/door/{event}")] {
        let page = v.get(&path).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.header("permissions-policy"), door, "{path}");
    }
    let csrf = v.get("/door").await.hidden("csrf");
    let r = v
        .post(
            &format!("/door/{event}/check-in"),
            &[("csrf", &csrf), ("code", "x")],
        )
        .await;
    assert_eq!(r.header("permissions-policy"), door);
    for path in [
        "/admin",
        "/admin/events",
        "/health",
        "/api/events",
        "/doorway",
    ] {
        let page = v.get(path).await;
        assert_eq!(page.header("permissions-policy"), elsewhere, "{path}");
    }
}

async fn the_door_pages_pass_the_html_check(app: TestApp) {
    let (org, token) = app.create_user(Role::Organizer).await;
    let (event, ty) = free_event(&app, &token, "Checked Night", 3).await;
    let (_, codes) = confirmed(&app, &event, &ty, 1).await;
    let mut v = Visitor::new(&app);
    sign_in_to(&mut v, "/admin/login", &email_of(&app, org).await, None).await;
    let picker = v.get("/door").await;
    check_page("/door", &picker);
    let empty = v.get("/door?q=nothing-like-this").await;
    check_page("/door?q=", &empty);
    let scanner = v.get(&format!("/door/{event}")).await;
    check_page("/door/{id}", &scanner);
    let csrf = scanner.hidden("csrf");
    let result = v
        .post(
            &format!("/door/{event}/check-in"),
            &[("csrf", &csrf), ("code", &codes[0])],
        )
        .await;
    check_page("check-in result", &result);
    check_page(
        "not found",
        &v.get(&format!("/door/{}", Uuid::now_v7())).await,
    );

    // The scanner's form: labelled, not autocompleted, posting to the event's check-in.
    assert!(
        scanner
            .body
            .contains("<label for=\"code\">Ticket code</label>")
    );
    assert!(scanner.body.contains("autocomplete=\"off\""));
    assert!(
        scanner
            .body
            .contains(&format!("action=\"/door/{event}/check-in\""))
    );
    // It loads one small script; jsQR only by that script, when the browser needs it.
    let scripts: Vec<String> = tags(&scanner.body)
        .into_iter()
        .filter(|(n, _, _)| n == "script")
        .filter_map(|(_, a, _)| a.get("src").cloned())
        .collect();
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    assert!(scripts[0].starts_with("/static/scanner."));
    let door = tags(&scanner.body)
        .into_iter()
        .find(|(_, a, _)| a.get("id").map(String::as_str) == Some("door"))
        .expect("the scanner's root");
    let jsqr = door.1["data-jsqr"].clone();
    assert!(jsqr.starts_with("/static/jsQR."), "{jsqr}");
    for url in [&scripts[0], &jsqr] {
        let r = app.get(url).await;
        r.assert_status(200);
        assert_eq!(
            r.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
    }
}

async fn a_check_in_at_the_door_spends_the_check_in_tier_of_its_user(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("RATE_LIMIT_ENABLED", "true")
        .env("CHECKIN_THROTTLE_LIMIT", "3")
        .env("CHECKIN_THROTTLE_TTL", "60000")
        .spawn()
        .await;
    let (org, token) = app.create_user(Role::Organizer).await;
    let (event, _) = free_event(&app, &token, "Busy Gate", 3).await;
    let mut v = Visitor::new(&app);
    v.headers = vec![("user-agent", "ticketmax-tests/1.0".into())];
    sign_in_to(&mut v, "/admin/login", &email_of(&app, org).await, None).await;
    let csrf = v.get(&format!("/door/{event}")).await.hidden("csrf");
    let path = format!("/door/{event}/check-in");
    for left in ["2", "1", "0"] {
        let r = v.post(&path, &[("csrf", &csrf), ("code", "x")]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("ratelimit-limit"), "3");
        assert_eq!(r.header("ratelimit-remaining"), left);
    }
    // Past it, a page says so (not the API's JSON).
    let r = v.post(&path, &[("csrf", &csrf), ("code", "x")]).await;
    assert_eq!(r.status, 429);
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(r.body.contains("Too many requests"), "{}", r.body);
}

/// Where screenshots go: `target/screenshots/` (beside `CARGO_TARGET_TMPDIR`, so it follows
/// `CARGO_TARGET_DIR`).
fn screenshots() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("screenshots")
}

async fn an_organizer_checks_a_ticket_in_by_hand_in_a_real_browser(app: TestApp) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (org, token) = app.create_user(Role::Organizer).await;
    let (event, ty) = free_event(&app, &token, "Browser Night", 3).await;
    let (_, codes) = confirmed(&app, &event, &ty, 1).await;
    let backend = format!("{:?}", app.backend).to_lowercase();
    let shot = |name: &str| screenshots().join(format!("door-{backend}-{name}.png"));

    browser
        .call(
            Method::POST,
            "/window/rect",
            Some(json!({"width": 390, "height": 844})),
        )
        .await;
    // Signed out, the door leads through the sign-in and back.
    browser.goto(&format!("{}/door/{event}", app.address)).await;
    browser.wait_for("Sign in to the console", 10).await;
    browser
        .type_into("#email", &email_of(&app, org).await)
        .await;
    browser.type_into("#password", "password123").await;
    browser.click("button[type=submit]").await;
    let page = browser.wait_for("tickets sold", 10).await;
    assert!(page.contains("Browser Night"), "{page}");

    for expected in ["Checked in", "Already checked in"] {
        browser.type_into("#code", &codes[0]).await;
        browser.click("#door-form button[type=submit]").await;
        let page = browser
            .wait_for(&format!("</span> {expected}</p>"), 10)
            .await;
        assert!(
            page.contains(&format!("</span> {expected}</p>")),
            "{expected}: {page}"
        );
        if expected == "Checked in" {
            assert!(page.contains("<span id=\"count-in\">1</span>"), "{page}");
            browser.screenshot(390, &shot("390-verdict")).await;
        }
        // The full-screen verdict clears itself.
        tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    }
    browser.screenshot(390, &shot("390")).await;
    let page = browser.source().await;
    assert!(page.contains("id=\"door-overlay\""), "{page}");
    browser.screenshot(1280, &shot("1280")).await;
    assert!(checked_in_at(&app, &token, &codes[0]).await.is_string());
    browser.call(Method::DELETE, "", None).await;
}

/// A Y4M video (the format Chromium's fake camera plays, looping) showing `text` as a QR code,
/// black on white, written to `path`.
fn qr_video(text: &str, path: &std::path::Path) {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("a QR code");
    let modules = code.width();
    let colors = code.to_colors();
    let (w, h, scale) = (640usize, 480usize, 8usize);
    let side = (modules + 8) * scale;
    let (left, top) = ((w - side) / 2, (h - side) / 2);
    let mut luma = vec![235u8; w * h];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + 4, i / modules + 4);
        for y in 0..scale {
            let row = (top + my * scale + y) * w;
            let start = row + left + mx * scale;
            luma[start..start + scale].fill(16);
        }
    }
    let chroma = vec![128u8; w * h / 4];
    let mut file = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..5 {
        file.extend_from_slice(b"FRAME\n");
        file.extend_from_slice(&luma);
        file.extend_from_slice(&chroma);
        file.extend_from_slice(&chroma);
    }
    std::fs::write(path, file).expect("write the fake camera's video");
}

async fn the_camera_reads_a_ticket_once_however_long_it_is_held_up(app: TestApp) {
    let (org, token) = app.create_user(Role::Organizer).await;
    let (event, ty) = free_event(&app, &token, "Camera Gate", 3).await;
    let (_, codes) = confirmed(&app, &event, &ty, 1).await;
    let dir = crate::helpers::TempDir::new();
    let video = dir.0.join("ticket.y4m");
    qr_video(&codes[0], &video);
    let Some(browser) = Browser::start_with(&[
        "--use-fake-ui-for-media-stream".to_string(),
        "--use-fake-device-for-media-stream".to_string(),
        format!("--use-file-for-fake-video-capture={}", video.display()),
    ])
    .await
    else {
        return;
    };
    browser
        .goto(&format!("{}/admin/login?next=/door/{event}", app.address))
        .await;
    browser
        .type_into("#email", &email_of(&app, org).await)
        .await;
    browser.type_into("#password", "password123").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("tickets sold", 10).await;
    browser.click("#camera-toggle").await;
    let page = browser.wait_for("</span> Checked in</p>", 20).await;
    assert!(page.contains("</span> Checked in</p>"), "{page}");
    assert!(checked_in_at(&app, &token, &codes[0]).await.is_string());
    // Headless Chromium on Linux has no BarcodeDetector: jsQR was fetched, by the script only.
    let native = browser
        .call(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": "return 'BarcodeDetector' in window;", "args": []})),
        )
        .await;
    if native == json!(false) {
        assert!(page.contains("<script src=\"/static/jsQR."), "{page}");
    }
    // Held in front of the camera, the same ticket is not sent again.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let page = browser.source().await;
    assert!(!page.contains("Already checked in"), "{page}");
    assert!(page.contains("<span id=\"count-in\">1</span>"), "{page}");
    browser.call(Method::DELETE, "", None).await;
}

both_backends!(
    a_signed_out_visitor_signs_in_and_comes_back_to_the_door,
    the_picker_lists_the_organizers_coming_events_and_no_one_elses,
    each_code_gets_its_verdict_and_a_wrong_event_ticket_stays_unscanned,
    only_the_door_may_use_the_camera,
    a_check_in_at_the_door_spends_the_check_in_tier_of_its_user,
    the_door_pages_pass_the_html_check,
    an_organizer_checks_a_ticket_in_by_hand_in_a_real_browser,
    the_camera_reads_a_ticket_once_however_long_it_is_held_up,
);
