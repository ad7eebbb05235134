//! The catalogue's router (`/api/events…`, `/api/user/favorites`) and what its write handlers
//! share: the ownership rule, the fresh view after a write, and cache invalidation.

use crate::http::openapi::RoutesAt;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::catalogue;
use super::model::{EventRecord, EventStatus, EventView};
use super::{favorites, reads, ticket_types, writes};
use crate::http::{ApiError, ApiResult, Validator};
use crate::state::AppState;
use crate::users::AuthUser;

/// Routes under `/events` and `/user/favorites`.
pub fn router(p: &str) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes_at(p, routes!(reads::list_events, writes::create_event))
        .routes_at(p, routes!(reads::list_featured_events))
        .routes_at(p, routes!(reads::list_event_categories))
        .routes_at(p, routes!(reads::list_events_by_category))
        .routes_at(
            p,
            routes!(reads::get_event, writes::update_event, writes::delete_event),
        )
        .routes_at(p, routes!(reads::get_event_availability))
        .routes_at(p, routes!(super::stream::stream_event_availability))
        .routes_at(p, routes!(super::attendees::list_event_bookings))
        .routes_at(p, routes!(writes::publish_event))
        .routes_at(p, routes!(writes::cancel_event))
        .routes_at(p, routes!(ticket_types::create_ticket_type))
        .routes_at(
            p,
            routes!(
                ticket_types::update_ticket_type,
                ticket_types::delete_ticket_type
            ),
        )
        .routes_at(
            p,
            routes!(
                favorites::toggle_favorite,
                favorites::set_favorite,
                favorites::clear_favorite
            ),
        )
        .routes_at(p, routes!(favorites::list_favorites))
        .merge(super::image::router(p))
}

/// The event as the database holds it now (not the catalogue's cached copy), or 404.
async fn stored_record(state: &AppState, id: Uuid) -> ApiResult<EventRecord> {
    state
        .store
        .event_record(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))
}

/// The event of a write, read fresh from the database; only its owner or an admin may change it.
pub(super) async fn owned_event(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
) -> ApiResult<EventRecord> {
    let record = stored_record(state, id).await?;
    if !(user.is_admin() || record.event.organizer_id == user.id) {
        return Err(ApiError::forbidden());
    }
    user.require_organizer()?;
    Ok(record)
}

/// How the routes on an event its caller must own refuse ([`owned_event`]).
#[derive(utoipa::IntoResponses)]
pub enum OwnerRefusals {
    /// Not the owner
    #[response(status = 403)]
    NotOwner,
    /// No such event
    #[response(status = 404)]
    NoEvent,
}

/// How the routes on a ticket type of an event its caller must own refuse.
#[derive(utoipa::IntoResponses)]
pub enum TypeOwnerRefusals {
    /// Not the owner
    #[response(status = 403)]
    NotOwner,
    /// No such event or ticket type
    #[response(status = 404)]
    NoType,
}

/// The fresh view of an event after a write.
pub(super) async fn fresh_view(state: &AppState, id: Uuid) -> ApiResult<EventView> {
    let record = stored_record(state, id).await?;
    let mut views = catalogue::views(state, std::slice::from_ref(&record)).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("event {id} vanished")))
}

/// Invalidates every cached catalogue answer and tells availability streams to look again.
pub(super) async fn after_write(state: &AppState, id: Uuid, availability_changed: bool) {
    state.cache.invalidate().await;
    if availability_changed {
        state
            .bus
            .publish(crate::bus::topic::AVAILABILITY, id.to_string())
            .await;
    }
}

/// Refuses changes to a cancelled or completed event.
pub(super) fn editable(record: &EventRecord) -> ApiResult<()> {
    if matches!(
        record.event.status,
        EventStatus::Cancelled | EventStatus::Completed
    ) {
        return Err(ApiError::conflict(format!(
            "A {} event cannot be changed",
            record.event.status.as_str().to_lowercase()
        )));
    }
    Ok(())
}

/// Checks a new amount or count is from 0 to `max`.
pub(super) fn check_up_to(v: &mut Validator, field: &str, value: i64, max: i64) {
    v.check(
        (0..=max).contains(&value),
        field,
        &format!("must be from 0 to {max}"),
    );
}
