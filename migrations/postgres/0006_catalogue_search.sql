-- Catalogue search and listing indexes (PostgreSQL dialect; SQLite twin has the same version).
-- Full-text search uses a GIN index on a tsvector expression with the `simple` configuration
-- (no stemming, no stop words: event titles are names, and every language is welcome). Queries
-- must repeat the exact expression for the planner to use the index.

CREATE INDEX events_search ON events USING GIN (
    to_tsvector('simple', title || ' ' || description || ' ' || coalesce(venue, '') || ' ' || location)
);

-- One index per filter and sort of the public list (status first: every public query has it).
CREATE INDEX events_status_created_at ON events (status, created_at);
CREATE INDEX events_status_min_price ON events (status, min_price);
CREATE INDEX events_status_ends_at ON events (status, ends_at);
CREATE INDEX events_organizer_starts_at ON events (organizer_id, starts_at);
CREATE INDEX events_status_location ON events (status, lower(location));
CREATE INDEX event_favorites_user ON event_favorites (user_id, created_at);
