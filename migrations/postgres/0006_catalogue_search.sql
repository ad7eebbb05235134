-- Catalogue search and listing indexes (PostgreSQL dialect; SQLite twin has the same version).
-- Full-text search uses a GIN index on a tsvector expression with the `simple` configuration
-- (no stemming, no stop words: event titles are names, and every language is welcome). Queries
-- must repeat the exact expression for the planner to use the index.

CREATE INDEX events_search ON events USING GIN (
    to_tsvector('simple', title || ' ' || description || ' ' || coalesce(venue, '') || ' ' || location)
);

-- One index per filter and sort of the public list. Status leads (every public query has it);
-- sorted lists end with `id` as the tie-breaker, so the planner can walk an index in order and
-- stop after the page instead of sorting every match. The trailing ends_at/min_price columns let
-- the page counts (meta.total) be answered from the index alone.
CREATE INDEX events_status_starts_at_id ON events (status, starts_at, id, ends_at);
CREATE INDEX events_status_created_at_id ON events (status, created_at, id);
CREATE INDEX events_status_min_price_id ON events (status, min_price, id);
CREATE INDEX events_status_category ON events (status, lower(category), starts_at, id, ends_at, min_price);
CREATE INDEX events_status_ends_at ON events (status, ends_at);
CREATE INDEX events_organizer_starts_at ON events (organizer_id, starts_at, id);
CREATE INDEX events_status_location ON events (status, lower(location));
CREATE INDEX event_favorites_user ON event_favorites (user_id, created_at);
