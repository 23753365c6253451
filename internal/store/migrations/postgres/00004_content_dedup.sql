-- Received messages are deduplicated on Message-ID and content: a message
-- whose Message-ID a user already has, with other content, is stored too
-- and both are marked message_id_reused. content_hash is '' for sent
-- messages and for messages stored before (they match any content).
-- Two indexes let the raw messages' sweep find what refers to a raw
-- message.

-- +goose Up
ALTER TABLE messages ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN message_id_reused BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE messages DROP CONSTRAINT messages_user_id_external_message_id_key;
CREATE UNIQUE INDEX messages_external_content ON messages (user_id, external_message_id, content_hash);

-- The raw messages' sweep asks which messages refer to a raw message.
CREATE INDEX messages_raw ON messages (raw_msg_id);
CREATE INDEX messages_send_raw ON messages (send_raw_id) WHERE send_raw_id <> '';

-- +goose Down
DROP INDEX messages_send_raw;
DROP INDEX messages_raw;
DROP INDEX messages_external_content;
DELETE FROM messages m USING messages o
    WHERE m.user_id = o.user_id AND m.external_message_id = o.external_message_id AND m.id > o.id;
ALTER TABLE messages ADD CONSTRAINT messages_user_id_external_message_id_key UNIQUE (user_id, external_message_id);
ALTER TABLE messages DROP COLUMN message_id_reused;
ALTER TABLE messages DROP COLUMN content_hash;
