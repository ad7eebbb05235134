//! Event writes (owner or ADMIN, creation by organizers): create, change, publish, cancel and
//! delete.

use axum::extract::State;
use chrono::Utc;
use uuid::Uuid;

use super::model::{EventRow, EventStatus, EventView};
use super::requests::{CancelEventBody, CreateEventBody, UpdateEventBody};
use super::routes::{OwnerRefusals, after_write, check_up_to, editable, fresh_view, owned_event};
use super::validate::{
    MAX_SEATS, check_currency, check_tags, check_text, check_ticket_types, check_timezone,
};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiResponse, ApiResult, ErrorCode, ResultExt, Validator,
};
use crate::state::AppState;
use crate::users::{AuthUser, OrganizerUser};

/// Creates an event (ORGANIZER or ADMIN), with its ticket types.
#[utoipa::path(post, path = "/events", tag = "events", request_body = CreateEventBody,
    responses(
        (status = 201, description = "The event", body = EventView),
        (status = 403, description = "`ORGANIZER_NOT_APPROVED` for a USER; `FORBIDDEN` for `featured` from a non-admin"),
    ))]
pub(super) async fn create_event(
    State(state): State<AppState>,
    OrganizerUser(user): OrganizerUser,
    ApiJson(body): ApiJson<CreateEventBody>,
) -> ApiResult<ApiResponse<EventView>> {
    if body.featured.is_some() && !user.is_admin() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only admins may feature events",
        ));
    }
    let now = Utc::now();
    let mut v = Validator::new();
    check_text(&mut v, "title", &body.title, 3, 200);
    check_text(&mut v, "description", &body.description, 1, 10_000);
    check_text(&mut v, "category", &body.category, 1, 50);
    check_text(&mut v, "location", &body.location, 1, 200);
    if let Some(venue) = &body.venue {
        check_text(&mut v, "venue", venue, 1, 200);
    }
    let tags = check_tags(&mut v, body.tags.as_deref().unwrap_or_default());
    let timezone = check_timezone(
        &mut v,
        body.timezone
            .as_deref()
            .unwrap_or(&state.config.default_timezone),
    );
    v.check(body.starts_at > now, "startsAt", "must be in the future");
    if let Some(end) = body.ends_at {
        v.check(end > body.starts_at, "endsAt", "must be after startsAt");
    }
    let currency = check_currency(
        &mut v,
        body.currency
            .as_deref()
            .unwrap_or(&state.config.default_currency),
    );
    let status = match body.status.as_deref().map(EventStatus::parse_any_case) {
        None => EventStatus::Draft,
        Some(Some(s @ (EventStatus::Draft | EventStatus::Published))) => s,
        Some(_) => {
            v.add("status", "must be DRAFT or PUBLISHED");
            EventStatus::Draft
        }
    };
    let (types, cap) = check_ticket_types(&mut v, &body);
    v.finish()?;
    let event = EventRow {
        id: Uuid::now_v7(),
        organizer_id: user.id,
        title: body.title.trim().to_string(),
        description: body.description.trim().to_string(),
        category: body.category.trim().to_string(),
        tags,
        venue: body.venue.map(|s| s.trim().to_string()),
        location: body.location.trim().to_string(),
        timezone,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        image_url: None,
        featured: body.featured.unwrap_or(false),
        status,
        currency,
        total_tickets: cap,
        sold: 0,
        held: 0,
        min_price: None,
        cancel_reason: None,
        published_at: (status == EventStatus::Published).then_some(now),
        created_at: now,
        updated_at: now,
    };
    state.store.insert_event(&event, &types).await?;
    after_write(&state, event.id, false).await;
    let view = fresh_view(&state, event.id).await?;
    Ok(ApiResponse::created(view).message("Event created"))
}

/// Changes an event's own fields (owner or ADMIN).
#[utoipa::path(patch, path = "/events/{id}", tag = "events", request_body = UpdateEventBody,
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 403, description = "Not the owner; `featured` from a non-admin"),
        (status = 404, description = "No such event"),
        (status = 409, description = "`totalTickets` below sold + held; currency after sales; a cancelled or completed event"),
    ))]
pub(super) async fn update_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateEventBody>,
) -> ApiResult<ApiResponse<EventView>> {
    let record = owned_event(&state, &user, id).await?;
    if body.featured.is_some() && !user.is_admin() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only admins may feature events",
        ));
    }
    editable(&record)?;
    let mut e = record.event.clone();
    let mut v = Validator::new();
    // The text fields the body names, each with its length bounds (as on create).
    for (field, given, min, max, into) in [
        ("title", &body.title, 3, 200, &mut e.title),
        (
            "description",
            &body.description,
            1,
            10_000,
            &mut e.description,
        ),
        ("category", &body.category, 1, 50, &mut e.category),
        ("location", &body.location, 1, 200, &mut e.location),
    ] {
        if let Some(t) = given {
            check_text(&mut v, field, t, min, max);
            *into = t.trim().to_string();
        }
    }
    if let Some(t) = &body.timezone {
        e.timezone = check_timezone(&mut v, t);
    }
    if let Some(venue) = &body.venue {
        if let Some(t) = venue {
            check_text(&mut v, "venue", t, 1, 200);
        }
        e.venue = venue.as_ref().map(|s| s.trim().to_string());
    }
    if let Some(tags) = &body.tags {
        e.tags = check_tags(&mut v, tags);
    }
    if let Some(start) = body.starts_at {
        v.check(start > Utc::now(), "startsAt", "must be in the future");
        e.starts_at = start;
    }
    if let Some(end) = body.ends_at {
        e.ends_at = end;
    }
    if let Some(end) = e.ends_at
        && (body.starts_at.is_some() || body.ends_at.is_some())
    {
        v.check(end > e.starts_at, "endsAt", "must be after startsAt");
    }
    if let Some(c) = &body.currency {
        e.currency = check_currency(&mut v, c);
    }
    if let Some(f) = body.featured {
        e.featured = f;
    }
    if let Some(Some(total)) = body.total_tickets {
        check_up_to(&mut v, "totalTickets", total, MAX_SEATS);
    }
    v.finish()?;
    if e.currency != record.event.currency && state.store.event_has_bookings(id).await? {
        return Err(ApiError::conflict(
            "The currency cannot change once tickets have been booked",
        ));
    }
    e.updated_at = Utc::now();
    state
        .store
        .update_event(&record.event, &e, body.total_tickets)
        .await
        .on_check(|| {
            ApiError::conflict("totalTickets cannot be below the tickets already sold and held")
        })?;
    after_write(&state, id, body.total_tickets.is_some()).await;
    Ok(ApiResponse::ok(fresh_view(&state, id).await?).message("Event updated"))
}

/// Publishes a draft (owner or ADMIN).
#[utoipa::path(post, path = "/events/{id}/publish", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The published event", body = EventView),
        OwnerRefusals,
        (status = 409, description = "`INVALID_STATE`: not a draft"),
    ))]
pub(super) async fn publish_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<EventView>> {
    owned_event(&state, &user, id).await?;
    if !state.store.publish_event(id, Utc::now()).await? {
        return Err(ApiError::invalid_state("Only a draft can be published"));
    }
    after_write(&state, id, true).await;
    Ok(ApiResponse::ok(fresh_view(&state, id).await?).message("Event published"))
}

/// Cancels an event (owner or ADMIN).
#[utoipa::path(post, path = "/events/{id}/cancel", tag = "events", request_body = CancelEventBody,
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The cancelled event", body = EventView),
        OwnerRefusals,
        (status = 409, description = "`INVALID_STATE`: already cancelled or completed"),
    ))]
pub(super) async fn cancel_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CancelEventBody>,
) -> ApiResult<ApiResponse<EventView>> {
    let mut v = Validator::new();
    check_text(&mut v, "reason", &body.reason, 1, 500);
    v.finish()?;
    owned_event(&state, &user, id).await?;
    if !state
        .store
        .cancel_event(id, body.reason.trim(), Utc::now())
        .await?
    {
        return Err(ApiError::invalid_state(
            "Only a draft or published event can be cancelled",
        ));
    }
    after_write(&state, id, true).await;
    // The refunds the cascade opened are asked of the gateways in the background (§11.18).
    let refunder = state.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::payments::workers::refund_event(&refunder, id).await {
            tracing::warn!(error = %e.message, event = %id, "refunds of a cancelled event");
        }
    });
    Ok(ApiResponse::ok(fresh_view(&state, id).await?).message("Event cancelled"))
}

/// Deletes an event that has no bookings (owner or ADMIN).
#[utoipa::path(delete, path = "/events/{id}", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "Deleted (`data: null`)"),
        OwnerRefusals,
        (status = 409, description = "The event has bookings: cancel it instead"),
    ))]
pub(super) async fn delete_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiResponse<()>> {
    owned_event(&state, &user, id).await?;
    let has_bookings =
        || ApiError::conflict("The event has bookings and cannot be deleted; cancel it instead");
    // A foreign-key violation: a booking committed between the check and the delete.
    if !state
        .store
        .delete_event(id)
        .await
        .on_foreign_key(has_bookings)?
    {
        return Err(has_bookings());
    }
    after_write(&state, id, true).await;
    Ok(ApiResponse::ok(()).message("Event deleted"))
}
