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

/// What schemathesis (scripts/fuzz-api) found the document missing, kept true for every route:
/// successes are documented as the envelope, every refusal as the error envelope, the refusals
/// any route gives are listed, pagination and times carry their bounds and formats, `fields`
/// names only real fields, and server-sent events describe their `data`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_documents_the_envelopes_and_the_shared_refusals() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/api-json").await.body;
    let error = serde_json::json!({"$ref": "#/components/schemas/ErrorEnvelope"});
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let name = format!("{} {path}", method.to_uppercase());
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"], error,
                        "{name} {status}"
                    );
                }
                if status.starts_with('2')
                    && let Some(schema) = response.pointer("/content/application~1json/schema")
                {
                    assert_eq!(schema["properties"]["success"]["const"], true, "{name}");
                    assert!(schema["properties"].get("data").is_some(), "{name}");
                }
                if let Some(schema) = response.pointer("/content/text~1event-stream/schema") {
                    assert!(
                        schema["properties"]["data"].get("contentSchema").is_some(),
                        "{name}"
                    );
                }
            }
            let mut expected = vec![];
            if path.starts_with("/api/") {
                expected.extend(["401", "403", "429"]);
            }
            if path.contains('{') {
                expected.extend(["400", "404"]);
            }
            if op.get("requestBody").is_some() {
                expected.extend(["400", "413", "415"]);
            }
            for status in expected {
                assert!(responses.contains_key(status), "{name} lacks {status}");
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                let schema = &param["schema"];
                match param["name"].as_str().unwrap() {
                    "page" => assert_eq!(schema["minimum"], 1, "{name}"),
                    "limit" => {
                        assert_eq!(schema["minimum"], 1, "{name}");
                        assert!(schema["maximum"].as_i64().is_some(), "{name}");
                    }
                    "from" | "to" | "fields" => {
                        assert!(schema["pattern"].is_string(), "{name} {}", param["name"])
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(operations > 80, "{operations} operations");
    let list = &doc["paths"]["/api/events"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert!(
        list["required"]
            .as_array()
            .unwrap()
            .contains(&"meta".into()),
        "a page documents its meta"
    );
    let fields = doc["paths"]["/api/events"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "fields")
        .unwrap()["schema"]["pattern"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fields.contains("ticketsAvailable") && !fields.contains("password"));
}

/// Two schemas named `Address` once overwrote each other, so the onboarding body was published
/// with the users' address (`street`) and answers failed their own document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_of_the_same_rust_name_are_published_apart() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/api-json").await.body;
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["Address"]["properties"].get("street").is_some());
    assert!(
        schemas["ApplicationAddress"]["properties"]
            .get("address")
            .is_some()
    );
    let guest = &doc["paths"]["/api/bookings/guest"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        guest["allOf"][1]["required"],
        serde_json::json!(["customerEmail", "customerName"]),
        "a guest's contact is required"
    );
}

/// Completing the document once gave operations without parameters `"parameters": null`, which
/// is no OpenAPI: a key the routes do not declare stays absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_without_parameters_have_no_parameters_key() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/api-json").await.body;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(params) = op.get("parameters") {
                assert!(params.is_array(), "{method} {path}: {params}");
            }
        }
    }
}
