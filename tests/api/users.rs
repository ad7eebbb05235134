//! Accounts and authentication (API.md §2, §11.8–12, 55, 66, 68, 87).

use crate::both_backends;
use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::json;
use ticketmax::users::model::Role;

const PW: &str = "correct-horse-1";

fn reg(email: &str) -> serde_json::Value {
    json!({"firstName": "Ada", "lastName": "Lovelace", "email": email, "password": PW})
}

async fn logged_in(app: &TestApp, email: &str) -> (String, String) {
    app.register_verified(email, PW).await;
    let r = app.login(email, PW).await;
    r.assert_status(200);
    (
        r.data()["accessToken"].as_str().unwrap().to_string(),
        r.data()["refreshToken"].as_str().unwrap().to_string(),
    )
}

async fn register_creates_an_inactive_user_and_emails_a_hashed_code(app: TestApp) {
    let r = app.post("/api/user/register", &json!({
        "firstName": "Ada", "lastName": "Lovelace", "email": "Ada@Example.com", "password": PW,
        "phone": "+2348012345678", "dateOfBirth": "1990-05-01", "bio": "hi",
        "address": {"city": "Lagos", "country": "NG"},
        "preferences": {"notifications": {"sms": true}, "language": "fr"}
    })).await;
    r.assert_status(201);
    assert_eq!(r.data()["email"], "ada@example.com");
    assert_eq!(r.data()["emailVerified"], false);
    let code = app.last_code("ada@example.com", "verification_code").await;
    assert_eq!(code.len(), 6);
    let row = app
        .state
        .store
        .user_by_email("ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.role.as_str()),
        ("INACTIVE", "USER")
    );
    let prefs: serde_json::Value = serde_json::from_str(&row.preferences).unwrap();
    assert_eq!(
        prefs,
        json!({"notifications": {"email": true, "sms": true, "push": false}, "language": "fr"})
    );
    let msgs = app
        .state
        .store
        .messages_for("ada@example.com")
        .await
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&msgs[0].payload).unwrap();
    assert_eq!(payload["expiresInMinutes"], 10);
    assert_eq!(payload["firstName"], "Ada");
}

async fn register_rejects_a_role_field_bad_fields_and_a_taken_email(app: TestApp) {
    let mut body = reg("a@example.com");
    body["role"] = json!("ADMIN");
    app.post("/api/user/register", &body)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let r = app.post("/api/user/register", &json!({
        "firstName": "A", "lastName": "L".repeat(51), "email": "nope", "password": "short", "phone": "0801"
    })).await;
    r.assert_error(400, "VALIDATION_FAILED");
    let fields: Vec<_> = r.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        vec!["firstName", "lastName", "email", "password", "phone"]
    );
    app.register("a@example.com", PW).await;
    app.post("/api/user/register", &reg("A@example.com"))
        .await
        .assert_error(409, "EMAIL_TAKEN");
}

async fn verify_email_activates_once_and_sends_the_welcome_email(app: TestApp) {
    app.register("v@example.com", PW).await;
    app.login("v@example.com", PW)
        .await
        .assert_error(403, "EMAIL_NOT_VERIFIED");
    let code = app.last_code("v@example.com", "verification_code").await;
    let r = app
        .post(
            "/api/user/verify-email",
            &json!({"email": "v@example.com", "code": code}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "ACTIVE");
    assert_eq!(r.data()["emailVerified"], true);
    let msgs = app.state.store.messages_for("v@example.com").await.unwrap();
    assert!(msgs.iter().any(|m| m.template == "welcome"));
    // Single use.
    app.post(
        "/api/user/verify-email",
        &json!({"email": "v@example.com", "code": code}),
    )
    .await
    .assert_error(401, "INVALID_TOKEN");
    app.login("v@example.com", PW).await.assert_status(200);
}

async fn five_wrong_codes_burn_the_verification_code(app: TestApp) {
    app.register("b@example.com", PW).await;
    let code = app.last_code("b@example.com", "verification_code").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.post(
            "/api/user/verify-email",
            &json!({"email": "b@example.com", "code": wrong}),
        )
        .await
        .assert_error(401, "INVALID_TOKEN");
    }
    app.post(
        "/api/user/verify-email",
        &json!({"email": "b@example.com", "code": code}),
    )
    .await
    .assert_error(401, "INVALID_TOKEN");
}

async fn resend_verification_voids_the_previous_code_and_never_reveals_accounts(app: TestApp) {
    app.register("r@example.com", PW).await;
    let first = app.last_code("r@example.com", "verification_code").await;
    app.post(
        "/api/user/resend-verification",
        &json!({"email": "r@example.com"}),
    )
    .await
    .assert_status(200);
    app.post(
        "/api/user/resend-verification",
        &json!({"email": "nobody@example.com"}),
    )
    .await
    .assert_status(200);
    // The new code is written after the answer.
    app.wait_for_messages("r@example.com", "verification_code", 2)
        .await;
    let second = app.last_code("r@example.com", "verification_code").await;
    if first != second {
        app.post(
            "/api/user/verify-email",
            &json!({"email": "r@example.com", "code": first}),
        )
        .await
        .assert_error(401, "INVALID_TOKEN");
    }
    app.post(
        "/api/user/verify-email",
        &json!({"email": "r@example.com", "code": second}),
    )
    .await
    .assert_status(200);
}

async fn an_expired_code_is_refused(app: TestApp) {
    app.register("x@example.com", PW).await;
    let code = app.last_code("x@example.com", "verification_code").await;
    let past = chrono::Utc::now() - chrono::Duration::minutes(11);
    match &app.state.store {
        ticketmax::store::Store::Sqlite(p) => {
            sqlx::query("UPDATE verification_codes SET expires_at = $1")
                .bind(past)
                .execute(&p.write)
                .await
                .unwrap();
        }
        ticketmax::store::Store::Postgres(p) => {
            sqlx::query("UPDATE verification_codes SET expires_at = $1")
                .bind(past)
                .execute(&p.write)
                .await
                .unwrap();
        }
    }
    app.post(
        "/api/user/verify-email",
        &json!({"email": "x@example.com", "code": code}),
    )
    .await
    .assert_error(401, "INVALID_TOKEN");
}

async fn login_returns_tokens_and_the_user_without_secrets(app: TestApp) {
    app.register_verified("l@example.com", PW).await;
    let r = app.login("L@example.com", PW).await;
    r.assert_status(200);
    assert_eq!(r.data()["tokenType"], "Bearer");
    assert_eq!(r.data()["expiresIn"], 900);
    assert_eq!(r.data()["user"]["email"], "l@example.com");
    assert!(r.data()["user"]["lastLoginAt"].is_string());
    assert!(r.data()["user"].get("passwordHash").is_none());
    let token = r.data()["accessToken"].as_str().unwrap();
    let me = app.get_as(token, "/api/user/profile").await;
    me.assert_status(200);
    assert_eq!(me.data()["email"], "l@example.com");
    for key in [
        "id",
        "firstName",
        "lastName",
        "phone",
        "role",
        "status",
        "emailVerified",
        "phoneVerified",
        "bio",
        "dateOfBirth",
        "address",
        "preferences",
        "lastLoginAt",
        "createdAt",
        "updatedAt",
    ] {
        assert!(me.data().get(key).is_some(), "{key} missing");
    }
}

async fn unknown_email_and_wrong_password_get_the_same_answer(app: TestApp) {
    app.register_verified("s@example.com", PW).await;
    let a = app.login("s@example.com", "wrong-password").await;
    let b = app.login("ghost@example.com", "wrong-password").await;
    a.assert_error(401, "INVALID_CREDENTIALS");
    b.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(a.body["message"], b.body["message"]);
}

async fn unknown_email_costs_as_much_time_as_a_wrong_password(app: TestApp) {
    app.register_verified("t@example.com", PW).await;
    let time = |email: &'static str| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            app.login(email, "wrong-password").await;
            started.elapsed()
        }
    };
    let _ = time("warmup@example.com").await;
    let known = time("t@example.com").await;
    let unknown = time("nobody@example.com").await;
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.4..2.5).contains(&ratio),
        "known {known:?} vs unknown {unknown:?}"
    );
}

/// Timed samples per path in the timing tests below (their median is compared).
const SAMPLES: usize = 15;

fn median(mut samples: Vec<std::time::Duration>) -> std::time::Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Fails when the median latency of an existing account's path and of an unknown email's
/// differ by more than a generous factor (an answer that takes longer for a real account tells
/// whether the email has one).
#[track_caller]
fn assert_same_cost(
    what: &str,
    known: Vec<std::time::Duration>,
    unknown: Vec<std::time::Duration>,
) {
    let (known, unknown) = (median(known), median(unknown));
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    assert!(
        (0.4..2.5).contains(&ratio),
        "{what}: median known {known:?} vs unknown {unknown:?}"
    );
}

/// Times one request and checks its status.
async fn timed(
    app: &TestApp,
    path: &str,
    body: serde_json::Value,
    status: u16,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    let r = app.post(path, &body).await;
    let elapsed = started.elapsed();
    r.assert_status(status);
    elapsed
}

async fn forgot_password_costs_as_much_time_for_an_unknown_email(app: TestApp) {
    app.register_verified("fk@example.com", PW).await;
    let path = "/api/user/forgot-password";
    timed(&app, path, json!({"email": "warmup@example.com"}), 200).await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        known.push(timed(&app, path, json!({"email": "fk@example.com"}), 200).await);
        // The code is really sent; waiting for it keeps one sample's work out of the next.
        app.wait_for_messages("fk@example.com", "password_reset_code", i + 1)
            .await;
        unknown.push(timed(&app, path, json!({"email": "nobody@example.com"}), 200).await);
    }
    assert_same_cost("forgot-password", known, unknown);
}

async fn resend_verification_costs_as_much_time_for_an_unknown_or_verified_email(app: TestApp) {
    app.register("rk@example.com", PW).await;
    app.register_verified("rv@example.com", PW).await;
    let path = "/api/user/resend-verification";
    timed(&app, path, json!({"email": "warmup@example.com"}), 200).await;
    let (mut unverified, mut verified, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        unverified.push(timed(&app, path, json!({"email": "rk@example.com"}), 200).await);
        // Registration sent the first code; each resend sends one more.
        app.wait_for_messages("rk@example.com", "verification_code", i + 2)
            .await;
        verified.push(timed(&app, path, json!({"email": "rv@example.com"}), 200).await);
        unknown.push(timed(&app, path, json!({"email": "nobody@example.com"}), 200).await);
    }
    assert_same_cost("resend-verification, verified", verified, unknown.clone());
    assert_same_cost("resend-verification, unverified", unverified, unknown);
}

async fn reset_password_costs_as_much_time_for_an_unknown_email(app: TestApp) {
    app.register_verified("xk@example.com", PW).await;
    let path = "/api/user/reset-password";
    let reset = |email: &str, code: &str| json!({"email": email, "code": code, "newPassword": "brand-new-pass"});
    timed(&app, path, reset("warmup@example.com", "123456"), 401).await;
    let (mut right, mut wrong, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        app.post(
            "/api/user/forgot-password",
            &json!({"email": "xk@example.com"}),
        )
        .await
        .assert_status(200);
        app.wait_for_messages("xk@example.com", "password_reset_code", i + 1)
            .await;
        let code = app.last_code("xk@example.com", "password_reset_code").await;
        let bad = if code == "000000" { "111111" } else { "000000" };
        wrong.push(timed(&app, path, reset("xk@example.com", bad), 401).await);
        unknown.push(timed(&app, path, reset("nobody@example.com", &code), 401).await);
        right.push(timed(&app, path, reset("xk@example.com", &code), 200).await);
    }
    assert_same_cost("reset-password, wrong code", wrong, unknown.clone());
    assert_same_cost("reset-password, right code", right, unknown);
}

async fn refresh_rotates_and_a_reused_token_revokes_the_family(app: TestApp) {
    let (_, first) = logged_in(&app, "f@example.com").await;
    let r = app
        .post("/api/user/refresh", &json!({"refreshToken": first}))
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["tokenType"], "Bearer");
    assert_eq!(r.data()["user"]["email"], "f@example.com");
    let second = r.data()["refreshToken"].as_str().unwrap().to_string();
    let access2 = r.data()["accessToken"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    // Reuse of the first: refused, and the family (second included) dies.
    app.post("/api/user/refresh", &json!({"refreshToken": first}))
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.post("/api/user/refresh", &json!({"refreshToken": second}))
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.get_as(&access2, "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post("/api/user/refresh", &json!({"refreshToken": "garbage"}))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

async fn logout_ends_the_session_and_its_access_token_at_once(app: TestApp) {
    let (access, refresh) = logged_in(&app, "o@example.com").await;
    let other = app.login("o@example.com", PW).await;
    let other_access = other.data()["accessToken"].as_str().unwrap().to_string();
    let r = app
        .post_as(
            &access,
            "/api/user/logout",
            &json!({"refreshToken": refresh}),
        )
        .await;
    r.assert_status(200);
    assert!(r.data().is_null());
    app.get_as(&access, "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post("/api/user/refresh", &json!({"refreshToken": refresh}))
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.get_as(&other_access, "/api/user/profile")
        .await
        .assert_status(200);
    app.post("/api/user/logout", &json!({"refreshToken": refresh}))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn forgot_and_reset_password_revoke_every_session_and_lift_the_lock(app: TestApp) {
    let (access, refresh) = logged_in(&app, "p@example.com").await;
    app.post(
        "/api/user/forgot-password",
        &json!({"email": "ghost@example.com"}),
    )
    .await
    .assert_status(200);
    let r = app
        .post(
            "/api/user/forgot-password",
            &json!({"email": "p@example.com"}),
        )
        .await;
    r.assert_status(200);
    assert!(r.data().is_null());
    // The code is written after the answer.
    app.wait_for_messages("p@example.com", "password_reset_code", 1)
        .await;
    let code = app.last_code("p@example.com", "password_reset_code").await;
    // Lock the account first.
    for _ in 0..5 {
        app.login("p@example.com", "wrong-password")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login("p@example.com", PW)
        .await
        .assert_error(423, "ACCOUNT_LOCKED");
    app.post(
        "/api/user/reset-password",
        &json!({"email": "p@example.com", "code": code, "newPassword": "short"}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    let r = app
        .post(
            "/api/user/reset-password",
            &json!({"email": "p@example.com", "code": code, "newPassword": "brand-new-pass"}),
        )
        .await;
    r.assert_status(200);
    assert!(r.data().is_null());
    app.get_as(&access, "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post("/api/user/refresh", &json!({"refreshToken": refresh}))
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.login("p@example.com", PW)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.login("p@example.com", "brand-new-pass")
        .await
        .assert_status(200);
    app.post(
        "/api/user/reset-password",
        &json!({"email": "p@example.com", "code": code, "newPassword": "another-pass-1"}),
    )
    .await
    .assert_error(401, "INVALID_TOKEN");
}

async fn reset_codes_burn_after_five_wrong_tries(app: TestApp) {
    app.register_verified("w@example.com", PW).await;
    app.post(
        "/api/user/forgot-password",
        &json!({"email": "w@example.com"}),
    )
    .await
    .assert_status(200);
    app.wait_for_messages("w@example.com", "password_reset_code", 1)
        .await;
    let code = app.last_code("w@example.com", "password_reset_code").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.post(
            "/api/user/reset-password",
            &json!({"email": "w@example.com", "code": wrong, "newPassword": "brand-new-pass"}),
        )
        .await
        .assert_error(401, "INVALID_TOKEN");
    }
    app.post(
        "/api/user/reset-password",
        &json!({"email": "w@example.com", "code": code, "newPassword": "brand-new-pass"}),
    )
    .await
    .assert_error(401, "INVALID_TOKEN");
}

async fn reset_code_goes_by_sms_only_to_a_verified_phone_that_allows_it(app: TestApp) {
    let (access, _) = logged_in(&app, "m@example.com").await;
    app.patch_as(
        &access,
        "/api/user/profile",
        &json!({"phone": "+2348011112222", "preferences": {"notifications": {"sms": true}}}),
    )
    .await
    .assert_status(200);
    app.post(
        "/api/user/forgot-password",
        &json!({"email": "m@example.com"}),
    )
    .await
    .assert_status(200);
    // The email and any SMS are written together, after the answer.
    app.wait_for_messages("m@example.com", "password_reset_code", 1)
        .await;
    assert!(
        app.state
            .store
            .messages_for("+2348011112222")
            .await
            .unwrap()
            .iter()
            .all(|m| m.template != "sms_password_reset_code"),
        "no SMS to an unverified phone"
    );
    app.post_as(&access, "/api/user/phone/send-code", &json!({}))
        .await
        .assert_status(200);
    let code = app
        .last_code("+2348011112222", "sms_phone_verification_code")
        .await;
    app.post_as(&access, "/api/user/phone/verify", &json!({"code": code}))
        .await
        .assert_status(200);
    app.post(
        "/api/user/forgot-password",
        &json!({"email": "m@example.com"}),
    )
    .await
    .assert_status(200);
    app.wait_for_messages("m@example.com", "password_reset_code", 2)
        .await;
    let sms = app
        .last_code("+2348011112222", "sms_password_reset_code")
        .await;
    let email = app.last_code("m@example.com", "password_reset_code").await;
    assert_eq!(sms, email);
}

/// A signed-in account with `phone` on its profile; returns its access token.
async fn with_phone(app: &TestApp, email: &str, phone: &str) -> String {
    let (access, _) = logged_in(app, email).await;
    app.patch_as(&access, "/api/user/profile", &json!({"phone": phone}))
        .await
        .assert_status(200);
    access
}

async fn send_phone_code(app: &TestApp, access: &str) -> crate::helpers::TestResponse {
    app.post_as(access, "/api/user/phone/send-code", &json!({}))
        .await
}

/// Asserts a 429 `RATE_LIMITED` whose `Retry-After` is within the hour.
#[track_caller]
fn assert_sms_capped(r: &crate::helpers::TestResponse) {
    r.assert_error(429, "RATE_LIMITED");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
}

async fn the_sixth_phone_code_to_one_number_within_the_hour_is_refused(app: TestApp) {
    let access = with_phone(&app, "s1@example.com", "+2348012340001").await;
    for _ in 0..5 {
        send_phone_code(&app, &access).await.assert_status(200);
    }
    assert_sms_capped(&send_phone_code(&app, &access).await);
    // The cap is the number's, whoever asks: another account with that number is refused too.
    let same = with_phone(&app, "s2@example.com", "+2348012340001").await;
    assert_sms_capped(&send_phone_code(&app, &same).await);
    let sent = app
        .state
        .store
        .messages_for("+2348012340001")
        .await
        .unwrap();
    assert_eq!(sent.len(), 5, "a refused code writes no SMS");
    // The refusal voided nothing: the fifth code still proves the phone.
    let code = app
        .last_code("+2348012340001", "sms_phone_verification_code")
        .await;
    app.post_as(&access, "/api/user/phone/verify", &json!({"code": code}))
        .await
        .assert_status(200);
    // Another number is not held back.
    let other = with_phone(&app, "s3@example.com", "+2348012340002").await;
    send_phone_code(&app, &other).await.assert_status(200);
}

async fn a_platform_sms_cap_refuses_codes_to_any_number(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("SMS_MAX_PER_HOUR", "2")
        .spawn()
        .await;
    for (i, email) in ["g1@example.com", "g2@example.com", "g3@example.com"]
        .into_iter()
        .enumerate()
    {
        let access = with_phone(&app, email, &format!("+23480123400{}", i + 10)).await;
        let r = send_phone_code(&app, &access).await;
        if i < 2 {
            r.assert_status(200);
        } else {
            assert_sms_capped(&r);
        }
    }
}

async fn a_reset_sms_beyond_the_cap_is_skipped_and_its_email_still_goes(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("SMS_MAX_PER_NUMBER_PER_HOUR", "1")
        .spawn()
        .await;
    let phone = "+2348012340020";
    let access = with_phone(&app, "cap@example.com", phone).await;
    app.patch_as(
        &access,
        "/api/user/profile",
        &json!({"preferences": {"notifications": {"sms": true}}}),
    )
    .await
    .assert_status(200);
    // The verification code is the number's one SMS of the hour.
    send_phone_code(&app, &access).await.assert_status(200);
    let code = app.last_code(phone, "sms_phone_verification_code").await;
    app.post_as(&access, "/api/user/phone/verify", &json!({"code": code}))
        .await
        .assert_status(200);
    app.post(
        "/api/user/forgot-password",
        &json!({"email": "cap@example.com"}),
    )
    .await
    .assert_status(200);
    app.wait_for_messages("cap@example.com", "password_reset_code", 1)
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = |rows: &[ticketmax::notify::OutboxRow], template: &str| {
        rows.iter()
            .find(|m| m.template == template)
            .map(|m| (m.status.clone(), m.last_error.clone()))
    };
    loop {
        let texts = app.state.store.messages_for(phone).await.unwrap();
        let mails = app
            .state
            .store
            .messages_for("cap@example.com")
            .await
            .unwrap();
        let phone_code = status(&texts, "sms_phone_verification_code");
        let sms = status(&texts, "sms_password_reset_code");
        let mail = status(&mails, "password_reset_code");
        let settled = |m: &Option<(String, Option<String>)>| {
            m.as_ref()
                .is_some_and(|(s, _)| s == "SENT" || s == "FAILED")
        };
        if settled(&phone_code) && settled(&sms) && settled(&mail) {
            let state_of = |m: Option<(String, Option<String>)>| m.unwrap().0;
            assert_eq!(
                sms.as_ref().unwrap().1.as_deref(),
                Some(ticketmax::notify::SMS_CAP_SKIPPED)
            );
            assert_eq!(state_of(sms), "FAILED");
            assert_eq!(state_of(mail), "SENT", "the email still goes");
            assert_eq!(state_of(phone_code), "SENT", "the SMS within the cap went");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "phone code {phone_code:?}, reset SMS {sms:?}, reset email {mail:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn change_password_keeps_this_session_and_ends_the_others(app: TestApp) {
    let (access, _) = logged_in(&app, "c@example.com").await;
    let other = app.login("c@example.com", PW).await;
    let other_access = other.data()["accessToken"].as_str().unwrap().to_string();
    let other_refresh = other.data()["refreshToken"].as_str().unwrap().to_string();
    app.post_as(
        &access,
        "/api/user/change-password",
        &json!({"currentPassword": "wrong-one", "newPassword": "next-password-1"}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    let r = app
        .post_as(
            &access,
            "/api/user/change-password",
            &json!({"currentPassword": PW, "newPassword": "next-password-1"}),
        )
        .await;
    r.assert_status(200);
    assert!(r.data().is_null());
    app.get_as(&access, "/api/user/profile")
        .await
        .assert_status(200);
    app.get_as(&other_access, "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post("/api/user/refresh", &json!({"refreshToken": other_refresh}))
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.login("c@example.com", "next-password-1")
        .await
        .assert_status(200);
    let audit = app
        .state
        .store
        .list_audit(
            &ticketmax::audit::AuditFilter {
                action: Some("password.change".into()),
                ..Default::default()
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(audit.1, 1);
}

async fn profile_updates_its_fields_and_a_new_phone_is_unverified(app: TestApp) {
    let (access, _) = logged_in(&app, "u@example.com").await;
    let r = app.patch_as(&access, "/api/user/profile", &json!({
        "firstName": "Grace", "bio": "Hello", "dateOfBirth": "1985-12-09",
        "address": {"street": "1 Main St", "city": "Abuja", "zipCode": "900001", "country": "NG"},
        "phone": "+2348099990000", "preferences": {"language": "yo"}
    })).await;
    r.assert_status(200);
    assert_eq!(r.data()["firstName"], "Grace");
    assert_eq!(r.data()["address"]["city"], "Abuja");
    assert_eq!(r.data()["preferences"]["language"], "yo");
    assert_eq!(r.data()["preferences"]["notifications"]["email"], true);
    assert_eq!(r.data()["phoneVerified"], false);
    app.patch_as(
        &access,
        "/api/user/profile",
        &json!({"email": "x@example.com"}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    app.patch_as(&access, "/api/user/profile", &json!({"role": "ADMIN"}))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.patch_as(
        &access,
        "/api/user/profile",
        &json!({"dateOfBirth": "1985-13-01"}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    let r = app
        .patch_as(&access, "/api/user/profile", &json!({"bio": null}))
        .await;
    r.assert_status(200);
    assert!(r.data()["bio"].is_null());
    assert_eq!(r.data()["firstName"], "Grace");
}

async fn phone_verification_by_sms_code_and_a_changed_phone_resets_it(app: TestApp) {
    let (access, _) = logged_in(&app, "ph@example.com").await;
    app.post_as(&access, "/api/user/phone/send-code", &json!({}))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.patch_as(
        &access,
        "/api/user/profile",
        &json!({"phone": "+2348033334444"}),
    )
    .await
    .assert_status(200);
    app.request(Method::POST, "/api/user/phone/send-code")
        .token(&access)
        .send()
        .await
        .assert_status(200);
    let code = app
        .last_code("+2348033334444", "sms_phone_verification_code")
        .await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    app.post_as(&access, "/api/user/phone/verify", &json!({"code": wrong}))
        .await
        .assert_error(401, "INVALID_TOKEN");
    let r = app
        .post_as(&access, "/api/user/phone/verify", &json!({"code": code}))
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["phoneVerified"], true);
    let r = app
        .patch_as(
            &access,
            "/api/user/profile",
            &json!({"phone": "+2348055556666"}),
        )
        .await;
    assert_eq!(r.data()["phoneVerified"], false);
}

async fn a_code_sent_to_an_old_phone_does_not_verify_the_new_one(app: TestApp) {
    let (access, _) = logged_in(&app, "ph2@example.com").await;
    app.patch_as(
        &access,
        "/api/user/profile",
        &json!({"phone": "+2348033334444"}),
    )
    .await
    .assert_status(200);
    app.post_as(&access, "/api/user/phone/send-code", &json!({}))
        .await
        .assert_status(200);
    let code = app
        .last_code("+2348033334444", "sms_phone_verification_code")
        .await;
    app.patch_as(
        &access,
        "/api/user/profile",
        &json!({"phone": "+2348077778888"}),
    )
    .await
    .assert_status(200);
    app.post_as(&access, "/api/user/phone/verify", &json!({"code": code}))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

async fn admin_lists_and_filters_users(app: TestApp) {
    let (_, admin) = app.admin().await;
    app.register_verified("zed.one@example.com", PW).await;
    app.register("zed.two@example.com", PW).await;
    let r = app.get_as(&admin, "/api/user?q=ZED&limit=1").await;
    r.assert_status(200);
    assert_eq!(r.body["meta"]["total"], 2);
    assert_eq!(r.data().as_array().unwrap().len(), 1);
    assert_eq!(r.data()[0]["email"], "zed.two@example.com", "newest first");
    let r = app.get_as(&admin, "/api/user?status=INACTIVE").await;
    assert_eq!(r.body["meta"]["total"], 1);
    let r = app.get_as(&admin, "/api/user?role=ADMIN").await;
    assert_eq!(r.body["meta"]["total"], 1);
    app.get_as(&admin, "/api/user?role=KING")
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.get_as(&admin, "/api/user?q=%25")
        .await
        .assert_status(200);
    let (_, user) = app.create_user(Role::User).await;
    app.get_as(&user, "/api/user")
        .await
        .assert_error(403, "FORBIDDEN");
    app.get("/api/user").await.assert_error(401, "UNAUTHORIZED");
}

async fn users_read_themselves_but_not_others(app: TestApp) {
    let (me, token) = app.create_user(Role::User).await;
    let (other, _) = app.create_user(Role::User).await;
    app.get_as(&token, &format!("/api/user/{me}"))
        .await
        .assert_status(200);
    app.get_as(&token, &format!("/api/user/{other}"))
        .await
        .assert_error(403, "FORBIDDEN");
    let (_, admin) = app.admin().await;
    app.get_as(&admin, &format!("/api/user/{other}"))
        .await
        .assert_status(200);
    app.get_as(&admin, &format!("/api/user/{}", uuid::Uuid::new_v4()))
        .await
        .assert_error(404, "NOT_FOUND");
    app.get_as(&admin, "/api/user/not-a-uuid")
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

async fn a_role_change_takes_effect_on_the_next_request_and_is_audited(app: TestApp) {
    let (admin_id, admin) = app.admin().await;
    let (id, token) = app.create_user(Role::User).await;
    app.get_as(&token, "/api/user")
        .await
        .assert_error(403, "FORBIDDEN");
    let r = app
        .patch_as(
            &admin,
            &format!("/api/user/{id}/role"),
            &json!({"role": "ADMIN"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["role"], "ADMIN");
    app.get_as(&token, "/api/user").await.assert_status(200);
    app.patch_as(
        &admin,
        &format!("/api/user/{id}/role"),
        &json!({"role": "KING"}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    let log = app
        .get_as(
            &admin,
            &format!("/api/admin/audit-log?action=user.role_change&targetId={id}"),
        )
        .await;
    log.assert_status(200);
    assert_eq!(log.body["meta"]["total"], 1);
    let entry = &log.data()[0];
    assert_eq!(entry["actorId"], admin_id.to_string());
    assert_eq!(entry["targetType"], "user");
    assert_eq!(entry["ip"], "127.0.0.1");
    assert_eq!(entry["details"]["to"], "ADMIN");
    assert!(entry["actorEmail"].as_str().unwrap().starts_with("admin-"));
}

async fn suspension_ends_tokens_at_once_and_blocks_login(app: TestApp) {
    let (_, admin) = app.admin().await;
    let id = app.register_verified("sus@example.com", PW).await;
    let r = app.login("sus@example.com", PW).await;
    let access = r.data()["accessToken"].as_str().unwrap().to_string();
    let refresh = r.data()["refreshToken"].as_str().unwrap().to_string();
    let r = app
        .patch_as(
            &admin,
            &format!("/api/user/{id}/status"),
            &json!({"status": "SUSPENDED"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "SUSPENDED");
    app.get_as(&access, "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post("/api/user/refresh", &json!({"refreshToken": refresh}))
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.login("sus@example.com", PW)
        .await
        .assert_error(403, "ACCOUNT_SUSPENDED");
    app.login("sus@example.com", "wrong-password")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.patch_as(
        &admin,
        &format!("/api/user/{id}/status"),
        &json!({"status": "ASLEEP"}),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    app.patch_as(
        &admin,
        &format!("/api/user/{id}/status"),
        &json!({"status": "ACTIVE"}),
    )
    .await
    .assert_status(200);
    app.login("sus@example.com", PW).await.assert_status(200);
}

async fn verify_email_never_lifts_a_suspension(app: TestApp) {
    let (_, admin) = app.admin().await;
    let id = app.register("sv@example.com", PW).await;
    let code = app.last_code("sv@example.com", "verification_code").await;
    app.patch_as(
        &admin,
        &format!("/api/user/{id}/status"),
        &json!({"status": "SUSPENDED"}),
    )
    .await
    .assert_status(200);
    app.post(
        "/api/user/verify-email",
        &json!({"email": "sv@example.com", "code": code}),
    )
    .await
    .assert_error(403, "ACCOUNT_SUSPENDED");
}

async fn erasure_removes_personal_data_ends_tokens_and_frees_the_email(app: TestApp) {
    let (_, admin) = app.admin().await;
    let id = app.register_verified("gone@example.com", PW).await;
    let r = app.login("gone@example.com", PW).await;
    let access = r.data()["accessToken"].as_str().unwrap().to_string();
    app.patch_as(
        &access,
        "/api/user/profile",
        &json!({"phone": "+2348012340000", "bio": "secret life"}),
    )
    .await
    .assert_status(200);
    let r = app.delete_as(&admin, &format!("/api/user/{id}")).await;
    r.assert_status(200);
    assert!(r.data().is_null());
    app.get_as(&admin, &format!("/api/user/{id}"))
        .await
        .assert_error(404, "NOT_FOUND");
    app.get_as(&access, "/api/user/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.delete_as(&admin, &format!("/api/user/{id}"))
        .await
        .assert_error(404, "NOT_FOUND");
    app.login("gone@example.com", PW)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // The row stays for accounting, without personal data.
    let kept: (String, Option<String>, Option<String>, String) = match &app.state.store {
        ticketmax::store::Store::Sqlite(p) => {
            sqlx::query_as("SELECT email, phone, bio, first_name FROM users WHERE id = $1")
                .bind(id)
                .fetch_one(&p.read)
                .await
                .unwrap()
        }
        ticketmax::store::Store::Postgres(p) => {
            sqlx::query_as("SELECT email, phone, bio, first_name FROM users WHERE id = $1")
                .bind(id)
                .fetch_one(&p.read)
                .await
                .unwrap()
        }
    };
    assert!(!kept.0.contains("gone@"));
    assert_eq!((kept.1, kept.2), (None, None));
    assert_ne!(kept.3, "Ada");
    app.register("gone@example.com", PW).await;
}

async fn admin_creation_login_success_and_failure_are_audited(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("ADMIN_EMAIL", "boss@example.com")
        .env("ADMIN_PASSWORD", "boss-password-1")
        .spawn()
        .await;
    let r = app.login("boss@example.com", "boss-password-1").await;
    r.assert_status(200);
    let admin = r.data()["accessToken"].as_str().unwrap().to_string();
    app.login("boss@example.com", "nope-nope-nope")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let log = app.get_as(&admin, "/api/admin/audit-log").await;
    log.assert_status(200);
    let actions: Vec<_> = log
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        vec!["login.failure", "login.success", "admin.create"],
        "newest first"
    );
    let failures = app
        .get_as(
            &admin,
            "/api/admin/audit-log?action=login.failure&from=2000-01-01",
        )
        .await;
    assert_eq!(failures.body["meta"]["total"], 1);
    assert_eq!(failures.data()[0]["actorEmail"], "boss@example.com");
    let none = app
        .get_as(&admin, "/api/admin/audit-log?to=2000-01-01")
        .await;
    assert_eq!(none.body["meta"]["total"], 0);
    app.get_as(&admin, "/api/admin/audit-log?from=yesterday")
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

async fn a_suspended_account_is_told_so_at_login_even_before_verifying_its_email(app: TestApp) {
    let id = app
        .register("unverified@example.com", "right-password-1")
        .await;
    let (_, admin) = app.admin().await;
    app.patch_as(
        &admin,
        &format!("/api/user/{id}/status"),
        &json!({"status": "SUSPENDED"}),
    )
    .await
    .assert_status(200);
    app.login("unverified@example.com", "right-password-1")
        .await
        .assert_error(403, "ACCOUNT_SUSPENDED");
}

async fn a_login_with_an_oversized_email_is_refused_before_anything_is_recorded(app: TestApp) {
    let huge = format!("{}@example.com", "a".repeat(300_000));
    let r = app.login(&huge, "whatever-pass").await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(r.body["error"]["details"][0]["field"], "email");
    let (_, admin) = app.admin().await;
    let log = app
        .get_as(&admin, "/api/admin/audit-log?action=login.failure")
        .await;
    assert_eq!(log.body["meta"]["total"], 0, "nothing recorded");
}

both_backends!(
    a_login_with_an_oversized_email_is_refused_before_anything_is_recorded,
    a_suspended_account_is_told_so_at_login_even_before_verifying_its_email,
    register_creates_an_inactive_user_and_emails_a_hashed_code,
    register_rejects_a_role_field_bad_fields_and_a_taken_email,
    verify_email_activates_once_and_sends_the_welcome_email,
    five_wrong_codes_burn_the_verification_code,
    resend_verification_voids_the_previous_code_and_never_reveals_accounts,
    an_expired_code_is_refused,
    login_returns_tokens_and_the_user_without_secrets,
    unknown_email_and_wrong_password_get_the_same_answer,
    unknown_email_costs_as_much_time_as_a_wrong_password,
    forgot_password_costs_as_much_time_for_an_unknown_email,
    resend_verification_costs_as_much_time_for_an_unknown_or_verified_email,
    reset_password_costs_as_much_time_for_an_unknown_email,
    refresh_rotates_and_a_reused_token_revokes_the_family,
    logout_ends_the_session_and_its_access_token_at_once,
    forgot_and_reset_password_revoke_every_session_and_lift_the_lock,
    reset_codes_burn_after_five_wrong_tries,
    reset_code_goes_by_sms_only_to_a_verified_phone_that_allows_it,
    the_sixth_phone_code_to_one_number_within_the_hour_is_refused,
    a_platform_sms_cap_refuses_codes_to_any_number,
    a_reset_sms_beyond_the_cap_is_skipped_and_its_email_still_goes,
    change_password_keeps_this_session_and_ends_the_others,
    profile_updates_its_fields_and_a_new_phone_is_unverified,
    phone_verification_by_sms_code_and_a_changed_phone_resets_it,
    a_code_sent_to_an_old_phone_does_not_verify_the_new_one,
    admin_lists_and_filters_users,
    users_read_themselves_but_not_others,
    a_role_change_takes_effect_on_the_next_request_and_is_audited,
    suspension_ends_tokens_at_once_and_blocks_login,
    verify_email_never_lifts_a_suspension,
    erasure_removes_personal_data_ends_tokens_and_frees_the_email,
    admin_creation_login_success_and_failure_are_audited
);

#[test]
fn the_secret_scan_catches_hashes_and_learned_codes() {
    assert!(
        std::panic::catch_unwind(|| crate::helpers::assert_no_secret(
            r#"{"h":"$argon2id$v=19$..."}"#
        ))
        .is_err()
    );
    crate::helpers::remember_secret("987654".into());
    assert!(
        std::panic::catch_unwind(|| crate::helpers::assert_no_secret(r#"{"code":"987654"}"#))
            .is_err()
    );
    // A longer number that merely contains the digits is not a leak.
    crate::helpers::assert_no_secret(r#"{"n":19876543}"#);
}
