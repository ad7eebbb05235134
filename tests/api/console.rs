//! The console at `/admin` (API.md §11.76, WEB.md): sign-in through the API's login service
//! with a strict session cookie that follows the server-side session, CSRF on every form, the
//! organizer's and the admin's scopes, the dashboard's exact figures, an HTML and header check
//! of every page, and the main journey in headless Chromium with screenshots.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::dashboard::{History, seed};
use crate::helpers::TestApp;
use crate::onboarding::submitted;
use crate::pages::{Visitor, check_page, tags};
use crate::webdriver::Browser;

pub async fn email_of(app: &TestApp, id: Uuid) -> String {
    app.state.store.user_by_id(id).await.unwrap().unwrap().email
}

/// A visitor signed in as a new account of `role`; its id and the visitor.
pub async fn signed_in(app: &TestApp, role: Role) -> (Uuid, Visitor<'_>) {
    let (id, _) = app.create_user(role).await;
    let mut v = Visitor::new(app);
    let r = v.sign_in(&email_of(app, id).await, "password123").await;
    assert_eq!(r.status, 303, "{}", r.body);
    (id, v)
}

async fn organizers_and_admins_sign_in_with_a_strict_cookie_and_sign_out_ends_it(app: TestApp) {
    for role in [Role::Organizer, Role::Admin] {
        let (id, _) = app.create_user(role).await;
        let mut v = Visitor::new(&app);
        let r = v.sign_in(&email_of(&app, id).await, "password123").await;
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), "/admin");
        let cookie = r
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("tm_console=") && !c.starts_with("tm_console=;"))
            .expect("a session cookie")
            .to_string();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/;"] {
            assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
        }
        // Not production: no `Secure`, so the test server on http keeps it.
        assert!(!cookie.contains("Secure"), "{cookie}");
        // Nothing in the cookie is an API bearer.
        let value = v.cookies["tm_console"].clone();
        app.get_as(&value, "/api/user/profile")
            .await
            .assert_status(401);

        let home = v.get("/admin").await;
        assert_eq!(home.status, 200, "{}", home.body);
        let csrf = home.hidden("csrf");
        let out = v.post("/admin/logout", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, 303);
        assert_eq!(out.header("location"), "/admin/login");
        // The site-wide cookie is the one deleted.
        assert!(
            out.set_cookies()
                .iter()
                .any(|c| c.starts_with("tm_console=; Path=/;") && c.contains("Max-Age=0")),
            "{:?}",
            out.set_cookies()
        );

        // The old cookie, replayed, opens nothing: its session was revoked.
        let mut replay = Visitor::new(&app);
        replay.cookies.insert("tm_console".into(), value);
        let r = replay.get("/admin").await;
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), "/admin/login");
    }
}

async fn a_wrong_password_is_a_friendly_page_and_counts_toward_the_apis_lock(app: TestApp) {
    let (id, _) = app.create_user(Role::Organizer).await;
    let email = email_of(&app, id).await;
    let mut v = Visitor::new(&app);
    for _ in 0..3 {
        let r = v.sign_in(&email, "not-the-password").await;
        assert_eq!(r.status, 401);
        assert!(
            r.body
                .contains("That email and password do not match an account."),
            "{}",
            r.body
        );
        assert!(r.body.contains("aria-describedby=\"signin-error\""));
        assert!(!v.cookies.contains_key("tm_console"));
    }
    for _ in 0..2 {
        app.login(&email, "not-the-password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    // Five failures across both doors lock the account for both.
    let r = v.sign_in(&email, "password123").await;
    assert_eq!(r.status, 423, "{}", r.body);
    assert!(r.body.contains("locked"), "{}", r.body);
    app.login(&email, "password123")
        .await
        .assert_error(423, "ACCOUNT_LOCKED");

    // An unknown address gets the same answer as a wrong password.
    let r = v.sign_in("nobody@example.com", "password123").await;
    assert_eq!(r.status, 401);
}

async fn the_sign_in_spends_the_api_logins_rate_bucket_and_says_so_on_a_page(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("RATE_LIMIT_ENABLED", "true")
        .env("TRUST_PROXY", "127.0.0.1")
        .spawn()
        .await;
    let ip = "198.51.100.77";
    for i in 0..5 {
        app.request(Method::POST, "/api/user/login")
            .header("user-agent", "ticketmax-tests/1.0")
            .header("x-forwarded-for", ip)
            .json(&json!({"email": format!("a{i}@example.com"), "password": "whatever-pass"}))
            .send()
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let mut v = Visitor::new(&app);
    v.headers = vec![
        ("user-agent", "ticketmax-tests/1.0".into()),
        ("x-forwarded-for", ip.into()),
    ];
    let r = v.sign_in("a9@example.com", "whatever-pass").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(r.body.contains("Too many requests"), "{}", r.body);
    assert!(!r.header("retry-after").is_empty());
}

async fn a_user_gets_a_403_page_and_keeps_no_session(app: TestApp) {
    let (id, _) = app.create_user(Role::User).await;
    let mut v = Visitor::new(&app);
    let r = v.sign_in(&email_of(&app, id).await, "password123").await;
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("The console is for organizers"),
        "{}",
        r.body
    );
    assert!(!v.cookies.contains_key("tm_console"));
    let r = v.get("/admin").await;
    assert_eq!(r.status, 303);
}

async fn a_suspension_or_demotion_through_the_api_ends_the_console_at_once(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (org, mut v) = signed_in(&app, Role::Organizer).await;
    assert_eq!(v.get("/admin/events").await.status, 200);
    app.patch_as(
        &admin,
        &format!("/api/user/{org}/role"),
        &json!({"role": "USER"}),
    )
    .await
    .assert_status(200);
    let r = v.get("/admin/events").await;
    assert_eq!(r.status, 403, "{}", r.body);

    let (org, mut v) = signed_in(&app, Role::Organizer).await;
    app.patch_as(
        &admin,
        &format!("/api/user/{org}/status"),
        &json!({"status": "SUSPENDED"}),
    )
    .await
    .assert_status(200);
    let r = v.get("/admin").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/admin/login");
}

async fn a_form_without_the_sessions_csrf_token_changes_nothing(app: TestApp) {
    let (applicant, token) = app.create_user(Role::User).await;
    let application = submitted(&app, &token, "individual").await;
    let (_, mut v) = signed_in(&app, Role::Admin).await;
    let (_, admin) = app.admin().await;
    let approve = format!("/admin/applications/{application}/approve");

    let missing = v.post(&approve, &[]).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert!(missing.body.contains("Nothing was changed"));
    let wrong = v.post(&approve, &[("csrf", &"ab".repeat(32))]).await;
    assert_eq!(wrong.status, 403);
    // Another session's token is wrong too.
    let (_, mut other) = signed_in(&app, Role::Admin).await;
    let theirs = other.csrf().await;
    assert_eq!(v.post(&approve, &[("csrf", &theirs)]).await.status, 403);
    let under_review = app
        .get_as(
            &admin,
            "/api/organizer/admin/applications?status=UNDER_REVIEW",
        )
        .await;
    assert_eq!(under_review.data()[0]["id"], application.as_str());
    let suspend = v
        .post(
            &format!("/admin/users/{applicant}/status"),
            &[("status", "SUSPENDED")],
        )
        .await;
    assert_eq!(suspend.status, 403);
    let user = app.get_as(&admin, &format!("/api/user/{applicant}")).await;
    assert_eq!(user.data()["status"], "ACTIVE");
    // The sign-in form has its own token too.
    let r = v
        .post(
            "/admin/login",
            &[("email", "x@example.com"), ("password", "password123")],
        )
        .await;
    assert_eq!(r.status, 403);
}

async fn an_admin_decides_applications_and_changes_users_through_the_apis_services(app: TestApp) {
    let (applicant, token) = app.create_user(Role::User).await;
    let application = submitted(&app, &token, "individual").await;
    let (_, admin) = app.admin().await;
    let (_, mut v) = signed_in(&app, Role::Admin).await;
    let list = v.get("/admin/applications").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains(&format!("app-{application}")),
        "{}",
        list.body
    );
    let csrf = list.hidden("csrf");

    // A rejection needs its reason: a friendly message, and nothing changes.
    let r = v
        .post(
            &format!("/admin/applications/{application}/reject"),
            &[("csrf", &csrf), ("reason", "  ")],
        )
        .await;
    assert_eq!(r.status, 303);
    let back = v.get("/admin/applications").await;
    assert!(
        back.body.contains("reason must be 1 to 1000 characters"),
        "{}",
        back.body
    );

    let r = v
        .post(
            &format!("/admin/applications/{application}/approve"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/admin/applications");
    let after = v.get("/admin/applications").await;
    assert!(
        after.body.contains("Application approved"),
        "{}",
        after.body
    );
    let app_row = app
        .get_as(&admin, "/api/organizer/admin/applications?status=APPROVED")
        .await;
    assert_eq!(app_row.data()[0]["id"], application.as_str());
    let user = app.get_as(&admin, &format!("/api/user/{applicant}")).await;
    assert_eq!(user.data()["role"], "ORGANIZER");
    // Deciding again is the API's 409, shown as a message.
    v.post(
        &format!("/admin/applications/{application}/approve"),
        &[("csrf", &csrf)],
    )
    .await;
    let again = v.get("/admin/applications").await;
    assert!(
        again.body.contains("Only an application UNDER_REVIEW"),
        "{}",
        again.body
    );

    // Role and status changes are the admin routes', audited the same way.
    let r = v
        .post(
            &format!("/admin/users/{applicant}/status"),
            &[("csrf", &csrf), ("status", "SUSPENDED")],
        )
        .await;
    assert_eq!(r.status, 303);
    let user = app.get_as(&admin, &format!("/api/user/{applicant}")).await;
    assert_eq!(user.data()["status"], "SUSPENDED");
    let audit = app
        .get_as(
            &admin,
            &format!("/api/admin/audit-log?action=user.status_change&targetId={applicant}"),
        )
        .await;
    assert_eq!(audit.body["meta"]["total"], 1);
    let page = v.get("/admin/audit?action=user.status_change").await;
    assert!(page.body.contains("user.status_change"), "{}", page.body);
    let found = v
        .get(&format!(
            "/admin/users?q={}",
            email_of(&app, applicant).await
        ))
        .await;
    assert!(found.body.contains("SUSPENDED"));
}

async fn an_organizer_sees_only_their_events_and_no_admin_page(app: TestApp) {
    let h: History = seed(&app).await;
    let mut v = Visitor::new(&app);
    let r = v
        .sign_in(&email_of(&app, h.org_a.0).await, "password123")
        .await;
    assert_eq!(r.status, 303);
    let events = v.get("/admin/events").await;
    assert_eq!(events.status, 200);
    assert!(events.body.contains("Dev Summit"), "{}", events.body);
    assert!(events.body.contains(&h.ea1.to_string()));
    assert!(!events.body.contains("B Night"));
    assert!(!events.body.contains(&h.eb1.to_string()));
    let theirs = v.get(&format!("/admin/events/{}", h.eb1)).await;
    assert_eq!(theirs.status, 404);
    let mine = v.get(&format!("/admin/events/{}", h.ea1)).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert!(mine.body.contains("TM-DASH0001"));
    for admin_only in [
        "/admin/applications",
        "/admin/users",
        "/admin/audit",
        "/admin/blocked-ips",
        "/admin/notifications",
    ] {
        let r = v.get(admin_only).await;
        assert_eq!(r.status, 403, "{admin_only}");
        assert!(r.body.contains("Admins only"));
    }
    // The export is the dashboard's, scoped to the organizer.
    let csv = v.get("/admin/export?type=bookings&format=csv").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    assert!(csv.header("content-disposition").starts_with("attachment"));
    assert!(csv.body.contains("TM-DASH0001") && !csv.body.contains("TM-DASH0011"));
}

async fn the_overview_shows_the_dashboards_exact_figures(app: TestApp) {
    let h = seed(&app).await;
    let march = "/admin?from=2026-03-01&to=2026-04-01";
    let mut org = Visitor::new(&app);
    org.sign_in(&email_of(&app, h.org_a.0).await, "password123")
        .await;
    let page = org.get(march).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for figure in [
        "<dd id=\"revenue\"><span class=\"amount\">₦180.00</span>, <span class=\"amount\">$40.00</span></dd>",
        "<dd id=\"tickets-sold\">9</dd>",
        "<dd id=\"orders\">6</dd>",
        "<dd id=\"average-order\"><span class=\"amount\">₦45.00</span>, <span class=\"amount\">$20.00</span></dd>",
        "85.7%",
        "200.0%",
    ] {
        assert!(
            page.body.contains(figure),
            "{figure} missing from {}",
            page.body
        );
    }
    // The series is dense (31 days) and lists the March 1st sale.
    assert_eq!(
        page.body.matches("<tr><th scope=\"row\">2026-03-").count(),
        31
    );
    assert!(
        page.body
            .contains("<th scope=\"row\">2026-03-01</th><td data-value=\"100.0\">₦100.00</td>")
    );

    let (_, mut admin) = signed_in(&app, Role::Admin).await;
    let page = admin.get(march).await;
    assert!(page.body.contains("₦230.00"), "{}", page.body);
    assert!(page.body.contains("₦38.33"));
    assert!(page.body.contains("Platform overview"));
}

async fn every_console_page_passes_the_html_check(app: TestApp) {
    let h = seed(&app).await;
    let (_, token) = app.create_user(Role::User).await;
    submitted(&app, &token, "individual").await;
    let mut anonymous = Visitor::new(&app);
    let login = anonymous.get("/admin/login").await;
    check_page("/admin/login", &login);
    let wrong = anonymous
        .sign_in("nobody@example.com", "wrong-password")
        .await;
    check_page("sign-in error", &wrong);
    let (id, _) = app.create_user(Role::User).await;
    let refused = Visitor::new(&app)
        .sign_in(&email_of(&app, id).await, "password123")
        .await;
    check_page("refusal", &refused);

    let (_, mut admin) = signed_in(&app, Role::Admin).await;
    let missing = admin.post("/admin/logout", &[]).await;
    check_page("csrf refusal", &missing);
    for path in [
        "/admin".to_string(),
        "/admin?period=year".to_string(),
        "/admin/events".to_string(),
        format!("/admin/events/{}", h.ea1),
        format!("/admin/events/{}?q=ada&status=CONFIRMED", h.ea1),
        "/admin/applications".to_string(),
        "/admin/users".to_string(),
        "/admin/audit".to_string(),
        "/admin/blocked-ips".to_string(),
        "/admin/notifications".to_string(),
        format!("/admin/events/{}", Uuid::now_v7()),
    ] {
        let page = admin.get(&path).await;
        assert!(
            page.status == 200 || page.status == 404,
            "{path}: {}",
            page.status
        );
        check_page(&path, &page);
    }
    let mut org = Visitor::new(&app);
    org.sign_in(&email_of(&app, h.org_b.0).await, "password123")
        .await;
    let forbidden = org.get("/admin/users").await;
    check_page("admins only", &forbidden);

    // The stylesheet and scripts come from hashed URLs, cached for a year.
    let page = admin.get("/admin").await;
    for tag in tags(&page.body) {
        let url = match tag.0.as_str() {
            "link" => tag.1.get("href").cloned(),
            "script" => tag.1.get("src").cloned(),
            _ => None,
        };
        if let Some(url) = url.filter(|u| u.starts_with("/static/")) {
            let r = app.get(&url).await;
            r.assert_status(200);
            assert_eq!(
                r.header("cache-control"),
                Some("public, max-age=31536000, immutable")
            );
        }
    }
    assert_eq!(app.get("/static/console.css").await.status, 404);
}

both_backends!(
    organizers_and_admins_sign_in_with_a_strict_cookie_and_sign_out_ends_it,
    a_wrong_password_is_a_friendly_page_and_counts_toward_the_apis_lock,
    a_user_gets_a_403_page_and_keeps_no_session,
    the_sign_in_spends_the_api_logins_rate_bucket_and_says_so_on_a_page,
    a_suspension_or_demotion_through_the_api_ends_the_console_at_once,
    a_form_without_the_sessions_csrf_token_changes_nothing,
    an_admin_decides_applications_and_changes_users_through_the_apis_services,
    an_organizer_sees_only_their_events_and_no_admin_page,
    the_overview_shows_the_dashboards_exact_figures,
    every_console_page_passes_the_html_check,
    an_admin_walks_the_console_in_a_real_browser,
);

async fn an_admin_walks_the_console_in_a_real_browser(app: TestApp) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let h = seed(&app).await;
    let (applicant, token) = app.create_user(Role::User).await;
    submitted(&app, &token, "individual").await;
    let (admin_id, _) = app.create_user(Role::Admin).await;
    let backend = format!("{:?}", app.backend).to_lowercase();
    let shot =
        |name: &str| crate::pages::artifacts("console").join(format!("{backend}-{name}.png"));

    browser.goto(&format!("{}/admin/login", app.address)).await;
    browser
        .type_into("#email", &email_of(&app, admin_id).await)
        .await;
    browser.type_into("#password", "password123").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("Platform overview", 10).await;
    browser
        .goto(&format!(
            "{}/admin?from=2026-03-01&to=2026-04-01",
            app.address
        ))
        .await;
    let page = browser.wait_for("u-over", 5).await;
    assert!(
        page.contains("₦230.00") && page.contains("$40.00"),
        "{page}"
    );
    assert!(
        page.contains("class=\"uplot"),
        "the chart was drawn: {page}"
    );
    browser.screenshot(390, &shot("overview-390")).await;
    browser.screenshot(1280, &shot("overview-1280")).await;

    browser
        .goto(&format!("{}/admin/applications", app.address))
        .await;
    browser.screenshot(1280, &shot("applications-1280")).await;
    browser.click("button.approve").await;
    let page = browser.wait_for("Application approved", 10).await;
    assert!(page.contains("Application approved"), "{page}");
    let (_, admin) = app.admin().await;
    let user = app.get_as(&admin, &format!("/api/user/{applicant}")).await;
    assert_eq!(user.data()["role"], "ORGANIZER");

    browser
        .goto(&format!("{}/admin/events/{}", app.address, h.ea1))
        .await;
    let page = browser
        .wait_for("Live: new bookings appear here.", 10)
        .await;
    assert!(page.contains("Live: new bookings"), "{page}");
    let types = app
        .state
        .store
        .event_record(h.ea1)
        .await
        .unwrap()
        .unwrap()
        .types;
    let booked = app
        .post(
            "/api/bookings/guest",
            &json!({"eventId": h.ea1, "ticketTypeId": types[0].id, "quantity": 2,
                    "customerEmail": "live@example.com", "customerName": "Live Buyer"}),
        )
        .await;
    booked.assert_status(201);
    let reference = booked.data()["reference"].as_str().unwrap().to_string();
    let page = browser.wait_for(&reference, 15).await;
    assert!(
        page.contains(&reference),
        "the new booking did not appear: {page}"
    );
    browser.screenshot(390, &shot("event-390")).await;
    browser.screenshot(1280, &shot("event-1280")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    browser.call(Method::DELETE, "", None).await;
}
