-- The upcoming list's page and its total count are read from this index alone: it carries
-- every column they filter and sort on, the price included (before, a price filter read each
-- matching event's row, twice: once for the page, once for the count). It replaces its prefix.
CREATE INDEX events_status_starts_at_price ON events (status, starts_at, id, ends_at, min_price);
DROP INDEX events_status_starts_at_id;
