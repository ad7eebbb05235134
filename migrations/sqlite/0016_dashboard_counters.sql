-- Dashboard counters (issue 15). Stats over a long window read whole UTC days from per-event
-- daily totals instead of every booking of the window, and unique and repeat customers of a
-- window ending now from each customer's two latest orders. Triggers keep both in the statement
-- that changes a booking, whatever path changes it, so they can never drift from the rows.

-- What the bookings created on `day` for `event_id` in `currency` add up to, as the dashboard
-- defines its figures: an order is a booking with a confirmation time, its net money is its
-- total minus what was refunded, tickets are the seats of bookings still CONFIRMED.
CREATE TABLE booking_days (
    event_id          BLOB NOT NULL,
    day               TEXT NOT NULL,
    currency          TEXT NOT NULL,
    created           INTEGER NOT NULL DEFAULT 0,
    orders            INTEGER NOT NULL DEFAULT 0,
    tickets           INTEGER NOT NULL DEFAULT 0,
    revenue           INTEGER NOT NULL DEFAULT 0,
    refunded_bookings INTEGER NOT NULL DEFAULT 0,
    refunded          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, day, currency)
) WITHOUT ROWID;

-- Per scope (an organizer's id, or sixteen zero bytes for the platform) and customer (an
-- account, or a guest's email in lower case), the creation times of their two latest orders.
CREATE TABLE customer_orders (
    scope_id BLOB NOT NULL,
    customer TEXT NOT NULL,
    last_at  TEXT NOT NULL,
    prev_at  TEXT,
    PRIMARY KEY (scope_id, customer)
) WITHOUT ROWID;
CREATE INDEX customer_orders_last ON customer_orders (scope_id, last_at);
CREATE INDEX customer_orders_prev ON customer_orders (scope_id, prev_at) WHERE prev_at IS NOT NULL;

CREATE TRIGGER booking_days_insert AFTER INSERT ON bookings BEGIN
    INSERT INTO booking_days (event_id, day, currency, created, orders, tickets, revenue, refunded_bookings, refunded)
    VALUES (NEW.event_id, substr(NEW.created_at, 1, 10), NEW.currency, 1,
            NEW.confirmed_at IS NOT NULL,
            CASE WHEN NEW.status = 'CONFIRMED' THEN NEW.quantity ELSE 0 END,
            CASE WHEN NEW.confirmed_at IS NOT NULL THEN NEW.total_amount - COALESCE(NEW.refund_amount, 0) ELSE 0 END,
            COALESCE(NEW.refund_amount, 0) > 0,
            COALESCE(NEW.refund_amount, 0))
    ON CONFLICT (event_id, day, currency) DO UPDATE SET
        created = created + excluded.created, orders = orders + excluded.orders,
        tickets = tickets + excluded.tickets, revenue = revenue + excluded.revenue,
        refunded_bookings = refunded_bookings + excluded.refunded_bookings,
        refunded = refunded + excluded.refunded;
END;

CREATE TRIGGER booking_days_update AFTER UPDATE OF event_id, created_at, currency, status, quantity,
    total_amount, refund_amount, confirmed_at ON bookings
-- Only a change the figures can see: a hold that expires or is cancelled unpaid changes none.
WHEN OLD.event_id IS NOT NEW.event_id OR OLD.created_at IS NOT NEW.created_at
    OR OLD.currency IS NOT NEW.currency
    OR (OLD.status = 'CONFIRMED') <> (NEW.status = 'CONFIRMED')
    OR (OLD.confirmed_at IS NULL) <> (NEW.confirmed_at IS NULL)
    OR OLD.quantity IS NOT NEW.quantity OR OLD.total_amount IS NOT NEW.total_amount
    OR OLD.refund_amount IS NOT NEW.refund_amount
BEGIN
    INSERT INTO booking_days (event_id, day, currency, created, orders, tickets, revenue, refunded_bookings, refunded)
    VALUES (OLD.event_id, substr(OLD.created_at, 1, 10), OLD.currency, -1,
            -(OLD.confirmed_at IS NOT NULL),
            -(CASE WHEN OLD.status = 'CONFIRMED' THEN OLD.quantity ELSE 0 END),
            -(CASE WHEN OLD.confirmed_at IS NOT NULL THEN OLD.total_amount - COALESCE(OLD.refund_amount, 0) ELSE 0 END),
            -(COALESCE(OLD.refund_amount, 0) > 0),
            -COALESCE(OLD.refund_amount, 0))
    ON CONFLICT (event_id, day, currency) DO UPDATE SET
        created = created + excluded.created, orders = orders + excluded.orders,
        tickets = tickets + excluded.tickets, revenue = revenue + excluded.revenue,
        refunded_bookings = refunded_bookings + excluded.refunded_bookings,
        refunded = refunded + excluded.refunded;
    INSERT INTO booking_days (event_id, day, currency, created, orders, tickets, revenue, refunded_bookings, refunded)
    VALUES (NEW.event_id, substr(NEW.created_at, 1, 10), NEW.currency, 1,
            NEW.confirmed_at IS NOT NULL,
            CASE WHEN NEW.status = 'CONFIRMED' THEN NEW.quantity ELSE 0 END,
            CASE WHEN NEW.confirmed_at IS NOT NULL THEN NEW.total_amount - COALESCE(NEW.refund_amount, 0) ELSE 0 END,
            COALESCE(NEW.refund_amount, 0) > 0,
            COALESCE(NEW.refund_amount, 0))
    ON CONFLICT (event_id, day, currency) DO UPDATE SET
        created = created + excluded.created, orders = orders + excluded.orders,
        tickets = tickets + excluded.tickets, revenue = revenue + excluded.revenue,
        refunded_bookings = refunded_bookings + excluded.refunded_bookings,
        refunded = refunded + excluded.refunded;
END;

CREATE TRIGGER booking_days_delete AFTER DELETE ON bookings BEGIN
    UPDATE booking_days SET
        created = created - 1,
        orders = orders - (OLD.confirmed_at IS NOT NULL),
        tickets = tickets - (CASE WHEN OLD.status = 'CONFIRMED' THEN OLD.quantity ELSE 0 END),
        revenue = revenue - (CASE WHEN OLD.confirmed_at IS NOT NULL THEN OLD.total_amount - COALESCE(OLD.refund_amount, 0) ELSE 0 END),
        refunded_bookings = refunded_bookings - (COALESCE(OLD.refund_amount, 0) > 0),
        refunded = refunded - COALESCE(OLD.refund_amount, 0)
    WHERE event_id = OLD.event_id AND day = substr(OLD.created_at, 1, 10) AND currency = OLD.currency;
END;

-- A booking becomes an order once (its confirmation time is never taken back): its creation
-- time joins its customer's two latest, in the organizer's scope and the platform's.
CREATE TRIGGER customer_orders_confirm AFTER UPDATE OF confirmed_at ON bookings
WHEN OLD.confirmed_at IS NULL AND NEW.confirmed_at IS NOT NULL
BEGIN
    INSERT INTO customer_orders (scope_id, customer, last_at, prev_at)
    SELECT s.scope_id, COALESCE('u:' || lower(hex(NEW.user_id)), 'g:' || lower(NEW.customer_email)), NEW.created_at, NULL
    FROM (SELECT organizer_id AS scope_id FROM events WHERE id = NEW.event_id
          UNION ALL SELECT zeroblob(16)) s WHERE true
    ON CONFLICT (scope_id, customer) DO UPDATE SET
        prev_at = CASE WHEN excluded.last_at > last_at THEN last_at
                       WHEN prev_at IS NULL OR excluded.last_at > prev_at THEN excluded.last_at
                       ELSE prev_at END,
        last_at = max(last_at, excluded.last_at);
END;

CREATE TRIGGER customer_orders_insert AFTER INSERT ON bookings
WHEN NEW.confirmed_at IS NOT NULL
BEGIN
    INSERT INTO customer_orders (scope_id, customer, last_at, prev_at)
    SELECT s.scope_id, COALESCE('u:' || lower(hex(NEW.user_id)), 'g:' || lower(NEW.customer_email)), NEW.created_at, NULL
    FROM (SELECT organizer_id AS scope_id FROM events WHERE id = NEW.event_id
          UNION ALL SELECT zeroblob(16)) s WHERE true
    ON CONFLICT (scope_id, customer) DO UPDATE SET
        prev_at = CASE WHEN excluded.last_at > last_at THEN last_at
                       WHEN prev_at IS NULL OR excluded.last_at > prev_at THEN excluded.last_at
                       ELSE prev_at END,
        last_at = max(last_at, excluded.last_at);
END;

-- What is already there.
INSERT INTO booking_days (event_id, day, currency, created, orders, tickets, revenue, refunded_bookings, refunded)
SELECT event_id, substr(created_at, 1, 10), currency, COUNT(*), COUNT(confirmed_at),
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
        SELECT e.organizer_id AS scope_id, COALESCE('u:' || lower(hex(b.user_id)), 'g:' || lower(b.customer_email)) AS customer, b.created_at
        FROM bookings b JOIN events e ON e.id = b.event_id WHERE b.confirmed_at IS NOT NULL
        UNION ALL
        SELECT zeroblob(16), COALESCE('u:' || lower(hex(b.user_id)), 'g:' || lower(b.customer_email)), b.created_at
        FROM bookings b WHERE b.confirmed_at IS NOT NULL
    )
)
WHERE n <= 2 GROUP BY scope_id, customer;
