-- Dashboard counters (issue 15). Stats over a long window read whole UTC days from per-event
-- daily totals instead of every booking of the window, and unique and repeat customers of a
-- window ending now from each customer's two latest orders. Triggers keep both in the
-- transaction that changes a booking, whatever path changes it, so they can never drift from
-- the rows. They are deferred to the commit: a counter row is shared by every booking of an
-- event and day, so its lock is taken last in every transaction, after the booking, ticket-type
-- and event rows that each path locks in its own order (never a deadlock against them).

-- What the bookings created on `day` for `event_id` in `currency` add up to, as the dashboard
-- defines its figures: an order is a booking with a confirmation time, its net money is its
-- total minus what was refunded, tickets are the seats of bookings still CONFIRMED.
CREATE TABLE booking_days (
    event_id          UUID NOT NULL,
    day               DATE NOT NULL,
    currency          TEXT NOT NULL,
    created           BIGINT NOT NULL DEFAULT 0,
    orders            BIGINT NOT NULL DEFAULT 0,
    tickets           BIGINT NOT NULL DEFAULT 0,
    revenue           BIGINT NOT NULL DEFAULT 0,
    refunded_bookings BIGINT NOT NULL DEFAULT 0,
    refunded          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, day, currency)
);

-- Per scope (an organizer's id, or the nil UUID for the platform) and customer (an account, or
-- a guest's email in lower case), the creation times of their two latest orders.
CREATE TABLE customer_orders (
    scope_id UUID NOT NULL,
    customer TEXT NOT NULL,
    last_at  TIMESTAMPTZ NOT NULL,
    prev_at  TIMESTAMPTZ,
    PRIMARY KEY (scope_id, customer)
);
CREATE INDEX customer_orders_last ON customer_orders (scope_id, last_at);
CREATE INDEX customer_orders_prev ON customer_orders (scope_id, prev_at) WHERE prev_at IS NOT NULL;

-- Adds `sign` times a booking's share to its day's counters.
CREATE FUNCTION booking_days_add(b bookings, sign BIGINT) RETURNS void LANGUAGE sql AS $$
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
        refunded = d.refunded + excluded.refunded
$$;

-- A booking that became an order: its creation time joins its customer's two latest, in the
-- organizer's scope and the platform's (in that order, the same in every transaction).
CREATE FUNCTION customer_orders_add(b bookings) RETURNS void LANGUAGE sql AS $$
    INSERT INTO customer_orders AS c (scope_id, customer, last_at, prev_at)
    SELECT s.scope_id, COALESCE('u:' || b.user_id::text, 'g:' || lower(b.customer_email)), b.created_at, NULL
    FROM (SELECT organizer_id AS scope_id, 0 AS k FROM events WHERE id = b.event_id
          UNION ALL SELECT '00000000-0000-0000-0000-000000000000'::uuid, 1) s
    ORDER BY s.k
    ON CONFLICT (scope_id, customer) DO UPDATE SET
        prev_at = CASE WHEN excluded.last_at > c.last_at THEN c.last_at
                       WHEN c.prev_at IS NULL OR excluded.last_at > c.prev_at THEN excluded.last_at
                       ELSE c.prev_at END,
        last_at = GREATEST(c.last_at, excluded.last_at)
$$;

CREATE FUNCTION bookings_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM booking_days_add(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM booking_days_add(NEW, 1);
    END IF;
    -- A confirmation time is never taken back: a booking becomes an order once.
    IF TG_OP <> 'DELETE' AND NEW.confirmed_at IS NOT NULL
       AND (TG_OP = 'INSERT' OR OLD.confirmed_at IS NULL) THEN
        PERFORM customer_orders_add(NEW);
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER bookings_counters_insert AFTER INSERT ON bookings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bookings_counters();
CREATE CONSTRAINT TRIGGER bookings_counters_update AFTER UPDATE OF event_id, created_at, currency,
    status, quantity, total_amount, refund_amount, confirmed_at ON bookings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    -- Only a change the figures can see: a hold that expires or is cancelled unpaid changes none.
    WHEN (OLD.event_id IS DISTINCT FROM NEW.event_id OR OLD.created_at IS DISTINCT FROM NEW.created_at
          OR OLD.currency IS DISTINCT FROM NEW.currency
          OR (OLD.status = 'CONFIRMED') <> (NEW.status = 'CONFIRMED')
          OR (OLD.confirmed_at IS NULL) <> (NEW.confirmed_at IS NULL)
          OR OLD.quantity IS DISTINCT FROM NEW.quantity OR OLD.total_amount IS DISTINCT FROM NEW.total_amount
          OR OLD.refund_amount IS DISTINCT FROM NEW.refund_amount)
    EXECUTE FUNCTION bookings_counters();
CREATE CONSTRAINT TRIGGER bookings_counters_delete AFTER DELETE ON bookings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bookings_counters();

-- What is already there.
INSERT INTO booking_days (event_id, day, currency, created, orders, tickets, revenue, refunded_bookings, refunded)
SELECT event_id, (created_at AT TIME ZONE 'UTC')::date, currency, COUNT(*), COUNT(confirmed_at),
       COALESCE(SUM(CASE WHEN status = 'CONFIRMED' THEN quantity ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN confirmed_at IS NOT NULL THEN total_amount - COALESCE(refund_amount, 0) ELSE 0 END), 0),
       COUNT(CASE WHEN refund_amount > 0 THEN 1 END),
       COALESCE(SUM(refund_amount), 0)
FROM bookings GROUP BY 1, 2, 3;

INSERT INTO customer_orders (scope_id, customer, last_at, prev_at)
SELECT scope_id, customer, MAX(CASE WHEN n = 1 THEN created_at END), MAX(CASE WHEN n = 2 THEN created_at END)
FROM (
    SELECT scope_id, customer, created_at,
           ROW_NUMBER() OVER (PARTITION BY scope_id, customer ORDER BY created_at DESC) AS n
    FROM (
        SELECT e.organizer_id AS scope_id, COALESCE('u:' || b.user_id::text, 'g:' || lower(b.customer_email)) AS customer, b.created_at
        FROM bookings b JOIN events e ON e.id = b.event_id WHERE b.confirmed_at IS NOT NULL
        UNION ALL
        SELECT '00000000-0000-0000-0000-000000000000'::uuid, COALESCE('u:' || b.user_id::text, 'g:' || lower(b.customer_email)), b.created_at
        FROM bookings b WHERE b.confirmed_at IS NOT NULL
    ) o
) r
WHERE n <= 2 GROUP BY scope_id, customer;
