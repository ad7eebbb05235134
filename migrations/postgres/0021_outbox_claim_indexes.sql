-- The outbox workers' claim reads these: the due messages in order, and the claims whose lease
-- ran out. Each message passes PENDING → PROCESSING → SENT, and every step leaves a dead entry in
-- an index on `status` until a vacuum; the claim read them through `outbox_due` with a bitmap
-- scan, which never marks dead entries, so every claim re-read all of them (2.9 ms a claim after
-- 10 s of holds, 0.5 of the database's 1.2 cores). An ordered scan of these partial indexes
-- marks what it finds dead, and the lapsed branch's range skips live leases altogether.
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX outbox_leased ON outbox (locked_until) WHERE status = 'PROCESSING';
