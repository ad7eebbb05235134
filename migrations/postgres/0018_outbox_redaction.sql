-- The messages whose payload is still kept (unfinished ones, and finished ones until they are an
-- hour old), by age: the hourly redaction reads only these, not every message ever sent.
CREATE INDEX outbox_unredacted ON outbox (created_at) WHERE payload <> '{}';
