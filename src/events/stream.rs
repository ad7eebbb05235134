//! `GET /api/events/{id}/availability/stream`: Server-Sent Events carrying the availability
//! object, first the current state, then every change. Changes arrive on the bus topic
//! `availability` (published after every hold, confirmation, cancellation and expiry, on any
//! instance); a slow poll also catches holds that simply ran out. A heartbeat comment goes out
//! every 15 s, and the stream ends when the server shuts down.
//!
//! One poller per event and instance does the listening and reading for all the event's streams
//! (API.md §11.97): it publishes the state on a watch channel that every stream of the event
//! follows, and ends with the event's last stream. During a hot on-sale the topic carries
//! thousands of messages a second, so the poller reads on each change at once while it has read
//! fewer than [`BURST`] changes in the last [`WINDOW`], and otherwise waits until it may, without
//! listening meanwhile; then it reads the state once and publishes it if it changed. A few
//! changes in a row each get their event; a flood gets [`BURST`] events a second, the state
//! never older than [`WINDOW`] (the 1 s the contract allows availability to lag), and the
//! database sees one read per change per instance however many watch.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;
use uuid::Uuid;

use super::catalogue;
use super::model::Availability;
use crate::bus::Received;
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
    let view = catalogue::live_view(state, &record).await.ok()?;
    Some(catalogue::availability(&view))
}

/// The open streams of this instance, in all and per client IP, so an anonymous caller cannot
/// hold the server's connections (API.md §11.97).
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: std::sync::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>,
    /// One poller per event with open streams.
    pub pollers: Arc<Pollers>,
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

/// What the poller of an event last saw.
#[derive(Debug, Clone, PartialEq)]
enum Feed {
    /// Not read yet.
    Pending,
    /// The availability object, as the JSON every stream sends.
    Live(Arc<str>),
    /// The event is gone.
    Gone,
}

/// The pollers of this instance, one per event with open streams.
#[derive(Debug, Default)]
pub struct Pollers {
    feeds: Mutex<HashMap<Uuid, Weak<watch::Sender<Feed>>>>,
}

impl Pollers {
    /// How many events have a poller running (for tests and metrics).
    pub fn running(&self) -> usize {
        self.feeds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Follows the event's poller, starting it if none runs.
    fn follow(self: &Arc<Self>, state: &AppState, id: Uuid) -> watch::Receiver<Feed> {
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = feeds.get(&id).and_then(Weak::upgrade) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(Feed::Pending);
        let sender = Arc::new(sender);
        feeds.insert(id, Arc::downgrade(&sender));
        tokio::spawn(poll_event(self.clone(), state.clone(), id, sender));
        receiver
    }

    /// Whether the poller may stop: no stream follows it. Decided under the registry's lock, so
    /// a stream cannot start following a poller that is about to end.
    fn release(&self, id: Uuid, sender: &Arc<watch::Sender<Feed>>) -> bool {
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if sender.receiver_count() > 0 {
            return false;
        }
        if feeds
            .get(&id)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(sender)))
        {
            feeds.remove(&id);
        }
        true
    }
}

async fn feed_of(state: &AppState, id: Uuid) -> Feed {
    match current(state, id).await {
        Some(a) => Feed::Live(serde_json::to_string(&a).unwrap_or_default().into()),
        None => Feed::Gone,
    }
}

/// The poller of one event: reads its state on each change (at most [`BURST`] per [`WINDOW`])
/// and on a slow clock, and publishes it to the event's streams until none follows.
async fn poll_event(
    pollers: Arc<Pollers>,
    state: AppState,
    id: Uuid,
    sender: Arc<watch::Sender<Feed>>,
) {
    // Subscribe before the first read, so no change can fall between the two.
    let mut rx = state.bus.subscribe();
    let mut shutdown = state.shutdown_signal();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.tick().await;
    let mut sent: VecDeque<tokio::time::Instant> = VecDeque::with_capacity(BURST + 1);
    let first = feed_of(&state, id).await;
    sender.send_replace(first);
    let id_text = id.to_string();
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = sender.closed() => {
                if pollers.release(id, &sender) {
                    return;
                }
                continue;
            }
            msg = crate::bus::receive(&mut rx) => match msg {
                Received::Message(m) if m.topic == crate::bus::topic::AVAILABILITY && m.payload == id_text => {}
                Received::Message(_) => continue,
                Received::Resync => {}
                Received::Closed => break,
            },
            _ = poll.tick() => {}
        }
        if sent.len() >= BURST {
            let next_allowed = sent[sent.len() - BURST] + WINDOW;
            if tokio::time::Instant::now() < next_allowed {
                // The burst is spent: wait without listening, then listen afresh from now
                // (what was published meanwhile is in the state read next, as this receiver
                // is made before that read).
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = tokio::time::sleep_until(next_allowed) => {}
                }
                rx = rx.resubscribe();
            }
        }
        let now = feed_of(&state, id).await;
        if *sender.borrow() != now {
            sender.send_replace(now);
            sent.push_back(tokio::time::Instant::now());
            while sent.len() > BURST {
                sent.pop_front();
            }
        }
    }
    // Shutting down: the streams end with the channel.
    pollers.release(id, &sender);
}

struct Cursor {
    _slot: StreamSlot,
    feed: watch::Receiver<Feed>,
    /// The JSON of the last event sent.
    last: Option<Arc<str>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
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
    catalogue::visible_record(&state, id, viewer.as_ref()).await?;
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
    let feed = state.streams.pollers.follow(&state, id);
    // The first event is read now, not taken from the poller, whose state may be a poll old.
    let first = feed_of(&state, id).await;
    let cursor = Cursor {
        _slot: slot,
        feed,
        last: None,
        shutdown: state.shutdown_signal(),
    };
    let stream = futures_util::stream::unfold((cursor, Some(first)), |(mut c, first)| async move {
        let mut next = first;
        loop {
            match next.take() {
                Some(Feed::Gone) => return None,
                Some(Feed::Live(json)) if c.last.as_ref() != Some(&json) => {
                    c.last = Some(json.clone());
                    let ev = Event::default().event("availability").data(&*json);
                    return Some((Ok(ev), (c, None)));
                }
                Some(_) | None => {}
            }
            if *c.shutdown.borrow() {
                return None;
            }
            tokio::select! {
                _ = c.shutdown.changed() => return None,
                changed = c.feed.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    next = Some(c.feed.borrow_and_update().clone());
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}
