-- Payments (API.md §5): one row per attempt to pay a booking through a gateway. At most one
-- PENDING payment per booking (§11.56). refunded_amount is what refunds have returned so far;
-- the refunds table holds each request, and their sum never exceeds the amount.
CREATE TABLE payments (
    id                  BLOB PRIMARY KEY NOT NULL,
    reference           TEXT NOT NULL UNIQUE,
    booking_id          BLOB NOT NULL REFERENCES bookings (id),
    user_id             BLOB REFERENCES users (id),
    gateway             TEXT NOT NULL,
    amount              BIGINT NOT NULL CHECK (amount >= 0),
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED', 'ABANDONED', 'REFUNDED', 'PARTIALLY_REFUNDED')),
    refunded_amount     BIGINT NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
    gateway_reference   TEXT,
    authorization_url   TEXT,
    callback_url        TEXT,
    paid_at             TEXT,
    failure_reason      TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX payments_one_pending ON payments (booking_id) WHERE status = 'PENDING';
CREATE INDEX payments_booking ON payments (booking_id);
CREATE INDEX payments_user ON payments (user_id, created_at);
CREATE INDEX payments_status ON payments (status, created_at);

-- Each refund asked of a gateway (or recorded for an offline payment).
CREATE TABLE refunds (
    id                  BLOB PRIMARY KEY NOT NULL,
    payment_id          BLOB NOT NULL REFERENCES payments (id),
    amount              BIGINT NOT NULL CHECK (amount > 0),
    status              TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED')),
    reason              TEXT,
    gateway_reference   TEXT,
    requested_by        BLOB,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_status ON refunds (status, created_at);

-- Webhook deliveries by the gateway's own event identity (§11.69): a repeat changes nothing.
CREATE TABLE webhook_events (
    gateway             TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    reference           TEXT,
    received_at         TEXT NOT NULL,
    PRIMARY KEY (gateway, event_id)
);
