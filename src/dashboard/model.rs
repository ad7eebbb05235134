//! The dashboard's domain: whose sales a caller sees ([`Scope`]), the time window of a question
//! ([`Window`]), the figures and series it answers with, and the bucket labels of a series.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::http::{ApiError, ApiResult, parse_instant};
use crate::users::{AuthUser, model::Role};

/// Money by ISO 4217 currency, in minor units; only currencies with money in them (§11.83).
pub type MoneyMap = BTreeMap<String, i64>;

/// Whose bookings a caller's figures cover, from their *current* role (API.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A USER: their own purchases (bookings made while signed in as them).
    Buyer(Uuid),
    /// An ORGANIZER: the bookings of the events they own.
    Organizer(Uuid),
    /// An ADMIN: the whole platform.
    Platform,
}

impl Scope {
    /// The scope of a caller's current role.
    pub fn of(user: &AuthUser) -> Self {
        match user.role {
            Role::Admin => Scope::Platform,
            Role::Organizer => Scope::Organizer(user.id),
            Role::User => Scope::Buyer(user.id),
        }
    }

    /// The id the scope's SQL condition is bound with, if any.
    pub fn id(self) -> Option<Uuid> {
        match self {
            Scope::Buyer(id) | Scope::Organizer(id) => Some(id),
            Scope::Platform => None,
        }
    }

    /// Whether a booking of `user_id` on an event of `organizer_id` is in scope.
    pub fn covers(self, user_id: Option<Uuid>, organizer_id: Uuid) -> bool {
        match self {
            Scope::Buyer(id) => user_id == Some(id),
            Scope::Organizer(id) => organizer_id == id,
            Scope::Platform => true,
        }
    }
}

/// A named trailing window ending now (API.md §11.33).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// 7 days.
    Week,
    /// 30 days (the default).
    Month,
    /// 90 days.
    Quarter,
    /// 365 days.
    Year,
}

impl Period {
    /// Its length.
    pub fn length(self) -> Duration {
        Duration::days(match self {
            Period::Week => 7,
            Period::Month => 30,
            Period::Quarter => 90,
            Period::Year => 365,
        })
    }
}

/// `[from, to)` on booking creation times, with the period it came from (`None` for an explicit
/// range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
    /// The named period, when the window is one.
    pub period: Option<Period>,
}

impl Window {
    /// The window of equal length just before this one (growth's comparison).
    pub fn previous(self) -> Self {
        let length = self.to - self.from;
        Window {
            from: self.from - length,
            to: self.from,
            period: self.period,
        }
    }
}

/// The time-window query parameters shared by the dashboard's routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// `week` (7 days), `month` (30, the default), `quarter` (90) or `year` (365), ending now.
    #[param(value_type = Option<String>)]
    pub period: Option<Period>,
    /// Inclusive start: RFC 3339 or `YYYY-MM-DD` (UTC midnight); with `to`, replaces `period`.
    /// Alone, the window runs from it to now.
    pub from: Option<String>,
    /// Exclusive end (RFC 3339 or `YYYY-MM-DD`). Alone, the window is the 30 days before it.
    pub to: Option<String>,
}

impl WindowQuery {
    /// The window asked for at `now`: `from`/`to` when either is given (the missing end is now,
    /// or 30 days before `to`), else `period` (default `month`); `from` must precede `to`.
    pub fn window(&self, now: DateTime<Utc>) -> ApiResult<Window> {
        if self.from.is_none() && self.to.is_none() {
            let period = self.period.unwrap_or(Period::Month);
            return Ok(Window {
                from: now - period.length(),
                to: now,
                period: Some(period),
            });
        }
        let to = match &self.to {
            Some(raw) => parse_instant(raw, "to")?,
            None => now,
        };
        let from = match &self.from {
            Some(raw) => parse_instant(raw, "from")?,
            None => to - Period::Month.length(),
        };
        if from >= to {
            return Err(ApiError::field("to", "must be after from"));
        }
        Ok(Window {
            from,
            to,
            period: None,
        })
    }
}

/// Refunds of the bookings in a window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundFigures {
    /// Bookings with money refunded.
    pub count: i64,
    /// Money refunded, by currency.
    pub amount: MoneyMap,
}

/// The dashboard figures (API.md §7, §11.33, §11.64) of the bookings *created* in `[from, to)`.
///
/// - An **order** is a booking that was confirmed (paid, free, or confirmed by staff for money
///   taken offline): it has a confirmation time, whatever became of it since. A later
///   cancellation or refund does not undo the order; the money that went back is subtracted
///   from `revenue` and reported in `refunds`.
/// - A **customer** is the account that booked, or for a guest booking its email address
///   (case-insensitive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Seats of the orders still CONFIRMED (cancelled and refunded ones gave their seats back).
    pub tickets_sold: i64,
    /// Net money of the orders by currency: paid minus refunded; never summed across currencies.
    pub revenue: MoneyMap,
    /// Orders (see above); free bookings count.
    pub total_orders: i64,
    /// `revenue` ÷ orders in that currency, by currency, rounded down to a minor unit.
    pub average_order_value: MoneyMap,
    /// Distinct customers with an order.
    pub unique_customers: i64,
    /// Events still to come: an ORGANIZER's own PUBLISHED ones, every PUBLISHED one for an
    /// ADMIN, and for a USER the events of their CONFIRMED bookings (not limited to the window).
    pub upcoming_events: i64,
    /// Bookings created in the window, whatever their status.
    pub bookings_created: i64,
    /// Orders ÷ bookings created (0–1); `null` when none was created.
    pub conversion_rate: Option<f64>,
    /// (orders − orders of the previous window of equal length) ÷ the latter; `null` when the
    /// previous window has none.
    pub growth_rate: Option<f64>,
    /// Customers with at least two orders ÷ customers; `null` without customers.
    pub repeat_customer_rate: Option<f64>,
    /// Money refunded on the window's bookings.
    pub refunds: RefundFigures,
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
    /// `week`, `month`, `quarter` or `year`; `null` for an explicit `from`/`to`.
    #[schema(value_type = Option<String>)]
    pub period: Option<Period>,
}

/// One currency's totals over a set of bookings, as the SQL returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Totals {
    pub currency: String,
    /// Bookings created.
    pub created: i64,
    /// Orders.
    pub orders: i64,
    /// Seats of orders still CONFIRMED.
    pub tickets: i64,
    /// Net money of orders.
    pub revenue: i64,
    /// Bookings with money refunded.
    pub refunded_bookings: i64,
    /// Money refunded.
    pub refunded: i64,
}

impl Totals {
    /// Adds another set of the same currency's totals to these.
    fn add(&mut self, other: &Totals) {
        self.created += other.created;
        self.orders += other.orders;
        self.tickets += other.tickets;
        self.revenue += other.revenue;
        self.refunded_bookings += other.refunded_bookings;
        self.refunded += other.refunded;
    }
}

/// Per-currency totals of disjoint parts of one window added up, by currency in order; a
/// currency none of whose bookings was created in the window (a counter row emptied by a
/// deletion) is left out, as a scan of the bookings would.
pub fn merge_totals(parts: impl IntoIterator<Item = Totals>) -> Vec<Totals> {
    let mut by_currency: BTreeMap<String, Totals> = BTreeMap::new();
    for t in parts {
        by_currency
            .entry(t.currency.clone())
            .or_insert_with(|| Totals {
                currency: t.currency.clone(),
                ..Totals::default()
            })
            .add(&t);
    }
    by_currency
        .into_values()
        .filter(|t| t.created != 0)
        .collect()
}

/// A window cut where the daily counters can stand in for its bookings: the whole UTC days
/// `days` (first day, day after the last) and the partial `head` before them and `tail` after
/// them, which are read from the bookings themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySplit {
    pub head: Window,
    pub days: (NaiveDate, NaiveDate),
    pub tail: Window,
}

impl Window {
    /// The window's whole UTC days and the parts around them; `None` when it holds no whole day.
    pub fn split_days(self) -> Option<DaySplit> {
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
        let from_day = self.from.date_naive();
        let first = if midnight(from_day) == self.from {
            from_day
        } else {
            from_day.succ_opt()?
        };
        let end = self.to.date_naive();
        (first < end).then(|| DaySplit {
            head: Window {
                from: self.from,
                to: midnight(first),
                period: None,
            },
            days: (first, end),
            tail: Window {
                from: midnight(end),
                to: self.to,
                period: None,
            },
        })
    }
}

/// What the stats' SQL reads; [`Stats::from_parts`] derives the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsParts {
    /// Per currency.
    pub totals: Vec<Totals>,
    /// Orders of the previous window.
    pub previous_orders: i64,
    /// Distinct customers with an order.
    pub customers: i64,
    /// Of those, customers with two orders or more.
    pub repeat_customers: i64,
    /// See [`Stats::upcoming_events`].
    pub upcoming_events: i64,
}

fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator != 0).then(|| numerator as f64 / denominator as f64)
}

impl Stats {
    /// The figures of a window from what the SQL read.
    pub fn from_parts(parts: StatsParts, window: Window) -> Self {
        let mut revenue = MoneyMap::new();
        let mut average = MoneyMap::new();
        let mut refunds = RefundFigures::default();
        let (mut created, mut orders, mut tickets) = (0, 0, 0);
        for t in &parts.totals {
            created += t.created;
            orders += t.orders;
            tickets += t.tickets;
            refunds.count += t.refunded_bookings;
            if t.revenue != 0 {
                revenue.insert(t.currency.clone(), t.revenue);
                if t.orders > 0 {
                    average.insert(t.currency.clone(), t.revenue.div_euclid(t.orders));
                }
            }
            if t.refunded != 0 {
                refunds.amount.insert(t.currency.clone(), t.refunded);
            }
        }
        Stats {
            tickets_sold: tickets,
            revenue,
            total_orders: orders,
            average_order_value: average,
            unique_customers: parts.customers,
            upcoming_events: parts.upcoming_events,
            bookings_created: created,
            conversion_rate: ratio(orders, created),
            growth_rate: ratio(orders - parts.previous_orders, parts.previous_orders),
            repeat_customer_rate: ratio(parts.repeat_customers, parts.customers),
            refunds,
            from: window.from,
            to: window.to,
            period: window.period,
        }
    }
}

/// The bucket size of a revenue series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// `YYYY-MM-DD`.
    #[default]
    Day,
    /// `YYYY-MM-DD` of the week's Monday.
    Week,
    /// `YYYY-MM`.
    Month,
}

/// Most buckets a series may have.
pub const MAX_BUCKETS: usize = 1000;

impl GroupBy {
    /// The first day of the bucket holding `day`.
    fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            GroupBy::Day => day,
            GroupBy::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            GroupBy::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The first day of the next bucket.
    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            GroupBy::Day => start + Duration::days(1),
            GroupBy::Week => start + Duration::days(7),
            GroupBy::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(start),
        }
    }

    /// The label of a bucket starting on `start` (API.md §11.64).
    pub fn label(self, start: NaiveDate) -> String {
        match self {
            GroupBy::Month => start.format("%Y-%m").to_string(),
            GroupBy::Day | GroupBy::Week => start.format("%Y-%m-%d").to_string(),
        }
    }

    /// The label of the bucket holding instant `t` (UTC).
    pub fn label_of(self, t: DateTime<Utc>) -> String {
        self.label(self.start_of(t.date_naive()))
    }

    /// The labels of every bucket meeting `[from, to)`, in order; 400 past [`MAX_BUCKETS`].
    pub fn labels(self, from: DateTime<Utc>, to: DateTime<Utc>) -> ApiResult<Vec<String>> {
        let mut labels = Vec::new();
        let mut start = self.start_of(from.date_naive());
        while start.and_hms_opt(0, 0, 0).map(|s| s.and_utc() < to) == Some(true) {
            if labels.len() == MAX_BUCKETS {
                return Err(ApiError::field(
                    "groupBy",
                    format!(
                        "the range has more than {MAX_BUCKETS} buckets: narrow it or group by a longer unit"
                    ),
                ));
            }
            labels.push(self.label(start));
            start = self.next(start);
        }
        Ok(labels)
    }
}

/// One bucket of the revenue series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPoint {
    /// `YYYY-MM-DD` (day; a week by its Monday) or `YYYY-MM` (month), UTC.
    pub period: String,
    /// Net money of the bucket's orders by currency.
    pub revenue: MoneyMap,
    /// Seats of the bucket's orders still CONFIRMED.
    pub tickets: i64,
    /// Orders created in the bucket.
    pub orders: i64,
}

/// A bucket's totals in one currency, as the SQL groups them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BucketTotals {
    /// The bucket's label.
    pub bucket: String,
    pub currency: String,
    pub orders: i64,
    pub tickets: i64,
    pub revenue: i64,
}

/// The dense series over `labels` from the grouped rows.
pub fn dense_series(labels: Vec<String>, rows: &[BucketTotals]) -> Vec<SeriesPoint> {
    let mut points: Vec<SeriesPoint> = labels
        .into_iter()
        .map(|period| SeriesPoint {
            period,
            revenue: MoneyMap::new(),
            tickets: 0,
            orders: 0,
        })
        .collect();
    for row in rows {
        if let Ok(i) = points.binary_search_by(|p| p.period.as_str().cmp(&row.bucket)) {
            let p = &mut points[i];
            p.orders += row.orders;
            p.tickets += row.tickets;
            if row.revenue != 0 {
                *p.revenue.entry(row.currency.clone()).or_default() += row.revenue;
            }
        }
    }
    points
}

/// How top events are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    /// Net revenue, then tickets.
    #[default]
    Revenue,
    /// Tickets, then net revenue.
    Tickets,
}

/// An event's sales in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct EventSales {
    pub event_id: Uuid,
    pub title: String,
    /// DRAFT, PUBLISHED, CANCELLED or COMPLETED.
    pub status: String,
    pub category: String,
    pub starts_at: DateTime<Utc>,
    /// The event's currency, that of `revenue`.
    pub currency: String,
    /// Seats of its orders still CONFIRMED.
    pub tickets_sold: i64,
    /// Its orders.
    pub orders: i64,
    /// Net money of its orders, in `currency`.
    pub revenue: i64,
}

/// A category's sales in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategorySales {
    /// The category, lower-cased (categories compare case-insensitively, §11.16).
    pub category: String,
    /// Events of the category with bookings in the window.
    pub events: i64,
    /// Seats of its orders still CONFIRMED.
    pub tickets_sold: i64,
    /// Its orders.
    pub orders: i64,
    /// Net money of its orders by currency.
    pub revenue: MoneyMap,
}

/// A category's totals in one currency, as the SQL groups them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CategoryTotals {
    pub category: String,
    pub currency: String,
    /// Events with bookings.
    pub events: i64,
    pub orders: i64,
    pub tickets: i64,
    pub revenue: i64,
}

/// Per-category sales from the rows grouped by category and currency, most tickets first.
pub fn categories(rows: Vec<CategoryTotals>) -> Vec<CategorySales> {
    let mut by_name: BTreeMap<String, CategorySales> = BTreeMap::new();
    for row in rows {
        let c = by_name
            .entry(row.category.clone())
            .or_insert_with(|| CategorySales {
                category: row.category.clone(),
                events: 0,
                tickets_sold: 0,
                orders: 0,
                revenue: MoneyMap::new(),
            });
        // An event has one currency, so per-currency event counts add up.
        c.events += row.events;
        c.tickets_sold += row.tickets;
        c.orders += row.orders;
        if row.revenue != 0 {
            *c.revenue.entry(row.currency).or_default() += row.revenue;
        }
    }
    let mut list: Vec<CategorySales> = by_name.into_values().collect();
    list.sort_by(|a, b| {
        b.tickets_sold
            .cmp(&a.tickets_sold)
            .then(b.orders.cmp(&a.orders))
            .then(a.category.cmp(&b.category))
    });
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_splits_into_its_whole_days_and_the_partial_ends() {
        let w = Window {
            from: t("2026-01-01T10:30:00Z"),
            to: t("2026-01-05T08:00:00Z"),
            period: None,
        };
        let split = w.split_days().unwrap();
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(split.days, (day("2026-01-02"), day("2026-01-05")));
        assert_eq!(
            (split.head.from, split.head.to),
            (w.from, t("2026-01-02T00:00:00Z"))
        );
        assert_eq!(
            (split.tail.from, split.tail.to),
            (t("2026-01-05T00:00:00Z"), w.to)
        );
    }

    #[test]
    fn a_window_from_midnight_starts_with_that_whole_day() {
        let w = Window {
            from: t("2026-01-01T00:00:00Z"),
            to: t("2026-01-03T00:00:00Z"),
            period: None,
        };
        let split = w.split_days().unwrap();
        assert_eq!(split.head.from, split.head.to);
        assert_eq!(split.tail.from, split.tail.to);
        assert_eq!(split.days.0.to_string(), "2026-01-01");
        assert_eq!(split.days.1.to_string(), "2026-01-03");
    }

    #[test]
    fn a_window_inside_one_or_two_days_has_no_whole_day() {
        for (from, to) in [
            ("2026-01-01T10:00:00Z", "2026-01-01T12:00:00Z"),
            ("2026-01-01T10:00:00Z", "2026-01-02T09:00:00Z"),
        ] {
            let w = Window {
                from: t(from),
                to: t(to),
                period: None,
            };
            assert_eq!(w.split_days(), None, "{from} .. {to}");
        }
    }

    #[test]
    fn merged_totals_add_up_by_currency_and_drop_empty_ones() {
        let totals = |currency: &str, created, revenue| Totals {
            currency: currency.into(),
            created,
            orders: created,
            revenue,
            ..Totals::default()
        };
        let merged = merge_totals([
            totals("USD", 2, 500),
            totals("NGN", 1, 100),
            totals("USD", 1, 250),
            totals("EUR", 0, 0),
        ]);
        assert_eq!(merged, vec![totals("NGN", 1, 100), totals("USD", 3, 750)]);
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weeks_are_labelled_by_their_monday_and_months_by_year_and_month() {
        let cases = [
            // 2026-03-01 is a Sunday: its week began on Monday 2026-02-23.
            (GroupBy::Week, "2026-03-01T23:59:59Z", "2026-02-23"),
            (GroupBy::Week, "2026-03-02T00:00:00Z", "2026-03-02"),
            (GroupBy::Day, "2026-01-31T23:59:59.999Z", "2026-01-31"),
            (GroupBy::Day, "2026-02-01T00:00:00Z", "2026-02-01"),
            (GroupBy::Month, "2026-12-31T23:59:59Z", "2026-12"),
            // Labels are UTC: 00:30 at +01:00 is still the previous day.
            (GroupBy::Day, "2026-02-01T00:30:00+01:00", "2026-01-31"),
        ];
        for (group, at, label) in cases {
            assert_eq!(group.label_of(t(at)), label, "{at}");
        }
    }

    #[test]
    fn labels_cover_every_bucket_meeting_the_range_and_stop_before_to() {
        let cases = [
            (
                GroupBy::Day,
                ("2026-01-30T12:00:00Z", "2026-02-02T00:00:00Z"),
                ["2026-01-30", "2026-01-31", "2026-02-01"],
            ),
            (
                GroupBy::Week,
                ("2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z"),
                ["2026-02-23", "2026-03-02", "2026-03-09"],
            ),
            (
                GroupBy::Month,
                ("2025-11-15T00:00:00Z", "2026-02-01T00:00:00Z"),
                ["2025-11", "2025-12", "2026-01"],
            ),
        ];
        for (group, (from, to), labels) in cases {
            assert_eq!(
                group.labels(t(from), t(to)).unwrap(),
                labels,
                "{from}..{to}"
            );
        }
    }

    #[test]
    fn a_series_with_too_many_buckets_is_refused() {
        let e = GroupBy::Day
            .labels(t("2000-01-01T00:00:00Z"), t("2026-01-01T00:00:00Z"))
            .unwrap_err();
        assert_eq!(e.details.unwrap()[0]["field"], "groupBy");
        assert_eq!(
            GroupBy::Day
                .labels(t("2026-01-01T00:00:00Z"), t("2028-09-27T00:00:00Z"))
                .unwrap()
                .len(),
            1000
        );
    }

    #[test]
    fn rates_are_null_without_a_denominator() {
        let window = Window {
            from: t("2026-01-01T00:00:00Z"),
            to: t("2026-02-01T00:00:00Z"),
            period: None,
        };
        let empty = Stats::from_parts(StatsParts::default(), window);
        assert_eq!(empty.conversion_rate, None);
        assert_eq!(empty.growth_rate, None);
        assert_eq!(empty.repeat_customer_rate, None);
        let parts = StatsParts {
            totals: vec![Totals {
                currency: "NGN".into(),
                created: 4,
                orders: 3,
                tickets: 5,
                revenue: 10_001,
                refunded_bookings: 1,
                refunded: 500,
            }],
            previous_orders: 2,
            customers: 2,
            repeat_customers: 1,
            upcoming_events: 1,
        };
        let s = Stats::from_parts(parts, window);
        assert_eq!(s.conversion_rate, Some(0.75));
        assert_eq!(s.growth_rate, Some(0.5));
        assert_eq!(s.repeat_customer_rate, Some(0.5));
        assert_eq!(s.average_order_value["NGN"], 3333);
        assert_eq!(s.refunds.amount["NGN"], 500);
    }

    #[test]
    fn a_window_defaults_to_the_last_30_days_and_checks_its_ends() {
        let now = t("2026-06-30T12:00:00Z");
        let w = WindowQuery::default().window(now).unwrap();
        assert_eq!(
            (w.from, w.to, w.period),
            (now - Duration::days(30), now, Some(Period::Month))
        );
        let q = WindowQuery {
            from: Some("2026-02-01".into()),
            to: Some("2026-01-01".into()),
            ..Default::default()
        };
        assert_eq!(
            q.window(now).unwrap_err().details.unwrap()[0]["field"],
            "to"
        );
        let prev = Window {
            from: t("2026-02-01T00:00:00Z"),
            to: t("2026-02-08T00:00:00Z"),
            period: None,
        }
        .previous();
        assert_eq!(prev.from, t("2026-01-25T00:00:00Z"));
    }
}
