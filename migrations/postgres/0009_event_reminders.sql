-- Event reminders (PostgreSQL dialect; SQLite twin has the same version). A CONFIRMED booking
-- gets one reminder 24 h before its event starts; `reminded_at` records that it was sent (written
-- in the transaction that writes the outbox messages, so never twice).
ALTER TABLE bookings ADD COLUMN reminded_at TIMESTAMPTZ;
CREATE INDEX bookings_unreminded ON bookings (event_id) WHERE status = 'CONFIRMED' AND reminded_at IS NULL;
