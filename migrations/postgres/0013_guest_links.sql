-- Fresh guest tokens sent in later emails about a guest booking (confirmation, refund), each
-- stored only as its hash like the booking's first token, and worth the same: access to that one
-- booking until the event's start + 30 days (API.md §11.58).
CREATE TABLE guest_links (
    token_hash          TEXT PRIMARY KEY NOT NULL,
    booking_id          UUID NOT NULL REFERENCES bookings (id),
    created_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX guest_links_booking ON guest_links (booking_id);
