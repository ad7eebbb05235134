//! `/payments`: initiate, verify, webhooks, history, one payment, refunds and the gateway list
//! (API.md §5); the test gateway's checkout page is in [`super::checkout`].

use crate::http::openapi::RoutesAt;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::flows;
use super::gateways::{Checkout, NAMES};
use super::model::{NewRefund, Opened, PaymentRow, PaymentStatus, PaymentView};
use crate::bookings::routes::{Access, Caller, access};
use crate::bookings::{BookingRow, BookingStatus};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResponse, ApiResult, ErrorCode, Meta, Page, Validator,
    idempotency,
};
use crate::state::AppState;
use crate::users::AuthUser;

/// Routes under `/payments`.
pub fn router(p: &str, state: &AppState) -> OpenApiRouter<AppState> {
    let keyed =
        |scope| axum::middleware::from_fn_with_state((state.clone(), scope), idempotency::layer);
    OpenApiRouter::new()
        .merge(
            OpenApiRouter::new()
                .routes_at(p, routes!(initiate_payment))
                .routes_at(p, routes!(refund_payment))
                .route_layer(keyed(idempotency::Scope::Account)),
        )
        .routes_at(p, routes!(verify_payment))
        .routes_at(p, routes!(paystack_webhook))
        .routes_at(p, routes!(flutterwave_webhook))
        .routes_at(p, routes!(stripe_webhook))
        .routes_at(p, routes!(payment_history))
        .routes_at(p, routes!(list_gateways))
        .routes_at(p, routes!(get_payment))
        .merge(super::checkout::router(p))
}

/// Body of `initiate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitiateBody {
    pub booking_id: Uuid,
    /// `paystack`, `flutterwave`, `stripe` or `test`; default: `PAYMENT_GATEWAY`.
    pub gateway: Option<String>,
    /// Where the buyer returns; its origin must be `PUBLIC_BASE_URL`'s or in `CORS_ORIGINS`.
    pub callback_url: Option<String>,
}

/// A started checkout.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Initiated {
    pub reference: String,
    /// Where the buyer pays.
    pub authorization_url: String,
    pub gateway: String,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
}

/// `scheme://host[:port]` of an absolute http(s) URL, lower-cased.
pub(super) fn origin_of(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .map(|r| ("https://", r))
        .or_else(|| lower.strip_prefix("http://").map(|r| ("http://", r)))?;
    let host = rest.1.split(['/', '?', '#']).next()?;
    if host.is_empty() || host.contains('@') {
        return None;
    }
    Some(format!("{}{host}", rest.0))
}

/// A `callbackUrl` whose origin the platform trusts (API.md §11.70).
fn check_callback(state: &AppState, v: &mut Validator, url: Option<&str>) {
    let Some(url) = url else {
        return;
    };
    let allowed = origin_of(url).is_some_and(|o| {
        origin_of(&state.config.public_base_url).as_deref() == Some(o.as_str())
            || state
                .config
                .cors_origins
                .iter()
                .any(|c| origin_of(c).as_deref() == Some(o.as_str()))
    });
    v.check(
        url.len() <= 2048 && allowed,
        "callbackUrl",
        "must be an http(s) URL on PUBLIC_BASE_URL's origin or one of CORS_ORIGINS",
    );
}

/// A booking and the caller's relation to it, answering as the booking routes do.
async fn booking_for(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<(BookingRow, Access)> {
    let row = state
        .store
        .booking_by_id(id)
        .await?
        .ok_or_else(|| match caller {
            Caller::Guest(_) => ApiError::unauthorized(),
            Caller::User(_) => ApiError::not_found("Booking"),
        })?;
    let relation = access(caller, &row, Utc::now())?;
    Ok((row, relation))
}

/// Starts paying a PENDING booking through a gateway (its owner or guest token).
#[utoipa::path(post, path = "/payments/initiate", tag = "payments",
    request_body = InitiateBody,
    params(idempotency::KeyHeader),
    responses(
        (status = 201, description = "A new checkout", body = Initiated),
        (status = 200, description = "The booking's pending checkout through this gateway", body = Initiated),
        (status = 400, description = "Invalid body, unknown or disabled gateway, unsupported currency, untrusted callbackUrl"),
        (status = 401, description = "Not signed in, or a guest token of another booking"),
        (status = 404, description = "No such booking, or not yours"),
        (status = 409, description = "INVALID_STATE: the booking is not PENDING"),
        (status = 410, description = "HOLD_EXPIRED"),
        (status = 503, description = "The gateway could not start the checkout"),
    ))]
pub(crate) async fn initiate_payment(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<InitiateBody>,
) -> ApiResult<ApiResponse<Initiated>> {
    let gateways = &state.gateways;
    let mut v = Validator::new();
    let name = body
        .gateway
        .as_deref()
        .map(str::to_ascii_lowercase)
        .or_else(|| gateways.default_name().map(str::to_string));
    let gateway = match name.as_deref() {
        None => {
            v.add("gateway", "is required: no default gateway is configured");
            None
        }
        Some(n) if !NAMES.contains(&n) => {
            v.add("gateway", "must be paystack, flutterwave, stripe or test");
            None
        }
        Some(n) => match gateways.get(n) {
            Some(g) if g.initiable() => Some(g.clone()),
            Some(_) => {
                v.add(
                    "gateway",
                    "offline payments are recorded by staff when they confirm",
                );
                None
            }
            None => {
                v.add("gateway", "is not enabled on this server");
                None
            }
        },
    };
    check_callback(&state, &mut v, body.callback_url.as_deref());
    v.finish()?;
    let Some(gateway) = gateway else {
        return Err(ApiError::field("gateway", "is not available"));
    };
    let (booking, relation) = booking_for(&state, &caller, body.booking_id).await?;
    if relation != Access::Owner {
        return Err(ApiError::not_found("Booking"));
    }
    let now = Utc::now();
    match booking.effective_status(now) {
        BookingStatus::Pending => {}
        BookingStatus::Expired => {
            return Err(ApiError::new(
                ErrorCode::HoldExpired,
                "The hold on this booking has expired",
            ));
        }
        other => {
            return Err(ApiError::invalid_state(format!(
                "A {other} booking cannot be paid"
            )));
        }
    }
    if !gateway.supports_currency(&booking.currency) {
        return Err(ApiError::field(
            "gateway",
            format!(
                "{} does not take payments in {}",
                gateway.name(),
                booking.currency
            ),
        ));
    }
    let reference = super::model::new_reference();
    let new = PaymentRow {
        id: Uuid::now_v7(),
        authorization_url: gateway.local_checkout_url(&reference),
        reference,
        booking_id: booking.id,
        user_id: booking.user_id,
        gateway: gateway.name().to_string(),
        amount: booking.total_amount,
        currency: booking.currency.clone(),
        status: PaymentStatus::Pending,
        refunded_amount: 0,
        gateway_reference: None,
        callback_url: body.callback_url.clone(),
        paid_at: None,
        failure_reason: None,
        created_at: now,
        updated_at: now,
    };
    let extension = chrono::Duration::from_std(state.config.payments.hold_extension)
        .unwrap_or(chrono::Duration::minutes(15));
    let answer = |p: &PaymentRow, url: String| Initiated {
        reference: p.reference.clone(),
        authorization_url: url,
        gateway: p.gateway.clone(),
        amount: p.amount,
        currency: p.currency.clone(),
    };
    match super::engine::open(&state.store, super::model::Open { new, extension }).await? {
        Opened::NotPending => Err(ApiError::invalid_state("The booking changed meanwhile")),
        Opened::Existing(p) => Ok(ApiResponse::ok(answer(
            &p,
            p.authorization_url.clone().unwrap_or_default(),
        ))
        .message("The booking's pending payment")),
        Opened::New(p) if p.authorization_url.is_some() => {
            let url = p.authorization_url.clone().unwrap_or_default();
            Ok(ApiResponse::created(answer(&p, url)).message("Payment initiated"))
        }
        Opened::New(p) => {
            let default_return = format!(
                "{}/bookings/{}",
                state.config.public_base_url.trim_end_matches('/'),
                p.booking_id
            );
            let checkout = Checkout {
                reference: &p.reference,
                amount: p.amount,
                currency: &p.currency,
                email: &booking.customer_email,
                // Gateways send the buyer back somewhere; without a callback, to the booking's
                // page on this platform.
                callback_url: Some(p.callback_url.as_deref().unwrap_or(&default_return)),
                description: &booking.event_title,
            };
            match gateway.initialize(&checkout).await {
                Ok(started) => {
                    state
                        .store
                        .set_checkout(
                            p.id,
                            &started.authorization_url,
                            started.gateway_reference.as_deref(),
                        )
                        .await?;
                    Ok(ApiResponse::created(answer(&p, started.authorization_url))
                        .message("Payment initiated"))
                }
                Err(e) => {
                    tracing::warn!(error = %e, gateway = gateway.name(), "checkout could not start");
                    state
                        .store
                        .fail_payment(p.id, &e.to_string(), Utc::now())
                        .await?;
                    Err(ApiError::unavailable(
                        "The payment gateway could not start the checkout",
                    ))
                }
            }
        }
    }
}

/// Asks the gateway about a payment, records the outcome and confirms the booking on success.
#[utoipa::path(get, path = "/payments/verify/{reference}", tag = "payments",
    params(("reference" = String, Path, description = "Payment reference")),
    responses(
        (status = 200, description = "The payment (PENDING while the gateway has not settled it)", body = PaymentView),
        (status = 401, description = "Not signed in, or a guest token of another booking"),
        (status = 404, description = "No such payment, or not yours"),
        (status = 503, description = "The gateway did not answer"),
    ))]
async fn verify_payment(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(reference): ApiPath<String>,
) -> ApiResult<ApiResponse<PaymentView>> {
    let payment = state
        .store
        .payment_by_reference(&reference)
        .await?
        .ok_or_else(|| ApiError::not_found("Payment"))?;
    let (_, relation) = booking_for(&state, &caller, payment.booking_id).await?;
    let admin = matches!(&caller, Caller::User(u) if u.is_admin());
    if relation != Access::Owner && !admin {
        return Err(ApiError::not_found("Payment"));
    }
    if payment.status != PaymentStatus::Pending {
        return Ok(ApiResponse::ok(PaymentView::from(&payment)));
    }
    let gateway = flows::gateway_of(&state, &payment.gateway)?;
    let settlement = gateway
        .verify(&payment)
        .await
        .map_err(|e| ApiError::unavailable(format!("The payment gateway did not answer: {e}")))?;
    let after = match flows::apply(&state, &reference, &settlement, None).await? {
        Some((_, after)) => after,
        None => payment,
    };
    Ok(ApiResponse::ok(PaymentView::from(&after)).message("Payment verified"))
}

async fn webhook(
    state: &AppState,
    gateway: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<ApiResponse<()>> {
    flows::receive_webhook(state, gateway, headers, body).await?;
    Ok(ApiResponse::ok(()).message("Received"))
}

/// Paystack's webhook: `x-paystack-signature` is the hex HMAC-SHA512 of the raw body.
#[utoipa::path(post, path = "/payments/webhook/paystack", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "Paystack's event, as sent"),
    responses((status = 200, description = "Received (a repeat changes nothing)"), (status = 401, description = "Bad or missing signature, or the gateway is not enabled")))]
async fn paystack_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<ApiResponse<()>> {
    webhook(&state, "paystack", &headers, &body).await
}

/// Flutterwave's webhook: `verif-hash` equals `FLUTTERWAVE_WEBHOOK_HASH`; the transaction is then
/// verified through Flutterwave's API before it is trusted.
#[utoipa::path(post, path = "/payments/webhook/flutterwave", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "Flutterwave's event, as sent"),
    responses((status = 200, description = "Received (a repeat changes nothing)"), (status = 401, description = "Bad or missing hash, or the gateway is not enabled")))]
async fn flutterwave_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<ApiResponse<()>> {
    webhook(&state, "flutterwave", &headers, &body).await
}

/// Stripe's webhook: `Stripe-Signature` `t=…,v1=…` over `t.body`, 5 minutes' tolerance.
#[utoipa::path(post, path = "/payments/webhook/stripe", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "Stripe's event, as sent"),
    responses((status = 200, description = "Received (a repeat changes nothing)"), (status = 401, description = "Bad, stale or missing signature, or the gateway is not enabled")))]
async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<ApiResponse<()>> {
    webhook(&state, "stripe", &headers, &body).await
}

/// Query of the payment history.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// From 1.
    pub page: Option<i64>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
}

/// The caller's payments, newest first.
#[utoipa::path(get, path = "/payments/history", tag = "payments", params(HistoryQuery),
    responses((status = 200, description = "A page of payments", body = Vec<PaymentView>)))]
async fn payment_history(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<ApiResponse<Vec<PaymentView>>> {
    let page = Page::parse(q.page, q.limit, 20)?;
    let (rows, total) = state
        .store
        .payments_of_user(user.id, i64::from(page.limit), page.offset())
        .await?;
    let views = rows.iter().map(PaymentView::from).collect();
    Ok(ApiResponse::page(views, Meta::of_count(page, total)))
}

/// One payment (its buyer, the event's organizer, or an admin).
#[utoipa::path(get, path = "/payments/{id}", tag = "payments",
    params(("id" = Uuid, Path, description = "Payment id")),
    responses((status = 200, description = "The payment", body = PaymentView), (status = 404, description = "No such payment, or not yours")))]
async fn get_payment(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<PaymentView>> {
    let payment = state
        .store
        .payment_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Payment"))?;
    let booking = state
        .store
        .booking_by_id(payment.booking_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Payment"))?;
    access(&Caller::User(user), &booking, Utc::now())
        .map_err(|_| ApiError::not_found("Payment"))?;
    Ok(ApiResponse::ok(PaymentView::from(&payment)))
}

/// Body of a refund.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundBody {
    /// Minor units; default: all that is left.
    pub amount: Option<i64>,
    /// Why, 1–500 characters.
    pub reason: String,
}

/// Returns money of a payment (ADMIN or the event's organizer); partial refunds add up to at
/// most what was paid. A full refund of a CONFIRMED booking cancels it first, freeing its tickets.
#[utoipa::path(post, path = "/payments/{id}/refund", tag = "payments",
    params(("id" = Uuid, Path, description = "Payment id"), idempotency::KeyHeader),
    request_body = RefundBody,
    responses(
        (status = 200, description = "Settled at once: the payment", body = PaymentView),
        (status = 202, description = "Asked of the gateway: the payment, its refund pending", body = PaymentView),
        (status = 400, description = "Invalid body; `amount` above what is left"),
        (status = 403, description = "Not an admin or the event's organizer"),
        (status = 404, description = "No such payment"),
        (status = 409, description = "INVALID_STATE: nothing was paid"),
    ))]
async fn refund_payment(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RefundBody>,
) -> ApiResult<ApiResponse<PaymentView>> {
    let payment = state
        .store
        .payment_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Payment"))?;
    let booking = state
        .store
        .booking_by_id(payment.booking_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Payment"))?;
    if !user.is_admin() {
        if booking.organizer_id != user.id {
            return Err(ApiError::forbidden());
        }
        user.require_organizer()?;
    }
    let mut v = Validator::new();
    let reason = body.reason.trim().to_string();
    v.check(
        (1..=500).contains(&reason.chars().count()),
        "reason",
        "must be 1 to 500 characters",
    );
    if let Some(a) = body.amount {
        v.check(a >= 1, "amount", "must be at least 1 (minor units)");
    }
    v.finish()?;
    if !payment.status.paid() {
        return Err(ApiError::invalid_state(format!(
            "A {} payment has nothing to refund",
            payment.status.as_str()
        )));
    }
    let left = state.store.refundable(payment.id).await?;
    let amount = body.amount.unwrap_or(left);
    if amount > left || amount < 1 {
        return Err(ApiError::field(
            "amount",
            format!("must be at most {left}, what is left to refund"),
        ));
    }
    let now = Utc::now();
    // All of it back: the booking is cancelled first, its tickets free at once (§11.57); the
    // cancellation opens the refund it owes, which is the one executed here (cash taken offline
    // has none opened: staff record it below).
    let mut owed = None;
    if amount == left && booking.effective_status(now) == BookingStatus::Confirmed {
        state
            .store
            .cancel_booking(
                booking.id,
                BookingStatus::Confirmed,
                Some(&reason),
                Some(amount),
                now,
            )
            .await?;
        crate::bookings::announce(&state, booking.event_id).await;
        owed = state
            .store
            .pending_refunds_of_booking(booking.id)
            .await?
            .into_iter()
            .find(|r| r.payment_id == payment.id);
    }
    let refund = match owed {
        Some(refund) => refund,
        None => state
            .store
            .open_refund(
                &NewRefund {
                    id: Uuid::now_v7(),
                    payment_id: payment.id,
                    amount,
                    reason: Some(reason),
                    requested_by: Some(user.id),
                },
                now,
            )
            .await?
            .ok_or_else(|| ApiError::field("amount", "is more than is left to refund"))?,
    };
    crate::audit::record(
        &state.store,
        crate::audit::AuditEntry::new("payment.refund")
            .actor(Some(user.id), None)
            .target("payment", payment.id)
            .details(serde_json::json!({"amount": amount, "refundId": refund.id})),
    )
    .await;
    match flows::execute_refund(&state, &payment, &refund).await {
        Ok(after) if after.refunded_amount > payment.refunded_amount => {
            Ok(ApiResponse::ok(PaymentView::from(&after)).message("Refunded"))
        }
        Ok(after) => Ok(ApiResponse::ok(PaymentView::from(&after))
            .status(StatusCode::ACCEPTED)
            .message("Refund pending at the gateway")),
        Err(_) => Ok(ApiResponse::ok(PaymentView::from(&payment))
            .status(StatusCode::ACCEPTED)
            .message("The gateway could not take the refund now; it will be retried")),
    }
}

/// One gateway of the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayInfo {
    pub gateway: &'static str,
    /// Configured on this server.
    pub enabled: bool,
    /// Used by `initiate` without a `gateway`.
    pub default: bool,
}

/// The gateways and which are enabled, from the configuration.
#[utoipa::path(get, path = "/payments/gateways", tag = "payments",
    responses((status = 200, description = "Every gateway", body = Vec<GatewayInfo>)))]
async fn list_gateways(State(state): State<AppState>) -> ApiResponse<Vec<GatewayInfo>> {
    let g = &state.gateways;
    ApiResponse::ok(
        NAMES
            .into_iter()
            .map(|name| GatewayInfo {
                gateway: name,
                enabled: g.enabled(name),
                default: g.default_name() == Some(name),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://Shop.example.com/done?x=1").as_deref(),
            Some("https://shop.example.com")
        );
        assert_eq!(
            origin_of("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("https://evil.com@shop.example.com/"), None);
        assert_eq!(origin_of("//shop.example.com"), None);
    }
}
