//! The server-rendered pages' shared plumbing (WEB.md): the template environment with its
//! `base.html` layout, the embedded static assets under content-hashed URLs, money and date
//! wording, the strict security headers of a page, and the session cookie with its CSRF token.
//! The console at `/admin` ([`console`]) and the door at `/door` ([`door`]) use it.

pub mod assets;
pub mod console;
pub mod door;
pub mod format;
pub mod session;

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::{Environment, Value};

use crate::state::AppState;

/// Content-Security-Policy of every page: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The pages' routes: the static files, the console and the door.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/{file}", get(assets::serve))
        .merge(console::router())
        .merge(door::router())
}

/// Declares the embedded templates by path under `templates/`.
macro_rules! templates {
    ($($name:literal),+ $(,)?) => {
        [$(($name, include_str!(concat!("templates/", $name)))),+]
    };
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        // The emails' escaping: `& < > " '`, leaving `/` readable in links and asset URLs.
        env.set_formatter(crate::notify::templates::html_formatter);
        env.add_filter("money", format::money);
        env.add_filter("datetime", format::datetime);
        env.add_filter("percent", format::percent);
        env.add_filter("major", format::major);
        env.add_function("asset", assets::url);
        let sources = templates!(
            "base.html",
            "message.html",
            "macros.html",
            "console/login.html",
            "console/overview.html",
            "console/events.html",
            "console/event.html",
            "console/applications.html",
            "console/users.html",
            "console/audit.html",
            "console/blocked.html",
            "console/notifications.html",
            "door/events.html",
            "door/scanner.html",
        );
        for (name, source) in sources {
            env.add_template(name, source)
                .expect("embedded templates are valid (checked by tests)");
        }
        env
    })
}

/// Renders a template; a failure is logged and answered with a plain 500 page.
pub fn render(status: StatusCode, name: &str, ctx: Value) -> Response {
    match environment().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(body) => page(status, body),
        Err(e) => {
            tracing::error!(error = %e, template = name, "a page could not be rendered");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error · TicketMax</title></head><body><main><h1>Something went wrong</h1><p>Try again in a moment.</p></main></body></html>".to_string(),
            )
        }
    }
}

/// An HTML answer with the page headers: the strict CSP and no caching (pages are personal);
/// the other security headers (`nosniff`, `Referrer-Policy`, …) are every answer's.
pub fn page(status: StatusCode, body: String) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A value of a page's context from anything serializable (views, figures, times).
pub fn serialized<T: serde::Serialize>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// A page with a heading and a sentence (refusals, errors, "not found"), inside the layout.
pub fn message(status: StatusCode, heading: &str, text: &str, shell: Value) -> Response {
    render(
        status,
        "message.html",
        minijinja::context! { shell, heading, text },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let env = environment();
        assert!(env.templates().count() >= 14);
    }
}
