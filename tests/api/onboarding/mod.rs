//! Organizer onboarding (API.md §6, §11.29–32, 61, 63, 95): the six steps, the review with its
//! role grant, emails and audit entries, and every refusal of the state machine; documents and
//! banking data at rest are in [`data`].

mod data;

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};
use ticketmax::users::model::Role;
use uuid::Uuid;

use crate::both_backends;
use crate::fixtures::event_body;
use crate::helpers::{Backend, TestApp, TestResponse};

pub(super) const BOUNDARY: &str = "onboarding-boundary-7d1f";
pub(super) const ACCOUNT_NUMBER: &str = "0123456789";
pub(super) const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
pub(super) const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR rest of a picture";
pub(super) const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0 rest of a photo";

pub(super) fn personal() -> Value {
    json!({"firstName": "Ada", "lastName": "Okafor", "email": "ada@example.com",
           "phone": "+2348012345678", "dateOfBirth": "1990-04-01"})
}

pub(super) fn organization(kind: &str) -> Value {
    let mut o = json!({"organizationType": kind, "organizationName": "Lagos Live",
                       "website": "https://lagoslive.example", "description": "Concerts and comedy nights in Lagos"});
    if kind == "company" {
        o["businessRegistrationNumber"] = json!("RC-123456");
        o["taxId"] = json!("TIN-998877");
    }
    o
}

pub(super) fn address() -> Value {
    json!({"address": "12 Marina Road", "city": "Lagos", "state": "Lagos", "zipCode": "101001", "country": "NG"})
}

pub(super) fn banking() -> Value {
    json!({"bankName": "First Bank", "accountNumber": ACCOUNT_NUMBER, "accountHolderName": "Lagos Live Ltd"})
}

pub(super) fn experience() -> Value {
    json!({"eventExperience": "intermediate", "previousEvents": "Ten sold-out shows", "expectedEventVolume": "6-15"})
}

/// A multipart body of `(field, file name, content type, bytes)` parts.
pub(super) fn multipart(parts: &[(&str, &str, &str, &[u8])]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, filename, content_type, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

pub(super) async fn upload(
    app: &TestApp,
    token: &str,
    id: &str,
    parts: &[(&str, &str, &str, &[u8])],
) -> TestResponse {
    let (ct, body) = multipart(parts);
    app.request(
        Method::POST,
        &format!("/api/organizer/onboarding/{id}/documents"),
    )
    .token(token)
    .body(&ct, body)
    .send()
    .await
}

pub(super) async fn step(app: &TestApp, token: &str, id: &str, body: Value) -> TestResponse {
    app.patch_as(
        token,
        &format!("/api/organizer/onboarding/{id}/step"),
        &body,
    )
    .await
}

pub(super) async fn start(app: &TestApp, token: &str, body: Value) -> TestResponse {
    app.post_as(token, "/api/organizer/onboarding/start", &body)
        .await
}

pub(super) async fn submit(app: &TestApp, token: &str, id: &str) -> TestResponse {
    app.post_as(
        token,
        &format!("/api/organizer/onboarding/{id}/submit"),
        &json!({}),
    )
    .await
}

pub(super) async fn decide(
    app: &TestApp,
    admin: &str,
    id: &str,
    action: &str,
    body: Value,
) -> TestResponse {
    app.post_as(admin, &format!("/api/organizer/admin/{id}/{action}"), &body)
        .await
}

/// A complete application of `kind`, started in one go and submitted: its id.
pub(super) async fn submitted(app: &TestApp, token: &str, kind: &str) -> String {
    let r = start(
        app,
        token,
        json!({"personalInformation": personal(), "organizationDetails": organization(kind),
               "address": address(), "bankingInformation": banking(), "experienceDetails": experience()}),
    )
    .await;
    r.assert_status(201);
    let id = r.data()["id"].as_str().unwrap().to_string();
    let mut docs: Vec<(&str, &str, &str, &[u8])> =
        vec![("idDocument", "id.pdf", "application/pdf", PDF)];
    if kind != "individual" {
        docs.push(("businessLicense", "license.png", "image/png", PNG));
        docs.push(("taxDocument", "tax.jpg", "image/jpeg", JPEG));
    }
    upload(app, token, &id, &docs).await.assert_status(200);
    submit(app, token, &id).await.assert_status(200);
    id
}

pub(super) async fn email_of(app: &TestApp, id: Uuid) -> String {
    app.state.store.user_by_id(id).await.unwrap().unwrap().email
}

pub(super) async fn templates_to(app: &TestApp, recipient: &str) -> Vec<String> {
    let rows = app.state.store.messages_for(recipient).await.unwrap();
    rows.into_iter().map(|m| m.template).collect()
}

/// The files kept for an application's documents.
pub(super) fn document_files(app: &TestApp, id: &str) -> Vec<String> {
    let dir = PathBuf::from(&app.state.config.upload_dest)
        .join("documents")
        .join(id);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn the_full_flow_makes_the_applicant_an_organizer_on_the_next_request(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (user_id, token) = app.create_user(Role::User).await;
    let email = email_of(&app, user_id).await;

    let r = start(&app, &token, json!({"personalInformation": personal()})).await;
    r.assert_status(201);
    let id = r.data()["id"].as_str().unwrap().to_string();
    assert_eq!(r.data()["status"], "DRAFT");
    assert_eq!(r.data()["userId"], user_id.to_string());
    assert_eq!(r.data()["currentStep"], 2);
    assert_eq!(r.data()["completion"]["completedSteps"], json!([1]));
    assert_eq!(r.data()["completion"]["percentage"], 17);
    assert!(
        templates_to(&app, &email)
            .await
            .contains(&"organizer_application_started".to_string())
    );

    for (n, key, section) in [
        (2, "organizationDetails", organization("company")),
        (3, "address", address()),
        (5, "bankingInformation", banking()),
        (6, "experienceDetails", experience()),
    ] {
        step(&app, &token, &id, json!({"step": n, key: section}))
            .await
            .assert_status(200);
    }
    let r = app.get_as(&token, "/api/organizer/me").await;
    r.assert_status(200);
    assert_eq!(
        r.data()["currentStep"],
        4,
        "documents are the lowest step missing"
    );
    assert_eq!(
        r.data()["completion"]["completedSteps"],
        json!([1, 2, 3, 5, 6])
    );
    assert_eq!(r.data()["completion"]["percentage"], 83);
    assert_eq!(
        r.data()["completion"]["pendingRequirements"],
        json!([
            "documents.idDocument",
            "documents.businessLicense",
            "documents.taxDocument"
        ])
    );

    let r = upload(
        &app,
        &token,
        &id,
        &[
            ("idDocument", "passport.pdf", "application/pdf", PDF),
            ("businessLicense", "license.png", "image/png", PNG),
            ("taxDocument", "tax.jpg", "image/jpeg", JPEG),
        ],
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.data()["documents"]["idDocument"]["status"], "UPLOADED");
    assert!(r.data()["documents"]["taxDocument"]["uploadedAt"].is_string());
    assert_eq!(r.data()["completion"]["percentage"], 100);
    assert_eq!(r.data()["currentStep"], 6);

    // A USER is not an organizer yet.
    app.post_as(&token, "/api/events", &event_body("Too early", 10))
        .await
        .assert_error(403, "ORGANIZER_NOT_APPROVED");

    let r = submit(&app, &token, &id).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "UNDER_REVIEW");
    assert!(r.data()["submittedAt"].is_string());
    assert!(
        templates_to(&app, &email)
            .await
            .contains(&"organizer_application_submitted".to_string())
    );
    let admin_email = app.state.store.admin_emails().await.unwrap();
    for to in &admin_email {
        assert!(
            templates_to(&app, to)
                .await
                .contains(&"organizer_application_submitted_admin".to_string())
        );
    }

    let r = app
        .get_as(
            &admin,
            "/api/organizer/admin/applications?status=UNDER_REVIEW",
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["meta"]["total"], 1);
    assert_eq!(r.data()[0]["id"], id.as_str());

    let r = decide(&app, &admin, &id, "approve", json!({})).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "APPROVED");
    assert!(r.data()["reviewedAt"].is_string());
    assert!(
        templates_to(&app, &email)
            .await
            .contains(&"organizer_application_approved".to_string())
    );

    // The same token, no new login: the next request acts as an ORGANIZER.
    let mut draft = event_body("First show", 10);
    draft["status"] = json!("DRAFT");
    let r = app.post_as(&token, "/api/events", &draft).await;
    r.assert_status(201);
    let event = r.data()["id"].as_str().unwrap().to_string();
    app.post_as(&token, &format!("/api/events/{event}/publish"), &json!({}))
        .await
        .assert_status(200);
    let role = app
        .state
        .store
        .user_by_id(user_id)
        .await
        .unwrap()
        .unwrap()
        .role;
    assert_eq!(role, "ORGANIZER");

    let r = app
        .get_as(
            &admin,
            "/api/admin/audit-log?action=organizer.application_approve",
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.data()[0]["targetId"], id.as_str());
}

async fn a_rejected_applicant_cannot_organize_and_may_start_again(app: TestApp) {
    let notify = "reviews@example.com";
    let app = TestApp::builder(app.backend)
        .env("ADMIN_NOTIFY_EMAIL", notify)
        .spawn()
        .await;
    let (_, admin) = app.admin().await;
    let (user_id, token) = app.create_user(Role::User).await;
    let id = submitted(&app, &token, "individual").await;
    assert_eq!(
        templates_to(&app, notify).await,
        ["organizer_application_submitted_admin"],
        "ADMIN_NOTIFY_EMAIL replaces the admins"
    );
    for to in app.state.store.admin_emails().await.unwrap() {
        assert!(templates_to(&app, &to).await.is_empty());
    }

    decide(&app, &admin, &id, "reject", json!({"reason": ""}))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let r = decide(
        &app,
        &admin,
        &id,
        "reject",
        json!({"reason": "Documents unreadable"}),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "REJECTED");
    assert_eq!(r.data()["rejectionReason"], "Documents unreadable");
    let email = email_of(&app, user_id).await;
    assert!(
        templates_to(&app, &email)
            .await
            .contains(&"organizer_application_rejected".to_string())
    );

    app.post_as(&token, "/api/events", &event_body("Nope", 10))
        .await
        .assert_error(403, "ORGANIZER_NOT_APPROVED");

    let r = start(&app, &token, json!({})).await;
    r.assert_status(201);
    let second = r.data()["id"].as_str().unwrap().to_string();
    assert_ne!(second, id);
    assert_eq!(r.data()["status"], "DRAFT");
    let me = app.get_as(&token, "/api/organizer/me").await;
    assert_eq!(me.data()["id"], second.as_str());
}

async fn request_info_reopens_the_application_for_edits_and_resubmission(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (user_id, token) = app.create_user(Role::User).await;
    let id = submitted(&app, &token, "nonprofit").await;

    decide(&app, &admin, &id, "request-info", json!({"note": " "}))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let r = decide(
        &app,
        &admin,
        &id,
        "request-info",
        json!({"note": "Add your website"}),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "REQUIRES_ADDITIONAL_INFO");
    assert_eq!(r.data()["reviewerNote"], "Add your website");
    let email = email_of(&app, user_id).await;
    assert!(
        templates_to(&app, &email)
            .await
            .contains(&"organizer_application_info_requested".to_string())
    );

    let r = step(
        &app,
        &token,
        &id,
        json!({"step": 2, "organizationDetails": {"website": "https://new.example"}}),
    )
    .await;
    r.assert_status(200);
    assert_eq!(
        r.data()["organizationDetails"]["website"],
        "https://new.example"
    );
    assert_eq!(
        r.data()["organizationDetails"]["organizationName"],
        "Lagos Live",
        "kept"
    );
    upload(
        &app,
        &token,
        &id,
        &[("taxDocument", "tax.pdf", "application/pdf", PDF)],
    )
    .await
    .assert_status(200);
    let r = submit(&app, &token, &id).await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "UNDER_REVIEW");
    decide(&app, &admin, &id, "approve", json!({}))
        .await
        .assert_status(200);
}

async fn every_illegal_transition_is_409_invalid_state(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, token) = app.create_user(Role::User).await;
    let draft = start(&app, &token, json!({})).await.data()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for action in ["approve", "reject", "request-info"] {
        let body = match action {
            "reject" => json!({"reason": "No"}),
            "request-info" => json!({"note": "More"}),
            _ => json!({}),
        };
        decide(&app, &admin, &draft, action, body)
            .await
            .assert_error(409, "INVALID_STATE");
    }

    let (_, token) = app.create_user(Role::User).await;
    let id = submitted(&app, &token, "individual").await;
    let refused = |r: TestResponse| {
        r.assert_error(409, "INVALID_STATE");
    };
    // UNDER_REVIEW: no edits, no second submission.
    refused(step(&app, &token, &id, json!({"step": 3, "address": address()})).await);
    refused(
        upload(
            &app,
            &token,
            &id,
            &[("idDocument", "id.pdf", "application/pdf", PDF)],
        )
        .await,
    );
    refused(submit(&app, &token, &id).await);
    decide(&app, &admin, &id, "approve", json!({}))
        .await
        .assert_status(200);
    // APPROVED is final.
    refused(decide(&app, &admin, &id, "approve", json!({})).await);
    refused(
        decide(
            &app,
            &admin,
            &id,
            "reject",
            json!({"reason": "Changed my mind"}),
        )
        .await,
    );
    refused(decide(&app, &admin, &id, "request-info", json!({"note": "More"})).await);
    refused(
        step(
            &app,
            &token,
            &id,
            json!({"step": 6, "experienceDetails": experience()}),
        )
        .await,
    );
    refused(submit(&app, &token, &id).await);
    // An approved applicant has an open application: no second one.
    start(&app, &token, json!({}))
        .await
        .assert_error(409, "CONFLICT");

    let (_, token) = app.create_user(Role::User).await;
    let id = submitted(&app, &token, "individual").await;
    decide(&app, &admin, &id, "reject", json!({"reason": "No"}))
        .await
        .assert_status(200);
    refused(decide(&app, &admin, &id, "approve", json!({})).await);
    refused(step(&app, &token, &id, json!({"step": 3, "address": address()})).await);
    refused(submit(&app, &token, &id).await);
}

async fn validation_errors_name_the_field_and_submit_lists_what_is_missing(app: TestApp) {
    let (_, token) = app.create_user(Role::User).await;
    let field = |r: &TestResponse| {
        r.body["error"]["details"][0]["field"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let r = start(
        &app,
        &token,
        json!({"personalInformation": {"firstName": "A"}}),
    )
    .await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(field(&r), "personalInformation.firstName");
    let r = start(&app, &token, json!({"role": "ORGANIZER"})).await;
    r.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(field(&r), "role");

    // A company without its tax id.
    let mut company = organization("company");
    company.as_object_mut().unwrap().remove("taxId");
    let r = start(&app, &token, json!({"organizationDetails": company})).await;
    r.assert_status(201);
    let id = r.data()["id"].as_str().unwrap().to_string();
    for (body, expected) in [
        (json!({"step": 4}), "step"),
        (json!({"step": 9, "address": address()}), "step"),
        (json!({"step": 3}), "address"),
        (
            json!({"step": 3, "address": address(), "experienceDetails": experience()}),
            "experienceDetails",
        ),
        (
            json!({"step": 3, "address": {"country": "Nigeria"}}),
            "address.country",
        ),
        (
            json!({"step": 3, "address": {"zipCode": "12"}}),
            "address.zipCode",
        ),
        (
            json!({"step": 3, "address": {"county": "Lagos"}}),
            "address.county",
        ),
        (
            json!({"step": 2, "organizationDetails": {"website": "not a url"}}),
            "organizationDetails.website",
        ),
        (
            json!({"step": 2, "organizationDetails": {"description": "short"}}),
            "organizationDetails.description",
        ),
        (
            json!({"step": 2, "organizationDetails": {"organizationType": "club"}}),
            "organizationDetails.organizationType",
        ),
        (
            json!({"step": 5, "bankingInformation": {"accountNumber": "12ab5678"}}),
            "bankingInformation.accountNumber",
        ),
        (
            json!({"step": 5, "bankingInformation": {"accountNumber": "1234567"}}),
            "bankingInformation.accountNumber",
        ),
        (
            json!({"step": 6, "experienceDetails": {"expectedEventVolume": "100"}}),
            "experienceDetails.expectedEventVolume",
        ),
        (
            json!({"step": 1, "personalInformation": {"email": "nope"}}),
            "personalInformation.email",
        ),
    ] {
        let r = step(&app, &token, &id, body.clone()).await;
        r.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(field(&r), expected, "{body}");
    }

    // Submit lists everything missing, the company rule included.
    let r = submit(&app, &token, &id).await;
    r.assert_error(400, "VALIDATION_FAILED");
    let missing: Vec<&str> = r.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    for expected in [
        "personalInformation.firstName",
        "organizationDetails.taxId",
        "address.country",
        "documents.idDocument",
        "documents.businessLicense",
        "bankingInformation.accountNumber",
        "experienceDetails.eventExperience",
    ] {
        assert!(missing.contains(&expected), "{expected} not in {missing:?}");
    }
    let tax = r.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["field"] == "organizationDetails.taxId")
        .unwrap();
    assert_eq!(tax["message"], "is required for a company");
    let me = app.get_as(&token, "/api/organizer/me").await;
    assert_eq!(me.data()["completion"]["percentage"], 0);
    assert_eq!(me.data()["currentStep"], 1);
    assert!(
        me.data()["completion"]["pendingRequirements"]
            .as_array()
            .unwrap()
            .contains(&json!("organizationDetails.taxId"))
    );
}

async fn a_second_start_is_a_conflict_naming_the_open_application(app: TestApp) {
    let (_, token) = app.create_user(Role::User).await;
    let first = start(&app, &token, json!({})).await.data()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = start(&app, &token, json!({"address": address()})).await;
    r.assert_error(409, "CONFLICT");
    assert_eq!(r.body["error"]["details"][0]["field"], "id");
    assert_eq!(r.body["error"]["details"][0]["id"], first.as_str());
    // Without a body at all, too.
    app.request(Method::POST, "/api/organizer/onboarding/start")
        .token(&token)
        .send()
        .await
        .assert_error(409, "CONFLICT");
    app.get_as(&app.create_user(Role::User).await.1, "/api/organizer/me")
        .await
        .assert_error(404, "NOT_FOUND");
}

async fn the_review_list_filters_by_status_and_pages(app: TestApp) {
    let (_, admin) = app.admin().await;
    for _ in 0..3 {
        let (_, token) = app.create_user(Role::User).await;
        submitted(&app, &token, "individual").await;
    }
    let (_, token) = app.create_user(Role::User).await;
    start(&app, &token, json!({})).await.assert_status(201);

    let r = app
        .get_as(
            &admin,
            "/api/organizer/admin/applications?status=UNDER_REVIEW&limit=2",
        )
        .await;
    r.assert_status(200);
    assert_eq!(
        r.body["meta"],
        json!({"page": 1, "limit": 2, "total": 3, "totalPages": 2})
    );
    assert_eq!(r.data().as_array().unwrap().len(), 2);
    assert_eq!(r.data()[0]["documents"]["idDocument"]["status"], "UPLOADED");
    let r = app
        .get_as(
            &admin,
            "/api/organizer/admin/applications?status=UNDER_REVIEW&limit=2&page=2",
        )
        .await;
    assert_eq!(r.data().as_array().unwrap().len(), 1);
    let r = app
        .get_as(&admin, "/api/organizer/admin/applications")
        .await;
    assert_eq!(r.body["meta"]["total"], 4);
    for bad in ["status=PENDING", "limit=0", "page=0"] {
        app.get_as(&admin, &format!("/api/organizer/admin/applications?{bad}"))
            .await
            .assert_error(400, "VALIDATION_FAILED");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_on_one_instance_reaches_the_applicant_on_another() {
    let Some(redis) = crate::helpers::redis_url() else {
        return;
    };
    let prefix = format!("test-{}:", Uuid::new_v4().simple());
    let a = TestApp::builder(Backend::Sqlite)
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let b = TestApp::builder(Backend::Sqlite)
        .store(a.state.store.clone())
        .env("REDIS_URL", &redis)
        .env("REDIS_PREFIX", &prefix)
        .spawn()
        .await;
    let (_, admin) = a.admin().await;
    let (_, token) = a.create_user(Role::User).await;
    let id = submitted(&a, &token, "individual").await;
    // Instance B now holds the applicant as a USER in its authentication cache.
    b.post_as(&token, "/api/events", &event_body("Not yet", 10))
        .await
        .assert_error(403, "ORGANIZER_NOT_APPROVED");

    decide(&a, &admin, &id, "approve", json!({}))
        .await
        .assert_status(200);
    let mut status = 0;
    for _ in 0..40 {
        status = b
            .post_as(&token, "/api/events", &event_body("Now", 10))
            .await
            .status
            .as_u16();
        if status == 201 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        status, 201,
        "instance B dropped the cached USER role within a second"
    );
}

both_backends!(
    the_full_flow_makes_the_applicant_an_organizer_on_the_next_request,
    a_rejected_applicant_cannot_organize_and_may_start_again,
    request_info_reopens_the_application_for_edits_and_resubmission,
    every_illegal_transition_is_409_invalid_state,
    validation_errors_name_the_field_and_submit_lists_what_is_missing,
    a_second_start_is_a_conflict_naming_the_open_application,
    the_review_list_filters_by_status_and_pages,
);
