-- Dashboard (issue 15). Figures over a window of booking creation times read one covering index
-- (an index-only scan): by event for an organizer's events, by creation time for the platform;
-- it replaces the plain creation-time index. The live feed reads what changed since its cursor
-- (bookings and payments by updated_at, tickets by check-in time). Single-use tickets of the
-- dashboard's Server-Sent Events are stored by digest so that any instance accepts them.
CREATE INDEX bookings_dashboard ON bookings (event_id, created_at)
    INCLUDE (currency, status, quantity, total_amount, refund_amount, confirmed_at, user_id, customer_email);
DROP INDEX bookings_created_at;
CREATE INDEX bookings_created_at ON bookings (created_at)
    INCLUDE (currency, status, quantity, total_amount, refund_amount, confirmed_at, user_id, customer_email);
CREATE INDEX bookings_updated_at ON bookings (updated_at);
CREATE INDEX payments_updated_at ON payments (updated_at);
CREATE INDEX tickets_checked_in_at ON tickets (checked_in_at) WHERE checked_in_at IS NOT NULL;

CREATE TABLE dashboard_tickets (
    token_hash      TEXT PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      UUID NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX dashboard_tickets_expires_at ON dashboard_tickets (expires_at);
