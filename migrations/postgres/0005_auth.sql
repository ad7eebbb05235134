-- Sessions, refresh tokens, one-time codes, abuse protection and the audit log (PostgreSQL dialect).

CREATE TABLE sessions (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    revoked_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE refresh_tokens (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    family_id   UUID NOT NULL REFERENCES sessions (id),
    token_hash  TEXT NOT NULL UNIQUE,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE verification_codes (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    purpose     TEXT NOT NULL CHECK (purpose IN ('email_verify', 'password_reset', 'phone_verify')),
    target      TEXT,
    code_hash   TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX verification_codes_user ON verification_codes (user_id, purpose);

CREATE TABLE abuse_events (
    id          UUID PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('login_failure', 'rate_limited')),
    ip          TEXT NOT NULL,
    subject     TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX abuse_events_ip ON abuse_events (kind, ip, created_at);
CREATE INDEX abuse_events_subject ON abuse_events (kind, subject, created_at);
CREATE INDEX abuse_events_created ON abuse_events (created_at);

CREATE TABLE account_locks (
    subject        TEXT PRIMARY KEY NOT NULL,
    counted_since  TIMESTAMPTZ NOT NULL,
    locked_until   TIMESTAMPTZ,
    lock_count     BIGINT NOT NULL DEFAULT 0,
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE ip_blocks (
    ip             TEXT PRIMARY KEY NOT NULL,
    reason         TEXT NOT NULL,
    counted_since  TIMESTAMPTZ NOT NULL,
    blocked_until  TIMESTAMPTZ,
    block_count    BIGINT NOT NULL DEFAULT 0,
    blocked_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX ip_blocks_until ON ip_blocks (blocked_until);

CREATE TABLE audit_log (
    id           UUID PRIMARY KEY,
    actor_id     UUID,
    actor_email  TEXT,
    action       TEXT NOT NULL,
    target_type  TEXT,
    target_id    TEXT,
    ip           TEXT,
    details      TEXT,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_created ON audit_log (created_at);
CREATE INDEX audit_log_action ON audit_log (action, created_at);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);
