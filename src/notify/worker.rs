//! The outbox worker: `OUTBOX_WORKERS` loops per instance, each claiming up to
//! `OUTBOX_BATCH_SIZE` due messages at a time and delivering up to `OUTBOX_CONCURRENCY` of them
//! at once. A delivered message becomes SENT; a failed one is retried after
//! `OUTBOX_BACKOFF_BASE_MS × 2^(attempt−1)` (capped at `OUTBOX_BACKOFF_MAX_MS`) until
//! `OUTBOX_MAX_ATTEMPTS`, then FAILED with the last error. A message that cannot be rendered fails
//! at once, and so does an SMS beyond an hourly cap (`SMS_MAX_PER_NUMBER_PER_HOUR`,
//! `SMS_MAX_PER_HOUR`), which is not sent. New messages wake the loops; `OUTBOX_POLL_MS` is the
//! fallback (other instances).
//!
//! At shutdown a loop claims nothing more, lets the deliveries in flight finish within
//! `SHUTDOWN_TIMEOUT_SECS`, and gives back what it did not attempt.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use super::email::Mailer;
use super::handoff::{self, Handed};
use super::sms::SmsSender;
use super::{Channel, ClaimedMessage, Failure, templates};
use crate::config::{OutboxConfig, SmsCaps};
use crate::state::AppState;
use crate::store::Store;

/// After a wake-up, look again after 5, 10, 20 … 320 ms when nothing was found: the message
/// that caused it may still be in an uncommitted transaction. (Doubling keeps the cost low when
/// many instances share a process, as in tests: a wake-up reaches every worker of the process.)
const EAGER_FIRST: Duration = Duration::from_millis(5);
const EAGER_LAST: Duration = Duration::from_millis(320);
/// How long finished deliveries may wait to be recorded together.
const RECORD_WINDOW: Duration = Duration::from_millis(2);
/// The same for the messages handed over in memory, which arrive in a stream (one group per hold
/// batch, a hundred a second in an on-sale) rather than in claimed batches: one write for the
/// outcomes of several groups keeps the database's writer free for the holds.
const HANDED_RECORD_WINDOW: Duration = Duration::from_millis(20);

/// Everything a worker loop needs.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Storage.
    pub store: Store,
    /// Email transport.
    pub mailer: Mailer,
    /// SMS transport.
    pub sms: SmsSender,
    /// Worker settings.
    pub config: OutboxConfig,
    /// Base of links in messages.
    pub base_url: String,
    /// Grace period for in-flight deliveries at shutdown.
    pub shutdown_grace: Duration,
    /// Hourly SMS caps; an SMS beyond one is skipped.
    pub sms_caps: SmsCaps,
}

impl Outbox {
    /// Builds the transports of the application's settings.
    pub fn from_state(state: &AppState) -> anyhow::Result<Self> {
        Self::from_state_parts(&state.config, state.store.clone())
    }

    /// Builds a worker from settings and a store (tests run workers without a server).
    pub fn from_state_parts(c: &crate::config::Config, store: Store) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            mailer: Mailer::from_config(&c.email, c.outbox.send_timeout)?
                .with_logged_text(!c.is_production()),
            sms: SmsSender::from_config(&c.sms, c.outbox.send_timeout)?,
            config: c.outbox,
            base_url: c.public_base_url.clone(),
            // Half the server's deadline, so releasing what is left fits inside it.
            shutdown_grace: c.shutdown_timeout / 2,
            sms_caps: c.sms.caps,
        })
    }

    /// Starts the worker loops, and the loop of the messages handed over in memory; they stop
    /// when `shutdown` turns true. The handle resolves once every loop has finished or released
    /// its messages.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let outbox = Arc::new(self);
        let inbox = handoff::register(outbox.store.writer_identity(), outbox.config.lease);
        let mut loops: Vec<_> = (0..outbox.config.workers)
            .map(|_| tokio::spawn(outbox.clone().run(shutdown.clone())))
            .collect();
        loops.push(tokio::spawn(outbox.clone().run_handed(inbox, shutdown)));
        tokio::spawn(async move {
            for l in loops {
                let _ = l.await;
            }
        })
    }

    /// One worker loop.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut wake = super::wake_signal();
        let mut eager: Option<Duration> = None;
        let mut last_sweep: Option<Instant> = None;
        let mut failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let now = Utc::now();
            // Millisecond precision: the lease is compared for equality later (it identifies
            // this claim), so it must survive the round trip through either database exactly.
            let lease_until = (now + self.config.lease)
                .duration_trunc(chrono::TimeDelta::milliseconds(1))
                .unwrap_or(now + self.config.lease);
            let claimed = self
                .store
                .claim_messages(
                    now,
                    lease_until,
                    self.config.max_attempts,
                    self.config.batch_size,
                )
                .await;
            let wait = match claimed {
                Ok(batch) if !batch.is_empty() => {
                    failures = 0;
                    self.process(batch, lease_until, &mut shutdown).await;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    if last_sweep.is_none_or(|t| t.elapsed() >= self.config.poll_interval) {
                        last_sweep = Some(Instant::now());
                        self.sweep().await;
                    }
                    match eager {
                        Some(delay) => {
                            eager = (delay < EAGER_LAST).then(|| delay * 2);
                            delay.min(self.config.poll_interval)
                        }
                        None => self.config.poll_interval,
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::warn!(error = %e, failures, "outbox: cannot claim messages");
                    }
                    self.config.poll_interval * failures.min(10)
                }
            };
            tokio::select! {
                _ = shutdown.changed() => {}
                changed = wake.changed() => {
                    if changed.is_ok() {
                        eager = Some(EAGER_FIRST);
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// The loop of the messages handed over in memory ([`handoff`]): delivers them as they come,
    /// up to as many at once as all the claiming loops together, and records their outcomes
    /// every [`HANDED_RECORD_WINDOW`]. At shutdown it takes nothing more, lets the deliveries in
    /// flight finish within the grace period, and gives back what it did not attempt.
    async fn run_handed(
        self: Arc<Self>,
        mut inbox: handoff::Receiver,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let limit = self.config.concurrency * self.config.workers;
        let mut queued: VecDeque<(DateTime<Utc>, ClaimedMessage)> = VecDeque::new();
        let mut in_flight = FuturesUnordered::new();
        let mut flying: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
        let mut done: Vec<(DateTime<Utc>, Uuid, Attempt)> = Vec::new();
        let mut record_at: Option<Instant> = None;
        let mut deadline: Option<Instant> = None;
        loop {
            if deadline.is_none() {
                while in_flight.len() < limit {
                    let Some((lease, m)) = queued.pop_front() else {
                        break;
                    };
                    flying.insert(m.id, lease);
                    let this = &self;
                    in_flight.push(async move {
                        let (id, attempt) = this.deliver(m).await;
                        (lease, id, attempt)
                    });
                }
            } else if in_flight.is_empty() {
                break;
            }
            let record_due = async {
                match record_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let stop = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => {
                        let _ = shutdown.wait_for(|s| *s).await;
                    }
                }
            };
            tokio::select! {
                handed = inbox.recv(), if deadline.is_none() => match handed {
                    Some(Handed { lease, messages }) => {
                        queued.extend(messages.into_iter().map(|m| (lease, m)));
                    }
                    None => deadline = Some(Instant::now() + self.shutdown_grace),
                },
                Some(outcome) = in_flight.next(), if !in_flight.is_empty() => {
                    flying.remove(&outcome.1);
                    done.push(outcome);
                    record_at.get_or_insert(Instant::now() + HANDED_RECORD_WINDOW);
                }
                () = record_due => {
                    record_at = None;
                    self.record_handed(&inbox, std::mem::take(&mut done)).await;
                }
                () = stop => {
                    if deadline.is_some() {
                        break;
                    }
                    inbox.stop_taking();
                    deadline = Some(Instant::now() + self.shutdown_grace);
                }
            }
        }
        drop(in_flight);
        self.record_handed(&inbox, done).await;
        // Batches that reserved room before the loop stopped taking more may still be
        // committing (requests drain after the shutdown signal): their messages are waited for,
        // within the grace period, so that they are given back here while the database is open,
        // not left locked for a whole lease.
        let until = deadline.unwrap_or_else(|| Instant::now() + self.shutdown_grace);
        while inbox.reserved() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // What was not attempted goes back to the claims: what waited here, what was handed
        // over before the inbox closed, and the deliveries the deadline cut.
        inbox.close();
        while let Some(Handed { lease, messages }) = inbox.recv().await {
            queued.extend(messages.into_iter().map(|m| (lease, m)));
        }
        let mut unattempted: Vec<(DateTime<Utc>, Uuid)> = queued
            .into_iter()
            .map(|(lease, m)| (lease, m.id))
            .chain(flying.into_iter().map(|(id, lease)| (lease, id)))
            .collect();
        unattempted.sort();
        for group in unattempted.chunk_by(|a, b| a.0 == b.0) {
            let ids: Vec<Uuid> = group.iter().map(|(_, id)| *id).collect();
            tracing::info!(
                count = ids.len(),
                "outbox: releasing unfinished messages at shutdown"
            );
            if let Err(e) = self.store.release_messages(group[0].0, &ids).await {
                tracing::warn!(error = %e, "outbox: cannot release messages; their lease will expire");
            }
            inbox.finished(ids.len());
        }
    }

    /// Records the outcomes of handed messages, one write per lease among them.
    async fn record_handed(
        &self,
        inbox: &handoff::Receiver,
        mut done: Vec<(DateTime<Utc>, Uuid, Attempt)>,
    ) {
        done.sort_by_key(|(lease, _, _)| *lease);
        let n = done.len();
        let mut done = done.into_iter().peekable();
        while let Some((lease, id, attempt)) = done.next() {
            let mut group = vec![(id, attempt)];
            while let Some((_, id, attempt)) = done.next_if(|(l, _, _)| *l == lease) {
                group.push((id, attempt));
            }
            self.record(lease, group).await;
        }
        inbox.finished(n);
    }

    /// Fails messages a dead worker left on their last attempt, and updates the backlog gauge.
    async fn sweep(&self) {
        match self
            .store
            .fail_abandoned_messages(Utc::now(), self.config.max_attempts)
            .await
        {
            Ok(n) if n > 0 => tracing::warn!(count = n, "outbox: abandoned messages failed"),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "outbox: sweep failed"),
        }
        // Codes live 10 minutes and links are in the delivered message: an hour later the
        // stored payload is only a liability.
        if let Err(e) = self
            .store
            .redact_finished_messages(Utc::now() - chrono::Duration::hours(1))
            .await
        {
            tracing::debug!(error = %e, "outbox: redaction failed");
        }
        if let Ok(counts) = self.store.outbox_counts().await {
            for status in ["PENDING", "PROCESSING", "FAILED"] {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("outbox_messages", "status" => status).set(n as f64);
            }
        }
    }

    /// Delivers a claimed batch and records each outcome as soon as it is known (outcomes that
    /// complete together are recorded in one transaction).
    async fn process(
        &self,
        batch: Vec<ClaimedMessage>,
        lease: DateTime<Utc>,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let mut unfinished: HashSet<Uuid> = batch.iter().map(|m| m.id).collect();
        let mut deliveries = futures_util::stream::iter(batch)
            .map(|m| self.deliver(m))
            .buffer_unordered(self.config.concurrency);
        let mut deadline: Option<Instant> = None;
        loop {
            let stop = async {
                match deadline {
                    Some(d) => {
                        tokio::time::sleep_until(d).await;
                        true
                    }
                    None => {
                        let _ = shutdown.wait_for(|s| *s).await;
                        false
                    }
                }
            };
            let first = tokio::select! {
                outcome = deliveries.next() => outcome,
                expired = stop => {
                    if expired {
                        break;
                    }
                    deadline = Some(Instant::now() + self.shutdown_grace);
                    continue;
                }
            };
            let Some(first) = first else { break };
            // Outcomes that complete within a moment are recorded in one transaction: fast
            // transports are not held back by one write per message.
            let mut done = vec![first];
            let window = Instant::now() + RECORD_WINDOW;
            while let Ok(Some(outcome)) = tokio::time::timeout_at(window, deliveries.next()).await {
                done.push(outcome);
            }
            for (id, _) in &done {
                unfinished.remove(id);
            }
            self.record(lease, done).await;
        }
        drop(deliveries);
        if !unfinished.is_empty() {
            let ids: Vec<Uuid> = unfinished.into_iter().collect();
            tracing::info!(
                count = ids.len(),
                "outbox: releasing unfinished messages at shutdown"
            );
            if let Err(e) = self.store.release_messages(lease, &ids).await {
                tracing::warn!(error = %e, "outbox: cannot release messages; their lease will expire");
            }
        }
    }

    /// Writes the outcomes of finished deliveries.
    async fn record(&self, lease: DateTime<Utc>, done: Vec<(Uuid, Attempt)>) {
        let now = Utc::now();
        let mut sent = Vec::new();
        let mut failed = Vec::new();
        for (id, attempt) in done {
            match attempt.result {
                Ok(()) => sent.push(id),
                Err(err) => {
                    let give_up = err.permanent || attempt.attempts >= self.config.max_attempts;
                    let retry_at =
                        (!give_up).then(|| now + backoff(&self.config, attempt.attempts));
                    if give_up {
                        tracing::warn!(%id, error = %err.message, attempts = attempt.attempts, "outbox: message FAILED");
                    } else {
                        tracing::info!(%id, error = %err.message, attempts = attempt.attempts, "outbox: delivery failed, will retry");
                    }
                    metrics::counter!("outbox_delivery_failures_total", "channel" => attempt.channel.as_str())
                        .increment(1);
                    failed.push(Failure {
                        id,
                        error: err.message,
                        retry_at,
                    });
                }
            }
        }
        if let Err(e) = self
            .store
            .record_deliveries(now, lease, &sent, &failed)
            .await
        {
            tracing::error!(error = %e, "outbox: cannot record delivery outcomes; their lease will expire");
        }
    }

    /// Renders and sends one message.
    async fn deliver(&self, m: ClaimedMessage) -> (Uuid, Attempt) {
        let channel = if m.channel == "sms" {
            Channel::Sms
        } else {
            Channel::Email
        };
        let result =
            match tokio::time::timeout(self.config.send_timeout, self.deliver_inner(channel, &m))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(DeliveryError::transient(format!(
                    "delivery timed out after {} ms",
                    self.config.send_timeout.as_millis()
                ))),
            };
        if result.is_ok() {
            metrics::counter!("outbox_delivered_total", "channel" => channel.as_str()).increment(1);
        }
        (
            m.id,
            Attempt {
                channel,
                attempts: m.attempts,
                result,
            },
        )
    }

    async fn deliver_inner(
        &self,
        channel: Channel,
        m: &ClaimedMessage,
    ) -> Result<(), DeliveryError> {
        let payload: serde_json::Value = serde_json::from_str(&m.payload)
            .map_err(|e| DeliveryError::permanent(format!("payload is not JSON: {e}")))?;
        match channel {
            Channel::Email => {
                // QR images are CPU work: rendered off the async threads. Text alone is not: a
                // hand-off to a blocking thread and back cost more than rendering it (in a
                // profile of guest holds, one thread wake-up each way per message).
                let rendered = if templates::renders_images(&m.template) {
                    let (template, base_url) = (m.template.clone(), self.base_url.clone());
                    tokio::task::spawn_blocking(move || {
                        templates::render_email(&template, &payload, &base_url)
                    })
                    .await
                    .map_err(|e| DeliveryError::transient(format!("rendering stopped: {e}")))?
                } else {
                    templates::render_email(&m.template, &payload, &self.base_url)
                }
                .map_err(|e| DeliveryError::permanent(e.0))?;
                let message = self
                    .mailer
                    .build(m.id, &m.recipient, &rendered)
                    .map_err(DeliveryError::permanent)?;
                self.mailer
                    .send(m.id, message, &rendered)
                    .await
                    .map_err(DeliveryError::transient)
            }
            Channel::Sms => {
                self.check_sms_caps(m).await?;
                let body = templates::render_sms(&m.template, &payload, &self.base_url)
                    .map_err(|e| DeliveryError::permanent(e.0))?;
                self.sms
                    .send(m.id, &m.recipient, &body)
                    .await
                    .map_err(DeliveryError::transient)
            }
        }
    }

    /// Refuses, for good, an SMS that would pass an hourly cap counting the SMS written before
    /// it. Every SMS comes through here, whoever wrote it (booking confirmations, reminders,
    /// reset codes); `phone/send-code` also checks before it writes one, so its caller hears 429.
    async fn check_sms_caps(&self, m: &ClaimedMessage) -> Result<(), DeliveryError> {
        let SmsCaps { per_number, total } = self.sms_caps;
        if per_number.is_none() && total.is_none() {
            return Ok(());
        }
        let (to_number, all) = self
            .store
            .sms_before(m.id, Utc::now() - chrono::Duration::hours(1))
            .await
            .map_err(|e| DeliveryError::transient(format!("cannot count SMS for the caps: {e}")))?;
        let reached = |count: i64, cap: Option<u32>| cap.is_some_and(|c| count >= i64::from(c));
        let cap = if reached(to_number, per_number) {
            "per number"
        } else if reached(all, total) {
            "platform"
        } else {
            return Ok(());
        };
        tracing::warn!(
            id = %m.id,
            template = %m.template,
            cap,
            "outbox: SMS skipped, its hourly cap is reached"
        );
        metrics::counter!("outbox_sms_skipped_total", "cap" => cap).increment(1);
        Err(DeliveryError::permanent(super::SMS_CAP_SKIPPED.to_string()))
    }
}

/// The result of one delivery attempt.
#[derive(Debug)]
struct Attempt {
    channel: Channel,
    attempts: i32,
    result: Result<(), DeliveryError>,
}

/// Why a delivery failed, and whether trying again could help.
#[derive(Debug)]
struct DeliveryError {
    message: String,
    permanent: bool,
}

impl DeliveryError {
    fn permanent(message: String) -> Self {
        Self {
            message,
            permanent: true,
        }
    }
    fn transient(message: String) -> Self {
        Self {
            message,
            permanent: false,
        }
    }
}

/// Delay before the attempt after `attempts` failed ones: base × 2^(attempts−1), capped.
pub fn backoff(config: &OutboxConfig, attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    config
        .backoff_base
        .saturating_mul(1u32 << exp)
        .min(config.backoff_max)
}

/// Starts the outbox worker of an application (from `serve_on`); it stops with the server.
pub fn spawn(state: &AppState) -> anyhow::Result<JoinHandle<()>> {
    let outbox = Outbox::from_state(state)?;
    Ok(outbox.spawn(state.shutdown_signal()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_ms: u64, max_ms: u64) -> OutboxConfig {
        OutboxConfig {
            max_attempts: 5,
            poll_interval: Duration::from_secs(1),
            workers: 1,
            batch_size: 10,
            concurrency: 1,
            backoff_base: Duration::from_millis(base_ms),
            backoff_max: Duration::from_millis(max_ms),
            lease: Duration::from_secs(60),
            send_timeout: Duration::from_secs(5),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn outbox_settings_have_defaults_and_refuse_unsafe_values() {
        let c = crate::config::Config::from_map(&env(&[])).unwrap().outbox;
        assert_eq!(c.max_attempts, 8);
        assert_eq!(c.poll_interval, Duration::from_secs(1));
        assert!(c.lease > c.send_timeout);
        let err = |pairs: &[(&str, &str)]| {
            crate::config::Config::from_map(&env(pairs))
                .unwrap_err()
                .var
        };
        assert_eq!(err(&[("OUTBOX_MAX_ATTEMPTS", "0")]), "OUTBOX_MAX_ATTEMPTS");
        assert_eq!(err(&[("OUTBOX_WORKERS", "0")]), "OUTBOX_WORKERS");
        assert_eq!(err(&[("OUTBOX_BATCH_SIZE", "5000")]), "OUTBOX_BATCH_SIZE");
        assert_eq!(err(&[("OUTBOX_POLL_MS", "0")]), "OUTBOX_POLL_MS");
        assert_eq!(
            err(&[
                ("OUTBOX_LEASE_MS", "1000"),
                ("OUTBOX_SEND_TIMEOUT_MS", "5000")
            ]),
            "OUTBOX_LEASE_MS",
            "a lease shorter than a delivery could let two workers send one message"
        );
    }

    #[test]
    fn backoff_doubles_and_stops_at_the_cap() {
        let c = config(2_000, 60_000);
        assert_eq!(backoff(&c, 1), Duration::from_secs(2));
        assert_eq!(backoff(&c, 2), Duration::from_secs(4));
        assert_eq!(backoff(&c, 3), Duration::from_secs(8));
        assert_eq!(backoff(&c, 5), Duration::from_secs(32));
        assert_eq!(backoff(&c, 6), Duration::from_secs(60));
        assert_eq!(backoff(&c, 1_000), Duration::from_secs(60));
    }
}
