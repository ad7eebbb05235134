-- The Idempotency-Key (hashed with its scope) a booking was created under, written in the hold's
-- own transaction, so a retry finds the booking for as long as it exists, whatever became of the
-- request that created it or of the key's stored answer (API.md §11.99).
ALTER TABLE bookings ADD COLUMN idempotency_key TEXT;
CREATE INDEX bookings_idempotency_key ON bookings (idempotency_key) WHERE idempotency_key IS NOT NULL;
