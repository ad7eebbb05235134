-- Login attempts whose password check is running (API.md §11.94): counted with the recent
-- failures before the check, so parallel guesses cannot exceed the lock threshold. A row is
-- deleted when its check ends; a row older than a minute (its process died) no longer counts.
CREATE TABLE login_attempts (
    id          BLOB PRIMARY KEY NOT NULL,
    subject     TEXT NOT NULL,
    started_at  TEXT NOT NULL
);
CREATE INDEX login_attempts_subject ON login_attempts (subject, started_at);

-- maxPerOrder is 1–1,000 (API.md §11.91): an order's tickets are issued in one transaction.
UPDATE ticket_types SET max_per_order = 1000 WHERE max_per_order > 1000;

-- The client network of each guest booking, for the cap on live guest holds per IP and event
-- (API.md §11.93). Kept apart from bookings so the hot insert stays as it is.
CREATE TABLE guest_holds (
    booking_id  BLOB PRIMARY KEY NOT NULL REFERENCES bookings (id),
    event_id    BLOB NOT NULL,
    client_ip   TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX guest_holds_event_ip ON guest_holds (event_id, client_ip);
