//! The test gateway's checkout page (API.md §11.25): `GET /payments/test/checkout/{reference}`
//! shows the payment with Pay and Decline buttons (no script, no external asset); the form posts
//! back to the same URL, which makes the test gateway's signed webhook and hands it to the same
//! webhook path as the real gateways. The answer is a result page, or a 303 to the payment's
//! `callbackUrl` with `reference` and `status` appended. The reference is the capability; a
//! double-submit token (a `SameSite=Strict` cookie equal to a form field) keeps other sites from
//! pressing the buttons for the buyer.

use crate::http::openapi::RoutesAt;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::gateways::test::SIGNATURE_HEADER;
use super::model::{PaymentRow, PaymentStatus, minor_per_major};
use crate::http::ApiPath;
use crate::state::AppState;

/// The test checkout routes.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes_at(p, routes!(show_checkout, submit_checkout))
}

const CSRF_COOKIE: &str = "tm_checkout_csrf";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An amount in major units for people: `1,500.00 NGN`.
fn money(amount: i64, currency: &str) -> String {
    let per = minor_per_major(currency);
    let digits = match per {
        1 => 0,
        1000 => 3,
        _ => 2,
    };
    let major = amount / per;
    let minor = amount % per;
    let grouped = major
        .to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(",");
    if digits == 0 {
        format!("{grouped} {currency}")
    } else {
        format!("{grouped}.{minor:0digits$} {currency}")
    }
}

fn page(status: StatusCode, title: &str, body: &str, csp_form_action: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · TicketMax test checkout</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1a1a2e}}\
         .card{{border:1px solid #ddd;border-radius:12px;padding:1.5rem}}\
         .note{{color:#555;font-size:.9rem}}\
         button{{font-size:1rem;padding:.7rem 1.4rem;border-radius:8px;border:0;margin-right:.5rem;cursor:pointer}}\
         .pay{{background:#1f7a4d;color:#fff}}.decline{{background:#eee;color:#222}}\
         </style></head><body><main class=\"card\">{body}</main></body></html>",
        title = escape(title)
    );
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {csp_form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Not found",
        "<h1>No such payment</h1><p class=\"note\">This checkout link is not valid.</p>",
        "",
    )
}

/// The origin a form may go on to: the payment's callback, which `initiate` checked.
fn callback_origin(p: &PaymentRow) -> String {
    p.callback_url
        .as_deref()
        .and_then(super::routes::origin_of)
        .unwrap_or_default()
}

async fn load(state: &AppState, reference: &str) -> Option<(PaymentRow, String)> {
    let (payment, title) = state.store.payment_with_title(reference).await.ok()??;
    (payment.gateway == "test").then_some((payment, title))
}

/// The test gateway's checkout page (no auth: the reference is the capability).
#[utoipa::path(get, path = "/payments/test/checkout/{reference}", tag = "payments",
    params(("reference" = String, Path, description = "Payment reference")),
    responses((status = 200, description = "HTML page with Pay and Decline", content_type = "text/html"), (status = 404, description = "No such test payment", content_type = "text/html")))]
async fn show_checkout(
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
) -> Response {
    if state.gateways.test().is_none() {
        return not_found();
    }
    let Some((payment, title)) = load(&state, &reference).await else {
        return not_found();
    };
    if payment.status != PaymentStatus::Pending {
        let body = format!(
            "<h1>Payment {}</h1><p>{} for {}.</p><p class=\"note\">Reference {}</p>",
            escape(&payment.status.as_str().to_lowercase()),
            escape(&money(payment.amount, &payment.currency)),
            escape(&title),
            escape(&payment.reference)
        );
        return page(StatusCode::OK, "Payment", &body, "");
    }
    let token = hex::encode(rand::random::<[u8; 16]>());
    let body = format!(
        "<h1>Test checkout</h1><p><strong>{amount}</strong> for {title}</p>\
         <p class=\"note\">Reference {reference}. This is the test gateway: no money moves.</p>\
         <form method=\"post\"><input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <button class=\"pay\" name=\"action\" value=\"pay\">Pay</button>\
         <button class=\"decline\" name=\"action\" value=\"decline\">Decline</button></form>",
        amount = escape(&money(payment.amount, &payment.currency)),
        title = escape(&title),
        reference = escape(&payment.reference),
    );
    let mut response = page(
        StatusCode::OK,
        "Test checkout",
        &body,
        &callback_origin(&payment),
    );
    let cookie = format!(
        "{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        if state.config.is_production() {
            "; Secure"
        } else {
            ""
        }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// The checkout form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckoutForm {
    /// `pay` or `decline`.
    pub action: String,
    /// The token of the page's cookie.
    #[serde(default)]
    pub csrf: String,
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    crate::web::session::cookie(headers, CSRF_COOKIE).map(str::to_string)
}

/// Pays or declines a test payment through the test gateway's signed webhook.
#[utoipa::path(post, path = "/payments/test/checkout/{reference}", tag = "payments",
    params(("reference" = String, Path, description = "Payment reference")),
    request_body(content = CheckoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "HTML result page", content_type = "text/html"),
        (status = 303, description = "To the payment's callbackUrl with `reference` and `status`"),
        (status = 400, description = "Unknown action, or a form not from this page", content_type = "text/html"),
        (status = 404, description = "No such test payment", content_type = "text/html"),
    ))]
async fn submit_checkout(
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
    headers: HeaderMap,
    Form(form): Form<CheckoutForm>,
) -> Response {
    let Some(test) = state.gateways.test() else {
        return not_found();
    };
    let Some((payment, title)) = load(&state, &reference).await else {
        return not_found();
    };
    let paid = match form.action.as_str() {
        "pay" => true,
        "decline" => false,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                "Checkout",
                "<h1>Unknown action</h1>",
                "",
            );
        }
    };
    let same_form = cookie_token(&headers).is_some_and(|c| {
        !c.is_empty() && crate::crypto::constant_time_eq(c.as_bytes(), form.csrf.as_bytes())
    });
    if !same_form {
        return page(
            StatusCode::BAD_REQUEST,
            "Checkout",
            "<h1>This form has expired</h1><p class=\"note\">Open the checkout link again.</p>",
            "",
        );
    }
    // The same path as a real gateway's webhook: signed, verified, applied once.
    let (body, signature) = test.event_for(&payment, paid);
    let mut webhook_headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&signature) {
        webhook_headers.insert(SIGNATURE_HEADER, v);
    }
    let after = match super::flows::receive_webhook(&state, "test", &webhook_headers, &body).await {
        Ok(after) => after.unwrap_or(payment),
        Err(e) => {
            tracing::warn!(error = %e.message, "test checkout could not apply its webhook");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Checkout",
                "<h1>Something went wrong</h1><p class=\"note\">Try again in a moment.</p>",
                "",
            );
        }
    };
    let success = after.status.paid();
    if let Some(callback) = &after.callback_url {
        let sep = if callback.contains('?') { '&' } else { '?' };
        let location = format!(
            "{callback}{sep}reference={}&status={}",
            after.reference,
            if success { "success" } else { "failed" }
        );
        if let Ok(v) = HeaderValue::from_str(&location) {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response();
        }
    }
    let body = if success {
        format!(
            "<h1>Payment received</h1><p>{} for {}. Your booking is confirmed.</p><p class=\"note\">Reference {}</p>",
            escape(&money(after.amount, &after.currency)),
            escape(&title),
            escape(&after.reference)
        )
    } else {
        format!(
            "<h1>Payment declined</h1><p>Nothing was charged for {}. Your tickets stay held until the hold ends.</p><p class=\"note\">Reference {}</p>",
            escape(&title),
            escape(&after.reference)
        )
    };
    page(StatusCode::OK, "Checkout", &body, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_major_units() {
        assert_eq!(money(150_000, "NGN"), "1,500.00 NGN");
        assert_eq!(money(5, "USD"), "0.05 USD");
        assert_eq!(money(1500, "JPY"), "1,500 JPY");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
