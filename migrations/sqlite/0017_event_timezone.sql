-- Events have an IANA time zone their times are shown in (API.md §11.106); times stay UTC.
ALTER TABLE events ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';
