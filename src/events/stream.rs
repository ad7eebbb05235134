//! `GET /api/events/{id}/availability/stream`: Server-Sent Events carrying the availability
//! object, first the current state, then every change. Changes arrive on the bus topic
//! `availability` (published after every hold, confirmation, cancellation and expiry, on any
//! instance); a slow poll also catches holds that simply ran out. A heartbeat comment goes out
//! every 15 s, and the stream ends when the server shuts down.
//!
//! During a hot on-sale the topic carries thousands of messages a second, and a stream that
//! re-read and sent on each would cost (holds × watchers) work. So a stream sends a change at
//! once after a quiet spell, and then at most one event per [`MIN_GAP`]: in between it does not
//! listen at all, and when the gap is over it reads the state once and sends it if it changed
//! (the state it sends is never older than the gap, well inside the 1 s the contract allows).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::catalogue;
use super::model::Availability;
use crate::app::AppState;
use crate::http::{ApiError, ApiPath, ApiResult};
use crate::users::MaybeAuthUser;

/// Heartbeat period.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often the stream re-reads availability without a bus message (expired holds).
pub const POLL: Duration = Duration::from_secs(2);
/// Least time between two events of one stream.
pub const MIN_GAP: Duration = Duration::from_millis(250);

async fn current(state: &AppState, id: Uuid) -> Option<Availability> {
    let record = catalogue::record(state, id).await.ok()??;
    let counts = catalogue::counts_of(state, &record).await.ok()?;
    let view = catalogue::view(&record, counts.get(&id), &state.config.public_base_url);
    Some(catalogue::availability(&view))
}

fn event(a: &Availability) -> Event {
    Event::default()
        .event("availability")
        .data(serde_json::to_string(a).unwrap_or_default())
}

struct Cursor {
    state: AppState,
    id: Uuid,
    last: Option<Availability>,
    /// When `last` was sent.
    sent_at: tokio::time::Instant,
    rx: tokio::sync::broadcast::Receiver<crate::bus::BusMessage>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    poll: tokio::time::Interval,
    first: bool,
}

/// Streams availability changes of an event.
#[utoipa::path(get, path = "/events/{id}/availability/stream", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "`text/event-stream` of `availability` events (data: the availability object)", content_type = "text/event-stream", body = Availability),
        (status = 404, description = "No such event"),
    ))]
pub async fn stream_event_availability(
    State(state): State<AppState>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    catalogue::record(&state, id)
        .await?
        .filter(|r| catalogue::visible_to(r, viewer.as_ref()))
        .ok_or_else(|| ApiError::not_found("Event"))?;
    // Subscribe before reading the first state, so no change can fall between the two.
    let rx = state.bus.subscribe();
    let shutdown = state.shutdown_signal();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let cursor = Cursor {
        state,
        id,
        last: None,
        sent_at: tokio::time::Instant::now(),
        rx,
        shutdown,
        poll,
        first: true,
    };
    let stream = futures_util::stream::unfold(cursor, |mut c| async move {
        if c.first {
            c.first = false;
            c.poll.tick().await;
            let now = current(&c.state, c.id).await?;
            let ev = event(&now);
            c.last = Some(now);
            c.sent_at = tokio::time::Instant::now();
            return Some((Ok(ev), c));
        }
        loop {
            if *c.shutdown.borrow() {
                return None;
            }
            tokio::select! {
                _ = c.shutdown.changed() => return None,
                msg = c.rx.recv() => match msg {
                    Ok(m) if m.topic == "availability" && m.payload == c.id.to_string() => {}
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
                _ = c.poll.tick() => {}
            }
            let next_allowed = c.sent_at + MIN_GAP;
            if tokio::time::Instant::now() < next_allowed {
                // Too soon after the last event: wait out the gap without listening, then
                // listen afresh from now (what was published meanwhile is in the state read
                // next, as this receiver is made before that read).
                tokio::select! {
                    _ = c.shutdown.changed() => return None,
                    _ = tokio::time::sleep_until(next_allowed) => {}
                }
                c.rx = c.rx.resubscribe();
            }
            let now = current(&c.state, c.id).await?;
            if c.last.as_ref() != Some(&now) {
                let ev = event(&now);
                c.last = Some(now);
                c.sent_at = tokio::time::Instant::now();
                return Some((Ok(ev), c));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}
