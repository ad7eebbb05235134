//! The dashboard's `Store` methods.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::changes::{BookingChange, CheckInChange, PaymentChange};
use super::export::{BookingLine, EventLine, ExportFilter, PaymentLine};
use super::model::{
    BucketTotals, CategoryTotals, EventSales, GroupBy, Scope, SortBy, StatsParts, Totals, Window,
};
use crate::store::Store;

impl Store {
    /// An event's totals over all its bookings, per currency (the daily counters summed).
    pub async fn event_totals(&self, event_id: Uuid) -> sqlx::Result<Vec<Totals>> {
        crate::dispatch!(self, crate::dashboard => event_totals(event_id))
    }
    /// What the figures of a window are computed from.
    pub async fn dashboard_stats(
        &self,
        scope: Scope,
        window: Window,
        now: DateTime<Utc>,
    ) -> sqlx::Result<StatsParts> {
        crate::dispatch!(self, crate::dashboard => stats_parts(scope, window, now))
    }
    /// Sales of a window grouped by bucket and currency.
    pub async fn dashboard_revenue(
        &self,
        scope: Scope,
        window: Window,
        group: GroupBy,
    ) -> sqlx::Result<Vec<BucketTotals>> {
        crate::dispatch!(self, crate::dashboard => revenue_buckets(scope, window, group))
    }
    /// The best-selling events of a window.
    pub async fn dashboard_top_events(
        &self,
        scope: Scope,
        window: Window,
        sort: SortBy,
        limit: i64,
    ) -> sqlx::Result<Vec<EventSales>> {
        crate::dispatch!(self, crate::dashboard => top_events(scope, window, sort, limit))
    }
    /// Sales of a window by category and currency.
    pub async fn dashboard_categories(
        &self,
        scope: Scope,
        window: Window,
    ) -> sqlx::Result<Vec<CategoryTotals>> {
        crate::dispatch!(self, crate::dashboard => category_totals(scope, window))
    }
    /// A page of bookings to export.
    pub async fn export_bookings(&self, f: &ExportFilter) -> sqlx::Result<Vec<BookingLine>> {
        crate::dispatch!(self, crate::dashboard => export_bookings(f))
    }
    /// A page of payments to export.
    pub async fn export_payments(&self, f: &ExportFilter) -> sqlx::Result<Vec<PaymentLine>> {
        crate::dispatch!(self, crate::dashboard => export_payments(f))
    }
    /// A page of events to export.
    pub async fn export_events(&self, f: &ExportFilter) -> sqlx::Result<Vec<EventLine>> {
        crate::dispatch!(self, crate::dashboard => export_events(f))
    }
    /// Stores a live-updates ticket's digest.
    pub async fn insert_stream_ticket(
        &self,
        token_hash: &str,
        user_id: Uuid,
        session_id: Uuid,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::dashboard => insert_stream_ticket(token_hash, user_id, session_id, expires_at, now))
    }
    /// Consumes a live-updates ticket: its `(user, session)` when it was valid.
    pub async fn take_stream_ticket(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<(Uuid, Uuid)>> {
        crate::dispatch!(self, crate::dashboard => take_stream_ticket(token_hash, now))
    }
    /// Bookings, payments and check-ins changed after `since`.
    #[allow(clippy::type_complexity)]
    pub async fn dashboard_changes(
        &self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> sqlx::Result<(Vec<BookingChange>, Vec<PaymentChange>, Vec<CheckInChange>)> {
        crate::dispatch!(self, crate::dashboard => changes_since(since, limit))
    }
}
