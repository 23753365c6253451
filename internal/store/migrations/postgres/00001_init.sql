-- Caliopen store, PostgreSQL dialect. Timestamps are microseconds since the Unix
-- epoch (UTC), NULL when unset; list-valued fields are JSONB.

-- +goose Up
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL DEFAULT '',
    is_admin       BOOLEAN NOT NULL DEFAULT FALSE,
    recovery_email TEXT NOT NULL DEFAULT '',
    given_name     TEXT NOT NULL DEFAULT '',
    family_name    TEXT NOT NULL DEFAULT '',
    contact_id     TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE identities (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type               TEXT NOT NULL,
    protocol           TEXT NOT NULL,
    identifier         TEXT NOT NULL,
    display_name       TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL,
    poll_interval_s    BIGINT NOT NULL DEFAULT 0,
    infos              JSONB NOT NULL DEFAULT '{}',
    credentials        BYTEA,
    credentials_key_id TEXT NOT NULL DEFAULT '',
    sync_cursor        TEXT NOT NULL DEFAULT '',
    sync_uidvalidity   BIGINT NOT NULL DEFAULT 0,
    last_sync_at       BIGINT,
    last_error         TEXT NOT NULL DEFAULT '',
    error_count        INTEGER NOT NULL DEFAULT 0,
    first_error_at     BIGINT,
    last_error_at      BIGINT,
    syncing_until      BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (user_id, id),
    UNIQUE (user_id, protocol, identifier)
);
CREATE UNIQUE INDEX identities_local_address ON identities (protocol, identifier) WHERE type = 'local';
CREATE INDEX identities_lookup ON identities (protocol, identifier);

CREATE TABLE schedules (
    identity_id TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    next_run_at BIGINT NOT NULL,
    FOREIGN KEY (user_id, identity_id) REFERENCES identities (user_id, id) ON DELETE CASCADE
);
CREATE INDEX schedules_due ON schedules (next_run_at);

CREATE TABLE discussions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    thread_key      TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    last_message_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (user_id, id),
    UNIQUE (user_id, thread_key)
);
CREATE INDEX discussions_recent ON discussions (user_id, last_message_at DESC, id DESC);

CREATE TABLE raw_messages (
    id         TEXT PRIMARY KEY,
    blob_key   TEXT NOT NULL,
    size       BIGINT NOT NULL,
    delivered  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE messages (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    discussion_id       TEXT,
    identity_ids        JSONB NOT NULL DEFAULT '[]',
    protocol            TEXT NOT NULL DEFAULT '',
    participants        JSONB NOT NULL DEFAULT '[]',
    subject             TEXT NOT NULL DEFAULT '',
    body_plain          TEXT NOT NULL DEFAULT '',
    body_html           TEXT NOT NULL DEFAULT '',
    date_at             BIGINT,
    inserted_at         BIGINT NOT NULL,
    sort_at             BIGINT NOT NULL,
    is_draft            BOOLEAN NOT NULL DEFAULT FALSE,
    is_unread           BOOLEAN NOT NULL DEFAULT FALSE,
    is_received         BOOLEAN NOT NULL DEFAULT FALSE,
    is_answered         BOOLEAN NOT NULL DEFAULT FALSE,
    importance          INTEGER NOT NULL DEFAULT 0,
    external_message_id TEXT,
    in_reply_to         TEXT NOT NULL DEFAULT '',
    references_ids      JSONB NOT NULL DEFAULT '[]',
    attachments         JSONB NOT NULL DEFAULT '[]',
    raw_msg_id          TEXT REFERENCES raw_messages (id),
    tags                JSONB NOT NULL DEFAULT '[]',
    pi                  JSONB NOT NULL DEFAULT '{}',
    privacy_features    JSONB NOT NULL DEFAULT '{}',
    send_state          TEXT NOT NULL DEFAULT '',
    send_error          TEXT NOT NULL DEFAULT '',
    send_started_at     BIGINT,
    updated_at          BIGINT NOT NULL,
    UNIQUE (user_id, external_message_id),
    FOREIGN KEY (user_id, discussion_id) REFERENCES discussions (user_id, id)
);
CREATE INDEX messages_recent ON messages (user_id, sort_at DESC, id DESC);
CREATE INDEX messages_discussion ON messages (user_id, discussion_id, sort_at DESC, id DESC);

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT NOT NULL DEFAULT '',
    given_name  TEXT NOT NULL DEFAULT '',
    family_name TEXT NOT NULL DEFAULT '',
    sort_key    TEXT NOT NULL DEFAULT '',
    emails      JSONB NOT NULL DEFAULT '[]',
    identities  JSONB NOT NULL DEFAULT '[]',
    phones      JSONB NOT NULL DEFAULT '[]',
    tags        JSONB NOT NULL DEFAULT '[]',
    pi          JSONB NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (user_id, id)
);
CREATE INDEX contacts_sorted ON contacts (user_id, sort_key, id);

CREATE TABLE contact_lookup (
    user_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, value, contact_id),
    FOREIGN KEY (user_id, contact_id) REFERENCES contacts (user_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_lookup_contact ON contact_lookup (contact_id);

CREATE TABLE public_keys (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_id  TEXT,
    label       TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL,
    armored     TEXT NOT NULL,
    algorithm   TEXT NOT NULL DEFAULT '',
    size        INTEGER NOT NULL DEFAULT 0,
    emails      JSONB NOT NULL DEFAULT '[]',
    expires_at  BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (user_id, fingerprint),
    FOREIGN KEY (user_id, contact_id) REFERENCES contacts (user_id, id) ON DELETE CASCADE
);
CREATE INDEX public_keys_owner ON public_keys (user_id, created_at, id);

CREATE TABLE tags (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    label      TEXT NOT NULL DEFAULT '',
    type       TEXT NOT NULL DEFAULT '',
    importance INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, name)
);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type       TEXT NOT NULL DEFAULT '',
    emitter    TEXT NOT NULL DEFAULT '',
    reference  TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX notifications_recent ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_expiry ON notifications (expires_at);

-- +goose Down
DROP TABLE notifications;
DROP TABLE tags;
DROP TABLE public_keys;
DROP TABLE contact_lookup;
DROP TABLE contacts;
DROP TABLE messages;
DROP TABLE raw_messages;
DROP TABLE discussions;
DROP TABLE schedules;
DROP TABLE identities;
DROP TABLE users;
