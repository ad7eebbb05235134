//! The server-rendered pages' shared plumbing (WEB.md): the template environment with its
//! `base.html` layout, the embedded static assets under content-hashed URLs, money and date
//! wording, the strict security headers of a page, and the session cookie with its CSRF token.
//! The console at `/admin` ([`console`]), the door at `/door` ([`door`]) and the storefront
//! ([`shop`]) use it.

pub mod assets;
pub mod console;
pub mod door;
pub mod format;
pub mod session;
pub mod shop;

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::{Environment, Value};

use crate::state::AppState;

/// Content-Security-Policy of every page: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The pages' routes: the static files, the console, the door and the storefront.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/{file}", get(assets::serve))
        .merge(console::router())
        .merge(door::router())
        .merge(shop::router())
}

/// Whether a path is a page's (answered in HTML, refusals included) rather than the API's or an
/// operational route's.
pub fn is_page(path: &str) -> bool {
    path == "/"
        || door::is_door_path(path)
        || ["/admin", "/account", "/events/", "/checkout/", "/bookings/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// The API route whose rate-limit bucket a page's form spends (a sign-in is a login wherever
/// it is made).
pub fn api_route_of(path: &str) -> Option<&'static str> {
    Some(match path {
        console::LOGIN_PATH | shop::LOGIN_PATH => "/user/login",
        p if door::is_check_in(p) => "/checkin",
        shop::REGISTER_PATH => "/user/register",
        shop::VERIFY_PATH => "/user/verify-email",
        shop::FORGOT_PATH => "/user/forgot-password",
        shop::RESET_PATH => "/user/reset-password",
        _ => return None,
    })
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
        env.add_filter("urlencode", format::urlencode);
        env.add_function("asset", assets::url);
        let sources = templates!(
            "layout.html",
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
            "shop/base.html",
            "shop/macros.html",
            "shop/message.html",
            "shop/home.html",
            "shop/event.html",
            "shop/details.html",
            "shop/checkout.html",
            "shop/booking.html",
            "shop/tickets.html",
            "shop/login.html",
            "shop/register.html",
            "shop/verify.html",
            "shop/forgot.html",
            "shop/reset.html",
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

/// A template's HTML.
pub fn render_html(name: &str, ctx: Value) -> Result<String, minijinja::Error> {
    environment().get_template(name).and_then(|t| t.render(ctx))
}

/// Renders a template; a failure is logged and answered with a plain 500 page.
pub fn render(status: StatusCode, name: &str, ctx: Value) -> Response {
    match render_html(name, ctx) {
        Ok(body) => page(status, body),
        Err(e) => {
            tracing::error!(error = %e, template = name, "a page could not be rendered");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error · TicketMax</title></head><body><main><h1>Something went wrong</h1><p>Try again in a moment.</p></main></body></html>",
            )
        }
    }
}

/// An HTML answer with the page headers: the strict CSP and no caching (pages are personal);
/// the other security headers (`nosniff`, `Referrer-Policy`, …) are every answer's.
pub fn page(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.into(),
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
        assert!(env.templates().count() >= 28);
    }
}
