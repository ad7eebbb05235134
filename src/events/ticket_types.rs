//! Ticket types of an event (owner or ADMIN): add, change and delete.

use axum::extract::State;
use chrono::Utc;
use uuid::Uuid;

use super::model::{EventView, TicketTypeField, TicketTypeView};
use super::requests::{TicketTypeBody, UpdateTicketTypeBody};
use super::routes::{
    OwnerRefusals, TypeOwnerRefusals, after_write, check_up_to, editable, fresh_view, owned_event,
};
use super::validate::{MAX_PRICE, MAX_SEATS, check_kind, check_text, check_type};
use crate::http::{ApiError, ApiJson, ApiPath, ApiResponse, ApiResult, ResultExt, Validator};
use crate::state::AppState;
use crate::users::AuthUser;

/// One ticket type of an event's fresh view.
fn type_view(view: &EventView, type_id: Uuid) -> ApiResult<TicketTypeView> {
    view.ticket_types
        .iter()
        .find(|t| t.id == type_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Ticket type"))
}

/// Adds a ticket type to an event (owner or ADMIN).
#[utoipa::path(post, path = "/events/{id}/ticket-types", tag = "events", request_body = TicketTypeBody,
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 201, description = "The ticket type", body = TicketTypeView),
        OwnerRefusals,
        (status = 409, description = "A cancelled or completed event"),
    ))]
pub(super) async fn create_ticket_type(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TicketTypeBody>,
) -> ApiResult<ApiResponse<TicketTypeView>> {
    let record = owned_event(&state, &user, id).await?;
    editable(&record)?;
    let mut v = Validator::new();
    let t = check_type(&mut v, "", &body);
    v.finish()?;
    let type_id = state.store.insert_ticket_type(id, &t, Utc::now()).await?;
    after_write(&state, id, true).await;
    let view = fresh_view(&state, id).await?;
    Ok(ApiResponse::created(type_view(&view, type_id)?).message("Ticket type created"))
}

/// Changes a ticket type (owner or ADMIN); capacity not below sold + held.
#[utoipa::path(patch, path = "/events/{id}/ticket-types/{typeId}", tag = "events",
    request_body = UpdateTicketTypeBody,
    params(("id" = Uuid, Path, description = "Event id"), ("typeId" = Uuid, Path, description = "Ticket type id")),
    responses(
        (status = 200, description = "The ticket type", body = TicketTypeView),
        TypeOwnerRefusals,
        (status = 409, description = "Capacity below sold + held"),
    ))]
pub(super) async fn update_ticket_type(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, type_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<UpdateTicketTypeBody>,
) -> ApiResult<ApiResponse<TicketTypeView>> {
    let record = owned_event(&state, &user, id).await?;
    editable(&record)?;
    let mut t = record
        .types
        .iter()
        .find(|t| t.id == type_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Ticket type"))?;
    let mut v = Validator::new();
    let mut fields = Vec::new();
    if let Some(name) = &body.name {
        check_text(&mut v, "name", name, 1, 100);
        t.name = name.trim().to_string();
        fields.push(TicketTypeField::Name);
    }
    if let Some(kind) = &body.kind {
        t.kind = check_kind(&mut v, "kind", Some(kind));
        fields.push(TicketTypeField::Kind);
    }
    if let Some(price) = body.price {
        check_up_to(&mut v, "price", price, MAX_PRICE);
        t.price = price;
        fields.push(TicketTypeField::Price);
    }
    if let Some(capacity) = body.capacity {
        check_up_to(&mut v, "capacity", capacity, MAX_SEATS);
        t.capacity = capacity;
        fields.push(TicketTypeField::Capacity);
    }
    if let Some(max) = body.max_per_order {
        super::validate::check_max_per_order(&mut v, max, "maxPerOrder");
        t.max_per_order = max;
        fields.push(TicketTypeField::MaxPerOrder);
    }
    if let Some(s) = body.sales_start_at {
        t.sales_start_at = s;
        fields.push(TicketTypeField::SalesStartAt);
    }
    if let Some(s) = body.sales_end_at {
        t.sales_end_at = s;
        fields.push(TicketTypeField::SalesEndAt);
    }
    if let (Some(a), Some(b)) = (t.sales_start_at, t.sales_end_at) {
        v.check(a < b, "salesEndAt", "must be after salesStartAt");
    }
    v.finish()?;
    let below_taken =
        || ApiError::conflict("capacity cannot be below the tickets already sold and held");
    if !state
        .store
        .update_ticket_type(&t, &fields, Utc::now())
        .await
        .on_check(below_taken)?
    {
        return Err(below_taken());
    }
    after_write(&state, id, true).await;
    let view = fresh_view(&state, id).await?;
    Ok(ApiResponse::ok(type_view(&view, type_id)?).message("Ticket type updated"))
}

/// Deletes a never-booked ticket type (owner or ADMIN).
#[utoipa::path(delete, path = "/events/{id}/ticket-types/{typeId}", tag = "events",
    params(("id" = Uuid, Path, description = "Event id"), ("typeId" = Uuid, Path, description = "Ticket type id")),
    responses(
        (status = 200, description = "Deleted (`data: null`)"),
        TypeOwnerRefusals,
        (status = 409, description = "The ticket type has bookings"),
    ))]
pub(super) async fn delete_ticket_type(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, type_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<ApiResponse<()>> {
    let record = owned_event(&state, &user, id).await?;
    if !record.types.iter().any(|t| t.id == type_id) {
        return Err(ApiError::not_found("Ticket type"));
    }
    if !state
        .store
        .delete_ticket_type(id, type_id, Utc::now())
        .await?
    {
        return Err(ApiError::conflict(
            "The ticket type has bookings and cannot be deleted",
        ));
    }
    after_write(&state, id, true).await;
    Ok(ApiResponse::ok(()).message("Ticket type deleted"))
}
