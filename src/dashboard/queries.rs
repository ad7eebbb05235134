//! Dashboard SQL: figures, series and rankings computed by the database, export pages read by
//! keyset, the live feed's change reads, and the single-use stream tickets.
//!
//! Written once against the backend alias `Db` and compiled once per dialect (the `sqlite` and
//! `postgres` modules of the area); bucket labels are the one place the dialects differ. Every
//! figure is over the bookings *created* in a window, scoped by [`Scope`]: an organizer's through
//! `event_id IN (their events)`, which with the `bookings_dashboard` index reads only index
//! entries of those events in the window (migration 0015). The stats read whole days from the
//! daily counters and customers from their latest orders, which triggers keep (migration 0016).

use super::{Db, PG};
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::dashboard::changes::{BookingChange, CheckInChange, PaymentChange};
use crate::dashboard::export::{BookingLine, EventLine, ExportFilter, PaymentLine};
use crate::dashboard::model::{
    BucketTotals, CategoryTotals, EventSales, GroupBy, Scope, SortBy, StatsParts, Totals, Window,
    merge_totals,
};
use crate::store::Pools;

/// Per-currency totals of the bookings `b` of a group (see [`Totals`]). An order is a booking
/// with a confirmation time; its net money is its total minus what was refunded on it.
const TOTALS: &str = "COUNT(*) AS created, COUNT(b.confirmed_at) AS orders,
     CAST(COALESCE(SUM(CASE WHEN b.status = 'CONFIRMED' THEN b.quantity ELSE 0 END), 0) AS BIGINT) AS tickets,
     CAST(COALESCE(SUM(CASE WHEN b.confirmed_at IS NOT NULL
                            THEN b.total_amount - COALESCE(b.refund_amount, 0) ELSE 0 END), 0) AS BIGINT) AS revenue,
     COUNT(CASE WHEN b.refund_amount > 0 THEN 1 END) AS refunded_bookings,
     CAST(COALESCE(SUM(b.refund_amount), 0) AS BIGINT) AS refunded";

/// Orders, seats and net money of the bookings `b` of a group.
const SALES: &str = "COUNT(b.confirmed_at) AS orders,
     CAST(COALESCE(SUM(CASE WHEN b.status = 'CONFIRMED' THEN b.quantity ELSE 0 END), 0) AS BIGINT) AS tickets,
     CAST(COALESCE(SUM(CASE WHEN b.confirmed_at IS NOT NULL
                            THEN b.total_amount - COALESCE(b.refund_amount, 0) ELSE 0 END), 0) AS BIGINT) AS revenue";

/// The condition keeping bookings `b` of `scope`, whose id (if any) is parameter `$n`.
fn in_scope(scope: Scope, n: usize) -> String {
    match scope {
        Scope::Buyer(_) => format!("b.user_id = ${n}"),
        Scope::Organizer(_) => {
            format!("b.event_id IN (SELECT id FROM events WHERE organizer_id = ${n})")
        }
        Scope::Platform => "TRUE".to_string(),
    }
}

/// `WHERE` over bookings `b` of `scope` created in a window: the scope's id (if any) first, then
/// the window's ends. Returns the clause and the number of the next free parameter.
fn scoped_window(scope: Scope) -> (String, usize) {
    let n = usize::from(scope.id().is_some());
    let clause = format!(
        " WHERE {} AND b.created_at >= ${} AND b.created_at < ${}",
        in_scope(scope, n),
        n + 1,
        n + 2
    );
    (clause, n + 3)
}

/// Binds the scope's id (if any) and the window of [`scoped_window`].
macro_rules! bind_window {
    ($q:expr, $scope:expr, $window:expr) => {{
        let mut q = $q;
        if let Some(id) = $scope.id() {
            q = q.bind(id);
        }
        q.bind($window.from).bind($window.to)
    }};
}

/// Per-currency totals of the bookings created in `window`, read one by one.
async fn scanned_totals(
    pools: &Pools<Db>,
    scope: Scope,
    window: Window,
) -> sqlx::Result<Vec<Totals>> {
    let (filter, _) = scoped_window(scope);
    let sql = format!(
        "SELECT b.currency AS currency, {TOTALS} FROM bookings b{filter} GROUP BY b.currency ORDER BY b.currency"
    );
    bind_window!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), scope, window)
        .fetch_all(&pools.read)
        .await
}

/// Per-currency totals of the bookings created on the UTC days `[first, end)`, from the daily
/// counters (migration 0016): a few rows per event and day however many bookings there were.
async fn counted_totals(
    pools: &Pools<Db>,
    scope: Scope,
    (first, end): (NaiveDate, NaiveDate),
) -> sqlx::Result<Vec<Totals>> {
    let events = match scope {
        Scope::Organizer(_) => "d.event_id IN (SELECT id FROM events WHERE organizer_id = $3)",
        _ => "TRUE",
    };
    let sql = format!(
        "SELECT d.currency AS currency, CAST(SUM(d.created) AS BIGINT) AS created,
                CAST(SUM(d.orders) AS BIGINT) AS orders, CAST(SUM(d.tickets) AS BIGINT) AS tickets,
                CAST(SUM(d.revenue) AS BIGINT) AS revenue,
                CAST(SUM(d.refunded_bookings) AS BIGINT) AS refunded_bookings,
                CAST(SUM(d.refunded) AS BIGINT) AS refunded
         FROM booking_days d WHERE d.day >= $1 AND d.day < $2 AND {events}
         GROUP BY d.currency"
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(first)
        .bind(end);
    if let Scope::Organizer(id) = scope {
        q = q.bind(id);
    }
    q.fetch_all(&pools.read).await
}

/// Per-currency totals of the bookings created in `window`: an organizer's or the platform's
/// whole days from the daily counters and only the partial days around them from the bookings;
/// a buyer's few bookings, and a window within a day or two, from the bookings alone.
async fn totals(pools: &Pools<Db>, scope: Scope, window: Window) -> sqlx::Result<Vec<Totals>> {
    let split = match scope {
        Scope::Buyer(_) => None,
        _ => window.split_days(),
    };
    let Some(split) = split else {
        return scanned_totals(pools, scope, window).await;
    };
    let (head, days, tail) = tokio::try_join!(
        scanned_totals(pools, scope, split.head),
        counted_totals(pools, scope, split.days),
        scanned_totals(pools, scope, split.tail),
    )?;
    Ok(merge_totals(head.into_iter().chain(days).chain(tail)))
}

async fn orders(pools: &Pools<Db>, scope: Scope, window: Window) -> sqlx::Result<i64> {
    Ok(totals(pools, scope, window)
        .await?
        .iter()
        .map(|t| t.orders)
        .sum())
}

/// `(customers, customers with two orders or more)`: a customer is the booking account, or a
/// guest's email, case-insensitively. For an organizer or the platform over a window that ends
/// now, from each customer's two latest orders (migration 0016): a customer has an order in the
/// window when their latest is in it, and two when the one before is too.
async fn customers(
    pools: &Pools<Db>,
    scope: Scope,
    window: Window,
    now: DateTime<Utc>,
) -> sqlx::Result<(i64, i64)> {
    let counted = match scope {
        Scope::Organizer(id) => Some(id),
        Scope::Platform => Some(Uuid::nil()),
        Scope::Buyer(_) => None,
    };
    if let Some(scope_id) = counted.filter(|_| window.to >= now) {
        return sqlx::query_as(
            "SELECT COUNT(*), COUNT(CASE WHEN prev_at >= $2 THEN 1 END) FROM customer_orders
             WHERE scope_id = $1 AND last_at >= $2",
        )
        .bind(scope_id)
        .bind(window.from)
        .fetch_one(&pools.read)
        .await;
    }
    let (filter, _) = scoped_window(scope);
    let sql = format!(
        "SELECT COUNT(*), COUNT(CASE WHEN c.n > 1 THEN 1 END) FROM (
             SELECT COUNT(*) AS n FROM bookings b{filter} AND b.confirmed_at IS NOT NULL
             GROUP BY b.user_id, CASE WHEN b.user_id IS NULL THEN lower(b.customer_email) END
         ) c"
    );
    bind_window!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), scope, window)
        .fetch_one(&pools.read)
        .await
}

/// An event's totals over all its bookings, per currency, from its daily counters.
pub async fn event_totals(pools: &Pools<Db>, event_id: Uuid) -> sqlx::Result<Vec<Totals>> {
    sqlx::query_as(
        "SELECT currency, CAST(SUM(created) AS BIGINT) AS created, CAST(SUM(orders) AS BIGINT) AS orders,
                CAST(SUM(tickets) AS BIGINT) AS tickets, CAST(SUM(revenue) AS BIGINT) AS revenue,
                CAST(SUM(refunded_bookings) AS BIGINT) AS refunded_bookings,
                CAST(SUM(refunded) AS BIGINT) AS refunded
         FROM booking_days WHERE event_id = $1 GROUP BY currency ORDER BY currency",
    )
    .bind(event_id)
    .fetch_all(&pools.read)
    .await
}

async fn upcoming(pools: &Pools<Db>, scope: Scope, now: DateTime<Utc>) -> sqlx::Result<i64> {
    let q = match scope {
        Scope::Platform => sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE status = 'PUBLISHED' AND starts_at > $1",
        )
        .bind(now),
        Scope::Organizer(id) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE status = 'PUBLISHED' AND starts_at > $1 AND organizer_id = $2",
        )
        .bind(now)
        .bind(id),
        Scope::Buyer(id) => sqlx::query_scalar(
            "SELECT COUNT(DISTINCT b.event_id) FROM bookings b JOIN events e ON e.id = b.event_id
             WHERE e.status = 'PUBLISHED' AND e.starts_at > $1 AND b.user_id = $2 AND b.status = 'CONFIRMED'",
        )
        .bind(now)
        .bind(id),
    };
    q.fetch_one(&pools.read).await
}

/// What the dashboard figures of `window` are computed from; the reads run side by side.
pub async fn stats_parts(
    pools: &Pools<Db>,
    scope: Scope,
    window: Window,
    now: DateTime<Utc>,
) -> sqlx::Result<StatsParts> {
    let (totals, previous_orders, (customers, repeat_customers), upcoming_events) = tokio::try_join!(
        totals(pools, scope, window),
        orders(pools, scope, window.previous()),
        customers(pools, scope, window, now),
        upcoming(pools, scope, now),
    )?;
    Ok(StatsParts {
        totals,
        previous_orders,
        customers,
        repeat_customers,
        upcoming_events,
    })
}

/// The label of the UTC bucket of `b.created_at`, as SQL.
fn bucket(group: GroupBy) -> &'static str {
    match (group, PG) {
        (GroupBy::Day, true) => "to_char(b.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        (GroupBy::Week, true) => {
            "to_char(date_trunc('week', b.created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
        }
        (GroupBy::Month, true) => "to_char(b.created_at AT TIME ZONE 'UTC', 'YYYY-MM')",
        // Stored as RFC 3339 in UTC: the date is the first ten characters. `weekday 0` moves to
        // the week's Sunday (a Sunday stays), six days back is its Monday.
        (GroupBy::Day, false) => "substr(b.created_at, 1, 10)",
        (GroupBy::Week, false) => "date(substr(b.created_at, 1, 10), 'weekday 0', '-6 days')",
        (GroupBy::Month, false) => "substr(b.created_at, 1, 7)",
    }
}

/// Sales of `window` grouped by bucket and currency (only buckets with bookings).
pub async fn revenue_buckets(
    pools: &Pools<Db>,
    scope: Scope,
    window: Window,
    group: GroupBy,
) -> sqlx::Result<Vec<BucketTotals>> {
    let (filter, _) = scoped_window(scope);
    let label = bucket(group);
    let sql = format!(
        "SELECT {label} AS bucket, b.currency AS currency, {SALES} FROM bookings b{filter}
         GROUP BY {label}, b.currency ORDER BY 1, 2"
    );
    bind_window!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), scope, window)
        .fetch_all(&pools.read)
        .await
}

/// The `limit` events with the most revenue (or tickets) in `window`, among those with orders.
pub async fn top_events(
    pools: &Pools<Db>,
    scope: Scope,
    window: Window,
    sort: SortBy,
    limit: i64,
) -> sqlx::Result<Vec<EventSales>> {
    let (filter, next) = scoped_window(scope);
    let order = match sort {
        SortBy::Revenue => "revenue DESC, tickets_sold DESC",
        SortBy::Tickets => "tickets_sold DESC, revenue DESC",
    };
    let sql = format!(
        "SELECT e.id AS event_id, e.title AS title, e.status AS status, e.category AS category,
                e.starts_at AS starts_at, e.currency AS currency,
                CAST(COALESCE(SUM(CASE WHEN b.status = 'CONFIRMED' THEN b.quantity ELSE 0 END), 0) AS BIGINT) AS tickets_sold,
                COUNT(b.confirmed_at) AS orders,
                CAST(COALESCE(SUM(CASE WHEN b.confirmed_at IS NOT NULL
                                       THEN b.total_amount - COALESCE(b.refund_amount, 0) ELSE 0 END), 0) AS BIGINT) AS revenue
         FROM bookings b JOIN events e ON e.id = b.event_id{filter}
         GROUP BY e.id, e.title, e.status, e.category, e.starts_at, e.currency
         HAVING COUNT(b.confirmed_at) > 0
         ORDER BY {order}, e.id LIMIT ${next}"
    );
    bind_window!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), scope, window)
        .bind(limit)
        .fetch_all(&pools.read)
        .await
}

/// Sales of `window` grouped by category (lower-cased) and currency.
pub async fn category_totals(
    pools: &Pools<Db>,
    scope: Scope,
    window: Window,
) -> sqlx::Result<Vec<CategoryTotals>> {
    let (filter, _) = scoped_window(scope);
    let sql = format!(
        "SELECT lower(e.category) AS category, b.currency AS currency,
                COUNT(DISTINCT e.id) AS events, {SALES}
         FROM bookings b JOIN events e ON e.id = b.event_id{filter}
         GROUP BY lower(e.category), b.currency"
    );
    bind_window!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), scope, window)
        .fetch_all(&pools.read)
        .await
}

/// The `WHERE` of an export page: `condition` (on the scope's id, `$1` when there is one), then
/// the optional window on `time` and the keyset position `(time, id)` after which the page
/// starts. Returns the clause and the number of the limit's parameter.
fn export_filter(scope: Scope, condition: &str, time: &str, id: &str) -> (String, usize) {
    let n = usize::from(scope.id().is_some());
    let clause = format!(
        " WHERE {condition} AND (${a} IS NULL OR {time} >= ${a}) AND (${b} IS NULL OR {time} < ${b})
           AND (${c} IS NULL OR {time} > ${c} OR ({time} = ${c} AND {id} > ${d}))",
        a = n + 1,
        b = n + 2,
        c = n + 3,
        d = n + 4,
    );
    (clause, n + 5)
}

/// Binds what [`export_filter`] numbers.
macro_rules! bind_export {
    ($q:expr, $f:expr) => {{
        let mut q = $q;
        if let Some(id) = $f.scope.id() {
            q = q.bind(id);
        }
        q.bind($f.from)
            .bind($f.to)
            .bind($f.after.map(|a| a.0))
            .bind($f.after.map(|a| a.1).unwrap_or_default())
            .bind($f.limit)
    }};
}

/// A page of bookings to export, oldest first (by creation, then id).
pub async fn export_bookings(
    pools: &Pools<Db>,
    f: &ExportFilter,
) -> sqlx::Result<Vec<BookingLine>> {
    let (filter, limit) = export_filter(f.scope, &in_scope(f.scope, 1), "b.created_at", "b.id");
    let sql = format!(
        "SELECT b.id, b.reference,
                CASE WHEN b.status = 'PENDING' AND (b.expires_at IS NULL OR b.expires_at <= ${now})
                     THEN 'EXPIRED' ELSE b.status END AS status,
                b.event_id, e.title AS event_title, t.name AS ticket_type_name, b.quantity, b.unit_price,
                b.total_amount, b.currency, b.customer_name, b.customer_email, b.created_at, b.confirmed_at
         FROM bookings b JOIN events e ON e.id = b.event_id JOIN ticket_types t ON t.id = b.ticket_type_id
         {filter} ORDER BY b.created_at, b.id LIMIT ${limit}",
        now = limit + 1
    );
    bind_export!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f)
        .bind(f.now)
        .fetch_all(&pools.read)
        .await
}

/// A page of payments to export, oldest first (by creation, then id).
pub async fn export_payments(
    pools: &Pools<Db>,
    f: &ExportFilter,
) -> sqlx::Result<Vec<PaymentLine>> {
    let (filter, limit) = export_filter(f.scope, &in_scope(f.scope, 1), "p.created_at", "p.id");
    let sql = format!(
        "SELECT p.id, p.reference, p.gateway, p.status, p.amount, p.refunded_amount, p.currency,
                b.reference AS booking_reference, p.paid_at, p.created_at
         FROM payments p JOIN bookings b ON b.id = p.booking_id
         {filter} ORDER BY p.created_at, p.id LIMIT ${limit}"
    );
    bind_export!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f)
        .fetch_all(&pools.read)
        .await
}

/// A page of events to export, by start (then id), with their sales (seats of CONFIRMED
/// bookings, net money of orders); a USER's list holds the events they booked, with their own
/// sales only.
pub async fn export_events(pools: &Pools<Db>, f: &ExportFilter) -> sqlx::Result<Vec<EventLine>> {
    let (condition, mine) = match f.scope {
        Scope::Platform => ("TRUE", ""),
        Scope::Organizer(_) => ("e.organizer_id = $1", ""),
        Scope::Buyer(_) => (
            "e.id IN (SELECT event_id FROM bookings WHERE user_id = $1)",
            " AND b.user_id = $1",
        ),
    };
    let (filter, limit) = export_filter(f.scope, condition, "e.starts_at", "e.id");
    let sql = format!(
        "SELECT e.id, e.title, e.status, e.category, e.starts_at, e.location, e.currency, e.total_tickets,
                (SELECT CAST(COALESCE(SUM(b.quantity), 0) AS BIGINT) FROM bookings b
                 WHERE b.event_id = e.id AND b.status = 'CONFIRMED'{mine}) AS tickets_sold,
                (SELECT CAST(COALESCE(SUM(b.total_amount - COALESCE(b.refund_amount, 0)), 0) AS BIGINT)
                 FROM bookings b WHERE b.event_id = e.id AND b.confirmed_at IS NOT NULL{mine}) AS revenue,
                e.created_at
         FROM events e{filter} ORDER BY e.starts_at, e.id LIMIT ${limit}"
    );
    bind_export!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f)
        .fetch_all(&pools.read)
        .await
}

/// Stores a stream ticket's digest for its user and session until `expires_at`, dropping the
/// tickets that lapsed.
pub async fn insert_stream_ticket(
    pools: &Pools<Db>,
    token_hash: &str,
    user_id: Uuid,
    session_id: Uuid,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let mut tx = pools.write.begin().await?;
    sqlx::query("DELETE FROM dashboard_tickets WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO dashboard_tickets (token_hash, user_id, session_id, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(session_id)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Consumes a stream ticket: `(user, session)` when it existed and had not lapsed. One statement
/// deletes it, so two requests with one ticket cannot both get it.
pub async fn take_stream_ticket(
    pools: &Pools<Db>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<(Uuid, Uuid)>> {
    let row: Option<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "DELETE FROM dashboard_tickets WHERE token_hash = $1 RETURNING user_id, session_id, expires_at",
    )
    .bind(token_hash)
    .fetch_optional(&pools.write)
    .await?;
    Ok(row.and_then(|(user, sid, expires)| (expires > now).then_some((user, sid))))
}

/// Bookings, payments and check-ins changed after `since`, oldest first, at most `limit` each.
pub async fn changes_since(
    pools: &Pools<Db>,
    since: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<(Vec<BookingChange>, Vec<PaymentChange>, Vec<CheckInChange>)> {
    let bookings = sqlx::query_as(
        "SELECT b.id, b.reference, b.event_id, e.organizer_id, b.user_id, b.status, b.quantity,
                b.total_amount, b.currency, b.created_at, b.confirmed_at, b.cancelled_at, b.updated_at
         FROM bookings b JOIN events e ON e.id = b.event_id
         WHERE b.updated_at > $1 ORDER BY b.updated_at LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(&pools.read);
    let payments = sqlx::query_as(
        "SELECT p.id, p.reference, p.booking_id, b.event_id, e.organizer_id, b.user_id, p.status,
                p.amount, p.refunded_amount, p.currency, p.updated_at
         FROM payments p JOIN bookings b ON b.id = p.booking_id JOIN events e ON e.id = b.event_id
         WHERE p.updated_at > $1 AND p.status IN ('SUCCESS', 'PARTIALLY_REFUNDED', 'REFUNDED')
         ORDER BY p.updated_at LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(&pools.read);
    let check_ins = sqlx::query_as(
        "SELECT t.id, t.booking_id, b.reference, b.event_id, e.organizer_id, b.user_id, t.checked_in_at
         FROM tickets t JOIN bookings b ON b.id = t.booking_id JOIN events e ON e.id = b.event_id
         WHERE t.checked_in_at > $1 ORDER BY t.checked_in_at LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(&pools.read);
    tokio::try_join!(bookings, payments, check_ins)
}
