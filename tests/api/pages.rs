//! A browser-like client of the server-rendered pages (cookies kept, redirects not followed),
//! and WEB.md's HTML check of a page, shared by the console's, the storefront's and the door's
//! tests.

use std::collections::HashMap;

use reqwest::Method;

use crate::helpers::TestApp;

/// A page's answer: status, headers and body.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The `value` of the first hidden input named `name`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} field in {}", self.body))
            + marker.len();
        self.body[start..start + self.body[start..].find('"').unwrap()].to_string()
    }
}

/// A browser-like client of the pages: it keeps the cookies it is given, follows no redirect.
pub struct Visitor<'a> {
    app: &'a TestApp,
    pub cookies: HashMap<String, String>,
    /// Headers sent with every request (a client address behind the trusted proxy).
    pub headers: Vec<(&'static str, String)>,
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: HashMap::new(),
            headers: Vec::new(),
        }
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Page {
        let mut req = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.address));
        for (name, value) in &self.headers {
            req = req.header(*name, value);
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        if let Some(fields) = form {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.iter().copied())
                .finish();
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let r = req.send().await.expect("request");
        let page = Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.expect("body"),
        };
        for cookie in page.set_cookies() {
            let pair = cookie.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, Some(form)).await
    }

    /// Opens the console's sign-in form and submits it.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/admin/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.hidden("csrf");
        self.post(
            "/admin/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    /// The CSRF token of the console's forms (from the sign-out form of any page).
    pub async fn csrf(&mut self) -> String {
        self.get("/admin").await.hidden("csrf")
    }
}

/// The tags of a page: name (lower case, `/name` for a closing tag), attributes, and where the
/// tag ends in the text.
pub fn tags(html: &str) -> Vec<(String, HashMap<String, String>, usize)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = html[rest..].find('<') {
        let start = rest + open + 1;
        let Some(close) = html[start..].find('>') else {
            break;
        };
        let inner = &html[start..start + close];
        rest = start + close + 1;
        if inner.starts_with('!') {
            continue;
        }
        let name_end = inner
            .find(|c: char| c.is_whitespace())
            .unwrap_or(inner.len());
        let name = inner[..name_end].to_ascii_lowercase();
        let mut attrs = HashMap::new();
        let mut text = &inner[name_end..];
        loop {
            text = text.trim_start();
            if text.is_empty() {
                break;
            }
            let key_end = text
                .find(|c: char| c == '=' || c.is_whitespace())
                .unwrap_or(text.len());
            let key = text[..key_end].to_ascii_lowercase();
            text = &text[key_end..];
            let value = if let Some(after) = text.strip_prefix("=\"") {
                let end = after.find('"').expect("closed attribute");
                text = &after[end + 1..];
                after[..end].to_string()
            } else {
                String::new()
            };
            attrs.insert(key, value);
        }
        out.push((name, attrs, rest));
    }
    out
}

/// WEB.md's checks of a page: title, one `h1`, `lang`, a label for every field, no asset from
/// elsewhere, no inline script or style; and the pages' headers.
pub fn check_page(path: &str, page: &Page) {
    let html = &page.body;
    let csp = page.header("content-security-policy");
    assert_eq!(
        csp,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        "{path}"
    );
    assert_eq!(page.header("x-content-type-options"), "nosniff", "{path}");
    assert!(!page.header("referrer-policy").is_empty(), "{path}");
    assert!(
        page.header("content-type").starts_with("text/html"),
        "{path}"
    );
    let tags = tags(html);
    let html_tag = tags.iter().find(|(n, _, _)| n == "html").expect("html tag");
    assert_eq!(
        html_tag.1.get("lang").map(String::as_str),
        Some("en"),
        "{path}"
    );
    let title_end = tags.iter().find(|(n, _, _)| n == "title").expect("title").2;
    let title = &html[title_end..title_end + html[title_end..].find("</title>").unwrap()];
    assert!(
        title.trim().len() > 12 && title.contains("TicketMax"),
        "{path}: title {title:?}"
    );
    assert_eq!(
        tags.iter().filter(|(n, _, _)| n == "h1").count(),
        1,
        "{path}: one h1"
    );
    let labelled: Vec<&str> = tags
        .iter()
        .filter(|(n, _, _)| n == "label")
        .filter_map(|(_, a, _)| a.get("for").map(String::as_str))
        .collect();
    for (name, attrs, _) in &tags {
        assert!(
            !attrs.contains_key("style"),
            "{path}: style attribute on {name}"
        );
        assert!(
            !attrs.keys().any(|k| k.starts_with("on")),
            "{path}: inline handler on {name}"
        );
        if matches!(name.as_str(), "input" | "select" | "textarea")
            && !matches!(
                attrs.get("type").map(String::as_str),
                Some("hidden" | "submit" | "button")
            )
        {
            let id = attrs
                .get("id")
                .unwrap_or_else(|| panic!("{path}: {name} without id"));
            assert!(
                labelled.contains(&id.as_str()),
                "{path}: no label for #{id}"
            );
        }
        for key in ["src", "href"] {
            if let Some(url) = attrs.get(key)
                && matches!(name.as_str(), "script" | "link" | "img")
            {
                assert!(
                    !url.starts_with("http:")
                        && !url.starts_with("https:")
                        && !url.starts_with("//"),
                    "{path}: outside asset {url}"
                );
            }
        }
    }
    assert!(!html.contains("<style"), "{path}: inline style sheet");
    for (name, attrs, end) in &tags {
        if name == "script" {
            assert!(attrs.contains_key("src"), "{path}: inline script");
            assert!(html[*end..].starts_with("</script>"), "{path}: script body");
        }
    }
}

/// Where a page test's screenshots go: `target/test-artifacts/{set}/` (beside
/// `CARGO_TARGET_TMPDIR`, so it follows `CARGO_TARGET_DIR`).
pub fn artifacts(set: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("test-artifacts")
        .join(set)
}
