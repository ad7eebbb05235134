//! A batch of holds decided in one transaction: seats taken per type and event, then every accepted booking and its message inserted.

use super::*;

/// Every step of [`hold_batch`] inside the caller's transaction.
pub(super) async fn hold_many(
    tx: &mut Transaction<'static, Db>,
    items: &[NewHold],
    links: &Links,
    handover: &mut Handover,
) -> sqlx::Result<Vec<HoldOutcome>> {
    let mut out: Vec<Option<HoldOutcome>> = vec![None; items.len()];
    let mut type_ids: Vec<Uuid> = items.iter().filter_map(|r| r.ticket_type_id).collect();
    type_ids.sort();
    type_ids.dedup();
    let mut event_ids: Vec<Uuid> = items.iter().map(|r| r.event_id).collect();
    event_ids.sort();
    event_ids.dedup();
    let now = items.iter().map(|r| r.now).max().unwrap_or_else(Utc::now);
    let (mut types, mut events) = lock_counters(tx, &type_ids, &event_ids).await?;
    // Each request's ticket type, if it exists and belongs to the request's event (else 404).
    let type_of: Vec<Option<Uuid>> = items
        .iter()
        .map(|r| {
            r.ticket_type_id
                .filter(|t| types.get(t).is_some_and(|l| l.event.id == r.event_id))
        })
        .collect();
    for (i, ty) in type_of.iter().enumerate() {
        if ty.is_none() {
            out[i] = Some(HoldOutcome::NotFound);
        }
    }

    // Paid or free as of the lock.
    let paid: Vec<usize> = (0..items.len())
        .filter(|&i| type_of[i].is_some_and(|t| types[&t].ty.price > 0))
        .collect();
    if !paid.is_empty() {
        // Step 2: lazy release where the lapsed holds may be in the way.
        let mut type_wanted: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut event_wanted: BTreeMap<Uuid, i64> = BTreeMap::new();
        for &i in &paid {
            let (req, ty) = (&items[i], type_of[i].expect("paid types exist"));
            let t = &types[&ty];
            if refusal(req, &t.event, &t.ty).is_some() {
                continue;
            }
            *type_wanted.entry(ty).or_default() += req.quantity;
            if events.contains_key(&t.event.id) {
                *event_wanted.entry(t.event.id).or_default() += req.quantity;
            }
        }
        let short_types: Vec<Uuid> = type_wanted
            .iter()
            .filter(|(id, w)| **w > types[*id].remaining)
            .map(|(id, _)| *id)
            .collect();
        let short_events: Vec<Uuid> = event_wanted
            .iter()
            .filter(|(id, w)| **w > events[*id])
            .map(|(id, _)| *id)
            .collect();
        if !short_types.is_empty() || !short_events.is_empty() {
            let mut freed = release_expired_types_tx(tx, &short_types, now).await?.len();
            for e in &short_events {
                freed += release_expired_event_tx(tx, *e, now).await?;
            }
            if freed > 0 {
                (types, events) = lock_counters(tx, &type_ids, &event_ids).await?;
            }
        }

        // Steps 3 and 4.
        let paid_types: Vec<Uuid> = type_wanted.keys().copied().collect();
        let reqs: Vec<&NewHold> = paid.iter().map(|&i| &items[i]).collect();
        let mut holdings = if paid_types.is_empty() {
            BTreeMap::new()
        } else {
            holdings_of(tx, &reqs, &paid_types, now).await?
        };
        let mut take_types: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut take_events: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut accepted: Vec<usize> = Vec::new();
        for &i in &paid {
            let (req, ty) = (&items[i], type_of[i].expect("paid types exist"));
            let Some(t) = types.get_mut(&ty) else {
                out[i] = Some(HoldOutcome::NotFound);
                continue;
            };
            if let Some(refused) = refusal(req, &t.event, &t.ty) {
                out[i] = Some(refused);
                continue;
            }
            let max = i64::from(t.ty.max_per_order);
            let key = (ty, buyer_of(req));
            let have = holdings.get(&key).copied().unwrap_or(0);
            let event_left = events.get(&t.event.id).copied();
            let available = event_left
                .map_or(t.remaining, |e| t.remaining.min(e))
                .max(0);
            if have + req.quantity > max {
                out[i] = Some(HoldOutcome::HoldingLimit { max, holding: have });
            } else if req.quantity > available {
                out[i] = Some(HoldOutcome::SoldOut { available });
            } else {
                t.remaining -= req.quantity;
                *take_types.entry(ty).or_default() += req.quantity;
                if let Some(e) = events.get_mut(&t.event.id) {
                    *e -= req.quantity;
                    *take_events.entry(t.event.id).or_default() += req.quantity;
                }
                *holdings.entry(key).or_default() += req.quantity;
                accepted.push(i);
            }
        }

        // Step 5.
        take_many(tx, "ticket_types", "capacity", "", &take_types).await?;
        take_many(
            tx,
            "events",
            "total_tickets",
            " AND total_tickets IS NOT NULL",
            &take_events,
        )
        .await?;

        // Step 6, with the price, currency and title read under the locks.
        let rows: Vec<(usize, &NewHold, &LockedType)> = accepted
            .iter()
            .map(|&i| {
                (
                    i,
                    &items[i],
                    &types[&type_of[i].expect("accepted types exist")],
                )
            })
            .collect();
        for chunk in rows.chunks(INSERT_CHUNK) {
            for (i, row) in insert_pending(tx, chunk, links, handover).await? {
                out[i] = Some(HoldOutcome::Held {
                    id: row.id,
                    event_id: row.event_id,
                    row: Some(Box::new(row)),
                });
            }
        }
    }

    // Free types (as of the locks), one by one under the same locks.
    let mut released = std::collections::BTreeSet::new();
    for (i, req) in items.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let Some(t) = type_of[i].and_then(|ty| types.get(&ty)) else {
            out[i] = Some(HoldOutcome::NotFound);
            continue;
        };
        if let Some(refused) = refusal(req, &t.event, &t.ty) {
            out[i] = Some(refused);
            continue;
        }
        out[i] = Some(hold_free_in_tx(tx, req, &t.event, &t.ty, links, &mut released).await?);
    }
    Ok(out.into_iter().map(|o| o.expect("decided")).collect())
}

/// Rows per multi-row insert (17 binds each, well under both backends' parameter limits).
pub(super) const INSERT_CHUNK: usize = 256;

/// How a batch writes its `booking_pending` messages: PENDING, for the delivery loops' claims,
/// without a `lease`; with one, already claimed under it and kept in `written`, to be handed to
/// this instance's loop at commit ([`crate::notify::handoff`]).
#[derive(Debug)]
pub(super) struct Handover {
    pub(super) lease: Option<DateTime<Utc>>,
    pub(super) written: Vec<crate::notify::ClaimedMessage>,
}

/// Step 6: the PENDING bookings of the accepted requests (request index, request, locked facts)
/// and their `booking_pending` messages, in two statements (a reference collision retries just
/// that row). Returns `(request index, the booking as written)`.
pub(super) async fn insert_pending(
    tx: &mut Transaction<'static, Db>,
    accepted: &[(usize, &NewHold, &LockedType)],
    links: &Links,
    handover: &mut Handover,
) -> sqlx::Result<Vec<(usize, BookingRow)>> {
    // Each booking as it will be stored, with the index of its request: the inserts bind these
    // rows and the answers return them, so what is answered is what was written.
    let mut rows: Vec<(BookingRow, usize)> = accepted
        .iter()
        .enumerate()
        .map(|(k, &(_, req, locked))| {
            let reference = crate::bookings::codes::new_reference();
            (pending_row(Uuid::now_v7(), reference, req, locked), k)
        })
        .collect();
    let mut pending_rows: Vec<usize> = (0..rows.len()).collect();
    // By event, so that the dashboard's daily counter rows (kept by a trigger deferred to the
    // commit on PostgreSQL, migration 0016) are locked in one order by every batch.
    pending_rows.sort_by_key(|&r| rows[r].0.event_id);
    while !pending_rows.is_empty() {
        let q = if PG {
            // One array per column, in the order of `unnest` below.
            let mut ids = Vec::with_capacity(pending_rows.len());
            let mut references = Vec::with_capacity(pending_rows.len());
            let mut users = Vec::with_capacity(pending_rows.len());
            let mut events = Vec::with_capacity(pending_rows.len());
            let mut types = Vec::with_capacity(pending_rows.len());
            let mut quantities = Vec::with_capacity(pending_rows.len());
            let mut prices = Vec::with_capacity(pending_rows.len());
            let mut totals = Vec::with_capacity(pending_rows.len());
            let mut currencies = Vec::with_capacity(pending_rows.len());
            let mut expiries = Vec::with_capacity(pending_rows.len());
            let mut emails = Vec::with_capacity(pending_rows.len());
            let mut names = Vec::with_capacity(pending_rows.len());
            let mut phones = Vec::with_capacity(pending_rows.len());
            let mut requests = Vec::with_capacity(pending_rows.len());
            let mut token_hashes = Vec::with_capacity(pending_rows.len());
            let mut keys = Vec::with_capacity(pending_rows.len());
            let mut created = Vec::with_capacity(pending_rows.len());
            for &r in &pending_rows {
                let (row, k) = &rows[r];
                ids.push(row.id);
                references.push(row.reference.clone());
                users.push(row.user_id);
                events.push(row.event_id);
                types.push(row.ticket_type_id);
                quantities.push(row.quantity);
                prices.push(row.unit_price);
                totals.push(row.total_amount);
                currencies.push(row.currency.clone());
                expiries.push(row.expires_at);
                emails.push(row.customer_email.clone());
                names.push(row.customer_name.clone());
                phones.push(row.customer_phone.clone());
                requests.push(row.special_requests.clone());
                token_hashes.push(row.guest_token_hash.clone());
                keys.push(accepted[*k].1.idempotency_key.clone());
                created.push(row.created_at);
            }
            sqlx::query_scalar::<_, Uuid>(
                "INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price,
                     total_amount, currency, status, expires_at, customer_email, customer_name, customer_phone,
                     special_requests, guest_token_hash, idempotency_key, created_at, updated_at)
                 SELECT id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                     currency, 'PENDING', expires_at, customer_email, customer_name, customer_phone,
                     special_requests, guest_token_hash, idempotency_key, created_at, created_at
                 FROM unnest(CAST($1 AS uuid[]), CAST($2 AS text[]), CAST($3 AS uuid[]), CAST($4 AS uuid[]),
                     CAST($5 AS uuid[]), CAST($6 AS bigint[]), CAST($7 AS bigint[]), CAST($8 AS bigint[]),
                     CAST($9 AS text[]), CAST($10 AS timestamptz[]), CAST($11 AS text[]), CAST($12 AS text[]),
                     CAST($13 AS text[]), CAST($14 AS text[]), CAST($15 AS text[]), CAST($16 AS text[]),
                     CAST($17 AS timestamptz[]))
                     AS r(id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                     currency, expires_at, customer_email, customer_name, customer_phone, special_requests,
                     guest_token_hash, idempotency_key, created_at)
                 ON CONFLICT (reference) DO NOTHING RETURNING id",
            )
            .bind(PgArray(ids))
            .bind(PgArray(references))
            .bind(PgArray(users))
            .bind(PgArray(events))
            .bind(PgArray(types))
            .bind(PgArray(quantities))
            .bind(PgArray(prices))
            .bind(PgArray(totals))
            .bind(PgArray(currencies))
            .bind(PgArray(expiries))
            .bind(PgArray(emails))
            .bind(PgArray(names))
            .bind(PgArray(phones))
            .bind(PgArray(requests))
            .bind(PgArray(token_hashes))
            .bind(PgArray(keys))
            .bind(PgArray(created))
        } else {
            let mut sql = String::from(
            "INSERT INTO bookings (id, reference, user_id, event_id, ticket_type_id, quantity, unit_price, total_amount,
                 currency, status, expires_at, customer_email, customer_name, customer_phone, special_requests,
                 guest_token_hash, idempotency_key, created_at, updated_at) VALUES ",
        );
            // Anonymous `?` parameters, bound in the order they appear: SQLite looks a numbered
            // parameter's name up in a list, so binding n of them costs n² (measured: 17% of the
            // hold benchmark's CPU with 64 rows of `$N`).
            let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            for n in 0..pending_rows.len() {
                if n > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(row);
            }
            sql.push_str(" ON CONFLICT (reference) DO NOTHING RETURNING id");
            let mut q = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql));
            for &r in &pending_rows {
                let (row, k) = &rows[r];
                q = q
                    .bind(row.id)
                    .bind(row.reference.clone())
                    .bind(row.user_id)
                    .bind(row.event_id)
                    .bind(row.ticket_type_id)
                    .bind(row.quantity)
                    .bind(row.unit_price)
                    .bind(row.total_amount)
                    .bind(row.currency.clone())
                    .bind(row.expires_at)
                    .bind(row.customer_email.clone())
                    .bind(row.customer_name.clone())
                    .bind(row.customer_phone.clone())
                    .bind(row.special_requests.clone())
                    .bind(row.guest_token_hash.clone())
                    .bind(accepted[*k].1.idempotency_key.clone())
                    .bind(row.created_at)
                    .bind(row.updated_at);
            }
            q
        };
        let inserted: std::collections::HashSet<Uuid> =
            q.fetch_all(&mut **tx).await?.into_iter().collect();
        pending_rows.retain(|&r| !inserted.contains(&rows[r].0.id));
        for &r in &pending_rows {
            rows[r].0.reference = crate::bookings::codes::new_reference();
        }
    }
    // The `booking_pending` messages, in one statement.
    let messages: Vec<NewMessage> = rows
        .iter()
        .map(|(row, k)| {
            let req = accepted[*k].1;
            // The checkout page; a guest's link carries the guest token.
            let mut pay_url = format!("{}/checkout/{}", links.public_base, row.id);
            if let Some(token) = &req.guest_token {
                pay_url.push_str("?token=");
                pay_url.push_str(token);
            }
            let payload = json!({
                "customerName": greeted(row.user_id, &row.customer_name),
                "eventTitle": row.event_title,
                "reference": row.reference,
                "quantity": row.quantity,
                "totalAmount": row.total_amount,
                "currency": row.currency,
                "expiresAt": row.expires_at,
                "payUrl": pay_url,
            });
            NewMessage::email(row.customer_email.clone(), "booking_pending", payload)
        })
        .collect();
    match handover.lease {
        Some(lease) => {
            let written = notify::insert_claimed_messages(tx, &messages, lease).await?;
            handover.written.extend(written);
        }
        None => notify::insert_messages(tx, &messages).await?,
    }
    Ok(rows
        .into_iter()
        .map(|(row, k)| (accepted[k].0, row))
        .collect())
}

/// The PENDING booking [`insert_pending`] writes for a request, as a read of it returns it.
fn pending_row(id: Uuid, reference: String, req: &NewHold, locked: &LockedType) -> BookingRow {
    let (event, ty) = (&locked.event, &locked.ty);
    BookingRow {
        id,
        reference,
        user_id: req.user_id,
        event_id: event.id,
        ticket_type_id: ty.id,
        quantity: req.quantity,
        unit_price: ty.price,
        total_amount: ty.price * req.quantity,
        currency: event.currency.clone(),
        status: BookingStatus::Pending,
        expires_at: Some(req.now + req.hold),
        customer_email: req.customer_email.clone(),
        customer_name: req.customer_name.clone(),
        customer_phone: req.customer_phone.clone(),
        special_requests: req.special_requests.clone(),
        guest_token_hash: req.guest_token_hash.clone(),
        refund_due: None,
        refund_amount: None,
        confirmed_at: None,
        cancelled_at: None,
        cancellation_reason: None,
        created_at: req.now,
        updated_at: req.now,
        event_title: event.title.clone(),
        ticket_type_name: ty.name.clone(),
        event_starts_at: event.starts_at,
        organizer_id: event.organizer_id,
    }
}

/// Who the holding limit counts: the account, or the guest's email.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Buyer {
    User(Uuid),
    Guest(String),
}

pub(super) fn buyer_of(req: &NewHold) -> Buyer {
    match req.user_id {
        Some(u) => Buyer::User(u),
        None => Buyer::Guest(req.customer_email.clone()),
    }
}
