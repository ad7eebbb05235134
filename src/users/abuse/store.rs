//! The abuse-protection storage interface: account locks, IP blocks and abuse counters.

use super::*;
use crate::store::Store;
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl Store {
    /// Until when an account (lower-cased email) is locked, if it is.
    pub async fn account_locked_until(&self, subject: &str) -> sqlx::Result<Option<DateTime<Utc>>> {
        crate::dispatch!(self, crate::users::abuse => account_locked_until(subject))
    }
    /// Records a failed login; returns the locks it placed (account, IP).
    pub async fn record_login_failure(
        &self,
        ip: &str,
        subject: &str,
        policy: &Policy,
    ) -> sqlx::Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> {
        crate::dispatch!(self, crate::users::abuse => record_login_failure(ip, subject, policy))
    }
    /// Records a rate-limit rejection; returns the block it placed.
    pub async fn record_rate_limited(
        &self,
        ip: &str,
        policy: &Policy,
    ) -> sqlx::Result<Option<DateTime<Utc>>> {
        crate::dispatch!(self, crate::users::abuse => record_rate_limited(ip, policy))
    }
    /// Restarts an account's failure count (`reset` also lifts its lock and progression).
    pub async fn clear_account_failures(&self, subject: &str, reset: bool) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::users::abuse => clear_account(subject, reset))
    }
    /// Until when an IP is blocked, if it is.
    pub async fn ip_blocked_until(&self, ip: &str) -> sqlx::Result<Option<DateTime<Utc>>> {
        crate::dispatch!(self, crate::users::abuse => ip_blocked_until(ip))
    }
    /// A page of blocked IPs, newest first.
    pub async fn list_ip_blocks(
        &self,
        limit: i64,
        offset: i64,
    ) -> sqlx::Result<(Vec<BlockRow>, i64)> {
        crate::dispatch!(self, crate::users::abuse => list_blocks(limit, offset))
    }
    /// Lifts a block.
    pub async fn unblock_ip(&self, ip: &str) -> sqlx::Result<bool> {
        crate::dispatch!(self, crate::users::abuse => unblock(ip))
    }
    /// Deletes old abuse events.
    pub async fn prune_abuse_events(&self, before: DateTime<Utc>) -> sqlx::Result<u64> {
        crate::dispatch!(self, crate::users::abuse => prune_events(before))
    }
    /// Counts a login attempt before its password check, or refuses it (API.md §11.94).
    pub async fn begin_login_attempt(
        &self,
        subject: &str,
        policy: &Policy,
    ) -> sqlx::Result<Result<Uuid, Option<DateTime<Utc>>>> {
        crate::dispatch!(self, crate::users::abuse => begin_login_attempt(subject, policy))
    }
    /// Ends a login attempt.
    pub async fn end_login_attempt(&self, id: Uuid) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::users::abuse => end_login_attempt(id))
    }
}
