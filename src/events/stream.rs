//! `GET /api/events/{id}/availability/stream`: Server-Sent Events carrying the availability
//! object, first the current state, then every change. Changes arrive on the bus topic
//! `availability` (published after every hold, confirmation, cancellation and expiry, on any
//! instance); a slow poll also catches holds that simply ran out. A heartbeat comment goes out
//! every 15 s, and the stream ends when the server shuts down.
//!
//! During a hot on-sale the topic carries thousands of messages a second, and a stream that
//! re-read and sent on each would cost (holds × watchers) work. So a stream sends each change at
//! once while it has sent fewer than [`BURST`] events in the last [`WINDOW`], and otherwise waits
//! until it may, without listening meanwhile; then it reads the state once and sends it if it
//! changed. A few changes in a row each get their event; a flood gets [`BURST`] events a second,
//! the state never older than [`WINDOW`] (the 1 s the contract allows availability to lag).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::catalogue;
use super::model::Availability;
use crate::http::{ApiError, ApiPath, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::users::MaybeAuthUser;
use crate::users::abuse::ClientIp;

/// Heartbeat period.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often the stream re-reads availability without a bus message (expired holds).
pub const POLL: Duration = Duration::from_secs(2);
/// Most events one stream sends within [`WINDOW`].
pub const BURST: usize = 4;
/// See [`BURST`].
pub const WINDOW: Duration = Duration::from_secs(1);

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

/// The open streams of this instance, in all and per client IP, so an anonymous caller cannot
/// hold the server's connections (API.md §11.97).
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: std::sync::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>,
}

impl StreamSlots {
    /// Takes a slot for `ip`, or `None` when the IP or the instance is at its cap.
    fn take(
        self: &std::sync::Arc<Self>,
        ip: std::net::IpAddr,
        per_ip: usize,
        total: usize,
    ) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let of_ip = open.1.get(&ip).copied().unwrap_or(0);
        if open.0 >= total || of_ip >= per_ip {
            return None;
        }
        open.0 += 1;
        open.1.insert(ip, of_ip + 1);
        Some(StreamSlot {
            slots: self.clone(),
            ip,
        })
    }
}

/// One open stream's slot, given back when the stream ends (the client left or the server stops).
#[derive(Debug)]
struct StreamSlot {
    slots: std::sync::Arc<StreamSlots>,
    ip: std::net::IpAddr,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

struct Cursor {
    _slot: StreamSlot,
    state: AppState,
    id: Uuid,
    last: Option<Availability>,
    /// When the last (up to [`BURST`]) events were sent, oldest first.
    sent: VecDeque<tokio::time::Instant>,
    rx: tokio::sync::broadcast::Receiver<crate::bus::BusMessage>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    poll: tokio::time::Interval,
    first: bool,
}

impl Cursor {
    /// When the next event may go: `None` while the burst is not spent.
    fn next_allowed(&self) -> Option<tokio::time::Instant> {
        (self.sent.len() >= BURST).then(|| self.sent[self.sent.len() - BURST] + WINDOW)
    }

    fn record_sent(&mut self) {
        self.sent.push_back(tokio::time::Instant::now());
        while self.sent.len() > BURST {
            self.sent.pop_front();
        }
    }
}

/// Streams availability changes of an event.
#[utoipa::path(get, path = "/events/{id}/availability/stream", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "`text/event-stream` of `availability` events (data: the availability object)", content_type = "text/event-stream", body = Availability),
        (status = 404, description = "No such event"),
        (status = 429, description = "Too many open streams from this client, or on this server"),
    ))]
pub async fn stream_event_availability(
    State(state): State<AppState>,
    MaybeAuthUser(viewer): MaybeAuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    catalogue::record(&state, id)
        .await?
        .filter(|r| catalogue::visible_to(r, viewer.as_ref()))
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let slot = state
        .streams
        .take(
            ip,
            state.config.max_streams_per_ip,
            state.config.max_open_streams,
        )
        .ok_or_else(|| {
            ApiError::new(ErrorCode::RateLimited, "Too many open availability streams")
                .with_retry_after(15)
        })?;
    // Subscribe before reading the first state, so no change can fall between the two.
    let rx = state.bus.subscribe();
    let shutdown = state.shutdown_signal();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let cursor = Cursor {
        _slot: slot,
        state,
        id,
        last: None,
        sent: VecDeque::with_capacity(BURST + 1),
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
            c.record_sent();
            return Some((Ok(ev), c));
        }
        loop {
            if *c.shutdown.borrow() {
                return None;
            }
            tokio::select! {
                _ = c.shutdown.changed() => return None,
                msg = c.rx.recv() => match msg {
                    Ok(m) if m.topic == crate::bus::topic::AVAILABILITY && m.payload == c.id.to_string() => {}
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
                _ = c.poll.tick() => {}
            }
            if let Some(next_allowed) = c.next_allowed()
                && tokio::time::Instant::now() < next_allowed
            {
                // The burst is spent: wait without listening, then listen afresh from now
                // (what was published meanwhile is in the state read next, as this receiver
                // is made before that read).
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
                c.record_sent();
                return Some((Ok(ev), c));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}
