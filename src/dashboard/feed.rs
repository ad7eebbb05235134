//! `GET /api/dashboard/updates`: live bookings, payments and check-ins in the caller's scope as
//! Server-Sent Events (API.md §7, §11.72, §11.81), and the single-use ticket that opens one.
//!
//! **Where updates come from.** One watcher per cluster (the instance holding the feed's lease
//! for the round; a SQLite file has one server) reads, once a second, what changed since its
//! cursor: bookings and payments by `updated_at`, tickets by check-in time (indexes of
//! migration 0015), and publishes the updates on the bus topic `dashboard`, which Redis relays
//! to every instance. Reading changes instead of publishing at each write catches every path
//! that changes a booking (holds, confirmations by payment, lazy expiry in the hold engine,
//! event-cancel cascades, refunds) with no work added to those paths; updates arrive within
//! about a second. The cursor is re-read with a 3 s overlap (a transaction may commit a moment
//! after its timestamp), and an update's id is derived from what it reports
//! (`b.<booking>.created`, `b.<booking>.CONFIRMED`, `p.<payment>.<refunded amount>`,
//! `t.<ticket>`), so one seen twice is sent once.
//!
//! **Only while someone listens.** Reading changes costs the database a read of every booking
//! written (about as many rows as a hot on-sale inserts), so the watcher reads only while a
//! stream is open somewhere: each instance with open streams says so on the bus topic
//! `dashboard-listening` every round, and the leader pauses after [`PAUSE_AFTER`] without
//! hearing it, keeping its cursor near now. Updates made while nobody listened are never
//! buffered, so an instance that hears again after [`CLEAR_AFTER`] of silence (shorter than the
//! pause, so any pause implies it) first empties its buffer: a `Last-Event-ID` from before the
//! silence is answered with `resync` rather than a replay with a hole in it.
//!
//! **Kinds.** `booking.created`, `booking.confirmed`, `booking.cancelled`, `booking.expired`,
//! `booking.refunded`, `payment.settled`, `payment.refunded`, `checkin`; each event's `data:` is
//! the bare [`Update`]. A USER receives their own bookings' updates, an ORGANIZER those of their
//! events, an ADMIN all; the scope is the role when the stream opened, and a role change ends the
//! stream (the client reconnects with its new scope).
//!
//! **Resuming.** Each instance keeps the last [`BUFFER`] updates in memory. A reconnect with
//! `Last-Event-ID` receives the updates after that one, when it is still in the buffer;
//! otherwise (older, or from before this instance started) the stream starts with a `resync`
//! event, telling the client to reload its figures, then goes on live. A stream whose client
//! fell behind the live channel, or whose instance lost its Redis subscription, gets `resync`
//! too.
//!
//! **Who may listen.** A ticket from `POST /api/dashboard/updates/ticket` (60 s, stored by digest
//! in the database so any instance accepts it) is consumed by the stream that opens with it; a
//! reused, expired or missing one is 401. The stream ends at once when its user is suspended,
//! deactivated or erased, changes role, or its session is revoked (the `auth` bus topic), and at
//! shutdown. At most [`MAX_STREAMS_PER_USER`] streams per user; the next is 429. Each instance
//! counts its own; with Redis the cap holds across the cluster too: each open stream is a member
//! of its user's sorted set in Redis, scored by when it lapses, renewed while the stream lives
//! and removed when it ends, so the places of an instance that died lapse within
//! [`SHARED_SLOT_TTL`] instead of being lost for good. Should Redis not answer, the instance's
//! own count still holds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::changes::{Update, booking_updates, check_in_update, payment_update};
use super::model::Scope;
use crate::bus::{Received, topic};
use crate::http::{ApiError, ApiQuery, ApiResponse, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::tasks::lease;
use crate::users::AuthUser;
use crate::users::model::{Role, UserStatus};

/// A stream ticket's lifetime.
pub const TICKET_TTL: Duration = Duration::from_secs(60);
/// Open streams per user (on an instance, and across the cluster with Redis).
pub const MAX_STREAMS_PER_USER: usize = 5;
/// How long a stream's place in the cluster-wide count lasts unless renewed (every third of it).
pub const SHARED_SLOT_TTL: Duration = Duration::from_secs(45);
/// Updates kept per instance for `Last-Event-ID`.
pub const BUFFER: usize = 1000;
/// How often the watcher reads changes.
const ROUND: Duration = Duration::from_secs(1);
/// How far back of its cursor the watcher reads again.
const OVERLAP: chrono::Duration = chrono::Duration::seconds(3);
/// Most changes of each kind one read returns; a full read is followed by another at once.
const BATCH: i64 = 1000;
/// Most reads in one round (a flood is caught up over the next rounds).
const MAX_PAGES: usize = 10;
/// Heartbeat period.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Silence (no open stream heard of in the cluster) after which an instance's buffer no longer
/// resumes streams.
const CLEAR_AFTER: Duration = Duration::from_secs(5);
/// Silence after which the watcher stops reading changes (well above [`CLEAR_AFTER`] plus a
/// round of delay between instances).
const PAUSE_AFTER: Duration = Duration::from_secs(10);

/// An update with its place in this instance's order.
type Numbered = (u64, Arc<Update>);

#[derive(Debug, Default)]
struct Buffer {
    recent: VecDeque<Numbered>,
    ids: HashSet<String>,
    next: u64,
}

/// This instance's side of the feed: the recent updates, the live channel the streams follow,
/// and the open streams per user.
#[derive(Debug)]
pub struct Hub {
    buffer: Mutex<Buffer>,
    live: broadcast::Sender<Numbered>,
    open: Mutex<HashMap<Uuid, usize>>,
    /// When an open stream, here or on another instance, was last heard of.
    heard: Mutex<Option<Instant>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            buffer: Mutex::default(),
            live: broadcast::channel(1024).0,
            open: Mutex::default(),
            heard: Mutex::default(),
        }
    }
}

/// Where a new stream starts.
struct Start {
    live: broadcast::Receiver<Numbered>,
    backlog: VecDeque<Numbered>,
    /// Updates numbered up to this one are in the backlog or older.
    seen: u64,
    /// The `Last-Event-ID` was not in the buffer.
    resync: bool,
}

impl Hub {
    /// Notes that a stream is open somewhere at `now`; after [`CLEAR_AFTER`] of silence, first
    /// forgets the buffered updates (the watcher may have paused since they came).
    fn hear(&self, now: Instant) {
        let mut heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
        if heard.is_none_or(|at| now.saturating_duration_since(at) > CLEAR_AFTER) {
            let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
            buffer.recent.clear();
            buffer.ids.clear();
        }
        *heard = Some(now);
    }

    /// Whether a stream was heard of within [`PAUSE_AFTER`] of `now`.
    fn listened(&self, now: Instant) -> bool {
        self.heard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| now.saturating_duration_since(at) <= PAUSE_AFTER)
    }

    /// Whether this instance has an open stream.
    fn has_streams(&self) -> bool {
        !self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Takes in updates from the bus, dropping those already seen, and passes them on live.
    fn accept(&self, updates: Vec<Update>) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        for update in updates {
            if !buffer.ids.insert(update.id.clone()) {
                continue;
            }
            buffer.next += 1;
            let numbered = (buffer.next, Arc::new(update));
            buffer.recent.push_back(numbered.clone());
            if buffer.recent.len() > BUFFER
                && let Some((_, old)) = buffer.recent.pop_front()
            {
                buffer.ids.remove(&old.id);
            }
            let _ = self.live.send(numbered);
        }
    }

    /// Follows the live channel from now, with the buffered updates after `last_id`.
    fn follow(&self, last_id: Option<&str>) -> Start {
        let buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.live.subscribe();
        let seen = buffer.next;
        let Some(last_id) = last_id else {
            return Start {
                live,
                backlog: VecDeque::new(),
                seen,
                resync: false,
            };
        };
        match buffer.recent.iter().position(|(_, u)| u.id == last_id) {
            Some(i) => Start {
                live,
                backlog: buffer.recent.iter().skip(i + 1).cloned().collect(),
                seen,
                resync: false,
            },
            None => Start {
                live,
                backlog: VecDeque::new(),
                seen,
                resync: true,
            },
        }
    }

    /// A stream slot for `user` on this instance, or `None` at [`MAX_STREAMS_PER_USER`] here.
    fn take_slot(self: &Arc<Self>, user: Uuid) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(user).or_default();
        if *n >= MAX_STREAMS_PER_USER {
            return None;
        }
        *n += 1;
        Some(Slot {
            hub: self.clone(),
            user,
            shared: None,
        })
    }
}

/// One open stream's place in its user's count, given back when the stream ends.
struct Slot {
    hub: Arc<Hub>,
    user: Uuid,
    shared: Option<SharedSlot>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.hub.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user);
            }
        }
        if let Some(shared) = self.shared.take() {
            shared.release();
        }
    }
}

/// Drops the lapsed members of a user's set (`KEYS[1]`), then adds `ARGV[2]` lapsing in
/// `ARGV[3]` ms unless `ARGV[1]` members are left: 1 when added, 0 when full. Redis's clock
/// scores every member, so instances' clocks need not agree.
const TAKE_SHARED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Pushes back the lapse of member `ARGV[1]` (if still there) by `ARGV[2]` ms.
const RENEW_SHARED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// A stream's place in its user's count in Redis, renewed by a task until released.
struct SharedSlot {
    conn: redis::aio::ConnectionManager,
    key: String,
    member: String,
    renewer: tokio::task::JoinHandle<()>,
}

impl SharedSlot {
    /// Takes a place for `user`: `Ok(None)` when the cluster already has
    /// [`MAX_STREAMS_PER_USER`] streams of theirs.
    async fn take(
        conn: &redis::aio::ConnectionManager,
        prefix: &str,
        user: Uuid,
    ) -> redis::RedisResult<Option<Self>> {
        let key = format!("{prefix}dashboard:streams:{user}");
        let member = Uuid::new_v4().to_string();
        let ttl = SHARED_SLOT_TTL.as_millis() as u64;
        let taken: i64 = redis::Script::new(TAKE_SHARED)
            .key(&key)
            .arg(MAX_STREAMS_PER_USER)
            .arg(&member)
            .arg(ttl)
            .invoke_async(&mut conn.clone())
            .await?;
        if taken == 0 {
            return Ok(None);
        }
        let renewer = {
            let (mut conn, key, member) = (conn.clone(), key.clone(), member.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SHARED_SLOT_TTL / 3);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let renewed: redis::RedisResult<i64> = redis::Script::new(RENEW_SHARED)
                        .key(&key)
                        .arg(&member)
                        .arg(ttl)
                        .invoke_async(&mut conn)
                        .await;
                    if let Err(e) = renewed {
                        tracing::warn!(error = %e, "dashboard feed: renewing a stream's place failed");
                    }
                }
            })
        };
        Ok(Some(Self {
            conn: conn.clone(),
            key,
            member,
            renewer,
        }))
    }

    /// Gives the place back (in the background: a stream ends in a synchronous `drop`).
    fn release(self) {
        self.renewer.abort();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Self {
            mut conn,
            key,
            member,
            ..
        } = self;
        runtime.spawn(async move {
            let removed: redis::RedisResult<i64> = redis::cmd("ZREM")
                .arg(&key)
                .arg(&member)
                .query_async(&mut conn)
                .await;
            if let Err(e) = removed {
                tracing::warn!(error = %e, "dashboard feed: giving a stream's place back failed");
            }
        });
    }
}

/// A stream slot for `user` on this instance and, with Redis, in the cluster; `None` at
/// [`MAX_STREAMS_PER_USER`] on either.
async fn open_slot(state: &AppState, user: Uuid) -> Option<Slot> {
    let mut slot = state.dashboard.take_slot(user)?;
    if let Some(conn) = &state.redis {
        match SharedSlot::take(conn, &state.config.redis_prefix, user).await {
            Ok(Some(shared)) => slot.shared = Some(shared),
            Ok(None) => return None,
            Err(e) => tracing::warn!(error = %e, "dashboard feed: Redis stream count unavailable"),
        }
    }
    Some(slot)
}

/// Starts the feed: the bus listener filling this instance's [`Hub`], and the watcher.
pub fn spawn(state: &AppState) {
    let listener = state.clone();
    let mut rx = state.bus.subscribe();
    let mut shutdown = state.shutdown_signal();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                msg = crate::bus::receive(&mut rx) => match msg {
                    Received::Message(m) if m.topic == topic::DASHBOARD => {
                        match serde_json::from_str::<Vec<Update>>(&m.payload) {
                            Ok(updates) => listener.dashboard.accept(updates),
                            Err(e) => tracing::warn!(error = %e, "dashboard feed: unreadable bus message"),
                        }
                    }
                    Received::Message(m) if m.topic == topic::DASHBOARD_LISTENING => {
                        listener.dashboard.hear(Instant::now());
                    }
                    Received::Message(_) | Received::Resync => {}
                    Received::Closed => break,
                },
                _ = shutdown.changed() => break,
            }
        }
    });
    let watcher = state.clone();
    let cursor = Arc::new(Mutex::new((Utc::now() - OVERLAP, HashMap::new())));
    crate::tasks::every(state, ROUND, move || {
        let state = watcher.clone();
        let cursor = cursor.clone();
        async move {
            if state.dashboard.has_streams() {
                announce_listening(&state).await;
            }
            if let Err(e) = watch(&state, &cursor).await {
                tracing::warn!(error = %e, "dashboard feed: reading changes failed");
            }
        }
    });
}

/// The watcher's position: the newest change time read, and the ids published within the
/// overlap (so a change read twice is published once).
type Cursor = Mutex<(DateTime<Utc>, HashMap<String, DateTime<Utc>>)>;

/// Tells every instance (this one too) that a stream is open here.
async fn announce_listening(state: &AppState) {
    state
        .bus
        .publish(topic::DASHBOARD_LISTENING, String::new())
        .await;
}

/// One round: if a stream is open somewhere and this instance leads, publishes what changed
/// since the cursor.
async fn watch(state: &AppState, cursor: &Cursor) -> sqlx::Result<()> {
    let now = Utc::now();
    let lease = if state.dashboard.listened(Instant::now()) {
        state.store.lead(lease::DASHBOARD_FEED).await?
    } else {
        None
    };
    let Some(lease) = lease else {
        // Nobody listens, or another instance watches: should this one read later, it starts
        // near now.
        cursor.lock().unwrap_or_else(|e| e.into_inner()).0 = now - OVERLAP;
        return Ok(());
    };
    let outcome = publish_changes(state, cursor).await;
    lease.release().await;
    outcome
}

/// [`watch`]'s work, under the lease: publishes what changed since the cursor.
async fn publish_changes(state: &AppState, cursor: &Cursor) -> sqlx::Result<()> {
    let mut since = cursor.lock().unwrap_or_else(|e| e.into_inner()).0 - OVERLAP;
    for _ in 0..MAX_PAGES {
        let (bookings, payments, check_ins) = state.store.dashboard_changes(since, BATCH).await?;
        // A kind that filled its page has more after its last row: the next page starts there
        // (the earliest such row, so no kind skips any).
        let more = [
            (bookings.len() as i64 == BATCH).then(|| bookings.last().map(|b| b.updated_at)),
            (payments.len() as i64 == BATCH).then(|| payments.last().map(|p| p.updated_at)),
            (check_ins.len() as i64 == BATCH).then(|| check_ins.last().map(|t| t.checked_in_at)),
        ]
        .into_iter()
        .flatten()
        .flatten()
        .min();
        let mut updates = Vec::new();
        for b in &bookings {
            booking_updates(b, since, &mut updates);
        }
        updates.extend(payments.iter().map(payment_update));
        updates.extend(check_ins.iter().map(check_in_update));
        let latest = bookings
            .iter()
            .map(|b| b.updated_at)
            .chain(payments.iter().map(|p| p.updated_at))
            .chain(check_ins.iter().map(|t| t.checked_in_at))
            .max();
        let fresh: Vec<Update> = {
            let mut guard = cursor.lock().unwrap_or_else(|e| e.into_inner());
            let (position, published) = &mut *guard;
            match (more, latest) {
                (Some(next), _) => *position = (*position).max(next),
                (None, Some(latest)) => *position = (*position).max(latest),
                (None, None) => {}
            }
            let horizon = *position - OVERLAP - OVERLAP;
            published.retain(|_, at| *at > horizon);
            updates
                .into_iter()
                .filter(|u| published.insert(u.id.clone(), u.at).is_none())
                .collect()
        };
        if !fresh.is_empty() {
            let payload = serde_json::to_string(&fresh).unwrap_or_default();
            state.bus.publish(topic::DASHBOARD, payload).await;
        }
        match more {
            Some(next) => since = next,
            None => break,
        }
    }
    Ok(())
}

/// The answer of the ticket route.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamTicket {
    /// Single-use; pass it as `?ticket=` to `GET /api/dashboard/updates`.
    pub ticket: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

/// Issues a single-use ticket for the live updates stream.
#[utoipa::path(post, path = "/dashboard/updates/ticket", tag = "dashboard",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A ticket valid for 60 s, once", body = StreamTicket),
    ))]
pub async fn create_updates_ticket(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<ApiResponse<StreamTicket>> {
    Ok(ApiResponse::created(issue_ticket(&state, &user).await?))
}

/// A single-use stream ticket for the user's session (also rendered into the console's pages,
/// whose script cannot send the cookie-bound session as a header).
pub async fn issue_ticket(state: &AppState, user: &AuthUser) -> ApiResult<StreamTicket> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let ticket = format!("dt_{}", hex::encode(bytes));
    let now = Utc::now();
    let ttl = chrono::Duration::from_std(TICKET_TTL).unwrap_or(chrono::Duration::seconds(60));
    state
        .store
        .insert_stream_ticket(
            &crate::crypto::sha256_hex(&ticket),
            user.id,
            user.sid,
            now + ttl,
            now,
        )
        .await?;
    Ok(StreamTicket {
        ticket,
        expires_in: TICKET_TTL.as_secs(),
    })
}

/// Query of the stream.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpdatesQuery {
    /// A ticket from `POST /api/dashboard/updates/ticket`.
    pub ticket: Option<String>,
}

/// Whether the account behind a stream still stands as it was: active, same role, session live.
async fn still_valid(state: &AppState, user: &AuthUser) -> bool {
    match state.store.auth_state(user.id).await {
        Ok(Some((role, status, _))) => {
            Role::parse(&role) == Some(user.role)
                && UserStatus::parse(&status) == Some(UserStatus::Active)
                && !state.store.session_revoked(user.sid).await.unwrap_or(true)
        }
        Ok(None) => false,
        // The database is unreachable: keep the stream; the next check decides.
        Err(_) => true,
    }
}

struct Listener {
    state: AppState,
    user: AuthUser,
    scope: Scope,
    _slot: Slot,
    start: Start,
    bus: broadcast::Receiver<crate::bus::BusMessage>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

fn event_of(update: &Update) -> Event {
    Event::default()
        .id(update.id.clone())
        .event(update.kind.clone())
        .data(serde_json::to_string(update).unwrap_or_default())
}

fn resync(reason: &str) -> Event {
    Event::default()
        .event("resync")
        .data(serde_json::json!({ "reason": reason }).to_string())
}

/// What the stream does next.
enum Step {
    Send(Event),
    Wait,
    End,
}

impl Listener {
    async fn next(&mut self) -> Step {
        if self.start.resync {
            self.start.resync = false;
            return Step::Send(resync("the last event seen is no longer buffered"));
        }
        while let Some((_, update)) = self.start.backlog.pop_front() {
            if self.scope.covers(update.user_id, update.organizer_id) {
                return Step::Send(event_of(&update));
            }
        }
        if *self.shutdown.borrow() {
            return Step::End;
        }
        tokio::select! {
            _ = self.shutdown.changed() => Step::End,
            live = self.start.live.recv() => match live {
                Ok((n, update)) if n > self.start.seen => {
                    self.start.seen = n;
                    if self.scope.covers(update.user_id, update.organizer_id) {
                        Step::Send(event_of(&update))
                    } else {
                        Step::Wait
                    }
                }
                Ok(_) => Step::Wait,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Step::Send(resync("updates were missed"))
                }
                Err(broadcast::error::RecvError::Closed) => Step::End,
            },
            msg = crate::bus::receive(&mut self.bus) => match msg {
                Received::Message(m) if m.topic == topic::AUTH => {
                    let mine = m.payload == format!("user:{}", self.user.id)
                        || m.payload == format!("session:{}", self.user.sid);
                    if mine && !still_valid(&self.state, &self.user).await {
                        Step::End
                    } else {
                        Step::Wait
                    }
                }
                Received::Message(_) => Step::Wait,
                Received::Resync => {
                    if still_valid(&self.state, &self.user).await {
                        Step::Send(resync("updates may have been missed"))
                    } else {
                        Step::End
                    }
                }
                Received::Closed => Step::End,
            },
        }
    }
}

/// Streams live bookings, payments and check-ins in the caller's scope.
#[utoipa::path(get, path = "/dashboard/updates", tag = "dashboard",
    params(
        UpdatesQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this update, while this instance still buffers it"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: events `booking.created`, `booking.confirmed`, `booking.cancelled`, `booking.expired`, `booking.refunded`, `payment.settled`, `payment.refunded`, `checkin` (data: the update), and `resync` (reload the figures)", content_type = "text/event-stream", body = Update),
        (status = 401, description = "Missing, reused or expired ticket"),
        (status = 429, description = "The user already has 5 open streams"),
    ))]
pub async fn stream_updates(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<UpdatesQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let raw = q.ticket.ok_or_else(ApiError::unauthorized)?;
    let (user_id, sid) = state
        .store
        .take_stream_ticket(&crate::crypto::sha256_hex(&raw), Utc::now())
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let (current, revoked) = state.auth_cache.resolve(&state, user_id, sid).await?;
    let current = current
        .filter(|a| a.status == UserStatus::Active && !revoked)
        .ok_or_else(ApiError::unauthorized)?;
    let user = AuthUser {
        id: user_id,
        role: current.role,
        sid,
    };
    let slot = open_slot(&state, user_id).await.ok_or_else(|| {
        ApiError::new(ErrorCode::RateLimited, "Too many open dashboard streams")
            .with_retry_after(15)
    })?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    // Listen to the bus before the stream starts, so a suspension cannot fall in between.
    let bus = state.bus.subscribe();
    state.dashboard.hear(Instant::now());
    announce_listening(&state).await;
    let start = state.dashboard.follow(last);
    let cursor = Listener {
        scope: Scope::of(&user),
        user,
        _slot: slot,
        start,
        bus,
        shutdown: state.shutdown_signal(),
        state,
    };
    let stream = futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            match c.next().await {
                Step::Send(event) => return Some((Ok(event), c)),
                Step::Wait => continue,
                Step::End => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: &str) -> Update {
        Update {
            id: id.to_string(),
            kind: "checkin".into(),
            at: Utc::now(),
            event_id: Uuid::nil(),
            organizer_id: Uuid::nil(),
            user_id: None,
            booking_id: Uuid::nil(),
            reference: "TM-1".into(),
            status: "CHECKED_IN".into(),
            quantity: None,
            amount: None,
            refunded_amount: None,
            currency: None,
            payment_id: None,
            ticket_id: None,
        }
    }

    #[test]
    fn the_hub_drops_repeats_and_resumes_after_a_buffered_id() {
        let hub = Hub::default();
        hub.accept(vec![update("a"), update("b"), update("a")]);
        hub.accept(vec![update("c")]);
        let start = hub.follow(Some("a"));
        let ids: Vec<_> = start.backlog.iter().map(|(_, u)| u.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert!(!start.resync);
        assert!(hub.follow(Some("zzz")).resync);
        assert!(hub.follow(None).backlog.is_empty());
    }

    #[test]
    fn the_buffer_is_bounded() {
        let hub = Hub::default();
        hub.accept((0..BUFFER + 10).map(|i| update(&i.to_string())).collect());
        assert!(hub.follow(Some("0")).resync);
        assert_eq!(hub.follow(Some("10")).backlog.len(), BUFFER - 1);
    }

    #[test]
    fn a_silence_forgets_the_buffer_and_pauses_the_watcher() {
        let hub = Hub::default();
        let t0 = Instant::now();
        assert!(!hub.listened(t0), "nobody has listened yet");
        hub.hear(t0);
        hub.accept(vec![update("a"), update("b")]);
        // Heard again within CLEAR_AFTER: the buffer still resumes.
        hub.hear(t0 + CLEAR_AFTER);
        assert!(!hub.follow(Some("a")).resync);
        assert!(hub.listened(t0 + CLEAR_AFTER + PAUSE_AFTER));
        assert!(!hub.listened(t0 + CLEAR_AFTER + PAUSE_AFTER + Duration::from_secs(1)));
        // Heard after a longer silence: updates may be missing, so resuming asks to reload.
        hub.hear(t0 + CLEAR_AFTER * 2 + Duration::from_secs(1));
        assert!(hub.follow(Some("a")).resync);
        assert!(hub.follow(Some("b")).resync);
    }

    #[test]
    fn a_user_has_at_most_five_slots() {
        let hub = Arc::new(Hub::default());
        let user = Uuid::new_v4();
        let slots: Vec<_> = (0..5).filter_map(|_| hub.take_slot(user)).collect();
        assert_eq!(slots.len(), 5);
        assert!(hub.take_slot(user).is_none());
        drop(slots);
        assert!(hub.take_slot(user).is_some());
    }
}
