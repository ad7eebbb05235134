-- The dashboard counters' helpers (migration 0016) as PL/pgSQL, unchanged in what they do.
-- PostgreSQL 15 parses and plans a SQL function that it cannot inline again on every call, and
-- the row triggers call these once per booking: in a hold batch of 64 that was 64 plannings of
-- the same upsert, ~0.1 ms each (pg_stat_statements: 3.1 s of 11.6 s of the database's time in
-- a 10 s hold benchmark). PL/pgSQL keeps the statement's plan for the session.
CREATE OR REPLACE FUNCTION booking_days_add(b bookings, sign BIGINT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO booking_days AS d (event_id, day, currency, created, orders, tickets, revenue, refunded_bookings, refunded)
    VALUES (b.event_id, (b.created_at AT TIME ZONE 'UTC')::date, b.currency, sign,
            sign * (CASE WHEN b.confirmed_at IS NOT NULL THEN 1 ELSE 0 END),
            sign * (CASE WHEN b.status = 'CONFIRMED' THEN b.quantity ELSE 0 END),
            sign * (CASE WHEN b.confirmed_at IS NOT NULL THEN b.total_amount - COALESCE(b.refund_amount, 0) ELSE 0 END),
            sign * (CASE WHEN COALESCE(b.refund_amount, 0) > 0 THEN 1 ELSE 0 END),
            sign * COALESCE(b.refund_amount, 0))
    ON CONFLICT (event_id, day, currency) DO UPDATE SET
        created = d.created + excluded.created, orders = d.orders + excluded.orders,
        tickets = d.tickets + excluded.tickets, revenue = d.revenue + excluded.revenue,
        refunded_bookings = d.refunded_bookings + excluded.refunded_bookings,
        refunded = d.refunded + excluded.refunded;
END
$$;

CREATE OR REPLACE FUNCTION customer_orders_add(b bookings) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO customer_orders AS c (scope_id, customer, last_at, prev_at)
    SELECT s.scope_id, COALESCE('u:' || b.user_id::text, 'g:' || lower(b.customer_email)), b.created_at, NULL
    FROM (SELECT organizer_id AS scope_id, 0 AS k FROM events WHERE id = b.event_id
          UNION ALL SELECT '00000000-0000-0000-0000-000000000000'::uuid, 1) s
    ORDER BY s.k
    ON CONFLICT (scope_id, customer) DO UPDATE SET
        prev_at = CASE WHEN excluded.last_at > c.last_at THEN c.last_at
                       WHEN c.prev_at IS NULL OR excluded.last_at > c.prev_at THEN excluded.last_at
                       ELSE c.prev_at END,
        last_at = GREATEST(c.last_at, excluded.last_at);
END
$$;

-- New bookings are counted by one trigger per statement over the rows it inserted, one upsert
-- per event, day and currency: a hold batch inserts up to 64 bookings of one event in one
-- statement, and a trigger per row updated the same counter row 64 times (a new row version
-- each, every later update walking the chain), 18 µs a booking inside the batch that holds the
-- hot ticket type's lock. It runs at the end of the INSERT instead of at the commit: every path
-- that inserts bookings has locked its ticket types and events before, and takes no lock on a
-- shared row after it, so the counter rows are still the last shared rows it locks. Updates
-- and deletes keep their deferred row triggers.
CREATE FUNCTION bookings_counters_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO booking_days AS d (event_id, day, currency, created, orders, tickets, revenue, refunded_bookings, refunded)
    SELECT event_id, (created_at AT TIME ZONE 'UTC')::date, currency, COUNT(*), COUNT(confirmed_at),
           COALESCE(SUM(CASE WHEN status = 'CONFIRMED' THEN quantity ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN confirmed_at IS NOT NULL THEN total_amount - COALESCE(refund_amount, 0) ELSE 0 END), 0),
           COUNT(CASE WHEN refund_amount > 0 THEN 1 END),
           COALESCE(SUM(refund_amount), 0)
    FROM inserted GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (event_id, day, currency) DO UPDATE SET
        created = d.created + excluded.created, orders = d.orders + excluded.orders,
        tickets = d.tickets + excluded.tickets, revenue = d.revenue + excluded.revenue,
        refunded_bookings = d.refunded_bookings + excluded.refunded_bookings,
        refunded = d.refunded + excluded.refunded;
    -- Bookings inserted as orders already (free tickets), in one order in every transaction.
    PERFORM customer_orders_add(b) FROM (SELECT * FROM inserted WHERE confirmed_at IS NOT NULL ORDER BY id) b;
    RETURN NULL;
END
$$;

DROP TRIGGER bookings_counters_insert ON bookings;
CREATE TRIGGER bookings_counters_insert AFTER INSERT ON bookings
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION bookings_counters_inserted();
