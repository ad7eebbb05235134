-- Catalogue read path (PostgreSQL dialect; SQLite twin has the same version).
-- The live counts of every list and detail answer subtract the seats of expired PENDING holds
-- per ticket type and per capped event. These indexes carry `quantity`, so those sums are read
-- from the index alone; they replace their prefixes (same leading columns), so every query that
-- used the old ones can use the new ones.
CREATE INDEX bookings_type_pending_held ON bookings (ticket_type_id, status, expires_at, quantity);
DROP INDEX bookings_type_pending;
CREATE INDEX bookings_event_status_held ON bookings (event_id, status, expires_at, quantity);
DROP INDEX bookings_event;
-- A prefix of events_status_starts_at_id (migration 0006): one index fewer to keep up on writes
-- and to weigh in the planner.
DROP INDEX events_status_starts_at;
