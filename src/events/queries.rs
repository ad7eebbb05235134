//! Catalogue SQL.
//!
//! Written once against the backend alias `Db` and compiled once per dialect (the `sqlite` and
//! `postgres` modules of the area); where the dialects differ it branches on `PG`.

use super::{Db, PG, bookings};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::events::model::{
    CategoryCount, EventRecord, EventRow, ListFilter, NewTicketType, TicketTypeField, TicketTypeRow,
};
use crate::store::Pools;

const EVENT_COLUMNS: &str = "e.id, e.organizer_id, e.title, e.description, e.category, e.tags, e.venue, e.location, e.timezone, \
     e.starts_at, e.ends_at, e.image_url, e.featured, e.status, e.currency, e.total_tickets, e.sold, e.held, \
     e.min_price, e.cancel_reason, e.published_at, e.created_at, e.updated_at";

const TYPE_COLUMNS: &str = "id, event_id, name, kind, price, capacity, sold, held, sales_start_at, sales_end_at, \
     max_per_order, position, created_at, updated_at";

/// The event columns of a list page with `held` live for capped events (the only ones whose
/// event-level counters count): the caller binds `now` and closes the subquery.
const LIVE_EVENT_COLUMNS: &str = "e.id, e.organizer_id, e.title, e.description, e.category, e.tags, e.venue, e.location, e.timezone, \
     e.starts_at, e.ends_at, e.image_url, e.featured, e.status, e.currency, e.total_tickets, e.sold, \
     e.min_price, e.cancel_reason, e.published_at, e.created_at, e.updated_at, \
     CASE WHEN e.total_tickets IS NULL THEN e.held ELSE e.held - COALESCE((SELECT CAST(SUM(b.quantity) AS BIGINT) \
     FROM bookings b WHERE b.event_id = e.id AND b.status = 'PENDING' AND b.expires_at <= ";

/// The full-text expression of the PostgreSQL GIN index (must match migration 0006 exactly).
const PG_SEARCH_VECTOR: &str = "to_tsvector('simple', e.title || ' ' || e.description || ' ' || coalesce(e.venue, '') || ' ' || e.location)";

/// Inserts an event with its ticket types in one transaction.
pub async fn insert_event(
    pools: &Pools<Db>,
    event: &EventRow,
    types: &[NewTicketType],
) -> sqlx::Result<()> {
    let mut tx = pools.write.begin().await?;
    insert_event_tx(&mut tx, event, types).await?;
    tx.commit().await
}

/// Inserts an event with its ticket types inside a transaction.
pub async fn insert_event_tx(
    tx: &mut sqlx::Transaction<'static, Db>,
    event: &EventRow,
    types: &[NewTicketType],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO events (id, organizer_id, title, description, category, tags, venue, location, starts_at, ends_at,
             image_url, featured, status, currency, total_tickets, sold, held, min_price, cancel_reason, published_at,
             created_at, updated_at, timezone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 0, 0, $16, NULL, $17, $18, $18, $19)",
    )
    .bind(event.id)
    .bind(event.organizer_id)
    .bind(&event.title)
    .bind(&event.description)
    .bind(&event.category)
    .bind(&event.tags)
    .bind(&event.venue)
    .bind(&event.location)
    .bind(event.starts_at)
    .bind(event.ends_at)
    .bind(&event.image_url)
    .bind(event.featured)
    .bind(event.status.as_str())
    .bind(&event.currency)
    .bind(event.total_tickets)
    .bind(types.iter().map(|t| t.price).min())
    .bind(event.published_at)
    .bind(event.created_at)
    .bind(&event.timezone)
    .execute(&mut **tx)
    .await?;
    for (position, t) in types.iter().enumerate() {
        insert_type_tx(tx, event.id, t, position as i32, event.created_at).await?;
    }
    Ok(())
}

async fn insert_type_tx(
    tx: &mut sqlx::Transaction<'static, Db>,
    event_id: Uuid,
    t: &NewTicketType,
    position: i32,
    now: DateTime<Utc>,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO ticket_types (id, event_id, name, kind, price, capacity, sold, held, sales_start_at, sales_end_at,
             max_per_order, position, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8, $9, $10, $11, $11)",
    )
    .bind(id)
    .bind(event_id)
    .bind(&t.name)
    .bind(&t.kind)
    .bind(t.price)
    .bind(t.capacity)
    .bind(t.sales_start_at)
    .bind(t.sales_end_at)
    .bind(t.max_per_order)
    .bind(position)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// An event with its ticket types.
pub async fn event_record(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<Option<EventRecord>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.id = $1");
    let Some(event) = sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&pools.read)
        .await?
    else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {TYPE_COLUMNS} FROM ticket_types WHERE event_id = $1 ORDER BY position, created_at"
    );
    let types = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(&pools.read)
        .await?;
    Ok(Some(EventRecord { event, types }))
}

/// A list row: the event, its ticket types as a JSON array (`[]` or NULL when it has none) and
/// the count of all matches, so a page, its types and its total come back in one query.
#[derive(sqlx::FromRow)]
struct PageRow {
    #[sqlx(flatten)]
    event: EventRow,
    types_json: Option<String>,
    total: i64,
}

/// The ticket types of each listed event as a JSON array in its own row, with `held` live at
/// the bound `now` (an expired PENDING hold is already free); the caller binds `now` and closes
/// the subquery with [`types_json_tail`]. Keys are the [`TicketTypeRow`] field names; ids are
/// hex text in SQLite (JSON holds no BLOB) and UUID strings in PostgreSQL, both of which
/// `Uuid` parses.
fn types_json_head() -> &'static str {
    if PG {
        ", (SELECT json_agg(json_build_object('id', t.id, 'event_id', t.event_id, 'name', t.name, 'kind', t.kind, \
         'price', t.price, 'capacity', t.capacity, 'sold', t.sold, 'sales_start_at', t.sales_start_at, \
         'sales_end_at', t.sales_end_at, 'max_per_order', t.max_per_order, 'position', t.position, \
         'created_at', t.created_at, 'updated_at', t.updated_at, 'held', t.held - COALESCE((SELECT \
         CAST(SUM(b.quantity) AS BIGINT) FROM bookings b WHERE b.ticket_type_id = t.id AND b.status = 'PENDING' \
         AND b.expires_at <= "
    } else {
        ", (SELECT json_group_array(json_object('id', lower(hex(t.id)), 'event_id', lower(hex(t.event_id)), \
         'name', t.name, 'kind', t.kind, 'price', t.price, 'capacity', t.capacity, 'sold', t.sold, \
         'sales_start_at', t.sales_start_at, 'sales_end_at', t.sales_end_at, 'max_per_order', t.max_per_order, \
         'position', t.position, 'created_at', t.created_at, 'updated_at', t.updated_at, 'held', t.held - \
         COALESCE((SELECT CAST(SUM(b.quantity) AS BIGINT) FROM bookings b WHERE b.ticket_type_id = t.id \
         AND b.status = 'PENDING' AND b.expires_at <= "
    }
}

fn types_json_tail() -> &'static str {
    if PG {
        "), 0)) ORDER BY t.position, t.created_at) FROM ticket_types t WHERE t.event_id = e.id)::text AS types_json"
    } else {
        "), 0)) ORDER BY t.position, t.created_at) FROM ticket_types t WHERE t.event_id = e.id) AS types_json"
    }
}

/// Events with their ticket types from list rows (counts clamped at zero, as live counts are).
fn records_from(rows: Vec<PageRow>) -> sqlx::Result<Vec<EventRecord>> {
    rows.into_iter()
        .map(|row| {
            let mut event = row.event;
            event.held = event.held.max(0);
            let mut types: Vec<TicketTypeRow> = match row.types_json.as_deref() {
                None => Vec::new(),
                Some(json) => {
                    serde_json::from_str(json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?
                }
            };
            for t in &mut types {
                t.held = t.held.max(0);
            }
            Ok(EventRecord { event, types })
        })
        .collect()
}

fn push_filter(qb: &mut QueryBuilder<Db>, f: &ListFilter) {
    qb.push(" WHERE e.status IN (");
    let mut sep = qb.separated(", ");
    for s in &f.statuses {
        sep.push_bind(s.as_str());
    }
    qb.push(")");
    if f.only_unfinished {
        // One comparison (not an OR over two columns), so the planner can walk the
        // (status, starts_at) index in order and stop after the page.
        qb.push(" AND COALESCE(e.ends_at, e.starts_at) > ");
        qb.push_bind(f.now);
    }
    if f.terms.as_ref().is_some_and(Vec::is_empty) {
        qb.push(" AND 1 = 0");
    }
    if let Some(terms) = f.terms.as_ref().filter(|t| !t.is_empty()) {
        if PG {
            let tsquery = terms
                .iter()
                .map(|t| format!("{t}:*"))
                .collect::<Vec<_>>()
                .join(" & ");
            qb.push(format!(" AND {PG_SEARCH_VECTOR} @@ to_tsquery('simple', "));
            qb.push_bind(tsquery);
            qb.push(")");
        } else {
            // Each term quoted (a string, never syntax) with a prefix star; terms are ANDed.
            let matched = terms
                .iter()
                .map(|t| format!("\"{t}\"*"))
                .collect::<Vec<_>>()
                .join(" ");
            qb.push(
                " AND e.id IN (SELECT m.event_id FROM events_search_map m WHERE m.doc IN \
                 (SELECT rowid FROM events_fts WHERE events_fts MATCH ",
            );
            qb.push_bind(matched);
            qb.push("))");
        }
    }
    if let Some(c) = &f.category {
        qb.push(" AND lower(e.category) = ");
        qb.push_bind(c.clone());
    }
    if let Some(l) = &f.location {
        qb.push(" AND lower(e.location) LIKE ");
        qb.push_bind(format!("%{}%", crate::events::model::like_escape(l)));
        qb.push(" ESCAPE '\\'");
    }
    if let Some(from) = f.from {
        qb.push(" AND e.starts_at >= ");
        qb.push_bind(from);
    }
    if let Some(to) = f.to {
        qb.push(" AND e.starts_at < ");
        qb.push_bind(to);
    }
    // A price range usually spans most of the catalogue, yet SQLite's sampled statistics
    // (`analysis_limit`) can rate it as selective as a category and walk the whole price index,
    // fetching every row. The unary `+` keeps the price out of index selection: a selective
    // equality (category, organizer, favorites, search) drives the plan when there is one, else
    // the (status, starts_at, …, min_price) index, which answers the filter, the order and the
    // count without reading a row. PostgreSQL keeps real statistics.
    let price = if PG {
        " AND e.min_price"
    } else {
        " AND +e.min_price"
    };
    if let Some(p) = f.min_price {
        qb.push(price);
        qb.push(" >= ");
        qb.push_bind(p);
    }
    if let Some(p) = f.max_price {
        qb.push(price);
        qb.push(" <= ");
        qb.push_bind(p);
    }
    if let Some(b) = f.featured {
        qb.push(" AND e.featured = ");
        qb.push_bind(b);
    }
    if let Some(o) = f.organizer_id {
        qb.push(" AND e.organizer_id = ");
        qb.push_bind(o);
    }
    if let Some(u) = f.favorited_by {
        qb.push(" AND e.id IN (SELECT event_id FROM event_favorites WHERE user_id = ");
        qb.push_bind(u);
        qb.push(")");
    }
}

/// One page of events matching a filter, with the total count. Sold and held counts are live at
/// `filter.now` (see [`types_json_head`]).
pub async fn list_events(
    pools: &Pools<Db>,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<EventRecord>, u64)> {
    // The page is chosen first, from the events' index alone, and only its rows are read in
    // full with their ticket types: a database computes a select list before it sorts, so
    // selecting everything at once built every matching event's types and live counts only to
    // keep one page of them. The total rides on every row (an uncorrelated subquery runs once
    // per statement), so a full page needs no second round trip for `meta.total`.
    let order = filter.sort.order_by();
    let mut qb = QueryBuilder::<Db>::new(
        "WITH page AS MATERIALIZED (SELECT e.id, (SELECT COUNT(*) FROM events e",
    );
    push_filter(&mut qb, filter);
    qb.push(") AS total FROM events e");
    push_filter(&mut qb, filter);
    qb.push(format!(" ORDER BY {order} LIMIT "));
    qb.push_bind(limit);
    qb.push(" OFFSET ");
    qb.push_bind(offset);
    qb.push(format!(") SELECT {LIVE_EVENT_COLUMNS}"));
    qb.push_bind(filter.now);
    qb.push("), 0) END AS held");
    qb.push(types_json_head());
    qb.push_bind(filter.now);
    qb.push(types_json_tail());
    qb.push(format!(
        ", page.total FROM page JOIN events e ON e.id = page.id ORDER BY {order}"
    ));
    let rows: Vec<PageRow> = qb.build_query_as().fetch_all(&pools.read).await?;
    let total = if let Some(row) = rows.first() {
        row.total.max(0) as u64
    } else if offset == 0 {
        0
    } else {
        // A page past the end: the count alone.
        let mut qb = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM events e");
        push_filter(&mut qb, filter);
        let n: i64 = qb.build_query_scalar().fetch_one(&pools.read).await?;
        n as u64
    };
    Ok((records_from(rows)?, total))
}

/// Published upcoming categories with their counts (grouped case-insensitively).
pub async fn categories(pools: &Pools<Db>, now: DateTime<Utc>) -> sqlx::Result<Vec<CategoryCount>> {
    sqlx::query_as(
        "SELECT MIN(e.category) AS category, COUNT(*) AS count FROM events e
         WHERE e.status = 'PUBLISHED' AND COALESCE(e.ends_at, e.starts_at) > $1
         GROUP BY lower(e.category) ORDER BY COUNT(*) DESC, MIN(e.category) ASC",
    )
    .bind(now)
    .fetch_all(&pools.read)
    .await
}

/// Live sold and unexpired-held counts of the ticket types and (capped) event rows of `ids`.
/// A PENDING booking past its expiry counts as free at once, before any sweep rewrites it.
/// `capped` lists the events with a `total_tickets` cap (the only ones with event counters).
pub async fn live_counts(
    pools: &Pools<Db>,
    ids: &[Uuid],
    capped: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<(Vec<(Uuid, Uuid, i64, i64)>, Vec<(Uuid, i64, i64)>)> {
    if ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT t.id, t.event_id, t.sold, t.held - COALESCE((SELECT CAST(SUM(b.quantity) AS BIGINT) FROM bookings b
           WHERE b.ticket_type_id = t.id AND b.status = 'PENDING' AND b.expires_at <= ",
    );
    qb.push_bind(now);
    qb.push("), 0) AS held FROM ticket_types t WHERE t.event_id IN (");
    let mut sep = qb.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    qb.push(")");
    let types: Vec<(Uuid, Uuid, i64, i64)> = qb.build_query_as().fetch_all(&pools.read).await?;
    if capped.is_empty() {
        return Ok((types, Vec::new()));
    }
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT e.id, e.sold, e.held - COALESCE((SELECT CAST(SUM(b.quantity) AS BIGINT) FROM bookings b
           WHERE b.event_id = e.id AND b.status = 'PENDING' AND b.expires_at <= ",
    );
    qb.push_bind(now);
    qb.push("), 0) AS held FROM events e WHERE e.total_tickets IS NOT NULL AND e.id IN (");
    let mut sep = qb.separated(", ");
    for id in capped {
        sep.push_bind(*id);
    }
    qb.push(")");
    let events: Vec<(Uuid, i64, i64)> = qb.build_query_as().fetch_all(&pools.read).await?;
    Ok((types, events))
}

/// Writes the event's own fields that differ between `before` and `after` (only those, so two
/// concurrent edits of different fields both stand). With `total` given, the event-wide cap
/// changes in the same transaction (see [`set_total_tickets_tx`]), so a refused cap leaves every
/// other field as it was.
pub async fn update_event(
    pools: &Pools<Db>,
    before: &EventRow,
    after: &EventRow,
    total: Option<Option<i64>>,
) -> sqlx::Result<u64> {
    let mut qb = QueryBuilder::<Db>::new("UPDATE events SET updated_at = ");
    qb.push_bind(after.updated_at);
    macro_rules! set_if_changed {
        ($($field:ident),*) => {$(
            if before.$field != after.$field {
                qb.push(concat!(", ", stringify!($field), " = "));
                qb.push_bind(after.$field.clone());
            }
        )*};
    }
    set_if_changed!(
        title,
        description,
        category,
        tags,
        venue,
        location,
        timezone,
        starts_at,
        ends_at,
        featured,
        currency,
        image_url
    );
    qb.push(" WHERE id = ");
    qb.push_bind(after.id);
    let mut tx = pools.write.begin().await?;
    let n = qb.build().execute(&mut *tx).await?.rows_affected();
    if let Some(total) = total {
        set_total_tickets_tx(&mut tx, after.id, total, after.updated_at).await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// Sets (or lifts) the event-wide cap. Setting one starts the event-level counters from the sum
/// of its types' counters in the same statement; the CHECK `sold + held <= total_tickets`
/// refuses a cap below what is already sold or held.
pub async fn set_total_tickets_tx(
    tx: &mut sqlx::Transaction<'static, Db>,
    id: Uuid,
    total: Option<i64>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let sql = match total {
        Some(_) => {
            "UPDATE events SET total_tickets = $2, updated_at = $3,
                 sold = COALESCE((SELECT CAST(SUM(t.sold) AS BIGINT) FROM ticket_types t WHERE t.event_id = $1), 0),
                 held = COALESCE((SELECT CAST(SUM(t.held) AS BIGINT) FROM ticket_types t WHERE t.event_id = $1), 0)
             WHERE id = $1"
        }
        None => "UPDATE events SET total_tickets = $2, updated_at = $3, sold = 0, held = 0 WHERE id = $1",
    };
    sqlx::query(sql)
        .bind(id)
        .bind(total)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves a DRAFT event to PUBLISHED; false when it was not a draft.
pub async fn publish_event(pools: &Pools<Db>, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "UPDATE events SET status = 'PUBLISHED', published_at = $2, updated_at = $2 WHERE id = $1 AND status = 'DRAFT'",
    )
    .bind(id)
    .bind(now)
    .execute(&pools.write)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Cancels a DRAFT or PUBLISHED event inside the caller's transaction; false when it was in
/// another state. Whatever else must change with the cancellation joins the same transaction.
pub async fn cancel_event(
    tx: &mut sqlx::Transaction<'static, Db>,
    event_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM events WHERE id = $1")
        .bind(event_id)
        .fetch_optional(&mut **tx)
        .await?;
    if !matches!(status.as_deref(), Some("DRAFT" | "PUBLISHED")) {
        return Ok(false);
    }
    // Bookings first, then the event row: the hold path locks types before events, so this
    // order cannot deadlock with it. If the event changed meanwhile, the caller's rollback
    // undoes the cascade.
    bookings::cascade_event_cancel(tx, event_id, reason, now).await?;
    let n = sqlx::query(
        "UPDATE events SET status = 'CANCELLED', cancel_reason = $2, updated_at = $3
         WHERE id = $1 AND status IN ('DRAFT', 'PUBLISHED')",
    )
    .bind(event_id)
    .bind(reason)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Opens a write transaction, cancels the event in it and commits.
pub async fn cancel_event_committed(
    pools: &Pools<Db>,
    event_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let mut tx = pools.write.begin().await?;
    let done = cancel_event(&mut tx, event_id, reason, now).await?;
    if done {
        tx.commit().await?;
    }
    Ok(done)
}

/// Whether any booking references the row `id`, counted by `count` once `lock` holds the row (on
/// PostgreSQL; SQLite's one writer connection excludes other writers already), so no booking can
/// arrive between the count and the caller's delete.
async fn booked_under_lock(
    tx: &mut sqlx::Transaction<'static, Db>,
    lock: &'static str,
    count: &'static str,
    id: Uuid,
) -> sqlx::Result<bool> {
    if PG {
        sqlx::query(lock).bind(id).execute(&mut **tx).await?;
    }
    let booked: i64 = sqlx::query_scalar(count)
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(booked > 0)
}

/// Deletes an event that has no bookings at all; false when some exist (checked in the same
/// transaction as the delete).
pub async fn delete_event(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<bool> {
    let mut tx = pools.write.begin().await?;
    let lock = "SELECT id FROM events WHERE id = $1 FOR UPDATE";
    let count = "SELECT COUNT(*) FROM bookings WHERE event_id = $1";
    if booked_under_lock(&mut tx, lock, count, id).await? {
        return Ok(false);
    }
    sqlx::query("DELETE FROM events WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Whether any booking (in any state) exists for the event.
pub async fn event_has_bookings(pools: &Pools<Db>, id: Uuid) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bookings WHERE event_id = $1")
        .bind(id)
        .fetch_one(&pools.read)
        .await?;
    Ok(n > 0)
}

async fn refresh_min_price(
    tx: &mut sqlx::Transaction<'static, Db>,
    event_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE events SET min_price = (SELECT MIN(price) FROM ticket_types WHERE event_id = $1), updated_at = $2
         WHERE id = $1",
    )
    .bind(event_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds a ticket type at the end of the event's list and refreshes the event's `minPrice`.
pub async fn insert_ticket_type(
    pools: &Pools<Db>,
    event_id: Uuid,
    t: &NewTicketType,
    now: DateTime<Utc>,
) -> sqlx::Result<Uuid> {
    let mut tx = pools.write.begin().await?;
    let position: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(position) + 1, 0) AS BIGINT) FROM ticket_types WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_one(&mut *tx)
    .await?;
    let id = insert_type_tx(&mut tx, event_id, t, position as i32, now).await?;
    refresh_min_price(&mut tx, event_id, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Rewrites a ticket type's editable fields. The capacity only lowers to what is sold and held
/// (a conditional update, so a concurrent hold cannot slip under it): false when it would not.
pub async fn update_ticket_type(
    pools: &Pools<Db>,
    t: &TicketTypeRow,
    fields: &[TicketTypeField],
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let mut qb = QueryBuilder::<Db>::new("UPDATE ticket_types SET updated_at = ");
    qb.push_bind(now);
    for field in fields {
        match field {
            TicketTypeField::Name => qb.push(", name = ").push_bind(t.name.clone()),
            TicketTypeField::Kind => qb.push(", kind = ").push_bind(t.kind.clone()),
            TicketTypeField::Price => qb.push(", price = ").push_bind(t.price),
            TicketTypeField::Capacity => qb.push(", capacity = ").push_bind(t.capacity),
            TicketTypeField::SalesStartAt => {
                qb.push(", sales_start_at = ").push_bind(t.sales_start_at)
            }
            TicketTypeField::SalesEndAt => qb.push(", sales_end_at = ").push_bind(t.sales_end_at),
            TicketTypeField::MaxPerOrder => {
                qb.push(", max_per_order = ").push_bind(t.max_per_order)
            }
        };
    }
    qb.push(" WHERE id = ").push_bind(t.id);
    if fields.contains(&TicketTypeField::Capacity) {
        qb.push(" AND sold + held <= ").push_bind(t.capacity);
    }
    let mut tx = pools.write.begin().await?;
    let n = qb.build().execute(&mut *tx).await?.rows_affected();
    if n == 0 {
        return Ok(false);
    }
    refresh_min_price(&mut tx, t.event_id, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Deletes a ticket type that no booking references; false when one does.
pub async fn delete_ticket_type(
    pools: &Pools<Db>,
    event_id: Uuid,
    type_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let mut tx = pools.write.begin().await?;
    let lock = "SELECT id FROM ticket_types WHERE id = $1 FOR UPDATE";
    let count = "SELECT COUNT(*) FROM bookings WHERE ticket_type_id = $1";
    if booked_under_lock(&mut tx, lock, count, type_id).await? {
        return Ok(false);
    }
    sqlx::query("DELETE FROM ticket_types WHERE id = $1 AND event_id = $2")
        .bind(type_id)
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
    refresh_min_price(&mut tx, event_id, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Adds or removes a favorite; returns whether the event is a favorite afterwards.
/// `want`: Some(true) sets, Some(false) clears, None toggles.
pub async fn set_favorite(
    pools: &Pools<Db>,
    user_id: Uuid,
    event_id: Uuid,
    want: Option<bool>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let mut tx = pools.write.begin().await?;
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM event_favorites WHERE user_id = $1 AND event_id = $2",
    )
    .bind(user_id)
    .bind(event_id)
    .fetch_one(&mut *tx)
    .await?;
    let target = want.unwrap_or(exists == 0);
    if target && exists == 0 {
        sqlx::query(
            "INSERT INTO event_favorites (user_id, event_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(event_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    } else if !target && exists > 0 {
        sqlx::query("DELETE FROM event_favorites WHERE user_id = $1 AND event_id = $2")
            .bind(user_id)
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(target)
}

/// Marks PUBLISHED events whose end (or start, with no end) has passed as COMPLETED; returns how
/// many changed.
pub async fn complete_finished(pools: &Pools<Db>, now: DateTime<Utc>) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE events SET status = 'COMPLETED', updated_at = $1
         WHERE status = 'PUBLISHED' AND (ends_at <= $1 OR (ends_at IS NULL AND starts_at <= $1))",
    )
    .bind(now)
    .execute(&pools.write)
    .await?
    .rows_affected())
}

/// Refreshes the query planner's statistics where they are missing or stale (SQLite keeps none
/// until asked; PostgreSQL's autovacuum does this on its own).
pub async fn optimize(pools: &Pools<Db>) -> sqlx::Result<()> {
    if !PG {
        let mut conn = pools.write.acquire().await?;
        sqlx::query("PRAGMA analysis_limit = 1000")
            .execute(&mut *conn)
            .await?;
        sqlx::query("PRAGMA optimize = 0x10002")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Number of events in storage.
pub async fn count_events(pools: &Pools<Db>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&pools.read)
        .await
}

/// Inserts many events with their types in one transaction (seeding).
pub async fn insert_events_bulk(
    pools: &Pools<Db>,
    events: &[(EventRow, Vec<NewTicketType>)],
) -> sqlx::Result<()> {
    let mut tx = pools.write.begin().await?;
    for (event, types) in events {
        insert_event_tx(&mut tx, event, types).await?;
    }
    tx.commit().await
}

/// Whether any event shows this image (names are content hashes: two events given the same
/// picture share one file).
pub async fn image_in_use(pools: &Pools<Db>, url: &str) -> sqlx::Result<bool> {
    let used: Option<i64> = sqlx::query_scalar("SELECT 1 FROM events WHERE image_url = $1 LIMIT 1")
        .bind(url)
        .fetch_optional(&pools.read)
        .await?;
    Ok(used.is_some())
}
