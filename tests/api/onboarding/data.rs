//! Onboarding data at rest and who may reach it (API.md §6, §11.5, 30, 73): documents recognized
//! by their bytes and bounded while streaming, replaced files deleted, downloads for the owner and
//! admins only, and the bank account number sealed in the database.

use reqwest::Method;
use serde_json::json;
use ticketmax::crypto::Sealed;
use ticketmax::store::Store;
use ticketmax::users::model::Role;
use uuid::Uuid;

use super::{
    ACCOUNT_NUMBER, JPEG, PDF, PNG, address, banking, decide, document_files, multipart, personal,
    start, step, submit, upload,
};
use crate::both_backends;
use crate::helpers::TestApp;
use crate::with_pool;

async fn others_cannot_see_or_touch_an_application(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (_, owner) = app.create_user(Role::User).await;
    let (_, other) = app.create_user(Role::User).await;
    let r = start(&app, &owner, json!({"personalInformation": personal()})).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    upload(
        &app,
        &owner,
        &id,
        &[("idDocument", "id.png", "image/png", PNG)],
    )
    .await
    .assert_status(200);

    for r in [
        app.get_as(&other, &format!("/api/organizer/onboarding/{id}/status"))
            .await,
        step(&app, &other, &id, json!({"step": 3, "address": address()})).await,
        upload(
            &app,
            &other,
            &id,
            &[("idDocument", "id.pdf", "application/pdf", PDF)],
        )
        .await,
        submit(&app, &other, &id).await,
        app.get_as(&other, &format!("/api/organizer/{id}/documents/idDocument"))
            .await,
        app.get_as(&other, "/api/organizer/me").await,
    ] {
        r.assert_error(404, "NOT_FOUND");
    }
    app.get(&format!("/api/organizer/onboarding/{id}/status"))
        .await
        .assert_error(401, "UNAUTHORIZED");
    for path in [
        "/api/organizer/admin/applications".to_string(),
        format!("/api/organizer/admin/{id}/approve"),
    ] {
        let r = if path.ends_with("approve") {
            decide(&app, &other, &id, "approve", json!({})).await
        } else {
            app.get_as(&other, &path).await
        };
        r.assert_error(403, "FORBIDDEN");
    }

    // The owner and an admin read it; the document streams back as an attachment.
    app.get_as(&admin, &format!("/api/organizer/onboarding/{id}/status"))
        .await
        .assert_status(200);
    for token in [&owner, &admin] {
        let r = app
            .get_as(token, &format!("/api/organizer/{id}/documents/idDocument"))
            .await;
        r.assert_status(200);
        assert_eq!(r.header("content-type"), Some("image/png"));
        assert!(
            r.header("content-disposition")
                .unwrap()
                .starts_with("attachment")
        );
        assert_eq!(r.text, String::from_utf8_lossy(PNG));
    }
    app.get_as(
        &owner,
        &format!("/api/organizer/{id}/documents/taxDocument"),
    )
    .await
    .assert_error(404, "NOT_FOUND");
}

async fn documents_are_recognized_by_content_and_replaced_files_are_deleted(app: TestApp) {
    let (_, token) = app.create_user(Role::User).await;
    let id = start(&app, &token, json!({})).await.data()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xFF\xFF\0\0 This program cannot be run in DOS mode";
    upload(
        &app,
        &token,
        &id,
        &[("idDocument", "passport.pdf", "application/pdf", exe)],
    )
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    // One bad part refuses the whole upload: the good one before it is not kept either.
    upload(
        &app,
        &token,
        &id,
        &[
            ("businessLicense", "license.pdf", "application/pdf", PDF),
            (
                "taxDocument",
                "tax.pdf",
                "application/pdf",
                b"<html>not a pdf</html>",
            ),
        ],
    )
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    assert!(document_files(&app, &id).is_empty());
    upload(&app, &token, &id, &[("selfie", "me.png", "image/png", PNG)])
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.request(
        Method::POST,
        &format!("/api/organizer/onboarding/{id}/documents"),
    )
    .token(&token)
    .json(&json!({"idDocument": "x"}))
    .send()
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");

    upload(
        &app,
        &token,
        &id,
        &[("idDocument", "id.pdf", "application/pdf", PDF)],
    )
    .await
    .assert_status(200);
    let first = document_files(&app, &id);
    assert_eq!(first.len(), 1);
    assert!(
        first[0].ends_with(".pdf") && !first[0].contains("id"),
        "server-chosen name: {first:?}"
    );
    let r = upload(
        &app,
        &token,
        &id,
        &[("idDocument", "id.jpg", "image/jpeg", JPEG)],
    )
    .await;
    r.assert_status(200);
    assert_eq!(
        r.data()["documents"]["idDocument"]["contentType"],
        "image/jpeg"
    );
    let second = document_files(&app, &id);
    assert_eq!(second.len(), 1, "the replaced file is deleted: {second:?}");
    assert_ne!(second, first);
    let r = app
        .get_as(&token, &format!("/api/organizer/{id}/documents/idDocument"))
        .await;
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
}

async fn an_oversized_document_is_refused_while_streaming(app: TestApp) {
    let app = TestApp::builder(app.backend)
        .env("MAX_DOCUMENT_SIZE", "4096")
        .spawn()
        .await;
    let (_, token) = app.create_user(Role::User).await;
    let id = start(&app, &token, json!({})).await.data()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut big = PDF.to_vec();
    big.resize(4097, b'0');
    upload(
        &app,
        &token,
        &id,
        &[("idDocument", "big.pdf", "application/pdf", &big)],
    )
    .await
    .assert_error(413, "PAYLOAD_TOO_LARGE");
    // Without a Content-Length the cap still holds while reading.
    let (ct, body) = multipart(&[("idDocument", "big.pdf", "application/pdf", &big)]);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1024).map(|c| Ok(c.to_vec())).collect();
    app.request(
        Method::POST,
        &format!("/api/organizer/onboarding/{id}/documents"),
    )
    .token(&token)
    .body(
        &ct,
        reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
    )
    .send()
    .await
    .assert_error(413, "PAYLOAD_TOO_LARGE");
    // A body far beyond three documents is refused from its declared length.
    let huge = vec![b'0'; 64 * 1024];
    upload(
        &app,
        &token,
        &id,
        &[("idDocument", "huge.pdf", "application/pdf", &huge)],
    )
    .await
    .assert_error(413, "PAYLOAD_TOO_LARGE");
    assert!(document_files(&app, &id).is_empty(), "no half file left");
    let mut fits = PDF.to_vec();
    fits.resize(4096, b'0');
    upload(
        &app,
        &token,
        &id,
        &[("idDocument", "fits.pdf", "application/pdf", &fits)],
    )
    .await
    .assert_status(200);
}

async fn the_account_number_is_sealed_at_rest_and_only_its_last_four_shown(app: TestApp) {
    let (_, token) = app.create_user(Role::User).await;
    let r = start(&app, &token, json!({"bankingInformation": banking()})).await;
    r.assert_status(201);
    assert!(!r.text.contains(ACCOUNT_NUMBER));
    assert_eq!(r.data()["bankingInformation"]["accountNumberLast4"], "6789");
    assert!(
        r.data()["bankingInformation"]
            .get("accountNumber")
            .is_none()
    );
    let id: Uuid = r.data()["id"].as_str().unwrap().parse().unwrap();

    let (banking_json, sealed, key_id): (String, String, String) = with_pool!(app, pool => {
        sqlx::query_as(
            "SELECT banking_information, account_number_sealed, account_key_id
             FROM organizer_applications WHERE id = $1",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
    });
    assert!(!banking_json.contains(ACCOUNT_NUMBER), "{banking_json}");
    assert!(!sealed.contains(ACCOUNT_NUMBER), "{sealed}");
    assert_eq!(key_id, app.state.keyring.current_key_id());
    let sealed = Sealed {
        key_id,
        ciphertext: sealed,
    };
    assert_eq!(
        app.state.keyring.open(&sealed, id.as_bytes()).as_deref(),
        Some(ACCOUNT_NUMBER.as_bytes())
    );
    assert_eq!(
        app.state.keyring.open(&sealed, Uuid::new_v4().as_bytes()),
        None
    );

    for path in [
        format!("/api/organizer/onboarding/{id}/status"),
        "/api/organizer/me".to_string(),
    ] {
        let r = app.get_as(&token, &path).await;
        assert!(!r.text.contains(ACCOUNT_NUMBER), "{}", r.text);
        assert_eq!(r.data()["bankingInformation"]["accountNumberLast4"], "6789");
    }
}

async fn erasing_the_applicant_erases_the_application_data_and_its_files(app: TestApp) {
    let (_, admin) = app.admin().await;
    let (user_id, owner) = app.create_user(Role::User).await;
    let r = start(&app, &owner, json!({"personalInformation": personal()})).await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    step(
        &app,
        &owner,
        &id,
        json!({"step": 5, "bankingInformation": banking()}),
    )
    .await
    .assert_status(200);
    upload(
        &app,
        &owner,
        &id,
        &[("idDocument", "id.pdf", "application/pdf", PDF)],
    )
    .await
    .assert_status(200);
    assert_eq!(document_files(&app, &id).len(), 1);

    app.delete_as(&admin, &format!("/api/user/{user_id}"))
        .await
        .assert_status(200);

    assert!(document_files(&app, &id).is_empty(), "the file is deleted");
    let r = app
        .get_as(&admin, &format!("/api/organizer/onboarding/{id}/status"))
        .await;
    r.assert_status(200);
    assert_eq!(r.data()["documents"]["idDocument"]["status"], "MISSING");
    assert!(
        !r.text
            .contains(&personal()["firstName"].as_str().unwrap().to_string()),
        "{}",
        r.text
    );
    let app_id: Uuid = id.parse().unwrap();
    let (personal_json, sealed, documents): (String, Option<String>, i64) = with_pool!(app, pool => {
        sqlx::query_as(
            "SELECT personal_information, account_number_sealed,
                    (SELECT COUNT(*) FROM organizer_documents WHERE application_id = $1)
             FROM organizer_applications WHERE id = $1",
        )
        .bind(app_id)
        .fetch_one(pool)
        .await
        .unwrap()
    });
    assert_eq!(personal_json, "{}");
    assert_eq!(sealed, None);
    assert_eq!(documents, 0);
}

both_backends!(
    erasing_the_applicant_erases_the_application_data_and_its_files,
    others_cannot_see_or_touch_an_application,
    documents_are_recognized_by_content_and_replaced_files_are_deleted,
    an_oversized_document_is_refused_while_streaming,
    the_account_number_is_sealed_at_rest_and_only_its_last_four_shown,
);
