-- Received messages are deduplicated on Message-ID and content: a message
-- whose Message-ID a user already has, with other content, is stored too
-- and both are marked message_id_reused. content_hash is '' for sent
-- messages and for messages stored before (they match any content).
-- Two indexes let the raw messages' sweep find what refers to a raw
-- message.
-- SQLite cannot drop a table's UNIQUE constraint: the table is rebuilt
-- with the columns of 00001 and 00003 (nothing refers to it).

-- +goose Up
CREATE TABLE messages_new (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    discussion_id       TEXT,
    identity_ids        TEXT NOT NULL DEFAULT '[]',
    protocol            TEXT NOT NULL DEFAULT '',
    participants        TEXT NOT NULL DEFAULT '[]',
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
    references_ids      TEXT NOT NULL DEFAULT '[]',
    attachments         TEXT NOT NULL DEFAULT '[]',
    raw_msg_id          TEXT REFERENCES raw_messages (id),
    tags                TEXT NOT NULL DEFAULT '[]',
    pi                  TEXT NOT NULL DEFAULT '{}',
    privacy_features    TEXT NOT NULL DEFAULT '{}',
    send_state          TEXT NOT NULL DEFAULT '',
    send_error          TEXT NOT NULL DEFAULT '',
    send_started_at     BIGINT,
    updated_at          BIGINT NOT NULL,
    send_raw_id         TEXT NOT NULL DEFAULT '',
    content_hash        TEXT NOT NULL DEFAULT '',
    message_id_reused   BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (user_id, external_message_id, content_hash),
    FOREIGN KEY (user_id, discussion_id) REFERENCES discussions (user_id, id)
);
INSERT INTO messages_new (id, user_id, discussion_id, identity_ids, protocol, participants, subject, body_plain, body_html, date_at, inserted_at, sort_at, is_draft, is_unread, is_received, is_answered, importance, external_message_id, in_reply_to, references_ids, attachments, raw_msg_id, tags, pi, privacy_features, send_state, send_error, send_started_at, updated_at, send_raw_id)
    SELECT id, user_id, discussion_id, identity_ids, protocol, participants, subject, body_plain, body_html, date_at, inserted_at, sort_at, is_draft, is_unread, is_received, is_answered, importance, external_message_id, in_reply_to, references_ids, attachments, raw_msg_id, tags, pi, privacy_features, send_state, send_error, send_started_at, updated_at, send_raw_id FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_recent ON messages (user_id, sort_at DESC, id DESC);
CREATE INDEX messages_discussion ON messages (user_id, discussion_id, sort_at DESC, id DESC);

-- The raw messages' sweep asks which messages refer to a raw message.
CREATE INDEX messages_raw ON messages (raw_msg_id);
CREATE INDEX messages_send_raw ON messages (send_raw_id) WHERE send_raw_id <> '';

-- +goose Down
DROP INDEX messages_send_raw;
DROP INDEX messages_raw;
-- The table keeps its wider constraint and content_hash (a column of it);
-- the index restores one message per Message-ID.
DELETE FROM messages WHERE EXISTS (SELECT 1 FROM messages o WHERE o.user_id = messages.user_id
    AND o.external_message_id = messages.external_message_id AND o.id < messages.id);
CREATE UNIQUE INDEX messages_external_id ON messages (user_id, external_message_id);
ALTER TABLE messages DROP COLUMN message_id_reused;
