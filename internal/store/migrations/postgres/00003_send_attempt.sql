-- The raw message id of the sent copy a send attempt stores (BeginSend),
-- kept apart from raw_msg_id: that copy may not exist yet, and raw_msg_id
-- names a stored raw message.

-- +goose Up
ALTER TABLE messages ADD COLUMN send_raw_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN send_raw_id;
