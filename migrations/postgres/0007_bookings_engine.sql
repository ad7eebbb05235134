-- Bookings engine (PostgreSQL dialect; SQLite twin has the same version): an index for the
-- holding-limit check of signed-in buyers (seats a user holds of a type in PENDING bookings).
CREATE INDEX bookings_user_type ON bookings (user_id, ticket_type_id, status);
