-- Events, ticket types and favorites (SQLite dialect; PostgreSQL twin has the same version).
-- Inventory counters live on the ticket type: sold + held <= capacity is a CHECK, so no code path
-- can oversell even if it tried. The event-level sold/held counters are maintained only for
-- events with a total_tickets cap (so uncapped events never serialize their types on one row).

CREATE TABLE events (
    id              BLOB PRIMARY KEY NOT NULL,
    organizer_id    BLOB NOT NULL REFERENCES users (id),
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    category        TEXT NOT NULL,
    tags            TEXT NOT NULL DEFAULT '[]',
    venue           TEXT,
    location        TEXT NOT NULL,
    starts_at       TEXT NOT NULL,
    ends_at         TEXT,
    image_url       TEXT,
    featured        BOOLEAN NOT NULL DEFAULT FALSE,
    status          TEXT NOT NULL CHECK (status IN ('DRAFT', 'PUBLISHED', 'CANCELLED', 'COMPLETED')),
    currency        TEXT NOT NULL,
    total_tickets   BIGINT CHECK (total_tickets IS NULL OR total_tickets >= 0),
    sold            BIGINT NOT NULL DEFAULT 0 CHECK (sold >= 0),
    held            BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    min_price       BIGINT,
    cancel_reason   TEXT,
    published_at    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CHECK (total_tickets IS NULL OR sold + held <= total_tickets)
);
CREATE INDEX events_status_starts_at ON events (status, starts_at);
CREATE INDEX events_organizer ON events (organizer_id, status);
CREATE INDEX events_category ON events (lower(category), starts_at);
CREATE INDEX events_featured ON events (featured, starts_at);
CREATE INDEX events_min_price ON events (min_price);
CREATE INDEX events_created_at ON events (created_at);

CREATE TABLE ticket_types (
    id              BLOB PRIMARY KEY NOT NULL,
    event_id        BLOB NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('general', 'vip', 'premium', 'early_bird', 'custom')),
    price           BIGINT NOT NULL CHECK (price >= 0),
    capacity        BIGINT NOT NULL CHECK (capacity >= 0),
    sold            BIGINT NOT NULL DEFAULT 0 CHECK (sold >= 0),
    held            BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    sales_start_at  TEXT,
    sales_end_at    TEXT,
    max_per_order   INTEGER NOT NULL DEFAULT 10 CHECK (max_per_order >= 1),
    position        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CHECK (sold + held <= capacity)
);
CREATE INDEX ticket_types_event ON ticket_types (event_id, position);

CREATE TABLE event_favorites (
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id        BLOB NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (user_id, event_id)
);
CREATE INDEX event_favorites_event ON event_favorites (event_id);
