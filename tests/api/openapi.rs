//! The OpenAPI document (snapshot) and the offline docs page.

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_snapshot() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let r = app.get("/api-json").await;
    r.assert_status(200);
    assert_eq!(r.body["openapi"], "3.1.0");
    let same = app.get("/api/openapi.json").await;
    assert_eq!(r.body, same.body);
    insta::assert_json_snapshot!("openapi", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_path_in_the_document_carries_the_prefix() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/api-json").await.body;
    for path in doc["paths"].as_object().unwrap().keys() {
        let operational = path == "/metrics" || path.starts_with("/health");
        assert!(
            operational || path.starts_with("/api/"),
            "{path} lacks the /api prefix"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_and_its_assets_are_served_by_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for page in ["/api", "/api/docs"] {
        let r = app.get(page).await;
        r.assert_status(200);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(
            !r.text.contains("http://") && !r.text.contains("https://"),
            "no external asset in {page}"
        );
        for asset in [
            "swagger-ui.css",
            "swagger-ui-bundle.js",
            "swagger-ui-standalone-preset.js",
            "swagger-initializer.js",
        ] {
            assert!(
                r.text.contains(&format!("/api/docs/{asset}")),
                "{asset} not linked"
            );
            let a = app.get(&format!("/api/docs/{asset}")).await;
            a.assert_status(200);
        }
    }
    let init = app.get("/api/docs/swagger-initializer.js").await;
    assert!(
        init.text.contains("/api-json"),
        "the UI loads the local document"
    );
}
