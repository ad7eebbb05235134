//! One hold at a time: resolving the ticket type, the sales checks, the free path, and the locked reads a batch decides on.

use super::*;

/// The request with its ticket type: as named (no read: the batch checks it under its lock), or
/// the event's default (its only type, else its first `general` one), which takes one read.
pub async fn resolve_type(
    pools: &Pools<Db>,
    req: &NewHold,
) -> sqlx::Result<Result<NewHold, HoldOutcome>> {
    if req.ticket_type_id.is_some() {
        return Ok(Ok(req.clone()));
    }
    Ok(resolve(pools, req).await?.map(|(_, ty)| NewHold {
        ticket_type_id: Some(ty.id),
        ..req.clone()
    }))
}

/// The checks before any lock: event and type lookup (404, DRAFT → 404), quantity against
/// `maxPerOrder` (400) and the sales window (409 `SALES_CLOSED`). `Err(outcome)` is the refusal.
pub async fn resolve(
    pools: &Pools<Db>,
    req: &NewHold,
) -> sqlx::Result<Result<(EventFacts, TypeFacts), HoldOutcome>> {
    if let Some(type_id) = req.ticket_type_id {
        // One read for both rows on the hot path.
        let row = sqlx::query(
            "SELECT e.id, e.organizer_id, e.title, e.status, e.starts_at, e.ends_at, e.published_at, e.currency,
                    e.total_tickets, e.sold, e.held,
                    t.id, t.event_id, t.name, t.kind, t.price, t.capacity, t.sold, t.held, t.sales_start_at,
                    t.sales_end_at, t.max_per_order
             FROM ticket_types t JOIN events e ON e.id = t.event_id
             WHERE t.id = $1 AND t.event_id = $2",
        )
        .bind(type_id)
        .bind(req.event_id)
        .fetch_optional(&pools.read)
        .await?;
        let Some(row) = row else {
            return Ok(Err(HoldOutcome::NotFound));
        };
        let (event, ty) = facts_of(&row)?;
        return Ok(check_sale(req, event, ty));
    }
    let Some(event) = event_facts(pools, req.event_id).await? else {
        return Ok(Err(HoldOutcome::NotFound));
    };
    if event.status == EventStatus::Draft {
        return Ok(Err(HoldOutcome::NotFound));
    }
    let types = type_facts(pools, req.event_id).await?;
    let ty = if types.len() == 1 {
        types.into_iter().next().expect("one type")
    } else if let Some(t) = types.iter().find(|t| t.kind == "general") {
        t.clone()
    } else if types.is_empty() {
        return Ok(Err(HoldOutcome::NotFound));
    } else {
        return Ok(Err(HoldOutcome::NeedType));
    };
    Ok(check_sale(req, event, ty))
}

/// DRAFT → 404, quantity against `maxPerOrder`, then the sales window.
pub(super) fn check_sale(
    req: &NewHold,
    event: EventFacts,
    ty: TypeFacts,
) -> Result<(EventFacts, TypeFacts), HoldOutcome> {
    match refusal(req, &event, &ty) {
        Some(refused) => Err(refused),
        None => Ok((event, ty)),
    }
}

/// A free booking (CONFIRMED at once, with its tickets) inside the caller's transaction, under
/// the batch's locks: the conditional counter updates (after releasing lapsed holds of the type
/// once per transaction when they are in the way), the row, the tickets and the outbox messages.
/// A refused request leaves no change. Free types have no holding limit: nothing is held.
pub(super) async fn hold_free_in_tx(
    tx: &mut Transaction<'static, Db>,
    req: &NewHold,
    event: &EventFacts,
    ty: &TypeFacts,
    links: &Links,
    released: &mut std::collections::BTreeSet<Uuid>,
) -> sqlx::Result<HoldOutcome> {
    debug_assert_eq!(ty.price, 0);
    let capped = event.total_tickets.is_some();
    let mut taken = take_seats(tx, ty, capped, req.quantity, true).await?;
    if !taken && released.insert(ty.id) {
        // Lapsed holds still counted in `held` may be what blocks us: release them (once per
        // type and transaction) and retry.
        let mut freed = release_expired_tx(tx, Some(ty.id), 0, req.now).await?.len();
        if capped {
            freed += release_expired_event_tx(tx, event.id, req.now).await?;
        }
        if freed > 0 {
            taken = take_seats(tx, ty, capped, req.quantity, true).await?;
        }
    }
    if !taken {
        let available = live_available_on(tx, ty.id, req.now).await?.unwrap_or(0);
        return Ok(HoldOutcome::SoldOut { available });
    }
    let id = Uuid::now_v7();
    let mut reference = crate::bookings::codes::new_reference();
    loop {
        let r = sqlx::query(
            "INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                 currency, status, customer_email, customer_name, customer_phone, special_requests,
                 guest_token_hash, idempotency_key, confirmed_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, 'CONFIRMED', $8, $9, $10, $11, $12, $13, $14, $14, $14)
             ON CONFLICT (reference) DO NOTHING",
        )
        .bind(id)
        .bind(&reference)
        .bind(req.user_id)
        .bind(event.id)
        .bind(ty.id)
        .bind(req.quantity)
        .bind(&event.currency)
        .bind(&req.customer_email)
        .bind(&req.customer_name)
        .bind(&req.customer_phone)
        .bind(&req.special_requests)
        .bind(&req.guest_token_hash)
        .bind(&req.idempotency_key)
        .bind(req.now)
        .execute(&mut **tx)
        .await?;
        if r.rows_affected() == 1 {
            break;
        }
        reference = crate::bookings::codes::new_reference();
    }
    let tickets = issue_tickets(tx, id, req.quantity, req.now, links).await?;
    let (venue, location, timezone): (Option<String>, String, String) =
        sqlx::query_as("SELECT venue, location, timezone FROM events WHERE id = $1")
            .bind(event.id)
            .fetch_one(&mut **tx)
            .await?;
    let occasion = Occasion {
        title: event.title.clone(),
        starts_at: event.starts_at,
        ends_at: event.ends_at,
        venue,
        location,
        timezone,
        ticket_type: ty.name.clone(),
        quantity: req.quantity,
        amount: 0,
        currency: event.currency.clone(),
    };
    let mut msg = confirmed_message(
        &req.customer_email,
        greeted(req.user_id, &req.customer_name),
        &reference,
        id,
        &tickets,
        &occasion,
        links,
    );
    if let Some(token) = &req.guest_token {
        // The guest's links to the booking page and the PDF tickets (API.md §11.58).
        msg.payload["guestToken"] = json!(token);
    }
    notify::insert_message(tx, &msg).await?;
    let sms = confirmed_sms(tx, req.user_id, &reference, &occasion).await?;
    if let Some(sms) = sms {
        notify::insert_message(tx, &sms).await?;
    }
    Ok(HoldOutcome::Held {
        id,
        event_id: event.id,
        row: None,
    })
}

/// Runs several hold requests (each naming its ticket type), of any ticket types and events, in
/// ONE transaction and decides each one on its own: one sold-out type or one buyer over the limit
/// refuses only its own requests. An error fails the whole batch (nothing is written; the engine then runs the
/// requests one by one).
///
/// Steps, each one statement for the whole batch:
/// 1. lock the batch's ticket type rows in ascending id order, then its capped events' rows in
///    ascending id order (the lock order of this file; PostgreSQL `FOR NO KEY UPDATE`, SQLite's
///    single writer), reading everything the decision needs as of the lock: counters, price,
///    `maxPerOrder`, sales window and the event's status (never the caller's earlier snapshot);
/// 2. release lapsed holds of the types (and capped events) that would otherwise refuse someone,
///    and read the counters again;
/// 3. read every buyer's current holdings of the batch's types;
/// 4. decide paid requests in arrival order against those locked numbers (status → SALES_CLOSED,
///    holding limit, then seats → SOLD_OUT with the live `available`);
/// 5. take the accepted seats with ONE conditional `UPDATE … WHERE sold + held + n <= capacity`
///    over the types (and one over the capped events); if it touched fewer rows than expected the
///    batch fails and rolls back, so the invariant never rests on the arithmetic of step 4, and
///    the CHECK constraints back it in any case;
/// 6. insert the bookings and their `booking_pending` outbox messages with multi-row inserts;
///    the messages already claimed by this instance's delivery loop when it runs, and handed to
///    it after the commit ([`crate::notify::handoff`]).
///
/// Free types (CONFIRMED at once, with tickets) run request by request in the same transaction,
/// under the locks of step 1.
pub async fn hold_batch(
    pools: &Pools<Db>,
    items: &[NewHold],
    links: &Links,
) -> sqlx::Result<Vec<HoldOutcome>> {
    let reservation =
        crate::notify::handoff::reserve(pools.writer_identity(), items.len(), Utc::now());
    let mut handover = Handover {
        lease: reservation.as_ref().map(|r| r.lease_until),
        written: Vec::new(),
    };
    let mut tx = pools.write.begin().await?;
    let out = hold_many(&mut tx, items, links, &mut handover).await?;
    tx.commit().await?;
    if let Some(reservation) = reservation
        && let Err(back) = reservation.hand_over(handover.written)
    {
        // The loop stopped between the reservation and the commit: the messages go back to the
        // claims. The holds are committed, so this is no error of theirs (an error would run the
        // batch again).
        let ids: Vec<Uuid> = back.messages.iter().map(|m| m.id).collect();
        if let Err(e) = notify::release(pools, back.lease, &ids).await {
            tracing::warn!(error = %e, count = ids.len(), "outbox: cannot release handed messages; their lease will expire");
        }
    }
    Ok(out)
}

/// A ticket type and its event as read under the type's lock, with the seats left of the type.
#[derive(Debug, Clone)]
pub(super) struct LockedType {
    pub(super) ty: TypeFacts,
    pub(super) event: EventFacts,
    pub(super) remaining: i64,
}

// On PostgreSQL the batch statements take each list as ONE array parameter ([`PgArray`], binary),
// and a batch of rows as one array per column under `unnest`, so each statement has a single
// shape whatever the batch size: a connection parses and plans it once and then reuses it. With
// one parameter per item, every batch size was a new statement to prepare on each of the pool's
// connections; with text array literals or JSON, the server spent its time parsing them. SQLite
// (in process, cheap to prepare) keeps one parameter per item.

/// Step 1: locks (PostgreSQL) and reads the types, then the capped events, in ascending id order.
/// Returns every fact a decision needs as of the lock (status, sales window, price,
/// `maxPerOrder`, seats left), never the caller's earlier snapshot, and the capped events' seats
/// left.
pub(super) async fn lock_counters(
    tx: &mut Transaction<'static, Db>,
    type_ids: &[Uuid],
    event_ids: &[Uuid],
) -> sqlx::Result<(BTreeMap<Uuid, LockedType>, BTreeMap<Uuid, i64>)> {
    // `FOR NO KEY UPDATE`, the lock the counter updates take anyway: it excludes every other
    // writer of the rows, but not the `FOR KEY SHARE` of a foreign-key check. With `FOR UPDATE`,
    // a payment start rewriting its booking (its checks take the event, then the type) and a
    // batch (the type, then the capped event) deadlocked under load.
    let lock = if PG { " FOR NO KEY UPDATE OF t" } else { "" };
    let sql = format!(
        "SELECT e.id, e.organizer_id, e.title, e.status, e.starts_at, e.ends_at, e.published_at, e.currency,
                e.total_tickets, e.sold, e.held,
                t.id, t.event_id, t.name, t.kind, t.price, t.capacity, t.sold, t.held, t.sales_start_at,
                t.sales_end_at, t.max_per_order
         FROM ticket_types t JOIN events e ON e.id = t.event_id
         WHERE t.id {} ORDER BY t.id{lock}",
        id_list(type_ids.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if PG {
        q = q.bind(PgArray(type_ids.to_vec()));
    } else {
        for id in type_ids {
            q = q.bind(*id);
        }
    }
    let mut types = BTreeMap::new();
    for row in q.fetch_all(&mut **tx).await? {
        let (event, ty) = facts_of(&row)?;
        let remaining = ty.capacity - ty.sold - ty.held;
        types.insert(
            ty.id,
            LockedType {
                ty,
                event,
                remaining,
            },
        );
    }
    let lock = if PG { " FOR NO KEY UPDATE" } else { "" };
    let sql = format!(
        "SELECT id, total_tickets, sold, held FROM events
         WHERE id {} AND total_tickets IS NOT NULL ORDER BY id{lock}",
        id_list(event_ids.len())
    );
    let mut q = sqlx::query_as::<_, (Uuid, Option<i64>, i64, i64)>(sqlx::AssertSqlSafe(sql));
    if PG {
        q = q.bind(PgArray(event_ids.to_vec()));
    } else {
        for id in event_ids {
            q = q.bind(*id);
        }
    }
    let events: BTreeMap<Uuid, i64> = q
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .filter_map(|(id, total, sold, held)| total.map(|t| (id, t - sold - held)))
        .collect();
    Ok((types, events))
}

/// `IN` over the ids bound from `$1` ([`crate::store::id_list`]).
pub(super) fn id_list(n: usize) -> String {
    crate::store::id_list(PG, n)
}

/// The event and ticket type of a row of `e.…` (11 columns) then `t.…` (11 columns).
pub(super) fn facts_of(row: &<Db as sqlx::Database>::Row) -> sqlx::Result<(EventFacts, TypeFacts)> {
    let event = EventFacts {
        id: row.try_get(0)?,
        organizer_id: row.try_get(1)?,
        title: row.try_get(2)?,
        status: EventStatus::try_from(row.try_get::<String, _>(3)?)
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
        starts_at: row.try_get(4)?,
        ends_at: row.try_get(5)?,
        published_at: row.try_get(6)?,
        currency: row.try_get(7)?,
        total_tickets: row.try_get(8)?,
        sold: row.try_get(9)?,
        held: row.try_get(10)?,
    };
    let ty = TypeFacts {
        id: row.try_get(11)?,
        event_id: row.try_get(12)?,
        name: row.try_get(13)?,
        kind: row.try_get(14)?,
        price: row.try_get(15)?,
        capacity: row.try_get(16)?,
        sold: row.try_get(17)?,
        held: row.try_get(18)?,
        sales_start_at: row.try_get(19)?,
        sales_end_at: row.try_get(20)?,
        max_per_order: row.try_get(21)?,
    };
    Ok((event, ty))
}

/// Step 3: seats each buyer holds of each of `type_ids` in unexpired PENDING bookings.
pub(super) async fn holdings_of(
    tx: &mut Transaction<'static, Db>,
    reqs: &[&NewHold],
    type_ids: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<BTreeMap<(Uuid, Buyer), i64>> {
    let mut users: Vec<Uuid> = reqs.iter().filter_map(|r| r.user_id).collect();
    users.sort();
    users.dedup();
    let mut emails: Vec<&str> = reqs
        .iter()
        .filter(|r| r.user_id.is_none())
        .map(|r| r.customer_email.as_str())
        .collect();
    emails.sort();
    emails.dedup();
    let mut holdings = BTreeMap::new();
    if users.is_empty() && emails.is_empty() {
        return Ok(holdings);
    }
    // Each branch first takes the buyers' bookings through the buyer's own index (a buyer has
    // few), and only then filters type, status, expiry and (guests) `user_id IS NULL`. Written as
    // one filter, a planner with stale statistics (a new, hot ticket type) may walk the type's
    // index instead: every PENDING booking of the type, per batch, which grows with the on-sale
    // (measured on PostgreSQL: 40–60 ms per batch after 30,000 holds). On PostgreSQL each buyer
    // is a separate probe (`LATERAL … OFFSET 0` keeps it one): a list of 128 emails against a
    // table never analyzed is estimated at most of the table and read by a sequential scan.
    let sql = if PG {
        // $1 now, $2 types, $3 accounts, $4 guest emails: one shape for every batch.
        "WITH mine AS MATERIALIZED (
             SELECT 'account' AS via, b.* FROM unnest(CAST($3 AS uuid[])) AS k(key) CROSS JOIN LATERAL (
                 SELECT ticket_type_id, user_id, customer_email, quantity, status, expires_at
                 FROM bookings WHERE user_id = k.key OFFSET 0) AS b
             UNION ALL
             SELECT 'guest' AS via, b.* FROM unnest(CAST($4 AS text[])) AS k(key)
             CROSS JOIN LATERAL (
                 SELECT ticket_type_id, user_id, customer_email, quantity, status, expires_at
                 FROM bookings WHERE customer_email = k.key OFFSET 0) AS b)
         SELECT ticket_type_id, user_id, customer_email, CAST(SUM(quantity) AS BIGINT) FROM mine
         WHERE ticket_type_id = ANY(CAST($2 AS uuid[])) AND status = 'PENDING' AND expires_at > $1
           AND (via = 'account' OR user_id IS NULL)
         GROUP BY ticket_type_id, user_id, customer_email"
            .to_string()
    } else {
        let from = 2 + type_ids.len();
        let mut branches = Vec::new();
        if !users.is_empty() {
            branches.push(format!(
                "SELECT 'account' AS via, ticket_type_id, user_id, customer_email, quantity, status, expires_at
                 FROM bookings WHERE user_id IN ({})",
                placeholders(from, users.len())
            ));
        }
        if !emails.is_empty() {
            branches.push(format!(
                "SELECT 'guest' AS via, ticket_type_id, user_id, customer_email, quantity, status, expires_at
                 FROM bookings WHERE customer_email IN ({})",
                placeholders(from + users.len(), emails.len())
            ));
        }
        format!(
            "WITH mine AS MATERIALIZED ({})
             SELECT ticket_type_id, user_id, customer_email, CAST(SUM(quantity) AS BIGINT) FROM mine
             WHERE ticket_type_id IN ({}) AND status = 'PENDING' AND expires_at > $1
               AND (via = 'account' OR user_id IS NULL)
             GROUP BY ticket_type_id, user_id, customer_email",
            branches.join(" UNION ALL "),
            placeholders(2, type_ids.len()),
        )
    };
    let mut q =
        sqlx::query_as::<_, (Uuid, Option<Uuid>, String, i64)>(sqlx::AssertSqlSafe(sql)).bind(now);
    if PG {
        q = q
            .bind(PgArray(type_ids.to_vec()))
            .bind(PgArray(users.clone()))
            .bind(PgArray(emails.iter().map(|e| e.to_string()).collect()));
    } else {
        for t in type_ids {
            q = q.bind(*t);
        }
        for u in &users {
            q = q.bind(*u);
        }
        for e in &emails {
            q = q.bind(e.to_string());
        }
    }
    for (ty, user, email, n) in q.fetch_all(&mut **tx).await? {
        let key = match user {
            Some(u) => Buyer::User(u),
            None => Buyer::Guest(email),
        };
        *holdings.entry((ty, key)).or_default() += n;
    }
    Ok(holdings)
}

/// Step 5: adds `n` to `column` of each row of `table` with ONE conditional update
/// (`sold + held + n <= limit`); an error unless every row took its seats.
pub(super) async fn take_many(
    tx: &mut Transaction<'static, Db>,
    table: &str,
    limit: &str,
    extra: &str,
    amounts: &BTreeMap<Uuid, i64>,
) -> sqlx::Result<()> {
    if amounts.is_empty() {
        return Ok(());
    }
    let q = if PG {
        let sql = format!(
            "UPDATE {table} SET held = held + v.n
             FROM unnest(CAST($1 AS uuid[]), CAST($2 AS bigint[])) AS v(row_id, n)
             WHERE id = v.row_id{extra} AND sold + held + v.n <= {limit}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(PgArray(amounts.keys().copied().collect()))
            .bind(PgArray(amounts.values().copied().collect()))
    } else {
        let mut case = String::from("CASE id");
        for n in 0..amounts.len() {
            case.push_str(&format!(" WHEN ${} THEN ${}", 2 * n + 1, 2 * n + 2));
        }
        case.push_str(" END");
        let ids = (0..amounts.len())
            .map(|n| format!("${}", 2 * n + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE {table} SET held = held + {case}
             WHERE id IN ({ids}){extra} AND sold + held + {case} <= {limit}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, n) in amounts {
            q = q.bind(*id).bind(*n);
        }
        q
    };
    let touched = q.execute(&mut **tx).await?.rows_affected();
    if touched != amounts.len() as u64 {
        // Cannot happen while the locks of step 1 are held; failing rolls everything back and
        // the engine reruns the requests one by one.
        return Err(sqlx::Error::Protocol(format!(
            "{table}: {touched} of {} counter updates applied under lock",
            amounts.len()
        )));
    }
    Ok(())
}
