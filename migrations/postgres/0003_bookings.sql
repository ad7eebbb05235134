-- Bookings (holds and orders), tickets and idempotency keys (PostgreSQL dialect; SQLite twin has
-- the same version). A PENDING booking holds `quantity` seats of its ticket type until
-- `expires_at`; its seats are counted in ticket_types.held until it is confirmed, cancelled or
-- expired. Readers treat a PENDING booking past expires_at as EXPIRED even before the sweeper
-- rewrites it.

CREATE TABLE bookings (
    id                  UUID PRIMARY KEY,
    reference           TEXT NOT NULL UNIQUE,
    user_id             UUID REFERENCES users (id),
    event_id            UUID NOT NULL REFERENCES events (id),
    ticket_type_id      UUID NOT NULL REFERENCES ticket_types (id),
    quantity            BIGINT NOT NULL CHECK (quantity >= 1),
    unit_price          BIGINT NOT NULL CHECK (unit_price >= 0),
    total_amount        BIGINT NOT NULL CHECK (total_amount >= 0),
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED', 'REFUNDED')),
    expires_at          TIMESTAMPTZ,
    customer_email      TEXT NOT NULL,
    customer_name       TEXT NOT NULL,
    customer_phone      TEXT,
    special_requests    TEXT,
    guest_token_hash    TEXT,
    refund_due          BIGINT,
    refund_amount       BIGINT,
    hold_extended       BOOLEAN NOT NULL DEFAULT FALSE,
    confirmed_at        TIMESTAMPTZ,
    cancelled_at        TIMESTAMPTZ,
    cancellation_reason TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX bookings_type_pending ON bookings (ticket_type_id, status, expires_at);
CREATE INDEX bookings_pending_expiry ON bookings (status, expires_at);
CREATE INDEX bookings_user ON bookings (user_id, created_at);
CREATE INDEX bookings_event ON bookings (event_id, status);
CREATE INDEX bookings_customer ON bookings (customer_email, ticket_type_id, status);
CREATE INDEX bookings_created_at ON bookings (created_at);

CREATE TABLE tickets (
    id              UUID PRIMARY KEY,
    booking_id      UUID NOT NULL REFERENCES bookings (id),
    code            TEXT NOT NULL UNIQUE,
    seat            INTEGER NOT NULL,
    checked_in_at   TIMESTAMPTZ,
    checked_in_by   UUID,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX tickets_booking ON tickets (booking_id, seat);

CREATE TABLE idempotency_keys (
    scope           TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status_code     INTEGER,
    response        TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
