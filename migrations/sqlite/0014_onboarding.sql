-- Organizer onboarding (API.md §6): one application per attempt, at most one open (not
-- REJECTED) per user; its sections are JSON objects as the applicant wrote them, except the bank
-- account number, kept only sealed with AES-256-GCM (base64 of nonce and ciphertext) under the
-- key named by account_key_id, beside its last four digits. version grows with every change, so a
-- step edit writes only over the state it read.
CREATE TABLE organizer_applications (
    id                      BLOB PRIMARY KEY NOT NULL,
    user_id                 BLOB NOT NULL REFERENCES users (id),
    status                  TEXT NOT NULL CHECK (status IN ('DRAFT', 'UNDER_REVIEW', 'REQUIRES_ADDITIONAL_INFO', 'APPROVED', 'REJECTED')),
    personal_information    TEXT NOT NULL DEFAULT '{}',
    organization_details    TEXT NOT NULL DEFAULT '{}',
    address                 TEXT NOT NULL DEFAULT '{}',
    banking_information     TEXT NOT NULL DEFAULT '{}',
    account_number_sealed   TEXT,
    account_key_id          TEXT,
    experience_details      TEXT NOT NULL DEFAULT '{}',
    rejection_reason        TEXT,
    reviewer_note           TEXT,
    reviewed_by             BLOB REFERENCES users (id),
    version                 BIGINT NOT NULL DEFAULT 0,
    submitted_at            TEXT,
    reviewed_at             TEXT,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE UNIQUE INDEX organizer_applications_one_open ON organizer_applications (user_id) WHERE status <> 'REJECTED';
CREATE INDEX organizer_applications_user ON organizer_applications (user_id, created_at);
CREATE INDEX organizer_applications_status ON organizer_applications (status, created_at);

-- The documents of an application, one per type; object_name is the server-chosen name in the
-- file store (never the client's file name).
CREATE TABLE organizer_documents (
    application_id          BLOB NOT NULL REFERENCES organizer_applications (id),
    doc_type                TEXT NOT NULL CHECK (doc_type IN ('idDocument', 'businessLicense', 'taxDocument')),
    object_name             TEXT NOT NULL,
    content_type            TEXT NOT NULL,
    size_bytes              BIGINT NOT NULL,
    uploaded_at             TEXT NOT NULL,
    PRIMARY KEY (application_id, doc_type)
);
