//! The route × role table: every route of the OpenAPI document is called as anonymous, USER,
//! ORGANIZER, ADMIN and "other owner" (a USER acting on another user's resource), and must give
//! the contract's answer. A route without an entry (or an entry without a route) fails the test,
//! so a new route cannot ship without deciding who may call it.
//!
//! `A` = allowed (the answer is neither 401 nor 403: the request reached the route's own rules,
//! e.g. 200, 400 for the empty body, 404 for an unknown id), `U` = 401, `F` = 403, `N` = 404.

use std::collections::BTreeSet;

use crate::both_backends;
use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::json;
use ticketmax::users::model::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    A,
    U,
    F,
    // Another owner's booking, payment or application (§11.5): used by other areas' entries.
    #[allow(dead_code)]
    N,
}
use Want::*;

/// (method, path, [anonymous, USER, ORGANIZER, ADMIN, other owner]).
const TABLE: &[(&str, &str, [Want; 5])] = &[
    ("GET", "/health", [A, A, A, A, A]),
    ("GET", "/health/database", [A, A, A, A, A]),
    ("GET", "/health/services", [A, A, A, A, A]),
    ("GET", "/metrics", [A, A, A, A, A]),
    ("POST", "/api/admin-seed/create-admin", [F, F, F, F, F]),
    ("POST", "/api/user/register", [A, A, A, A, A]),
    ("POST", "/api/user/verify-email", [A, A, A, A, A]),
    ("POST", "/api/user/resend-verification", [A, A, A, A, A]),
    ("POST", "/api/user/login", [A, A, A, A, A]),
    ("POST", "/api/user/refresh", [A, A, A, A, A]),
    ("POST", "/api/user/logout", [U, A, A, A, A]),
    ("POST", "/api/user/forgot-password", [A, A, A, A, A]),
    ("POST", "/api/user/reset-password", [A, A, A, A, A]),
    ("POST", "/api/user/change-password", [U, A, A, A, A]),
    ("GET", "/api/user/profile", [U, A, A, A, A]),
    ("PATCH", "/api/user/profile", [U, A, A, A, A]),
    ("POST", "/api/user/phone/send-code", [U, A, A, A, A]),
    ("POST", "/api/user/phone/verify", [U, A, A, A, A]),
    ("GET", "/api/user", [U, F, F, A, F]),
    ("GET", "/api/user/{id}", [U, A, A, A, F]),
    ("DELETE", "/api/user/{id}", [U, F, F, A, F]),
    ("PATCH", "/api/user/{id}/role", [U, F, F, A, F]),
    ("PATCH", "/api/user/{id}/status", [U, F, F, A, F]),
    ("GET", "/api/admin/blocked-ips", [U, F, F, A, F]),
    ("DELETE", "/api/admin/blocked-ips/{ip}", [U, F, F, A, F]),
    ("GET", "/api/admin/audit-log", [U, F, F, A, F]),
    ("GET", "/api/admin/notifications", [U, F, F, A, F]),
];

const CALLERS: [&str; 5] = ["anonymous", "USER", "ORGANIZER", "ADMIN", "other owner"];

/// Every (method, path) the OpenAPI document describes.
async fn documented_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let doc = app.get("/api-json").await.body;
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

both_backends! {
    async fn every_route_answers_each_role_as_the_contract_says(app) {
        let documented = documented_routes(&app).await;
        let table: BTreeSet<(String, String)> =
            TABLE.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
        let missing: Vec<_> = documented.difference(&table).collect();
        assert!(missing.is_empty(), "routes without an entry in the authz table: {missing:?}");
        let stale: Vec<_> = table.difference(&documented).collect();
        assert!(stale.is_empty(), "authz entries for routes that do not exist: {stale:?}");

        let (user_id, user) = app.create_user(Role::User).await;
        let (organizer_id, organizer) = app.create_user(Role::Organizer).await;
        let (_, admin) = app.create_user(Role::Admin).await;
        let (victim_id, _) = app.create_user(Role::User).await;
        let mut failures = Vec::new();
        for (method, path, wants) in TABLE {
            for (i, want) in wants.iter().enumerate() {
                // The id each caller puts in `{id}`: its own, or someone else's for the admin
                // (so erasure does not remove the admin) and for "other owner".
                let (token, id) = match i {
                    0 => (None, victim_id),
                    1 => (Some(&user), user_id),
                    2 => (Some(&organizer), organizer_id),
                    3 => (Some(&admin), victim_id),
                    _ => (Some(&user), victim_id),
                };
                let url = path.replace("{id}", &id.to_string()).replace("{ip}", "203.0.113.1");
                let mut req = app.request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
                    .header("user-agent", "authz-table");
                if let Some(t) = token {
                    req = req.token(t);
                }
                if *method != "GET" && *method != "DELETE" {
                    req = req.json(&json!({}));
                }
                let r = req.send().await;
                let status = r.status.as_u16();
                let ok = match want {
                    A => status != 401 && status != 403,
                    U => status == 401,
                    F => status == 403,
                    N => status == 404,
                };
                if !ok {
                    failures.push(format!("{method} {path} as {}: want {want:?}, got {status} {}", CALLERS[i], r.text));
                }
            }
        }
        assert!(failures.is_empty(), "authz table mismatches:\n{}", failures.join("\n"));
    }
}
