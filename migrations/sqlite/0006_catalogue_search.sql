-- Catalogue search and listing indexes (SQLite dialect; PostgreSQL twin has the same version).
-- Full-text search uses FTS5. Event ids are BLOBs, and a plain table's implicit rowid may change
-- on VACUUM, so each event gets a stable integer document number in events_search_map (an
-- explicit INTEGER PRIMARY KEY never changes) and the FTS5 row carries that number. Triggers keep
-- both in step; the update trigger fires only when a searched column changes, so the inventory
-- counter updates of the booking engine never touch the index.

CREATE TABLE events_search_map (
    doc         INTEGER PRIMARY KEY,
    event_id    BLOB NOT NULL UNIQUE
);

CREATE VIRTUAL TABLE events_fts USING fts5(
    title, description, venue, location,
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO events_search_map (event_id) SELECT id FROM events;
INSERT INTO events_fts (rowid, title, description, venue, location)
    SELECT m.doc, e.title, e.description, coalesce(e.venue, ''), e.location
    FROM events e JOIN events_search_map m ON m.event_id = e.id;

CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN
    INSERT INTO events_search_map (event_id) VALUES (new.id);
    INSERT INTO events_fts (rowid, title, description, venue, location)
    VALUES ((SELECT doc FROM events_search_map WHERE event_id = new.id),
            new.title, new.description, coalesce(new.venue, ''), new.location);
END;

CREATE TRIGGER events_fts_update AFTER UPDATE OF title, description, venue, location ON events BEGIN
    UPDATE events_fts
       SET title = new.title, description = new.description,
           venue = coalesce(new.venue, ''), location = new.location
     WHERE rowid = (SELECT doc FROM events_search_map WHERE event_id = new.id);
END;

CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN
    DELETE FROM events_fts WHERE rowid = (SELECT doc FROM events_search_map WHERE event_id = old.id);
    DELETE FROM events_search_map WHERE event_id = old.id;
END;

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
